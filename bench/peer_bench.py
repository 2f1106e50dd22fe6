"""The peer row of the indexer benchmark (issue 24): Ponder (bench/peer/, pinned in its own
package-lock, never a dependency of the service) indexing the same generated history into
the same PostgreSQL cluster as ours, in alternating rounds, and both sides' rows compared.

    python -m bench.peer_bench [EVENTS] [ROUNDS]     (default 12000 events, 2 rounds)

A round is: ours (bench.backfill_driver) into a fresh database, then Ponder into another
fresh database (`ponder start`, its tables in its own schema). Each side is timed from the
start of its backfill to its last commit. For ours that is the driver's first request to
its last commit (its process start and migrations left out). For Ponder it is from its
log line "Started backfill indexing" (after its build of the config and handlers, its
connections and its CREATE TABLEs: left out likewise) to the first moment its `/ready`
endpoint answers 200 with its `/status` at the history's last block (polled every 20 ms;
/ready answers once the historical backfill is complete and committed). The time from the
spawn of `ponder start` is kept too (``seconds_from_spawn``). Peak RSS is the whole
process tree's (Ponder's node process and any worker it spawns, summed), sampled every
50 ms.

A round whose two sides disagree (the events per event name, or the digest of the
receivables both built) raises PeerMismatch: a correctness check, never a timing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

from bench import indexer_bench, noise
from bench.chain import ARTIFACTS, GeneratedChain, free_port, generate
from ledger_app import PROJECT_ROOT
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.rpc import RpcClient
from ledger_app.domain.vocabulary import RECEIVABLE_STATUS

PEER = PROJECT_ROOT / "bench" / "peer"
NODE = PEER / "node_modules" / ".bin" / "node"  # Node 22, from the npm package `node`
PONDER = PEER / "node_modules" / "ponder" / "dist" / "esm" / "bin" / "ponder.js"
STAMP = PEER / "node_modules" / ".stamp-npm"
_PINS = json.loads((PEER / "package.json").read_text())["dependencies"]
PONDER_VERSION, NODE_VERSION = _PINS["ponder"], _PINS["node"]
TOKEN_LISTER, TOKEN_KIND = "ParticipantRegistry", "SettlementToken"
#: The tuned peer lists the RPC URL this many times (ponder.config.ts says why).
TUNED_RPC_COPIES = 25
#: Blocks Ponder 0.16 waits before it takes one as final on a chain it does not know
#: (node_modules/ponder/src/utils/finality.ts).
PONDER_FINALITY = 30

#: The receivables columns both sides hold, with how each is written canonically.
RECEIVABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "int"), ("parent_id", "int"), ("root_id", "int"), ("debtor", "text"),
    ("creditor", "text"), ("holder", "text"), ("amount", "int"), ("currency", "text"),
    ("issue_date", "int"), ("due_date", "int"), ("invoice_key", "text"),
    ("document_hash", "text"), ("late_interest_bps", "int"), ("status", "text"),
    ("frozen", "bool"), ("first_child_id", "int"), ("child_count", "int"),
    ("outstanding", "int"), ("created_block", "int"), ("updated_block", "int"),
)  # fmt: skip
#: An event's identity, which both events tables hold.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("chain_id", "int"), ("tx_hash", "text"), ("log_index", "int"), ("block_number", "int"),
    ("contract", "text"), ("event_name", "text"),
)  # fmt: skip


class PeerMismatch(AssertionError):
    """Ours and the peer indexed the same history into different rows."""


class PeerFailed(RuntimeError):
    """Ponder did not install, start or finish its backfill."""


# --- installing ------------------------------------------------------------------------


def install(log: Any = print) -> None:
    """bench/peer/node_modules as its lock says, redone only when package.json or the lock
    changed since (the stamp, as the Makefile's root npm rule). npm ci first; where the
    registry leaves platform packages out of the lock, npm install with the same lock,
    which must leave it unchanged."""
    inputs = [PEER / "package.json", PEER / "package-lock.json"]
    if STAMP.is_file() and all(p.stat().st_mtime <= STAMP.stat().st_mtime for p in inputs):
        return
    log("peer: npm ci in bench/peer (Ponder, pinned)")
    lock = (PEER / "package-lock.json").read_bytes()
    npm = ["npm", "--no-audit", "--no-fund"]
    done = subprocess.run([*npm, "ci"], cwd=PEER, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        log("peer: npm ci refused the lock; npm install with the same lock")
        again = subprocess.run([*npm, "install"], cwd=PEER, capture_output=True, text=True,
                               check=False)  # fmt: skip
        if again.returncode != 0:
            raise PeerFailed(f"npm install in bench/peer failed:\n{again.stderr[-3000:]}")
    if (PEER / "package-lock.json").read_bytes() != lock:
        (PEER / "package-lock.json").write_bytes(lock)
        raise PeerFailed("npm changed bench/peer/package-lock.json (restored): pin it again")
    if not NODE.is_file() or not PONDER.is_file():
        raise PeerFailed(f"bench/peer installed without {NODE.name} or ponder's bin")
    STAMP.touch()


# --- running ---------------------------------------------------------------------------


def ledger_file(chain: GeneratedChain, database_url: str, copies: int, work: Path) -> Path:
    """The JSON the peer's config reads (bench/peer/ledger.ts): ABIs, addresses, range."""
    artifacts = json.loads(ARTIFACTS.read_text())["contractTypes"]
    ledger = chain.ledger
    contracts = {
        kind: ledger.addresses[name] for name, kind in ledger.kinds.items() if kind != TOKEN_KIND
    }  # fmt: skip  (tokens come from their listing)
    abis = {kind: [item for item in artifacts[kind]["abi"] if item.get("type") == "event"]
            for kind in [*contracts, TOKEN_KIND]}  # fmt: skip
    path = work / "ledger.json"
    path.write_text(json.dumps({
        "rpcUrl": chain.node.rpc_url, "rpcCopies": copies,
        "databaseUrl": database_url.replace("postgresql+psycopg://", "postgresql://"),
        "startBlock": ledger.deployment_block, "endBlock": chain.head,
        "contracts": contracts, "abis": abis, "tokenLister": TOKEN_LISTER,
        "tokenKind": TOKEN_KIND, "receivableStatus": list(RECEIVABLE_STATUS),
    }))  # fmt: skip
    return path


class TreeRss:
    """Peak resident memory of a process and all its descendants, summed, sampled on a
    thread every ``interval`` seconds until ``stop()``."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.root = psutil.Process(pid)
        self.peak_bytes = 0
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stopped.is_set():
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for process in tree:
                # A worker may end between the listing and the read.
                with contextlib.suppress(psutil.Error):
                    total += process.memory_info().rss
            self.peak_bytes = max(self.peak_bytes, total)
            self._stopped.wait(self._interval)

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._stopped.set()
        self._thread.join(timeout=5)
        return self.peak_bytes / 2**20


def _reached(port: int, end_block: int) -> bool:
    """Ponder's /ready answers 200 (its historical backfill is complete) and its /status
    says the chain's checkpoint is at ``end_block`` or past it."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:
            if answer.status != 200:
                return False
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as answer:
            status = json.loads(answer.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    return bool(status.get("anvil", {}).get("block", {}).get("number", -1) >= end_block)


def finalise(chain: GeneratedChain) -> None:
    """Empty blocks on top of the history, so that all of it is final to Ponder and goes
    through its historical backfill (its fast path: blocks it takes as final are fetched
    in ranges; the last 30, its finality depth for a chain it does not know, would go
    through its realtime sync one block at a time). Both sides still index up to
    ``chain.head``, the history's last block."""
    rpc = RpcClient(chain.node.rpc_url, timeout=120)
    if int(rpc.call("eth_blockNumber", []), 16) < chain.head + PONDER_FINALITY + 1:
        rpc.call("anvil_mine", [hex(PONDER_FINALITY + 1)])


def ponder_backfill(chain: GeneratedChain, database_url: str, schema: str, copies: int,
                    work: Path, timeout: float = 3600) -> dict[str, Any]:  # fmt: skip
    """One `ponder start` over the chain into ``schema`` of ``database_url``: seconds (spawn
    to /ready answering 200), peak_rss_mb of its process tree, and the log's tail."""
    work.mkdir(parents=True, exist_ok=True)
    ledger = ledger_file(chain, database_url, copies, work)
    port = free_port()
    env = {**os.environ, "PONDER_LEDGER": str(ledger), "PONDER_TELEMETRY_DISABLED": "true",
           "NODE_ENV": "production", "PATH": f"{NODE.parent}:{os.environ.get('PATH', '')}"}  # fmt: skip
    log_path = work / "ponder.log"
    with log_path.open("wb") as log_file:
        started, spawned = time.perf_counter(), time.time()
        process = subprocess.Popen(
            [str(NODE), str(PONDER), "--log-format", "json", "start", "--schema", schema,
             "--port", str(port), "--hostname", "127.0.0.1"],
            cwd=PEER, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers go with it when stopped
        )  # fmt: skip
        rss = TreeRss(process.pid)
        try:
            while not _reached(port, chain.head):
                if process.poll() is not None:
                    raise PeerFailed(f"ponder exited {process.returncode} before it was ready:\n"
                                     + log_path.read_text(errors="replace")[-3000:])  # fmt: skip
                if time.perf_counter() - started > timeout:
                    raise PeerFailed(f"ponder not ready after {timeout:.0f} s")
                time.sleep(0.02)
            ready = time.time()
        finally:
            peak = rss.stop()
            _stop(process)
    backfill_started = _logged_at(log_path, "Started backfill indexing")
    return {"seconds": ready - backfill_started, "seconds_from_spawn": ready - spawned,
            "peak_rss_mb": peak, "copies": copies}  # fmt: skip


def _logged_at(log_path: Path, message: str) -> float:
    """The wall-clock time (s) of Ponder's first JSON log line saying ``message``."""
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("msg") == message:
                return float(record["time"]) / 1000
    raise PeerFailed(f"ponder never logged {message!r} ({log_path})")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the peer's process group (ours alone: its own session), then SIGKILL."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


# --- comparing -------------------------------------------------------------------------


def canonical(value: Any, kind: str) -> str:
    """One column's value as text both databases' drivers agree on: integers in decimal
    (NUMERIC arrives as Decimal, BIGINT as int), booleans as t/f, NULL as \\N."""
    if value is None:
        return "\\N"
    if kind == "int":
        if isinstance(value, Decimal) and value != value.to_integral_value():
            raise ValueError(f"{value!r} is not an integer")
        return str(int(value))
    if kind == "bool":
        return "t" if value else "f"
    return str(value)


def digest(rows: Iterable[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """sha256 of the rows' canonical text (tab-separated columns, one row a line), the
    rows sorted: equal on both sides iff they hold the same rows."""
    lines = sorted("\t".join(canonical(row[name], kind) for name, kind in columns) for row in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def read_model(database_url: str, schema: str | None = None) -> dict[str, Any]:
    """Events per event name, the events' and the receivables' digests of one side
    (``schema``: Ponder's; ours is the database's default)."""
    engine = sa.create_engine(database_url)
    prefix = f'"{schema}".' if schema else ""
    try:
        with engine.connect() as conn:
            counts = dict(conn.execute(sa.text(
                f"SELECT event_name, count(*) FROM {prefix}events GROUP BY event_name"
            )).all())  # fmt: skip
            event_rows = conn.execute(sa.text(
                f"SELECT {', '.join(n for n, _ in EVENT_COLUMNS)} FROM {prefix}events"
            )).mappings()  # fmt: skip
            events_digest = digest(event_rows, EVENT_COLUMNS)
            receivable_rows = conn.execute(sa.text(
                f"SELECT {', '.join(n for n, _ in RECEIVABLE_COLUMNS)} FROM {prefix}receivables"
            )).mappings().all()  # fmt: skip
    finally:
        engine.dispose()
    return {"events": sum(counts.values()), "per_event": dict(sorted(counts.items())),
            "events_digest": events_digest, "receivables": len(receivable_rows),
            "receivables_digest": digest(receivable_rows, RECEIVABLE_COLUMNS)}  # fmt: skip


def compare(ours: dict[str, Any], peer: dict[str, Any]) -> None:
    """Raise PeerMismatch unless both sides hold the same events and receivables."""
    problems = []
    if ours["per_event"] != peer["per_event"]:
        names = sorted(set(ours["per_event"]) | set(peer["per_event"]))
        problems.append("events per name differ: " + ", ".join(
            f"{n} ours {ours['per_event'].get(n, 0)} peer {peer['per_event'].get(n, 0)}"
            for n in names if ours["per_event"].get(n) != peer["per_event"].get(n)))  # fmt: skip
    for key in ("events_digest", "receivables", "receivables_digest"):
        if ours[key] != peer[key]:
            problems.append(f"{key}: ours {ours[key]}, peer {peer[key]}")
    if problems:
        raise PeerMismatch("ours and Ponder indexed the same history differently: "
                           + "; ".join(problems))  # fmt: skip


# --- the rounds ------------------------------------------------------------------------


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (with their own reaped children):
    taken around one side's run, that indexer's own CPU (the node and PostgreSQL apart),
    which a loaded machine stretches far less than the wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(chain: GeneratedChain, cluster: Any, rounds: int, work: Path,
            log: Any = print, default_too: bool = True) -> dict[str, Any]:  # fmt: skip
    """Alternating rounds on one chain: ours, then the tuned peer (and, if ``default_too``,
    the peer as configured by default), each into a fresh database of ``cluster`` (a
    tests/indexer/pgcluster.py PostgresCluster); every round's rows compared. Per round
    and side: events/s, peak RSS, the indexer process's CPU seconds (cpu_s) and those of
    the whole work, the PostgreSQL server and the node answering it included (work_cpu_s)."""
    install(log)
    finalise(chain)
    create_database = cluster.create_database
    servers = [pid for pid in (noise.postmaster_pid(cluster), chain.node.pid) if pid]

    def cpu_now() -> tuple[float, float]:
        own = children_cpu()
        return own, own + sum(noise.tree_seconds(pid) for pid in servers)

    out: dict[str, Any] = {"ours": [], "peer": [], "peer_default": [], "check": None}
    for i in range(rounds):
        url = create_database()
        before = cpu_now()
        ours = indexer_bench.backfill(chain, url, chain.head)
        cpu, work_cpu = (b - a for a, b in zip(before, cpu_now(), strict=True))
        ours_rows = read_model(url)
        out["ours"].append({"rate": ours["events"] / ours["seconds"], "cpu_s": cpu,
                            "work_cpu_s": work_cpu,
                            "peak_rss_mb": ours["peak_rss_mb"], "events": ours["events"]})  # fmt: skip
        sides = [("peer", TUNED_RPC_COPIES)] + ([("peer_default", 1)] if default_too else [])
        for side, copies in sides:
            url = create_database()
            before = cpu_now()
            peer = ponder_backfill(chain, url, "ponder", copies, work / f"{side}-{i}")
            cpu, work_cpu = (b - a for a, b in zip(before, cpu_now(), strict=True))
            peer_rows = read_model(url, "ponder")
            compare(ours_rows, peer_rows)
            out[side].append({"rate": peer_rows["events"] / peer["seconds"], "cpu_s": cpu,
                              "work_cpu_s": work_cpu,
                              "rate_from_spawn": peer_rows["events"] / peer["seconds_from_spawn"],
                              "peak_rss_mb": peer["peak_rss_mb"], "events": peer_rows["events"]})  # fmt: skip
        out["check"] = {k: ours_rows[k] for k in ("events", "receivables", "receivables_digest")}
        last = {side: out[side][-1] for side in ("ours", "peer")}
        log(f"peer round {i + 1}: ours {last['ours']['rate']:,.0f}/s ({last['ours']['peak_rss_mb']:.0f} MB, "
            f"{last['ours']['cpu_s']:.0f} / {last['ours']['work_cpu_s']:.0f} CPU s), ponder tuned "
            f"{last['peer']['rate']:,.0f}/s ({last['peer']['peak_rss_mb']:.0f} MB, "
            f"{last['peer']['cpu_s']:.0f} / {last['peer']['work_cpu_s']:.0f} CPU s)"
            + (f", default {out['peer_default'][-1]['rate']:,.0f}/s" if default_too else "")
            + f"; same {ours_rows['events']:,} events, {ours_rows['receivables']:,} receivables")  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    events = int(args[0]) if args else 12_000
    rounds = int(args[1]) if len(args) > 1 else 2
    sys.path.insert(0, str(PROJECT_ROOT / "tests" / "indexer"))
    from pgcluster import PostgresCluster

    work = Path(tempfile.mkdtemp(prefix="bench-peer-"))
    cluster = PostgresCluster.start()
    chain = generate(work / "chain", events, Artifacts.load(ARTIFACTS))
    try:
        result = measure(chain, cluster, rounds, work)
        print(json.dumps(result, indent=2))
    finally:
        chain.node.stop()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
