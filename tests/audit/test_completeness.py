"""Completeness: the tree rebuilt from the node's logs alone against the trace from the
index (ledger_app/audit/completeness.py and scripts/verify_trace.py's own copy).

One story per test; each tampering is made inside a transaction on the index and rolled
back, so that one story serves every kind of step."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from scenario import multi_tier
from sqlalchemy import Connection, delete, insert, select, update

from ledger_app import PROJECT_ROOT
from ledger_app.audit.completeness import compare, rebuild
from ledger_app.audit.encode import EventEncoder
from ledger_app.audit.text import render_tree
from ledger_app.audit.trace import build_trace
from ledger_app.audit.verify import verify_trace
from ledger_app.db import schema
from ledger_app.errors import RangeTooLargeError

SCRIPT = PROJECT_ROOT / "scripts" / "verify_trace.py"
MANIFEST = PROJECT_ROOT / ".build" / "__local__.json"


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("verify_trace_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STANDALONE = _script()


def _trace(conn: Connection, abis, ledger, receivable_id: int) -> dict[str, Any]:
    trace = build_trace(conn, 31337, receivable_id, EventEncoder(abis), ledger.contracts(),
                        ledger.deployment_block)  # fmt: skip
    return json.loads(json.dumps(trace))  # as an exported file would carry it


@contextlib.contextmanager
def _tampered(engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


def _standalone(trace: dict[str, Any], rpc_url: str) -> tuple[bool, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ok = STANDALONE.verify_completeness(trace, rpc_url, STANDALONE.load_abis(MANIFEST))
    return ok, out.getvalue()


def _both(trace, indexer, abis, anvil) -> tuple[dict[str, Any], bool, str]:
    api = verify_trace(trace, indexer.rpc, abis)
    ok, text = _standalone(trace, anvil.rpc_url)
    return api, ok, text


def _problems(api: dict[str, Any], key: str) -> list[str]:
    return [p["reason"] for p in api["completeness"][key]]


@pytest.fixture
def story(ledger, indexer) -> dict[str, Any]:
    ids = multi_tier(ledger)
    # The HTLC leg of the cross-border settlement: a lock carrying its UETR, claimed.
    secret = keccak_bytes(b"completeness-secret")
    ledger.send("core", "cny", "approve", ledger.addresses["htlc"], 2**256 - 1)
    ledger.send("core", "htlc", "lock", ledger.addresses["cny"], ledger.accounts["supplier2"].address,
                100_00, hashlib.sha256(secret).digest(), ledger.now() + 86_400,
                bytes.fromhex(ids["uetr"][2:]))  # fmt: skip
    ledger.send("supplier2", "htlc", "claim", 1, secret)
    indexer.run(follow=False)
    return ids


def keccak_bytes(data: bytes) -> bytes:
    from eth_utils import keccak

    return keccak(data)


def test_untouched_trace_is_complete_in_both_verifiers_and_they_rebuild_the_same_tree(
    story, ledger, engine, abis, indexer, anvil, tmp_path
):
    with engine.connect() as conn:
        trace = _trace(conn, abis, ledger, story["root"])
    api, ok, text = _both(trace, indexer, abis, anvil)

    assert api["verified"] is True, api["completeness"]
    c = api["completeness"]
    assert c["complete"]
    assert c["checked"]
    assert c["contracts"]["problems"] == []
    assert c["chain_steps"] == c["trace_steps"] == len(trace["steps"])
    assert c["chain_receivables"] == 5
    assert {"htlc_lock", "htlc_claim", "cross_border_settlement"} <= {
        s["kind"] for s in trace["steps"]
    }
    assert c["rpc"]["requests"] >= 1
    assert c["rpc"]["logs_fetched"] >= c["chain_steps"] - 20
    assert ok, text
    assert "the trace is COMPLETE" in text
    # The two copies of the rule rebuild the same tree, step for step.
    chain = rebuild(indexer.rpc, abis, trace["contracts"], story["root"], trace["from_block"],
                    trace["as_of_block"])  # fmt: skip
    tree, steps = STANDALONE.rebuild(STANDALONE.Rpc(anvil.rpc_url), STANDALONE.load_abis(MANIFEST),
                                     trace["contracts"], story["root"], trace["from_block"],
                                     trace["as_of_block"])  # fmt: skip
    fields = ("receivable_id", "kind", "event", "contract", "tx_hash", "log_index", "args")
    assert [tuple(s[f] for f in fields) for s in steps] == [
        tuple(s[f] for f in fields) for s in chain.steps
    ]
    assert tree == chain.receivables
    # And the file an auditor runs says so, with its cost.
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(trace))
    run = subprocess.run([sys.executable, str(SCRIPT), str(path), anvil.rpc_url, str(MANIFEST)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "the trace is COMPLETE" in run.stdout
    assert "requests" in run.stdout


def test_each_kind_of_step_deleted_from_the_index_is_named_missing_by_both(
    story, ledger, engine, abis, indexer, anvil
):
    with engine.connect() as conn:
        full = _trace(conn, abis, ledger, story["root"])
    first_of_kind: dict[str, dict[str, Any]] = {}
    for step in full["steps"]:
        first_of_kind.setdefault(step["kind"], step)
    assert sorted(first_of_kind) == [
        "confirmation", "credit_line_drawing", "credit_line_release", "cross_border_settlement",
        "financing_acceptance", "financing_offer", "financing_request", "htlc_claim", "htlc_lock",
        "offer_closed", "redemption", "registration", "repayment", "settled", "settlement",
        "split", "status_change", "token_transfer", "transfer",
    ]  # fmt: skip
    _delete_each(first_of_kind, story["root"], ledger, engine, abis, indexer, anvil)


def test_the_overdue_flag_and_cure_deleted_from_the_index_are_named_missing_by_both(
    ledger, indexer, engine, abis, anvil
):
    ids = ledger.risk_story()
    indexer.run(follow=False)
    with engine.connect() as conn:
        full = _trace(conn, abis, ledger, ids["root_d"])
    kinds = {s["kind"]: s for s in full["steps"] if s["kind"] in ("overdue_flag", "overdue_cure")}
    assert sorted(kinds) == ["overdue_cure", "overdue_flag"]
    _delete_each(kinds, ids["root_d"], ledger, engine, abis, indexer, anvil)


def _delete_each(
    steps: dict[str, dict[str, Any]], root: int, ledger, engine, abis, indexer, anvil
) -> None:
    """Each of ``steps`` (by kind) deleted from the index in turn: both verifiers name it."""
    e = schema.events
    for kind, step in steps.items():
        with _tampered(engine) as conn:
            gone = conn.execute(delete(e).where(e.c.tx_hash == step["tx_hash"],
                                                e.c.log_index == step["log_index"])).rowcount  # fmt: skip
            assert gone == 1
            trace = _trace(conn, abis, ledger, root)
        api, ok, text = _both(trace, indexer, abis, anvil)
        named = (f"missing step: {kind} of receivable #{step['receivable_id']} "
                 f"(tx {step['tx_hash']} log {step['log_index']})")  # fmt: skip
        assert api["verified"] is False, kind
        missing = api["completeness"]["missing_steps"]
        assert [m["reason"] for m in missing if m["reason"].startswith(named)], (kind, missing)
        # Only it, and the token transfers of its transaction (which the index finds by
        # a traced event of theirs: with it gone, the trace lost them too).
        assert all(m["tx_hash"] == step["tx_hash"] and (m["log_index"] == step["log_index"]
                   or m["kind"] == "token_transfer") for m in missing), (kind, missing)  # fmt: skip
        assert not ok, (kind, text)
        assert named in text, (kind, text)


def test_deleted_subtree_moved_fabricated_and_reordered_steps_are_each_named_by_both(
    story, ledger, engine, abis, indexer, anvil
):
    e, r = schema.events, schema.receivables
    passed = story["passed"]
    # A subtree: the 400,000.00 part passed to supplier2, and both its parts.
    subtree = [passed, story["financed"], story["tier2_kept"]]
    with _tampered(engine) as conn:
        conn.execute(delete(e).where(e.c.receivable_id.in_(subtree)))
        conn.execute(delete(r).where(r.c.id.in_(subtree)))
        trace = _trace(conn, abis, ledger, story["root"])
    api, ok, text = _both(trace, indexer, abis, anvil)
    (lost,) = api["completeness"]["missing_subtrees"]
    assert lost["receivable_id"] == passed
    assert lost["receivables"] == sorted(subtree)
    assert lost["steps"] > 10
    assert api["completeness"]["missing_steps"] == []  # the subtree's steps are named once
    assert api["verified"] is False
    assert not ok
    assert f"missing subtree: receivable #{passed} (child of #{story['root']})" in text
    # The text tree (`ledger-app trace --verify`) names it too.
    assert f"  ! receivable #{passed} (child of #{story['root']})" in render_tree(trace, api)

    # A step moved to another receivable: the financing's acceptance shown for the root.
    with engine.connect() as conn:
        accept = conn.execute(select(e.c.tx_hash, e.c.log_index).where(
            e.c.event_name == "FinancingAccepted")).one()  # fmt: skip
    with _tampered(engine) as conn:
        conn.execute(update(e).where(e.c.tx_hash == accept.tx_hash, e.c.log_index == accept.log_index)
                     .values(receivable_id=story["root"]))  # fmt: skip
        trace = _trace(conn, abis, ledger, story["root"])
    api, ok, text = _both(trace, indexer, abis, anvil)
    wrong = (f"financing_acceptance (tx {accept.tx_hash} log {accept.log_index}) is shown for "
             f"receivable #{story['root']}; on chain it belongs to #{story['financed']}")  # fmt: skip
    # The disbursement moves with it (a transfer belongs to the step it pays for).
    assert _problems(api, "misattributed_steps")[0] == wrong
    assert api["verified"] is False
    assert not ok
    assert f"misattributed step: {wrong}" in text

    # A fabricated step: a transfer of the root that never happened, in a real transaction.
    with engine.connect() as conn:
        row = conn.execute(select(e).where(e.c.event_name == "ReceivableTransferred",
                                           e.c.receivable_id == passed)).mappings().first()  # fmt: skip
    with _tampered(engine) as conn:
        fake = dict(row) | {
            "log_index": 77,
            "receivable_id": story["root"],
        }
        conn.execute(insert(e).values(**fake))
        trace = _trace(conn, abis, ledger, story["root"])
    api, ok, text = _both(trace, indexer, abis, anvil)
    extra = (f"extra step: transfer shown for receivable #{story['root']} (tx {row['tx_hash']} "
             f"log 77) is no log of this tree on chain")  # fmt: skip
    assert _problems(api, "extra_steps") == [extra]
    assert api["verified"] is False
    assert not ok
    assert extra in text

    # Two steps swapped in the file.
    with engine.connect() as conn:
        trace = _trace(conn, abis, ledger, story["root"])
    steps = trace["steps"]
    steps[3], steps[4] = steps[4], steps[3]
    api, ok, text = _both(trace, indexer, abis, anvil)
    (swap,) = api["completeness"]["reordered_steps"]
    assert swap["steps"][0]["log_index"] == steps[3]["log_index"]
    assert "the chain has them the other way round" in swap["reason"]
    assert api["verified"] is False
    assert not ok
    assert "reordered steps:" in text


def test_a_trace_without_its_contract_list_is_not_verified(
    story, ledger, engine, abis, indexer, anvil
):
    with engine.connect() as conn:
        trace = build_trace(conn, 31337, story["root"], EventEncoder(abis))
    api, ok, text = _both(trace, indexer, abis, anvil)
    assert api["verified"] is False
    assert api["completeness"]["checked"] is False
    assert not ok
    assert "names no ledger contracts" in text


def test_a_contract_list_naming_a_stranger_as_the_desk_is_refused(
    story, ledger, engine, abis, indexer, anvil
):
    with engine.connect() as conn:
        trace = _trace(conn, abis, ledger, story["root"])
    desk = ledger.addresses["desk"].lower()
    stranger = ledger.addresses["cny"].lower()  # a contract, but not the desk
    trace["contracts"] = {a: k for a, k in trace["contracts"].items() if a != desk}
    trace["contracts"][stranger] = "FinancingDesk"
    api, ok, text = _both(trace, indexer, abis, anvil)
    assert (
        f"FinancingDesk {stranger} is no ledger contract of the participant registry"
        in (api["completeness"]["contracts"]["problems"])
    )
    assert api["verified"] is False
    assert not ok
    assert f"FinancingDesk {stranger} is no ledger contract" in text


class _Refusing:
    """The node as one that refuses eth_getLogs over more than ``most`` blocks (as
    providers do), in the error each verifier reads: the API's RangeTooLargeError, the
    script's RangeRefused."""

    def __init__(self, inner: Any, most: int, error: type[Exception]) -> None:
        self.inner, self.most, self.error, self.refused = inner, most, error, 0

    def batch(self, calls: list) -> list:
        for method, params in calls:
            if method == "eth_getLogs":
                span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) + 1
                if span > self.most:
                    self.refused += 1
                    raise self.error(f"eth_getLogs: block range too large ({span} blocks)")
        return self.inner.batch(calls)


def test_a_node_refusing_large_ranges_gets_halved_spans_and_the_same_tree(
    story, ledger, engine, abis, indexer, anvil
):
    with engine.connect() as conn:
        trace = _trace(conn, abis, ledger, story["root"])
    wide = rebuild(indexer.rpc, abis, trace["contracts"], story["root"], trace["from_block"],
                   trace["as_of_block"])  # fmt: skip
    node = _Refusing(indexer.rpc, 8, RangeTooLargeError)
    narrow = rebuild(node, abis, trace["contracts"], story["root"], trace["from_block"],
                     trace["as_of_block"], max_span=1000)  # fmt: skip
    assert node.refused >= 7  # 1000 -> 500 -> ... -> 7
    assert narrow.cost.refused_ranges == node.refused
    assert narrow.cost.get_logs > wide.cost.get_logs
    assert narrow.steps == wide.steps
    assert compare(trace, narrow)["complete"] is True

    script_abis = STANDALONE.load_abis(MANIFEST)
    refusing = _Refusing(STANDALONE.Rpc(anvil.rpc_url), 8, STANDALONE.RangeRefused)
    tree, steps = STANDALONE.rebuild(_ScriptRpc(refusing), script_abis, trace["contracts"],
                                     story["root"], trace["from_block"], trace["as_of_block"], 1000)  # fmt: skip
    assert refusing.refused >= 7
    assert tree == wide.receivables
    assert [(s["tx_hash"], s["log_index"], s["receivable_id"]) for s in steps] == [
        (s["tx_hash"], s["log_index"], s["receivable_id"]) for s in wide.steps
    ]


class _ScriptRpc:
    """The script's Rpc counters over a refusing node."""

    def __init__(self, node: _Refusing) -> None:
        self.node = node
        self.get_logs = self.receipts = self.logs = self.refused = 0

    def batch(self, calls: list) -> list:
        return self.node.batch(calls)


def test_an_altered_step_is_named_with_its_argument_by_both(
    story, ledger, engine, abis, indexer, anvil
):
    e = schema.events
    with engine.connect() as conn:
        row = conn.execute(select(e.c.log_index, e.c.args, e.c.tx_hash).where(
            e.c.event_name == "FinancingAccepted")).one()  # fmt: skip
    args = json.loads(row.args)
    with _tampered(engine) as conn:
        conn.execute(update(e).where(e.c.tx_hash == row.tx_hash, e.c.log_index == row.log_index)
                     .values(args=json.dumps({**args, "proceeds": args["proceeds"] + 1})))  # fmt: skip
        trace = _trace(conn, abis, ledger, story["root"])
    api, ok, text = _both(trace, indexer, abis, anvil)
    (altered,) = api["completeness"]["altered_steps"]
    said = f"proceeds: trace {args['proceeds'] + 1}, chain {args['proceeds']}"
    assert altered["kind"] == "financing_acceptance"
    assert said in altered["reason"]
    assert api["verified"] is False
    assert not ok
    assert said in text
