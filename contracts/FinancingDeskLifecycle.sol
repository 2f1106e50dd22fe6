// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {FinancingDeskBase} from "./FinancingDeskBase.sol";
import {ICreditLines} from "./interfaces/ICreditLines.sol";
import {IReceivableRegistry} from "./interfaces/IReceivableRegistry.sol";
import {Roles} from "./Roles.sol";

/// @title FinancingDeskLifecycle
/// @notice What happens to a funded financing after funding, besides repayment:
/// buy-back under recourse after a default, and sale to another financier.
/// @dev A part of {FinancingDesk} (its storage is {FinancingDeskBase}'s), kept apart so
/// that the desk's origination and its after-life read as two small files.
abstract contract FinancingDeskLifecycle is FinancingDeskBase {
    using SafeERC20 for IERC20;

    uint256 internal constant _DEFAULTED = 1 << uint8(FinancingStatus.DEFAULTED);

    /*//////////////////////////////////////////////////////////////
                          BUY-BACK UNDER RECOURSE
    //////////////////////////////////////////////////////////////*/

    /// @notice The supplier pays `amount` towards the recourse claim of a defaulted
    /// financing. The desk holds the payments until the claim is paid in full; the
    /// payment that completes it, in the same transaction, pays the financier (or keeps
    /// it for the financier to claim, so a financier in bad standing never blocks the
    /// supplier), hands the receivable back to the supplier (OVERDUE again) and frees
    /// the financier's credit line.
    /// Requirements: caller is the financing's supplier, active; financing DEFAULTED
    /// with a recourse claim; its root not paid into clearing; 0 < amount <= what
    /// remains of the claim; the receivable not frozen (for the final payment); the
    /// caller approved this contract for `amount`.
    /// Emits {RecoursePaid}; on the final payment also {FinancingBoughtBack}, the
    /// credit line's {CreditLineReleased} (BOUGHT_BACK) and the registry's transfer and
    /// status change (and {PaymentDeferred} when the financier cannot receive now).
    function payRecourse(uint256 financingId, uint128 amount) external nonReentrant {
        Request storage r = _existing(financingId);
        _onlySupplier(financingId, r);
        _requireStatus(financingId, r.status, _DEFAULTED);
        uint128 claim = r.recourseClaim;
        if (claim == 0) revert FinancingNoRecourse(financingId);
        uint256 rootId = _receivables.summary(r.receivableId).rootId;
        if (_receivables.rootRepaid(rootId)) revert FinancingRootRepaid(financingId, rootId);
        uint128 paid = r.recoursePaid;
        if (amount == 0 || amount > claim - paid) revert FinancingRecourseAmount(financingId, amount, claim - paid);
        paid += amount;
        r.recoursePaid = paid;
        emit RecoursePaid(financingId, msg.sender, amount, paid, claim);
        IERC20 token = _token(r.currency);
        token.safeTransferFrom(msg.sender, address(this), amount);
        if (paid == claim) _buyBack(financingId, r, token);
    }

    /// @notice The supplier takes back its recourse payments when the root was paid
    /// into clearing before the claim was paid in full: the financier is paid there.
    /// Requirements: caller is the financing's supplier, active; financing DEFAULTED;
    /// its root paid into clearing; something paid.
    /// Emits {RecourseWithdrawn}.
    function withdrawRecourse(uint256 financingId) external nonReentrant {
        Request storage r = _existing(financingId);
        _onlySupplier(financingId, r);
        _requireStatus(financingId, r.status, _DEFAULTED);
        uint128 paid = r.recoursePaid;
        bool repaid = _receivables.rootRepaid(_receivables.summary(r.receivableId).rootId);
        if (!repaid || paid == 0) revert FinancingNothingToWithdraw(financingId, paid, repaid);
        r.recoursePaid = 0;
        emit RecourseWithdrawn(financingId, msg.sender, paid);
        _token(r.currency).safeTransfer(msg.sender, paid);
    }

    /*//////////////////////////////////////////////////////////////
                       SALE OF A FINANCED RECEIVABLE
    //////////////////////////////////////////////////////////////*/

    /// @notice The financier of a funded financing offers it (and its receivable) to
    /// `buyer` for `price`, until `expiry`.
    /// Requirements: caller is the financing's financier, active; financing FUNDED with
    /// no open sale; the receivable FINANCED, not frozen, not yet due; `buyer` another
    /// active FINANCIER; price > 0; expiry not in the past (nor past 2^40 - 1).
    /// Emits {FinancingSaleOffered}.
    function offerSale(uint256 financingId, address buyer, uint128 price, uint64 expiry)
        external
        returns (uint256 saleId)
    {
        Request storage r = _ownFunded(financingId);
        _requireSaleable(r);
        if (buyer == msg.sender) revert FinancingSaleInvalid("buyer", uint160(buyer));
        _participants.requireActor(buyer, Roles.FINANCIER);
        if (price == 0) revert FinancingSaleInvalid("price", 0);
        if (expiry < block.timestamp || expiry > type(uint40).max) revert FinancingSaleInvalid("expiry", expiry);
        uint256 open = _openSale[financingId];
        if (open != 0) revert FinancingSaleAlreadyOpen(financingId, open);
        saleId = ++_lastSaleId;
        // expiry <= type(uint40).max, checked above.
        _sales[saleId] = Sale(msg.sender, uint48(financingId), SaleStatus.OPEN, uint40(expiry), buyer, price);
        _openSale[financingId] = saleId;
        emit FinancingSaleOffered(saleId, financingId, msg.sender, buyer, price, expiry);
    }

    /// @notice The seller withdraws its open sale offer.
    /// Requirements: caller is the seller, active; the sale open.
    /// Emits {FinancingSaleCancelled}.
    function cancelSale(uint256 saleId) external {
        Sale storage s = _openSaleOffer(saleId);
        if (msg.sender != s.seller) revert FinancingNotFinancier(s.financingId, msg.sender, s.seller);
        _participants.requireActor(msg.sender, Roles.FINANCIER);
        s.status = SaleStatus.CANCELLED;
        delete _openSale[s.financingId];
        emit FinancingSaleCancelled(saleId, s.financingId, msg.sender);
    }

    /// @notice The named buyer buys: in this one transaction the price moves from the
    /// buyer to the seller, the buyer becomes the financing's financier and the
    /// receivable's holder, the seller's credit line is freed and the buyer's is drawn.
    /// Both are parties to their own trade: both in good standing, both legs or neither.
    /// Requirements: caller is the sale's buyer, an active FINANCIER; the sale open and
    /// not expired; the seller still the financing's financier, an active FINANCIER;
    /// financing FUNDED; the receivable FINANCED, not frozen, not due; the buyer has an
    /// open line to the debtor with room for the face amount; the buyer approved this
    /// contract for the price.
    /// Emits {FinancingSold}, the credit lines' {CreditLineReleased} (SOLD) and
    /// {CreditLineConsumed}, and the registry's {ReceivableTransferred}.
    function buySale(uint256 saleId) external nonReentrant {
        Sale storage s = _openSaleOffer(saleId);
        if (msg.sender != s.buyer) revert FinancingNotBuyer(saleId, msg.sender, s.buyer);
        _participants.requireActor(msg.sender, Roles.FINANCIER);
        if (block.timestamp > s.expiry) revert FinancingSaleExpired(saleId, s.expiry);
        uint256 financingId = s.financingId;
        address seller = s.seller;
        Request storage r = _existing(financingId);
        _requireStatus(financingId, r.status, _FUNDED);
        if (r.financier != seller) revert FinancingNotFinancier(financingId, seller, r.financier);
        _participants.requireActor(seller, Roles.FINANCIER);
        _requireSaleable(r);
        // Every state change before the first external call (the lines').
        (s.status, r.financier) = (SaleStatus.SOLD, msg.sender);
        delete _openSale[financingId];
        uint256 receivableId = r.receivableId;
        _lines.releaseDrawing(receivableId, ICreditLines.ReleaseCause.SOLD);
        _lines.consume(receivableId, financingId, msg.sender, r.supplier);
        _receivables.transferFinanced(receivableId, seller, msg.sender);
        emit FinancingSold(saleId, financingId, msg.sender, seller, s.price);
        _token(r.currency).safeTransferFrom(msg.sender, seller, s.price);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice What the supplier has paid of the recourse claim and the desk holds.
    function recoursePaid(uint256 financingId) external view returns (uint128) {
        return _existing(financingId).recoursePaid;
    }

    /// @notice Sale offer `saleId`.
    function sale(uint256 saleId) external view returns (Sale memory s) {
        s = _sales[saleId];
        if (s.status == SaleStatus.NONE) revert FinancingSaleUnknown(saleId);
    }

    /// @notice The open sale offer of a financing, or 0.
    function openSaleOf(uint256 financingId) external view returns (uint256) {
        return _openSale[financingId];
    }

    /// @notice The highest sale id assigned so far.
    function lastSaleId() external view returns (uint256) {
        return _lastSaleId;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev The claim is paid in full: the financing ends BOUGHT_BACK, state first; then
    /// the line, the registry, and last the escrow to the financier.
    function _buyBack(uint256 financingId, Request storage r, IERC20 token) private {
        _transition(financingId, r, _DEFAULTED, FinancingStatus.BOUGHT_BACK);
        uint128 claim = r.recourseClaim;
        (uint256 receivableId, address supplier, address financier) = (r.receivableId, r.supplier, r.financier);
        _lines.releaseDrawing(receivableId, ICreditLines.ReleaseCause.BOUGHT_BACK);
        _receivables.returnToSupplier(receivableId, supplier);
        emit FinancingBoughtBack(financingId, receivableId, supplier, financier, claim);
        _payOrDefer(token, financier, claim);
    }

    /// @dev A FUNDED financing whose financier is the caller, active.
    function _ownFunded(uint256 financingId) private view returns (Request storage r) {
        r = _existing(financingId);
        _requireStatus(financingId, r.status, _FUNDED);
        if (msg.sender != r.financier) revert FinancingNotFinancier(financingId, msg.sender, r.financier);
        _participants.requireActor(msg.sender, Roles.FINANCIER);
    }

    /// @dev The receivable may change hands: FINANCED (not overdue, defaulted or
    /// settled), not frozen, not yet due.
    function _requireSaleable(Request storage r) private view {
        IReceivableRegistry.Summary memory s = _receivables.summary(r.receivableId);
        if (s.status != IReceivableRegistry.Status.FINANCED || s.frozen) {
            revert FinancingReceivableNotSaleable(r.receivableId, s.status, s.frozen);
        }
        if (block.timestamp >= s.dueDate) revert FinancingReceivableDue(r.receivableId, s.dueDate);
    }

    function _openSaleOffer(uint256 saleId) private view returns (Sale storage s) {
        s = _sales[saleId];
        if (s.status == SaleStatus.NONE) revert FinancingSaleUnknown(saleId);
        if (s.status != SaleStatus.OPEN) revert FinancingSaleNotOpen(saleId, s.status);
    }
}
