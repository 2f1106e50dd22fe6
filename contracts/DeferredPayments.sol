// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IDeferredPayments} from "./interfaces/IDeferredPayments.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";

/// @title DeferredPayments
/// @notice Pays a third party now if it may receive the token, else keeps the payment
/// for it to claim ({IDeferredPayments}).
/// @dev The payee's standing is read from the participant registry before the token is
/// called, not learnt by catching the token's refusal: a caught failure would let a
/// gas estimate (or a caller short of gas) turn a payment into a deferral.
abstract contract DeferredPayments is IDeferredPayments {
    using SafeERC20 for IERC20;

    IParticipantRegistry private immutable _standings;

    mapping(address payee => mapping(address token => uint256 amount)) private _claimable;

    constructor(IParticipantRegistry participants) {
        _standings = participants;
    }

    /// @inheritdoc IDeferredPayments
    /// @dev Effects before the transfer, so a re-entering token finds nothing left.
    function claim(address token) external returns (uint256 amount) {
        amount = _claimable[msg.sender][token];
        if (amount == 0) revert DeferredNothingToClaim(msg.sender, token);
        delete _claimable[msg.sender][token];
        emit PaymentClaimed(msg.sender, token, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IDeferredPayments
    function claimable(address payee, address token) external view returns (uint256) {
        return _claimable[payee][token];
    }

    /// @dev Pays `amount` of `token` to `payee`, or defers it when `payee` is not in good
    /// standing (the one rule the settlement token applies to a receiver).
    /// Returns true when paid now.
    function _payOrDefer(IERC20 token, address payee, uint256 amount) internal returns (bool paid) {
        // Slither (accepted): `amount` is what the caller owes, not a balance read from
        // a token, so no one can steer it past this equality; nothing owed, nothing paid.
        // slither-disable-next-line incorrect-equality
        if (amount == 0) return true;
        if (_standings.standing(payee) == IParticipantRegistry.Standing.ACTIVE) {
            token.safeTransfer(payee, amount);
            return true;
        }
        uint256 total = _claimable[payee][address(token)] + amount;
        _claimable[payee][address(token)] = total;
        emit PaymentDeferred(payee, address(token), amount, total);
        return false;
    }
}
