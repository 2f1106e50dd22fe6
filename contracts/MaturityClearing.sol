// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ICreditLines} from "./interfaces/ICreditLines.sol";
import {IFxSettlement} from "./interfaces/IFxSettlement.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {IReceivableRegistry} from "./interfaces/IReceivableRegistry.sol";
import {MaturityClearingBase} from "./MaturityClearingBase.sol";
import {Roles} from "./Roles.sol";

/// @title MaturityClearing
/// @notice Pull-based clearing: the debtor's payment for a whole root (plus late
/// interest) lands here in one transaction; each leaf is redeemed to its holder
/// separately (or in batches of at most MAX_REDEEM_BATCH), so a root with thousands of
/// leaves needs no unbounded loop. Before that, the debtor may pay chosen leaves
/// ({repayLeaves}) or have a holder accept an early payment at a discount
/// ({offerEarlyPayment}); the root's repayment then covers only what is still owed.
/// @dev The registry's `settle` refuses a leaf already SETTLED, so no leaf is paid twice.
/// Holders are paid through {_payOrDefer}: a holder that may not receive now (frozen,
/// suspended) is credited to claim later, and never blocks another holder's payment.
contract MaturityClearing is MaturityClearingBase {
    using SafeERC20 for IERC20;

    constructor(IParticipantRegistry participants, IReceivableRegistry receivables, ICreditLines lines)
        MaturityClearingBase(participants, receivables, lines)
    {}

    /*//////////////////////////////////////////////////////////////
                           ROOT REPAYMENT
    //////////////////////////////////////////////////////////////*/

    /// @notice The debtor pays the root's outstanding amount (what its leaves paid ahead
    /// left) into clearing, plus late interest when paid after the due date.
    /// Requirements: caller is the root's debtor, an active CORE_ENTERPRISE; `rootId` is
    /// a root that is confirmed and not settled; now >= due date; not repaid before; the
    /// caller approved this contract for amount + interest. A defaulted root may be paid.
    /// Emits {RootRepaid}, and {RootLateInterestCharged} when interest is due.
    function repay(uint256 rootId) external nonReentrant returns (uint256 amount) {
        IReceivableRegistry.Summary memory s = _checkRepayable(rootId, msg.sender);
        uint256 interest;
        (amount, interest) = _markRepaid(rootId, s);
        // Pull the payment last: the root is marked repaid before the token is called.
        _token(s.currency).safeTransferFrom(msg.sender, address(this), amount + interest);
    }

    /// @notice Cross-border maturity payment: the debtor pays the root's outstanding
    /// amount and late interest in its own currency through an FX provider's quote (PvP),
    /// and clearing receives the receivable's currency; the holders are redeemed as
    /// after {repay}. The debtor pays ceil(due x 1e18 / rate) of the quote's sell
    /// currency; what rounding buys beyond the amount goes back to it.
    /// Requirements: as {repay}; `fx` is a ledger contract; the quote buys the
    /// receivable's currency; the debtor approved `fx` for the sell amount; the FX
    /// rules (quote, UETR, standing, corridor debtor -> provider, limits) pass.
    /// Emits {RootRepaid}, {RootLateInterestCharged} if late, and the FX contract's {PvpSettled}.
    function repayViaFx(
        uint256 rootId,
        IFxSettlement fx,
        bytes16 uetr,
        IFxSettlement.Quote calldata quote,
        bytes calldata signature
    ) external nonReentrant returns (uint256 sellAmount) {
        IReceivableRegistry.Summary memory s = _checkRepayable(rootId, msg.sender);
        if (!_participants.isLedgerContract(address(fx))) revert ClearingUntrustedFx(address(fx));
        if (quote.buyCurrency != s.currency) revert ClearingFxCurrencyMismatch(rootId, s.currency, quote.buyCurrency);
        uint256 due = _markRepaidTotal(rootId, s);
        // Rounded up, so that the provider's floor-rounded leg covers the whole amount.
        sellAmount = (due * 1e18 + quote.rate - 1) / quote.rate;
        IERC20 token = _token(s.currency);
        uint256 before = token.balanceOf(address(this));
        // Slither (accepted): `before` cannot go stale, every entry point here is
        // nonReentrant and `fx` is a ledger contract the operator registered; and the
        // FX contract's returned buy amount is ignored on purpose, the balance is checked.
        // slither-disable-next-line reentrancy-balance,unused-return
        fx.settleFor(msg.sender, IFxSettlement.Payment(uetr, address(this), sellAmount, "SUPP", rootId), quote, signature);
        // Trust the balance, not the FX contract's word: the amount must have arrived.
        uint256 received = token.balanceOf(address(this)) - before;
        if (received < due) revert ClearingFxShortfall(rootId, received, due);
        if (received > due) token.safeTransfer(msg.sender, received - due);
    }

    /*//////////////////////////////////////////////////////////////
                              REDEMPTION
    //////////////////////////////////////////////////////////////*/

    /// @notice Pays one leaf of a repaid root to its current holder, with its share of the
    /// root's late interest, and settles it. A holder that may not receive the token now
    /// is credited instead ({claim}).
    /// Requirements: caller is an active participant; the leaf's root is repaid; the
    /// leaf is unsettled and not frozen.
    /// Emits {LeafRedeemed}, the registry's settlement events, for a financed leaf the
    /// credit line's {CreditLineReleased}, and {PaymentDeferred} for a holder paid later.
    function redeem(uint256 leafId) external nonReentrant {
        _requireActiveCaller();
        _redeem(leafId);
    }

    /// @notice Redeems up to MAX_REDEEM_BATCH leaves, all or none.
    /// Requirements: 1..MAX_REDEEM_BATCH leaves; as {redeem}, for every leaf.
    /// Emits, per leaf, as {redeem}.
    function redeemBatch(uint256[] calldata leafIds) external nonReentrant {
        uint256 count = leafIds.length;
        if (count == 0 || count > MAX_REDEEM_BATCH) revert ClearingBatchSize(count, MAX_REDEEM_BATCH);
        _requireActiveCaller();
        for (uint256 i = 0; i < count; ++i) {
            _redeem(leafIds[i]);
        }
    }

    /*//////////////////////////////////////////////////////////////
                      PAYMENT AHEAD OF THE ROOT
    //////////////////////////////////////////////////////////////*/

    /// @notice Partial repayment: the debtor pays chosen leaves of its roots, before, at or
    /// after their due date, before their root is paid into clearing. Each leaf's holder
    /// receives its face, plus the leaf's late interest when paid after the due date
    /// ({lateInterest} on the face, whole days late); the leaf settles; the root's
    /// outstanding amount falls by the face. All or none.
    /// Requirements: 1..MAX_REDEEM_BATCH leaves; caller is the debtor of each, an active
    /// CORE_ENTERPRISE; each leaf ACTIVE, FINANCED, OVERDUE or DEFAULTED (not in an open
    /// financing request), not frozen, its root not paid into clearing; the caller
    /// approved this contract for what it pays.
    /// Emits, per leaf, {LeafRepaid}, the registry's settlement events, and for a financed
    /// leaf {CreditLineReleased} (RECOVERED when it had defaulted).
    function repayLeaves(uint256[] calldata leafIds) external nonReentrant returns (uint256 paid) {
        uint256 count = leafIds.length;
        if (count == 0 || count > MAX_REDEEM_BATCH) revert ClearingBatchSize(count, MAX_REDEEM_BATCH);
        _participants.requireActor(msg.sender, Roles.CORE_ENTERPRISE);
        for (uint256 i = 0; i < count; ++i) {
            paid += _repayLeaf(leafIds[i]);
        }
    }

    /// @notice The debtor offers to pay leaf `leafId` before its due date at
    /// `annualRateBps` a year (day count `dayCountBasis`), to whoever holds it when the
    /// offer is accepted. Rate 0 is a plain early payment of the face.
    /// Requirements: caller is the leaf's debtor, an active CORE_ENTERPRISE; the leaf
    /// ACTIVE or FINANCED (not split, settled, pending or in a financing request), not
    /// frozen, its due date in the future; rate <= 10_000; basis 365 or 360; now <=
    /// expiry < due date.
    /// Emits {EarlyPaymentOffered}.
    function offerEarlyPayment(uint256 leafId, uint16 annualRateBps, uint16 dayCountBasis, uint64 expiry)
        external
        returns (uint256 offerId)
    {
        IReceivableRegistry.Summary memory s = _earlyPayable(leafId);
        if (msg.sender != s.debtor) revert ClearingNotDebtor(s.rootId, msg.sender, s.debtor);
        _participants.requireActor(msg.sender, Roles.CORE_ENTERPRISE);
        if (annualRateBps > _BPS) revert ClearingInvalidEarlyPaymentTerms("annualRateBps", annualRateBps);
        if (dayCountBasis != 365 && dayCountBasis != 360) {
            revert ClearingInvalidEarlyPaymentTerms("dayCountBasis", dayCountBasis);
        }
        if (expiry < block.timestamp || expiry >= s.dueDate) revert ClearingInvalidEarlyPaymentTerms("expiry", expiry);
        offerId = ++_lastOfferId;
        _offers[offerId] = Offer(msg.sender, expiry, annualRateBps, dayCountBasis, uint48(leafId), EarlyPaymentStatus.OPEN);
        emit EarlyPaymentOffered(offerId, leafId, msg.sender, annualRateBps, dayCountBasis, expiry);
    }

    /// @notice The debtor withdraws an open early payment offer.
    /// Requirements: caller is the offer's debtor, an active CORE_ENTERPRISE; offer OPEN.
    /// Emits {EarlyPaymentWithdrawn}.
    function withdrawEarlyPayment(uint256 offerId) external {
        Offer storage o = _openOffer(offerId);
        if (msg.sender != o.debtor) revert ClearingEarlyPaymentNotOfferor(offerId, msg.sender, o.debtor);
        _participants.requireActor(msg.sender, Roles.CORE_ENTERPRISE);
        o.status = EarlyPaymentStatus.WITHDRAWN;
        emit EarlyPaymentWithdrawn(offerId, o.leafId, msg.sender);
    }

    /// @notice The leaf's current holder accepts an early payment: in one transaction it
    /// receives face - discount from the debtor (discount = {earlyDiscount} over the whole
    /// days left to the due date), the leaf settles, the root's outstanding amount falls
    /// by the face, and a financed leaf frees its credit line. The holder's acceptance is
    /// its consent; a financed leaf is accepted by its financier, who holds it.
    /// Requirements: caller is the leaf's holder, an active SUPPLIER or FINANCIER; offer
    /// OPEN, now <= expiry; the leaf as {offerEarlyPayment} asks, now; the debtor
    /// approved this contract for what it pays; the discount below the face.
    /// Emits {EarlyPaymentAccepted}, the registry's settlement events, and for a financed
    /// leaf {CreditLineReleased} (REPAID).
    function acceptEarlyPayment(uint256 offerId) external nonReentrant returns (uint256 paid) {
        Offer storage o = _openOffer(offerId);
        if (block.timestamp > o.expiry) revert ClearingEarlyPaymentExpired(offerId, o.expiry, block.timestamp);
        uint256 leafId = o.leafId;
        IReceivableRegistry.Summary memory s = _earlyPayable(leafId);
        if (msg.sender != s.holder) revert ClearingNotHolder(leafId, msg.sender, s.holder);
        _participants.requireActorAny(msg.sender, Roles.SUPPLIER, Roles.FINANCIER);
        uint256 daysEarly = (s.dueDate - block.timestamp) / 1 days;
        uint256 discount = earlyDiscount(s.amount, o.annualRateBps, daysEarly, o.dayCountBasis);
        if (discount >= s.amount) revert ClearingEarlyPaymentNoProceeds(offerId, s.amount, discount);
        paid = s.amount - discount;
        o.status = EarlyPaymentStatus.ACCEPTED;
        _settleAhead(leafId, _EARLY_PAYABLE);
        emit EarlyPaymentAccepted(offerId, leafId, msg.sender, o.debtor, s.amount, daysEarly, discount, paid);
        // The holder is the caller, in good standing (checked above): paid directly.
        // Slither (accepted): the `from` is not arbitrary. It is the offer's debtor, who
        // made this offer itself ({offerEarlyPayment} takes it only from the root's
        // debtor, as msg.sender) and so consented to pay this leaf at this rate until the
        // expiry or its withdrawal; the offer is spent here, so it pays once.
        // slither-disable-next-line arbitrary-send-erc20
        _token(s.currency).safeTransferFrom(o.debtor, msg.sender, paid);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice What the debtor paid into clearing for root `rootId` (0: not yet), without
    /// its late interest.
    function repaidAmount(uint256 rootId) external view returns (uint256) {
        return _repaid[rootId];
    }

    /// @notice What of root `rootId`'s repayment (face) is not yet paid out to its leaves.
    function unredeemedAmount(uint256 rootId) external view returns (uint256) {
        return _unredeemed[rootId];
    }

    /// @notice The late interest root `rootId`'s debtor paid into clearing.
    function lateInterestCharged(uint256 rootId) external view returns (uint256) {
        return _interest[rootId].charged;
    }

    /// @notice What of root `rootId`'s late interest is not yet paid out to its leaves.
    function lateInterestUnredeemed(uint256 rootId) external view returns (uint256) {
        return _interest[rootId].left;
    }

    /// @notice What {repay} would take now: the root's outstanding amount and its late
    /// interest (0, 0 once repaid).
    function amountDue(uint256 rootId) external view returns (uint256 outstanding, uint256 interest) {
        if (_repaid[rootId] != 0) return (0, 0);
        outstanding = _receivables.outstanding(rootId);
        IReceivableRegistry.Summary memory s = _receivables.summary(rootId);
        interest = lateInterest(outstanding, _receivables.lateInterestBps(rootId), _daysLate(s.dueDate));
    }

    /// @notice Early payment offer `offerId`.
    function earlyPaymentOffer(uint256 offerId) external view returns (EarlyPaymentOffer memory) {
        Offer storage o = _offers[offerId];
        if (o.status == EarlyPaymentStatus.NONE) revert ClearingEarlyPaymentUnknown(offerId);
        return EarlyPaymentOffer(o.leafId, o.debtor, o.annualRateBps, o.dayCountBasis, o.expiry, o.status);
    }

    /// @notice What accepting offer `offerId` now would pay its holder.
    function earlyPaymentQuote(uint256 offerId) external view returns (uint256 daysEarly, uint256 discount, uint256 paid) {
        Offer storage o = _offers[offerId];
        if (o.status == EarlyPaymentStatus.NONE) revert ClearingEarlyPaymentUnknown(offerId);
        IReceivableRegistry.Summary memory s = _receivables.summary(o.leafId);
        daysEarly = s.dueDate > block.timestamp ? (s.dueDate - block.timestamp) / 1 days : 0;
        discount = earlyDiscount(s.amount, o.annualRateBps, daysEarly, o.dayCountBasis);
        paid = discount < s.amount ? s.amount - discount : 0;
    }

    /// @notice The highest early payment offer id assigned so far.
    function lastEarlyPaymentOfferId() external view returns (uint256) {
        return _lastOfferId;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _checkRepayable(uint256 rootId, address payer) private view returns (IReceivableRegistry.Summary memory s) {
        s = _receivables.summary(rootId);
        if (s.rootId != rootId) revert ClearingNotRoot(rootId, s.rootId);
        if (payer != s.debtor) revert ClearingNotDebtor(rootId, payer, s.debtor);
        _participants.requireActor(payer, Roles.CORE_ENTERPRISE);
        if ((1 << uint8(s.status)) & _PAYABLE == 0) revert ClearingNotPayable(rootId, s.status, _PAYABLE);
        if (block.timestamp < s.dueDate) revert ClearingNotDue(rootId, s.dueDate, block.timestamp);
        if (_repaid[rootId] != 0) revert ClearingAlreadyRepaid(rootId);
    }

    /// @dev Records the root's repayment (outstanding amount and late interest) and tells
    /// the registry; the caller pulls `amount + interest` afterwards.
    function _markRepaid(uint256 rootId, IReceivableRegistry.Summary memory s)
        private
        returns (uint256 amount, uint256 interest)
    {
        amount = _receivables.outstanding(rootId);
        uint32 bps = _receivables.lateInterestBps(rootId);
        uint256 daysLate = _daysLate(s.dueDate);
        interest = lateInterest(amount, bps, daysLate);
        _repaid[rootId] = amount;
        _unredeemed[rootId] = amount;
        _receivables.markRootRepaid(rootId);
        emit RootRepaid(rootId, msg.sender, s.currency, amount);
        if (interest != 0) {
            _interest[rootId] = Interest(uint128(interest), uint128(interest));
            emit RootLateInterestCharged(rootId, msg.sender, amount, bps, daysLate, interest);
        }
    }

    /// @dev {_markRepaid}, answering what the debtor owes in all.
    function _markRepaidTotal(uint256 rootId, IReceivableRegistry.Summary memory s) private returns (uint256) {
        (uint256 amount, uint256 interest) = _markRepaid(rootId, s);
        return amount + interest;
    }

    function _redeem(uint256 leafId) private {
        // Read before settling: whether a financed leaf had defaulted (its line is then
        // freed as recovered), and the currency, its root's.
        IReceivableRegistry.Summary memory before = _receivables.summary(leafId);
        // A leaf of an unpaid root is refused before the registry would settle it ahead.
        if (_repaid[before.rootId] == 0) revert ClearingNotRepaid(before.rootId);
        // settle() refuses anything not payable (already settled, frozen, split...).
        (address holder, uint128 amount, uint256 rootId) = _receivables.settle(leafId);
        uint256 faceLeft = _unredeemed[rootId];
        _unredeemed[rootId] = faceLeft - amount;
        // Pro rata to face, floor; the last leaf takes what is left: shares sum to the charge.
        Interest storage i = _interest[rootId];
        uint256 left = i.left;
        uint256 share = amount == faceLeft ? left : (left * amount) / faceLeft;
        if (share != 0) i.left = uint128(left - share);
        emit LeafRedeemed(leafId, rootId, holder, amount, share);
        // Only a financed leaf drew on a line (FINANCED at accept, then OVERDUE or
        // DEFAULTED at most): the others skip the call.
        if ((1 << uint8(before.status)) & _DRAWN != 0) {
            _lines.release(leafId, amount, before.status == IReceivableRegistry.Status.DEFAULTED);
        }
        _payOrDefer(_token(before.currency), holder, amount + share);
    }

    /// @dev One leaf of {repayLeaves}: settled, then its payment pulled from the debtor
    /// and passed on (or deferred) to its holder.
    function _repayLeaf(uint256 leafId) private returns (uint256 paid) {
        IReceivableRegistry.Summary memory s = _settleAhead(leafId, _REPAYABLE_LEAF);
        if (msg.sender != s.debtor) revert ClearingNotDebtor(s.rootId, msg.sender, s.debtor);
        uint256 interest = lateInterest(s.amount, _receivables.lateInterestBps(s.rootId), _daysLate(s.dueDate));
        paid = s.amount + interest;
        emit LeafRepaid(leafId, s.rootId, s.holder, msg.sender, s.amount, interest);
        IERC20 token = _token(s.currency);
        token.safeTransferFrom(msg.sender, address(this), paid);
        _payOrDefer(token, s.holder, paid);
    }

    function _earlyPayable(uint256 leafId) private view returns (IReceivableRegistry.Summary memory s) {
        s = _receivables.summary(leafId);
        if ((1 << uint8(s.status)) & _EARLY_PAYABLE == 0) revert ClearingNotPayable(leafId, s.status, _EARLY_PAYABLE);
        if (s.frozen) revert IReceivableRegistry.ReceivableFrozenError(leafId);
        if (block.timestamp >= s.dueDate) revert ClearingPastDue(leafId, s.dueDate, block.timestamp);
    }

    function _openOffer(uint256 offerId) private view returns (Offer storage o) {
        o = _offers[offerId];
        if (o.status == EarlyPaymentStatus.NONE) revert ClearingEarlyPaymentUnknown(offerId);
        if (o.status != EarlyPaymentStatus.OPEN) revert ClearingEarlyPaymentNotOpen(offerId, o.status);
    }
}
