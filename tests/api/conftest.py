"""Fixtures of the API suite: a real anvil, the real contracts, SQLite, and the API served by
real uvicorn on a free port with its indexer running, driven over HTTP with httpx.

One service per test module (``service``), with the cast onboarded through the API
(``cast``): each test creates its own receivables, so tests in a module do not interfere.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

import pytest
from apikit import Service, running_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Anvil, the deployed ledger, the API with its indexer, the cast and CNY listed."""
    with running_service(tmp_path_factory.mktemp("api")) as svc:
        yield svc


@pytest.fixture
def unique() -> Callable[[], str]:
    """Fresh strings for idempotency keys and invoice numbers."""
    counter = itertools.count()
    return lambda: f"{time.time_ns()}-{next(counter)}"
