// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {IReceivableRegistry} from "./interfaces/IReceivableRegistry.sol";
import {IRiskControl} from "./interfaces/IRiskControl.sol";
import {Roles} from "./Roles.sol";

/// @title RiskControl
/// @notice Issuance caps per core enterprise and currency, and the overdue trigger: a
/// core with a root unpaid more than `overdueTriggerDays` past its due date, once a
/// keeper has flagged it, can register nothing and have nothing of its newly financed
/// until every flagged root is paid into clearing.
/// @dev The registry reports to it ({recordIssued}, {recordVoided}, {recordRootRepaid})
/// from the transactions that change what a core owes, so payables are counted from the
/// first registration (the registry refuses to register before it is bound here). A
/// flag is accepted from any active participant only when it is true now: a keeper
/// needs no privilege, and a wrong flag cannot be made.
contract RiskControl is IRiskControl {
    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    uint16 public constant MAX_TRIGGER_DAYS = 3650;

    /// @dev Root statuses that still owe: confirmed and neither settled nor ended.
    uint256 private constant _OPEN_ROOT = (1 << uint8(IReceivableRegistry.Status.ACTIVE))
        | (1 << uint8(IReceivableRegistry.Status.SPLIT)) | (1 << uint8(IReceivableRegistry.Status.FINANCING))
        | (1 << uint8(IReceivableRegistry.Status.FINANCED)) | (1 << uint8(IReceivableRegistry.Status.OVERDUE))
        | (1 << uint8(IReceivableRegistry.Status.DEFAULTED));

    IParticipantRegistry private immutable _participants;
    IReceivableRegistry private immutable _receivables;

    mapping(address core => mapping(bytes3 currency => Payables)) private _payables;
    mapping(address core => address manager) private _capManagers;
    mapping(address core => uint256 count) private _overdueRoots;
    mapping(uint256 rootId => bool) private _flagged;
    uint16 private _triggerDays;

    constructor(IParticipantRegistry participants, IReceivableRegistry receivables, uint16 triggerDays) {
        if (triggerDays > MAX_TRIGGER_DAYS) revert RiskInvalidTriggerDays(triggerDays);
        _participants = participants;
        _receivables = receivables;
        _triggerDays = triggerDays;
        emit OverdueTriggerSet(triggerDays, msg.sender);
    }

    modifier onlyRegistry() {
        if (msg.sender != address(_receivables)) revert RiskNotRegistry(msg.sender);
        _;
    }

    modifier onlyOperator() {
        if (!_participants.hasRole(Roles.OPERATOR, msg.sender)) revert RiskNotOperator(msg.sender);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                             ISSUANCE CAPS
    //////////////////////////////////////////////////////////////*/

    /// @notice Caps what `core` may owe in `currency` (registered, not yet repaid or
    /// voided). A cap below what it owes already stops new registrations until enough
    /// is repaid; 0 stops them all.
    /// Requirements: caller is the operator or `core`'s cap manager (an active
    /// FINANCIER); `core` an onboarded CORE_ENTERPRISE; currency listed.
    /// Emits {IssuanceCapSet}.
    function setIssuanceCap(address core, bytes3 currency, uint128 cap) external {
        _requireCapSetter(core);
        if (_participants.settlementToken(currency) == address(0)) revert RiskCurrencyNotListed(currency);
        Payables storage p = _payables[core][currency];
        (p.cap, p.capped) = (cap, true);
        emit IssuanceCapSet(core, currency, cap, msg.sender);
    }

    /// @notice Lifts `core`'s cap in `currency`.
    /// Requirements: as {setIssuanceCap}; a cap is set.
    /// Emits {IssuanceCapRemoved}.
    function removeIssuanceCap(address core, bytes3 currency) external {
        _requireCapSetter(core);
        Payables storage p = _payables[core][currency];
        if (!p.capped) revert RiskCapNotSet(core, currency);
        (p.cap, p.capped) = (0, false);
        emit IssuanceCapRemoved(core, currency, msg.sender);
    }

    /// @notice Names the bank (an active FINANCIER) that may set `core`'s caps besides
    /// the operator; the zero address names none.
    /// Requirements: caller is the operator; `core` an onboarded CORE_ENTERPRISE.
    /// Emits {IssuanceCapManagerSet}.
    function setCapManager(address core, address manager) external onlyOperator {
        if (!_participants.hasRole(Roles.CORE_ENTERPRISE, core)) {
            revert IParticipantRegistry.RegistryMissingRole(core, Roles.CORE_ENTERPRISE);
        }
        if (manager != address(0)) _participants.requireActor(manager, Roles.FINANCIER);
        _capManagers[core] = manager;
        emit IssuanceCapManagerSet(core, manager, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                             OVERDUE TRIGGER
    //////////////////////////////////////////////////////////////*/

    /// @notice Sets how many days past its due date an unpaid root restricts its debtor.
    /// Roots flagged before stay flagged until paid.
    /// Requirements: caller is the operator; at most MAX_TRIGGER_DAYS.
    /// Emits {OverdueTriggerSet}.
    function setOverdueTrigger(uint16 triggerDays) external onlyOperator {
        if (triggerDays > MAX_TRIGGER_DAYS) revert RiskInvalidTriggerDays(triggerDays);
        _triggerDays = triggerDays;
        emit OverdueTriggerSet(triggerDays, msg.sender);
    }

    /// @notice Flags root `rootId` as overdue past the trigger, restricting its debtor.
    /// Requirements: caller is an active participant or the operator (whose service runs
    /// the keeper); `rootId` is a root that is confirmed, not paid into clearing and not
    /// flagged; now > due date + trigger days.
    /// Emits {RootOverdueFlagged}.
    function flagOverdue(uint256 rootId) external {
        if (!_participants.isActive(msg.sender) && !_participants.hasRole(Roles.OPERATOR, msg.sender)) {
            _participants.requireActor(msg.sender, Roles.SUPPLIER);
        }
        IReceivableRegistry.Summary memory s = _receivables.summary(rootId);
        if (s.rootId != rootId) revert RiskNotRoot(rootId, s.rootId);
        if ((1 << uint8(s.status)) & _OPEN_ROOT == 0 || _receivables.rootRepaid(rootId)) {
            revert RiskRootNotOpen(rootId);
        }
        uint256 flaggableFrom = uint256(s.dueDate) + uint256(_triggerDays) * 1 days + 1;
        if (block.timestamp < flaggableFrom) revert RiskRootNotPastTrigger(rootId, flaggableFrom, block.timestamp);
        if (_flagged[rootId]) revert RiskRootAlreadyFlagged(rootId);
        _flagged[rootId] = true;
        uint256 count = _overdueRoots[s.debtor] + 1;
        _overdueRoots[s.debtor] = count;
        emit RootOverdueFlagged(rootId, s.debtor, s.dueDate, count, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                          REGISTRY ENTRY POINTS
    //////////////////////////////////////////////////////////////*/

    /// @notice `core` registers `amount` more of `currency` (one registration, or a run
    /// of a batch in one currency).
    /// Requirements: caller is the registry; `core` not restricted; within its cap.
    function recordIssued(address core, bytes3 currency, uint256 amount) external onlyRegistry {
        _requireUnrestricted(core);
        Payables storage p = _payables[core][currency];
        uint256 outstanding = p.outstanding;
        if (p.capped && outstanding + amount > p.cap) {
            revert RiskIssuanceCapExceeded(core, currency, p.cap, outstanding, amount);
        }
        p.outstanding = outstanding + amount;
    }

    /// @notice A pending root of `core` was rejected or cancelled: it is owed no more.
    /// Requirements: caller is the registry.
    function recordVoided(address core, bytes3 currency, uint256 amount) external onlyRegistry {
        _payables[core][currency].outstanding -= amount;
    }

    /// @notice `core` paid root `rootId` into clearing: it is owed no more, and a flag
    /// on it is lifted.
    /// Requirements: caller is the registry.
    /// Emits {RootOverdueCured} when the root was flagged.
    function recordRootRepaid(uint256 rootId, address core, bytes3 currency, uint256 amount) external onlyRegistry {
        _payables[core][currency].outstanding -= amount;
        _cure(rootId, core);
    }

    /// @notice `core` paid a leaf of root `rootId` of face `amount` ahead of the root (an
    /// early or partial payment): it is owed no more. A flag on the root is lifted only
    /// when that leaf was the root's last (`rootSettled`), not by paying one of several.
    /// Requirements: caller is the registry.
    /// Emits {RootOverdueCured} when the root settled and was flagged.
    function recordLeafPaid(uint256 rootId, address core, bytes3 currency, uint256 amount, bool rootSettled)
        external
        onlyRegistry
    {
        _payables[core][currency].outstanding -= amount;
        if (rootSettled) _cure(rootId, core);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice What `core` owes in `currency`, and its cap.
    function payables(address core, bytes3 currency) external view returns (Payables memory) {
        return _payables[core][currency];
    }

    /// @notice The bank that may set `core`'s caps besides the operator, or 0.
    function capManager(address core) external view returns (address) {
        return _capManagers[core];
    }

    /// @notice Days past its due date after which an unpaid root may be flagged.
    function overdueTriggerDays() external view returns (uint16) {
        return _triggerDays;
    }

    /// @notice How many of `core`'s roots are flagged and unpaid.
    function overdueRoots(address core) external view returns (uint256) {
        return _overdueRoots[core];
    }

    /// @notice True while root `rootId` is flagged and unpaid.
    function isFlagged(uint256 rootId) external view returns (bool) {
        return _flagged[rootId];
    }

    /// @notice True while `core` has a flagged, unpaid root.
    function isRestricted(address core) external view returns (bool) {
        return _overdueRoots[core] != 0;
    }

    /// @notice Reverts with {RiskObligorRestricted} while `core` has a flagged root.
    function requireUnrestricted(address core) external view {
        _requireUnrestricted(core);
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _cure(uint256 rootId, address core) private {
        if (!_flagged[rootId]) return;
        delete _flagged[rootId];
        uint256 count = _overdueRoots[core] - 1;
        _overdueRoots[core] = count;
        emit RootOverdueCured(rootId, core, count);
    }

    function _requireUnrestricted(address core) private view {
        uint256 count = _overdueRoots[core];
        if (count != 0) revert RiskObligorRestricted(core, count);
    }

    function _requireCapSetter(address core) private view {
        if (!_participants.hasRole(Roles.CORE_ENTERPRISE, core)) {
            revert IParticipantRegistry.RegistryMissingRole(core, Roles.CORE_ENTERPRISE);
        }
        if (_participants.hasRole(Roles.OPERATOR, msg.sender)) return;
        address manager = _capManagers[core];
        if (msg.sender != manager || manager == address(0)) revert RiskNotCapSetter(core, msg.sender, manager);
        _participants.requireActor(msg.sender, Roles.FINANCIER);
    }
}
