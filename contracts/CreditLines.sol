// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ICreditLines} from "./interfaces/ICreditLines.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {IReceivableRegistry} from "./interfaces/IReceivableRegistry.sol";
import {IRiskControl} from "./interfaces/IRiskControl.sol";
import {Roles} from "./Roles.sol";

/// @title CreditLines
/// @notice Credit lines a financier grants to obligors, consumed by the financing desk
/// when an offer is accepted and freed by clearing when the financed leaf is paid.
/// @dev A contract of its own rather than part of the desk: a line is the financier's
/// standing decision about an obligor, outliving any one financing, and the desk stays
/// under its size. A line is found by (financier, obligor, currency); at most one is
/// open per key. What a financed receivable drew is kept per receivable (one slot: the
/// face amount is the registry's, and a financed receivable can be neither split nor
/// transferred), so the release needs no search; with it, what the financier wrote off
/// of it, which a later release does not free twice. Utilisation changes only in
/// {_draw} and {_uncount}, which emit the events recording them.
contract CreditLines is ICreditLines {
    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    struct Line {
        address financier;
        uint64 expiry;
        LineStatus status;
        bool frozen;
        bool programme;
        address obligor;
        bytes3 currency;
        uint128 limit;
        uint128 utilised;
    }

    struct DrawnBy {
        address supplier;
        uint48 lineId;
        bool onProgramme; // counted against the supplier's sub-limit too
        // Some of it written off: the amount is in `_writtenOff`. A flag in this slot keeps
        // a drawing one slot, so that an accept and a redemption pay for one slot, not two.
        bool writtenOff;
    }

    IParticipantRegistry private immutable _participants;
    IReceivableRegistry private immutable _receivables;
    IRiskControl private immutable _risk;

    mapping(uint256 lineId => Line) private _lines;
    mapping(address financier => mapping(address obligor => mapping(bytes3 currency => uint256 lineId))) private
        _openLine;
    mapping(uint256 lineId => mapping(address supplier => SupplierLimit)) private _supplierLimits;
    mapping(uint256 receivableId => DrawnBy) private _drawings;
    uint48 private _lastLineId;
    /// @dev Of a drawing's face amount, what the financier wrote off: no longer counted in
    /// the line's utilisation. Read only for a drawing flagged `writtenOff`.
    mapping(uint256 receivableId => uint128 amount) private _writtenOff;

    constructor(IParticipantRegistry participants, IReceivableRegistry receivables, IRiskControl risk) {
        _participants = participants;
        _receivables = receivables;
        _risk = risk;
    }

    modifier onlyLedger() {
        if (!_participants.isLedgerContract(msg.sender)) revert CreditLineNotLedgerContract(msg.sender);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                            FINANCIER ACTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Grants a line to `obligor` in `currency`.
    /// Requirements: caller is an active FINANCIER; `obligor` an onboarded, active
    /// CORE_ENTERPRISE; currency listed; limit > 0; expiry in the future; no open line of
    /// the caller to that obligor in that currency.
    /// Emits {CreditLineGranted}.
    function grant(address obligor, bytes3 currency, uint128 limit, uint64 expiry) external returns (uint256 lineId) {
        _participants.requireActor(msg.sender, Roles.FINANCIER);
        _participants.requireActor(obligor, Roles.CORE_ENTERPRISE);
        if (_participants.settlementToken(currency) == address(0)) revert CreditLineCurrencyNotListed(currency);
        _checkTerms(limit, expiry);
        uint256 existing = _openLine[msg.sender][obligor][currency];
        if (existing != 0) revert CreditLineExists(msg.sender, obligor, currency, existing);
        lineId = ++_lastLineId;
        Line storage l = _lines[lineId];
        (l.financier, l.expiry, l.status) = (msg.sender, expiry, LineStatus.OPEN);
        (l.obligor, l.currency, l.limit) = (obligor, currency, limit);
        _openLine[msg.sender][obligor][currency] = lineId;
        emit CreditLineGranted(lineId, msg.sender, obligor, currency, limit, expiry);
    }

    /// @notice Raises or lowers a line's limit and moves its expiry.
    /// Requirements: caller is the line's financier, active; the line open; limit > 0 and
    /// not below what is utilised; expiry in the future.
    /// Emits {CreditLineAmended}.
    function amend(uint256 lineId, uint128 limit, uint64 expiry) external {
        Line storage l = _ownOpenLine(lineId);
        _checkTerms(limit, expiry);
        if (limit < l.utilised) revert CreditLineBelowUtilisation(lineId, limit, l.utilised);
        (l.limit, l.expiry) = (limit, expiry);
        emit CreditLineAmended(lineId, limit, expiry, msg.sender);
    }

    /// @notice Names `supplier` on the line's programme with sub-limit `limit`, changes
    /// its sub-limit, or (0) takes it off. The first non-zero sub-limit makes the line a
    /// programme for good: from then on only named suppliers draw on it.
    /// Requirements: caller is the line's financier, active; the line open; `supplier`
    /// an onboarded SUPPLIER (when named); limit not above the line's limit nor below
    /// what the supplier has drawn.
    /// Emits {CreditLineSupplierLimitSet}.
    function setSupplierLimit(uint256 lineId, address supplier, uint128 limit) external {
        Line storage l = _ownOpenLine(lineId);
        if (limit != 0) _participants.requireActor(supplier, Roles.SUPPLIER);
        if (limit > l.limit) revert CreditLineSubLimitAboveLimit(lineId, limit, l.limit);
        SupplierLimit storage s = _supplierLimits[lineId][supplier];
        if (limit < s.utilised) revert CreditLineSubLimitBelowUtilisation(lineId, supplier, limit, s.utilised);
        s.limit = limit;
        // Taking off a supplier never named must not make an open line a programme of none.
        if (limit != 0) l.programme = true;
        emit CreditLineSupplierLimitSet(lineId, supplier, limit, msg.sender);
    }

    /// @notice Closes a line: nothing more draws on it; what is drawn is still freed as
    /// it is repaid, and the financier may grant a new line to the same obligor.
    /// Requirements: caller is the line's financier, active; the line open.
    /// Emits {CreditLineClosed}.
    function close(uint256 lineId) external {
        Line storage l = _ownOpenLine(lineId);
        l.status = LineStatus.CLOSED;
        delete _openLine[l.financier][l.obligor][l.currency];
        emit CreditLineClosed(lineId, msg.sender);
    }

    /// @notice The financier writes off `amount` of a defaulted financed receivable:
    /// that much leaves the line's utilisation. Several partial write-offs may follow
    /// one another; the drawing stays (at what is left) so that a later recovery frees
    /// only the rest and is recorded.
    /// Requirements: caller is the line's financier, active; the receivable drew on one
    /// of its lines and is DEFAULTED; 0 < amount <= what it still draws.
    /// Emits {CreditLineReleased} (WRITTEN_OFF, `amount`).
    function writeOff(uint256 receivableId, uint128 amount) external {
        DrawnBy storage d = _drawings[receivableId];
        uint256 lineId = d.lineId;
        if (lineId == 0) revert CreditLineNotDrawn(receivableId);
        Line storage l = _lines[lineId];
        if (msg.sender != l.financier) revert CreditLineNotFinancier(lineId, msg.sender, l.financier);
        _participants.requireActor(msg.sender, Roles.FINANCIER);
        IReceivableRegistry.Summary memory s = _receivables.summary(receivableId);
        if (s.status != IReceivableRegistry.Status.DEFAULTED) revert CreditLineNotDefaulted(receivableId);
        uint128 before = _writtenOff[receivableId];
        uint128 drawn = s.amount - before;
        if (amount == 0 || amount > drawn) revert CreditLineWriteOffAmount(receivableId, amount, drawn);
        _writtenOff[receivableId] = before + amount;
        d.writtenOff = true;
        _uncount(lineId, d, amount, receivableId, ReleaseCause.WRITTEN_OFF);
    }

    /*//////////////////////////////////////////////////////////////
                            REGULATOR ACTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Freezes a line: nothing draws on it until it is unfrozen.
    /// Requirements: caller is an active REGULATOR; the line exists and is not frozen.
    /// Emits {CreditLineFrozen}.
    function freeze(uint256 lineId) external {
        _participants.requireActor(msg.sender, Roles.REGULATOR);
        Line storage l = _existing(lineId);
        if (l.frozen) revert CreditLineFrozenError(lineId);
        l.frozen = true;
        emit CreditLineFrozen(lineId, msg.sender);
    }

    /// @notice Lifts a freeze.
    /// Requirements: caller is an active REGULATOR; the line is frozen.
    /// Emits {CreditLineUnfrozen}.
    function unfreeze(uint256 lineId) external {
        _participants.requireActor(msg.sender, Roles.REGULATOR);
        Line storage l = _existing(lineId);
        if (!l.frozen) revert CreditLineNotFrozen(lineId);
        l.frozen = false;
        emit CreditLineUnfrozen(lineId, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                         LEDGER ENTRY POINTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Draws the face amount of `receivableId` on `financier`'s open line to its
    /// debtor, for `supplier`: called by the financing desk as an offer is accepted.
    /// Requirements: caller is a ledger contract; the debtor not restricted by the
    /// overdue trigger; an open line, not frozen, not expired; the amount within the
    /// line's headroom and, on a programme, within the supplier's sub-limit.
    /// Emits {CreditLineConsumed}.
    function consume(uint256 receivableId, uint256 financingId, address financier, address supplier)
        external
        onlyLedger
    {
        IReceivableRegistry.Summary memory s = _receivables.summary(receivableId);
        _risk.requireUnrestricted(s.debtor);
        uint256 lineId = _openLine[financier][s.debtor][s.currency];
        if (lineId == 0) revert CreditLineMissing(financier, s.debtor, s.currency);
        Line storage l = _lines[lineId];
        if (l.frozen) revert CreditLineFrozenError(lineId);
        if (block.timestamp > l.expiry) revert CreditLineExpired(lineId, l.expiry, block.timestamp);
        _draw(lineId, l, receivableId, financingId, supplier, s.amount);
    }

    /// @notice Frees what `receivableId` drew, if anything: called by clearing as the
    /// leaf is paid. `recovered`: the leaf had defaulted.
    /// Requirements: caller is a ledger contract.
    /// Emits {CreditLineReleased} (REPAID or RECOVERED) when the leaf had drawn.
    function release(uint256 receivableId, uint128 amount, bool recovered) external onlyLedger {
        DrawnBy memory d = _drawings[receivableId];
        if (d.lineId == 0) return;
        // What was written off left the utilisation then; the recovery is recorded.
        uint128 off = _takeWrittenOff(receivableId, d);
        if (off != 0) emit CreditLineRecovered(d.lineId, receivableId, amount, off);
        _repay(receivableId, d, amount - off, recovered ? ReleaseCause.RECOVERED : ReleaseCause.REPAID);
    }

    /// @notice Frees what `receivableId` still draws, if anything: called by the desk as
    /// the supplier buys the leaf back (BOUGHT_BACK) or its financier sells it (SOLD).
    /// Requirements: caller is a ledger contract.
    /// Emits {CreditLineReleased} (`cause`) when the leaf had drawn.
    function releaseDrawing(uint256 receivableId, ReleaseCause cause) external onlyLedger {
        DrawnBy memory d = _drawings[receivableId];
        if (d.lineId == 0) return;
        uint128 off = _takeWrittenOff(receivableId, d);
        _repay(receivableId, d, _receivables.summary(receivableId).amount - off, cause);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Line `lineId`.
    function creditLine(uint256 lineId) external view returns (CreditLine memory) {
        Line storage l = _existing(lineId);
        return CreditLine(
            l.financier, l.obligor, l.currency, l.status, l.frozen, l.programme, l.expiry, l.limit, l.utilised
        );
    }

    /// @notice The open line of `financier` to `obligor` in `currency`, or 0.
    function lineOf(address financier, address obligor, bytes3 currency) external view returns (uint256) {
        return _openLine[financier][obligor][currency];
    }

    /// @notice `supplier`'s sub-limit on line `lineId` and what it has drawn.
    function supplierLimit(uint256 lineId, address supplier) external view returns (SupplierLimit memory) {
        _existing(lineId);
        return _supplierLimits[lineId][supplier];
    }

    /// @notice What `receivableId` holds of a line (lineId 0: nothing).
    function drawingOf(uint256 receivableId) external view returns (Drawing memory d) {
        DrawnBy memory drawn = _drawings[receivableId];
        if (drawn.lineId == 0) return d;
        uint128 face = _receivables.summary(receivableId).amount;
        d = Drawing(drawn.lineId, drawn.supplier, face - _writtenOff[receivableId]);
    }

    /// @notice What the financier has written off of `receivableId` while it draws.
    function writtenOffOf(uint256 receivableId) external view returns (uint128) {
        return _writtenOff[receivableId];
    }

    /// @notice What `supplier` could draw on line `lineId` now (0 if the line is closed,
    /// frozen or expired).
    function headroom(uint256 lineId, address supplier) external view returns (uint256 room) {
        Line storage l = _existing(lineId);
        if (l.status != LineStatus.OPEN || l.frozen || block.timestamp > l.expiry) return 0;
        room = l.limit - l.utilised;
        if (l.programme) {
            SupplierLimit storage s = _supplierLimits[lineId][supplier];
            uint256 sub = s.limit > s.utilised ? s.limit - s.utilised : 0;
            if (sub < room) room = sub;
        }
    }

    /// @notice The highest line id assigned so far.
    function lastLineId() external view returns (uint256) {
        return _lastLineId;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev The one place utilisation grows: checks the line's and the supplier's room.
    function _draw(
        uint256 lineId,
        Line storage l,
        uint256 receivableId,
        uint256 financingId,
        address supplier,
        uint128 amount
    ) private {
        uint128 utilised = l.utilised;
        if (uint256(utilised) + amount > l.limit) revert CreditLineExceeded(lineId, l.limit, utilised, amount);
        if (l.programme) {
            SupplierLimit storage s = _supplierLimits[lineId][supplier];
            if (s.limit == 0) revert CreditLineSupplierNotEligible(lineId, supplier);
            if (uint256(s.utilised) + amount > s.limit) {
                revert CreditLineSubLimitExceeded(lineId, supplier, s.limit, s.utilised, amount);
            }
            s.utilised += amount;
        }
        // Cannot overflow: checked against the limit above.
        unchecked {
            utilised += amount;
        }
        l.utilised = utilised;
        _drawings[receivableId] = DrawnBy(supplier, uint48(lineId), l.programme, false);
        emit CreditLineConsumed(lineId, receivableId, supplier, financingId, amount, utilised);
    }

    /// @dev Ends a drawing, freeing `amount` (what it still counted).
    /// @dev What was written off of a drawing that is being freed (0 if nothing), cleared.
    function _takeWrittenOff(uint256 receivableId, DrawnBy memory d) private returns (uint128 off) {
        if (!d.writtenOff) return 0;
        off = _writtenOff[receivableId];
        delete _writtenOff[receivableId];
    }

    function _repay(uint256 receivableId, DrawnBy memory d, uint128 amount, ReleaseCause cause) private {
        delete _drawings[receivableId];
        _uncount(d.lineId, d, amount, receivableId, cause);
    }

    /// @dev The one place utilisation shrinks, whatever the line's status.
    function _uncount(uint256 lineId, DrawnBy memory d, uint128 amount, uint256 receivableId, ReleaseCause cause)
        private
    {
        Line storage l = _lines[lineId];
        uint128 utilised = l.utilised - amount;
        l.utilised = utilised;
        // A line may have become a programme since: only what was counted is uncounted.
        if (d.onProgramme) _supplierLimits[lineId][d.supplier].utilised -= amount;
        emit CreditLineReleased(lineId, receivableId, cause, amount, utilised);
    }

    function _checkTerms(uint128 limit, uint64 expiry) private view {
        if (limit == 0) revert CreditLineInvalidTerms("limit", 0);
        if (expiry <= block.timestamp) revert CreditLineInvalidTerms("expiry", expiry);
    }

    function _existing(uint256 lineId) private view returns (Line storage l) {
        l = _lines[lineId];
        if (l.status == LineStatus.NONE) revert CreditLineUnknown(lineId);
    }

    /// @dev A line the caller, an active FINANCIER, granted and has not closed.
    function _ownOpenLine(uint256 lineId) private view returns (Line storage l) {
        l = _existing(lineId);
        if (msg.sender != l.financier) revert CreditLineNotFinancier(lineId, msg.sender, l.financier);
        _participants.requireActor(msg.sender, Roles.FINANCIER);
        if (l.status != LineStatus.OPEN) revert CreditLineClosedError(lineId);
    }
}
