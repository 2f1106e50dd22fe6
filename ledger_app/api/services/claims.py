"""Payments a ledger contract kept for a payee it could not pay, and their claims (issue 20).

A refund to a financier frozen, suspended or KYC-expired while its offer was open (or an
HTLC payment to a party in that state) waits in the contract for the payee to claim once
in good standing again (ledger_app/domain/claims.py). Parties: the payee; readers
(auditors, regulators) see anyone's.
"""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.tokens import TokenService
from ledger_app.api.services.writes import WriteOutcome, Writer
from ledger_app.chain.abi import find_function
from ledger_app.db import claim_queries
from ledger_app.domain.claims import DEFERRING_CONTRACTS, check_claimable
from ledger_app.errors import Conflict, DeploymentError, Forbidden


class ClaimService:
    """The deferred payments of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.writer = Writer(runtime)
        self.tokens = TokenService(runtime)

    def deferring(self) -> dict[str, str]:
        """API name -> address of each deployed contract that keeps payments (one whose
        ABI has ``claim(token)``: MaturityClearing only once it defers redemptions)."""
        found = {}
        contracts = self.runtime.contracts
        for name, deployed in DEFERRING_CONTRACTS.items():
            try:
                address = contracts.address(deployed)
                find_function(contracts.abi(contracts.kind(deployed)), "claimable", 2)
            except (DeploymentError, KeyError, ValueError):  # not deployed, or defers nothing
                continue
            found[name] = address.lower()
        return found

    def waiting(self, caller: Caller, payee: str | None = None) -> list[dict[str, Any]]:
        """What waits for ``payee`` (default: the caller; another's: readers only), per
        contract and currency, with the deferrals that make it up."""
        who = (payee or caller.address).lower()
        if who != caller.key and not caller.reads_all:
            raise Forbidden(
                "only auditors and regulators see what waits for another participant",
                error="ClaimsNotVisible",
                field="payee",
            )
        by_address = {address: name for name, address in self.deferring().items()}
        with self.engine.connect() as conn:
            rows = claim_queries.waiting(conn, who, by_address)
            return [
                {
                    "contract": by_address[row.contract],
                    "contract_address": to_checksum_address(row.contract),
                    "payee": to_checksum_address(who),
                    "currency": row.currency,
                    "token": to_checksum_address(row.token),
                    "amount": str(row.claimable),
                    "deferrals": [
                        _deferral(d)
                        for d in claim_queries.pending_deferrals(conn, row.contract, who, row.token)
                    ],
                }
                for row in rows
            ]

    def claim(self, caller: Caller, contract: str, currency: str) -> WriteOutcome:
        """Take everything of ``currency`` that waits for the caller in ``contract``."""
        address = self.deferring().get(contract)
        if address is None:
            raise Conflict(
                f"the {contract} contract of this deployment keeps no payments",
                error="ClaimContractDefersNothing",
                field="contract",
                contract=contract,
            )
        token = self.tokens.token(currency)
        with self.engine.connect() as conn:
            waiting = claim_queries.claimable(conn, address, caller.address, token)
        check_claimable(waiting, contract, currency, caller.address)
        deployed = DEFERRING_CONTRACTS[contract]
        call = self.runtime.contracts.call(deployed, "claim", token)
        return self.writer.write(caller, "claims.claim", call)


def _deferral(d: dict[str, Any]) -> dict[str, Any]:
    cause = d["cause"] or {}
    args = cause.get("args", {})
    return {
        "amount": str(d["amount"]),
        "block_number": d["block_number"],
        "tx_hash": d["tx_hash"],
        "log_index": d["log_index"],
        "event": cause.get("event"),
        "receivable_id": cause.get("receivable_id"),
        "financing_id": args.get("financingId"),
        "offer_index": args.get("offerIndex"),
        "lock_id": args.get("lockId"),
    }
