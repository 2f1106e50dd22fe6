"""The managed local node: an anvil process whose state outlives it.

anvil loads its chain from the state file at start (``--load-state``), so blocks,
contracts and balances survive a restart (the genesis hash too, which is how a
deployment record recognises its chain). anvil itself never writes that file: its
own dump (on exit, or anvil's --state-interval) reads the blocks and the accounts
under separate locks, so one taken while a block is mined can hold effects its blocks
lack, and it rewrites the file in place, so a kill mid-write leaves it unreadable.
Every save is this module's (``save_state``): mining paused, anvil_dumpState over
JSON-RPC, a temporary file, fsync, rename; a kill at any moment leaves the previous
save or the new one whole. The state is saved every ``state_interval`` seconds while
the head moves (at least ten times the last save's duration apart, so saving a large
chain stays under a tenth of the node's time) and at ``stop()``. What a kill loses,
the blocks since the last save, the service sends again from its transaction journal
(ledger_app/api/services/journal.py). ``restart_on_exit``: a node that dies unasked is
started again from its state file (``ledger-app run``).

anvil is started in a session (process group) of its own, so a Ctrl-C typed
at ``ledger-app run`` reaches only ledger-app, which then stops the HTTP
server first and anvil last (saved, then SIGTERM). On Linux anvil is also told
to receive SIGTERM if its parent dies, so even a SIGKILLed ledger-app leaves no
node behind (its chain as of the last save).

anvil writes the states of older blocks to a cache directory while it runs (so
calls at past blocks still answer) and never deletes it; left in its default place,
~/.foundry/anvil/tmp, a busy chain's leftovers filled the disk. The node keeps it
beside its state file instead and empties it before each start and after each stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import json
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self

from ledger_app import PROJECT_ROOT
from ledger_app.chain.keys import ANVIL_MNEMONIC
from ledger_app.errors import NodeError

if TYPE_CHECKING:
    from types import TracebackType

    from ledger_app.settings import Settings

log = logging.getLogger(__name__)

_NPM_OS = {"Linux": "linux", "Darwin": "darwin"}
_NPM_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def find_anvil(configured: Path | None = None) -> Path:
    """The anvil binary: the configured one, node_modules' native one, or PATH's.

    node_modules/.bin/anvil is a Node launcher; the native binary sits in the
    platform package @foundry-rs/anvil-<os>-<arch>, and is used directly so
    that signals reach anvil itself.
    """
    if configured is not None:
        if not configured.is_file():
            raise NodeError(f"LEDGER_ANVIL_BINARY {configured} does not exist")
        return configured
    os_name = _NPM_OS.get(platform.system())
    arch = _NPM_ARCH.get(platform.machine().lower())
    if os_name and arch:
        candidate = (
            PROJECT_ROOT
            / "node_modules"
            / "@foundry-rs"
            / f"anvil-{os_name}-{arch}"
            / "bin"
            / "anvil"
        )
        if candidate.is_file():
            return candidate
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise NodeError("no anvil binary: run `make setup` (npm ci installs @foundry-rs/anvil)")


class AnvilNode:
    """One anvil process, started and stopped by this service."""

    #: Whether stop() saves the state first (a benchmark's throw-away chain need not).
    save_on_stop = True

    def __init__(
        self,
        *,
        binary: Path,
        port: int,
        chain_id: int,
        state_file: Path,
        log_file: Path,
        host: str = "127.0.0.1",
        automine: bool = True,
        block_time: float = 0.0,
        state_interval: float = 0.0,
        start_timeout: float = 30.0,
        restart_on_exit: bool = False,
    ) -> None:
        if not automine and not block_time:
            raise NodeError("anvil needs automine, a block time, or both, to mine at all")
        self.binary = binary
        self.host = host
        self.port = port
        self.chain_id = chain_id
        self.state_file = Path(state_file)
        self.log_file = Path(log_file)
        self.automine = automine
        self.block_time = block_time
        self.state_interval = state_interval
        self.start_timeout = start_timeout
        self.restart_on_exit = restart_on_exit
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._keeper: threading.Thread | None = None
        self._stopping = threading.Event()
        self._saved_head: str | None = None
        self._pending_since: float | None = None
        self.saves = 0  # state saves since start
        self.save_seconds: list[float] = []  # the duration of each (the last 100)
        self.restarts = 0  # starts after an unasked exit

    @classmethod
    def from_settings(cls, settings: Settings, *, restart_on_exit: bool = False) -> AnvilNode:
        """The node ``settings`` describe (port and host from ``rpc_url``)."""
        return cls(
            binary=find_anvil(settings.anvil_binary),
            host="127.0.0.1",
            port=settings.rpc_port,
            chain_id=settings.chain_id,
            state_file=settings.anvil_state_file,
            log_file=settings.anvil_log_file,
            automine=settings.anvil_automine,
            block_time=settings.anvil_block_time,
            state_interval=settings.anvil_state_interval,
            restart_on_exit=restart_on_exit,
        )

    @property
    def rpc_url(self) -> str:
        """HTTP JSON-RPC endpoint of this node."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running anvil, None when not running."""
        return self._process.pid if self._process and self._process.poll() is None else None

    @property
    def pid_file(self) -> Path:
        """Where the running anvil's pid is written (for operators and tests)."""
        return self.state_file.with_name("anvil.pid")

    @property
    def cache_dir(self) -> Path:
        """Where anvil writes older blocks' states while it runs (emptied around each run)."""
        return self.state_file.with_name("anvil-cache")

    def command(self) -> list[str]:
        """The anvil command line."""
        argv = [
            str(self.binary),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--mnemonic", ANVIL_MNEMONIC,
            "--cache-path", str(self.cache_dir),
        ]  # fmt: skip
        if self.state_file.is_file():
            # Loaded, never dumped by anvil itself: its own dump (on exit or at an
            # interval) reads blocks and accounts under separate locks, so one taken while
            # a block is mined can hold effects its blocks lack. Every save is ours.
            argv += ["--load-state", str(self.state_file)]
        if self.block_time:
            argv += ["--block-time", f"{self.block_time:g}"]
            if self.automine:
                argv.append("--mixed-mining")
        return argv

    def start(self) -> Self:
        """Start anvil and return once it answers JSON-RPC with the right chain id; then
        save its state every ``state_interval`` s (and restart it if ``restart_on_exit``)."""
        if self._process is not None and self._process.poll() is not None:
            self._reap()  # killed from outside: start again from the state file
        if self._process is not None:
            raise NodeError("this anvil node is already started")
        self._stopping.clear()
        try:
            self._spawn()
        except BaseException:
            self.stop()
            raise
        if self.state_interval or self.restart_on_exit:
            self._keeper = threading.Thread(target=self._keep, name="anvil-keeper", daemon=True)
            self._keeper.start()
        return self

    def save_state(self) -> float:
        """Save the chain to the state file now, atomically; the seconds it took."""
        started = time.monotonic()
        dumped = self._dump_with_mining_paused()
        state = gzip.decompress(bytes.fromhex(dumped.removeprefix("0x")))
        temporary = self.state_file.with_name(self.state_file.name + ".saving")
        with temporary.open("wb") as handle:
            handle.write(state)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.state_file)
        directory = os.open(self.state_file.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        seconds = time.monotonic() - started
        self.saves += 1
        self.save_seconds = [*self.save_seconds[-99:], seconds]
        return seconds

    def _dump_with_mining_paused(self) -> str:
        """anvil_dumpState with no block being mined meanwhile. anvil reads the blocks and
        the accounts under separate locks: a block mined in between left a dump whose
        accounts held a mint its blocks did not (a restart then showed a token supply
        above its own mint logs). Transactions sent meanwhile wait in the pool and are
        mined right after. (Switching automine back on ends anvil's mixed mining; the
        keeper mines leftovers itself from then on: ``_mine_leftovers``.)"""
        if self.automine:
            _rpc(self.rpc_url, "evm_setAutomine", [False])
        else:
            _rpc(self.rpc_url, "evm_setIntervalMining", [0])
        try:
            before = _rpc(self.rpc_url, "eth_blockNumber", [])
            dumped = _rpc(self.rpc_url, "anvil_dumpState", [], timeout=900)
            if _rpc(self.rpc_url, "eth_blockNumber", []) != before:
                raise NodeError("a block was mined while the state was read; not saved")
        finally:
            if self.automine:
                _rpc(self.rpc_url, "evm_setAutomine", [True])
                if int(_rpc(self.rpc_url, "txpool_status", [])["pending"], 16):
                    _rpc(self.rpc_url, "evm_mine", [])  # what arrived during the dump
            else:
                _rpc(self.rpc_url, "evm_setIntervalMining", [max(1, round(self.block_time))])
        return dumped

    def _mine_leftovers(self) -> None:
        """The interval tick's job once automine was switched back on: a block when
        transactions have waited in the pool for a block time (foundry-rs/foundry#10122)."""
        pending = int(_rpc(self.rpc_url, "txpool_status", [])["pending"], 16)
        now = time.monotonic()
        if not pending:
            self._pending_since = None
        elif self._pending_since is None:
            self._pending_since = now
        elif now - self._pending_since >= self.block_time:
            log.warning("%d transactions waited %g s in anvil's pool; mining them", pending,
                        now - self._pending_since)  # fmt: skip
            _rpc(self.rpc_url, "evm_mine", [])
            self._pending_since = None

    def _keep(self) -> None:
        """Save the state when the head moved; start anvil again if it died unasked."""
        interval = self.state_interval or 1.0
        while not self._stopping.wait(self._pause(interval)):
            process = self._process
            if process is None:
                return
            if process.poll() is not None:
                if not self.restart_on_exit:
                    log.error("anvil exited unasked (code %s)", process.returncode)
                    return
                log.error(
                    "anvil exited unasked (code %s); starting it again from %s",
                    process.returncode, self.state_file,
                )  # fmt: skip
                try:
                    self._reap()
                    self._spawn(pdeathsig_tool=True)
                    self.restarts += 1
                except (NodeError, OSError) as exc:
                    log.error("anvil could not be started again: %s", exc)
                continue
            if not self.state_interval:
                continue
            try:
                head = _rpc(self.rpc_url, "eth_getBlockByNumber", ["latest", False])["hash"]
                if head != self._saved_head:
                    self.save_state()
                    self._saved_head = head
                if self.automine and self.block_time and self.saves:
                    self._mine_leftovers()
            except (OSError, ValueError, KeyError, NodeError) as exc:
                log.warning("anvil state not saved: %s", exc)

    def _pause(self, interval: float) -> float:
        # A save costs time in proportion to the whole chain (0.4 s at 12k events here),
        # and anvil answers nothing else meanwhile: wait at least ten times the last one,
        # so saving never takes more than a tenth of the node's time. The journal sends
        # again whatever a kill between two saves loses.
        return max(interval, 10 * self.save_seconds[-1]) if self.save_seconds else interval

    def _reap(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.wait()
        self.pid_file.unlink(missing_ok=True)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _spawn(self, *, pdeathsig_tool: bool = False) -> None:
        if _port_in_use(self.host, self.port):
            raise NodeError(
                f"something already listens on {self.host}:{self.port} (another `ledger-app "
                f"run`? pid file: {self.pid_file}); stop it, or set LEDGER_MANAGED_NODE=false "
                "to use it as the node"
            )
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        # Left by an anvil that was killed: nothing reads it (the chain is in the state file).
        shutil.rmtree(self.cache_dir, ignore_errors=True)
        self._log = self.log_file.open("ab" if pdeathsig_tool else "wb")
        log.info(
            "starting anvil on %s (chain id %d, state %s, log %s)",
            self.rpc_url, self.chain_id, self.state_file, self.log_file,
        )  # fmt: skip
        argv, preexec = self.command(), _die_with_parent()
        setpriv = shutil.which("setpriv")
        if pdeathsig_tool and platform.system() == "Linux" and setpriv:
            # A restart from the keeper thread: preexec_fn is unsafe with other threads
            # running, so util-linux's setpriv sets the parent-death signal instead. (It
            # is sent when the thread that started anvil ends: the keeper, which lives as
            # long as the node.)
            argv, preexec = [setpriv, "--pdeathsig", "TERM", *argv], None
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # preexec_fn runs between fork and exec: ledger-app starts anvil before
            # any other thread exists, which is when that is safe.
            preexec_fn=preexec,
        )
        try:
            self._wait_until_answering()
        except BaseException:
            _signal_group(self._process, signal.SIGKILL)
            self._reap()
            raise
        self.pid_file.write_text(f"{self._process.pid}\n")
        log.info("anvil answering on %s (pid %d)", self.rpc_url, self._process.pid)

    def stop(self, timeout: float = 15.0) -> None:
        """Save the state (``save_on_stop``), then SIGTERM anvil; SIGKILL if it hangs."""
        self._stopping.set()
        keeper, self._keeper = self._keeper, None
        if keeper is not None and keeper is not threading.current_thread():
            keeper.join(timeout=timeout)
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None and self.save_on_stop:
                try:
                    self.save_state()
                except (OSError, ValueError, NodeError) as exc:
                    log.warning("anvil state not saved at stop (the last save stands): %s", exc)
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("anvil ignored SIGTERM for %g s; killing it", timeout)
                    _signal_group(process, signal.SIGKILL)
                    process.wait()
            log.info("anvil stopped (exit code %s)", process.returncode)
            self.pid_file.unlink(missing_ok=True)
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error: str = ""
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise NodeError(
                    f"anvil exited with code {self._process.returncode} while starting; "
                    f"last lines of {self.log_file}:\n{self._log_tail()}"
                )
            try:
                chain_id = rpc_chain_id(self.rpc_url, timeout=1.0)
            except OSError as exc:
                last_error = str(exc)
                time.sleep(0.05)
                continue
            if chain_id != self.chain_id:
                raise NodeError(
                    f"anvil answers with chain id {chain_id}, expected {self.chain_id} "
                    f"(does {self.state_file} belong to another chain?)"
                )
            return
        raise NodeError(
            f"anvil did not answer on {self.rpc_url} within {self.start_timeout:g} s "
            f"({last_error}); see {self.log_file}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def rpc_chain_id(rpc_url: str, timeout: float = 2.0) -> int:
    """``eth_chainId`` of the node at ``rpc_url``; raises OSError if nothing answers."""
    request = urllib.request.Request(
        rpc_url,
        data=json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = json.loads(response.read())
    if "result" not in body:
        raise OSError(f"eth_chainId answered {body}")
    return int(body["result"], 16)


def _rpc(rpc_url: str, method: str, params: list[object], timeout: float = 5.0) -> Any:
    request = urllib.request.Request(
        rpc_url,
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = json.loads(response.read())
    if "result" not in body:
        raise OSError(f"{method} answered {body.get('error')}")
    return body["result"]


def node_answers(rpc_url: str) -> bool:
    """Whether a JSON-RPC node answers at ``rpc_url``."""
    try:
        rpc_chain_id(rpc_url, timeout=1.0)
    except (OSError, ValueError):
        return False
    return True


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)  # anvil leads its own process group


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec function making the child get SIGTERM when its parent dies (Linux)."""
    if platform.system() != "Linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def set_pdeathsig() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return set_pdeathsig
