// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ReceivableRegistryBase} from "./ReceivableRegistryBase.sol";

/// @title ReceivableLedgerEntryPoints
/// @notice The narrow entry points through which the ledger's financing and clearing
/// contracts lock a receivable, change its holder, record its default and settle it.
/// Only a contract the participant registry lists as a ledger contract may call them.
abstract contract ReceivableLedgerEntryPoints is ReceivableRegistryBase {
    /*//////////////////////////////////////////////////////////////
                           STATUS MASKS, ACCESS
    //////////////////////////////////////////////////////////////*/

    uint256 private constant _DEFAULT_FROM = (1 << uint8(Status.FINANCED)) | (1 << uint8(Status.OVERDUE));
    uint256 private constant _SETTLE_FROM = (1 << uint8(Status.ACTIVE)) | (1 << uint8(Status.FINANCING))
        | (1 << uint8(Status.FINANCED)) | (1 << uint8(Status.OVERDUE)) | (1 << uint8(Status.DEFAULTED));
    /// @dev A leaf paid ahead of its root: not while a financing request holds it.
    uint256 private constant _SETTLE_AHEAD_FROM = _SETTLE_FROM & ~(1 << uint8(Status.FINANCING));

    modifier onlyLedger() {
        if (!_participants.isLedgerContract(msg.sender)) revert ReceivableNotLedgerContract(msg.sender);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                 LEDGER ENTRY POINTS (financing, clearing)
    //////////////////////////////////////////////////////////////*/

    /// @notice Locks an active receivable for a financing request by its holder.
    /// Requirements: caller is a ledger contract; `requester` is the holder; status
    /// ACTIVE; not frozen. Emits {ReceivableStatusChanged} (ACTIVE -> FINANCING).
    function lockForFinancing(uint256 id, address requester) external onlyLedger returns (Summary memory) {
        Node storage n = _existing(id);
        if (n.holder != requester) revert ReceivableNotHolder(id, requester, n.holder);
        if (n.frozen) revert ReceivableFrozenError(id);
        _transition(id, n, _SPLITTABLE, Status.FINANCING, requester);
        return _summary(n);
    }

    /// @notice Frees a receivable whose financing request closed unfunded.
    /// Requirements: caller is a ledger contract; status FINANCING.
    /// Emits {ReceivableStatusChanged} (FINANCING -> ACTIVE).
    function releaseFromFinancing(uint256 id) external onlyLedger {
        Node storage n = _existing(id);
        _transition(id, n, 1 << uint8(Status.FINANCING), Status.ACTIVE, msg.sender);
    }

    /// @notice Completes a financing: the financier becomes the holder.
    /// Requirements: caller is a ledger contract; status FINANCING; not frozen.
    /// Emits {ReceivableTransferred} and {ReceivableStatusChanged} (FINANCING -> FINANCED).
    function completeFinancing(uint256 id, address financier) external onlyLedger {
        Node storage n = _existing(id);
        if (n.frozen) revert ReceivableFrozenError(id);
        _transition(id, n, 1 << uint8(Status.FINANCING), Status.FINANCED, msg.sender);
        emit ReceivableTransferred(id, n.holder, financier, msg.sender);
        n.holder = financier;
    }

    /// @notice Records the default of a financed receivable.
    /// Requirements: caller is a ledger contract; status FINANCED or OVERDUE; its root
    /// not yet paid into clearing (its leaves are then paid at redemption: nothing to
    /// default on).
    /// Emits {ReceivableStatusChanged} (-> DEFAULTED).
    function markDefaulted(uint256 id) external onlyLedger {
        Node storage n = _existing(id);
        if (_rootRepaid[n.rootId]) revert ReceivableRootAlreadyRepaid(n.rootId);
        _transition(id, n, _DEFAULT_FROM, Status.DEFAULTED, msg.sender);
    }

    /// @notice Hands a defaulted receivable back to the supplier that bought it back
    /// under recourse; it is OVERDUE again, the supplier's to collect from the debtor.
    /// Requirements: caller is a ledger contract; status DEFAULTED; not frozen; its root
    /// not yet paid into clearing.
    /// Emits {ReceivableTransferred} and {ReceivableStatusChanged} (DEFAULTED -> OVERDUE).
    function returnToSupplier(uint256 id, address supplier) external onlyLedger {
        Node storage n = _existing(id);
        if (n.frozen) revert ReceivableFrozenError(id);
        if (_rootRepaid[n.rootId]) revert ReceivableRootAlreadyRepaid(n.rootId);
        _transition(id, n, 1 << uint8(Status.DEFAULTED), Status.OVERDUE, msg.sender);
        emit ReceivableTransferred(id, n.holder, supplier, msg.sender);
        n.holder = supplier;
    }

    /// @notice Moves a financed receivable from the financier that sold it to the one
    /// that bought it.
    /// Requirements: caller is a ledger contract; status FINANCED; not frozen; `from`
    /// is the holder.
    /// Emits {ReceivableTransferred}.
    function transferFinanced(uint256 id, address from, address to) external onlyLedger {
        Node storage n = _existing(id);
        if (n.frozen) revert ReceivableFrozenError(id);
        if (n.holder != from) revert ReceivableNotHolder(id, from, n.holder);
        if (n.status != Status.FINANCED) revert ReceivableInvalidStatus(id, n.status, 1 << uint8(Status.FINANCED));
        emit ReceivableTransferred(id, from, to, msg.sender);
        n.holder = to;
    }

    /// @notice Records that the debtor paid root `rootId` into clearing.
    /// Requirements: caller is a ledger contract; `rootId` is a root not marked before.
    /// Emits {ReceivableRootRepaid} (and the risk control's {RootOverdueCured} when the
    /// root was flagged).
    function markRootRepaid(uint256 rootId) external onlyLedger {
        Node storage root = _existing(rootId);
        if (root.rootId != rootId) revert ReceivableUnknown(rootId);
        if (_rootRepaid[rootId]) revert ReceivableRootAlreadyRepaid(rootId);
        _rootRepaid[rootId] = true;
        emit ReceivableRootRepaid(rootId, msg.sender);
        RootTerms storage t = _roots[rootId];
        // What was still owed: leaves paid early or partly were reported as they were paid.
        _riskControl().recordRootRepaid(rootId, t.debtor, t.currency, root.amount - _settledAmount[rootId]);
    }

    /// @notice Settles a leaf paid by its debtor: at redemption after its root was paid
    /// into clearing, or ahead of the root (an early or partial payment of the leaf). Its
    /// root settles with its last leaf.
    /// Requirements: caller is a ledger contract; a leaf that is not settled, frozen,
    /// pending, rejected or cancelled; paid ahead of its root, not locked in a financing
    /// request either.
    /// Emits {ReceivableStatusChanged} (-> SETTLED) and {ReceivableSettled}; for the
    /// last leaf of a split root also the root's {ReceivableStatusChanged}; paid ahead of
    /// its root, the risk control hears the leaf's face is owed no more.
    function settle(uint256 id) external onlyLedger returns (address holder, uint128 amount, uint256 rootId) {
        Node storage n = _existing(id);
        if (n.frozen) revert ReceivableFrozenError(id);
        bool aheadOfRoot = !_rootRepaid[n.rootId];
        _transition(id, n, aheadOfRoot ? _SETTLE_AHEAD_FROM : _SETTLE_FROM, Status.SETTLED, msg.sender);
        (holder, amount, rootId) = (n.holder, n.amount, n.rootId);
        uint256 settled = _settledAmount[rootId] + amount;
        _settledAmount[rootId] = settled;
        Node storage root = _nodes[rootId];
        uint256 remaining = root.amount - settled;
        emit ReceivableSettled(id, rootId, holder, amount, remaining);
        if (remaining == 0 && rootId != id) {
            _transition(rootId, root, 1 << uint8(Status.SPLIT), Status.SETTLED, msg.sender);
        }
        if (aheadOfRoot) {
            RootTerms storage t = _roots[rootId];
            _riskControl().recordLeafPaid(rootId, t.debtor, t.currency, amount, remaining == 0);
        }
    }
}
