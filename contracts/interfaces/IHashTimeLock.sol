// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IParticipantRegistry} from "./IParticipantRegistry.sol";

/// @title Hash-time-locked escrow for a settlement leg that completes on another ledger.
/// @notice The sender locks tokens for a recipient under sha256 hashlock H until a
/// timeout. Before the timeout, anyone presenting a preimage p with sha256(p) == H
/// releases them to the recipient (revealing p for the other ledger); from the
/// timeout on, the sender may take them back. Never both.
interface IHashTimeLock {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    enum LockState {
        NONE,
        LOCKED,
        CLAIMED,
        REFUNDED
    }

    struct Lock {
        address sender;
        address recipient;
        address token;
        uint256 amount;
        bytes32 hashlock;
        uint64 timeout;
        LockState state;
        bytes16 uetr;
    }

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event HtlcLocked(
        uint256 indexed lockId,
        address indexed sender,
        address indexed recipient,
        address token,
        uint256 amount,
        bytes32 hashlock,
        uint64 timeout,
        bytes16 uetr
    );
    event HtlcClaimed(uint256 indexed lockId, address indexed recipient, bytes32 preimage, address actor);
    event HtlcRefunded(uint256 indexed lockId, address indexed sender);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error HtlcUnknown(uint256 lockId);
    error HtlcNotLocked(uint256 lockId, LockState state);
    error HtlcWrongPreimage(uint256 lockId);
    error HtlcExpired(uint256 lockId, uint64 timeout);
    error HtlcNotExpired(uint256 lockId, uint64 timeout);
    error HtlcInvalidTimeout(uint64 timeout);
    error HtlcInvalidAmount(uint256 amount);
    error HtlcInvalidHashlock(bytes32 hashlock);
    error HtlcTokenNotListed(address token);
    error HtlcRecipientRefused(address recipient, IParticipantRegistry.Standing standing);

    /*//////////////////////////////////////////////////////////////
                                 LOGIC
    //////////////////////////////////////////////////////////////*/

    function lock(address token, address recipient, uint256 amount, bytes32 hashlock, uint64 timeout, bytes16 uetr)
        external
        returns (uint256 lockId);
    function claim(uint256 lockId, bytes32 preimage) external;
    function refund(uint256 lockId) external;
    function lockOf(uint256 lockId) external view returns (Lock memory);
}
