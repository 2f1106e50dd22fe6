"""Each compliance rule on crafted indexed rows: a ledger that trips it, one that does not
(ledger_app/domain/monitoring.py)."""

from __future__ import annotations

from itertools import count

import pytest

from ledger_app.domain import monitoring as m
from ledger_app.domain.monitoring import DAY, Exposure, Facts, LedgerEvent, Profile, Receivable

A, B, C, D, F = (f"0x{c * 40}" for c in "abcdf")
T0 = 1_800_000_000
_log = count()


def ev(name: str, ts: int, rid: int | None = None, root: int | None = None, block: int = 10,
       **args) -> LedgerEvent:  # fmt: skip
    n = next(_log)
    return LedgerEvent(name=name, args=args, block_number=block, block_hash=f"0xb{block}",
                       timestamp=ts, tx_hash=f"0x{n:064x}", log_index=n % 7,
                       receivable_id=rid, root_id=root if root is not None else rid)  # fmt: skip


def registered(rid: int, ts: int, debtor: str = D, creditor: str = A, amount: int = 100,
               block: int = 10) -> LedgerEvent:  # fmt: skip
    return ev("ReceivableRegistered", ts, rid, block=block, debtor=debtor, creditor=creditor,
              amount=amount, currency="CNY")  # fmt: skip


def cfg(rule: str, **over) -> dict:
    return {**m.DEFAULTS[rule], **over}


def test_circular_flow_trips_when_a_part_returns_to_its_creditor() -> None:
    rows = [registered(1, T0), ev("ReceivableTransferred", T0 + DAY, 2, root=1, **{"from": A, "to": B}),
            ev("ReceivableTransferred", T0 + 2 * DAY, 2, root=1, **{"from": B, "to": A})]  # fmt: skip
    hits = m.circular_flow(cfg("circular_flow"), Facts(rows, window_from=0))
    assert [h.details["returned_to"] for h in hits] == [A]
    assert hits[0].rows[-1] is rows[-1]
    assert hits[0].severity == "high"


def test_circular_flow_quiet_for_a_buy_back_by_the_desk() -> None:
    desk = "0x" + "de" * 20
    rows = [registered(1, T0),
            ev("ReceivableTransferred", T0 + 1, 1, **{"from": A, "to": F, "actor": desk}),
            ev("ReceivableTransferred", T0 + 2, 1, **{"from": F, "to": A, "actor": desk})]  # fmt: skip
    assert m.circular_flow(cfg("circular_flow"), Facts(rows, 0)) == []
    by_holder = [
        *rows[:2],
        ev("ReceivableTransferred", T0 + 2, 1, **{"from": F, "to": A, "actor": F}),
    ]
    assert len(m.circular_flow(cfg("circular_flow"), Facts(by_holder, 0))) == 1


def test_circular_flow_quiet_for_a_chain_onwards_or_a_return_after_the_window() -> None:
    onwards = [registered(1, T0), ev("ReceivableTransferred", T0 + DAY, 1, **{"from": A, "to": B}),
               ev("ReceivableTransferred", T0 + 2 * DAY, 1, **{"from": B, "to": C})]  # fmt: skip
    late = [registered(1, T0), ev("ReceivableTransferred", T0 + DAY, 1, **{"from": A, "to": B}),
            ev("ReceivableTransferred", T0 + 100 * DAY, 1, **{"from": B, "to": A})]  # fmt: skip
    assert m.circular_flow(cfg("circular_flow"), Facts(onwards, 0)) == []
    assert m.circular_flow(cfg("circular_flow", window_days=90), Facts(late, 0)) == []


def _financed(after: int) -> list[LedgerEvent]:
    return [registered(1, T0), ev("ReceivableStatusChanged", T0 + 60, 1, **{"from": 1, "to": 2}),
            ev("FinancingAccepted", T0 + after, 1, financier=F, supplier=A, proceeds=90)]  # fmt: skip


def test_fast_finance_trips_within_minutes_and_not_after() -> None:
    hits = m.fast_finance(cfg("fast_finance", max_minutes=30), Facts(_financed(29 * 60), 0))
    assert len(hits) == 1
    assert [r.name for r in hits[0].rows] == [
        "ReceivableRegistered",
        "ReceivableStatusChanged",
        "FinancingAccepted",
    ]
    assert m.fast_finance(cfg("fast_finance", max_minutes=30), Facts(_financed(31 * 60), 0)) == []


def test_structuring_trips_on_the_third_just_under_the_threshold() -> None:
    c = cfg("structuring", threshold=10_000, margin_bps=1000, window_days=7, min_count=3)
    rows = [registered(i, T0 + i * 3600, amount=9_500 + i) for i in range(1, 4)]
    hits = m.structuring(c, Facts(rows, 0))
    assert len(hits) == 1
    assert hits[0].details["count"] == 3
    assert hits[0].rows[-1] is rows[-1]


def test_structuring_quiet_at_the_threshold_spread_out_or_other_creditors() -> None:
    c = cfg("structuring", threshold=10_000, margin_bps=1000, window_days=7, min_count=3)
    at = [registered(i, T0 + i, amount=10_000) for i in range(1, 4)]
    spread = [registered(i, T0 + i * 4 * DAY, amount=9_900) for i in range(1, 4)]
    mixed = [registered(i, T0 + i, creditor=x, amount=9_900) for i, x in enumerate([A, B, C], 1)]
    for rows in (at, spread, mixed):
        assert m.structuring(c, Facts(rows, 0)) == []


def test_concentration_trips_over_the_share_only() -> None:
    c = cfg("concentration", max_share_bps=5000)
    recv = {1: Receivable(1, 1, D, A, 100, "CNY", T0 + 90 * DAY)}
    accepted = [ev("FinancingAccepted", T0, 1, financier=F, supplier=A, proceeds=90)]
    heavy = [Exposure(F, D, "CNY", 700), Exposure(F, C, "CNY", 300)]
    even = [Exposure(F, D, "CNY", 500), Exposure(F, C, "CNY", 500)]
    hits = m.concentration(c, Facts(accepted, 0, receivables=recv, exposures=heavy))
    assert len(hits) == 1
    assert hits[0].details["share_bps"] == 7000
    assert m.concentration(c, Facts(accepted, 0, receivables=recv, exposures=even)) == []


def test_velocity_trips_over_k_times_the_median_day() -> None:
    c = cfg("velocity", multiple=5, min_active_days=3)
    history = [registered(i, T0 + i * DAY, amount=100, block=i) for i in range(1, 5)]
    spike = registered(9, T0 + 6 * DAY, amount=501, block=9)
    calm = registered(9, T0 + 6 * DAY, amount=500, block=9)
    hits = m.velocity(c, Facts([*history, spike], window_from=9))
    assert {h.subjects for h in hits} == {(A,), (D,)}
    assert m.velocity(c, Facts([*history, calm], window_from=9)) == []


def test_related_parties_trips_on_same_lei_or_address_only() -> None:
    rows = [registered(1, T0)]
    same = {D: Profile(D, "LEI1", registered_address="1 Main St., Shanghai"),
            A: Profile(A, "LEI2", registered_address="1 main st shanghai")}  # fmt: skip
    other = {D: Profile(D, "LEI1", registered_address="1 Main St"),
             A: Profile(A, "LEI2", registered_address="2 Main St")}  # fmt: skip
    hits = m.related_parties(cfg("related_parties"), Facts(rows, 0, profiles=same))
    assert hits[0].details["same"] == ["registered_address"]
    assert m.related_parties(cfg("related_parties"), Facts(rows, 0, profiles=other)) == []


def test_near_due_financing_trips_inside_min_days() -> None:
    recv = {1: Receivable(1, 1, D, A, 100, "CNY", T0 + 3 * DAY)}
    rows = [ev("FinancingAccepted", T0, 1, financier=F, supplier=A, proceeds=90)]
    assert (
        len(m.near_due_financing(cfg("near_due_financing", min_days=7), Facts(rows, 0, recv))) == 1
    )
    assert m.near_due_financing(cfg("near_due_financing", min_days=2), Facts(rows, 0, recv)) == []


def test_rules_trigger_only_on_the_window() -> None:
    rows = [registered(1, T0, block=1), ev("ReceivableTransferred", T0 + 1, 1, block=2, **{"from": A, "to": B}),
            ev("ReceivableTransferred", T0 + 2, 1, block=3, **{"from": B, "to": A})]  # fmt: skip
    assert m.circular_flow(cfg("circular_flow"), Facts(rows, window_from=4)) == []
    assert len(m.circular_flow(cfg("circular_flow"), Facts(rows, window_from=3))) == 1


def test_screen_exact_lei_fuzzy_name_and_near_miss() -> None:
    entries = [m.SanctionEntry("S1", "Acme Shadow Trading Limited", lei="5493001KJTIIGC8Y1R12"),
               m.SanctionEntry("S2", "Red Lotus Holdings", aliases=("Lotus Rouge Holding Co",))]  # fmt: skip
    c = cfg("sanctions", min_score=90)
    lei = m.screen(c, Profile(A, "5493001KJTIIGC8Y1R12", "Someone Else"), entries)
    assert [(h.details["entry"], h.details["match"]) for h in lei] == [("S1", "lei")]
    fuzzy = m.screen(c, Profile(B, None, "HOLDINGS, RED LOTUS"), entries)
    assert [(h.details["entry"], h.details["match"]) for h in fuzzy] == [("S2", "name")]
    assert m.screen(c, Profile(C, None, "Red Lantern Logistics"), entries) == []


@pytest.mark.parametrize(("change", "says"), [
    ({"window_days": 0}, "window_days is an integer in 1..3650"),
    ({"window_days": "9"}, "window_days is an integer"),
    ({"bogus": 1}, "has no parameter 'bogus'"),
    ({"severity": "extreme"}, "severity is one of"),
    ({"enabled": "yes"}, "enabled is true or false"),
    ({}, "the change is empty"),
])  # fmt: skip
def test_apply_change_refuses_bad_values(change: dict, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        m.apply_change("circular_flow", m.DEFAULTS["circular_flow"], change)


def test_apply_change_keeps_the_rest() -> None:
    new = m.apply_change("circular_flow", m.DEFAULTS["circular_flow"], {"window_days": 30})
    assert new == {**m.DEFAULTS["circular_flow"], "window_days": 30}
