"""Risk control's read models and queries against a real indexed chain.

The story (Ledger.risk_story) grants lines, caps a core, registers, voids, finances,
flags a root past the trigger and repays. The index is reconciled with the contracts'
views after every stage; the queries (ledger_app/db/risk_queries.py) are checked
against the contracts' views at past blocks; a reorg takes the new tables back with
everything else. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

from helpers import index_to_head, mismatches
from ledger import DAY, MAX_UINT, OVERDUE_TRIGGER_DAYS
from sqlalchemy import select, update

from ledger_app.audit.reconcile import digest
from ledger_app.db import risk_queries, schema

CHAIN = 31337


def test_risk_read_models_agree_with_the_contracts_after_every_stage(
    ledger, make_indexer, artifacts, engine
):
    indexer = make_indexer()
    stages: dict[str, int] = {}

    def reconcile_here(name: str) -> None:
        block = index_to_head(indexer)
        assert mismatches(indexer, artifacts, block) == [], name
        stages[name] = block

    ids = ledger.risk_story(reconcile_here)

    a = {n: acc.address.lower() for n, acc in ledger.accounts.items()}
    with engine.connect() as conn:
        lines = {r["line_id"]: r for r in risk_queries.lines(conn, at=ledger.now())}
        line1 = risk_queries.line(conn, ids["line1"], at=ledger.now())
        flags = risk_queries.open_flags(conn, open_only=False)
        payables = risk_queries.payables(conn, core=a["core"])
        history = conn.execute(
            select(schema.credit_line_history.c.event_name)
            .where(schema.credit_line_history.c.line_id == ids["line2"])
            .order_by(schema.credit_line_history.c.block_number)
        ).scalars()
        trigger = risk_queries.trigger_days(conn)
        restricted = risk_queries.restricted_cores(conn)
        bound = conn.execute(
            select(schema.events.c.args).where(
                schema.events.c.event_name == "ReceivableRiskControlBound"
            )
        ).scalar_one()
    assert json.loads(bound)["riskControl"] == ledger.addresses["risk"].lower()
    assert list(history) == [
        "CreditLineGranted", "CreditLineConsumed", "CreditLineFrozen", "CreditLineUnfrozen",
        "CreditLineReleased",
    ]  # fmt: skip
    assert (lines[ids["line1"]]["limit"], lines[ids["line1"]]["utilised"]) == (3_000_000_00, 0)
    assert lines[ids["line2"]]["expired"] is True  # 60 days, judged at the chain's clock
    assert line1["suppliers"] == [
        {"supplier": a["supplier"], "limit": 1_500_000_00, "utilised": 0, "headroom": 1_500_000_00}
    ]
    assert [(d["receivable_id"], d["amount"], d["release_cause"]) for d in line1["drawings"]] == [
        (ids["part"], 600_000_00, "REPAID")
    ]
    assert [(f["root_id"], f["open"], f["flagged_by"]) for f in flags] == [
        (ids["root_d"], False, a["supplier2"])
    ]
    assert payables == [
        {"core": a["core"], "currency": "CNY", "cap": 5_000_000_00, "outstanding": 0,
         "headroom": 5_000_000_00, "utilisation_bps": 0, "manager": a["financier"]}
    ]  # fmt: skip
    assert (trigger, restricted) == (OVERDUE_TRIGGER_DAYS, [])


def test_payables_and_open_flags_at_the_stage_the_core_is_restricted(
    ledger, make_indexer, artifacts, engine
):
    indexer = make_indexer()
    seen: dict[str, object] = {}

    def look(name: str) -> None:
        if name != "flagged":
            return
        block = index_to_head(indexer)
        with engine.connect() as conn:
            seen["payables"] = risk_queries.payables(conn)
            seen["restricted"] = risk_queries.restricted_cores(conn)
        core = ledger.accounts["core"].address
        seen["chain"] = ledger.view("risk", "payables", core, b"CNY")
        # A flag the index lost is still reported: by the core's count of open flags.
        with engine.begin() as conn:
            saved = conn.execute(select(schema.overdue_flags)).mappings().one()
            conn.execute(schema.overdue_flags.delete())
        seen["lost flag"] = mismatches(indexer, artifacts, block)
        with engine.begin() as conn:
            conn.execute(schema.overdue_flags.insert().values(**saved))

    ids = ledger.risk_story(look)

    core = ledger.accounts["core"].address.lower()
    # A and D owed; B rejected and C cancelled while pending are not.
    owed = 1_000_000_00 + 200_000_00
    assert [(p["core"], p["outstanding"], p["utilisation_bps"]) for p in seen["payables"]] == [
        (core, owed, owed * 10_000 // 5_000_000_00)
    ]
    assert seen["chain"][0] == owed
    due_d = _due_date(engine, ids["root_d"])
    assert seen["restricted"] == [{"core": core, "overdue_roots": 1, "oldest_due_date": due_d}]
    assert seen["lost flag"] == [f"overdue_flags[{core}].open flags: index 0, chain 1"]


def test_exposure_at_past_blocks_equals_the_lines_as_the_chain_had_them(
    ledger, make_indexer, engine
):
    indexer = make_indexer()
    stages: dict[str, int] = {}

    def mark(name: str) -> None:
        stages[name] = ledger.head()

    ids = ledger.risk_story(mark)
    index_to_head(indexer)
    financiers = {ids["line1"]: "financier", ids["line2"]: "financier2"}

    for name, block in stages.items():
        timestamp = ledger.client.get_block(block)["timestamp"]
        with engine.connect() as conn:
            report = risk_queries.exposure_at(conn, CHAIN, block, "financier")
        assert (report["block"], report["timestamp"]) == (block, timestamp), name
        rows = {r["financier"]: r for r in report["rows"]}
        for line_id, who in financiers.items():
            # financier, obligor, currency, status, frozen, programme, expiry, limit, utilised
            chain = ledger.view("lines", "creditLine", line_id, block=block)
            usable = chain[3] == 1 and timestamp <= chain[6]
            row = rows.get(ledger.accounts[who].address.lower())
            if row is None:
                assert not usable, (name, line_id)
                assert chain[8] == 0, (name, line_id)
                continue
            assert row["utilised"] == chain[8], (name, line_id)
            assert row["limit"] == (chain[7] if usable else 0), (name, line_id)
            assert row["lines"] == 1
    # At A's repayment line 2 has expired and is free: it is in no row any more.
    with engine.connect() as conn:
        final = risk_queries.exposure_at(conn, CHAIN, stages["A repaid"], "currency")
        by_obligor = risk_queries.exposure_at(conn, CHAIN, stages["financed"], "obligor")
        own = risk_queries.exposure_at(
            conn,
            CHAIN,
            stages["financed"],
            "financier",
            viewer=ledger.accounts["financier2"].address,
        )
    assert final["rows"] == [
        {"currency": "CNY", "limit": 3_000_000_00, "utilised": 0, "headroom": 3_000_000_00,
         "utilisation_bps": 0, "lines": 1}
    ]  # fmt: skip
    assert by_obligor["rows"] == [
        {"obligor": ledger.accounts["core"].address.lower(), "currency": "CNY",
         "limit": 2_500_000_00, "utilised": 800_000_00, "headroom": 1_700_000_00,
         "utilisation_bps": 3_200, "lines": 2}
    ]  # fmt: skip
    assert [r["financier"] for r in own["rows"]] == [ledger.accounts["financier2"].address.lower()]


def test_line_visibility_and_score_inputs(ledger, make_indexer, engine):
    ids = ledger.risk_story()
    index_to_head(make_indexer())
    a = {n: acc.address.lower() for n, acc in ledger.accounts.items()}
    now = ledger.now()

    with engine.connect() as conn:
        supplier_view = risk_queries.line(conn, ids["line1"], at=now, viewer=a["supplier"])
        outsider = risk_queries.line(conn, ids["line1"], at=now, viewer=a["supplier2"])
        listed = risk_queries.lines(conn, at=now, viewer=a["financier2"])
        supplier_list = risk_queries.lines(conn, at=now, viewer=a["supplier"], status="open")
        inputs = risk_queries.score_inputs(conn, CHAIN, a["core"], now)

    assert supplier_view is not None
    assert [s["supplier"] for s in supplier_view["suppliers"]] == [a["supplier"]]
    assert outsider is None
    assert [line["line_id"] for line in listed] == [ids["line2"]]
    assert [d["receivable_id"] for d in listed[0]["drawings"]] == [ids["root_d"]]
    # A supplier sees the programme line naming it (not line 2, which names nobody).
    assert [line["line_id"] for line in supplier_list] == [ids["line1"]]
    assert [d["receivable_id"] for d in supplier_list[0]["drawings"]] == [ids["part"]]
    assert [r["root_id"] for r in inputs["roots"]] == [ids["root_a"], ids["root_d"]]
    # D was paid 41 days after registration, 31 days past its due date; A a day late.
    assert (inputs["repaid_on_time"], inputs["repaid_late"]) == (0, 2)
    assert inputs["max_days_past_due"] == 31
    assert inputs["open_past_due"] == 0
    assert inputs["top_supplier_share_bps"] == 10_000  # one supplier
    assert inputs["volume"][1]["count"] == 2  # both registered 91 days ago
    assert inputs["age_days"] == 91


def test_a_tampered_risk_row_is_reported_by_reconcile(ledger, make_indexer, artifacts, engine):
    ids = ledger.risk_story()
    indexer = make_indexer()
    block = index_to_head(indexer)
    core = ledger.accounts["core"].address.lower()
    with engine.begin() as conn:
        conn.execute(
            update(schema.credit_lines)
            .where(schema.credit_lines.c.line_id == ids["line1"])
            .values(utilised=1, frozen=True)
        )
        conn.execute(
            update(schema.core_payables)
            .where(schema.core_payables.c.core == core)
            .values(outstanding=7)
        )
        conn.execute(
            update(schema.overdue_flags)
            .where(schema.overdue_flags.c.root_id == ids["root_d"])
            .values(cured_block=None)
        )
        conn.execute(
            update(schema.credit_line_drawings)
            .where(schema.credit_line_drawings.c.receivable_id == ids["part"])
            .values(released_block=None)
        )
        conn.execute(update(schema.risk_settings).values(overdue_trigger_days=5))

    found = sorted(mismatches(indexer, artifacts, block))

    assert found == sorted(
        [
            f"credit_lines[{ids['line1']}].utilised: index 1, chain 0",
            f"credit_lines[{ids['line1']}].frozen: index True, chain False",
            f"core_payables[{core}/CNY].outstanding: index 7, chain 0",
            f"overdue_flags[{ids['root_d']}].open: index True, chain False",
            f"overdue_flags[{core}].open flags: index 1, chain 0",
            f"credit_line_drawings[{ids['part']}].line_id: index {ids['line1']}, chain 0",
            f"credit_line_drawings[{ids['part']}].supplier: index "
            f"'{ledger.accounts['supplier'].address.lower()}', chain '0x{'00' * 20}'",
            f"credit_line_drawings[{ids['part']}].amount: index 60000000, chain 0",
            f"risk_settings[{ledger.addresses['risk'].lower()}].overdue_trigger_days: "
            f"index 5, chain {OVERDUE_TRIGGER_DAYS}",
        ]
    )


def test_a_reorg_takes_the_risk_rows_back_with_everything_else(
    ledger, make_indexer, artifacts, engine, tmp_path
):
    ledger.list_token(b"CNY")
    for who in ("financier", "financier2"):
        ledger.send("bank", "cny", "mint", ledger.accounts[who].address, 10_000_000_00)
    line = ledger.grant_line("financier", 1_000_000_00)
    rid = ledger.register(400_000_00, due_in=5 * DAY)
    ledger.send("supplier", "receivables", "confirm", rid)
    indexer = make_indexer()
    index_to_head(indexer)
    snapshot = ledger.rpc("evm_snapshot", [])
    ledger.send("financier", "lines", "amend", line, 2_000_000_00, ledger.now() + 300 * DAY)
    ledger._finance(rid, accepted="financier")
    ledger.warp((5 + OVERDUE_TRIGGER_DAYS + 1) * DAY)
    ledger.send("supplier", "risk", "flagOverdue", rid)
    ledger.send("operator", "risk", "setOverdueTrigger", 60)
    index_to_head(indexer)
    with engine.connect() as conn:
        assert risk_queries.restricted_cores(conn) != []
        assert conn.execute(select(schema.credit_line_drawings)).all() != []

    ledger.rpc("evm_revert", [snapshot])
    ledger.send("regulator", "lines", "freeze", line)  # the new chain's own change
    block = index_to_head(indexer)

    with engine.connect() as conn:
        assert risk_queries.restricted_cores(conn) == []
        assert risk_queries.trigger_days(conn) == OVERDUE_TRIGGER_DAYS
        assert conn.execute(select(schema.credit_line_drawings)).all() == []
        (only,) = risk_queries.lines(conn, at=ledger.now())
        events = conn.execute(
            select(schema.credit_line_history.c.event_name).order_by(
                schema.credit_line_history.c.block_number
            )
        ).scalars()
        assert list(events) == ["CreditLineGranted", "CreditLineFrozen"]
    assert (only["limit"], only["utilised"], only["frozen"]) == (1_000_000_00, 0, True)
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, CHAIN) == _fresh_digest(make_indexer, tmp_path, ledger)


def _due_date(engine, root_id: int) -> int:
    r = schema.receivables
    with engine.connect() as conn:
        return int(conn.execute(select(r.c.due_date).where(r.c.id == root_id)).scalar_one())


def _fresh_digest(make_indexer, tmp_path, ledger) -> str:
    from ledger_app.db import migrate
    from ledger_app.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/fresh-{ledger.head()}.db")
    migrate.upgrade(engine)
    index_to_head(make_indexer(engine=engine))
    return digest(engine, CHAIN)


def test_a_write_off_frees_the_line_and_the_later_redemption_frees_nothing_twice(
    ledger, make_indexer, artifacts, engine
):
    ledger.list_token(b"CNY")
    for who in ("core", "financier", "financier2"):
        ledger.send("bank", "cny", "mint", ledger.accounts[who].address, 10_000_000_00)
    line = ledger.grant_line("financier", 1_000_000_00)
    rid = ledger.register(400_000_00, due_in=5 * DAY)
    ledger.send("supplier", "receivables", "confirm", rid)
    financing = ledger._finance(rid, accepted="financier")
    ledger.warp(13 * DAY)  # past the due date and the offer's 7-day grace
    ledger.send("financier", "desk", "declareDefault", financing)
    # In two parts: the line falls by each; the drawing stays open for the recovery.
    ledger.send("financier", "lines", "writeOff", rid, 100_000_00)
    indexer = make_indexer()
    block = index_to_head(indexer)
    assert mismatches(indexer, artifacts, block) == []
    ledger.send("financier", "lines", "writeOff", rid, 300_000_00)
    block = index_to_head(indexer)
    assert mismatches(indexer, artifacts, block) == []
    with engine.connect() as conn:
        assert risk_queries.line(conn, line, at=ledger.now())["utilised"] == 0

    ledger.send("core", "cny", "approve", ledger.addresses["clearing"], MAX_UINT)
    ledger.send("core", "clearing", "repay", rid)
    ledger.send("financier", "clearing", "redeem", rid)
    block = index_to_head(indexer)

    assert mismatches(indexer, artifacts, block) == []
    with engine.connect() as conn:
        shown = risk_queries.line(conn, line, at=ledger.now())
    assert shown["utilised"] == 0
    (drawing,) = [d for d in shown["drawings"] if d["receivable_id"] == rid]
    assert (drawing["written_off"], drawing["recovered"]) == (str(400_000_00), str(400_000_00))
    # Released when the leaf was paid after all: recovered, what was written off kept.
    assert [(d["receivable_id"], d["release_cause"]) for d in shown["drawings"]] == [
        (rid, "RECOVERED")
    ]


def test_a_sale_and_a_buy_back_under_recourse_reconcile_and_roll_back(
    ledger, make_indexer, artifacts, engine, tmp_path
):
    ledger.list_token(b"CNY")
    for who in ("core", "financier", "financier2", "supplier"):
        ledger.send("bank", "cny", "mint", ledger.accounts[who].address, 10_000_000_00)
        ledger.send(who, "cny", "approve", ledger.addresses["desk"], MAX_UINT)
    ledger.grant_line("financier", 1_000_000_00)
    line2 = ledger.grant_line("financier2", 1_000_000_00)
    rid = ledger.register(400_000_00, due_in=5 * DAY)
    ledger.send("supplier", "receivables", "confirm", rid)
    ledger.send("supplier", "desk", "request", rid, ledger.accounts["financier"].address)
    fid = int(ledger.view("desk", "lastFinancingId"))
    terms = (9_000, 800, 365, True, DAY, ledger.now() + 3 * DAY, 0)
    ledger.send("financier", "desk", "offer", fid, terms)
    ledger.send("supplier", "desk", "accept", fid, 0)
    financier2 = ledger.accounts["financier2"].address
    ledger.send("financier", "desk", "offerSale", fid, financier2, 390_000_00, ledger.now() + DAY)
    ledger.send("financier2", "desk", "buySale", 1)
    indexer = make_indexer()
    block = index_to_head(indexer)
    assert mismatches(indexer, artifacts, block) == []

    ledger.warp(7 * DAY)
    ledger.send("financier2", "desk", "declareDefault", fid)
    claim = 400_000_00 * 9_000 // 10_000
    ledger.send("supplier", "desk", "payRecourse", fid, 100_000_00)
    index_to_head(indexer)
    # A reorg takes the payment back: the index forgets it too.
    ledger.rpc("anvil_rollback", [1])
    ledger.rpc("evm_mine", [])
    block = index_to_head(indexer)
    assert mismatches(indexer, artifacts, block) == []
    with engine.connect() as conn:
        f = schema.financings
        assert conn.execute(select(f.c.recourse_paid).where(f.c.id == fid)).scalar_one() == 0
        assert conn.execute(select(schema.recourse_payments)).all() == []

    ledger.send("supplier", "desk", "payRecourse", fid, 100_000_00)
    ledger.send("supplier", "desk", "payRecourse", fid, claim - 100_000_00)
    block = index_to_head(indexer)
    assert mismatches(indexer, artifacts, block) == []
    with engine.connect() as conn:
        row = conn.execute(select(schema.financings).where(schema.financings.c.id == fid)).one()
        assert (row.status, row.recourse_paid, row.financier) == (
            "BOUGHT_BACK",
            claim,
            financier2.lower(),
        )
        sale = conn.execute(select(schema.financing_sales)).one()
        assert (sale.status, sale.price, sale.seller) == (
            "SOLD",
            390_000_00,
            ledger.accounts["financier"].address.lower(),
        )
        assert risk_queries.line(conn, line2, at=ledger.now())["utilised"] == 0
        held = conn.execute(
            select(schema.receivables.c.holder, schema.receivables.c.status).where(
                schema.receivables.c.id == rid
            )
        ).one()
        assert tuple(held) == (ledger.accounts["supplier"].address.lower(), "OVERDUE")
    fresh = tmp_path / "fresh.db"
    from ledger_app.db import migrate
    from ledger_app.db.engine import make_engine

    rebuilt = make_engine(f"sqlite:///{fresh}")
    migrate.upgrade(rebuilt)
    index_to_head(make_indexer(engine=rebuilt))
    assert digest(rebuilt, CHAIN) == digest(engine, CHAIN)
