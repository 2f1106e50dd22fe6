"""The ISO 20022 documents of a PvP settlement: pacs.008 (customer credit transfer),
pacs.009 (financial-institution credit transfer) and pacs.002 (its status, ACSC), from
the indexed settlement, its block, the parties' records and the tokens' issuers.

A maturity payment into clearing names as creditors the holders of the root's leaves,
each with its share; the clearing contract is only the account it passes through.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import select

from ledger_app.api.runtime import Runtime
from ledger_app.api.services.lookups import participant_row
from ledger_app.api.services.tokens import TokenService
from ledger_app.db.api_tables import api_keys
from ledger_app.db.schema import fx_quotes, receivables, settlement_tokens
from ledger_app.domain.lei import lei_text
from ledger_app.errors import Conflict
from ledger_app.iso20022 import (
    PACS008,
    PACS009,
    Agent,
    CreditorShare,
    FxConversion,
    InvalidMessageData,
    Money,
    OnChainReference,
    Party,
    Settled,
    Settlement,
    build_pacs002,
    build_pacs008,
    build_pacs009,
)


class SettlementMessages:
    """Builds the ISO 20022 messages of indexed settlements."""

    def __init__(self, runtime: Runtime, tokens: TokenService) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.tokens = tokens

    def document(self, row: Any, uetr: uuid.UUID, message: str) -> bytes:
        """The settlement ``row`` as pacs.008, pacs.009 or (its status, ACSC) pacs.002."""
        try:
            settlement = self._settlement(row, uetr)
            if message == PACS008:
                return build_pacs008(settlement)
            if message == PACS009:
                return build_pacs009(settlement)
            return build_pacs002(
                settlement, Settled(settlement.settlement_date, settlement.on_chain)
            )
        except InvalidMessageData as exc:
            raise Conflict(
                f"the settlement cannot be expressed as {message}: {exc}",
                error="InvalidMessageData",
                message_name=message,
            ) from exc

    def _settlement(self, row: Any, uetr: uuid.UUID) -> Settlement:
        decimals = self._decimals()
        block = self.runtime.client.get_block(int(row.block_number))
        at = datetime.fromtimestamp(int(block["timestamp"]), UTC)
        purpose = bytes.fromhex(row.purpose[2:]).rstrip(b"\0").decode() or None
        shares = self._clearing_shares(row, decimals[row.buy_currency])
        return Settlement(
            uetr=uetr,
            amount=Money(int(row.buy_amount), row.buy_currency, decimals[row.buy_currency]),
            debtor=self._party(row.payer),
            creditor=shares[0].creditor if shares else self._party(row.payee),
            shares=shares,
            debtor_agent=self._agent(row.sell_currency),
            creditor_agent=self._agent(row.buy_currency),
            settlement_date=at,
            purpose=purpose,
            remittance=f"reference {row.reference_id}" if int(row.reference_id) else None,
            fx=FxConversion(
                instructed=Money(
                    int(row.sell_amount), row.sell_currency, decimals[row.sell_currency]
                ),
                rate=int(self._quote_rate(row.quote_id)),
                quote_id=row.quote_id,
            ),
            on_chain=OnChainReference(
                chain_id=self.runtime.chain_id,
                tx_hash=row.tx_hash,
                block_number=int(row.block_number),
                block_hash=_hex(block["hash"]),
            ),
        )

    def _clearing_shares(self, row: Any, decimals: int) -> tuple[CreditorShare, ...]:
        """For a maturity payment into clearing (payee MaturityClearing, reference the
        root): the creditors are the holders of the root's leaves, each paid its leaves'
        amounts; the clearing contract is only the account it passes through."""
        clearing = self.runtime.contracts.address("maturity_clearing").lower()
        if row.payee.lower() != clearing or not int(row.reference_id):
            return ()
        with self.engine.connect() as conn:
            leaves = conn.execute(
                select(receivables.c.holder, receivables.c.amount)
                .where(
                    receivables.c.root_id == int(row.reference_id),
                    receivables.c.child_count == 0,
                )
                .order_by(receivables.c.id)
            ).all()
        owed: dict[str, int] = {}
        for holder, amount in leaves:
            owed[holder.lower()] = owed.get(holder.lower(), 0) + int(amount)
        return tuple(
            CreditorShare(self._party(holder), Money(amount, row.buy_currency, decimals))
            for holder, amount in owed.items()
        )

    def _decimals(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            listed = (
                conn.execute(
                    select(settlement_tokens.c.currency).where(
                        settlement_tokens.c.currency.is_not(None)
                    )
                )
                .scalars()
                .all()
            )
        return {currency: self.tokens.terms(currency)[1] for currency in listed}

    def _quote_rate(self, quote_id: str) -> int:
        with self.engine.connect() as conn:
            rate = conn.execute(
                select(fx_quotes.c.rate).where(fx_quotes.c.quote_id == quote_id)
            ).scalar()
        return int(rate or 0)

    def _party(self, address: str) -> Party:
        row = participant_row(self.engine, address)
        return Party(
            name=self._name(address),
            lei=_lei(row),
            country=row.jurisdiction if row is not None else None,
        )

    def _agent(self, currency: str) -> Agent:
        issuer, _decimals = self.tokens.terms(currency)
        lei = _lei(participant_row(self.engine, issuer))
        if lei is None:
            raise InvalidMessageData(f"the settlement bank of {currency} has no LEI")
        return Agent(lei=lei, name=self._name(issuer))

    def _name(self, address: str) -> str:
        with self.engine.connect() as conn:
            label = conn.execute(
                select(api_keys.c.label)
                .where(
                    api_keys.c.participant.in_((address.lower(), to_checksum_address(address))),
                    api_keys.c.label.is_not(None),
                )
                .limit(1)
            ).scalar()
        return label or f"Participant {to_checksum_address(address)}"


def _lei(row: Any) -> str | None:
    text = lei_text(row.lei) if row is not None else None
    return text if text and len(text) == 20 and not text.startswith("0x") else None


def _hex(value: Any) -> str:
    if isinstance(value, str):
        return value if value.startswith("0x") else "0x" + value
    return "0x" + bytes(value).hex()
