"""Crash-safe writes (issue 16): whatever is killed, no acknowledged write is lost, none
runs twice, and no Idempotency-Key stays stuck.

`ledger-app run` (embedded indexer) on SQLite and on PostgreSQL, with the stack's own
anvil saving its state every STATE_INTERVAL s. WRITERS client threads register
receivables and mint, each write with an Idempotency-Key, retried with the same key and
body on every answer that is not final (no answer, a timeout, a 5xx, 409
IdempotencyKeyInProgress, a 202 without a mined transaction) until it is final or the
writer's patience runs out (workload.KeyedWriters). Meanwhile, in random order:

- SERVICE_KILLS SIGKILLs of the service, restarted the way the stack starts it: at a
  random moment, right after a client sent a write, and right after the service's
  transaction reached the node but before the service heard back (RpcProxy.arm);
- NODE_KILLS SIGKILLs of the node, started again on the same port and state file; the
  service is not touched and must notice and recover by itself;
- one SIGKILL of the node while the service is stopping on SIGINT; then both start.

After each kill, once /health answers 200 again, the promises:

- every Idempotency-Key open at the kill gets a final answer within RESOLVE_BOUND s
  (the longest time is reported; a key past it is *stuck*);
- every write answered 2xx is on chain exactly once and in the index; nothing is on
  chain twice; no write refused with a final 4xx is on chain; the index holds exactly
  the chain's logs and reconcile is clean (workload.verify_writes);
- every transaction the custodial senders have on chain is accounted for by a
  ``transactions`` row or an answer; no row is left QUEUED/SENT and no key RUNNING
  with nothing in flight (workload.audit_senders);
- a key answered 2xx replays the same answer (status and transaction, marked replayed;
  those answered in the 15 s before the kill and 20 others).

At the end the same over every key (replays: up to REPLAY_MOST of them), a table per
check and one of the figures, and a last SIGINT under
load: the service exits within STOP_BOUND s and leaves no process behind. Every
broken promise is collected, with the episode that first showed it, and reported
together. ``make chaos`` runs it with more kills (LEDGER_CHAOS_SERVICE_KILLS,
LEDGER_CHAOS_NODE_KILLS).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from service_stack import LedgerProcess, Stack, running_stack
from sqlalchemy import select
from workload import (
    Attempt,
    Client,
    KeyedWriters,
    Recorder,
    Verdict,
    audit_senders,
    print_table,
    report,
    verify_writes,
)

from ledger_app.db.api_tables import idempotency_records, transactions
from ledger_app.db.engine import make_engine
from ledger_app.errors import NodeError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "indexer"))
from pgcluster import PostgresCluster

pytestmark = pytest.mark.slow

SERVICE_KILLS = int(os.environ.get("LEDGER_CHAOS_SERVICE_KILLS", "4"))
NODE_KILLS = int(os.environ.get("LEDGER_CHAOS_NODE_KILLS", "2"))
WRITERS = int(os.environ.get("LEDGER_CHAOS_WRITERS", "30"))
SEED = int(os.environ.get("LEDGER_CHAOS_SEED", "16"))
STATE_INTERVAL = 1.0  # seconds between the node's state saves
RESOLVE_BOUND = 30.0  # seconds after /health is 200 again for every open key to resolve
STOP_BOUND = 15.0  # seconds from SIGINT to the service's exit
HEALTH_BOUND = 120.0  # seconds for /health to answer 200 after a restart
PATIENCE = 60.0  # seconds a writer keeps retrying one key
REPLAY_MOST = 500  # keys answered 2xx replayed at the end (a sample beyond that)
CAST = {
    **{f"core{i}": ["CORE_ENTERPRISE"] for i in range(4)},
    "supplier": ["SUPPLIER"],
    "financier": ["FINANCIER"],
    "bank": ["SETTLEMENT_BANK"],
    "auditor": ["AUDITOR"],
}
ENV = {"LEDGER_WRITE_INDEX_WAIT": "5"}
SERVICE_WAYS = ("random", "after-request", "after-broadcast")
NODE_WAYS = ("random", "after-answer")


class Abort(Exception):
    """The service cannot go on (not healthy, the node not starting): the kills stop."""


@dataclass
class Chaos:
    """One run: the stack, its writers, what was done to it and what broke."""

    stack: Stack
    writers: KeyedWriters
    recorder: Recorder
    rng: random.Random
    prober: Client
    kills: Counter[str] = field(default_factory=Counter)
    problems: dict[str, str] = field(default_factory=dict)  # problem -> where first seen
    resolve_seconds: list[float] = field(default_factory=list)
    stuck: set[str] = field(default_factory=set)
    stop_seconds: list[float | None] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)  # every process started, for the end
    episodes: list[dict[str, object]] = field(default_factory=list)  # a row per check

    def note(self, where: str, problems: list[str]) -> None:
        """Keep ``problems``, each with the first episode that showed it."""
        for problem in problems:
            self.problems.setdefault(problem, where)

    def summary(self) -> list[str]:
        """The problems grouped by what they say (numbers and hashes aside): how many,
        where first seen, and the first of them."""
        groups: dict[str, list[tuple[str, str]]] = {}
        for problem, where in self.problems.items():
            shape = re.sub(r"0x[0-9a-fA-F]+|\d+(\.\d+)?", "#", problem)
            shape = re.sub(r"chaos-\w+-[\w-]+", "KEY", shape)[:80]
            groups.setdefault(shape, []).append((where, problem))
        return [
            f"{len(found)} x, first [{found[0][0]}]: {found[0][1][:400]}"
            for found in groups.values()
        ]

    def remember_processes(self) -> None:
        """The service's and the node's pids, and the service's children, as they are now."""
        for pid in (self.stack.api.pid, self.stack.node.pid):
            if pid is not None:
                self.pids.add(pid)
                with contextlib.suppress(psutil.NoSuchProcess):
                    self.pids.update(c.pid for c in psutil.Process(pid).children(recursive=True))


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None: the stack's SQLite file; otherwise a fresh database of the module's cluster."""
    if request.param == "sqlite":
        return None
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database()


def test_service_and_node_killed_under_writes_lose_nothing_run_nothing_twice_stick_no_key(
    tmp_path: Path, database_url: str | None
) -> None:
    label = "postgres" if database_url else "sqlite"
    with running_stack(tmp_path, CAST, database_url=database_url, env=ENV,
                       state_interval=STATE_INTERVAL) as stack:  # fmt: skip
        recorder = Recorder()
        writers = KeyedWriters(stack, recorder, debtors=[f"core{i}" for i in range(4)],
                               creditor="supplier", bank="bank", holder="financier",
                               threads=WRITERS, patience=PATIENCE, run=f"chaos-{label}")  # fmt: skip
        chaos = Chaos(stack, writers, recorder, random.Random(SEED), Client(stack, recorder))
        chaos.remember_processes()
        plan = [
            *(("service", SERVICE_WAYS[i % len(SERVICE_WAYS)]) for i in range(SERVICE_KILLS)),
            *(("node", NODE_WAYS[i % len(NODE_WAYS)]) for i in range(NODE_KILLS)),
            ("node", "during-stop"),
        ]
        chaos.rng.shuffle(plan)
        started = time.monotonic()
        with writers:
            try:
                _wait_writes(chaos, 10, "before any kill")
                _check(chaos, "before any kill", since=None)
                for number, (part, way) in enumerate(plan, 1):
                    _wait_writes(chaos, chaos.rng.randint(3, 8), f"before kill {number}")
                    _episode(chaos, f"kill {number} ({part} {way})", part, way)
            except Abort as exc:
                chaos.note("aborted", [str(exc)])
        _sweep(chaos)
        verdict = _check(chaos, "at the end", since=None, replay_all=True)
        _final_stop(chaos, label)
        attempts = recorder.snapshot()
        figures = _figures(chaos, attempts, verdict, time.monotonic() - started)
        if chaos.problems:
            _keep_evidence(stack, attempts, tmp_path / "evidence")
    for pid in sorted(chaos.pids):
        with contextlib.suppress(psutil.NoSuchProcess):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                chaos.note("after the stack stopped", [f"process {pid} still running"])
    _print_episodes(chaos.episodes)
    print_table(f"crash safety, {label}", figures)
    report(f"crash-safety-{label}", verdict or Verdict(), attempts)
    every = tmp_path / "broken-promises.txt"
    every.write_text("".join(f"[{w}] {p}\n" for p, w in chaos.problems.items()))

    assert writers.errors == []
    assert chaos.problems == {}, (
        f"{len(chaos.problems)} broken promises (all in {every}), by kind:\n"
        + "\n".join(chaos.summary())
    )


def test_second_service_on_the_same_database_refuses_to_start(
    tmp_path: Path, database_url: str | None
) -> None:
    with running_stack(tmp_path, {"bank": ["SETTLEMENT_BANK"]}, database_url=database_url,
                       env=ENV) as stack:  # fmt: skip
        from apikit import free_tcp_port

        env = {**stack.env, "LEDGER_PORT": str(free_tcp_port())}
        second = LedgerProcess(["run"], env, tmp_path / "second.log").start()
        try:
            assert second.process is not None
            try:
                code = second.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                code = None
            log = second.log_tail(60)
        finally:
            second.kill()
        assert stack.api.alive, "the first service died when the second started"
        assert code is not None, f"a second `ledger-app run` still runs after 30 s:\n{log}"
        assert code != 0, f"the second `ledger-app run` exited 0:\n{log}"
        assert "lock" in log.lower(), f"the second one's output names no lock:\n{log}"


# --- one kill ---------------------------------------------------------------------------


def _episode(chaos: Chaos, where: str, part: str, way: str) -> None:
    """Kill ``part`` the ``way`` given, bring it back, and check every promise."""
    stack = chaos.stack
    if part == "service":
        killed_at, way = _kill_service(chaos, way)
        stack.api.start()
    elif way == "during-stop":
        killed_at = _kill_node_while_stopping(chaos, where)
        _start_node(chaos, where)
        stack.api.start()
    else:
        killed_at = _kill_node(chaos, way)
        time.sleep(chaos.rng.uniform(0.2, 1.5))  # down for a moment
        _start_node(chaos, where)
    chaos.kills[f"{part} {way}"] += 1
    open_keys = _open_keys(chaos, killed_at)
    try:
        stack.wait_healthy(HEALTH_BOUND)
    except AssertionError as exc:
        raise Abort(f"{where}: /health not 200 within {HEALTH_BOUND:g} s: {exc}") from None
    healthy_at = time.monotonic()
    chaos.remember_processes()
    stuck = _resolve(chaos, where, open_keys, healthy_at)
    _check(chaos, where, since=killed_at)
    chaos.episodes[-1].update({"open keys": len(open_keys), "stuck": stuck,
                               "healthy after (s)": round(healthy_at - killed_at, 1)})  # fmt: skip


def _kill_service(chaos: Chaos, way: str) -> tuple[float, str]:
    """SIGKILL the service the ``way`` asked; when it was, and the way it was done."""
    stack, rng = chaos.stack, chaos.rng
    if way == "random":
        time.sleep(rng.uniform(0, 1.5))
        stack.api.kill()
    elif way == "after-request":
        chaos.writers.wait_send(10)
        time.sleep(rng.uniform(0, 0.03))  # the request on its way in, or just taken up
        stack.api.kill()
    else:  # after-broadcast: the node has the transaction, the service never hears so
        fired = stack.proxy.arm("eth_sendRawTransaction", stack.api.kill)
        if not fired.wait(30):
            stack.proxy.disarm()
            stack.api.kill()
            way = "after-broadcast (none came in 30 s: at random)"
    return time.monotonic(), way


def _kill_node(chaos: Chaos, way: str) -> float:
    if way == "random":
        time.sleep(chaos.rng.uniform(0, 2.0))
    else:  # after-answer: a write just answered 2xx, its block not yet saved
        answered = chaos.writers.accepted()
        deadline = time.monotonic() + 30
        while chaos.writers.accepted() <= answered and time.monotonic() < deadline:
            time.sleep(0.005)
    chaos.stack.kill_node()
    return time.monotonic()


def _kill_node_while_stopping(chaos: Chaos, where: str) -> float:
    """SIGINT the service and SIGKILL the node while it stops; the stop must stay bounded."""
    killed: list[float] = []

    def kill_node() -> None:
        time.sleep(chaos.rng.uniform(0.05, 0.5))
        chaos.stack.kill_node()
        killed.append(time.monotonic())

    seconds = chaos.stack.api.interrupt(STOP_BOUND, during=kill_node)
    chaos.stop_seconds.append(seconds)
    if seconds is None:
        chaos.note(where, [f"the service did not exit within {STOP_BOUND:g} s of SIGINT "
                           "with the node killed while it stopped (SIGKILLed)"])  # fmt: skip
    return killed[0]


def _start_node(chaos: Chaos, where: str) -> None:
    try:
        chaos.stack.start_node()
    except NodeError as exc:
        raise Abort(f"{where}: the node would not start from its saved state: {exc}") from None
    chaos.remember_processes()


# --- the promises -----------------------------------------------------------------------


def _first_finals(attempts: list[Attempt]) -> dict[str, Attempt]:
    """Each Idempotency-Key's first final answer."""
    firsts: dict[str, Attempt] = {}
    for a in sorted(attempts, key=lambda a: a.at):
        if a.idempotency_key and a.final and a.idempotency_key not in firsts:
            firsts[a.idempotency_key] = a
    return firsts


def _open_keys(chaos: Chaos, at: float) -> set[str]:
    """Keys tried before ``at`` without a final answer by then."""
    firsts = _first_finals(chaos.recorder.snapshot())
    return {
        key
        for key, write in list(chaos.writers.writes.items())
        if write.created <= at and (key not in firsts or firsts[key].at > at)
    }


def _resolve(chaos: Chaos, where: str, keys: set[str], healthy_at: float) -> int:
    """Every key in ``keys`` must have a final answer within RESOLVE_BOUND s of
    ``healthy_at``; the writers retry them, and the test retries those a writer gave up.
    How many did not."""
    pending = set(keys)
    deadline = healthy_at + RESOLVE_BOUND
    while pending:
        firsts = _first_finals(chaos.recorder.snapshot())
        for key in sorted(pending):
            if key in firsts:
                chaos.resolve_seconds.append(max(0.0, firsts[key].at - healthy_at))
                pending.discard(key)
            elif key in chaos.writers.abandoned:
                chaos.writers.probe(chaos.prober, chaos.writers.writes[key])
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.3)
    if pending:
        chaos.stuck |= pending
        chaos.note(where, [f"{len(pending)} Idempotency-Keys without a final answer "
                           f"{RESOLVE_BOUND:g} s after /health was 200 again: "
                           f"{_last_answers(chaos, pending)}"])  # fmt: skip
    return len(pending)


def _last_answers(chaos: Chaos, keys: set[str], most: int = 3) -> str:
    last: dict[str, Attempt] = {}
    for a in chaos.recorder.snapshot():
        if a.idempotency_key in keys:
            last[a.idempotency_key] = a
    shown = [f"{key}: {a.status} {(a.detail or '')[:90]}" for key, a in sorted(last.items())[:most]]
    return "; ".join(shown) + (" ..." if len(keys) > most else "")


def _check(
    chaos: Chaos, where: str, since: float | None, replay_all: bool = False
) -> Verdict | None:
    """With the writers held and nothing in flight: exactly-once, accounting, replays.
    The exactly-once verdict (None if the index never reached the node's head)."""
    verdict, started = None, time.monotonic()
    if not chaos.writers.pause(timeout=60):
        chaos.note(where, ["client requests still unanswered 60 s after the writers paused"])
    try:
        attempts = chaos.recorder.snapshot()
        try:
            verdict = verify_writes(chaos.stack, attempts, index_timeout=30,
                                    refusals_off_chain=True)  # fmt: skip
            chaos.note(where, verdict.problems)
        except AssertionError as exc:
            chaos.note(where, [f"index: {str(exc).splitlines()[0]}"])
        audit = audit_senders(chaos.stack, attempts)
        chaos.note(where, audit.problems)
        differing = _check_replays(chaos, where, attempts, since, replay_all)
    finally:
        chaos.writers.resume()
    chaos.episodes.append({
        "after": where,
        "answered 2xx": "?" if verdict is None else verdict.once + verdict.lost,
        "lost": "?" if verdict is None else verdict.lost,
        "duplicated": "?" if verdict is None else verdict.duplicated,
        "refused yet on chain": "?" if verdict is None else verdict.refused_on_chain,
        "index ok": verdict is not None and not any(
            p.startswith(("the chain has", "reconcile")) for p in verdict.problems),
        "unaccounted txs": len(audit.unaccounted),
        "rows QUEUED/SENT": sum(audit.rows_unresolved.values()),
        "keys RUNNING": audit.keys_running,
        "replays differing": differing,
        "check (s)": round(time.monotonic() - started, 1),
    })  # fmt: skip
    return verdict


def _check_replays(chaos: Chaos, where: str, attempts: list[Attempt], since: float | None,
                   replay_all: bool) -> str:  # fmt: skip
    """Keys answered 2xx (all, up to REPLAY_MOST, or those answered in the 15 s before
    ``since`` and 20 more) answer the same again: same status, same transaction, marked
    replayed (a 202 may have become the final answer of its transaction). Returns
    "differing/tried"."""
    answered = {
        key: a
        for key, a in _first_finals(attempts).items()
        if a.status is not None and 200 <= a.status < 300
    }
    keys = sorted(answered)
    if replay_all and len(keys) > REPLAY_MOST:
        keys = chaos.rng.sample(keys, REPLAY_MOST)
    elif not replay_all:
        recent = [k for k in keys if since is not None and since - 15 <= answered[k].at <= since]
        older = [k for k in keys if k not in recent]
        keys = recent + chaos.rng.sample(older, min(20, len(older)))
    differing = []
    for key in keys:
        first = answered[key]
        again = chaos.writers.probe(chaos.prober, chaos.writers.writes[key])
        replayed = again is not None and again.headers.get("idempotent-replayed") == "true"
        now = (None if again is None else again.status_code,
               _tx_hash(again) if again is not None else None)  # fmt: skip
        # A 202 (pending, or mined and not indexed yet) is not final: its replay may have
        # become the final answer of the same transaction.
        settled = first.status == 202 and now[0] in (200, 201, 202) and now[1] == first.tx_hash
        if (now != (first.status, first.tx_hash) and not settled) or not replayed:
            error = "" if again is None else (again.text[:120] if again.status_code >= 400 else "")
            differing.append(f"{key} ({first.status} {first.tx_hash}) -> {now}"
                             f"{'' if replayed else ' not replayed'} {error}")  # fmt: skip
    if differing:
        chaos.note(where, [f"{len(differing)} of {len(keys)} keys answered 2xx answer "
                           f"otherwise now: {differing[:3]}"])  # fmt: skip
    return f"{len(differing)}/{len(keys)}"


def _tx_hash(response: object) -> str | None:
    try:
        body = response.json()  # type: ignore[attr-defined]
        return body["transaction"]["hash"]
    except (ValueError, KeyError, TypeError):
        return None


def _wait_writes(chaos: Chaos, more: int, where: str) -> None:
    try:
        chaos.writers.wait_accepted(more, timeout=90)
    except AssertionError as exc:
        raise Abort(f"{where}: {exc}") from None


def _sweep(chaos: Chaos) -> None:
    """The writers stopped: every key still without a final answer is retried (same key
    and body) until it has one, up to RESOLVE_BOUND s."""
    firsts = _first_finals(chaos.recorder.snapshot())
    pending = {k for k in chaos.writers.writes if k not in firsts}
    chaos.writers.abandoned |= pending
    _resolve(chaos, "at the end", pending, time.monotonic())


def _final_stop(chaos: Chaos, label: str) -> None:
    """SIGINT under 30 writers' load: the service must exit within STOP_BOUND s."""
    stack = chaos.stack
    chaos.remember_processes()
    load = KeyedWriters(stack, Recorder(), debtors=["core0", "core1"], creditor="supplier",
                        bank="bank", holder="financier", threads=WRITERS, patience=3,
                        run=f"stop-{label}")  # fmt: skip
    with load:
        with contextlib.suppress(AssertionError):  # stopped under whatever load there is
            load.wait_accepted(5, timeout=30)
        seconds = stack.api.interrupt(STOP_BOUND)
    chaos.stop_seconds.append(seconds)
    if seconds is None:
        chaos.note("final SIGINT", [f"the service did not exit within {STOP_BOUND:g} s of "
                                    "SIGINT under load (SIGKILLed)"])  # fmt: skip


def _keep_evidence(stack: Stack, attempts: list[Attempt], into: Path) -> None:
    """What a broken promise is read from afterwards: every attempt, and the service's
    journal (``transactions``) and Idempotency-Keys, one JSON object per line."""
    into.mkdir(exist_ok=True)
    with (into / "attempts.jsonl").open("w") as out:
        for a in sorted(attempts, key=lambda a: a.at):
            out.write(json.dumps(dataclasses.asdict(a), default=str) + "\n")
    engine = make_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            for table in (transactions, idempotency_records):
                with (into / f"{table.name}.jsonl").open("w") as out:
                    for row in conn.execute(select(table)):
                        out.write(json.dumps(dict(row._mapping), default=str) + "\n")
    finally:
        engine.dispose()


# --- the tables -------------------------------------------------------------------------


def _print_episodes(episodes: list[dict[str, object]]) -> None:
    """One line per check: what was killed and what the check found (cumulative)."""
    if not episodes:
        return
    columns = list(dict.fromkeys(k for e in episodes for k in e))
    widths = {c: max(len(c), *(len(str(e.get(c, ""))) for e in episodes)) for c in columns}
    print("\n" + "  ".join(c.ljust(widths[c]) for c in columns))
    for episode in episodes:
        print("  ".join(str(episode.get(c, "")).ljust(widths[c]) for c in columns))


def _figures(
    chaos: Chaos, attempts: list[Attempt], verdict: Verdict | None, seconds: float
) -> dict[str, object]:
    firsts = _first_finals(attempts)
    answered = [a for a in firsts.values() if a.status is not None and 200 <= a.status < 300]
    statuses = Counter(a.status for a in firsts.values())
    refusals = Counter(
        f"{a.status} {_error(a)}" for a in firsts.values() if a.status and a.status >= 400
    )
    stops = ["none" if s is None else f"{s:.1f}" for s in chaos.stop_seconds]
    return {
        **{f"kills: {kind}": n for kind, n in sorted(chaos.kills.items())},
        "writes (Idempotency-Keys)": len(chaos.writers.writes),
        "writes answered 2xx": len(answered),
        "final answers by status": dict(sorted(statuses.items(), key=str)),
        "refusals": dict(refusals),
        "on chain once": getattr(verdict, "once", "?"),
        "lost (2xx, not on chain)": getattr(verdict, "lost", "?"),
        "duplicated (on chain twice)": getattr(verdict, "duplicated", "?"),
        "refused (final 4xx), yet on chain": getattr(verdict, "refused_on_chain", "?"),
        "stuck keys (no final answer in time)": len(chaos.stuck),
        "  of them never answered": len(chaos.stuck - set(firsts)),
        "longest time to resolve (s)": round(max(chaos.resolve_seconds, default=0.0), 2),
        "SIGINT to exit (s)": ", ".join(stops),
        "broken promises": len(chaos.problems),
        "run (s)": round(seconds, 1),
    }


def _error(attempt: Attempt) -> str:
    """The error name of a refusal's body."""
    found = re.search(r'"error":\s*"(\w+)"', attempt.detail or "")
    return found.group(1) if found else "?"
