// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IReceivableRegistry} from "./IReceivableRegistry.sol";

/// @title Invoice financing (factoring) of receivables.
/// @notice The holder of an active receivable asks for financing; financiers offer
/// terms with the proceeds escrowed; the holder accepts one offer and, in the same
/// transaction, receives `advance - discount - fee` while the financier becomes the
/// receivable's holder.
interface IFinancingDesk {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    enum FinancingStatus {
        NONE,
        REQUESTED, // awaiting offers (none open)
        OFFERED, // at least one open offer
        FUNDED, // an offer was accepted
        DEFAULTED, // declared in default by the financier
        CLOSED, // cancelled by the holder before funding
        REPAID, // (reported by views only) funded, and the receivable settled
        BOUGHT_BACK // defaulted with recourse; the supplier paid the claim and holds it again
    }

    enum OfferStatus {
        NONE,
        OPEN,
        ACCEPTED,
        REJECTED,
        WITHDRAWN,
        EXPIRED,
        SUPERSEDED // another offer was accepted, or the request was cancelled
    }

    struct OfferTerms {
        uint16 advanceRateBps; // share of face value advanced, 1..10000
        uint16 discountRateBps; // annual discount rate
        uint16 dayCountBasis; // 365 (ACT/365, default) or 360 (ACT/360)
        bool recourse; // on default, the financier has a claim against the supplier
        uint32 gracePeriod; // seconds after the due date before default may be declared
        uint64 expiry; // the offer can be accepted until this time (inclusive)
        uint128 fee; // minor units
    }

    enum SaleStatus {
        NONE,
        OPEN, // offered to the named buyer
        SOLD,
        CANCELLED // by the seller
    }

    /// @notice A financier's offer to sell a funded financing (and its receivable) to
    /// another financier for `price`.
    struct Sale {
        address seller; // with financingId, status and expiry: one slot
        uint48 financingId;
        SaleStatus status;
        uint40 expiry; // may be bought until this time (inclusive)
        address buyer;
        uint128 price;
    }

    struct Offer {
        address financier;
        OfferStatus status;
        OfferTerms terms;
        uint128 advance;
        uint128 discount;
        uint128 proceeds; // advance - discount - fee: what the supplier receives
    }

    struct Financing {
        uint256 receivableId;
        address supplier; // the holder who asked
        address financier; // the financier asked, or 0 for any; after funding, the funder
        FinancingStatus status;
        uint256 offerCount;
        uint256 acceptedOffer; // index + 1 of the accepted offer, 0 while none
        uint128 recourseClaim; // recorded on default with recourse
    }

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event FinancingRequested(
        uint256 indexed financingId, uint256 indexed receivableId, address indexed supplier, address financier
    );
    event FinancingOffered(
        uint256 indexed financingId,
        uint256 indexed offerIndex,
        address indexed financier,
        OfferTerms terms,
        uint128 advance,
        uint128 discount,
        uint128 proceeds
    );
    /// @notice An offer left the OPEN state; `refunded` escrow went back to its financier.
    event FinancingOfferClosed(
        uint256 indexed financingId, uint256 indexed offerIndex, OfferStatus status, uint128 refunded, address actor
    );
    event FinancingAccepted(
        uint256 indexed financingId,
        uint256 indexed receivableId,
        address indexed financier,
        uint256 offerIndex,
        address supplier,
        uint128 proceeds
    );
    event FinancingCancelled(uint256 indexed financingId, uint256 indexed receivableId, address indexed supplier);
    /// @notice A request closed because its last open offer was rejected, withdrawn or
    /// expired (`cause`); the receivable is free again.
    event FinancingClosed(
        uint256 indexed financingId, uint256 indexed receivableId, OfferStatus cause, address indexed actor
    );
    event FinancingDefaulted(
        uint256 indexed financingId, uint256 indexed receivableId, address indexed financier, bool recourse
    );
    event RecourseClaimRecorded(
        uint256 indexed financingId, address indexed financier, address indexed supplier, uint128 amountDue
    );
    /// @notice The supplier paid `amount` towards the recourse claim; `paid` of `claim` is
    /// paid so far, held by the desk until the claim is paid in full.
    event RecoursePaid(uint256 indexed financingId, address indexed supplier, uint128 amount, uint128 paid, uint128 claim);
    /// @notice The claim is paid in full: the financier received `claim` (or may claim
    /// it), and the receivable is the supplier's again.
    event FinancingBoughtBack(
        uint256 indexed financingId, uint256 indexed receivableId, address indexed supplier, address financier, uint128 claim
    );
    /// @notice The root was paid into clearing before the claim was paid in full (the
    /// financier is paid by clearing): the supplier took its `amount` back.
    event RecourseWithdrawn(uint256 indexed financingId, address indexed supplier, uint128 amount);
    event FinancingSaleOffered(
        uint256 indexed saleId,
        uint256 indexed financingId,
        address indexed seller,
        address buyer,
        uint128 price,
        uint64 expiry
    );
    event FinancingSaleCancelled(uint256 indexed saleId, uint256 indexed financingId, address indexed seller);
    /// @notice `buyer` paid `price` to `seller` and is the financing's financier and the
    /// receivable's holder from now on.
    event FinancingSold(
        uint256 indexed saleId, uint256 indexed financingId, address indexed buyer, address seller, uint128 price
    );

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error FinancingUnknown(uint256 financingId);
    error FinancingUnknownOffer(uint256 financingId, uint256 offerIndex);
    error FinancingInvalidStatus(uint256 financingId, FinancingStatus current, uint256 allowedStatusMask);
    error FinancingOfferNotOpen(uint256 financingId, uint256 offerIndex, OfferStatus current);
    error FinancingNotSupplier(uint256 financingId, address account, address supplier);
    error FinancingNotFinancier(uint256 financingId, address account, address financier);
    error FinancingTooManyOffers(uint256 financingId, uint256 maxOffers);
    error FinancingInvalidTerms(string field, uint256 value);
    error FinancingOfferExpired(uint256 financingId, uint256 offerIndex, uint64 expiry);
    error FinancingOfferNotExpired(uint256 financingId, uint256 offerIndex, uint64 expiry);
    error FinancingReceivableDue(uint256 receivableId, uint64 dueDate);
    error FinancingNoProceeds(uint128 advance, uint128 discount, uint128 fee);
    error FinancingDefaultTooEarly(uint256 financingId, uint256 earliest);
    error FinancingCurrencyNotListed(bytes3 currency);
    error FinancingNoRecourse(uint256 financingId);
    /// @notice A recourse payment of `amount` when `outstanding` remains of the claim.
    error FinancingRecourseAmount(uint256 financingId, uint256 amount, uint256 outstanding);
    /// @notice The root was paid into clearing: the financier is paid there.
    error FinancingRootRepaid(uint256 financingId, uint256 rootId);
    /// @notice Nothing to take back: the root is not paid into clearing, or nothing was paid.
    error FinancingNothingToWithdraw(uint256 financingId, uint256 paid, bool rootRepaid);
    error FinancingSaleUnknown(uint256 saleId);
    error FinancingSaleNotOpen(uint256 saleId, SaleStatus current);
    error FinancingSaleExpired(uint256 saleId, uint64 expiry);
    error FinancingSaleInvalid(string field, uint256 value);
    error FinancingSaleAlreadyOpen(uint256 financingId, uint256 saleId);
    error FinancingNotBuyer(uint256 saleId, address account, address buyer);
    /// @notice The receivable is not FINANCED, or frozen: it cannot change hands.
    error FinancingReceivableNotSaleable(uint256 receivableId, IReceivableRegistry.Status status, bool frozen);

    /*//////////////////////////////////////////////////////////////
                                 LOGIC
    //////////////////////////////////////////////////////////////*/

    function request(uint256 receivableId, address financier) external returns (uint256 financingId);
    function offer(uint256 financingId, OfferTerms calldata terms) external returns (uint256 offerIndex);
    function accept(uint256 financingId, uint256 offerIndex) external;
    function rejectOffer(uint256 financingId, uint256 offerIndex) external;
    function withdrawOffer(uint256 financingId, uint256 offerIndex) external;
    function expireOffer(uint256 financingId, uint256 offerIndex) external;
    function cancel(uint256 financingId) external;
    function declareDefault(uint256 financingId) external;
    function payRecourse(uint256 financingId, uint128 amount) external;
    function withdrawRecourse(uint256 financingId) external;
    function offerSale(uint256 financingId, address buyer, uint128 price, uint64 expiry) external returns (uint256 saleId);
    function cancelSale(uint256 saleId) external;
    function buySale(uint256 saleId) external;

    function financing(uint256 financingId) external view returns (Financing memory);
    function offerOf(uint256 financingId, uint256 offerIndex) external view returns (Offer memory);
    function activeFinancingOf(uint256 receivableId) external view returns (uint256);
    function discount(uint256 face, uint256 advanceRateBps, uint256 discountRateBps, uint256 daysToMaturity, uint256 basis)
        external
        pure
        returns (uint256);
    function lastFinancingId() external view returns (uint256);
    function recoursePaid(uint256 financingId) external view returns (uint128);
    function sale(uint256 saleId) external view returns (Sale memory);
    function openSaleOf(uint256 financingId) external view returns (uint256);
    function lastSaleId() external view returns (uint256);
}
