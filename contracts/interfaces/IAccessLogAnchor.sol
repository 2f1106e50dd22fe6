// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Anchors of the service's access log on the ledger.
/// @notice The service chains every access-log row to the one before it by sha256
/// (ledger_app/domain/access_chain.py). From time to time the operator writes the
/// chain's head here: after `count` rows the chain's hash was `head`. A row edited,
/// deleted, inserted or moved before an anchor changes the hash at that count, and the
/// anchor, on a ledger the service's database does not hold, no longer agrees.
interface IAccessLogAnchor {
    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice The access log's chain had hash `head` after its first `count` rows.
    event AccessLogAnchored(uint64 indexed count, bytes32 head, address by);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error AnchorNotOperator(address account);
    error AnchorCountNotGrowing(uint64 count, uint64 lastCount);
    error AnchorZeroHead();

    /*//////////////////////////////////////////////////////////////
                                 FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Records that the access log's first `count` rows chain to `head`.
    /// Requirements: caller holds OPERATOR; `count` > the last anchored count (an anchor
    /// is never replaced nor followed by a shorter one); `head` non-zero.
    /// Emits {AccessLogAnchored}.
    function anchor(uint64 count, bytes32 head) external;

    /// @notice The last anchor: how many rows, and the chain's hash after them (0, 0: none).
    function lastAnchor() external view returns (uint64 count, bytes32 head);
}
