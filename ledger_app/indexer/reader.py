"""Reading one block range from the node, and reading the next one ahead in a helper
process while a backfill writes.

``RangeReader.read`` is steps 1 and 2 of a step (indexer/runner.py): eth_getLogs over the
range for the followed contracts and the settlement tokens listed so far (a token listed
inside the range is followed from its listing block on), the range cut at a block
boundary when it answers more than ``max_batch_logs`` logs, one batched header request,
and the checks that the blocks did not change while being read; then the logs decoded.
It writes nothing and decides nothing: the step checks the range's parent against the
checkpoint, adapts its span and commits.

**The read-ahead.** Far behind the head, a step's time goes to two parts of about the
same size, both Python: reading its range (the node's answer parsed, every log decoded
with eth_abi) and writing it (handlers, rows, the database). In one process they take
turns on one core, however many the machine has. ``ReadAhead`` runs a RangeReader in a
helper process, ``python -m ledger_app.indexer.reader``, which reads the next range while
this process writes the current one: on two cores a backfill goes at about the pace of
the slower part. (A thread would not: both parts hold the interpreter lock.)

The helper keeps nothing that matters: the node's answers and a decoder. It asks the
node once per request, without retries or fail-over; a read that fails there is read again
by the step itself, through the indexer's own client. The step takes a result only for
the range it starts at, with the same settlement tokens followed, and ending at or below
its target; any other is thrown away and read again. Everything after the read is the
same either way: the parent-hash check against the checkpoint, the commit with its
checkpoint, the rollback. The helper speaks pickle over its stdin and stdout (it is our
own child, nothing else writes there) and ends when its stdin closes: when the step leaves
the bulk mode, when the indexer closes, or when this process dies, however it dies.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import logging
import os
import pickle
import select
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from ledger_app.chain.decode import DecodedEvent, EventDecoder
from ledger_app.chain.rpc import BlockHeader, RpcClient
from ledger_app.db.schema import canonical_json
from ledger_app.errors import RangeTooLargeError

log = logging.getLogger(__name__)

TOKEN_KIND = "SettlementToken"

# What a read found.
READ = "read"  # the range (maybe cut short: ``end``), its headers and events
TOO_LARGE = "too large"  # the node refused the log query as too wide; ``error`` says how
SHORTER = "shorter"  # a block of the range is missing: the chain got shorter meanwhile
CHANGED = "changed"  # blocks of the range were replaced while it was being read

Query = tuple[int, int, list[str]]  # an eth_getLogs as asked: from, to, addresses


@dataclass
class RangeRead:
    """What reading blocks [start, end] found."""

    start: int
    end: int  # the last block read: the asked end, or below it if the range was cut
    status: str
    headers: dict[int, BlockHeader] = field(default_factory=dict)
    events: list[DecodedEvent] = field(default_factory=list)
    cut: bool = False  # cut at a block boundary: more than max_batch_logs logs
    # Each event's arguments as canonical JSON, as stored (the helper makes them: its
    # time is spent beside the writing, not in it); None: the store makes them.
    args_json: list[str] | None = None
    error: str = ""  # TOO_LARGE: the node's words
    queries: list[Query] = field(default_factory=list)  # every eth_getLogs made


class RangeReader:
    """Reads block ranges of the followed contracts (see the module doc)."""

    def __init__(
        self,
        rpc: RpcClient,
        decoder: EventDecoder,
        contracts: Mapping[str, str],
        max_batch_logs: int,
    ) -> None:
        self.rpc = rpc
        self.decoder = decoder
        self.contracts = {a.lower(): k for a, k in contracts.items()}
        self.max_batch_logs = max_batch_logs
        for address, kind in self.contracts.items():
            decoder.follow(address, kind)
        self._listing_topics = {
            topic
            for topic, name in decoder.topics_of("ParticipantRegistry").items()
            if name == "SettlementTokenListed"
        }

    def read(self, start: int, end: int, tokens: Mapping[str, int]) -> RangeRead:
        """Read [start, end] with ``tokens`` (address -> listing block) followed."""
        queries: list[Query] = []
        fetched_to = end
        # The end block's hash before the logs are read, compared with it after: a log
        # query answers no block hash for a block without our logs, so a node that swapped
        # its blocks in between (restarted from an older state, then mined others) would
        # otherwise pass an empty range off as checked. Same end hash, same blocks below.
        before = self.rpc.headers([end])[end]
        if before is None:
            return RangeRead(start, end, SHORTER)  # shorter than it said
        try:
            logs = self._fetch_logs(start, end, tokens, queries)
        except RangeTooLargeError as exc:
            return RangeRead(start, end, TOO_LARGE, error=str(exc), queries=queries)
        cut = False
        if len(logs) > self.max_batch_logs and end > start:
            # Keep the whole blocks that fit (a block is never split); the next step
            # fetches from the first block left out, with the span that fitted.
            overflow = int(logs[self.max_batch_logs]["blockNumber"], 16)
            end = max(start, overflow - 1)
            logs = [entry for entry in logs if int(entry["blockNumber"], 16) <= end]
            cut = True
        numbers = sorted(
            {start, end, fetched_to} | {int(entry["blockNumber"], 16) for entry in logs}
        )
        headers = self.rpc.headers(numbers)
        if any(h is None for h in headers.values()):
            # The chain got shorter since eth_blockNumber: a reorg or rollback.
            return RangeRead(start, end, SHORTER, queries=queries)
        found: dict[int, BlockHeader] = headers  # type: ignore[assignment]
        if found[fetched_to].hash != before.hash or any(
            entry["blockHash"] != found[int(entry["blockNumber"], 16)].hash for entry in logs
        ):
            kept = {number: found[number] for number in (start,)}
            return RangeRead(start, end, CHANGED, headers=kept, queries=queries)
        kept = {number: header for number, header in found.items() if number <= end}
        return RangeRead(start, end, READ, headers=kept, events=self.decoder.decode_all(logs),
                         cut=cut, queries=queries)  # fmt: skip

    def _fetch_logs(
        self, start: int, end: int, tokens: Mapping[str, int], queries: list[Query]
    ) -> list[dict]:
        followed = [*self.contracts, *(t for t, listed in tokens.items() if listed <= end)]
        queries.append((start, end, followed))
        logs = self.rpc.get_logs(start, end, followed)
        logs = [entry for entry in logs if self._wanted(entry, tokens)]
        # A token listed in this range: follow it from its listing block on.
        seen = {entry["address"].lower() for entry in logs}
        new_tokens: dict[str, int] = {}
        for entry in logs:
            # Only a listing needs decoding here; the read decodes every log once after.
            if entry["address"].lower() not in self.contracts or not entry["topics"]:
                continue
            if entry["topics"][0] not in self._listing_topics:
                continue
            event = self.decoder.decode(entry)
            if event.kind == "ParticipantRegistry" and event.name == "SettlementTokenListed":
                token = event.args["token"]
                if token not in tokens and token not in new_tokens:
                    new_tokens[token] = event.block_number
        for token, listed in new_tokens.items():
            self.decoder.follow(token, TOKEN_KIND)
            if token in seen:
                continue
            queries.append((listed, end, [token]))
            token_logs = self.rpc.get_logs(listed, end, [token])
            logs += [entry for entry in token_logs if int(entry["blockNumber"], 16) >= listed]
        if new_tokens:
            # Not yet among the step's tokens: that happens once the batch is committed.
            logs.sort(key=lambda e: (int(e["blockNumber"], 16), int(e["logIndex"], 16)))
        return logs

    def _wanted(self, entry: dict, tokens: Mapping[str, int]) -> bool:
        address = entry["address"].lower()
        if address in self.contracts:
            return True
        listed = tokens.get(address)
        return listed is not None and int(entry["blockNumber"], 16) >= listed


Request = tuple[int, int, dict[str, int]]  # start, end, the tokens followed

#: Requests the helper may have in hand at once: one being read, one behind it.
MAX_ASKED = 2


class ReadAhead:
    """A helper process that reads the next range while this one writes (module doc).

    Requests and answers are pickles in frames (an 8-byte length first), so that this
    side can tell without blocking whether an answer has come (``select`` on the pipe:
    nothing of it sits in a buffer of ours). While the helper starts up (a second or so
    of imports), the step does not wait for it: it reads its range itself, and answers
    that come later for ranges already indexed are thrown away as they arrive."""

    def __init__(self, rpc: RpcClient, decoder: EventDecoder, contracts: Mapping[str, str],
                 max_batch_logs: int) -> None:  # fmt: skip
        self._setup = (rpc.url, rpc.timeout, decoder.abis, dict(contracts), max_batch_logs)
        self._process: subprocess.Popen[bytes] | None = None
        self._asked: collections.deque[Request] = collections.deque()  # unanswered, in order
        self._answered = False  # whether the helper has answered yet (it is up)
        self._starting: threading.Thread | None = None  # writing the first messages
        self.failed = False  # the helper could not be started or died: read in-process
        self.peak_rss_kb = 0  # the largest helper's peak resident memory (benchmarks)

    def submit(self, start: int, end: int, tokens: Mapping[str, int]) -> None:
        """Ask the helper to read [start, end] with ``tokens`` followed."""
        if self.failed:
            return
        self._drop_stale(start)
        if self.failed:  # it died answering one: no other is started in its place
            return
        if len(self._asked) >= MAX_ASKED:
            return  # the helper is behind (starting up): the step reads this one itself
        request = (start, end, dict(tokens))
        if self._process is None:
            self._start(request)
            return
        if self._process.poll() is not None:
            self._give_up(f"the helper exited with status {self._process.returncode}")
            return
        try:
            if self._starting is not None:
                self._starting.join()  # it has been written by now, or the helper is gone
                self._starting = None
            _send(self._process.stdin, request)  # type: ignore[arg-type]
        except OSError as exc:
            self._give_up(f"the helper's pipe: {exc}")
            return
        self._asked.append(request)

    def take(self, start: int, tokens: Mapping[str, int], target: int) -> RangeRead | None:
        """The helper's read of the range from ``start`` if it was asked for, with
        ``tokens`` followed, and ends at or below ``target``; None otherwise (the step
        reads the range itself). Waits for it, unless the helper has not answered yet
        at all (it is still starting: reading the range here is sooner)."""
        self._drop_stale(start)
        if not self._asked or self._asked[0][0] != start:
            return None
        if not self._answered and not self._ready():
            return None  # dropped when it comes (_drop_stale): the range is indexed by then
        _, _, asked_tokens = self._asked.popleft()
        read = self._answer()
        if read is None or asked_tokens != dict(tokens):
            return None
        if read.status == READ and read.end > target:
            return None  # the chain's head came down below it since: read it again
        return read

    def close(self) -> None:
        """Stop the helper (it holds nothing to save)."""
        self._asked.clear()
        self._answered = False
        process, self._process = self._process, None
        if process is None:
            return
        self.peak_rss_kb = max(self.peak_rss_kb, _peak_rss_kb(process.pid))
        process.kill()  # first: a thread writing to its stdin is let go
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        process.wait()

    # --- internals --------------------------------------------------------------------

    def _start(self, request: Request) -> None:
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "ledger_app.indexer.reader"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,  # unbuffered: _ready's select sees every byte not yet read
                close_fds=True,
            )
        except OSError as exc:
            self._give_up(f"the helper could not be started: {exc}")
            return
        log.info("read-ahead helper started (pid %d)", self._process.pid)
        # The setup message (the ABIs) is more than a pipe holds: it and the first request
        # are written by a thread while the helper starts up, so that this process goes on
        # writing its batch meanwhile.
        self._starting = threading.Thread(
            target=_send_quietly, args=(self._process.stdin, self._setup, request),
            daemon=True, name="read-ahead-setup",
        )  # fmt: skip
        self._starting.start()
        self._asked.append(request)

    def _drop_stale(self, start: int) -> None:
        """Throw away the answers to requests for ranges before ``start`` (indexed since,
        or abandoned by a rollback) that have come; those still being read are dropped
        when they come."""
        while self._asked and self._asked[0][0] != start and self._ready():
            self._asked.popleft()
            self._answer()

    def _ready(self) -> bool:
        process = self._process
        if process is None or process.stdout is None:
            return False
        readable, _, _ = select.select([process.stdout], [], [], 0)
        return bool(readable)

    def _answer(self) -> RangeRead | None:
        process = self._process
        if process is None:
            return None
        try:
            kind, value = pickle.loads(_read_frame(process.stdout))  # type: ignore[arg-type]
        except Exception as exc:  # EOF, a broken or cut pickle: it died mid-answer
            self._give_up(f"the helper stopped answering: {exc or type(exc).__name__}")
            return None
        self._answered = True
        if kind != "read":
            # The node failed it (unreachable, an error): the step asks the node itself,
            # with the indexer's retries and fail-over.
            log.info("read-ahead: %s; the step reads the range itself", value)
            return None
        return value

    def _give_up(self, why: str) -> None:
        log.warning("read-ahead off: %s; ranges are read in this process", why)
        self.close()
        self.failed = True


def _send(pipe: IO[bytes], message: Any) -> None:
    """One message, framed: its length in 8 bytes, then its pickle."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(len(data).to_bytes(8, "big") + data)
    while view:  # an unbuffered pipe may take part of it at a time
        written = pipe.write(view)
        view = view[written if written is not None else len(view) :]
    pipe.flush()


def _read_frame(pipe: IO[bytes]) -> bytes:
    """One framed message; EOFError if the pipe ends before it does."""
    size = int.from_bytes(_read_exactly(pipe, 8), "big")
    return _read_exactly(pipe, size)


def _read_exactly(pipe: IO[bytes], size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = pipe.read(left)
        if not chunk:
            raise EOFError("the pipe ended mid-message")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _send_quietly(pipe: IO[bytes], *messages: Any) -> None:
    # A helper that died before reading them is found by the answer awaited.
    with contextlib.suppress(OSError, ValueError):
        for message in messages:
            _send(pipe, message)


def _peak_rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def serve(requests: IO[bytes], answers: IO[bytes]) -> int:
    """The helper's loop: a setup message, then one answer per request until EOF."""
    try:
        url, timeout, abis, contracts, max_batch_logs = pickle.loads(_read_frame(requests))
    except EOFError:
        return 0
    # One try per request (give_up_after=0): the step retries by reading it itself.
    rpc = RpcClient(url, timeout=timeout, give_up_after=0)
    reader = RangeReader(rpc, EventDecoder(abis), contracts, max_batch_logs)
    while True:
        try:
            start, end, tokens = pickle.loads(_read_frame(requests))
        except EOFError:
            return 0
        for token in tokens:
            reader.decoder.follow(token, TOKEN_KIND)
        gc.disable()  # thousands of new objects, none garbage until the next request
        try:
            read = reader.read(start, end, tokens)
            read.args_json = [canonical_json(event.args) for event in read.events]
            answer: tuple[str, Any] = ("read", read)
        except Exception as exc:  # the node's failure, reported: the step reads it again
            answer = ("failed", f"{type(exc).__name__}: {exc}")
        finally:
            gc.enable()
        try:
            _send(answers, answer)
        except BrokenPipeError:
            return 0  # the indexer has gone


if __name__ == "__main__":
    # Answers go to the original stdout only; anything else printed goes to stderr.
    _answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    # This module imported again under its own name: what it pickles (RangeRead) must
    # be ledger_app.indexer.reader's classes, not __main__'s.
    from ledger_app.indexer import reader

    sys.exit(reader.serve(sys.stdin.buffer, _answers))
