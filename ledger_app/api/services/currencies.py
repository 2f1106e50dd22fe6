"""Settlement currencies: deploying a currency's SettlementToken and listing it."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import select

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.lookups import is_active_with, participant_row, token_of
from ledger_app.api.services.writes import WriteOutcome, Writer
from ledger_app.db.schema import settlement_tokens
from ledger_app.errors import Conflict, NotFound

TOKEN = "SettlementToken"


class CurrencyService:
    """The currency operations of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.writer = Writer(runtime)

    def create(self, caller: Caller, currency: str, decimals: int, issuer: str) -> WriteOutcome:
        """Deploy and list the token of ``currency``; two transactions, the operator's."""
        listed = token_of(self.runtime.engine, currency)
        if listed is not None:
            raise Conflict(f"{currency} is already listed ({listed})",
                           error="RegistryCurrencyAlreadyListed", currency=currency, token=listed)  # fmt: skip
        if not is_active_with(participant_row(self.runtime.engine, issuer), "SETTLEMENT_BANK"):
            raise Conflict(f"{issuer} is not an active settlement bank",
                               error="IssuerNotSettlementBank", field="issuer")  # fmt: skip
        contracts = self.runtime.contracts
        creation = contracts.creation(
            TOKEN, (contracts.address("participants"), currency.encode(), decimals, issuer)
        )
        deployed = self.writer.write(caller, "currencies.deploy_token", creation)
        token = deployed.contract_address
        assert token is not None
        listing = contracts.call("participants", "listSettlementToken", currency.encode(), token)
        return self.writer.write(caller, "currencies.create", listing)

    def list(self) -> list[dict[str, Any]]:
        """Every listed currency, by code."""
        with self.runtime.engine.connect() as conn:
            rows = conn.execute(
                select(settlement_tokens)
                .where(settlement_tokens.c.currency.is_not(None))
                .order_by(settlement_tokens.c.currency)
            ).all()
        return [self._describe(row) for row in rows]

    def show(self, currency: str) -> dict[str, Any]:
        """One listed currency."""
        for entry in self.list():
            if entry["currency"] == currency:
                return entry
        raise NotFound(f"{currency} is not listed", error="CurrencyUnknown", currency=currency)

    def _describe(self, row: Any) -> dict[str, Any]:
        issuer, decimals = self._token_terms(row.address)
        return {
            "currency": row.currency,
            "token": to_checksum_address(row.address),
            "issuer": issuer,
            "decimals": decimals,
            "total_supply": str(row.total_supply),
            "listed_block": row.listed_block,
        }

    def _token_terms(self, token: str) -> tuple[str, int]:
        return _terms(self.runtime.client, self.runtime.contracts.abi(TOKEN), token)


def _terms(client: Any, abi: Any, token: str) -> tuple[str, int]:
    # Issuer and decimals are immutable: read once per token and kept.
    key = (client.rpc_url, token.lower())
    if key not in _TERMS:
        issuer = client.call_function(token, abi, "issuer")[0]
        decimals = client.call_function(token, abi, "decimals")[0]
        _TERMS[key] = (to_checksum_address(issuer), int(decimals))
    return _TERMS[key]


_TERMS: dict[tuple[str, str], tuple[str, int]] = {}
