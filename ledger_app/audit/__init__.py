"""The auditor's side of the ledger: traces from the events table, verification against
the node, scoped views, queries and streamed exports.

Pure-ish modules: they read the index through SQLAlchemy and the chain through plain
JSON-RPC; the API (ledger_app/api/services/audit.py) and the CLI only call them.
"""
