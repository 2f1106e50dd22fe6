// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {DeferredPayments} from "./DeferredPayments.sol";
import {IHashTimeLock} from "./interfaces/IHashTimeLock.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {ISettlementToken} from "./interfaces/ISettlementToken.sol";

/// @title HashTimeLock
/// @notice HTLC escrow of settlement tokens. The hashlock is sha256 (not keccak256) so
/// the same secret unlocks the counterpart leg on ledgers that only offer sha256.
/// @dev Claim and refund may be sent by anyone, and each is a deadline's business: a
/// recipient frozen after the other ledger revealed the preimage must not let the lock
/// time out and go back, and a frozen sender must not keep its lock open. Both pay
/// through {_payOrDefer}: what the party may not receive now waits for it to {claim}.
contract HashTimeLock is IHashTimeLock, ReentrancyGuard, DeferredPayments {
    using SafeERC20 for IERC20;

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    IParticipantRegistry private immutable _participants;
    mapping(uint256 lockId => Lock) private _locks;
    uint256 private _lastLockId;

    constructor(IParticipantRegistry participants) DeferredPayments(participants) {
        _participants = participants;
    }

    /*//////////////////////////////////////////////////////////////
                                 LOGIC
    //////////////////////////////////////////////////////////////*/

    /// @notice Locks `amount` of a listed settlement token for `recipient`.
    /// Requirements: sender and recipient in good standing (the token checks both);
    /// the token is the listed token of its currency; amount > 0; non-zero hashlock;
    /// timeout in the future; the caller approved this contract for the amount.
    /// Emits {HtlcLocked}.
    function lock(address token, address recipient, uint256 amount, bytes32 hashlock, uint64 timeout, bytes16 uetr)
        external
        nonReentrant
        returns (uint256 lockId)
    {
        if (!_isListedToken(token)) revert HtlcTokenNotListed(token);
        if (amount == 0) revert HtlcInvalidAmount(amount);
        if (hashlock == bytes32(0)) revert HtlcInvalidHashlock(hashlock);
        if (timeout <= block.timestamp) revert HtlcInvalidTimeout(timeout);
        IParticipantRegistry.Standing standing = _participants.standing(recipient);
        if (standing != IParticipantRegistry.Standing.ACTIVE) revert HtlcRecipientRefused(recipient, standing);
        lockId = ++_lastLockId;
        _locks[lockId] = Lock(msg.sender, recipient, token, amount, hashlock, timeout, LockState.LOCKED, uetr);
        emit HtlcLocked(lockId, msg.sender, recipient, token, amount, hashlock, timeout, uetr);
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Releases the locked tokens to the recipient against the preimage.
    /// Requirements: the lock is LOCKED; now < timeout; sha256(preimage) == hashlock.
    /// Emits {HtlcClaimed} carrying the preimage for the other ledger; {PaymentDeferred}
    /// when the recipient is not in good standing (the tokens wait for it to {claim}).
    function claim(uint256 lockId, bytes32 preimage) external nonReentrant {
        Lock storage l = _locked(lockId);
        if (block.timestamp >= l.timeout) revert HtlcExpired(lockId, l.timeout);
        if (sha256(abi.encodePacked(preimage)) != l.hashlock) revert HtlcWrongPreimage(lockId);
        l.state = LockState.CLAIMED;
        emit HtlcClaimed(lockId, l.recipient, preimage, msg.sender);
        _payOrDefer(IERC20(l.token), l.recipient, l.amount);
    }

    /// @notice Returns the locked tokens to the sender once the timeout has passed.
    /// Requirements: the lock is LOCKED; now >= timeout.
    /// Emits {HtlcRefunded}; {PaymentDeferred} when the sender is not in good standing
    /// (the tokens wait for it to {claim}).
    function refund(uint256 lockId) external nonReentrant {
        Lock storage l = _locked(lockId);
        if (block.timestamp < l.timeout) revert HtlcNotExpired(lockId, l.timeout);
        l.state = LockState.REFUNDED;
        emit HtlcRefunded(lockId, l.sender);
        _payOrDefer(IERC20(l.token), l.sender, l.amount);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Escrow `lockId`; refused when there is none.
    function lockOf(uint256 lockId) external view returns (Lock memory) {
        if (_locks[lockId].state == LockState.NONE) revert HtlcUnknown(lockId);
        return _locks[lockId];
    }

    /// @dev An address without code, or a contract without `currency()`, would otherwise
    /// make the lookup revert bare: it is refused by name like any unlisted token.
    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _isListedToken(address token) private view returns (bool) {
        if (token.code.length == 0) return false;
        try ISettlementToken(token).currency() returns (bytes3 currency) {
            return _participants.settlementToken(currency) == token;
        } catch {
            return false;
        }
    }

    function _locked(uint256 lockId) private view returns (Lock storage l) {
        l = _locks[lockId];
        if (l.state == LockState.NONE) revert HtlcUnknown(lockId);
        if (l.state != LockState.LOCKED) revert HtlcNotLocked(lockId, l.state);
    }
}
