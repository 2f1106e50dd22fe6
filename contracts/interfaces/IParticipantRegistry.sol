// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @title The consortium's participant directory: who may act, in which role, and
/// which settlement token carries each currency.
/// @notice Every other ledger contract asks this registry before it changes state.
interface IParticipantRegistry is IAccessControl {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Why an account may or may not move value right now.
    enum Standing {
        ACTIVE,
        NOT_ONBOARDED,
        SUSPENDED,
        KYC_EXPIRED,
        FROZEN
    }

    struct Participant {
        bytes32 lei; // ISO 17442 LEI, or the hash of a national registration number
        bytes2 jurisdiction; // ISO 3166-1 alpha-2
        uint64 kycExpiry; // unix seconds; KYC is valid while block.timestamp <= kycExpiry
        bool onboarded;
        bool suspended;
        bool frozen; // set by the regulator: no value moves from or to the account
    }

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event ParticipantOnboarded(
        address indexed account, bytes32 indexed lei, bytes2 jurisdiction, uint64 kycExpiry, address indexed operator
    );
    event ParticipantSuspended(address indexed account, address indexed operator);
    event ParticipantReinstated(address indexed account, address indexed operator);
    event ParticipantKycUpdated(address indexed account, uint64 kycExpiry, address indexed operator);
    event AccountFrozen(address indexed account, address indexed regulator);
    event AccountUnfrozen(address indexed account, address indexed regulator);
    event LedgerContractRegistered(address indexed ledgerContract, address indexed operator);
    event SettlementTokenListed(bytes3 indexed currency, address indexed token, address indexed operator);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error RegistryInvalidAccount(address account);
    error RegistryParticipantExists(address account);
    error RegistryUnknownParticipant(address account);
    error RegistryParticipantSuspended(address account);
    error RegistryParticipantNotSuspended(address account);
    error RegistryKycExpired(address account, uint64 kycExpiry);
    error RegistryInvalidKycExpiry(uint64 kycExpiry);
    error RegistryMissingRole(address account, bytes32 role);
    error RegistryAccountFrozen(address account);
    error RegistryAccountNotFrozen(address account);
    error RegistryInvalidLei(bytes32 lei);
    error RegistryDuplicateLei(bytes32 lei, address holder);
    error RegistryInvalidJurisdiction(bytes2 jurisdiction);
    error RegistryInvalidCurrency(bytes3 currency);
    error RegistryCurrencyAlreadyListed(bytes3 currency, address token);
    error RegistryTokenCurrencyMismatch(address token, bytes3 expected, bytes3 actual);

    /*//////////////////////////////////////////////////////////////
                                 LOGIC
    //////////////////////////////////////////////////////////////*/

    function onboard(address account, bytes32 lei, bytes2 jurisdiction, uint64 kycExpiry, bytes32[] calldata roles)
        external;
    function suspend(address account) external;
    function reinstate(address account) external;
    function updateKyc(address account, uint64 kycExpiry) external;
    function freezeAccount(address account) external;
    function unfreezeAccount(address account) external;
    function registerLedgerContract(address ledgerContract) external;
    function listSettlementToken(bytes3 currency, address token) external;

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    function participant(address account) external view returns (Participant memory);
    function leiOf(address account) external view returns (bytes32);
    function participantByLei(bytes32 lei) external view returns (address);
    function standing(address account) external view returns (Standing);
    function isActive(address account) external view returns (bool);
    function canAct(address account, bytes32 role) external view returns (bool);
    function requireActor(address account, bytes32 role) external view;
    function requireActorAny(address account, bytes32 roleA, bytes32 roleB) external view;
    function isLedgerContract(address account) external view returns (bool);
    function settlementToken(bytes3 currency) external view returns (address);
}
