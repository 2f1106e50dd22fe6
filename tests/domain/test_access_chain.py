"""The access log's hash chain (ledger_app/domain/access_chain.py): each kind of tampering
is found, at its position, and rows past the last anchor are reported as not anchored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger_app.domain.access_chain import GENESIS, Anchor, canonical, chain, row_hash, verify

START = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def rows(n: int = 10) -> list[dict]:
    """``n`` chained rows as the database would hold them."""
    plain = [
        {"at": START + timedelta(seconds=i, microseconds=i), "participant": "0xab",
         "api_key_id": "k1", "method": "GET", "path": f"/v1/receivables/{i}",
         "operation": "receivables.get", "status": 200, "duration_ms": i, "client": "127.0.0.1"}
        for i in range(n)
    ]  # fmt: skip
    return chain(plain, 0, GENESIS)


def anchor_at(chained: list[dict], count: int) -> Anchor:
    return Anchor(count=count, head=chained[count - 1]["row_hash"], block_number=7)


def rehash(row: dict) -> None:
    row["row_hash"] = row_hash(row, row["seq"], row["prev_hash"])


def test_canonical_encoding_is_the_documented_version_1():
    row = rows(1)[0]
    assert (
        canonical(row, 1, GENESIS)
        == (
            '["ledger-access-log/1",1,"2026-12-07T12:00:00.000000Z","0xab","k1","GET",'
            '"/v1/receivables/0","receivables.get",200,0,"127.0.0.1",1,"' + GENESIS + '"]'
        ).encode()
    )
    # A time without a zone is UTC; a time in another zone is the same instant.
    naive = {**row, "at": START.replace(tzinfo=None)}
    shifted = {**row, "at": START.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))}
    assert row_hash(naive, 1, GENESIS) == row_hash(shifted, 1, GENESIS) == row["row_hash"]


def test_intact_chain_verifies_and_reports_rows_not_yet_anchored():
    chained = rows(10)
    report = verify(chained, [anchor_at(chained, 4), anchor_at(chained, 7)])
    assert report.ok
    assert report.as_dict()["not_yet_anchored"] == {"count": 3, "first_seq": 8}
    assert report.last_anchored == 7
    assert verify(chained, [anchor_at(chained, 10)]).not_yet_anchored is None


def test_edited_row_is_found_at_its_position():
    chained = rows()
    chained[4]["status"] = 403
    report = verify(chained, [anchor_at(rows(), 10)])
    assert not report.ok
    assert report.edited == [5]
    assert [m["count"] for m in report.anchor_mismatches] == [10]


def test_edited_row_with_rehashed_chain_is_caught_by_the_anchor():
    chained = rows()
    anchors = [anchor_at(chained, 3), anchor_at(chained, 8)]
    chained[4]["path"] = "/v1/innocent"
    for row in chained[4:]:  # the whole chain recomputed from there: it fits itself
        row["prev_hash"] = chained[row["seq"] - 2]["row_hash"]
        rehash(row)
    report = verify(chained, anchors)
    assert report.edited == []
    assert report.broken_links == []
    assert [m["count"] for m in report.anchor_mismatches] == [8]
    assert not report.ok


def test_deleted_row_is_found_as_a_gap():
    chained = rows()
    del chained[5]
    report = verify(chained, [])
    assert report.deleted == [{"after": 5, "missing": 1}]
    assert report.edited == report.inserted == report.reordered == []


def test_deleted_row_renumbered_is_found_as_a_gap():
    chained = rows()
    del chained[5]
    for row in chained[5:]:
        row["seq"] -= 1
    report = verify(chained, [anchor_at(rows(), 9)])
    assert report.deleted == [{"after": 5, "missing": 1}]
    assert report.reordered == []
    assert [m["count"] for m in report.anchor_mismatches] == [9]


def test_inserted_row_is_found_at_its_position():
    chained = rows()
    forged = {**chained[3], "path": "/v1/forged", "seq": 4, "prev_hash": chained[2]["row_hash"]}
    rehash(forged)  # hashed correctly at position 4, after row 3
    for row in chained[3:]:
        row["seq"] += 1
    chained.insert(3, forged)
    report = verify(chained, [anchor_at(rows(), 6)])
    assert report.inserted == [4]
    assert report.reordered == report.edited == report.deleted == []
    assert [m["count"] for m in report.anchor_mismatches] == [6]


def test_reordered_rows_are_found_with_where_they_were_written():
    chained = rows()
    chained[2]["seq"], chained[6]["seq"] = 7, 3  # two rows' positions swapped
    chained.sort(key=lambda r: r["seq"])
    report = verify(chained, [])
    assert sorted(report.reordered, key=lambda r: r["position"]) == [
        {"position": 3, "written_at": 7},
        {"position": 7, "written_at": 3},
    ]
    assert report.edited == report.inserted == report.deleted == []


def test_swapped_contents_are_found_as_reordered():
    chained = rows()
    columns = ("at", "path", "duration_ms")
    for name in columns:
        chained[1][name], chained[2][name] = chained[2][name], chained[1][name]
    report = verify(chained, [])
    assert report.reordered == [{"position": 2, "written_at": 3}, {"position": 3, "written_at": 2}]
    assert report.edited == []


@pytest.mark.parametrize("count", [10, 11])
def test_anchor_the_rows_do_not_reach_is_a_mismatch(count: int):
    chained = rows()
    anchors = [anchor_at(chained, 10)]
    anchors = [Anchor(count=count, head=anchors[0].head)]
    report = verify(chained[:9], anchors)
    assert [m["count"] for m in report.anchor_mismatches] == [count]
    assert report.anchor_mismatches[0]["found"] is None
