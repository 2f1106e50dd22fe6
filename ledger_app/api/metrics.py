"""Counters for /metrics, rendered in the Prometheus text exposition format."""

from __future__ import annotations

import threading
from collections import Counter


class Metrics:
    """Request counts and durations of one API process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str, int]] = Counter()
        self._duration_ms: Counter[tuple[str, str]] = Counter()

    def count_request(self, method: str, operation: str | None, status: int, ms: int) -> None:
        """Count one answered request."""
        name = operation or "other"
        with self._lock:
            self._requests[(method, name, status)] += 1
            self._duration_ms[(method, name)] += ms

    def render(self, gauges: dict[str, tuple[str, float | None]]) -> str:
        """The exposition text: the counters, then ``gauges`` (name -> (help, value))."""
        lines = [
            "# HELP ledger_http_requests_total HTTP requests answered, by operation and status.",
            "# TYPE ledger_http_requests_total counter",
        ]
        with self._lock:
            requests = sorted(self._requests.items())
            durations = sorted(self._duration_ms.items())
        for (method, operation, status), count in requests:
            lines.append(
                f'ledger_http_requests_total{{method="{method}",operation="{operation}",'
                f'status="{status}"}} {count}'
            )
        lines += [
            "# HELP ledger_http_request_duration_ms_total Milliseconds spent answering.",
            "# TYPE ledger_http_request_duration_ms_total counter",
        ]
        for (method, operation), ms in durations:
            lines.append(
                f'ledger_http_request_duration_ms_total{{method="{method}",'
                f'operation="{operation}"}} {ms}'
            )
        for name, (help_text, value) in gauges.items():
            if value is None:
                continue
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(lines) + "\n"
