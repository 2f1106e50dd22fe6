"""The service database: engine, tables and migrations."""

from __future__ import annotations

from sqlalchemy import MetaData


def load_models() -> MetaData:
    """Import every module that defines tables; return the metadata they share.

    The one list of table modules: migrations/env.py compares the database
    against it (autogenerate), and so does the migration test. A new module
    with tables is imported here, or autogenerate would propose dropping them.
    """
    from sqlmodel import SQLModel

    import ledger_app.db.api_tables  # registers the API's keys, idempotency, access log
    import ledger_app.db.deployment_tables  # registers meta, deployment
    import ledger_app.db.monitoring  # registers alerts, cases, rules, sanctions, profiles
    import ledger_app.db.notification_tables  # registers the outbox and webhooks
    import ledger_app.db.schema  # noqa: F401 - registers the indexer tables

    return SQLModel.metadata
