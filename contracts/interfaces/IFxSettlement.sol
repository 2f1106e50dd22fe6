// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IParticipantRegistry} from "./IParticipantRegistry.sol";

/// @title Cross-border payment-versus-payment settlement at an FX provider's quote.
/// @notice The payer pays `sellAmount` of one currency to the FX provider and, in the
/// same transaction, the provider pays the payee `floor(sellAmount * rate / 1e18)` of
/// the other: both legs or neither. Compliance (standing, corridor, daily limits) is
/// checked before any value moves.
interface IFxSettlement {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice An FX provider's firm quote; `rate` is buy-currency minor units per
    /// sell-currency minor unit, scaled by 1e18. Signed off chain (EIP-712) or posted.
    struct Quote {
        bytes32 quoteId;
        address provider;
        bytes3 sellCurrency;
        bytes3 buyCurrency;
        uint256 rate;
        uint64 issuedAt;
        uint64 validUntil;
        address payer; // the only payer allowed to use it, or 0 for any
    }

    struct Payment {
        bytes16 uetr; // ISO 20022 / SWIFT gpi end-to-end reference (a UUID)
        address payee;
        uint256 sellAmount;
        bytes32 purpose; // e.g. "SUPP" (supplier payment), "TRAD", "INTC"
        uint256 referenceId; // e.g. the receivable this payment settles
    }

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event FxQuotePosted(bytes32 indexed quoteId, address indexed provider, Quote quote);
    event PvpSettled(
        bytes16 indexed uetr,
        address indexed payer,
        address indexed payee,
        address provider,
        bytes32 quoteId,
        bytes3 sellCurrency,
        uint256 sellAmount,
        bytes3 buyCurrency,
        uint256 buyAmount,
        bytes32 purpose,
        uint256 referenceId
    );
    event CorridorSet(bytes2 indexed fromJurisdiction, bytes2 indexed toJurisdiction, bool open, address indexed actor);
    event DailyLimitSet(address indexed account, bytes3 indexed currency, uint256 limit, address indexed actor);
    event MaxQuoteAgeSet(uint64 maxQuoteAge, address indexed actor);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error FxQuoteExpired(bytes32 quoteId, uint64 validUntil, uint256 nowTimestamp);
    error FxQuoteStale(bytes32 quoteId, uint64 issuedAt, uint64 maxQuoteAge);
    error FxQuoteAlreadyUsed(bytes32 quoteId);
    error FxQuoteNotPosted(bytes32 quoteId);
    error FxQuoteBadSignature(bytes32 quoteId, address signer, address provider);
    error FxQuoteWrongPayer(bytes32 quoteId, address payer, address allowedPayer);
    error FxQuoteInvalid(bytes32 quoteId, string field);
    error FxNotProvider(address account, address provider);
    error FxDuplicateUetr(bytes16 uetr);
    error FxInvalidUetr(bytes16 uetr);
    error FxInvalidAmount(uint256 amount);
    error FxComplianceStanding(address account, IParticipantRegistry.Standing standing);
    error FxComplianceCorridorClosed(bytes2 fromJurisdiction, bytes2 toJurisdiction);
    error FxComplianceDailyLimit(address account, bytes3 currency, uint256 limit, uint256 usedToday, uint256 amount);
    error FxCurrencyNotListed(bytes3 currency);
    error FxNotAuthorized(address account);

    /*//////////////////////////////////////////////////////////////
                                 LOGIC
    //////////////////////////////////////////////////////////////*/

    function postQuote(Quote calldata quote) external;
    function settle(Payment calldata payment, Quote calldata quote, bytes calldata signature)
        external
        returns (uint256 buyAmount);
    function settleFor(address payer, Payment calldata payment, Quote calldata quote, bytes calldata signature)
        external
        returns (uint256 buyAmount);
    function setCorridor(bytes2 fromJurisdiction, bytes2 toJurisdiction, bool open) external;
    function setDailyLimit(address account, bytes3 currency, uint256 limit) external;
    function setMaxQuoteAge(uint64 maxQuoteAge) external;

    function quoteDigest(Quote calldata quote) external view returns (bytes32);
    function buyAmountFor(uint256 sellAmount, uint256 rate) external pure returns (uint256);
    function corridorOpen(bytes2 fromJurisdiction, bytes2 toJurisdiction) external view returns (bool);
    function dailyLimit(address account, bytes3 currency) external view returns (uint256);
    function usedToday(address account, bytes3 currency) external view returns (uint256);
    function uetrUsed(bytes16 uetr) external view returns (bool);
    function quoteUsed(bytes32 quoteId) external view returns (bool);
    function maxQuoteAge() external view returns (uint64);
}
