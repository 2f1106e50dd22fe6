// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Credit lines (授信): a financier's limit on its exposure to one obligor.
/// @notice A financier grants a line to a core enterprise in one currency, with a limit
/// and an expiry, optionally as a reverse-factoring programme naming the eligible
/// suppliers and each one's sub-limit. Accepting a financing offer consumes the line by
/// the receivable's face amount, in the accept's transaction; clearing the financed leaf
/// frees it (REPAID, or RECOVERED when it had defaulted); a default keeps it consumed
/// until recovered or written off.
interface ICreditLines {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    enum LineStatus {
        NONE,
        OPEN,
        CLOSED
    }

    enum ReleaseCause {
        REPAID, // the financed leaf was cleared at maturity
        RECOVERED, // cleared after it had defaulted
        WRITTEN_OFF, // the financier wrote (part of) the defaulted leaf off
        BOUGHT_BACK, // the supplier paid the recourse claim and took the leaf back
        SOLD // the financier sold the financed leaf to another financier
    }

    struct CreditLine {
        address financier;
        address obligor;
        bytes3 currency;
        LineStatus status;
        bool frozen;
        bool programme; // only suppliers with a sub-limit may draw on it
        uint64 expiry; // usable while block.timestamp <= expiry
        uint128 limit;
        uint128 utilised;
    }

    struct SupplierLimit {
        uint128 limit; // 0: not (or no longer) eligible
        uint128 utilised;
    }

    /// @notice What one financed receivable holds of a line.
    struct Drawing {
        uint256 lineId; // 0: none
        address supplier;
        uint128 amount;
    }

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event CreditLineGranted(
        uint256 indexed lineId,
        address indexed financier,
        address indexed obligor,
        bytes3 currency,
        uint128 limit,
        uint64 expiry
    );
    event CreditLineAmended(uint256 indexed lineId, uint128 limit, uint64 expiry, address actor);
    /// @notice `supplier`'s sub-limit on a programme line; 0 takes it off the programme.
    event CreditLineSupplierLimitSet(uint256 indexed lineId, address indexed supplier, uint128 limit, address actor);
    event CreditLineClosed(uint256 indexed lineId, address actor);
    event CreditLineFrozen(uint256 indexed lineId, address indexed regulator);
    event CreditLineUnfrozen(uint256 indexed lineId, address indexed regulator);
    event CreditLineConsumed(
        uint256 indexed lineId,
        uint256 indexed receivableId,
        address indexed supplier,
        uint256 financingId,
        uint128 amount,
        uint128 utilised
    );
    event CreditLineReleased(
        uint256 indexed lineId, uint256 indexed receivableId, ReleaseCause cause, uint128 amount, uint128 utilised
    );
    /// @notice A leaf the financier had written off (`writtenOff` of it) was paid after
    /// all: `recovered` reached its holder through clearing.
    event CreditLineRecovered(
        uint256 indexed lineId, uint256 indexed receivableId, uint128 recovered, uint128 writtenOff
    );

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error CreditLineUnknown(uint256 lineId);
    error CreditLineNotFinancier(uint256 lineId, address account, address financier);
    error CreditLineInvalidTerms(string field, uint256 value);
    error CreditLineCurrencyNotListed(bytes3 currency);
    error CreditLineExists(address financier, address obligor, bytes3 currency, uint256 lineId);
    error CreditLineMissing(address financier, address obligor, bytes3 currency);
    error CreditLineClosedError(uint256 lineId);
    error CreditLineExpired(uint256 lineId, uint64 expiry, uint256 nowTimestamp);
    error CreditLineFrozenError(uint256 lineId);
    error CreditLineNotFrozen(uint256 lineId);
    error CreditLineExceeded(uint256 lineId, uint256 limit, uint256 utilised, uint256 requested);
    error CreditLineBelowUtilisation(uint256 lineId, uint256 limit, uint256 utilised);
    error CreditLineSupplierNotEligible(uint256 lineId, address supplier);
    error CreditLineSubLimitExceeded(
        uint256 lineId, address supplier, uint256 limit, uint256 utilised, uint256 requested
    );
    error CreditLineSubLimitAboveLimit(uint256 lineId, uint256 subLimit, uint256 limit);
    error CreditLineSubLimitBelowUtilisation(uint256 lineId, address supplier, uint256 limit, uint256 utilised);
    error CreditLineNotDrawn(uint256 receivableId);
    error CreditLineNotDefaulted(uint256 receivableId);
    error CreditLineNotLedgerContract(address caller);
    /// @notice A write-off of `amount` when `drawn` is what the leaf still holds of the line.
    error CreditLineWriteOffAmount(uint256 receivableId, uint256 amount, uint256 drawn);

    /*//////////////////////////////////////////////////////////////
                                 LOGIC
    //////////////////////////////////////////////////////////////*/

    function grant(address obligor, bytes3 currency, uint128 limit, uint64 expiry) external returns (uint256 lineId);
    function amend(uint256 lineId, uint128 limit, uint64 expiry) external;
    function setSupplierLimit(uint256 lineId, address supplier, uint128 limit) external;
    function close(uint256 lineId) external;
    function freeze(uint256 lineId) external;
    function unfreeze(uint256 lineId) external;
    function writeOff(uint256 receivableId, uint128 amount) external;

    /// @dev Ledger contracts only: the financing desk at accept, clearing at redemption.
    function consume(uint256 receivableId, uint256 financingId, address financier, address supplier) external;
    function release(uint256 receivableId, uint128 amount, bool recovered) external;
    /// @dev Ledger contracts only: the desk when a leaf is bought back or sold.
    function releaseDrawing(uint256 receivableId, ReleaseCause cause) external;

    function creditLine(uint256 lineId) external view returns (CreditLine memory);
    function lineOf(address financier, address obligor, bytes3 currency) external view returns (uint256);
    function supplierLimit(uint256 lineId, address supplier) external view returns (SupplierLimit memory);
    function drawingOf(uint256 receivableId) external view returns (Drawing memory);
    function writtenOffOf(uint256 receivableId) external view returns (uint128);
    function headroom(uint256 lineId, address supplier) external view returns (uint256);
    function lastLineId() external view returns (uint256);
}
