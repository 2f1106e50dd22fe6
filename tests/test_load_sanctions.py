"""``ledger-app load-sanctions FILE``: the operator's list replaces the one before and every
participant is screened against it; a bad file exits 2 naming the entry, loading nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert

from ledger_app.cli import main
from ledger_app.db import migrate
from ledger_app.db import monitoring as store
from ledger_app.db.engine import make_engine
from ledger_app.db.schema import participants

LISTED = "5493001KJTIIGC8Y1R12"


def test_load_sanctions_replaces_the_list_and_screens_everyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    engine = make_engine(url)
    migrate.upgrade(engine)
    account = "0x" + "ab" * 20
    with engine.begin() as conn:
        conn.execute(insert(participants).values(
            account=account, lei="0x" + LISTED.encode().ljust(32, b"\0").hex(),
            onboarded=True, roles="SUPPLIER", updated_block=1))  # fmt: skip
    listed = tmp_path / "list.json"
    listed.write_text(f'[{{"id": "S1", "name": "Acme Shadow", "lei": "{LISTED}"}}]')
    assert main(["load-sanctions", str(listed)]) == 0
    assert "1 entries loaded" in capsys.readouterr().out
    assert main(["load-sanctions", str(listed)]) == 0  # again: the match is alerted once
    bad = tmp_path / "bad.csv"
    bad.write_text("lei,name\n,Red Lotus\nNOT-AN-LEI,Other\n")
    assert main(["load-sanctions", str(bad)]) == 2
    assert "line 3: lei 'NOT-AN-LEI'" in capsys.readouterr().err
    with engine.connect() as conn:
        assert [e.entry_id for e in store.sanctions(conn)] == ["S1"]
        alerts = conn.execute(store.monitoring_alerts.select()).all()
    assert [(a.rule, a.key) for a in alerts] == [("sanctions", f"sanctions:{account}:S1:lei")]
    engine.dispose()
