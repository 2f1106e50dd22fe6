"""Settings that follow one another: the state directory carries the database and the
deployment record unless they are set on their own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ledger_app.settings import Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("LEDGER_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_the_embedded_defaults_live_under_var(clean_env):
    settings = Settings()

    assert settings.database_url == "sqlite:///var/ledger.db"
    assert settings.deployment_file == Path("var/deployment.json")


def test_another_state_dir_takes_the_database_and_the_record_with_it(clean_env, tmp_path):
    clean_env.setenv("LEDGER_STATE_DIR", str(tmp_path / "ledger"))
    settings = Settings()

    assert settings.database_url == f"sqlite:///{tmp_path / 'ledger' / 'ledger.db'}"
    assert settings.deployment_file == tmp_path / "ledger" / "deployment.json"
    assert settings.documents_dir == tmp_path / "ledger" / "documents"


def test_a_database_or_record_set_on_its_own_stays_where_it_was_put(clean_env, tmp_path):
    clean_env.setenv("LEDGER_STATE_DIR", str(tmp_path))
    clean_env.setenv("LEDGER_DATABASE_URL", "postgresql+psycopg://ledger@db/ledger")
    clean_env.setenv("LEDGER_DEPLOYMENT_FILE", "/srv/record.json")
    settings = Settings()

    assert settings.database_url == "postgresql+psycopg://ledger@db/ledger"
    assert settings.deployment_file == Path("/srv/record.json")
