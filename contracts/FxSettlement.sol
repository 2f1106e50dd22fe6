// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IFxSettlement} from "./interfaces/IFxSettlement.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {Roles} from "./Roles.sol";

/// @title FxSettlement
/// @notice Atomic PvP settlement at an FX provider's firm quote, with the compliance
/// checks a cross-border payment needs before value moves.
/// @dev Rounding: the payee receives floor(sellAmount * rate / 1e18) — any fraction
/// of a minor unit stays with the provider. Each quote and each UETR is used once.
contract FxSettlement is IFxSettlement, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint256 public constant RATE_SCALE = 1e18;
    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "Quote(bytes32 quoteId,address provider,bytes3 sellCurrency,bytes3 buyCurrency,uint256 rate,uint64 issuedAt,uint64 validUntil,address payer)"
    );

    IParticipantRegistry private immutable _participants;

    uint64 private _maxQuoteAge = 15 minutes;
    mapping(bytes32 quoteId => bytes32 digest) private _postedQuotes;
    mapping(bytes32 quoteId => bool) private _usedQuotes;
    mapping(bytes16 uetr => bool) private _usedUetrs;
    mapping(bytes2 fromJurisdiction => mapping(bytes2 toJurisdiction => bool)) private _corridors;
    mapping(address account => mapping(bytes3 currency => uint256)) private _dailyLimits;
    mapping(address account => mapping(bytes3 currency => mapping(uint256 day => uint256))) private _used;

    constructor(IParticipantRegistry participants) EIP712("LedgerFxSettlement", "1") {
        _participants = participants;
    }

    /*//////////////////////////////////////////////////////////////
                                 QUOTES
    //////////////////////////////////////////////////////////////*/

    /// @notice Posts a quote on chain, so payers can use it without a signature.
    /// Requirements: caller is the quote's provider, an active FX_PROVIDER; the quote is
    /// well formed and not expired.
    /// Emits {FxQuotePosted}.
    function postQuote(Quote calldata quote) external {
        if (msg.sender != quote.provider) revert FxNotProvider(msg.sender, quote.provider);
        _participants.requireActor(msg.sender, Roles.FX_PROVIDER);
        _checkQuoteShape(quote);
        if (block.timestamp > quote.validUntil) {
            revert FxQuoteExpired(quote.quoteId, quote.validUntil, block.timestamp);
        }
        if (_postedQuotes[quote.quoteId] != bytes32(0) || _usedQuotes[quote.quoteId]) {
            revert FxQuoteAlreadyUsed(quote.quoteId);
        }
        _postedQuotes[quote.quoteId] = quoteDigest(quote);
        emit FxQuotePosted(quote.quoteId, msg.sender, quote);
    }

    /*//////////////////////////////////////////////////////////////
                                SETTLEMENT
    //////////////////////////////////////////////////////////////*/

    /// @notice Pays `payment.sellAmount` of the quote's sell currency to its provider and
    /// the provider's buy-currency equivalent to the payee, in one transaction.
    /// Requirements: a fresh, unexpired, unused quote, signed by (or posted by) an active
    /// FX_PROVIDER; a new non-zero UETR; payer, payee and provider in good standing; the
    /// corridor from the payer's to the payee's jurisdiction open (or domestic); daily
    /// limits respected; both tokens approved to this contract.
    /// Emits {PvpSettled} and the two legs' {Transfer} events.
    function settle(Payment calldata payment, Quote calldata quote, bytes calldata signature)
        external
        nonReentrant
        returns (uint256 buyAmount)
    {
        return _settle(msg.sender, payment, quote, signature);
    }

    /// @notice {settle} on behalf of `payer`, for a ledger contract that settles a
    /// payer's obligation (maturity clearing paying in another currency). The payer's
    /// sell leg is pulled from the payer (who approved this contract); when the payee is
    /// a ledger contract, the corridor checked is the payer's to the FX provider's.
    /// Requirements: caller is a ledger contract; otherwise as {settle}.
    /// Emits {PvpSettled}.
    function settleFor(address payer, Payment calldata payment, Quote calldata quote, bytes calldata signature)
        external
        nonReentrant
        returns (uint256 buyAmount)
    {
        if (!_participants.isLedgerContract(msg.sender)) revert FxNotAuthorized(msg.sender);
        return _settle(payer, payment, quote, signature);
    }

    function _settle(address payer, Payment calldata payment, Quote calldata quote, bytes calldata signature)
        private
        returns (uint256 buyAmount)
    {
        _useQuote(quote, signature, payer);
        buyAmount = _checkPayment(payment, quote.rate);
        _checkCompliance(payer, payment.payee, quote, payment.sellAmount, buyAmount);
        _usedUetrs[payment.uetr] = true;
        emit PvpSettled(
            payment.uetr,
            payer,
            payment.payee,
            quote.provider,
            quote.quoteId,
            quote.sellCurrency,
            payment.sellAmount,
            quote.buyCurrency,
            buyAmount,
            payment.purpose,
            payment.referenceId
        );
        // Both legs in this one transaction: if either transfer fails, neither happened.
        _token(quote.sellCurrency).safeTransferFrom(payer, quote.provider, payment.sellAmount);
        // Slither (accepted): the provider is not an arbitrary `from`. _useQuote above
        // took its consent: its EIP-712 signature over this quote, or the quote it posted.
        // slither-disable-next-line arbitrary-send-erc20
        _token(quote.buyCurrency).safeTransferFrom(quote.provider, payment.payee, buyAmount);
    }

    /*//////////////////////////////////////////////////////////////
                               COMPLIANCE
    //////////////////////////////////////////////////////////////*/

    /// @notice Opens or closes the corridor from one jurisdiction to another.
    /// Requirements: caller is an OPERATOR or an active REGULATOR. Emits {CorridorSet}.
    function setCorridor(bytes2 fromJurisdiction, bytes2 toJurisdiction, bool open) external {
        _onlyRuleSetter();
        _corridors[fromJurisdiction][toJurisdiction] = open;
        emit CorridorSet(fromJurisdiction, toJurisdiction, open, msg.sender);
    }

    /// @notice Sets `account`'s daily settlement limit in `currency` (0 = no limit).
    /// Requirements: caller is an OPERATOR or an active REGULATOR. Emits {DailyLimitSet}.
    function setDailyLimit(address account, bytes3 currency, uint256 limit) external {
        _onlyRuleSetter();
        _dailyLimits[account][currency] = limit;
        emit DailyLimitSet(account, currency, limit, msg.sender);
    }

    /// @notice Sets how old a quote may be when used.
    /// Requirements: caller is an OPERATOR or an active REGULATOR. Emits {MaxQuoteAgeSet}.
    function setMaxQuoteAge(uint64 maxQuoteAge_) external {
        _onlyRuleSetter();
        _maxQuoteAge = maxQuoteAge_;
        emit MaxQuoteAgeSet(maxQuoteAge_, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The EIP-712 digest a provider signs for `quote`.
    function quoteDigest(Quote calldata quote) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    QUOTE_TYPEHASH,
                    quote.quoteId,
                    quote.provider,
                    quote.sellCurrency,
                    quote.buyCurrency,
                    quote.rate,
                    quote.issuedAt,
                    quote.validUntil,
                    quote.payer
                )
            )
        );
    }

    /// @notice floor(sellAmount * rate / 1e18): the rounding rule of every PvP leg.
    function buyAmountFor(uint256 sellAmount, uint256 rate) public pure returns (uint256) {
        return sellAmount * rate / RATE_SCALE;
    }

    /// @notice True when payments may flow from `fromJurisdiction` to `toJurisdiction`
    /// (always within one jurisdiction).
    function corridorOpen(bytes2 fromJurisdiction, bytes2 toJurisdiction) public view returns (bool) {
        return fromJurisdiction == toJurisdiction || _corridors[fromJurisdiction][toJurisdiction];
    }

    /// @notice The daily limit of `account` in `currency` (0: no limit set).
    function dailyLimit(address account, bytes3 currency) external view returns (uint256) {
        return _dailyLimits[account][currency];
    }

    /// @notice What `account` has used of its `currency` limit on the current UTC day.
    function usedToday(address account, bytes3 currency) external view returns (uint256) {
        return _used[account][currency][block.timestamp / 1 days];
    }

    /// @notice True once a settlement has used UETR `uetr`.
    function uetrUsed(bytes16 uetr) external view returns (bool) {
        return _usedUetrs[uetr];
    }

    /// @notice True once a settlement has used quote `quoteId`.
    function quoteUsed(bytes32 quoteId) external view returns (bool) {
        return _usedQuotes[quoteId];
    }

    /// @notice How many seconds after its issue a quote may still be used.
    function maxQuoteAge() external view returns (uint64) {
        return _maxQuoteAge;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _useQuote(Quote calldata quote, bytes calldata signature, address payer) private {
        _checkQuoteShape(quote);
        if (_usedQuotes[quote.quoteId]) revert FxQuoteAlreadyUsed(quote.quoteId);
        if (block.timestamp > quote.validUntil) {
            revert FxQuoteExpired(quote.quoteId, quote.validUntil, block.timestamp);
        }
        if (quote.issuedAt > block.timestamp || block.timestamp - quote.issuedAt > _maxQuoteAge) {
            revert FxQuoteStale(quote.quoteId, quote.issuedAt, _maxQuoteAge);
        }
        if (quote.payer != address(0) && quote.payer != payer) {
            revert FxQuoteWrongPayer(quote.quoteId, payer, quote.payer);
        }
        _checkProviderConsent(quote, signature);
        _participants.requireActor(quote.provider, Roles.FX_PROVIDER);
        _usedQuotes[quote.quoteId] = true;
    }

    /// @dev The provider agreed to this very quote: it posted it (no signature) or signed
    /// it (EIP-712).
    function _checkProviderConsent(Quote calldata quote, bytes calldata signature) private view {
        bytes32 digest = quoteDigest(quote);
        if (signature.length == 0) {
            if (_postedQuotes[quote.quoteId] != digest) revert FxQuoteNotPosted(quote.quoteId);
            return;
        }
        // A malformed signature recovers no signer: refused as such, not left to the
        // provider's standing check to catch a zero provider. Slither (accepted): the
        // third value only details what is malformed, and all of it is refused alike.
        // slither-disable-next-line unused-return
        (address signer, ECDSA.RecoverError recoverError,) = ECDSA.tryRecover(digest, signature);
        if (recoverError != ECDSA.RecoverError.NoError || signer != quote.provider) {
            revert FxQuoteBadSignature(quote.quoteId, signer, quote.provider);
        }
    }

    /// @dev A fresh, non-zero UETR and two legs above zero; returns the buy leg.
    function _checkPayment(Payment calldata payment, uint256 rate) private view returns (uint256 buyAmount) {
        if (payment.uetr == bytes16(0)) revert FxInvalidUetr(payment.uetr);
        if (_usedUetrs[payment.uetr]) revert FxDuplicateUetr(payment.uetr);
        if (payment.sellAmount == 0) revert FxInvalidAmount(payment.sellAmount);
        buyAmount = buyAmountFor(payment.sellAmount, rate);
        if (buyAmount == 0) revert FxInvalidAmount(buyAmount);
    }

    function _checkQuoteShape(Quote calldata quote) private pure {
        if (quote.quoteId == bytes32(0)) revert FxQuoteInvalid(quote.quoteId, "quoteId");
        if (quote.rate == 0) revert FxQuoteInvalid(quote.quoteId, "rate");
        if (quote.sellCurrency == quote.buyCurrency) revert FxQuoteInvalid(quote.quoteId, "currencies");
    }

    function _checkCompliance(address payer, address payee, Quote calldata quote, uint256 sellAmount, uint256 buyAmount)
        private
    {
        _requireStanding(payer);
        _requireStanding(payee);
        _requireStanding(quote.provider);
        // A ledger contract (clearing) has no jurisdiction: the cross-border leg is then
        // the payer's to the FX provider's, and the contract's own intake is not limited.
        bool ledgerPayee = _participants.isLedgerContract(payee);
        bytes2 from = _participants.participant(payer).jurisdiction;
        bytes2 to = _participants.participant(ledgerPayee ? quote.provider : payee).jurisdiction;
        if (!corridorOpen(from, to)) revert FxComplianceCorridorClosed(from, to);
        _consumeLimit(payer, quote.sellCurrency, sellAmount);
        if (!ledgerPayee) _consumeLimit(payee, quote.buyCurrency, buyAmount);
    }

    function _consumeLimit(address account, bytes3 currency, uint256 amount) private {
        uint256 day = block.timestamp / 1 days;
        uint256 used = _used[account][currency][day];
        uint256 limit = _dailyLimits[account][currency];
        if (limit != 0 && used + amount > limit) {
            revert FxComplianceDailyLimit(account, currency, limit, used, amount);
        }
        _used[account][currency][day] = used + amount;
    }

    function _requireStanding(address account) private view {
        IParticipantRegistry.Standing s = _participants.standing(account);
        if (s != IParticipantRegistry.Standing.ACTIVE) revert FxComplianceStanding(account, s);
    }

    function _onlyRuleSetter() private view {
        if (_participants.hasRole(Roles.OPERATOR, msg.sender)) return;
        if (!_participants.canAct(msg.sender, Roles.REGULATOR)) revert FxNotAuthorized(msg.sender);
    }

    function _token(bytes3 currency) private view returns (IERC20) {
        address token = _participants.settlementToken(currency);
        if (token == address(0)) revert FxCurrencyNotListed(currency);
        return IERC20(token);
    }
}
