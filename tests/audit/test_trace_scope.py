"""Who sees what of a tree: the scoped trace and the API's SQL filter give one answer.

Both come from ledger_app/domain/visibility.py; here the multi-tier story (two tiers,
two financiers of one leaf, a PvP naming the root) is read as every one of its cast,
receivable by receivable, once through the trace's scope and once through the filter
the API's reads use, and the two must name the same receivables.
"""

from __future__ import annotations

from scenario import multi_tier
from sqlalchemy import select

from ledger_app.api.identity import Caller
from ledger_app.api.permissions import Role
from ledger_app.api.services.receivables import visible_to
from ledger_app.audit.scope import scoped_trace
from ledger_app.audit.trace import build_trace
from ledger_app.db import schema

TRADERS = ("core", "supplier", "supplier2", "financier", "financier2", "bank", "fxdesk")


def _caller(address: str, *roles: Role) -> Caller:
    return Caller(address=address, api_key_id="k", roles=frozenset(roles), standing="ACTIVE")


def _sql_visible(engine, caller: Caller, ids: list[int]) -> set[int]:
    r = schema.receivables
    with engine.connect() as conn:
        query = select(r.c.id).where(r.c.id.in_(ids), visible_to(caller))
        return {int(i) for i in conn.execute(query).scalars()}


def test_trace_scope_and_api_filter_agree_for_every_participant(ledger, indexer, engine):
    ids = multi_tier(ledger)
    indexer.run(follow=False)
    tree = [ids[k] for k in ("root", "kept", "passed", "financed", "tier2_kept")]
    with engine.connect() as conn:
        full = {rid: build_trace(conn, 31337, rid) for rid in tree}

    seen = {}
    for name in TRADERS:
        viewer = ledger.accounts[name].address
        readable = _sql_visible(engine, _caller(viewer), tree)
        for rid in tree:
            scoped = scoped_trace(full[rid], viewer.lower())
            assert (scoped is not None) == (rid in readable), (name, rid)
            if scoped is not None:
                assert {n["id"] for n in scoped["receivables"]} == readable, (name, rid)
        seen[name] = readable

    # The rule itself, on this story: the debtor and the original creditor see the
    # whole tree; supplier2 (tier 2) its branch and its provenance, not the sibling;
    # the financiers (accepted and refused) the financed leaf and its ancestors; the
    # settlement bank and the FX desk of a PvP naming the root nothing.
    assert seen["core"] == seen["supplier"] == set(tree)
    assert seen["supplier2"] == set(tree) - {ids["kept"]}
    assert seen["financier"] == seen["financier2"] == {ids["root"], ids["passed"], ids["financed"]}
    assert seen["bank"] == seen["fxdesk"] == set()


def test_auditor_and_regulator_read_all_in_both(ledger, indexer, engine):
    ids = multi_tier(ledger)
    indexer.run(follow=False)
    tree = [ids[k] for k in ("root", "kept", "passed", "financed", "tier2_kept")]

    auditor = _caller(ledger.accounts["bank"].address, Role.AUDITOR)
    regulator = _caller(ledger.accounts["regulator"].address, Role.REGULATOR)

    assert _sql_visible(engine, auditor, tree) == set(tree)
    assert _sql_visible(engine, regulator, tree) == set(tree)
