// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {ISettlementToken} from "./interfaces/ISettlementToken.sol";
import {Roles} from "./Roles.sol";

/// @title ParticipantRegistry
/// @notice The permissioned part of the ledger. The OPERATOR onboards legal entities
/// with roles, a LEI, a jurisdiction and a KYC expiry, suspends and reinstates them;
/// the REGULATOR freezes accounts. Every ledger contract asks `requireActor` before
/// it lets an account change state, so a suspended, KYC-expired or frozen account
/// changes nothing anywhere.
/// @dev Roles are OpenZeppelin AccessControl roles; the OPERATOR role administers
/// every business role. Ledger contracts (financing, clearing, settlement) hold
/// LEDGER_ROLE: they may hold settlement tokens and call the receivable registry's
/// narrow entry points.
contract ParticipantRegistry is AccessControl, IParticipantRegistry {
    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev A participant's record plus one bit per role it holds, mirrored from
    /// AccessControl by {_grantRole} and {_revokeRole}: the standing and the role an
    /// action needs are then read from one storage slot (slot 1 of the record).
    struct Record {
        bytes32 lei;
        bytes2 jurisdiction;
        uint64 kycExpiry;
        bool onboarded;
        bool suspended;
        bool frozen;
        uint16 roles;
    }

    uint16 private constant _LEDGER_BIT = 1 << 8;

    mapping(address account => Record) private _participants;
    /// @dev One legal entity, one account: an LEI stays with the account it was onboarded
    /// with for ever (there is no offboarding; a suspended participant keeps its LEI).
    mapping(bytes32 lei => address account) private _leiHolders;
    mapping(bytes3 currency => address token) private _settlementTokens;

    constructor(address operator) {
        if (operator == address(0)) revert RegistryInvalidAccount(operator);
        _grantRole(DEFAULT_ADMIN_ROLE, operator);
        _grantRole(Roles.OPERATOR, operator);
        bytes32[8] memory business = [
            Roles.CORE_ENTERPRISE,
            Roles.SUPPLIER,
            Roles.FINANCIER,
            Roles.SETTLEMENT_BANK,
            Roles.FX_PROVIDER,
            Roles.AUDITOR,
            Roles.REGULATOR,
            Roles.LEDGER
        ];
        for (uint256 i = 0; i < business.length; ++i) {
            _setRoleAdmin(business[i], Roles.OPERATOR);
        }
    }

    /*//////////////////////////////////////////////////////////////
                            OPERATOR ACTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Onboards a legal entity's account with its roles.
    /// Requirements: caller has OPERATOR; the account is new; the LEI is non-zero and
    /// held by no other participant; the jurisdiction is two upper-case letters; the KYC
    /// expiry lies in the future.
    /// Emits {ParticipantOnboarded} and one {RoleGranted} per role.
    function onboard(address account, bytes32 lei, bytes2 jurisdiction, uint64 kycExpiry, bytes32[] calldata roles)
        external
        onlyRole(Roles.OPERATOR)
    {
        if (account == address(0)) revert RegistryInvalidAccount(account);
        if (_participants[account].onboarded) revert RegistryParticipantExists(account);
        if (lei == bytes32(0)) revert RegistryInvalidLei(lei);
        address holder = _leiHolders[lei];
        if (holder != address(0)) revert RegistryDuplicateLei(lei, holder);
        if (!_isUpperAlpha(jurisdiction[0]) || !_isUpperAlpha(jurisdiction[1])) {
            revert RegistryInvalidJurisdiction(jurisdiction);
        }
        if (kycExpiry <= block.timestamp) revert RegistryInvalidKycExpiry(kycExpiry);
        Record storage r = _participants[account];
        // Field by field: the role bits of roles granted before onboarding stay.
        (r.lei, r.jurisdiction, r.kycExpiry, r.onboarded) = (lei, jurisdiction, kycExpiry, true);
        _leiHolders[lei] = account;
        emit ParticipantOnboarded(account, lei, jurisdiction, kycExpiry, msg.sender);
        for (uint256 i = 0; i < roles.length; ++i) {
            // grantRole (not _grantRole) so that the role admin is checked for each role.
            grantRole(roles[i], account);
        }
    }

    /// @notice Suspends a participant: it can change no ledger state until reinstated.
    /// Requirements: caller has OPERATOR; the participant is onboarded and not suspended.
    /// Emits {ParticipantSuspended}.
    function suspend(address account) external onlyRole(Roles.OPERATOR) {
        Record storage p = _onboarded(account);
        if (p.suspended) revert RegistryParticipantSuspended(account);
        p.suspended = true;
        emit ParticipantSuspended(account, msg.sender);
    }

    /// @notice Lifts a suspension.
    /// Requirements: caller has OPERATOR; the participant is suspended.
    /// Emits {ParticipantReinstated}.
    function reinstate(address account) external onlyRole(Roles.OPERATOR) {
        Record storage p = _onboarded(account);
        if (!p.suspended) revert RegistryParticipantNotSuspended(account);
        p.suspended = false;
        emit ParticipantReinstated(account, msg.sender);
    }

    /// @notice Records a renewed (or shortened) KYC validity.
    /// Requirements: caller has OPERATOR; the participant is onboarded; expiry in the future.
    /// Emits {ParticipantKycUpdated}.
    function updateKyc(address account, uint64 kycExpiry) external onlyRole(Roles.OPERATOR) {
        Record storage p = _onboarded(account);
        if (kycExpiry <= block.timestamp) revert RegistryInvalidKycExpiry(kycExpiry);
        p.kycExpiry = kycExpiry;
        emit ParticipantKycUpdated(account, kycExpiry, msg.sender);
    }

    /// @notice Marks a ledger contract (financing desk, clearing, settlement) as part of
    /// the ledger: it may hold settlement tokens and drive receivable transitions.
    /// Requirements: caller has OPERATOR; the address holds code.
    /// Emits {LedgerContractRegistered} and {RoleGranted}.
    function registerLedgerContract(address ledgerContract) external onlyRole(Roles.OPERATOR) {
        if (ledgerContract.code.length == 0) revert RegistryInvalidAccount(ledgerContract);
        _grantRole(Roles.LEDGER, ledgerContract);
        emit LedgerContractRegistered(ledgerContract, msg.sender);
    }

    /// @notice Names the settlement token that carries `currency` on this ledger. Once
    /// listed, a currency's token never changes: receivables in it rely on it.
    /// Requirements: caller has OPERATOR; the code is three upper-case letters; the token
    /// reports the same currency; the currency is not listed yet.
    /// Emits {SettlementTokenListed}.
    function listSettlementToken(bytes3 currency, address token) external onlyRole(Roles.OPERATOR) {
        if (!isCurrencyCode(currency)) revert RegistryInvalidCurrency(currency);
        address listed = _settlementTokens[currency];
        if (listed != address(0)) revert RegistryCurrencyAlreadyListed(currency, listed);
        bytes3 actual = ISettlementToken(token).currency();
        if (actual != currency) revert RegistryTokenCurrencyMismatch(token, currency, actual);
        _settlementTokens[currency] = token;
        emit SettlementTokenListed(currency, token, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                           REGULATOR ACTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Freezes an account: no settlement token moves from or to it and it can
    /// change no receivable.
    /// Requirements: caller is an active REGULATOR; the account is onboarded, not frozen.
    /// Emits {AccountFrozen}.
    function freezeAccount(address account) external {
        requireActor(msg.sender, Roles.REGULATOR);
        Record storage p = _onboarded(account);
        if (p.frozen) revert RegistryAccountFrozen(account);
        p.frozen = true;
        emit AccountFrozen(account, msg.sender);
    }

    /// @notice Lifts a freeze.
    /// Requirements: caller is an active REGULATOR; the account is frozen.
    /// Emits {AccountUnfrozen}.
    function unfreezeAccount(address account) external {
        requireActor(msg.sender, Roles.REGULATOR);
        Record storage p = _onboarded(account);
        if (!p.frozen) revert RegistryAccountNotFrozen(account);
        p.frozen = false;
        emit AccountUnfrozen(account, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The participant record of `account` (all zero when never onboarded).
    function participant(address account) external view returns (Participant memory) {
        Record storage r = _participants[account];
        return Participant({
            lei: r.lei,
            jurisdiction: r.jurisdiction,
            kycExpiry: r.kycExpiry,
            onboarded: r.onboarded,
            suspended: r.suspended,
            frozen: r.frozen
        });
    }

    /// @notice The LEI `account` was onboarded with (zero when never onboarded).
    function leiOf(address account) external view returns (bytes32) {
        return _participants[account].lei;
    }

    /// @notice The participant onboarded with `lei`, or the zero address.
    function participantByLei(bytes32 lei) external view returns (address) {
        return _leiHolders[lei];
    }

    /// @notice Whether `account` may move value now, and if not, why. Ledger contracts
    /// are always ACTIVE.
    function standing(address account) public view returns (Standing) {
        return _standing(_participants[account]);
    }

    /// @notice True when `account` is onboarded, not suspended, KYC-valid and not frozen.
    function isActive(address account) public view returns (bool) {
        return standing(account) == Standing.ACTIVE;
    }

    /// @notice True when `account` is active and holds `role`.
    function canAct(address account, bytes32 role) external view returns (bool) {
        Record storage r = _participants[account];
        return _holds(r, account, role) && _standing(r) == Standing.ACTIVE;
    }

    /// @notice Reverts, naming the reason, unless `account` is active and holds `role`.
    function requireActor(address account, bytes32 role) public view {
        _requireActor(account, _participants[account], role);
    }

    /// @notice Like {requireActor}, for an account that may act in either of two roles.
    function requireActorAny(address account, bytes32 roleA, bytes32 roleB) external view {
        Record storage r = _participants[account];
        _requireActor(account, r, _holds(r, account, roleA) ? roleA : roleB);
    }

    /// @notice True for the ledger's own contracts.
    function isLedgerContract(address account) external view returns (bool) {
        return _participants[account].roles & _LEDGER_BIT != 0;
    }

    /// @notice The settlement token listed for `currency`, or the zero address.
    function settlementToken(bytes3 currency) external view returns (address) {
        return _settlementTokens[currency];
    }

    /// @notice True for three upper-case ASCII letters (the shape of an ISO 4217 code).
    function isCurrencyCode(bytes3 code) public pure returns (bool) {
        return _isUpperAlpha(code[0]) && _isUpperAlpha(code[1]) && _isUpperAlpha(code[2]);
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev LEDGER powers are for the ledger's contracts only: an operator cannot hand
    /// them to a person's account.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        if (role == Roles.LEDGER && account.code.length == 0) revert RegistryInvalidAccount(account);
        granted = super._grantRole(role, account);
        uint16 bit = _roleBit(role);
        if (granted && bit != 0) _participants[account].roles |= bit;
    }

    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        uint16 bit = _roleBit(role);
        if (revoked && bit != 0) _participants[account].roles &= ~bit;
    }

    /// @dev The bit a role has in {Record.roles}; 0 for a role without one (checked
    /// with AccessControl's own storage instead).
    function _roleBit(bytes32 role) private pure returns (uint16) {
        if (role == Roles.SUPPLIER) return 1 << 0;
        if (role == Roles.CORE_ENTERPRISE) return 1 << 1;
        if (role == Roles.FINANCIER) return 1 << 2;
        if (role == Roles.SETTLEMENT_BANK) return 1 << 3;
        if (role == Roles.FX_PROVIDER) return 1 << 4;
        if (role == Roles.REGULATOR) return 1 << 5;
        if (role == Roles.AUDITOR) return 1 << 6;
        if (role == Roles.OPERATOR) return 1 << 7;
        if (role == Roles.LEDGER) return _LEDGER_BIT;
        return 0;
    }

    /// @dev hasRole, from the record's role bits where the role has one.
    function _holds(Record storage r, address account, bytes32 role) private view returns (bool) {
        uint16 bit = _roleBit(role);
        return bit != 0 ? r.roles & bit != 0 : hasRole(role, account);
    }

    /// @dev Ledger contracts are always ACTIVE; everyone else by their record.
    function _standing(Record storage r) private view returns (Standing) {
        if (r.roles & _LEDGER_BIT != 0) return Standing.ACTIVE;
        if (!r.onboarded) return Standing.NOT_ONBOARDED;
        if (r.suspended) return Standing.SUSPENDED;
        if (r.kycExpiry < block.timestamp) return Standing.KYC_EXPIRED;
        if (r.frozen) return Standing.FROZEN;
        return Standing.ACTIVE;
    }

    function _requireActor(address account, Record storage r, bytes32 role) private view {
        Standing s = _standing(r);
        if (s == Standing.NOT_ONBOARDED) revert RegistryUnknownParticipant(account);
        if (s == Standing.SUSPENDED) revert RegistryParticipantSuspended(account);
        if (s == Standing.KYC_EXPIRED) revert RegistryKycExpired(account, r.kycExpiry);
        if (s == Standing.FROZEN) revert RegistryAccountFrozen(account);
        if (!_holds(r, account, role)) revert RegistryMissingRole(account, role);
    }

    function _onboarded(address account) private view returns (Record storage p) {
        p = _participants[account];
        if (!p.onboarded) revert RegistryUnknownParticipant(account);
    }

    function _isUpperAlpha(bytes1 c) private pure returns (bool) {
        return c >= 0x41 && c <= 0x5A;
    }
}
