"""Python CPU per API write (issue 24): process CPU time (every thread: the client and the
service, which runs in this process) per single registration, per row of 1,000-row
batches, and per single registration again once 3,000 rows are registered. On a shared
machine CPU time varies far less than wall time; run it in two trees one after the
other to compare them. A tool to read, not a limit.

    .venv/bin/python -m bench.write_cpu
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench import api_bench


def main() -> None:
    """Print CPU ms per write for each workload."""
    with tempfile.TemporaryDirectory() as work, api_bench.Api(Path(work)).serving() as api:
        api_bench.write_single(api, 5)
        started = time.process_time()
        api_bench.write_single(api, 60)
        single = (time.process_time() - started) / 60
        api_bench.write_batch(api, 1000, 1)
        started = time.process_time()
        api_bench.write_batch(api, 1000, 2)
        batch = (time.process_time() - started) / 2000
        started = time.process_time()
        api_bench.write_single(api, 30)
        late = (time.process_time() - started) / 30
    print(f"CPU ms per write: single {1000 * single:.2f} | batch row {1000 * batch:.3f} | "
          f"single after 3,065 rows {1000 * late:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
