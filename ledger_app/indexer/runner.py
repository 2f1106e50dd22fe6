"""Following the chain: block ranges, reorg detection and the follow loop.

Each step indexes one contiguous range [start, end] after the checkpoint:

1. ``eth_getLogs`` over the range for every followed contract; a settlement
   token listed inside the range is followed from its listing block on (its
   logs for the rest of the range are fetched at once).
2. One batched ``eth_getBlockByNumber`` for ``start``, ``end`` and every
   block with a log. ``start``'s parent hash must be the checkpoint's hash,
   and every log's block hash its header's; otherwise the chain changed
   under us: walk back to the common ancestor, roll back, go on from there.
3. Decode, and commit the batch with the checkpoint in one transaction.

Reading (1, 2 but the parent-hash check, and the decoding) is indexer/reader.py's
RangeReader; far behind the head a helper process reads the next range while this one
commits (ReadAhead), and the step checks what it takes from it as its own read.

While the batch ends more than the reorg window below the head, the store is in its
bulk mode (Store.set_bulk_mode: the unordered secondary indexes of ``events`` dropped);
the first batch within the window, or a step that finds the index caught up, builds
them again first.

A node that comes back lower than the checkpoint, or with other blocks at the
indexed heights (a node restarted from an older saved state, a reorg deeper than
the undo window), is followed too: the index is rolled back to the newest indexed
block the node still has when the undo log reaches it, and otherwise emptied and
built again from the deployment block. Either is logged loudly; the index never
keeps rows of blocks the chain no longer has.

Ranges adapt: halved when the node refuses a query as too large, cut at a
block boundary when it answers more than ``max_batch_logs`` logs (memory stays
flat), doubled (up to ``max_range``) after a success with room to spare. Transient RPC failures are retried by
the RPC client with backoff; if it gives up, the loop waits a poll interval
and tries again, so a node that goes away and comes back is survived.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from ledger_app import metrics
from ledger_app.chain.decode import EventDecoder
from ledger_app.chain.rpc import RpcClient
from ledger_app.errors import ChainUnavailable, RangeTooLargeError
from ledger_app.indexer.monitoring import RuleRunner
from ledger_app.indexer.reader import (
    CHANGED,
    SHORTER,
    TOKEN_KIND,
    TOO_LARGE,
    Query,
    RangeReader,
    ReadAhead,
)
from ledger_app.indexer.store import Batch, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexerConfig:
    """Knobs of the follow loop."""

    confirmations: int = 0  # index up to head - confirmations (0 suits anvil and QBFT)
    poll_interval: float = 1.0  # seconds between polls once caught up
    # Blocks per eth_getLogs to begin with. Small: the first range is fetched whole
    # before it can be cut, and 2,000 blocks of a dense chain held a million logs (the
    # backfill's peak memory grew with the chain); doubling reaches max_range in 12 steps.
    initial_range: int = 16
    max_range: int = 50_000
    # Logs per batch: a denser range is split before anything is decoded, so that a
    # batch's memory stays flat however many events the chain packs into its blocks.
    max_batch_logs: int = 5_000
    # "latest": head - confirmations, and a node lower than the index is followed down.
    # "finalized": the node's finalized block (head - confirmations on a node without the
    # tag: Besu QBFT, final at once); what is indexed is final, so a node lower than the
    # index is lagging: waited for, never followed down (no skip, no re-apply).
    block_tag: str = "latest"
    # Far behind the head, a helper process reads the next range while a batch is
    # written (indexer/reader.py): two cores' worth of backfill.
    read_ahead: bool = True
    # ... when the blocks left look like holding at least this many events (about ten
    # batches): below that the helper's start-up costs more than it saves.
    read_ahead_min_events: int = 50_000


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the duration (reference counting still
    frees everything else), back as it was after.

    A batch holds thousands of decoded events, mutations and rows at once, all alive
    until it commits: the collector's young-generation passes kept finding them and
    walking them again, a fifth of a 100k-event backfill's time (bench: 8.8 s of 40)
    for no garbage found. After the step the collector runs on its usual thresholds.
    Process-wide, so other threads' cycles wait for the end of the step too."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class StepResult:
    """What one step did."""

    indexed_to: int  # last indexed block after the step (-1 before the first)
    tip: int  # chain head seen
    events: int  # new events stored
    caught_up: bool  # nothing left to index up to the confirmed head
    reorged: bool = False


ProgressCallback = Callable[[StepResult, float], None]


class Indexer:
    """Indexes the followed contracts into ``store``.

    ``contracts`` maps each fixed contract's address to its kind (contract type
    name); settlement tokens are added as the registry lists them.
    """

    def __init__(
        self,
        rpc: RpcClient,
        store: Store,
        decoder: EventDecoder,
        contracts: Mapping[str, str],
        start_block: int,
        config: IndexerConfig | None = None,
    ) -> None:
        self.rpc = rpc
        self.store = store
        self.decoder = decoder
        self.config = config or IndexerConfig()
        self.contracts = {a.lower(): k for a, k in contracts.items()}
        self.start_block = start_block
        self.range = self.config.initial_range
        self.ceiling = self.config.max_range  # largest span the node has not refused
        self.reader = RangeReader(rpc, decoder, self.contracts, self.config.max_batch_logs)
        self._ahead: ReadAhead | None = None  # the read-ahead helper, while far behind
        self.helper_peak_rss_kb = 0  # the read-ahead helpers' peak memory (benchmarks)
        self._bulk_seen = (0, 0)  # events and blocks indexed in the bulk mode: the density
        # Every eth_getLogs asked (from, to, addresses), if set to a list (benchmarks).
        self.queries: list[Query] | None = None
        self.tokens: dict[str, int] = {}
        self._reload_tokens()
        self.tip = -1
        self.events_total = 0
        # Why the index waits for the node (finalized mode: the node is behind the index).
        self.lagging: str | None = None
        self._finalized_tag: bool | None = None  # whether the node answers "finalized"
        # Why the index is ahead of the node's chain, from the moment a step finds it so
        # until a rollback or rebuild has committed (read by /health and the write gate).
        self.diverged: str | None = None
        # The compliance rules, run after each step (indexer/monitoring.py); None: off.
        self.monitor: RuleRunner | None = None

    # --- the loop -------------------------------------------------------------------

    def run(
        self,
        *,
        follow: bool = True,
        until: int | None = None,
        stop: threading.Event | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        """Index until caught up (``follow=False``) or until ``stop`` is set.

        ``until`` caps the indexed block (a backfill to a given block). An unreachable node
        is waited for; other errors propagate (``ledger-app index`` and the embedded thread
        retry them with backoff around ``step``).
        """
        stop = stop or threading.Event()
        started = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    result = self.step(until=until)
                except ChainUnavailable as exc:
                    log.warning("node unavailable (%s); trying again in %g s", exc,
                                self.config.poll_interval)  # fmt: skip
                    stop.wait(self.config.poll_interval)
                    continue
                if on_progress is not None:
                    on_progress(result, time.monotonic() - started)
                if result.caught_up:
                    if not follow:
                        return
                    stop.wait(self.config.poll_interval)
        finally:
            self.close()

    def step(
        self,
        *,
        until: int | None = None,
        known_tip: int | None = None,
        committed: Callable[[StepResult], None] | None = None,
    ) -> StepResult:
        """Index one range after the checkpoint (or handle a reorg); see the module doc.

        ``known_tip``, a block known to be mined (a writer's receipt), stands in for
        ``eth_blockNumber``: the step indexes up to it, and a later step goes further.
        A block since reorged away is caught like any other (its header is missing or
        its hash differs). ``committed`` is called with the result as soon as the batch
        is committed, before the monitoring rules run on it: a writer waiting for its
        block (read-your-writes) need not wait for the rules too."""
        with _cyclic_gc_paused():
            result = self._step(until=until, known_tip=known_tip)
        # Reached only when the checkpoint is on the chain again (or was all along).
        self.diverged = None
        if committed is not None:
            committed(result)
        if self.monitor is not None:
            # After the commit, in its own transaction; it never raises (a failed run is
            # logged and run again after the next step). A rollback lowers its checkpoint.
            self.monitor.after_batch(result.events, caught_up=result.caught_up or result.reorged)
        metrics.indexer_stepped(result.tip, result.indexed_to, result.caught_up)
        return result

    def _step(self, *, until: int | None, known_tip: int | None) -> StepResult:
        tip, target = self._target(known_tip)
        self.tip = tip
        if until is not None:
            target = min(target, until)
        cp = self.store.checkpoint()
        start = cp.block_number + 1 if cp else self.start_block
        if self.config.block_tag == "finalized" and cp is not None and tip < cp.block_number:
            # Final blocks are never undone: a node below them has not reached them yet
            # (a lagging node failed over to). Wait for it; never roll back what is final.
            if self.lagging is None:
                log.warning("the node's head %d is below the indexed block %d: waiting for "
                            "it to catch up", tip, cp.block_number)  # fmt: skip
            self.lagging = f"the node's head {tip} is below the indexed block {cp.block_number}"
            return self._result(tip, 0, caught_up=True)
        self.lagging = None
        if start > target:
            self.store.set_bulk_mode(False)  # caught up: every index is there to read
            self.close()  # and nothing left to read ahead
            # Also where the node is now lower than the checkpoint (its header is missing).
            if cp is not None and not self._head_still_canonical(cp.block_number, cp.block_hash):
                self._rewind(tip)
                return self._result(tip, 0, caught_up=False, reorged=True)
            return self._result(tip, 0, caught_up=True)
        end = min(target, start + self.range - 1)
        read = self._ahead.take(start, self.tokens, target) if self._ahead else None
        if read is None:
            read = self.reader.read(start, end, self.tokens)
        if self.queries is not None:
            self.queries.extend(read.queries)
        if read.status == TOO_LARGE:
            if read.end == start:
                raise RangeTooLargeError(read.error)
            # Providers' limits are fixed: never grow back to a span that was refused.
            self.ceiling = min(self.ceiling, read.end - start)
            self.range = max(1, (read.end - start + 1) // 2)
            log.info("range too large for the node; now %d blocks", self.range)
            return self._result(tip, 0, caught_up=False)
        if read.status == SHORTER:
            return self._result(tip, 0, caught_up=False)
        if cp is not None and read.headers[start].parent_hash != cp.block_hash:
            self._rewind(tip)
            return self._result(tip, 0, caught_up=False, reorged=True)
        if read.status == CHANGED:
            log.info("blocks %d..%d changed while being read; reading them again", start, end)
            return self._result(tip, 0, caught_up=False)
        end, events = read.end, read.events
        if read.cut:
            self.range = end - start + 1
        if len(events) * 2 <= self.config.max_batch_logs:  # room to double the span
            self.range = min(self.config.max_range, self.ceiling, self.range * 2)
        batch = Batch(start=start, end=end, tip=tip, headers=read.headers, events=events,
                      args_json=read.args_json)  # fmt: skip
        # Far behind (the whole batch below the reorg window): the bulk mode, with the
        # unordered indexes of events dropped, built once the window is reached.
        bulk = target - end > self.store.reorg_window
        self.store.set_bulk_mode(bulk)
        tokens = dict(self.tokens)  # as they will be once the batch is committed
        for event in events:
            if event.name == "SettlementTokenListed" and event.kind == "ParticipantRegistry":
                tokens.setdefault(event.args["token"], event.block_number)
        if bulk:
            self._bulk_seen = (
                self._bulk_seen[0] + len(events),
                self._bulk_seen[1] + end - start + 1,
            )
        self._read_next(end + 1, target, tokens, start_helper=bulk)
        stored = self.store.apply(batch)
        self.events_total += stored
        for token, listed in tokens.items():
            if token not in self.tokens:
                self.tokens[token] = listed
                self.decoder.follow(token, TOKEN_KIND)
        return StepResult(indexed_to=end, tip=tip, events=stored, caught_up=end >= target)

    def close(self) -> None:
        """Stop the read-ahead helper, if one runs (run() does it on its way out)."""
        if self._ahead is not None:
            self._ahead.close()
            self.helper_peak_rss_kb = max(self.helper_peak_rss_kb, self._ahead.peak_rss_kb)
            self._ahead = None

    def _read_next(self, start: int, target: int, tokens: dict[str, int], *, start_helper: bool
                   ) -> None:  # fmt: skip
        """Have the helper read the next range while this batch is written (reader.py).

        The helper is started far behind the head (``start_helper``, the bulk mode) when
        the blocks left look like holding ``read_ahead_min_events`` events at the density
        seen so far (a process's start-up, a second of CPU, is not worth less), and used
        until the index is caught up; it is stopped then.
        Near the head a read ahead is checked as any read is (reader.py), so a block
        replaced meanwhile is found by the parent-hash check, as it is when read late."""
        if start > target or not self.config.read_ahead:
            self.close()
            return
        end = min(target, start + self.range - 1)
        if self._ahead is None:
            events, blocks = self._bulk_seen  # events ahead ~ events / blocks * blocks left
            ahead = events * (target - start + 1)
            if not start_helper or ahead < self.config.read_ahead_min_events * max(1, blocks):
                return
            self._ahead = ReadAhead(self.rpc, self.decoder, self.contracts,
                                    self.config.max_batch_logs)  # fmt: skip
        if self._ahead.failed:
            return
        self._ahead.submit(start, end, tokens)

    # --- internals ------------------------------------------------------------------

    def _target(self, known_tip: int | None) -> tuple[int, int]:
        """(the node's head, the last block to index now)."""
        if self.config.block_tag == "finalized" and self._finalized_tag is not False:
            head = self.rpc.block_number()
            final = self.rpc.finalized_block()
            if final is not None:
                self._finalized_tag = True
                return head, final
            if self._finalized_tag is None:
                log.info("the node has no 'finalized' block (Besu QBFT has none: blocks are "
                         "final once mined): indexing up to head - %d",
                         self.config.confirmations)  # fmt: skip
            self._finalized_tag = False
        tip = self.rpc.block_number() if known_tip is None else known_tip
        return tip, tip - self.config.confirmations

    def _head_still_canonical(self, number: int, block_hash: str) -> bool:
        header = self.rpc.headers([number])[number]
        return header is not None and header.hash == block_hash

    def _rewind(self, tip: int) -> None:
        """Put the index back on the node's chain, which no longer has the checkpoint block.

        Rolls back to the newest indexed block the node still has, if the undo log reaches
        it (every stored block above the undo floor); otherwise empties the index and
        builds it again from the deployment block. Blocks between a kept block and the
        head are indexed again by the next steps, so a node that is simply lower than the
        checkpoint ends up indexed exactly to its head."""
        cp = self.store.checkpoint()
        if cp is None:
            return
        if tip < cp.block_number:
            change = f"the node's head {tip} is below the indexed block {cp.block_number}"
        else:
            change = f"the node no longer has indexed block {cp.block_number} ({cp.block_hash})"
        self.diverged = change
        candidates = self.store.recent_blocks()
        headers = self.rpc.headers([n for n, _ in candidates]) if candidates else {}
        for number, block_hash in candidates:
            header = headers.get(number)
            if header is not None and header.hash == block_hash:
                log.warning("chain changed (%s): rolling back to block %d, the newest indexed "
                            "block still on it", change, number)  # fmt: skip
                self.store.rollback(number, block_hash)
                self._reload_tokens()
                return
        # Logged as an error: the whole index goes, and reads are incomplete until the
        # rebuild catches up; an operator should know that it happened and why.
        log.error(
            "chain changed (%s) below the undo window: no indexed block from the undo floor "
            "%d up is on the node's chain any more. Emptying the index and building it again "
            "from deployment block %d",
            change,
            cp.undo_floor,
            self.start_block,
        )
        self.store.reset()
        self.range = self.config.initial_range
        self._reload_tokens()

    def _reload_tokens(self) -> None:
        self.tokens = {a.lower(): n for a, n in self.store.followed_tokens().items()}
        for token in self.tokens:
            self.decoder.follow(token, TOKEN_KIND)

    def _result(
        self, tip: int, events: int, *, caught_up: bool, reorged: bool = False
    ) -> StepResult:
        cp = self.store.checkpoint()
        return StepResult(
            indexed_to=cp.block_number if cp else -1,
            tip=tip,
            events=events,
            caught_up=caught_up,
            reorged=reorged,
        )
