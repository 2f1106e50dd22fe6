"""FX PvP settlements and hash time locks: their read models and reconcile."""

from __future__ import annotations

from helpers import index_to_head, mismatches
from ledger import RATE_SCALE
from sqlalchemy import select, update

from ledger_app.db import schema


def rows(engine, table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def test_fx_and_htlc_read_models_match_the_chain(ledger, make_indexer, artifacts, engine):
    ids = ledger.fx_and_htlc()
    indexer = make_indexer()

    block = index_to_head(indexer)

    assert mismatches(indexer, artifacts, block) == []
    account = {name: a.address.lower() for name, a in ledger.accounts.items()}
    quotes = {q["quote_id"]: q for q in rows(engine, schema.fx_quotes)}
    used, spare = quotes["0x" + ids["quote"].hex()], quotes["0x" + ids["spare_quote"].hex()]
    assert (used["posted"], used["used"], used["rate"]) == (True, True, 14 * 10**16)
    assert (spare["posted"], spare["used"], spare["rate"]) == (True, False, 13 * 10**16)
    assert (used["provider"], used["sell_currency"], used["buy_currency"]) == (
        account["fxdesk"],
        "CNY",
        "USD",
    )
    (pvp,) = rows(engine, schema.pvp_settlements)
    assert pvp["uetr"] == "0x" + ids["uetr"].hex()
    assert (pvp["payer"], pvp["payee"], pvp["provider"]) == (
        account["core"],
        account["supplier2"],
        account["fxdesk"],
    )
    buy = 1_000_000 * 14 * 10**16 // RATE_SCALE
    assert (pvp["sell_amount"], pvp["buy_amount"], pvp["reference_id"]) == (1_000_000, buy, 7)
    locks = {lock["lock_id"]: lock for lock in rows(engine, schema.htlc_locks)}
    assert {i: (lock["state"], lock["amount"]) for i, lock in locks.items()} == {
        1: ("CLAIMED", 500_00),
        2: ("REFUNDED", 700_00),
        3: ("LOCKED", 900_00),
    }
    assert locks[1]["preimage"] == "0x" + ids["preimage"].hex()
    assert locks[3]["recipient"] == account["financier"]
    with engine.connect() as conn:
        balance = (
            select(schema.token_balances.c.balance)
            .where(schema.token_balances.c.token == ledger.addresses["usd"].lower())
            .where(schema.token_balances.c.account == account["supplier2"])
        )
        assert conn.execute(balance).scalar_one() == buy
        held = (
            select(schema.token_balances.c.balance)
            .where(schema.token_balances.c.token == ledger.addresses["cny"].lower())
            .where(schema.token_balances.c.account == ledger.addresses["htlc"].lower())
        )
        assert conn.execute(held).scalar_one() == 900_00  # only the open lock's tokens


def test_reconcile_reports_tampered_fx_and_htlc_rows(ledger, make_indexer, artifacts, engine):
    ids = ledger.fx_and_htlc()
    indexer = make_indexer()
    block = index_to_head(indexer)
    spare = "0x" + ids["spare_quote"].hex()
    with engine.begin() as conn:
        conn.execute(
            update(schema.htlc_locks)
            .where(schema.htlc_locks.c.lock_id == 3)
            .values(state="CLAIMED")
        )
        conn.execute(
            update(schema.fx_quotes).where(schema.fx_quotes.c.quote_id == spare).values(used=True)
        )
        conn.execute(
            update(schema.pvp_settlements).values(uetr="0x" + "ab" * 16)
        )  # a settlement the chain never saw

    found = mismatches(indexer, artifacts, block)

    assert sorted(found) == sorted(
        [
            "htlc_locks[3].state: index 'CLAIMED', chain 'LOCKED'",
            f"fx_quotes[{spare}].used: index True, chain False",
            f"pvp_settlements[0x{'ab' * 16}].uetr used: index True, chain False",
        ]
    )
