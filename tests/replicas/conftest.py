"""One throw-away PostgreSQL cluster (tests/indexer/pgcluster.py) for the replica tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "indexer"))
from pgcluster import PostgresCluster, running_cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[PostgresCluster]:
    """The cluster; each test takes a database of its own (``create_database``)."""
    with running_cluster() as started:
        yield started
