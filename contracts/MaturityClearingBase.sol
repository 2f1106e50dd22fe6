// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {DeferredPayments} from "./DeferredPayments.sol";
import {ICreditLines} from "./interfaces/ICreditLines.sol";
import {IMaturityClearing} from "./interfaces/IMaturityClearing.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {IReceivableRegistry} from "./interfaces/IReceivableRegistry.sol";
import {Roles} from "./Roles.sol";

/// @title MaturityClearingBase
/// @notice The storage of {MaturityClearing}, its day-count arithmetic, and the one
/// function through which a leaf is paid ahead of its root (partial or early payment).
/// @dev ReentrancyGuard comes first so that its slot stays slot 0, and `_repaid` and
/// `_unredeemed` keep theirs, as when clearing was one contract.
abstract contract MaturityClearingBase is IMaturityClearing, ReentrancyGuard, DeferredPayments {
    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    uint256 public constant MAX_REDEEM_BATCH = 250;
    uint256 internal constant _BPS = 10_000;

    uint256 internal constant _PAYABLE = (1 << uint8(IReceivableRegistry.Status.ACTIVE))
        | (1 << uint8(IReceivableRegistry.Status.SPLIT)) | (1 << uint8(IReceivableRegistry.Status.FINANCING))
        | (1 << uint8(IReceivableRegistry.Status.FINANCED)) | (1 << uint8(IReceivableRegistry.Status.OVERDUE))
        | (1 << uint8(IReceivableRegistry.Status.DEFAULTED));

    /// @dev Statuses a leaf that drew on a credit line can be in when it is paid.
    uint256 internal constant _DRAWN = (1 << uint8(IReceivableRegistry.Status.FINANCED))
        | (1 << uint8(IReceivableRegistry.Status.OVERDUE)) | (1 << uint8(IReceivableRegistry.Status.DEFAULTED));

    /// @dev A leaf its debtor may pay ahead of its root: unsettled, not split, not pending
    /// and not locked in an open financing request.
    uint256 internal constant _REPAYABLE_LEAF = (1 << uint8(IReceivableRegistry.Status.ACTIVE)) | _DRAWN;

    /// @dev A leaf an early payment may be offered for and accepted on: before its due
    /// date, so neither overdue nor defaulted.
    uint256 internal constant _EARLY_PAYABLE =
        (1 << uint8(IReceivableRegistry.Status.ACTIVE)) | (1 << uint8(IReceivableRegistry.Status.FINANCED));

    struct Offer {
        address debtor;
        uint64 expiry;
        uint16 annualRateBps;
        uint16 dayCountBasis;
        uint48 leafId;
        EarlyPaymentStatus status;
    }

    /// @dev A late root's interest: what was charged and what is not yet paid to leaves.
    struct Interest {
        uint128 charged;
        uint128 left;
    }

    IParticipantRegistry internal immutable _participants;
    IReceivableRegistry internal immutable _receivables;
    ICreditLines internal immutable _lines;

    mapping(uint256 rootId => uint256 amount) internal _repaid;
    mapping(uint256 rootId => uint256 amount) internal _unredeemed;
    mapping(uint256 rootId => Interest) internal _interest;
    mapping(uint256 offerId => Offer) internal _offers;
    uint256 internal _lastOfferId;

    constructor(IParticipantRegistry participants, IReceivableRegistry receivables, ICreditLines lines)
        DeferredPayments(participants)
    {
        _participants = participants;
        _receivables = receivables;
        _lines = lines;
    }

    /*//////////////////////////////////////////////////////////////
                               ARITHMETIC
    //////////////////////////////////////////////////////////////*/

    /// @notice floor(face x annualRateBps x daysEarly / (10^4 x basis)): the financing
    /// desk's discount at a 100% advance (ledger_app.domain.clearing_amounts.early_payment_discount).
    function earlyDiscount(uint256 face, uint256 annualRateBps, uint256 daysEarly, uint256 basis)
        public
        pure
        returns (uint256)
    {
        return (face * annualRateBps * daysEarly) / (_BPS * basis);
    }

    /// @notice floor(amount x lateInterestBps x daysLate / (10^4 x 365)): late interest,
    /// ACT/365 (ledger_app.domain.clearing_amounts.late_interest).
    function lateInterest(uint256 amount, uint256 lateInterestBps, uint256 daysLate) public pure returns (uint256) {
        return (amount * lateInterestBps * daysLate) / (_BPS * 365);
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Whole days from `dueDate` to now; 0 until a whole day has passed.
    function _daysLate(uint64 dueDate) internal view returns (uint256) {
        return block.timestamp > dueDate ? (block.timestamp - dueDate) / 1 days : 0;
    }

    /// @dev Settles leaf `leafId` paid by its debtor ahead of its root, after checking
    /// its status against `allowed`, and frees what it drew on a credit line (a
    /// defaulted one as recovered). The registry reports its face to the risk control.
    function _settleAhead(uint256 leafId, uint256 allowed)
        internal
        returns (IReceivableRegistry.Summary memory before)
    {
        before = _receivables.summary(leafId);
        if ((1 << uint8(before.status)) & allowed == 0) revert ClearingNotPayable(leafId, before.status, allowed);
        if (before.frozen) revert IReceivableRegistry.ReceivableFrozenError(leafId);
        // A root paid into clearing pays its leaves by redemption, never this way.
        if (_repaid[before.rootId] != 0) revert ClearingAlreadyRepaid(before.rootId);
        // Slither (accepted): settle's holder, amount and root are `before`'s, read above
        // from the same registry in this transaction; its answer adds nothing.
        // slither-disable-next-line unused-return
        _receivables.settle(leafId);
        if ((1 << uint8(before.status)) & _DRAWN != 0) {
            _lines.release(leafId, before.amount, before.status == IReceivableRegistry.Status.DEFAULTED);
        }
    }

    function _requireActiveCaller() internal view {
        // Any active participant may push redemptions (a keeper, the holder, the debtor).
        if (!_participants.isActive(msg.sender)) _participants.requireActor(msg.sender, Roles.SUPPLIER);
    }

    function _token(bytes3 currency) internal view returns (IERC20) {
        address token = _participants.settlementToken(currency);
        if (token == address(0)) revert ClearingCurrencyNotListed(currency);
        return IERC20(token);
    }
}
