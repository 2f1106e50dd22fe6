// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IFxSettlement} from "./IFxSettlement.sol";
import {IReceivableRegistry} from "./IReceivableRegistry.sol";

/// @title Maturity clearing (清分) of receivables.
/// @notice At or after the due date the debtor pays a root's outstanding amount in one
/// transaction; each unsettled leaf of that root is then redeemed, one by one or in
/// bounded batches, paying its current holder its leaf amount. No leaf is paid twice.
interface IMaturityClearing {
    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event RootRepaid(uint256 indexed rootId, address indexed debtor, bytes3 currency, uint256 amount);
    event LeafRedeemed(uint256 indexed leafId, uint256 indexed rootId, address indexed holder, uint128 amount);

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

    function repaidAmount(uint256 rootId) external view returns (uint256);
    function unredeemedAmount(uint256 rootId) external view returns (uint256);
    function MAX_REDEEM_BATCH() external view returns (uint256);
}
