// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {ReceivableLedgerEntryPoints} from "./ReceivableLedgerEntryPoints.sol";
import {ReceivableRegistryBase} from "./ReceivableRegistryBase.sol";
import {IRiskControl} from "./interfaces/IRiskControl.sol";
import {Roles} from "./Roles.sol";

/// @title ReceivableRegistry
/// @notice The receivables ledger: registration by the debtor, confirmation by the
/// creditor, split and transfer by the holder, freezing by the regulator, and narrow
/// entry points through which the ledger's financing and clearing contracts lock a
/// receivable, change its holder and settle it ({ReceivableLedgerEntryPoints}).
/// @dev Every status change passes through {_transition} ({ReceivableRegistryBase}),
/// which checks the current status against the allowed ones and emits
/// {ReceivableStatusChanged}. Children of a split get consecutive ids, so a node stores
/// only its first child and count.
contract ReceivableRegistry is ReceivableLedgerEntryPoints {
    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev A registration costs about 170k gas (seven fresh storage slots, and the
    /// creditor's LEI read for its invoice key), so a full batch must stay inside a
    /// 30M-gas block: 150 rows take about 26M.
    uint256 public constant MAX_BATCH = 150;
    uint256 public constant MAX_SPLIT = 100;
    /// @notice The highest annual late-interest rate a registration may set: 100%.
    uint256 public constant MAX_LATE_INTEREST_BPS = 10_000;

    uint256 private constant _OVERDUE_FROM = (1 << uint8(Status.ACTIVE)) | (1 << uint8(Status.FINANCED));
    /// @dev Every status but NONE and SPLIT: a split parent changes no more, and
    /// freezing it would stop nothing (its children carry the value).
    uint256 private constant _FREEZABLE =
        ((1 << (uint8(type(Status).max) + 1)) - 1) & ~((1 << uint8(Status.NONE)) | (1 << uint8(Status.SPLIT)));

    constructor(IParticipantRegistry participants) ReceivableRegistryBase(participants) {}

    /*//////////////////////////////////////////////////////////////
                                 SET-UP
    //////////////////////////////////////////////////////////////*/

    /// @notice Binds the risk control (issuance caps, overdue trigger) that every
    /// registration, void and repayment is reported to. Once, before the first
    /// registration (nothing registers unbound), so that it counts every payable from
    /// the start.
    /// Requirements: caller holds OPERATOR; nothing bound yet; a contract.
    /// Emits {ReceivableRiskControlBound}.
    function bindRiskControl(address riskControl_) external {
        if (!_participants.hasRole(Roles.OPERATOR, msg.sender)) revert ReceivableNotOperator(msg.sender);
        if (address(_risk) != address(0)) revert ReceivableRiskControlAlreadyBound(address(_risk));
        if (riskControl_.code.length == 0) revert ReceivableRiskControlUnbound();
        _risk = IRiskControl(riskControl_);
        emit ReceivableRiskControlBound(riskControl_, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                               REGISTRATION
    //////////////////////////////////////////////////////////////*/

    /// @notice Registers a receivable the caller owes `registration.creditor`. Its invoice
    /// key binds the invoice to the creditor's LEI ({invoiceKeyOf}): a debtor can only
    /// ever use up invoice numbers of the creditor it names, never another seller's.
    /// Requirements: caller is an active CORE_ENTERPRISE; the creditor an active
    /// SUPPLIER; amount > 0; due date in the future; currency listed; invoice ref
    /// non-zero; late interest at most MAX_LATE_INTEREST_BPS; the invoice key it gives with the creditor's LEI never registered before;
    /// the risk control's issuance cap and overdue trigger allow it.
    /// Emits {ReceivableRegistered} and {ReceivableStatusChanged} (NONE -> PENDING).
    function register(Registration calldata registration) external returns (uint256 id) {
        _participants.requireActor(msg.sender, Roles.CORE_ENTERPRISE);
        IRiskControl risk = _riskControl();
        id = _register(registration, _lastId + 1);
        _lastId = uint48(id);
        risk.recordIssued(msg.sender, registration.currency, registration.amount);
    }

    /// @notice Registers up to MAX_BATCH receivables in one transaction, all or none.
    /// Ids are consecutive from the returned `firstId`.
    /// Requirements: as {register}, for every item.
    /// Emits, per item, {ReceivableRegistered} and {ReceivableStatusChanged}.
    function registerBatch(Registration[] calldata registrations) external returns (uint256 firstId) {
        uint256 count = registrations.length;
        if (count == 0 || count > MAX_BATCH) revert ReceivableBatchSize(count, MAX_BATCH);
        _participants.requireActor(msg.sender, Roles.CORE_ENTERPRISE);
        IRiskControl risk = _riskControl();
        firstId = _lastId + 1;
        for (uint256 i = 0; i < count; ++i) {
            _register(registrations[i], firstId + i);
        }
        _lastId = uint48(firstId + count - 1);
        // Every row is written before the risk control is called; it hears each run of
        // one currency once, not each row.
        bytes3 currency = registrations[0].currency;
        uint256 run = 0;
        for (uint256 i = 0; i < count; ++i) {
            Registration calldata reg = registrations[i];
            if (reg.currency != currency) {
                risk.recordIssued(msg.sender, currency, run);
                (currency, run) = (reg.currency, 0);
            }
            run += reg.amount;
        }
        risk.recordIssued(msg.sender, currency, run);
    }

    /// @notice The named creditor accepts a pending receivable.
    /// Requirements: caller is the creditor, an active SUPPLIER; status PENDING.
    /// Emits {ReceivableStatusChanged} (PENDING -> ACTIVE).
    function confirm(uint256 id) external {
        _answerAsCreditor(id, Status.ACTIVE);
    }

    /// @notice The named creditor refuses a pending receivable; its invoice key stays used.
    /// Requirements: caller is the creditor, an active SUPPLIER; status PENDING.
    /// Emits {ReceivableStatusChanged} (PENDING -> REJECTED).
    function reject(uint256 id) external {
        _answerAsCreditor(id, Status.REJECTED);
    }

    /// @notice The debtor withdraws a receivable the creditor has not confirmed yet.
    /// Requirements: caller is the debtor, an active CORE_ENTERPRISE; status PENDING.
    /// Emits {ReceivableStatusChanged} (PENDING -> CANCELLED).
    function cancel(uint256 id) external {
        Node storage n = _existing(id);
        address debtor = _roots[n.rootId].debtor;
        if (msg.sender != debtor) revert ReceivableNotDebtor(id, msg.sender, debtor);
        _participants.requireActor(msg.sender, Roles.CORE_ENTERPRISE);
        _transition(id, n, 1 << uint8(Status.PENDING), Status.CANCELLED, msg.sender);
        _riskControl().recordVoided(debtor, _roots[id].currency, n.amount);
    }

    /*//////////////////////////////////////////////////////////////
                           HOLDER ACTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Splits an active receivable into children that sum exactly to it. The
    /// children inherit debtor, currency, due date and root, and go to the holder.
    /// Requirements: caller is the holder, an active SUPPLIER or FINANCIER; status
    /// ACTIVE; not frozen; 2..MAX_SPLIT parts, each > 0, summing to the amount.
    /// Emits {ReceivableSplit} and {ReceivableStatusChanged} (ACTIVE -> SPLIT).
    function split(uint256 id, uint128[] calldata amounts) external returns (uint256 firstChildId) {
        Node storage parent = _holderAction(id);
        _checkSplit(id, parent.amount, amounts);
        // The parent's status changes first: a split parent can change no more.
        _transition(id, parent, _SPLITTABLE, Status.SPLIT, msg.sender);
        uint256 parts = amounts.length;
        firstChildId = _lastId + 1;
        parent.firstChildId = uint48(firstChildId);
        parent.childCount = uint16(parts);
        uint48 rootId = parent.rootId;
        for (uint256 i = 0; i < parts; ++i) {
            _nodes[firstChildId + i] = Node({
                holder: msg.sender,
                parentId: uint48(id),
                status: Status.ACTIVE,
                frozen: false,
                amount: amounts[i],
                rootId: rootId,
                firstChildId: 0,
                childCount: 0
            });
        }
        _lastId = uint48(firstChildId + parts - 1);
        emit ReceivableSplit(id, msg.sender, firstChildId, amounts);
    }

    /// @notice Passes an active receivable to another supplier or a financier.
    /// Requirements: caller is the holder, an active SUPPLIER or FINANCIER; status
    /// ACTIVE; not frozen; `to` is another active SUPPLIER or FINANCIER.
    /// Emits {ReceivableTransferred}.
    function transfer(uint256 id, address to) external {
        Node storage n = _holderAction(id);
        if (n.status != Status.ACTIVE) revert ReceivableInvalidStatus(id, n.status, _SPLITTABLE);
        if (to == msg.sender) revert ReceivableSelfDealing(to);
        _participants.requireActorAny(to, Roles.SUPPLIER, Roles.FINANCIER);
        n.holder = to;
        emit ReceivableTransferred(id, msg.sender, to, msg.sender);
    }

    /// @notice Records that an active or financed receivable passed its due date unpaid.
    /// Requirements: caller is an active participant or the operator (whose service
    /// keeps the ledger's time-driven marks); now > due date; status ACTIVE or FINANCED;
    /// its root not paid into clearing (a paid root's leaves are redeemed, not overdue).
    /// Emits {ReceivableStatusChanged} (-> OVERDUE).
    function markOverdue(uint256 id) external {
        if (!_participants.isActive(msg.sender) && !_participants.hasRole(Roles.OPERATOR, msg.sender)) {
            _participants.requireActor(msg.sender, bytes32(0));
        }
        Node storage n = _existing(id);
        uint64 dueDate = _roots[n.rootId].dueDate;
        if (block.timestamp <= dueDate) revert ReceivableNotDue(id, dueDate, block.timestamp);
        if (_rootRepaid[n.rootId]) revert ReceivableRootAlreadyRepaid(n.rootId);
        _transition(id, n, _OVERDUE_FROM, Status.OVERDUE, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                            REGULATOR ACTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Freezes a receivable: nothing moves it until it is unfrozen.
    /// Requirements: caller is an active REGULATOR; the receivable exists, is not split
    /// (its value moved to its children: freeze those) and not frozen.
    /// Emits {ReceivableFrozen}.
    function freeze(uint256 id) external {
        _participants.requireActor(msg.sender, Roles.REGULATOR);
        Node storage n = _existing(id);
        if (n.status == Status.SPLIT) revert ReceivableInvalidStatus(id, n.status, _FREEZABLE);
        if (n.frozen) revert ReceivableFrozenError(id);
        n.frozen = true;
        emit ReceivableFrozen(id, msg.sender);
    }

    /// @notice Lifts a freeze.
    /// Requirements: caller is an active REGULATOR; the receivable is frozen.
    /// Emits {ReceivableUnfrozen}.
    function unfreeze(uint256 id) external {
        _participants.requireActor(msg.sender, Roles.REGULATOR);
        Node storage n = _existing(id);
        if (!n.frozen) revert ReceivableNotFrozen(id);
        n.frozen = false;
        emit ReceivableUnfrozen(id, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The full record of receivable `id`.
    function receivable(uint256 id) external view returns (Receivable memory r) {
        Node storage n = _existing(id);
        RootTerms storage t = _roots[n.rootId];
        r = Receivable({
            id: id,
            parentId: n.parentId,
            rootId: n.rootId,
            debtor: t.debtor,
            creditor: t.creditor,
            holder: n.holder,
            amount: n.amount,
            currency: t.currency,
            issueDate: t.issueDate,
            dueDate: t.dueDate,
            invoiceKey: t.invoiceKey,
            documentHash: t.documentHash,
            status: n.status,
            frozen: n.frozen,
            firstChildId: n.firstChildId,
            childCount: n.childCount,
            lateInterestBps: t.lateInterestBps
        });
    }

    /// @notice The fields financing and clearing act on.
    function summary(uint256 id) external view returns (Summary memory) {
        return _summary(_existing(id));
    }

    /// @notice The ids of the children of `id` (empty unless it was split).
    function children(uint256 id) external view returns (uint256[] memory ids) {
        Node storage n = _existing(id);
        ids = new uint256[](n.childCount);
        for (uint256 i = 0; i < ids.length; ++i) {
            ids[i] = n.firstChildId + i;
        }
    }

    /// @notice Root amount minus what has been settled of it.
    function outstanding(uint256 rootId) external view returns (uint256) {
        Node storage root = _existing(rootId);
        return root.amount - _settledAmount[rootId];
    }

    /// @notice True once the debtor has paid root `rootId` into clearing.
    function rootRepaid(uint256 rootId) external view returns (bool) {
        return _rootRepaid[rootId];
    }

    /// @notice The annual late-interest rate (bps) of receivable `id`'s root.
    function lateInterestBps(uint256 id) external view returns (uint32) {
        return _roots[_existing(id).rootId].lateInterestBps;
    }

    /// @notice The receivable registered with `invoiceKey`, or 0.
    function receivableByInvoiceKey(bytes32 invoiceKey) external view returns (uint256) {
        return _invoiceKeys[invoiceKey];
    }

    /// @notice The invoice key of invoice `invoiceRef` sold by `creditor`: keccak256 of the
    /// creditor's LEI and the ref (ledger_app.domain.invoices.invoice_key is its twin).
    function invoiceKeyOf(address creditor, bytes32 invoiceRef) public view returns (bytes32) {
        return keccak256(abi.encode(_participants.leiOf(creditor), invoiceRef));
    }

    /// @notice The risk control bound by {bindRiskControl}, or 0.
    function riskControl() external view returns (address) {
        return address(_risk);
    }

    /// @notice The highest id assigned so far.
    function lastId() external view returns (uint256) {
        return _lastId;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _register(Registration calldata reg, uint256 id) private returns (uint256) {
        bytes32 invoiceKey = _checkRegistration(reg);
        _invoiceKeys[invoiceKey] = id;
        _roots[id] = RootTerms({
            debtor: msg.sender,
            currency: reg.currency,
            dueDate: reg.dueDate,
            creditor: reg.creditor,
            issueDate: uint64(block.timestamp),
            lateInterestBps: reg.lateInterestBps,
            invoiceKey: invoiceKey,
            documentHash: reg.documentHash
        });
        Node storage n = _nodes[id];
        (n.holder, n.amount, n.rootId) = (reg.creditor, reg.amount, uint48(id));
        emit ReceivableRegistered(
            id,
            msg.sender,
            reg.creditor,
            reg.amount,
            reg.currency,
            reg.dueDate,
            invoiceKey,
            reg.documentHash,
            reg.lateInterestBps
        );
        _transition(id, n, 1 << uint8(Status.NONE), Status.PENDING, msg.sender);
        return id;
    }

    /// @dev The checks of one registration; returns its invoice key, not yet used.
    function _checkRegistration(Registration calldata reg) private view returns (bytes32 invoiceKey) {
        if (reg.creditor == msg.sender) revert ReceivableSelfDealing(msg.sender);
        _participants.requireActor(reg.creditor, Roles.SUPPLIER);
        if (reg.amount == 0) revert ReceivableInvalidAmount(0);
        if (reg.dueDate <= block.timestamp) revert ReceivableInvalidDueDate(reg.dueDate, block.timestamp);
        if (_participants.settlementToken(reg.currency) == address(0)) revert ReceivableUnknownCurrency(reg.currency);
        if (reg.invoiceRef == bytes32(0)) revert ReceivableInvalidInvoiceRef(reg.invoiceRef);
        if (reg.lateInterestBps > MAX_LATE_INTEREST_BPS) {
            revert ReceivableInvalidLateInterest(reg.lateInterestBps, MAX_LATE_INTEREST_BPS);
        }
        // The creditor is an onboarded supplier (checked above), so its LEI is non-zero.
        invoiceKey = invoiceKeyOf(reg.creditor, reg.invoiceRef);
        uint256 existing = _invoiceKeys[invoiceKey];
        if (existing != 0) revert ReceivableDuplicateInvoice(invoiceKey, existing);
    }

    /// @dev 2..MAX_SPLIT parts, each above zero, summing exactly to the parent's amount.
    function _checkSplit(uint256 id, uint128 amount, uint128[] calldata amounts) private pure {
        uint256 parts = amounts.length;
        uint256 sum = 0;
        for (uint256 i = 0; i < parts; ++i) {
            if (amounts[i] == 0) revert ReceivableInvalidAmount(0);
            sum += amounts[i];
        }
        if (parts < 2 || parts > MAX_SPLIT || sum != amount) revert ReceivableInvalidSplit(id, parts, sum, amount);
    }

    function _answerAsCreditor(uint256 id, Status answer) private {
        Node storage n = _existing(id);
        // A root is its own root: its terms are found without reading the node's rootId.
        bool isRoot = n.parentId == 0;
        address creditor = _roots[isRoot ? id : n.rootId].creditor;
        if (!isRoot || msg.sender != creditor) revert ReceivableNotCreditor(id, msg.sender, creditor);
        _participants.requireActor(msg.sender, Roles.SUPPLIER);
        _transition(id, n, 1 << uint8(Status.PENDING), answer, msg.sender);
        if (answer == Status.REJECTED) _riskControl().recordVoided(_roots[id].debtor, _roots[id].currency, n.amount);
    }

    /// @dev The checks every holder action shares: the caller holds it, may act, and
    /// the receivable is not frozen.
    function _holderAction(uint256 id) private view returns (Node storage n) {
        n = _existing(id);
        if (n.holder != msg.sender) revert ReceivableNotHolder(id, msg.sender, n.holder);
        _participants.requireActorAny(msg.sender, Roles.SUPPLIER, Roles.FINANCIER);
        if (n.frozen) revert ReceivableFrozenError(id);
    }
}
