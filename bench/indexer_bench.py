"""Indexer backfill against its limit: raw eth_getLogs over the same ranges plus eth_abi
decoding, writing nothing, measured on the same chain in the same run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.chain import GeneratedChain
from ledger_app import PROJECT_ROOT
from ledger_app.audit.encode import EventEncoder
from ledger_app.audit.trace import build_trace
from ledger_app.chain.decode import KINDS, build_decoder
from ledger_app.chain.rpc import RpcClient
from ledger_app.db.engine import make_engine


def followed(chain: GeneratedChain) -> dict[str, str]:
    """Every contract the indexer decodes, the settlement tokens included."""
    ledger = chain.ledger
    return {ledger.addresses[n].lower(): k for n, k in ledger.kinds.items()}


def raw_limit(chain: GeneratedChain, calls: list[list]) -> tuple[float, int]:
    """events/s of the backfill's own eth_getLogs calls (``calls``, as the driver recorded
    them) replayed and decoded with eth_abi, writing nothing; and the event count. A log
    fetched twice (a range cut at a block boundary is fetched again from there) is
    decoded once, as the indexer stores it once."""
    decoder = build_decoder(chain.ledger.artifacts)
    for address, kind in followed(chain).items():
        decoder.follow(address, kind)
    rpc = RpcClient(chain.node.rpc_url, timeout=600)
    seen: set[tuple[str, str]] = set()
    started = time.perf_counter()
    for start, end, addresses in calls:
        logs = rpc.get_logs(start, end, addresses)
        fresh = [e for e in logs if (e["blockNumber"], e["logIndex"]) not in seen]
        seen.update((e["blockNumber"], e["logIndex"]) for e in fresh)
        decoder.decode_all(fresh)
    return len(seen) / (time.perf_counter() - started), len(seen)


def backfill(chain: GeneratedChain, db_url: str, until: int) -> dict[str, Any]:
    """One `bench.backfill_driver` run: events, seconds, peak_rss_mb, calls."""
    ledger = chain.ledger
    contracts = {
        ledger.addresses[n].lower(): k for n, k in ledger.kinds.items() if k != "SettlementToken"
    }  # fmt: skip  (tokens come from the registry's events)
    done = subprocess.run(
        [sys.executable, "-m", "bench.backfill_driver", chain.node.rpc_url, db_url,
         json.dumps(contracts), str(ledger.deployment_block), str(until)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"backfill driver failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def trace_latencies(
    db_url: str, chain: GeneratedChain, root: int, samples: int
) -> tuple[list[float], int]:
    """ms per trace of ``root`` read from a backfilled index, as the trace route builds it
    (build_trace with the raw-log encoder, then JSON); and the trace's step count."""
    engine = make_engine(db_url)
    encoder = EventEncoder({kind: chain.ledger.artifacts[kind].abi for kind in KINDS})
    latencies, steps = [], 0
    try:
        for _ in range(samples):
            started = time.perf_counter()
            with engine.connect() as conn:
                trace = build_trace(conn, 31337, root, encoder)
            json.dumps(trace)
            latencies.append((time.perf_counter() - started) * 1000)
            steps = len(trace["steps"])
    finally:
        engine.dispose()
    return latencies, steps


def trace_completeness(db_url: str, chain: GeneratedChain, root: int) -> dict[str, Any]:
    """The verifier's completeness check of ``root``'s trace from a backfilled index (the
    tree rebuilt from the node's logs alone and compared step by step): its verdict, the
    RPC requests, calls and logs it took, and its wall time in ms (completeness.Cost)."""
    from ledger_app.audit.verify import check_completeness

    ledger = chain.ledger
    abis = {kind: ledger.artifacts[kind].abi for kind in KINDS}
    contracts = {a: k for a, k in followed(chain).items() if k != "SettlementToken"}
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            trace = build_trace(conn, 31337, root, None, contracts, ledger.deployment_block)
    finally:
        engine.dispose()
    rpc = RpcClient(chain.node.rpc_url, timeout=600)
    started = time.perf_counter()
    result = check_completeness(trace, rpc, abis)
    result["ms_total"] = (time.perf_counter() - started) * 1000
    result["descendants"] = len(trace["receivables"]) - 1
    result["blocks_searched"] = result["blocks"]["to"] - result["blocks"]["from"] + 1
    result["trace"] = trace
    return result
