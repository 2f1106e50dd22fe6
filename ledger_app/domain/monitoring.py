"""Compliance rules over the index (issue 23): each rule a small pure function.

A rule reads indexed rows (``LedgerEvent``: an event of the ledger with its block,
timestamp, transaction hash and log index; ``Receivable``; ``Profile``: what onboarding
recorded of a participant; ``Exposure``: a financier's open drawing on an obligor) and
returns ``Hit``s. A hit names its rule, a severity, the participants it is about, the rows
that triggered it (each with its on-chain proof) and a ``key`` that is the same however
often the rule is run over the same rows: the alert store inserts a hit only if its key
is absent, which is how a rule run repeated after a crash raises nothing twice.

Rules only look at the events of the window being run (``window_from``: the first block
not yet run) for what *triggers* them; the rows before it are history they compare with.

Configuration is one table, ``DEFAULTS``: each rule's switch, severity and parameters.
``apply_change`` validates a change the regulator asks for (unknown parameter, wrong
type, out of range: ``ValueError`` naming it) and returns the new configuration.

Sanctions screening (``screen``) matches a participant's LEI exactly and its legal name
fuzzily (rapidfuzz's ``token_sort_ratio`` on case-folded names, so word order and case
do not matter) against every name and alias of a list entry.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

DAY = 86_400

SEVERITIES = ("low", "medium", "high")

#: Each rule's configuration: ``enabled``, ``severity`` and its parameters. What a
#: parameter means is in README "Monitoring"; ``BOUNDS`` says what values it takes.
DEFAULTS: dict[str, dict[str, Any]] = {
    "circular_flow": {"enabled": True, "severity": "high", "window_days": 90},
    "fast_finance": {"enabled": True, "severity": "medium", "max_minutes": 30},
    "structuring": {
        "enabled": True, "severity": "medium", "threshold": 1_000_000_00,
        "margin_bps": 1000, "window_days": 7, "min_count": 3,
    },
    "concentration": {
        "enabled": True, "severity": "medium", "max_share_bps": 5000, "min_book": 1,
    },
    "velocity": {
        "enabled": True, "severity": "medium", "multiple": 5, "history_days": 30, "min_active_days": 3,
    },
    "related_parties": {"enabled": True, "severity": "high"},
    "near_due_financing": {"enabled": True, "severity": "low", "min_days": 7},
    "sanctions": {"enabled": True, "severity": "high", "min_score": 90},
}  # fmt: skip

#: Parameter -> (smallest, largest) value; every parameter is an integer.
BOUNDS: dict[str, tuple[int, int]] = {
    "window_days": (1, 3650),
    "max_minutes": (1, 10_080),
    "threshold": (1, 2**128 - 1),
    "margin_bps": (1, 10_000),
    "min_count": (2, 1000),
    "max_share_bps": (1, 10_000),
    "min_book": (1, 2**128 - 1),
    "multiple": (2, 1000),
    "history_days": (7, 365),
    "min_active_days": (1, 365),
    "min_days": (0, 3650),
    "min_score": (50, 100),
}


def apply_change(
    rule: str, current: Mapping[str, Any], change: Mapping[str, Any]
) -> dict[str, Any]:
    """``current`` with ``change`` applied, or ``ValueError`` naming what is wrong."""
    if rule not in DEFAULTS:
        raise ValueError(f"no rule {rule!r}; rules: {', '.join(sorted(DEFAULTS))}")
    if not change:
        raise ValueError("the change is empty")
    new = dict(current)
    for name, value in change.items():
        if name not in DEFAULTS[rule]:
            allowed = ", ".join(sorted(DEFAULTS[rule]))
            raise ValueError(f"{rule} has no parameter {name!r}; it has: {allowed}")
        if name == "enabled":
            if not isinstance(value, bool):
                raise ValueError("enabled is true or false")
        elif name == "severity":
            if value not in SEVERITIES:
                raise ValueError(f"severity is one of {', '.join(SEVERITIES)}")
        else:
            low, high = BOUNDS[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} is an integer in {low}..{high}")
        new[name] = value
    return new


# --- rows ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """An indexed event: the row of ``events`` a rule reads, with its on-chain proof."""

    name: str
    args: Mapping[str, Any]
    block_number: int
    block_hash: str
    timestamp: int
    tx_hash: str
    log_index: int
    receivable_id: int | None = None
    root_id: int | None = None

    def proof(self) -> dict[str, Any]:
        """Where the row is on chain: enough to check it against the node."""
        return {
            "event": self.name, "block_number": self.block_number, "block_hash": self.block_hash,
            "tx_hash": self.tx_hash, "log_index": self.log_index, "timestamp": self.timestamp,
            "receivable_id": self.receivable_id,
        }  # fmt: skip

    @property
    def ref(self) -> str:
        """The event's identity in an alert key."""
        return f"{self.tx_hash}:{self.log_index}"


@dataclass(frozen=True)
class Receivable:
    """The terms of an indexed receivable a rule needs."""

    id: int
    root_id: int
    debtor: str
    creditor: str
    amount: int
    currency: str
    due_date: int


@dataclass(frozen=True)
class Profile:
    """What onboarding recorded of a participant off chain (and its LEI from the chain)."""

    account: str
    lei: str | None = None
    legal_name: str | None = None
    registered_address: str | None = None


@dataclass(frozen=True)
class Exposure:
    """A financier's open drawing (face amount) on an obligor, in a currency."""

    financier: str
    obligor: str
    currency: str
    amount: int


@dataclass(frozen=True)
class SanctionEntry:
    """An entry of the operator's sanctions list."""

    entry_id: str
    name: str
    lei: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hit:
    """What a rule found: the future alert."""

    rule: str
    key: str
    severity: str
    subjects: tuple[str, ...]
    rows: tuple[LedgerEvent, ...]
    details: Mapping[str, Any] = field(default_factory=dict)
    at: int = 0  # chain time of the triggering row


@dataclass(frozen=True)
class Facts:
    """Everything a rule run reads: events from the look-back on, those of the window
    (block >= ``window_from``) being the ones that may trigger."""

    events: Sequence[LedgerEvent]
    window_from: int
    receivables: Mapping[int, Receivable] = field(default_factory=dict)
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    exposures: Sequence[Exposure] = ()

    def new(self, *names: str) -> list[LedgerEvent]:
        """The window's events named ``names``."""
        return [e for e in self.events if e.block_number >= self.window_from and e.name in names]


def _low(address: Any) -> str:
    return str(address).lower()


def _hit(rule: str, config: Mapping[str, Any], key: str, subjects: Iterable[str],
         rows: Iterable[LedgerEvent], at: int, **details: Any) -> Hit:  # fmt: skip
    return Hit(rule=rule, key=f"{rule}:{key}", severity=config["severity"],
               subjects=tuple(sorted({_low(s) for s in subjects})), rows=tuple(rows),
               details=details, at=at)  # fmt: skip


# --- the rules -------------------------------------------------------------------------


def circular_flow(config: Mapping[str, Any], facts: Facts) -> list[Hit]:
    """A receivable or one of its parts comes back to an earlier holder of its tree (its
    creditor, or anyone it was transferred from or to) within ``window_days``, moved by its
    holder (a buy-back or sale the financing desk makes is not a holder's transfer)."""
    window = config["window_days"] * DAY
    held: dict[int, list[tuple[str, LedgerEvent]]] = defaultdict(list)  # root -> (holder, row)
    hits = []
    for e in facts.events:
        root = e.root_id if e.root_id is not None else e.receivable_id
        if root is None:
            continue
        if e.name == "ReceivableRegistered":
            held[root].append((_low(e.args["creditor"]), e))
        elif e.name == "ReceivableTransferred":
            to = _low(e.args["to"])
            earlier = [r for h, r in held[root] if h == to and e.timestamp - r.timestamp <= window]
            # A holder's own move; the desk's (financing, buy-back, sale) are the contract's.
            own = _low(e.args.get("actor", e.args["from"])) == _low(e.args["from"])
            if earlier and own and e.block_number >= facts.window_from:
                hits.append(_hit("circular_flow", config, e.ref, [to, e.args["from"]],
                                 [earlier[0], e], e.timestamp, receivable_id=e.receivable_id,
                                 root_id=root, returned_to=to))  # fmt: skip
            held[root].append((_low(e.args["from"]), e))
            held[root].append((to, e))
    return hits


def fast_finance(config: Mapping[str, Any], facts: Facts) -> list[Hit]:
    """A receivable registered, confirmed and financed (accepted) within ``max_minutes``:
    the financing counts from its root's registration."""
    registered = {e.receivable_id: e for e in facts.events if e.name == "ReceivableRegistered"}
    confirmed = {
        e.receivable_id: e for e in facts.events
        if e.name == "ReceivableStatusChanged" and e.args.get("to") == 2 and e.args.get("from") == 1
    }  # fmt: skip
    hits = []
    for e in facts.new("FinancingAccepted"):
        root = e.root_id if e.root_id is not None else e.receivable_id
        start = registered.get(root)
        if start is None:
            continue
        minutes = (e.timestamp - start.timestamp) / 60
        if minutes <= config["max_minutes"]:
            rows = [start, *([confirmed[root]] if root in confirmed else []), e]
            hits.append(_hit("fast_finance", config, e.ref,
                             [start.args["debtor"], start.args["creditor"], e.args["financier"]],
                             rows, e.timestamp, receivable_id=e.receivable_id,
                             seconds=e.timestamp - start.timestamp))  # fmt: skip
    return hits


def structuring(config: Mapping[str, Any], facts: Facts) -> list[Hit]:
    """At least ``min_count`` receivables from one debtor to one creditor in one currency,
    each just under ``threshold`` (within ``margin_bps`` of it), within ``window_days``.
    Each registration that completes such a set is a hit."""
    threshold, window = config["threshold"], config["window_days"] * DAY
    floor = threshold - threshold * config["margin_bps"] // 10_000
    under: dict[tuple[str, str, str], list[LedgerEvent]] = defaultdict(list)
    hits = []
    for e in facts.events:
        if e.name != "ReceivableRegistered" or not floor <= int(e.args["amount"]) < threshold:
            continue
        group = (_low(e.args["debtor"]), _low(e.args["creditor"]), str(e.args["currency"]))
        recent = [r for r in under[group] if e.timestamp - r.timestamp <= window] + [e]
        under[group] = recent
        if len(recent) >= config["min_count"] and e.block_number >= facts.window_from:
            hits.append(_hit("structuring", config, e.ref, group[:2], recent, e.timestamp,
                             currency=group[2], count=len(recent), threshold=threshold))  # fmt: skip
    return hits


def concentration(config: Mapping[str, Any], facts: Facts) -> list[Hit]:
    """After a financing is accepted, the financier's open exposure to one obligor is over
    ``max_share_bps`` of its whole book in that currency (a book of at least ``min_book``)."""
    book: dict[tuple[str, str], int] = defaultdict(int)
    on: dict[tuple[str, str, str], int] = defaultdict(int)
    for x in facts.exposures:
        book[(_low(x.financier), x.currency)] += x.amount
        on[(_low(x.financier), _low(x.obligor), x.currency)] += x.amount
    hits = []
    for e in facts.new("FinancingAccepted"):
        receivable = facts.receivables.get(e.receivable_id or -1)
        if receivable is None:
            continue
        financier, obligor = _low(e.args["financier"]), _low(receivable.debtor)
        total = book.get((financier, receivable.currency), 0)
        exposed = on.get((financier, obligor, receivable.currency), 0)
        if total < config["min_book"] or exposed * 10_000 <= total * config["max_share_bps"]:
            continue
        hits.append(_hit("concentration", config, e.ref, [financier, obligor], [e], e.timestamp,
                         currency=receivable.currency, exposure=str(exposed), book=str(total),
                         share_bps=exposed * 10_000 // total))  # fmt: skip
    return hits


def _volumes(facts: Facts) -> dict[str, dict[int, list[LedgerEvent]]]:
    """participant -> UTC day -> the events that moved value for it that day."""
    days: dict[str, dict[int, list[LedgerEvent]]] = defaultdict(lambda: defaultdict(list))
    for e in facts.events:
        if e.name == "ReceivableRegistered":
            parties = [e.args["debtor"], e.args["creditor"]]
        elif e.name == "ReceivableTransferred":
            parties = [e.args["from"], e.args["to"]]
        else:
            continue
        for party in {_low(p) for p in parties}:
            days[party][e.timestamp // DAY].append(e)
    return days


def _amount(e: LedgerEvent, receivables: Mapping[int, Receivable]) -> int:
    if "amount" in e.args:
        return int(e.args["amount"])
    receivable = receivables.get(e.receivable_id or -1)
    return receivable.amount if receivable else 0


def velocity(config: Mapping[str, Any], facts: Facts) -> list[Hit]:
    """A participant's volume on a UTC day (receivables registered to or by it, moved to or
    from it) over ``multiple`` times the median of its active days in the ``history_days``
    before, once it has ``min_active_days`` of them. One hit per participant and day."""
    hits = []
    new_days = {e.timestamp // DAY for e in facts.events if e.block_number >= facts.window_from}
    for party, by_day in _volumes(facts).items():
        totals = {d: sum(_amount(e, facts.receivables) for e in rows) for d, rows in by_day.items()}
        for day in sorted(new_days & set(by_day)):
            if not any(e.block_number >= facts.window_from for e in by_day[day]):
                continue
            history = [v for d, v in totals.items() if day - config["history_days"] <= d < day]
            if len(history) < config["min_active_days"]:
                continue
            median = statistics.median(history)
            if totals[day] > config["multiple"] * median:
                rows = by_day[day]
                hits.append(_hit("velocity", config, f"{party}:{day}", [party], rows,
                                 rows[-1].timestamp, day=day * DAY, volume=str(totals[day]),
                                 median=str(int(median))))  # fmt: skip
    return hits


_SPACES = re.compile(r"[^0-9a-z]+")


def normalised_address(address: str | None) -> str | None:
    """A registered address compared case-, space- and punctuation-blind."""
    if not address:
        return None
    text = _SPACES.sub(" ", address.casefold()).strip()
    return text or None


def related_parties(config: Mapping[str, Any], facts: Facts) -> list[Hit]:
    """A receivable between a debtor and a creditor with the same LEI or the same
    registered address."""
    hits = []
    for e in facts.new("ReceivableRegistered"):
        debtor = facts.profiles.get(_low(e.args["debtor"]))
        creditor = facts.profiles.get(_low(e.args["creditor"]))
        if debtor is None or creditor is None:
            continue
        same = []
        if debtor.lei and debtor.lei == creditor.lei:
            same.append("lei")
        address = normalised_address(debtor.registered_address)
        if address and address == normalised_address(creditor.registered_address):
            same.append("registered_address")
        if same:
            hits.append(_hit("related_parties", config, e.ref, [debtor.account, creditor.account],
                             [e], e.timestamp, receivable_id=e.receivable_id, same=same))  # fmt: skip
    return hits


def near_due_financing(config: Mapping[str, Any], facts: Facts) -> list[Hit]:
    """A financing accepted less than ``min_days`` before the receivable's due date."""
    hits = []
    for e in facts.new("FinancingAccepted"):
        receivable = facts.receivables.get(e.receivable_id or -1)
        if receivable is None:
            continue
        left = receivable.due_date - e.timestamp
        if left < config["min_days"] * DAY:
            hits.append(_hit("near_due_financing", config, e.ref,
                             [e.args["financier"], e.args["supplier"]], [e], e.timestamp,
                             receivable_id=receivable.id, seconds_to_due=left))  # fmt: skip
    return hits


#: The rules run over the index, by name (screening runs at onboarding and list loads).
RULES: dict[str, Callable[[Mapping[str, Any], Facts], list[Hit]]] = {
    "circular_flow": circular_flow,
    "fast_finance": fast_finance,
    "structuring": structuring,
    "concentration": concentration,
    "velocity": velocity,
    "related_parties": related_parties,
    "near_due_financing": near_due_financing,
}

#: Every event a rule reads.
EVENT_NAMES = (
    "ReceivableRegistered", "ReceivableStatusChanged", "ReceivableTransferred", "FinancingAccepted",
)  # fmt: skip


def look_back(configs: Mapping[str, Mapping[str, Any]]) -> int:
    """Seconds of history before the window the rules compare with."""
    return DAY * max(
        configs["circular_flow"]["window_days"],
        configs["structuring"]["window_days"],
        configs["velocity"]["history_days"] + 1,
        configs["fast_finance"]["max_minutes"] // 1440 + 1,
    )


def run_rules(configs: Mapping[str, Mapping[str, Any]], facts: Facts) -> list[Hit]:
    """Every enabled rule's hits over ``facts``."""
    hits: list[Hit] = []
    for name, rule in RULES.items():
        if configs[name]["enabled"]:
            hits += rule(configs[name], facts)
    return hits


# --- sanctions screening ---------------------------------------------------------------


def _name(text: str) -> str:
    return " ".join(_SPACES.sub(" ", text.casefold()).split())


def screen(
    config: Mapping[str, Any], profile: Profile, entries: Iterable[SanctionEntry]
) -> list[Hit]:
    """``profile`` against the list: an exact LEI match, or a legal name whose fuzzy score
    against an entry's name or alias is at least ``min_score`` (0..100)."""
    hits = []
    name = _name(profile.legal_name) if profile.legal_name else None
    for entry in entries:
        if entry.lei and profile.lei and entry.lei.upper() == profile.lei.upper():
            hits.append(_hit("sanctions", config, f"{profile.account}:{entry.entry_id}:lei",
                             [profile.account], [], 0, entry=entry.entry_id, match="lei",
                             listed_name=entry.name, lei=entry.lei))  # fmt: skip
            continue
        if not name:
            continue
        scored = [(fuzz.token_sort_ratio(name, _name(n)), n) for n in (entry.name, *entry.aliases)]
        score, matched = max(scored)
        if score >= config["min_score"]:
            hits.append(_hit("sanctions", config, f"{profile.account}:{entry.entry_id}:name",
                             [profile.account], [], 0, entry=entry.entry_id, match="name",
                             listed_name=matched, legal_name=profile.legal_name,
                             score=round(score, 1)))  # fmt: skip
    return hits


_LEI = re.compile(r"^[0-9A-Z]{18}[0-9]{2}$")


def parse_sanctions(text: str, kind: str) -> list[SanctionEntry]:
    """The operator's sanctions list file (README "Monitoring"): ``csv`` with a header
    ``lei,name[,aliases][,id]`` (aliases separated by ``;``, an empty LEI for none) or
    ``json``, a list of ``{"name", "lei"?, "aliases"?, "id"?}``. ``ValueError`` names the
    first bad entry."""
    if kind == "csv":
        reader = csv.DictReader(io.StringIO(text))
        fields = set(reader.fieldnames or ())
        if not {"lei", "name"} <= fields:
            raise ValueError("the CSV header must name at least the columns lei,name")
        raw = [
            {"lei": r.get("lei") or None, "name": r.get("name") or "", "id": r.get("id") or None,
             "aliases": [a.strip() for a in (r.get("aliases") or "").split(";") if a.strip()],
             "_where": f"line {n}"}
            for n, r in enumerate(reader, start=2)
        ]  # fmt: skip
    elif kind == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the file is not JSON: {exc}") from exc
        if not isinstance(data, list):
            raise ValueError("a JSON sanctions list is a list of entries")
        raw = []
        for n, item in enumerate(data):
            if not isinstance(item, dict):
                raise ValueError(f"entry {n} is not an object")
            raw.append({**item, "_where": f"entry {n}"})
    else:
        raise ValueError("the list is csv or json")
    entries, seen = [], set()
    for n, item in enumerate(raw, start=1):
        where = item["_where"]
        name, lei, aliases = item.get("name"), item.get("lei"), item.get("aliases") or []
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: a name is required")
        if lei is not None and (not isinstance(lei, str) or not _LEI.match(lei.strip().upper())):
            raise ValueError(f"{where}: lei {lei!r} is not a 20-character LEI")
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise ValueError(f"{where}: aliases is a list of names")
        entry_id = str(item.get("id") or f"{n}")[:64]
        if entry_id in seen:
            raise ValueError(f"{where}: id {entry_id!r} is listed twice")
        seen.add(entry_id)
        entries.append(SanctionEntry(entry_id, name.strip(), lei.strip().upper() if lei else None,
                                     tuple(a.strip() for a in aliases if a.strip())))  # fmt: skip
    return entries
