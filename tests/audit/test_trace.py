"""Traces of a multi-tier story, their verification against anvil, and the standalone verifier."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scenario import multi_tier
from sqlalchemy import select, update

from ledger_app import PROJECT_ROOT
from ledger_app.audit.encode import EventEncoder
from ledger_app.audit.trace import build_trace
from ledger_app.audit.verify import verify_trace
from ledger_app.db import schema
from ledger_app.domain.financing import days_to_maturity, discount

ZERO = "0x" + "00" * 20
SCRIPT = PROJECT_ROOT / "scripts" / "verify_trace.py"


def _trace(engine, abis, receivable_id, ledger=None):
    # With the ledger: its contracts and deployment block, for the completeness check.
    with engine.connect() as conn:
        if ledger is None:
            return build_trace(conn, 31337, receivable_id, EventEncoder(abis))
        return build_trace(conn, 31337, receivable_id, EventEncoder(abis), ledger.contracts(),
                           ledger.deployment_block)  # fmt: skip


def test_trace_of_multi_tier_story_matches_expected_tree(ledger, indexer, engine, abis):
    ids = multi_tier(ledger)
    indexer.run(follow=False)
    a = {n: acc.address.lower() for n, acc in ledger.accounts.items()}
    desk, clearing = ledger.addresses["desk"].lower(), ledger.addresses["clearing"].lower()
    fx = ledger.addresses["fx"].lower()
    root, kept, passed, financed, t2 = (
        ids[k] for k in ("root", "kept", "passed", "financed", "tier2_kept")
    )

    trace = _trace(engine, abis, financed)

    assert trace["root_id"] == root
    assert [(n["id"], n["parent_id"], n["tier"], n["children"], n["amount"], n["holder"], n["status"])
            for n in trace["receivables"]] == [
        (root, 0, 0, [kept, passed], "100000000", a["supplier"], "SPLIT"),
        (kept, root, 1, [], "60000000", a["supplier"], "SETTLED"),
        (passed, root, 1, [financed, t2], "40000000", a["supplier2"], "SPLIT"),
        (financed, passed, 2, [], "25000000", a["financier"], "SETTLED"),
        (t2, passed, 2, [], "15000000", a["supplier2"], "ACTIVE"),
    ]  # fmt: skip
    offer_block = ledger.client.get_block(trace["steps"][10]["block_number"])
    days = days_to_maturity(trace["receivables"][0]["due_date"], offer_block["timestamp"])
    cut = discount(25_000_000, 9_000, 800, days)  # 90% advance at 8% p.a., fee 10.00
    proceeds, cut = str(22_500_000 - cut - 1_000), str(cut)
    steps = [(s["receivable_id"], s["kind"], s["actors"],
              [(m["role"], m["amount"], m["currency"]) for m in s["amounts"]],
              s["details"].get("purpose") or s["details"].get("to"))
             for s in trace["steps"]]  # fmt: skip
    assert steps == [
        (root, "registration", {"debtor": a["core"], "creditor": a["supplier"]}, [("face", "100000000", "CNY")], None),
        (root, "status_change", {"actor": a["core"]}, [], "PENDING"),
        (root, "confirmation", {"actor": a["supplier"]}, [], "ACTIVE"),
        (root, "status_change", {"actor": a["supplier"]}, [], "SPLIT"),
        (root, "split", {"holder": a["supplier"]},
         [(f"child {kept}", "60000000", "CNY"), (f"child {passed}", "40000000", "CNY")], None),
        (passed, "transfer", {"from": a["supplier"], "to": a["supplier2"], "actor": a["supplier"]}, [], None),
        (passed, "status_change", {"actor": a["supplier2"]}, [], "SPLIT"),
        (passed, "split", {"holder": a["supplier2"]},
         [(f"child {financed}", "25000000", "CNY"), (f"child {t2}", "15000000", "CNY")], None),
        (financed, "status_change", {"actor": a["supplier2"]}, [], "FINANCING"),
        (financed, "financing_request", {"supplier": a["supplier2"], "financier": ZERO}, [], None),
        (financed, "financing_offer", {"financier": a["financier"]},
         [("advance", "22500000", "CNY"), ("discount", cut, "CNY"), ("fee", "1000", "CNY"),
          ("proceeds", proceeds, "CNY")], None),
        (financed, "token_transfer", {"from": a["financier"], "to": desk}, [("value", proceeds, "CNY")], "escrow"),
        (financed, "financing_offer", {"financier": a["financier2"]},
         [("advance", "22500000", "CNY"), ("discount", cut, "CNY"), ("fee", "1000", "CNY"),
          ("proceeds", proceeds, "CNY")], None),
        (financed, "token_transfer", {"from": a["financier2"], "to": desk}, [("value", proceeds, "CNY")], "escrow"),
        # The accept draws the face amount on the line financier granted core.
        (financed, "credit_line_drawing", {"supplier": a["supplier2"], "financier": a["financier"]},
         [("drawn", "25000000", "CNY"), ("line utilised", "25000000", "CNY")], None),
        (financed, "status_change", {"actor": desk}, [], "FINANCED"),
        (financed, "transfer", {"from": a["supplier2"], "to": a["financier"], "actor": desk}, [], None),
        (financed, "financing_acceptance", {"supplier": a["supplier2"], "financier": a["financier"]},
         [("proceeds", proceeds, "CNY")], None),
        (financed, "token_transfer", {"from": desk, "to": a["supplier2"]}, [("value", proceeds, "CNY")],
         "disbursement"),
        (financed, "offer_closed", {"actor": a["supplier2"]}, [("refunded", proceeds, "CNY")], None),
        (financed, "token_transfer", {"from": desk, "to": a["financier2"]}, [("value", proceeds, "CNY")],
         "escrow_refund"),
        (root, "cross_border_settlement", {"payer": a["core"], "payee": a["supplier2"], "provider": a["fxdesk"]},
         [("sold", "100000", "CNY"), ("bought", "14000", "USD")], None),
        (root, "token_transfer", {"from": a["core"], "to": a["fxdesk"]}, [("value", "100000", "CNY")], "pvp_leg"),
        (root, "token_transfer", {"from": a["fxdesk"], "to": a["supplier2"]}, [("value", "14000", "USD")], "pvp_leg"),
        (root, "repayment", {"debtor": a["core"]}, [("repaid", "100000000", "CNY")], None),
        (root, "token_transfer", {"from": a["core"], "to": clearing}, [("value", "100000000", "CNY")], "repayment"),
        (kept, "settled", {"actor": clearing}, [], "SETTLED"),
        (kept, "settlement", {"holder": a["supplier"]},
         [("paid", "60000000", "CNY"), ("root outstanding", "40000000", "CNY")], None),
        (kept, "redemption", {"holder": a["supplier"]}, [("paid", "60000000", "CNY")], None),
        (kept, "token_transfer", {"from": clearing, "to": a["supplier"]}, [("value", "60000000", "CNY")],
         "redemption_payout"),
        (financed, "settled", {"actor": clearing}, [], "SETTLED"),
        (financed, "settlement", {"holder": a["financier"]},
         [("paid", "25000000", "CNY"), ("root outstanding", "15000000", "CNY")], None),
        (financed, "redemption", {"holder": a["financier"]}, [("paid", "25000000", "CNY")], None),
        # Its redemption frees the line.
        (financed, "credit_line_release", {"financier": a["financier"]},
         [("released", "25000000", "CNY"), ("line utilised", "0", "CNY")], None),
        (financed, "token_transfer", {"from": clearing, "to": a["financier"]}, [("value", "25000000", "CNY")],
         "redemption_payout"),
    ]  # fmt: skip
    assert fx == trace["steps"][21]["contract"]
    assert [s["seq"] for s in trace["steps"]] == list(range(1, 36))
    drawing, release = (next(s for s in trace["steps"] if s["kind"] == kind)
                        for kind in ("credit_line_drawing", "credit_line_release"))  # fmt: skip
    assert drawing["details"] == {"line_id": ids["line"], "financing_id": ids["financing"]}
    assert release["details"] == {"line_id": ids["line"], "cause": "REPAID"}
    assert drawing["contract"] == release["contract"] == ledger.addresses["lines"].lower()
    positions = [(s["block_number"], s["log_index"]) for s in trace["steps"]]
    assert positions == sorted(positions)
    for step in trace["steps"]:
        block = ledger.client.get_block(step["block_number"])
        assert step["block_hash"] == "0x" + bytes(block["hash"]).hex()
        assert step["block_timestamp"] == block["timestamp"]
    # Every receivable of the tree has the same trace.
    assert _trace(engine, abis, t2)["steps"] == trace["steps"]


def test_verify_reports_every_step_verified_on_untouched_index(ledger, indexer, engine, abis):
    ids = multi_tier(ledger)
    indexer.run(follow=False)

    result = verify_trace(_trace(engine, abis, ids["root"], ledger), indexer.rpc, abis)

    assert result["verified"] is True
    assert len(result["steps"]) == 35
    assert {s["status"] for s in result["steps"] + result["receivables"]} == {"verified"}
    kinds = [s["kind"] for s in result["steps"]]
    assert kinds.count("credit_line_drawing") == kinds.count("credit_line_release") == 1


def test_verify_detects_a_credit_line_drawing_changed_in_sql(ledger, indexer, engine, abis):
    ids = multi_tier(ledger)
    indexer.run(follow=False)
    e = schema.events
    with engine.begin() as conn:
        tx, index, args = conn.execute(
            select(e.c.tx_hash, e.c.log_index, e.c.args)
            .where(e.c.event_name == "CreditLineConsumed")
        ).one()  # fmt: skip
        conn.execute(update(e).where(e.c.tx_hash == tx, e.c.log_index == index)
                     .values(args=args.replace('"amount":25000000', '"amount":2500000')))  # fmt: skip

    result = verify_trace(_trace(engine, abis, ids["financed"], ledger), indexer.rpc, abis)

    assert result["verified"] is False
    bad = [s for s in result["steps"] if s["status"] == "mismatch"]
    assert [(s["tx_hash"], s["log_index"], s["kind"]) for s in bad] == [
        (tx, index, "credit_line_drawing")
    ]
    assert bad[0]["reasons"] == [
        "arguments differ from the chain's log: amount: trace 2500000, chain 25000000"
    ]


def test_verify_detects_amount_changed_in_sql(ledger, indexer, engine, abis):
    ids = multi_tier(ledger)
    indexer.run(follow=False)
    e = schema.events
    with engine.begin() as conn:
        tx, index, args = conn.execute(
            select(e.c.tx_hash, e.c.log_index, e.c.args).where(e.c.event_name == "ReceivableSplit")
            .order_by(e.c.block_number)
        ).first()  # fmt: skip
        conn.execute(update(e).where(e.c.tx_hash == tx, e.c.log_index == index)
                     .values(args=args.replace("60000000", "61000000")))  # fmt: skip
        conn.execute(update(schema.receivables).where(schema.receivables.c.id == ids["passed"])
                     .values(amount=39_000_000))  # fmt: skip

    result = verify_trace(_trace(engine, abis, ids["root"], ledger), indexer.rpc, abis)

    assert result["verified"] is False
    bad = [s for s in result["steps"] if s["status"] == "mismatch"]
    assert [(s["tx_hash"], s["log_index"], s["kind"]) for s in bad] == [(tx, index, "split")]
    assert bad[0]["reasons"] == [
        "arguments differ from the chain's log: amounts: trace [61000000, 40000000], chain [60000000, 40000000]"
    ]
    wrong = [r for r in result["receivables"] if r["status"] == "mismatch"]
    assert wrong == [{"id": ids["passed"], "status": "mismatch",
                      "reasons": ["amount: index '39000000', chain '40000000'"]}]  # fmt: skip


def test_verify_detects_reorged_away_step(ledger, indexer, engine, abis):
    ids = multi_tier(ledger)
    snapshot = ledger.rpc("evm_snapshot", [])
    ledger.send(
        "supplier2",
        "receivables",
        "transfer",
        ids["tier2_kept"],
        ledger.accounts["supplier"].address,
    )
    indexer.run(follow=False)  # the index now holds the transfer
    ledger.rpc("evm_revert", [snapshot])
    # A different transaction takes the reorged-away block's place.
    ledger.send("regulator", "receivables", "freeze", ids["tier2_kept"])

    result = verify_trace(_trace(engine, abis, ids["tier2_kept"], ledger), indexer.rpc, abis)

    bad = [s for s in result["steps"] if s["status"] == "mismatch"]
    assert [s["kind"] for s in bad] == ["transfer"]
    assert any("reorged away" in r for r in bad[0]["reasons"])
    assert any("reorged?" in r for r in bad[0]["reasons"])
    assert result["verified"] is False


def _run_script(tmp_path: Path, trace: dict, rpc_url: str) -> subprocess.CompletedProcess:
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(trace))
    return subprocess.run([sys.executable, str(SCRIPT), str(path), rpc_url,
                           str(PROJECT_ROOT / ".build" / "__local__.json")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_standalone_verifier_accepts_export_and_rejects_tampered_one(
    ledger, indexer, engine, abis, anvil, tmp_path
):
    ids = multi_tier(ledger)
    indexer.run(follow=False)
    trace = json.loads(json.dumps(_trace(engine, abis, ids["root"], ledger)))

    good = _run_script(tmp_path, trace, anvil.rpc_url)
    # The claim changed but the raw log kept: the raw log contradicts it.
    trace["steps"][0]["args"]["amount"] = 999
    claim = _run_script(tmp_path, trace, anvil.rpc_url)
    # The raw log changed too, consistently: the chain contradicts it.
    trace["steps"][0]["raw"]["data"] = trace["steps"][0]["raw"]["data"].replace(
        f"{100_000_000:064x}", f"{999:064x}"
    )
    raw = _run_script(tmp_path, trace, anvil.rpc_url)

    assert good.returncode == 0, good.stdout + good.stderr
    assert "trace VERIFIED" in good.stdout
    assert claim.returncode == 1
    assert "amount: the raw log says 100000000, the step 999" in claim.stdout
    assert raw.returncode == 1
    assert "the log's data differs" in raw.stdout


def test_an_overdue_flag_and_its_cure_are_verified_steps_of_the_root(ledger, indexer, engine, abis):
    ids = ledger.risk_story()
    indexer.run(follow=False)
    a = {n: acc.address.lower() for n, acc in ledger.accounts.items()}

    trace = _trace(engine, abis, ids["root_d"], ledger)
    result = verify_trace(trace, indexer.rpc, abis)

    risk_steps = [
        (s["receivable_id"], s["kind"], s["actors"], s["details"])
        for s in trace["steps"]
        if s["contract_kind"] in ("RiskControl", "CreditLines")
    ]
    due = trace["receivables"][0]["due_date"]
    assert risk_steps == [
        (ids["root_d"], "credit_line_drawing", {"supplier": a["supplier"], "financier": a["financier2"]},
         {"line_id": ids["line2"], "financing_id": ids["financing_d"]}),
        (ids["root_d"], "overdue_flag", {"debtor": a["core"], "actor": a["supplier2"]},
         {"due_date": due, "overdue_roots": 1}),
        (ids["root_d"], "overdue_cure", {"debtor": a["core"]}, {"overdue_roots": 0}),
        (ids["root_d"], "credit_line_release", {"financier": a["financier2"]},
         {"line_id": ids["line2"], "cause": "REPAID"}),
    ]  # fmt: skip
    assert result["verified"] is True
    assert {s["status"] for s in result["steps"]} == {"verified"}
