// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Roles
/// @notice The consortium's role identifiers, shared by every ledger contract and by
/// the service (which computes the same keccak256 of the same names).
library Roles {
    bytes32 internal constant OPERATOR = keccak256("OPERATOR");
    bytes32 internal constant CORE_ENTERPRISE = keccak256("CORE_ENTERPRISE");
    bytes32 internal constant SUPPLIER = keccak256("SUPPLIER");
    bytes32 internal constant FINANCIER = keccak256("FINANCIER");
    bytes32 internal constant SETTLEMENT_BANK = keccak256("SETTLEMENT_BANK");
    bytes32 internal constant FX_PROVIDER = keccak256("FX_PROVIDER");
    bytes32 internal constant AUDITOR = keccak256("AUDITOR");
    bytes32 internal constant REGULATOR = keccak256("REGULATOR");
    /// @dev Held by the ledger's own contracts, never by a person.
    bytes32 internal constant LEDGER = keccak256("LEDGER");
}
