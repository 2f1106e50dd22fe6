"""The shape of the API's handlers (issue 18): thin handlers over services.

Handlers get their services from the typed aliases of ledger_app/api/deps.py and never
build one; they open no database connection (the queries are the services'); the
action routes (confirm, reject, ... of a receivable, a financing, an offer or a
participant) are all built by the one builder in ledger_app/api/actions.py; and the
FX routes and the escrow routes are rooms of their own, over services of their own.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ledger_app import PROJECT_ROOT
from ledger_app.api.app import api_routes, create_app
from ledger_app.settings import Settings

ROUTES = PROJECT_ROOT / "ledger_app" / "api" / "routes"

#: Every route that looks up one thing by the ids in its path, sends one write for the
#: caller and answers that thing: confirm/reject/cancel/... style.
ACTIONS = frozenset(
    {
        "receivables.confirm",
        "receivables.reject",
        "receivables.cancel",
        "receivables.freeze",
        "receivables.unfreeze",
        "financing.accept",
        "financing.reject_offer",
        "financing.withdraw_offer",
        "financing.expire_offer",
        "financing.cancel",
        "financing.declare_default",
        "participants.suspend",
        "participants.reinstate",
        "participants.freeze",
        "participants.unfreeze",
    }
)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}()"
    return "?"


def _calls(path: Path) -> list[tuple[int, str]]:
    """(line, dotted callee) of every call in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    return [(n.lineno, _dotted(n.func)) for n in ast.walk(tree) if isinstance(n, ast.Call)]


def test_handlers_build_no_service():
    built = [
        f"{path.name}:{line}: {callee}"
        for path in sorted(ROUTES.glob("*.py"))
        for line, callee in _calls(path)
        if callee.split(".")[-1].endswith("Service") or callee.split(".")[-1] == "Writer"
    ]
    assert built == [], "handlers take their service from api/deps.py's aliases"


def test_handlers_open_no_database_connection():
    # /health's own probe of the database (SELECT 1) is what it answers, not a read.
    opened = [
        f"{path.name}:{line}: {callee}"
        for path in sorted(ROUTES.glob("*.py"))
        if path.name != "health.py"
        for line, callee in _calls(path)
        if callee.endswith((".connect", ".begin")) or ".engine" in callee
    ]
    assert opened == [], "queries belong to the services (ledger_app/api/services/)"


def test_action_routes_are_built_by_one_helper():
    routes = {r.operation_id: r for r in api_routes(create_app(Settings()).routes)}
    assert set(routes) >= ACTIONS
    builders = {op: routes[op].endpoint.__module__ for op in ACTIONS}
    assert builders == {op: "ledger_app.api.actions" for op in ACTIONS}


def test_fx_and_escrow_routes_are_rooms_of_their_own():
    modules = {
        r.path: r.endpoint.__module__
        for r in api_routes(create_app(Settings()).routes)
        if r.path.startswith(("/v1/fx/", "/v1/escrows"))
    }
    assert modules, "no cross-border route found"
    expected = {
        path: "ledger_app.api.routes.fx"
        if path.startswith("/v1/fx/")
        else "ledger_app.api.routes.escrows"
        for path in modules
    }
    assert modules == expected
