// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title The ledger of receivables (digital debt vouchers, 应收账款凭证).
/// @notice A receivable is its debtor's irrevocable promise to pay `amount` of
/// `currency` on `dueDate` to whoever holds it then. Roots are registered by the
/// debtor and confirmed by the creditor; the holder splits them into children that
/// sum exactly to the parent, transfers them and finances them.
interface IReceivableRegistry {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    enum Status {
        NONE,
        PENDING, // registered by the debtor, awaiting the creditor
        ACTIVE, // confirmed (or created by a split): may be split, transferred, financed
        SPLIT, // replaced by its children; changes no more
        FINANCING, // locked by a financing request
        FINANCED, // held by the financier that funded it
        OVERDUE, // due date passed unpaid
        DEFAULTED, // declared in default by its financier
        SETTLED, // paid to its holder at maturity
        REJECTED, // refused by the named creditor
        CANCELLED // withdrawn by the debtor before confirmation
    }

    /// @notice One receivable of a registration batch (the debtor is the caller).
    struct Registration {
        address creditor;
        uint128 amount; // integer minor units of `currency`
        bytes3 currency; // ISO 4217
        uint64 dueDate; // unix seconds
        // keccak256 of the consortium salt and the normalised invoice number and type; the
        // registry binds it to the creditor's LEI: invoiceKey = keccak256(abi.encode(lei, ref))
        bytes32 invoiceRef;
        bytes32 documentHash; // commitment to the off-chain invoice, PO and delivery evidence
        // annual late interest in basis points (0: none, at most MAX_LATE_INTEREST_BPS), charged
        // per whole day past the due date on what is paid late (ACT/365, floor)
        uint32 lateInterestBps;
    }

    /// @notice Everything known about one receivable; children carry their root's terms.
    struct Receivable {
        uint256 id;
        uint256 parentId; // 0 for a root
        uint256 rootId; // its own id for a root
        address debtor;
        address creditor; // the root's original creditor
        address holder;
        uint128 amount;
        bytes3 currency;
        uint64 issueDate;
        uint64 dueDate;
        bytes32 invoiceKey;
        bytes32 documentHash;
        Status status;
        bool frozen;
        uint256 firstChildId; // children are numbered firstChildId .. firstChildId + childCount - 1
        uint256 childCount;
        uint32 lateInterestBps; // the root's annual late-interest rate
    }

    /// @notice What financing and clearing need to know of a receivable, in one call.
    struct Summary {
        address holder;
        Status status;
        bool frozen;
        uint128 amount;
        uint256 rootId;
        address debtor;
        bytes3 currency;
        uint64 dueDate;
    }

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event ReceivableRegistered(
        uint256 indexed id,
        address indexed debtor,
        address indexed creditor,
        uint128 amount,
        bytes3 currency,
        uint64 dueDate,
        bytes32 invoiceKey,
        bytes32 documentHash,
        uint32 lateInterestBps
    );
    /// @notice Emitted by every status change, with the account that caused it.
    event ReceivableStatusChanged(uint256 indexed id, Status from, Status to, address indexed actor);
    /// @notice Children `firstChildId ..` with `amounts`, all ACTIVE and held by `holder`.
    event ReceivableSplit(uint256 indexed parentId, address indexed holder, uint256 firstChildId, uint128[] amounts);
    event ReceivableTransferred(uint256 indexed id, address indexed from, address indexed to, address actor);
    event ReceivableFrozen(uint256 indexed id, address indexed regulator);
    event ReceivableUnfrozen(uint256 indexed id, address indexed regulator);
    /// @notice `amount` of root `rootId` is paid; `outstanding` is what remains of it.
    /// @notice The debtor paid root `rootId` into clearing: its leaves await redemption.
    /// @notice The risk control that caps issuance and holds the overdue trigger.
    event ReceivableRiskControlBound(address indexed riskControl, address actor);
    event ReceivableRootRepaid(uint256 indexed rootId, address indexed actor);
    /// @notice Emitted by {settle}; `outstanding` is what remains of the root. A leaf settled
    /// before its root was paid into clearing (early or partial payment) lowers the root's
    /// outstanding amount and what its debtor owes the risk control.
    event ReceivableSettled(
        uint256 indexed id, uint256 indexed rootId, address indexed holder, uint128 amount, uint256 outstanding
    );

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error ReceivableUnknown(uint256 id);
    error ReceivableInvalidStatus(uint256 id, Status current, uint256 allowedStatusMask);
    error ReceivableFrozenError(uint256 id);
    error ReceivableNotFrozen(uint256 id);
    error ReceivableNotDebtor(uint256 id, address account, address debtor);
    error ReceivableNotCreditor(uint256 id, address account, address creditor);
    error ReceivableNotHolder(uint256 id, address account, address holder);
    error ReceivableDuplicateInvoice(bytes32 invoiceKey, uint256 existingId);
    error ReceivableInvalidInvoiceRef(bytes32 invoiceRef);
    error ReceivableInvalidAmount(uint256 amount);
    error ReceivableInvalidDueDate(uint64 dueDate, uint256 nowTimestamp);
    error ReceivableNotDue(uint256 id, uint64 dueDate, uint256 nowTimestamp);
    error ReceivableUnknownCurrency(bytes3 currency);
    error ReceivableSelfDealing(address account);
    error ReceivableInvalidSplit(uint256 id, uint256 parts, uint256 sum, uint256 amount);
    error ReceivableBatchSize(uint256 size, uint256 maxSize);
    error ReceivableNotLedgerContract(address caller);
    error ReceivableRootAlreadyRepaid(uint256 rootId);
    error ReceivableNotOperator(address account);
    error ReceivableRiskControlUnbound();
    error ReceivableRiskControlAlreadyBound(address riskControl);
    error ReceivableInvalidLateInterest(uint256 lateInterestBps, uint256 maxBps);

    /*//////////////////////////////////////////////////////////////
                          PARTICIPANT ACTIONS
    //////////////////////////////////////////////////////////////*/

    function bindRiskControl(address riskControl) external;
    function riskControl() external view returns (address);
    function register(Registration calldata registration) external returns (uint256 id);
    function registerBatch(Registration[] calldata registrations) external returns (uint256 firstId);
    function confirm(uint256 id) external;
    function reject(uint256 id) external;
    function cancel(uint256 id) external;
    function split(uint256 id, uint128[] calldata amounts) external returns (uint256 firstChildId);
    function transfer(uint256 id, address to) external;
    function markOverdue(uint256 id) external;
    function freeze(uint256 id) external;
    function unfreeze(uint256 id) external;

    /*//////////////////////////////////////////////////////////////
                 LEDGER ENTRY POINTS (financing, clearing)
    //////////////////////////////////////////////////////////////*/

    function lockForFinancing(uint256 id, address requester) external returns (Summary memory);
    function releaseFromFinancing(uint256 id) external;
    function completeFinancing(uint256 id, address financier) external;
    function markDefaulted(uint256 id) external;
    function returnToSupplier(uint256 id, address supplier) external;
    function transferFinanced(uint256 id, address from, address to) external;
    function markRootRepaid(uint256 rootId) external;
    function settle(uint256 id) external returns (address holder, uint128 amount, uint256 rootId);

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    function receivable(uint256 id) external view returns (Receivable memory);
    function summary(uint256 id) external view returns (Summary memory);
    function children(uint256 id) external view returns (uint256[] memory);
    function outstanding(uint256 rootId) external view returns (uint256);
    function rootRepaid(uint256 rootId) external view returns (bool);
    function lateInterestBps(uint256 id) external view returns (uint32);
    function MAX_LATE_INTEREST_BPS() external view returns (uint256);
    function receivableByInvoiceKey(bytes32 invoiceKey) external view returns (uint256);
    function invoiceKeyOf(address creditor, bytes32 invoiceRef) external view returns (bytes32);
    function lastId() external view returns (uint256);
    function MAX_BATCH() external view returns (uint256);
    function MAX_SPLIT() external view returns (uint256);
}
