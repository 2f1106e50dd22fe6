"""A local webhook receiver for the notification tests, and the README's verifier."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The README's receiver check, verbatim: Ledger-Signature against the raw body."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    t = int(fields["t"])
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - t) <= tolerance  # refuse replays of old deliveries
    return fresh and hmac.compare_digest(expected, fields["v1"])


class Receiver(ThreadingHTTPServer):
    """Records every POST; answers what ``script`` says (status codes, or "hang" to sleep
    past the service's timeout), then ``default``."""

    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.received: list[dict[str, Any]] = []
        self.script: list[int | str] = []
        self.default: int = 200
        self.hang_seconds = 2.5
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def answered(self, status: int = 200) -> list[dict[str, Any]]:
        """The requests answered ``status``."""
        with self.lock:
            return [r for r in self.received if r["status"] == status]

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"not within {timeout} s: {what}; received {self.received}")

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            action = self.server.script.pop(0) if self.server.script else self.server.default
        status = 200 if action == "hang" else int(action)
        record = {"at": time.time(), "status": status if action != "hang" else "hang",
                  "event_id": int(self.headers["Ledger-Event-Id"]),
                  "signature": self.headers["Ledger-Signature"], "body": body,
                  "json": json.loads(body)}  # fmt: skip
        with self.server.lock:
            self.server.received.append(record)
        if action == "hang":
            time.sleep(self.server.hang_seconds)
        try:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:  # the service gave up waiting (a timeout): nothing to answer
            pass
