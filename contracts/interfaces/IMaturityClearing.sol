// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IFxSettlement} from "./IFxSettlement.sol";
import {IReceivableRegistry} from "./IReceivableRegistry.sol";

/// @title Maturity clearing (清分) of receivables, and a leaf's payment ahead of its root.
/// @notice At or after the due date the debtor pays a root's outstanding amount, plus its
/// late interest, in one transaction; each unsettled leaf of that root is then redeemed,
/// one by one or in bounded batches, paying its current holder its leaf amount and its
/// share of the interest. Before that the debtor may pay chosen leaves (partial
/// repayment) or offer to pay a leaf before its due date at a discount its holder
/// accepts (early payment, dynamic discounting). No leaf is paid twice.
///
/// Day counts and rounding (ledger_app.domain.clearing_amounts is the Python twin):
///   early discount = floor(face x annualRateBps x daysEarly / (10^4 x basis)),
///       daysEarly = whole days from now to the due date, basis 365 or 360;
///   late interest  = floor(amount x lateInterestBps x daysLate / (10^4 x 365)),
///       daysLate = whole days from the due date to now (0 before the end of the first);
///   a root's interest is split among its leaves as they are redeemed:
///       share = floor(interestLeft x face / faceLeft), the last leaf gets interestLeft,
///   so the shares sum exactly to the interest charged: no unit is created or lost.
interface IMaturityClearing {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    enum EarlyPaymentStatus {
        NONE,
        OPEN, // the debtor's offer stands for whoever holds the leaf when it is accepted
        WITHDRAWN, // by the debtor
        ACCEPTED // by the leaf's holder: the leaf was paid and settled
    }

    /// @notice A debtor's offer to pay leaf `leafId` before its due date at a discount.
    struct EarlyPaymentOffer {
        uint256 leafId;
        address debtor;
        uint16 annualRateBps; // 0 .. 10_000
        uint16 dayCountBasis; // 365 or 360
        uint64 expiry; // acceptable until then (inclusive), and before the due date
        EarlyPaymentStatus status;
    }

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice The debtor paid `amount` (what was outstanding of the root) into clearing;
    /// a late payment also emits {RootLateInterestCharged} for what it paid on top.
    event RootRepaid(uint256 indexed rootId, address indexed debtor, bytes3 currency, uint256 amount);
    /// @notice Root `rootId` was paid `daysLate` whole days late: `interest` on its
    /// `outstanding` amount at `lateInterestBps` a year (ACT/365), paid into clearing.
    event RootLateInterestCharged(
        uint256 indexed rootId, address indexed debtor, uint256 outstanding, uint32 lateInterestBps, uint256 daysLate, uint256 interest
    );
    /// @notice Leaf `leafId` was paid its face `amount` and `interest`, its share of its
    /// root's late interest (paid now, or deferred for the holder to claim).
    event LeafRedeemed(
        uint256 indexed leafId, uint256 indexed rootId, address indexed holder, uint128 amount, uint256 interest
    );
    /// @notice The debtor paid leaf `leafId` ahead of its root (partial repayment): its
    /// holder received `amount` and `interest` (the leaf's own late interest, 0 when
    /// paid by its due date).
    event LeafRepaid(
        uint256 indexed leafId, uint256 indexed rootId, address indexed holder, address debtor, uint128 amount, uint256 interest
    );
    event EarlyPaymentOffered(
        uint256 indexed offerId,
        uint256 indexed leafId,
        address indexed debtor,
        uint16 annualRateBps,
        uint16 dayCountBasis,
        uint64 expiry
    );
    event EarlyPaymentWithdrawn(uint256 indexed offerId, uint256 indexed leafId, address indexed debtor);
    /// @notice The holder accepted: it received `paid` = `face` - `discount` from `debtor`
    /// for leaf `leafId`, `daysEarly` whole days before its due date; the leaf is settled.
    event EarlyPaymentAccepted(
        uint256 indexed offerId,
        uint256 indexed leafId,
        address indexed holder,
        address debtor,
        uint128 face,
        uint256 daysEarly,
        uint256 discount,
        uint256 paid
    );

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error ClearingNotRoot(uint256 id, uint256 rootId);
    error ClearingNotDebtor(uint256 rootId, address account, address debtor);
    error ClearingNotDue(uint256 rootId, uint64 dueDate, uint256 nowTimestamp);
    error ClearingAlreadyRepaid(uint256 rootId);
    error ClearingNotRepaid(uint256 rootId);
    error ClearingNotPayable(uint256 rootId, IReceivableRegistry.Status status, uint256 allowedStatusMask);
    error ClearingBatchSize(uint256 size, uint256 maxSize);
    error ClearingCurrencyNotListed(bytes3 currency);
    error ClearingUntrustedFx(address fx);
    error ClearingFxCurrencyMismatch(uint256 rootId, bytes3 expected, bytes3 quoted);
    error ClearingFxShortfall(uint256 rootId, uint256 received, uint256 amount);
    /// @notice An early payment term is out of range; `field` names it.
    error ClearingInvalidEarlyPaymentTerms(string field, uint256 value);
    error ClearingEarlyPaymentUnknown(uint256 offerId);
    error ClearingEarlyPaymentNotOpen(uint256 offerId, EarlyPaymentStatus status);
    error ClearingEarlyPaymentExpired(uint256 offerId, uint64 expiry, uint256 nowTimestamp);
    error ClearingEarlyPaymentNotOfferor(uint256 offerId, address account, address debtor);
    error ClearingEarlyPaymentNoProceeds(uint256 offerId, uint256 face, uint256 discount);
    error ClearingNotHolder(uint256 leafId, address account, address holder);
    error ClearingPastDue(uint256 leafId, uint64 dueDate, uint256 nowTimestamp);

    /*//////////////////////////////////////////////////////////////
                                 LOGIC
    //////////////////////////////////////////////////////////////*/

    function repay(uint256 rootId) external returns (uint256 amount);
    function repayViaFx(
        uint256 rootId,
        IFxSettlement fx,
        bytes16 uetr,
        IFxSettlement.Quote calldata quote,
        bytes calldata signature
    ) external returns (uint256 sellAmount);
    function redeem(uint256 leafId) external;
    function redeemBatch(uint256[] calldata leafIds) external;
    function repayLeaves(uint256[] calldata leafIds) external returns (uint256 paid);
    function offerEarlyPayment(uint256 leafId, uint16 annualRateBps, uint16 dayCountBasis, uint64 expiry)
        external
        returns (uint256 offerId);
    function withdrawEarlyPayment(uint256 offerId) external;
    function acceptEarlyPayment(uint256 offerId) external returns (uint256 paid);

    function repaidAmount(uint256 rootId) external view returns (uint256);
    function unredeemedAmount(uint256 rootId) external view returns (uint256);
    function lateInterestCharged(uint256 rootId) external view returns (uint256);
    function lateInterestUnredeemed(uint256 rootId) external view returns (uint256);
    function amountDue(uint256 rootId) external view returns (uint256 outstanding, uint256 interest);
    function earlyPaymentOffer(uint256 offerId) external view returns (EarlyPaymentOffer memory);
    function earlyPaymentQuote(uint256 offerId) external view returns (uint256 daysEarly, uint256 discount, uint256 paid);
    function earlyDiscount(uint256 face, uint256 annualRateBps, uint256 daysEarly, uint256 basis)
        external
        pure
        returns (uint256);
    function lateInterest(uint256 amount, uint256 lateInterestBps, uint256 daysLate) external pure returns (uint256);
    function lastEarlyPaymentOfferId() external view returns (uint256);
    function MAX_REDEEM_BATCH() external view returns (uint256);
}
