// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IParticipantRegistry} from "./IParticipantRegistry.sol";

/// @title A tokenized deposit in one currency, issued by that currency's settlement bank.
interface ISettlementToken is IERC20 {
    event SettlementTokenMinted(address indexed issuer, address indexed to, uint256 amount);
    event SettlementTokenBurned(address indexed issuer, uint256 amount);

    error SettlementTokenNotIssuer(address account, address issuer);
    error SettlementTokenAccountRefused(address account, IParticipantRegistry.Standing standing);
    error SettlementTokenInvalidAmount(uint256 amount);

    function currency() external view returns (bytes3);
    function issuer() external view returns (address);
    function registry() external view returns (IParticipantRegistry);
    function mint(address to, uint256 amount) external;
    function burn(uint256 amount) external;
}
