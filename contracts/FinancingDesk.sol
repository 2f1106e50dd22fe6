// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {FinancingDeskBase} from "./FinancingDeskBase.sol";
import {FinancingDeskLifecycle} from "./FinancingDeskLifecycle.sol";
import {ICreditLines} from "./interfaces/ICreditLines.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {IReceivableRegistry} from "./interfaces/IReceivableRegistry.sol";
import {IRiskControl} from "./interfaces/IRiskControl.sol";
import {Roles} from "./Roles.sol";

/// @title FinancingDesk
/// @notice Factoring of receivables with escrowed offers and atomic acceptance.
/// @dev A request locks the receivable in the registry (status FINANCING) so it can
/// be neither split, transferred nor financed elsewhere; acceptance pays the supplier
/// and hands the receivable to the financier in the same transaction. Every status
/// change of a request passes through {_transition}, every one of an offer through
/// {_transitionOffer} (in {FinancingDeskBase}), which check the current status; the
/// events recording them come from {_recordRequest} and {_recordOffer}. What follows a
/// funding (buy-back under recourse, sale to another financier) is in
/// {FinancingDeskLifecycle}.
contract FinancingDesk is FinancingDeskLifecycle {
    using SafeERC20 for IERC20;

    constructor(IParticipantRegistry participants, IReceivableRegistry receivables, ICreditLines lines)
        FinancingDeskBase(participants, receivables, lines)
    {}

    /*//////////////////////////////////////////////////////////////
                                 LOGIC
    //////////////////////////////////////////////////////////////*/

    /// @notice Asks for financing of an active receivable the caller holds, from
    /// `financier` or, when it is the zero address, from any financier.
    /// Requirements: caller is an active SUPPLIER holding the receivable; status
    /// ACTIVE; not frozen; not yet due; a named financier is an active FINANCIER; the
    /// debtor not restricted by the overdue trigger.
    /// Emits {FinancingRequested} (and the registry's ACTIVE -> FINANCING change).
    function request(uint256 receivableId, address financier) external returns (uint256 financingId) {
        _participants.requireActor(msg.sender, Roles.SUPPLIER);
        if (financier != address(0)) _participants.requireActor(financier, Roles.FINANCIER);
        IReceivableRegistry.Summary memory s = _receivables.lockForFinancing(receivableId, msg.sender);
        if (block.timestamp >= s.dueDate) revert FinancingReceivableDue(receivableId, s.dueDate);
        IRiskControl(_receivables.riskControl()).requireUnrestricted(s.debtor);
        financingId = ++_lastFinancingId;
        Request storage r = _requests[financingId];
        (r.receivableId, r.supplier, r.financier) = (uint48(receivableId), msg.sender, financier);
        (r.currency, r.dueDate) = (s.currency, s.dueDate);
        _activeFinancing[receivableId] = financingId;
        _transition(financingId, r, _NEW, FinancingStatus.REQUESTED);
        _recordRequest(financingId, r, OfferStatus.NONE);
    }

    /// @notice Offers terms on a request; the proceeds are escrowed from the caller now.
    /// Requirements: caller is an active FINANCIER (the named one, if any); request
    /// REQUESTED or OFFERED with fewer than MAX_OFFERS offers; valid terms; proceeds > 0;
    /// the caller approved this contract for the proceeds.
    /// Emits {FinancingOffered}.
    function offer(uint256 financingId, OfferTerms calldata terms) external nonReentrant returns (uint256 offerIndex) {
        Request storage r = _open(financingId);
        _participants.requireActor(msg.sender, Roles.FINANCIER);
        if (r.financier != address(0) && r.financier != msg.sender) {
            revert FinancingNotFinancier(financingId, msg.sender, r.financier);
        }
        if (r.offerCount >= MAX_OFFERS) revert FinancingTooManyOffers(financingId, MAX_OFFERS);
        _checkTerms(terms, r.receivableId, r.dueDate);
        (uint128 advance, uint128 disc, uint128 proceeds) = _price(terms, r.receivableId, r.dueDate);
        offerIndex = r.offerCount;
        Offer storage o = _offers[financingId][offerIndex];
        (o.financier, o.terms, o.advance, o.discount, o.proceeds) = (msg.sender, terms, advance, disc, proceeds);
        _transitionOffer(financingId, offerIndex, o, _OFFER_NEW, OfferStatus.OPEN);
        (r.offerCount, r.openOffers) = (r.offerCount + 1, r.openOffers + 1);
        _transition(financingId, r, _TAKING_OFFERS, FinancingStatus.OFFERED);
        _recordOffer(financingId, offerIndex, o);
        // Escrow last: state is final before the token is called.
        _token(r.currency).safeTransferFrom(msg.sender, address(this), proceeds);
    }

    /// @notice Accepts an offer: in this one transaction the supplier receives the
    /// proceeds, the financier becomes the receivable's holder, and every other open
    /// offer is closed with its escrow refunded.
    /// Requirements: caller is the requesting supplier, active; the offer is open and
    /// not expired; the receivable is still locked for this request and not frozen; the
    /// offer's financier has an open line to the debtor with room for the face amount
    /// (and for this supplier, on a programme), and the debtor is not restricted.
    /// Emits {FinancingAccepted}, {FinancingOfferClosed} per other open offer, the
    /// credit line's {CreditLineConsumed}, and the registry's transfer and status change;
    /// {PaymentDeferred} per other offer whose financier is not in good standing (its
    /// refund waits for it to {claim}).
    function accept(uint256 financingId, uint256 offerIndex) external nonReentrant {
        Request storage r = _open(financingId);
        _onlySupplier(financingId, r);
        Offer storage o = _openOffer(financingId, offerIndex);
        if (block.timestamp > o.terms.expiry) revert FinancingOfferExpired(financingId, offerIndex, o.terms.expiry);
        if (block.timestamp >= r.dueDate) revert FinancingReceivableDue(r.receivableId, r.dueDate);
        _transitionOffer(financingId, offerIndex, o, _OFFER_OPEN, OfferStatus.ACCEPTED);
        (r.acceptedOffer, r.financier, r.openOffers) = (uint8(offerIndex + 1), o.financier, 0);
        delete _activeFinancing[r.receivableId];
        _transition(financingId, r, _TAKING_OFFERS, FinancingStatus.FUNDED);
        // Every state change before the first external call (the registry's).
        _supersedeOpenOffers(financingId, r.offerCount);
        // The line is drawn in this same transaction: no funding without it.
        _lines.consume(r.receivableId, financingId, o.financier, r.supplier);
        _receivables.completeFinancing(r.receivableId, o.financier);
        _recordRequest(financingId, r, OfferStatus.NONE);
        IERC20 token = _token(r.currency);
        token.safeTransfer(r.supplier, o.proceeds);
        _refundSuperseded(financingId, r.offerCount, token);
    }

    /// @notice The supplier turns one offer down; its escrow goes back.
    /// Requirements: caller is the requesting supplier, active; the offer is open.
    /// Emits {FinancingOfferClosed} (REJECTED); {PaymentDeferred} when the offer's
    /// financier is not in good standing (its refund waits for it to {claim}).
    function rejectOffer(uint256 financingId, uint256 offerIndex) external nonReentrant {
        Request storage r = _open(financingId);
        _onlySupplier(financingId, r);
        _closeOffer(financingId, r, offerIndex, OfferStatus.REJECTED);
    }

    /// @notice The financier takes its own open offer back; its escrow goes back.
    /// Requirements: caller is the offer's financier, active; the offer is open.
    /// Emits {FinancingOfferClosed} (WITHDRAWN).
    function withdrawOffer(uint256 financingId, uint256 offerIndex) external nonReentrant {
        Request storage r = _open(financingId);
        Offer storage o = _openOffer(financingId, offerIndex);
        if (msg.sender != o.financier) revert FinancingNotFinancier(financingId, msg.sender, o.financier);
        _participants.requireActor(msg.sender, Roles.FINANCIER);
        _closeOffer(financingId, r, offerIndex, OfferStatus.WITHDRAWN);
    }

    /// @notice Closes an offer past its expiry and refunds its escrow.
    /// Requirements: caller is an active participant; the offer is open and expired.
    /// Emits {FinancingOfferClosed} (EXPIRED); {PaymentDeferred} when the offer's
    /// financier is not in good standing (its refund waits for it to {claim}).
    function expireOffer(uint256 financingId, uint256 offerIndex) external nonReentrant {
        Request storage r = _open(financingId);
        Offer storage o = _openOffer(financingId, offerIndex);
        if (block.timestamp <= o.terms.expiry) revert FinancingOfferNotExpired(financingId, offerIndex, o.terms.expiry);
        if (!_participants.isActive(msg.sender)) _participants.requireActor(msg.sender, Roles.SUPPLIER);
        _closeOffer(financingId, r, offerIndex, OfferStatus.EXPIRED);
    }

    /// @notice The supplier withdraws its request: open offers are refunded and the
    /// receivable is free again.
    /// Requirements: caller is the requesting supplier, active; request not funded.
    /// Emits {FinancingCancelled}, {FinancingOfferClosed} per open offer, and the
    /// registry's FINANCING -> ACTIVE change; {PaymentDeferred} per open offer whose
    /// financier is not in good standing (its refund waits for it to {claim}).
    function cancel(uint256 financingId) external nonReentrant {
        Request storage r = _open(financingId);
        _onlySupplier(financingId, r);
        r.openOffers = 0;
        _supersedeOpenOffers(financingId, r.offerCount);
        _closeRequest(financingId, r, OfferStatus.NONE);
        _refundSuperseded(financingId, r.offerCount, _token(r.currency));
    }

    /// @notice The funding financier declares default once the due date plus the
    /// offer's grace period has passed unpaid. With recourse, its claim against the
    /// supplier (the advance) is recorded on chain.
    /// Requirements: caller is the funding financier, active; financing FUNDED; the
    /// receivable FINANCED or OVERDUE; now > due date + grace period.
    /// Emits {FinancingDefaulted}, {RecourseClaimRecorded} with recourse, and the
    /// registry's -> DEFAULTED change.
    function declareDefault(uint256 financingId) external {
        Request storage r = _existing(financingId);
        _requireStatus(financingId, r.status, _FUNDED);
        if (msg.sender != r.financier) revert FinancingNotFinancier(financingId, msg.sender, r.financier);
        _participants.requireActor(msg.sender, Roles.FINANCIER);
        Offer storage o = _offers[financingId][r.acceptedOffer - 1];
        uint256 earliest = uint256(r.dueDate) + o.terms.gracePeriod + 1;
        if (block.timestamp < earliest) revert FinancingDefaultTooEarly(financingId, earliest);
        _transition(financingId, r, _FUNDED, FinancingStatus.DEFAULTED);
        _receivables.markDefaulted(r.receivableId);
        _recordRequest(financingId, r, OfferStatus.NONE);
        if (o.terms.recourse) {
            r.recourseClaim = o.advance;
            emit RecourseClaimRecorded(financingId, msg.sender, r.supplier, o.advance);
        }
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice A financing request; a funded or defaulted one whose receivable has
    /// settled reads as REPAID.
    function financing(uint256 financingId) external view returns (Financing memory f) {
        Request storage r = _existing(financingId);
        FinancingStatus status = r.status;
        if (
            (status == FinancingStatus.FUNDED || status == FinancingStatus.DEFAULTED)
                && _receivables.summary(r.receivableId).status == IReceivableRegistry.Status.SETTLED
        ) status = FinancingStatus.REPAID;
        f = Financing(r.receivableId, r.supplier, r.financier, status, r.offerCount, r.acceptedOffer, r.recourseClaim);
    }

    /// @notice Offer `offerIndex` of a financing request.
    function offerOf(uint256 financingId, uint256 offerIndex) external view returns (Offer memory) {
        _existing(financingId);
        if (offerIndex >= _requests[financingId].offerCount) revert FinancingUnknownOffer(financingId, offerIndex);
        return _offers[financingId][offerIndex];
    }

    /// @notice The open (unfunded) financing request on a receivable, or 0.
    function activeFinancingOf(uint256 receivableId) external view returns (uint256) {
        return _activeFinancing[receivableId];
    }

    /// @notice floor(face x advanceRate/10^4 x discountRate/10^4 x days / basis), as one
    /// exact division so the result equals the service's integer computation.
    function discount(uint256 face, uint256 advanceRateBps, uint256 discountRateBps, uint256 daysToMaturity, uint256 basis)
        public
        pure
        returns (uint256)
    {
        return (face * advanceRateBps * discountRateBps * daysToMaturity) / (_BPS * _BPS * basis);
    }

    /// @notice The highest financing id assigned so far.
    function lastFinancingId() external view returns (uint256) {
        return _lastFinancingId;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _checkTerms(OfferTerms calldata t, uint256 receivableId, uint64 dueDate) private view {
        if (t.advanceRateBps == 0 || t.advanceRateBps > _BPS) {
            revert FinancingInvalidTerms("advanceRateBps", t.advanceRateBps);
        }
        if (t.dayCountBasis != 365 && t.dayCountBasis != 360) revert FinancingInvalidTerms("dayCountBasis", t.dayCountBasis);
        if (t.expiry < block.timestamp) revert FinancingInvalidTerms("expiry", t.expiry);
        if (block.timestamp >= dueDate) revert FinancingReceivableDue(receivableId, dueDate);
    }

    /// @dev What an offer on `t` advances, discounts and pays out now (see {discount}).
    function _price(OfferTerms calldata t, uint256 receivableId, uint64 dueDate)
        private
        view
        returns (uint128 advance, uint128 disc, uint128 proceeds)
    {
        uint128 face = _receivables.summary(receivableId).amount;
        uint256 daysToMaturity = (dueDate - block.timestamp) / 1 days;
        advance = uint128(face * uint256(t.advanceRateBps) / _BPS);
        uint256 fullDiscount = discount(face, t.advanceRateBps, t.discountRateBps, daysToMaturity, t.dayCountBasis);
        // Compare before narrowing: a discount above 2^128 (huge face, far due date) must
        // not wrap to a small number. The error reports it saturated to uint128.
        if (fullDiscount + t.fee >= advance) {
            revert FinancingNoProceeds(advance, uint128(Math.min(fullDiscount, type(uint128).max)), t.fee);
        }
        disc = uint128(fullDiscount); // < advance <= type(uint128).max
        proceeds = advance - disc - t.fee;
    }

    /// @dev Closes every offer still open (at most MAX_OFFERS). State only, so that it runs
    /// before the token is called; {_refundSuperseded} then announces and refunds them.
    function _supersedeOpenOffers(uint256 financingId, uint256 offerCount) private {
        for (uint256 i = 0; i < offerCount; ++i) {
            Offer storage o = _offers[financingId][i];
            if (o.status != OfferStatus.OPEN) continue;
            _transitionOffer(financingId, i, o, _OFFER_OPEN, OfferStatus.SUPERSEDED);
        }
    }

    /// @dev Announces and refunds the offers {_supersedeOpenOffers} closed, each event
    /// next to its refund. Only the accept or cancel running now supersedes offers, and it
    /// ends the request for good, so every SUPERSEDED offer of this request is one of them.
    function _refundSuperseded(uint256 financingId, uint256 offerCount, IERC20 token) private {
        for (uint256 i = 0; i < offerCount; ++i) {
            Offer storage o = _offers[financingId][i];
            if (o.status != OfferStatus.SUPERSEDED) continue;
            _recordOffer(financingId, i, o);
            // A financier that may not receive now (suspended, KYC expired, frozen)
            // must not block the supplier's accept or cancel: its refund waits for it.
            _payOrDefer(token, o.financier, o.proceeds);
        }
    }

    function _closeOffer(uint256 financingId, Request storage r, uint256 offerIndex, OfferStatus outcome) private {
        Offer storage o = _openOffer(financingId, offerIndex);
        _transitionOffer(financingId, offerIndex, o, _OFFER_OPEN, outcome);
        r.openOffers -= 1;
        _recordOffer(financingId, offerIndex, o);
        // The last open offer gone: the request closes and the receivable is free again
        // (DESIGN: REQUESTED/OFFERED -> CLOSED on reject or expiry). Asking again is a new request.
        if (r.openOffers == 0) _closeRequest(financingId, r, outcome);
        // Rejected or expired while its financier may not receive: the refund waits as
        // claimable rather than refusing the supplier's (or anyone's) action.
        _payOrDefer(_token(r.currency), o.financier, o.proceeds);
    }

    /// @dev Ends an unfunded request (`cause` as in {_recordRequest}). The receivable is
    /// released only if it is still locked for it: a leaf redeemed at maturity meanwhile
    /// is SETTLED and stays so.
    function _closeRequest(uint256 financingId, Request storage r, OfferStatus cause) private {
        _transition(financingId, r, _TAKING_OFFERS, FinancingStatus.CLOSED);
        delete _activeFinancing[r.receivableId];
        if (_receivables.summary(r.receivableId).status == IReceivableRegistry.Status.FINANCING) {
            _receivables.releaseFromFinancing(r.receivableId);
        }
        _recordRequest(financingId, r, cause);
    }
}
