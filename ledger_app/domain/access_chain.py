"""The access log's hash chain: how a row is hashed, and what a chain and its anchors prove.

Every ``access_log`` row carries ``seq`` (its position: 1, 2, 3, ... without a gap),
``prev_hash`` (the ``row_hash`` of row ``seq - 1``; ``GENESIS`` for row 1) and
``row_hash`` = sha256 of the row's canonical encoding, version 1::

    ["ledger-access-log/1", seq, at, participant, api_key_id, method, path, operation,
     status, duration_ms, client, requests, prev_hash]

as JSON with no spaces (``separators=(",", ":")``), non-ASCII kept as UTF-8, ``at`` in
UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (a time without a zone is UTC), absent values
``null``. The version tag is hashed: a new encoding is a new tag, and rows hashed under
the old one stay verifiable. Changing version 1 would break every chain written with it.

An anchor on the ledger (contracts/AccessLogAnchor.sol) says: after ``count`` rows the
chain's hash was ``head``. ``verify`` re-derives the chain from the rows as the database
holds them and reports what does not fit, each finding with its position; rows after
the last anchor could be rewritten, chain and all, without a trace, and are reported as
not yet anchored.

Pure functions: the rows and the anchors are read elsewhere (ledger_app/audit/access_log.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

VERSION = "ledger-access-log/1"
#: ``prev_hash`` of the first row.
GENESIS = "0" * 64
#: The row's columns in the order they are hashed (between ``seq`` and ``prev_hash``).
HASHED_COLUMNS = (
    "at",
    "participant",
    "api_key_id",
    "method",
    "path",
    "operation",
    "status",
    "duration_ms",
    "client",
    "requests",
)
#: Findings of one kind listed in full up to this many; past it, counted.
MAX_LISTED = 100


def canonical_time(at: datetime | str) -> str:
    """``at`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (a naive time is taken as UTC)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: Mapping[str, Any], seq: int, prev_hash: str) -> bytes:
    """The bytes hashed for ``row`` at position ``seq`` after ``prev_hash`` (version 1)."""
    values: list[Any] = [VERSION, int(seq)]
    for name in HASHED_COLUMNS:
        value = row.get(name)
        if name == "at":
            value = canonical_time(value)
        elif name in ("status", "duration_ms", "requests"):
            value = None if value is None else int(value)
        values.append(value)
    values.append(prev_hash)
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(row: Mapping[str, Any], seq: int, prev_hash: str) -> str:
    """sha256 (hex) of ``canonical(row, seq, prev_hash)``."""
    return hashlib.sha256(canonical(row, seq, prev_hash)).hexdigest()


def chain(rows: Sequence[dict[str, Any]], head_seq: int, head_hash: str) -> list[dict[str, Any]]:
    """``rows`` appended after the chain's head (``head_seq`` rows ending in ``head_hash``):
    each gets ``seq``, ``prev_hash``, ``row_hash`` (and ``requests`` 1 unless given)."""
    chained = []
    for row in rows:
        head_seq += 1
        row = {**row, "requests": row.get("requests") or 1}
        row["seq"], row["prev_hash"] = head_seq, head_hash
        row["row_hash"] = head_hash = row_hash(row, head_seq, head_hash)
        chained.append(row)
    return chained


@dataclass(frozen=True)
class Anchor:
    """One on-chain anchor: after ``count`` rows the chain's hash was ``head`` (hex, no 0x)."""

    count: int
    head: str
    block_number: int | None = None
    transaction_hash: str | None = None


@dataclass
class Verification:
    """What ``verify`` found. ``ok`` when nothing was tampered with (rows not yet anchored
    are reported, not counted as tampering)."""

    rows: int = 0
    edited: list[int] = field(default_factory=list)
    deleted: list[dict[str, int]] = field(default_factory=list)  # {"after": seq, "missing": n}
    inserted: list[int] = field(default_factory=list)
    reordered: list[dict[str, int]] = field(default_factory=list)  # {"position", "written_at"}
    broken_links: list[int] = field(default_factory=list)
    anchors_checked: int = 0
    anchor_mismatches: list[dict[str, Any]] = field(default_factory=list)
    last_anchored: int = 0
    not_yet_anchored: dict[str, int] | None = None  # {"count": n, "first_seq": s}
    truncated: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No finding of tampering."""
        return not (self.edited or self.deleted or self.inserted or self.reordered
                    or self.broken_links or self.anchor_mismatches)  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """The report as the CLI prints it and the API answers it."""
        return {
            "ok": self.ok,
            "encoding": VERSION,
            "rows": self.rows,
            "edited": self.edited,
            "deleted": self.deleted,
            "inserted": self.inserted,
            "reordered": self.reordered,
            "broken_links": self.broken_links,
            "anchors_checked": self.anchors_checked,
            "anchor_mismatches": self.anchor_mismatches,
            "last_anchored": self.last_anchored,
            "not_yet_anchored": self.not_yet_anchored,
            "truncated": self.truncated,
        }

    def _note(self, kind: str, finding: Any) -> None:
        found: list[Any] = getattr(self, kind)
        if len(found) < MAX_LISTED:
            found.append(finding)
        else:
            self.truncated[kind] = self.truncated.get(kind, 0) + 1


def verify(rows: Sequence[Mapping[str, Any]], anchors: Sequence[Anchor]) -> Verification:
    """Re-derive the chain from ``rows`` (as stored: with ``seq``, ``prev_hash``,
    ``row_hash``, in ``seq`` order, then ``id``) and check it against ``anchors`` (read
    from the ledger).

    Each row's *written position* is the ``seq`` under which its content hashes to its
    ``row_hash`` (the position is hashed). Findings, each with the row's position now:

    - ``edited``: the content hashes to its ``row_hash`` at no position;
    - ``reordered``: the row was written at another position (``written_at``) than the
      one it holds now, or its content was swapped with that row's;
    - ``deleted``: written positions missing (``after`` the last one present);
    - ``inserted``: a row at a position another row was written at, that no row follows
      (or one at a position already taken whose content hashes nowhere);
    - ``broken_links``: a row whose ``prev_hash`` is not the ``row_hash`` of the row
      written before it;
    - ``anchor_mismatches``: an anchor whose count the rows do not reach, or at whose
      count the chain's hash, re-derived from the rows in their order now, is another.
    """
    report = Verification(rows=len(rows))
    hint = _linked_positions(rows)
    referenced = {str(r["prev_hash"]) for r in rows}
    derived: dict[int, str] = {}  # position -> the chain's hash there, re-derived
    placed: list[tuple[int, int, Mapping[str, Any]]] = []  # (written, seq, row)
    seen: set[int] = set()
    previous_hash, previous_written = GENESIS, 0
    for index, row in enumerate(rows):
        seq = int(row["seq"])
        duplicate = seq in seen
        seen.add(seq)
        written = _written_position(
            row, (seq, hint.get(str(row["row_hash"])), previous_written + 1)
        )
        if not duplicate:
            # The chain's own hash here: the stored one when the row hashes to it at this
            # position after the hash before (one sha256 a row for an intact log).
            intact = written == seq and str(row["prev_hash"]) == previous_hash
            actual = str(row["row_hash"]) if intact else row_hash(row, seq, previous_hash)
            previous_hash = derived[seq] = actual
        if written is None:
            # Swaps looked for while findings are few (a log rewritten wholesale would
            # make it quadratic); past that every such row is reported as edited.
            few = len(report.edited) + len(report.reordered) < MAX_LISTED
            swapped = _swapped_from(row, rows, index) if few and not duplicate else None
            if duplicate:
                report._note("inserted", seq)
            elif swapped is not None:
                report._note("reordered", {"position": seq, "written_at": swapped})
            else:
                report._note("edited", seq)
            written = seq if not duplicate else None
        if written is not None:
            placed.append((written, seq, row))
            previous_written = written
    _check_order(report, placed, referenced, max(seen, default=0))
    _check_anchors(report, derived, anchors, max(seen, default=0))
    return report


def _linked_positions(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """row_hash -> position, following prev_hash links from GENESIS: where each row was
    written, as a first guess (a deletion ends the walk)."""
    successor = {str(r["prev_hash"]): str(r["row_hash"]) for r in rows}
    positions: dict[str, int] = {}
    current, position = GENESIS, 0
    while current in successor and position < len(rows):
        position += 1
        current = successor[current]
        positions[current] = position
    return positions


def _written_position(row: Mapping[str, Any], guesses: tuple[int | None, ...]) -> int | None:
    """The position ``row`` was hashed at: among ``guesses`` and near the first; None
    when its content hashes at none of them (it was edited)."""
    seq = int(row["seq"])
    candidates = [g for g in guesses if g is not None and g > 0]
    candidates += [seq + d for step in range(1, 4) for d in (step, -step) if seq + d > 0]
    prev_hash, stored = str(row["prev_hash"]), str(row["row_hash"])
    for candidate in dict.fromkeys(candidates):
        if row_hash(row, candidate, prev_hash) == stored:
            return candidate
    return None


def _swapped_from(
    row: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], index: int
) -> int | None:
    """The position whose hash columns the content of ``rows[index]`` matches, when
    contents were swapped (the hash columns left in place); None otherwise. Looks within
    MAX_LISTED rows either side (a swap further apart is reported as two edits)."""
    seq = int(row["seq"])
    for other in rows[max(0, index - MAX_LISTED) : index + MAX_LISTED + 1]:
        other_seq = int(other["seq"])
        if other_seq != seq and row_hash(row, other_seq, str(other["prev_hash"])) == str(
            other["row_hash"]
        ):
            return other_seq
    return None


def _check_order(
    report: Verification,
    placed: list[tuple[int, int, Mapping[str, Any]]],
    referenced: set[str],
    last_seq: int,
) -> None:
    """Reordered rows (written positions out of order), then gaps and doubles in them."""
    in_order = sorted(placed, key=lambda p: p[0])
    for (written, seq, _row), (expected, _s, _r) in zip(placed, in_order, strict=True):
        if written != expected:
            report._note("reordered", {"position": seq, "written_at": written})
    previous_written, previous_hash, previous_seq = 0, GENESIS, 0
    for written, seq, row in in_order:
        if written == previous_written:
            # Two rows written at one position: the one no row follows was inserted.
            if str(row["row_hash"]) not in referenced and seq != last_seq:
                report._note("inserted", seq)
                continue
            report._note("inserted", previous_seq)
        elif written > previous_written + 1:
            report._note("deleted", {"after": previous_written,
                                     "missing": written - previous_written - 1})  # fmt: skip
        elif str(row["prev_hash"]) != previous_hash:
            report._note("broken_links", seq)
        previous_written, previous_hash, previous_seq = written, str(row["row_hash"]), seq


def _check_anchors(
    report: Verification, derived: dict[int, str], anchors: Sequence[Anchor], last_seq: int
) -> None:
    for anchor in sorted(anchors, key=lambda a: a.count):
        report.anchors_checked += 1
        at = derived.get(anchor.count)
        if at is None:
            reason = "the log has no row at this count"
        elif at != anchor.head:
            reason = "the chain's hash at this count differs"
        else:
            reason = ""
        if reason:
            report._note("anchor_mismatches", {"count": anchor.count, "head": anchor.head,
                                               "found": at, "block_number": anchor.block_number,
                                               "transaction_hash": anchor.transaction_hash,
                                               "reason": reason})  # fmt: skip
        report.last_anchored = max(report.last_anchored, anchor.count)
    if last_seq > report.last_anchored:
        report.not_yet_anchored = {"count": last_seq - report.last_anchored,
                                   "first_seq": report.last_anchored + 1}  # fmt: skip
