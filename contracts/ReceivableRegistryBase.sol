// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {IReceivableRegistry} from "./interfaces/IReceivableRegistry.sol";
import {IRiskControl} from "./interfaces/IRiskControl.sol";

/// @title ReceivableRegistryBase
/// @notice The storage of {ReceivableRegistry} and the one function every status change
/// of a receivable passes through.
/// @dev Its state variables are the registry's, in the order they had when it was one
/// contract: the registry's storage layout is unchanged.
abstract contract ReceivableRegistryBase is IReceivableRegistry {
    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev Two slots per receivable; what children inherit lives once, in `_roots`.
    struct Node {
        address holder;
        uint48 parentId;
        Status status;
        bool frozen;
        uint128 amount;
        uint48 rootId;
        uint48 firstChildId;
        uint16 childCount;
    }

    struct RootTerms {
        address debtor;
        bytes3 currency;
        uint64 dueDate;
        address creditor;
        uint64 issueDate;
        uint32 lateInterestBps; // shares the slot of creditor and issueDate
        bytes32 invoiceKey;
        bytes32 documentHash;
    }

    uint256 internal constant _SPLITTABLE = 1 << uint8(Status.ACTIVE);

    IParticipantRegistry internal immutable _participants;

    mapping(uint256 id => Node) internal _nodes;
    mapping(uint256 rootId => RootTerms) internal _roots;
    mapping(uint256 rootId => uint256 amount) internal _settledAmount;
    mapping(uint256 rootId => bool) internal _rootRepaid;
    mapping(bytes32 invoiceKey => uint256 id) internal _invoiceKeys;
    uint48 internal _lastId;
    /// @dev Bound once, before the first registration ({bindRiskControl}); shares
    /// `_lastId`'s slot, which every registration reads anyway.
    IRiskControl internal _risk;

    constructor(IParticipantRegistry participants) {
        _participants = participants;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev The one place a status changes: checks the current status is allowed and
    /// emits the change with its actor.
    function _transition(uint256 id, Node storage n, uint256 allowedMask, Status next, address actor) internal {
        Status current = n.status;
        if ((1 << uint8(current)) & allowedMask == 0) revert ReceivableInvalidStatus(id, current, allowedMask);
        n.status = next;
        emit ReceivableStatusChanged(id, current, next, actor);
    }

    /// @dev The risk control every change of what a debtor owes is reported to.
    function _riskControl() internal view returns (IRiskControl risk) {
        risk = _risk;
        if (address(risk) == address(0)) revert ReceivableRiskControlUnbound();
    }

    /// @dev Every node has a holder (an onboarded creditor, holder or financier), so a
    /// zero holder means no node: existence costs the slot that holder, status and
    /// frozen share, which most actions read anyway.
    function _existing(uint256 id) internal view returns (Node storage n) {
        n = _nodes[id];
        if (n.holder == address(0)) revert ReceivableUnknown(id);
    }

    function _summary(Node storage n) internal view returns (Summary memory) {
        RootTerms storage t = _roots[n.rootId];
        return Summary({
            holder: n.holder,
            status: n.status,
            frozen: n.frozen,
            amount: n.amount,
            rootId: n.rootId,
            debtor: t.debtor,
            currency: t.currency,
            dueDate: t.dueDate
        });
    }
}
