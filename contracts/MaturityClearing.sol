// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ICreditLines} from "./interfaces/ICreditLines.sol";
import {IFxSettlement} from "./interfaces/IFxSettlement.sol";
import {IMaturityClearing} from "./interfaces/IMaturityClearing.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {IReceivableRegistry} from "./interfaces/IReceivableRegistry.sol";
import {Roles} from "./Roles.sol";

/// @title MaturityClearing
/// @notice Pull-based clearing: the debtor's payment for a whole root lands here in one
/// transaction; each leaf is redeemed to its holder separately (or in batches of at
/// most MAX_REDEEM_BATCH), so a root with thousands of leaves needs no unbounded loop.
/// @dev The registry's `settle` refuses a leaf already SETTLED, so no leaf is paid twice.
contract MaturityClearing is IMaturityClearing, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    uint256 public constant MAX_REDEEM_BATCH = 250;

    uint256 private constant _PAYABLE = (1 << uint8(IReceivableRegistry.Status.ACTIVE))
        | (1 << uint8(IReceivableRegistry.Status.SPLIT)) | (1 << uint8(IReceivableRegistry.Status.FINANCING))
        | (1 << uint8(IReceivableRegistry.Status.FINANCED)) | (1 << uint8(IReceivableRegistry.Status.OVERDUE))
        | (1 << uint8(IReceivableRegistry.Status.DEFAULTED));

    /// @dev Statuses a leaf that drew on a credit line can be in when it is redeemed.
    uint256 private constant _DRAWN = (1 << uint8(IReceivableRegistry.Status.FINANCED))
        | (1 << uint8(IReceivableRegistry.Status.OVERDUE)) | (1 << uint8(IReceivableRegistry.Status.DEFAULTED));

    IParticipantRegistry private immutable _participants;
    IReceivableRegistry private immutable _receivables;
    ICreditLines private immutable _lines;

    mapping(uint256 rootId => uint256 amount) private _repaid;
    mapping(uint256 rootId => uint256 amount) private _unredeemed;

    constructor(IParticipantRegistry participants, IReceivableRegistry receivables, ICreditLines lines) {
        _participants = participants;
        _receivables = receivables;
        _lines = lines;
    }

    /*//////////////////////////////////////////////////////////////
                                 LOGIC
    //////////////////////////////////////////////////////////////*/

    /// @notice The debtor pays the root's whole outstanding amount into clearing.
    /// Requirements: caller is the root's debtor, an active CORE_ENTERPRISE; `rootId` is
    /// a root that is confirmed and not settled; now >= due date; not repaid before; the
    /// caller approved this contract for the amount. A defaulted root may still be paid.
    /// Emits {RootRepaid}.
    function repay(uint256 rootId) external nonReentrant returns (uint256 amount) {
        IReceivableRegistry.Summary memory s = _checkRepayable(rootId, msg.sender);
        amount = _receivables.outstanding(rootId);
        _repaid[rootId] = amount;
        _unredeemed[rootId] = amount;
        _receivables.markRootRepaid(rootId);
        emit RootRepaid(rootId, msg.sender, s.currency, amount);
        // Pull the payment last: the root is marked repaid before the token is called.
        _token(s.currency).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Cross-border maturity payment: the debtor pays the root's outstanding
    /// amount in its own currency through an FX provider's quote (PvP), and clearing
    /// receives the receivable's currency; the holders are redeemed as after {repay}.
    /// The debtor pays ceil(amount x 1e18 / rate) of the quote's sell currency; what
    /// rounding buys beyond the amount (less than one rate step) goes back to it.
    /// Requirements: as {repay}; `fx` is a ledger contract; the quote buys the
    /// receivable's currency; the debtor approved `fx` for the sell amount; the FX
    /// rules (quote, UETR, standing, corridor debtor -> provider, limits) pass.
    /// Emits {RootRepaid} and the FX contract's {PvpSettled}.
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
        uint256 amount = _receivables.outstanding(rootId);
        // Rounded up, so that the provider's floor-rounded leg covers the whole amount.
        sellAmount = (amount * 1e18 + quote.rate - 1) / quote.rate;
        _repaid[rootId] = amount;
        _unredeemed[rootId] = amount;
        _receivables.markRootRepaid(rootId);
        emit RootRepaid(rootId, msg.sender, s.currency, amount);
        IERC20 token = _token(s.currency);
        uint256 before = token.balanceOf(address(this));
        // Slither (accepted): `before` cannot go stale, every entry point here is
        // nonReentrant and `fx` is a ledger contract the operator registered; and the
        // FX contract's returned buy amount is ignored on purpose, the balance is checked.
        // slither-disable-next-line reentrancy-balance,unused-return
        fx.settleFor(msg.sender, IFxSettlement.Payment(uetr, address(this), sellAmount, "SUPP", rootId), quote, signature);
        // Trust the balance, not the FX contract's word: the amount must have arrived.
        uint256 received = token.balanceOf(address(this)) - before;
        if (received < amount) revert ClearingFxShortfall(rootId, received, amount);
        if (received > amount) token.safeTransfer(msg.sender, received - amount);
    }

    /// @notice Pays one leaf of a repaid root to its current holder and settles it.
    /// Requirements: caller is an active participant; the leaf's root is repaid; the
    /// leaf is unsettled and not frozen; its holder may receive the token.
    /// Emits {LeafRedeemed}, the registry's settlement events, and, for a financed leaf,
    /// the credit line's {CreditLineReleased}.
    function redeem(uint256 leafId) external nonReentrant {
        _requireActiveCaller();
        _redeem(leafId);
    }

    /// @notice Redeems up to MAX_REDEEM_BATCH leaves, all or none.
    /// Requirements: 1..MAX_REDEEM_BATCH leaves; as {redeem}, for every leaf.
    /// Emits, per leaf, {LeafRedeemed} and the registry's settlement events.
    function redeemBatch(uint256[] calldata leafIds) external nonReentrant {
        uint256 count = leafIds.length;
        if (count == 0 || count > MAX_REDEEM_BATCH) revert ClearingBatchSize(count, MAX_REDEEM_BATCH);
        _requireActiveCaller();
        for (uint256 i = 0; i < count; ++i) {
            _redeem(leafIds[i]);
        }
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice What the debtor paid into clearing for root `rootId` (0: not yet).
    function repaidAmount(uint256 rootId) external view returns (uint256) {
        return _repaid[rootId];
    }

    /// @notice What of root `rootId`'s repayment is not yet paid out to its leaves.
    function unredeemedAmount(uint256 rootId) external view returns (uint256) {
        return _unredeemed[rootId];
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

    function _redeem(uint256 leafId) private {
        // Read before settling: whether a financed leaf had defaulted (its line is then
        // freed as recovered), and the currency, its root's.
        IReceivableRegistry.Summary memory before = _receivables.summary(leafId);
        // settle() refuses anything not payable (already settled, frozen, split...).
        (address holder, uint128 amount, uint256 rootId) = _receivables.settle(leafId);
        if (_repaid[rootId] == 0) revert ClearingNotRepaid(rootId);
        _unredeemed[rootId] -= amount;
        emit LeafRedeemed(leafId, rootId, holder, amount);
        // Only a financed leaf drew on a line (FINANCED at accept, then OVERDUE or
        // DEFAULTED at most): the others skip the call.
        if ((1 << uint8(before.status)) & _DRAWN != 0) {
            _lines.release(leafId, amount, before.status == IReceivableRegistry.Status.DEFAULTED);
        }
        _token(before.currency).safeTransfer(holder, amount);
    }

    function _requireActiveCaller() private view {
        // Any active participant may push redemptions (a keeper, the holder, the debtor).
        if (!_participants.isActive(msg.sender)) _participants.requireActor(msg.sender, Roles.SUPPLIER);
    }

    function _token(bytes3 currency) private view returns (IERC20) {
        address token = _participants.settlementToken(currency);
        if (token == address(0)) revert ClearingCurrencyNotListed(currency);
        return IERC20(token);
    }
}
