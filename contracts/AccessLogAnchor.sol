// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessLogAnchor} from "./interfaces/IAccessLogAnchor.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {Roles} from "./Roles.sol";

/// @title AccessLogAnchor
/// @notice Where the service's access-log hash chain is anchored (see IAccessLogAnchor).
/// @dev A contract of its own rather than an event on an existing one: adding a function
/// to a deployed contract changes its bytecode, and the deployment would be replaced
/// (with its state); a new contract is an appended step that extends it. Its events are
/// also the only ones at its address, so a verifier reads them with one filter and no
/// trust in the service's index. It keeps the last anchor so that `count` must grow:
/// a restarted service cannot anchor a shorter or different chain for a count it did.
contract AccessLogAnchor is IAccessLogAnchor {
    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    IParticipantRegistry private immutable _participants;
    uint64 private _lastCount;
    bytes32 private _lastHead;

    constructor(IParticipantRegistry participants) {
        _participants = participants;
    }

    /*//////////////////////////////////////////////////////////////
                                 LOGIC
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IAccessLogAnchor
    function anchor(uint64 count, bytes32 head) external {
        if (!_participants.hasRole(Roles.OPERATOR, msg.sender)) revert AnchorNotOperator(msg.sender);
        if (count <= _lastCount) revert AnchorCountNotGrowing(count, _lastCount);
        if (head == bytes32(0)) revert AnchorZeroHead();
        _lastCount = count;
        _lastHead = head;
        emit AccessLogAnchored(count, head, msg.sender);
    }

    /// @inheritdoc IAccessLogAnchor
    function lastAnchor() external view returns (uint64 count, bytes32 head) {
        return (_lastCount, _lastHead);
    }
}
