// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Obligor risk control: issuance caps and the overdue trigger.
/// @notice Bounds what a core enterprise may owe (an issuance cap per currency, set by
/// the operator or the bank the operator names for that core) and stops a core with a
/// root overdue past the trigger from issuing or having its receivables newly financed,
/// until that root is paid. The receivable registry reports every issue, void and
/// repayment here; a keeper flags the roots time has made overdue.
interface IRiskControl {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice A core enterprise's payables in one currency.
    struct Payables {
        uint256 outstanding; // registered (pending or confirmed) and not yet repaid, voided
        uint128 cap; // meaningful only when `capped`
        bool capped;
    }

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event IssuanceCapSet(address indexed core, bytes3 indexed currency, uint128 cap, address actor);
    event IssuanceCapRemoved(address indexed core, bytes3 indexed currency, address actor);
    /// @notice `manager` (0: none) may set `core`'s caps besides the operator.
    event IssuanceCapManagerSet(address indexed core, address indexed manager, address actor);
    /// @notice A root unpaid more than `triggerDays` after its due date was flagged: its
    /// debtor is restricted while `overdueRoots` > 0.
    event OverdueTriggerSet(uint16 triggerDays, address actor);
    event RootOverdueFlagged(
        uint256 indexed rootId, address indexed debtor, uint64 dueDate, uint256 overdueRoots, address actor
    );
    /// @notice A flagged root was paid into clearing, or its last leaf was paid early or partly.
    event RootOverdueCured(uint256 indexed rootId, address indexed debtor, uint256 overdueRoots);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error RiskNotOperator(address account);
    error RiskNotCapSetter(address core, address account, address manager);
    error RiskNotRegistry(address account);
    error RiskInvalidTriggerDays(uint256 triggerDays);
    error RiskCurrencyNotListed(bytes3 currency);
    error RiskCapNotSet(address core, bytes3 currency);
    error RiskIssuanceCapExceeded(address core, bytes3 currency, uint256 cap, uint256 outstanding, uint256 requested);
    error RiskObligorRestricted(address core, uint256 overdueRoots);
    error RiskNotRoot(uint256 id, uint256 rootId);
    error RiskRootNotOpen(uint256 rootId);
    error RiskRootNotPastTrigger(uint256 rootId, uint256 flaggableFrom, uint256 nowTimestamp);
    error RiskRootAlreadyFlagged(uint256 rootId);

    /*//////////////////////////////////////////////////////////////
                                 LOGIC
    //////////////////////////////////////////////////////////////*/

    function setIssuanceCap(address core, bytes3 currency, uint128 cap) external;
    function removeIssuanceCap(address core, bytes3 currency) external;
    function setCapManager(address core, address manager) external;
    function setOverdueTrigger(uint16 triggerDays) external;
    function flagOverdue(uint256 rootId) external;

    /// @dev Registry only.
    function recordIssued(address core, bytes3 currency, uint256 amount) external;
    function recordVoided(address core, bytes3 currency, uint256 amount) external;
    function recordRootRepaid(uint256 rootId, address core, bytes3 currency, uint256 amount) external;
    function recordLeafPaid(uint256 rootId, address core, bytes3 currency, uint256 amount, bool rootSettled)
        external;

    function payables(address core, bytes3 currency) external view returns (Payables memory);
    function capManager(address core) external view returns (address);
    function overdueTriggerDays() external view returns (uint16);
    function overdueRoots(address core) external view returns (uint256);
    function isFlagged(uint256 rootId) external view returns (bool);
    function isRestricted(address core) external view returns (bool);
    function requireUnrestricted(address core) external view;
}
