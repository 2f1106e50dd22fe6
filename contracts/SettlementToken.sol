// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {ISettlementToken} from "./interfaces/ISettlementToken.sol";
import {Roles} from "./Roles.sol";

/// @title SettlementToken
/// @notice One ERC-20 per currency: a settlement bank's deposits in that currency,
/// tokenized. Only the issuing bank mints (against deposits) and burns (on
/// withdrawal); value moves only between active, unfrozen participants and the
/// ledger's own contracts, and only at the hands of one (a `transferFrom` spender
/// too). Otherwise a plain ERC-20.
contract SettlementToken is ERC20, ISettlementToken {
    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    IParticipantRegistry private immutable _registry;
    address private immutable _issuer;
    bytes3 private immutable _currency;
    uint8 private immutable _decimals;

    /// @param registry_ the consortium's participant registry
    /// @param currency_ ISO 4217 code, e.g. "CNY"
    /// @param decimals_ the currency's minor unit (2 for CNY, USD, EUR; 0 for JPY)
    /// @param issuer_ the settlement bank that mints and burns this token
    constructor(IParticipantRegistry registry_, bytes3 currency_, uint8 decimals_, address issuer_)
        ERC20(string.concat("Tokenized deposit ", string(abi.encodePacked(currency_))), string(abi.encodePacked(currency_)))
    {
        _registry = registry_;
        _currency = currency_;
        _decimals = decimals_;
        _issuer = issuer_;
    }

    /*//////////////////////////////////////////////////////////////
                                 LOGIC
    //////////////////////////////////////////////////////////////*/

    /// @notice Mints `amount` minor units to `to` against a deposit held by the bank.
    /// Requirements: caller is this token's issuer and an active SETTLEMENT_BANK; `to`
    /// is an active participant; amount > 0.
    /// Emits {Transfer} from the zero address and {SettlementTokenMinted}.
    function mint(address to, uint256 amount) external {
        _onlyIssuer();
        if (amount == 0) revert SettlementTokenInvalidAmount(amount);
        _mint(to, amount);
        emit SettlementTokenMinted(msg.sender, to, amount);
    }

    /// @notice Burns `amount` from the issuer's own balance when a deposit is withdrawn
    /// (the holder first transfers the tokens back to the bank).
    /// Requirements: caller is this token's issuer and an active SETTLEMENT_BANK.
    /// Emits {Transfer} to the zero address and {SettlementTokenBurned}.
    function burn(uint256 amount) external {
        _onlyIssuer();
        if (amount == 0) revert SettlementTokenInvalidAmount(amount);
        _burn(msg.sender, amount);
        emit SettlementTokenBurned(msg.sender, amount);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The ISO 4217 code of the currency this token settles.
    function currency() external view returns (bytes3) {
        return _currency;
    }

    /// @notice The settlement bank that alone mints and burns this token.
    function issuer() external view returns (address) {
        return _issuer;
    }

    /// @notice The participant registry whose standing gates every balance change.
    function registry() external view returns (IParticipantRegistry) {
        return _registry;
    }

    /// @notice The decimals of the currency's minor unit, fixed at deployment.
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Every balance change passes here: both ends must be in good standing.
    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0)) _requireGoodStanding(from);
        if (to != address(0)) _requireGoodStanding(to);
        super._update(from, to, value);
    }

    /// @dev A spender acts as much as the owner does: a suspended, KYC-expired, frozen
    /// or unknown account moves nothing, whatever allowance it was given. Checked
    /// before the allowance, so it is refused with its standing.
    function _spendAllowance(address owner, address spender, uint256 value) internal override {
        _requireGoodStanding(spender);
        super._spendAllowance(owner, spender, value);
    }

    function _requireGoodStanding(address account) private view {
        IParticipantRegistry.Standing s = _registry.standing(account);
        if (s != IParticipantRegistry.Standing.ACTIVE) revert SettlementTokenAccountRefused(account, s);
    }

    function _onlyIssuer() private view {
        if (msg.sender != _issuer) revert SettlementTokenNotIssuer(msg.sender, _issuer);
        _registry.requireActor(msg.sender, Roles.SETTLEMENT_BANK);
    }
}
