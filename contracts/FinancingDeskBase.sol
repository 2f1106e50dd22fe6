// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {DeferredPayments} from "./DeferredPayments.sol";
import {ICreditLines} from "./interfaces/ICreditLines.sol";
import {IFinancingDesk} from "./interfaces/IFinancingDesk.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {IReceivableRegistry} from "./interfaces/IReceivableRegistry.sol";
import {Roles} from "./Roles.sol";

/// @title FinancingDeskBase
/// @notice The storage of {FinancingDesk}, the two functions every status change of a
/// request and of an offer passes through, and the two that emit the events recording them.
/// @dev ReentrancyGuard comes first so that its slot stays slot 0, where it was when
/// the desk was one contract. {DeferredPayments} comes next: its one mapping (refunds
/// waiting for financiers not in good standing) takes slot 1, so the desk's own storage
/// starts one slot later than before issue 20. The desk is not upgradeable (each
/// deployment is new), so no stored state depends on the old positions.
abstract contract FinancingDeskBase is IFinancingDesk, ReentrancyGuard, DeferredPayments {
    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    uint256 public constant MAX_OFFERS = 8;
    uint256 internal constant _BPS = 10_000;

    /// @dev Allowed-status masks (bit i set: status i allowed) of the two state machines.
    uint256 internal constant _NEW = 1 << uint8(FinancingStatus.NONE);
    uint256 internal constant _TAKING_OFFERS =
        (1 << uint8(FinancingStatus.REQUESTED)) | (1 << uint8(FinancingStatus.OFFERED));
    uint256 internal constant _FUNDED = 1 << uint8(FinancingStatus.FUNDED);
    uint256 internal constant _OFFER_NEW = 1 << uint8(OfferStatus.NONE);
    uint256 internal constant _OFFER_OPEN = 1 << uint8(OfferStatus.OPEN);

    struct Request {
        uint48 receivableId;
        FinancingStatus status;
        uint8 offerCount;
        uint8 openOffers;
        uint8 acceptedOffer; // index + 1
        address supplier;
        address financier;
        bytes3 currency;
        uint64 dueDate;
        uint128 recourseClaim;
        uint128 recoursePaid; // held by the desk until the claim is paid in full
    }

    IParticipantRegistry internal immutable _participants;
    IReceivableRegistry internal immutable _receivables;
    ICreditLines internal immutable _lines;

    mapping(uint256 financingId => Request) internal _requests;
    mapping(uint256 financingId => mapping(uint256 offerIndex => Offer)) internal _offers;
    mapping(uint256 receivableId => uint256 financingId) internal _activeFinancing;
    uint256 internal _lastFinancingId;
    mapping(uint256 saleId => Sale) internal _sales;
    mapping(uint256 financingId => uint256 saleId) internal _openSale;
    uint256 internal _lastSaleId;

    constructor(IParticipantRegistry participants, IReceivableRegistry receivables, ICreditLines lines)
        DeferredPayments(participants)
    {
        _participants = participants;
        _receivables = receivables;
        _lines = lines;
    }

    /*//////////////////////////////////////////////////////////////
                               TRANSITIONS
    //////////////////////////////////////////////////////////////*/

    /// @dev The one place a request's status changes: checks the current status is one of
    /// `allowedMask` and writes `next`. {_recordRequest} emits the event recording it:
    /// right after, or, where the registry is called, after the registry's own events.
    /// The write stays before that call (checks, effects, interactions), and the log
    /// keeps the order the indexer and the audit trace were built on.
    function _transition(uint256 financingId, Request storage r, uint256 allowedMask, FinancingStatus next)
        internal
    {
        _requireStatus(financingId, r.status, allowedMask);
        r.status = next;
    }

    /// @dev The event recording a request's current status. OFFERED has none of its own:
    /// the offer's {FinancingOffered} records it. A CLOSED request was cancelled by its
    /// supplier when `cause` is NONE, else closed by its last open offer's `cause`.
    function _recordRequest(uint256 financingId, Request storage r, OfferStatus cause) internal {
        FinancingStatus status = r.status;
        uint256 receivableId = r.receivableId;
        if (status == FinancingStatus.REQUESTED) {
            emit FinancingRequested(financingId, receivableId, r.supplier, r.financier);
        } else if (status == FinancingStatus.FUNDED) {
            uint256 index = r.acceptedOffer - 1;
            uint128 proceeds = _offers[financingId][index].proceeds;
            emit FinancingAccepted(financingId, receivableId, r.financier, index, r.supplier, proceeds);
        } else if (status == FinancingStatus.DEFAULTED) {
            bool recourse = _offers[financingId][r.acceptedOffer - 1].terms.recourse;
            emit FinancingDefaulted(financingId, receivableId, r.financier, recourse);
        } else if (status == FinancingStatus.CLOSED && cause == OfferStatus.NONE) {
            emit FinancingCancelled(financingId, receivableId, r.supplier);
        } else if (status == FinancingStatus.CLOSED) {
            emit FinancingClosed(financingId, receivableId, cause, msg.sender);
        }
    }

    /// @dev The one place an offer's status changes: checks the current status is one of
    /// `allowedMask` and writes `next`; {_recordOffer} emits the event recording it (a
    /// superseded offer's with its refund, after the supplier is paid).
    function _transitionOffer(
        uint256 financingId,
        uint256 offerIndex,
        Offer storage o,
        uint256 allowedMask,
        OfferStatus next
    ) internal {
        OfferStatus current = o.status;
        if ((1 << uint8(current)) & allowedMask == 0) revert FinancingOfferNotOpen(financingId, offerIndex, current);
        o.status = next;
    }

    /// @dev The event recording an offer's current status. ACCEPTED has none of its own:
    /// the request's {FinancingAccepted} records it. A closed offer's escrow goes back.
    function _recordOffer(uint256 financingId, uint256 offerIndex, Offer storage o) internal {
        OfferStatus status = o.status;
        if (status == OfferStatus.OPEN) {
            emit FinancingOffered(financingId, offerIndex, o.financier, o.terms, o.advance, o.discount, o.proceeds);
        } else if (status != OfferStatus.ACCEPTED) {
            emit FinancingOfferClosed(financingId, offerIndex, status, o.proceeds, msg.sender);
        }
    }

    function _requireStatus(uint256 financingId, FinancingStatus current, uint256 allowedMask) internal pure {
        if ((1 << uint8(current)) & allowedMask == 0) revert FinancingInvalidStatus(financingId, current, allowedMask);
    }

    /*//////////////////////////////////////////////////////////////
                                 LOOKUPS
    //////////////////////////////////////////////////////////////*/

    function _onlySupplier(uint256 financingId, Request storage r) internal view {
        if (msg.sender != r.supplier) revert FinancingNotSupplier(financingId, msg.sender, r.supplier);
        _participants.requireActor(msg.sender, Roles.SUPPLIER);
    }

    function _existing(uint256 financingId) internal view returns (Request storage r) {
        r = _requests[financingId];
        if (r.status == FinancingStatus.NONE) revert FinancingUnknown(financingId);
    }

    /// @dev A request still taking offers: REQUESTED or OFFERED.
    function _open(uint256 financingId) internal view returns (Request storage r) {
        r = _existing(financingId);
        _requireStatus(financingId, r.status, _TAKING_OFFERS);
    }

    function _openOffer(uint256 financingId, uint256 offerIndex) internal view returns (Offer storage o) {
        if (offerIndex >= _requests[financingId].offerCount) revert FinancingUnknownOffer(financingId, offerIndex);
        o = _offers[financingId][offerIndex];
        if (o.status != OfferStatus.OPEN) revert FinancingOfferNotOpen(financingId, offerIndex, o.status);
    }

    function _token(bytes3 currency) internal view returns (IERC20) {
        address token = _participants.settlementToken(currency);
        if (token == address(0)) revert FinancingCurrencyNotListed(currency);
        return IERC20(token);
    }
}
