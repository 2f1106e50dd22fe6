"""The indexer's knobs come from LEDGER_INDEXER_* settings; CLI options override them."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from ledger_app.indexer.runner import IndexerConfig
from ledger_app.indexer.service import config_from_settings
from ledger_app.settings import Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("LEDGER_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_suit_a_chain_with_immediate_finality(clean_env):
    settings = Settings()

    assert config_from_settings(settings) == IndexerConfig(
        confirmations=0, poll_interval=0.2, initial_range=16, max_range=50_000
    )
    assert settings.indexer_reorg_window == 64


def test_environment_sets_and_options_override(clean_env):
    clean_env.setenv("LEDGER_INDEXER_CONFIRMATIONS", "3")
    clean_env.setenv("LEDGER_INDEXER_POLL_INTERVAL", "2.5")
    clean_env.setenv("LEDGER_INDEXER_INITIAL_RANGE", "100")
    clean_env.setenv("LEDGER_INDEXER_MAX_RANGE", "1000")
    settings = Settings()

    assert config_from_settings(settings) == IndexerConfig(3, 2.5, 100, 1_000)
    assert config_from_settings(settings, confirmations=None, poll_interval=0.1) == (
        IndexerConfig(3, 0.1, 100, 1_000)
    )
    # A cap below the starting range narrows the start too.
    assert config_from_settings(settings, max_range=10) == IndexerConfig(3, 2.5, 10, 10)
    assert config_from_settings(settings).read_ahead  # on unless turned off


def test_the_read_ahead_can_be_turned_off(clean_env):
    clean_env.setenv("LEDGER_INDEXER_READ_AHEAD", "false")

    assert config_from_settings(Settings()).read_ahead is False


def test_a_starting_range_above_the_cap_is_refused(clean_env):
    clean_env.setenv("LEDGER_INDEXER_INITIAL_RANGE", "5000")
    clean_env.setenv("LEDGER_INDEXER_MAX_RANGE", "1000")

    with pytest.raises(ValidationError, match="exceeds indexer_max_range"):
        Settings()
