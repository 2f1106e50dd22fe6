// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Deferred payments: what a contract owed someone who could not receive it.
/// @notice A ledger contract that pays a third party as part of another party's action
/// (a refund to a financier while the supplier accepts, a redemption while a keeper
/// clears a batch) never lets that third party's standing block the action: when the
/// payee is not in good standing (suspended, KYC expired, frozen), the payment stays in
/// the contract, credited to the payee, who claims it once in good standing again.
interface IDeferredPayments {
    /// @notice `amount` of `token` owed to `payee` stays here; `claimable` is its total now.
    event PaymentDeferred(address indexed payee, address indexed token, uint256 amount, uint256 claimable);
    /// @notice `payee` took `amount` of `token` it was owed.
    event PaymentClaimed(address indexed payee, address indexed token, uint256 amount);

    error DeferredNothingToClaim(address payee, address token);

    /// @notice Pays the caller everything of `token` deferred to it.
    /// Requirements: something to claim; the caller in good standing (the token refuses
    /// otherwise). Emits {PaymentClaimed}.
    function claim(address token) external returns (uint256 amount);

    /// @notice What of `token` waits here for `payee`.
    function claimable(address payee, address token) external view returns (uint256);
}
