"""The layers of ledger_app and what each may import (docs/architecture.md).

A small AST check, so that an import against the layering fails the suite where
it is written, not months later as a cycle. Every ``ledger_app`` import counts,
at module level or inside a function, ``TYPE_CHECKING`` blocks included.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from ledger_app import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "ledger_app"

#: The package root (``ledger_app/__init__.py``: PROJECT_ROOT, __version__) and the
#: modules everything may use (metrics: every process records its own series).
BASE = frozenset({"<root>", "errors", "metrics", "settings"})

#: Layer -> the layers it may import besides itself and BASE. The arrows point one way:
#: domain at the bottom, importing nothing of ours; db and chain side by side, neither
#: knowing the other; the indexer and the audit above them; the API above all but the
#: indexer, which only the place where a process is assembled may wire in.
ALLOWED: dict[str, frozenset[str]] = {
    "<root>": frozenset(),
    "domain": frozenset(),
    "errors": frozenset({"<root>"}),
    "settings": frozenset({"<root>"}),
    "metrics": frozenset({"<root>"}),
    "db": frozenset({"domain"}),
    "chain": frozenset({"domain"}),
    "signing": frozenset({"db", "domain"}),
    "iso20022": frozenset({"domain"}),
    "indexer": frozenset({"chain", "db", "domain"}),
    "audit": frozenset({"chain", "db", "domain", "iso20022"}),
    "api": frozenset({"audit", "chain", "db", "domain", "iso20022", "signing"}),
    "cli": frozenset({"api", "audit", "chain", "db", "domain", "indexer", "signing"}),
}

#: Where a process is assembled: these modules may also import the indexer (the
#: embedded indexer thread of ``ledger-app run``).
ASSEMBLY = {"ledger_app.api.runtime": frozenset({"indexer"})}


def _module(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(dotted: str) -> str:
    parts = dotted.split(".")
    return "<root>" if len(parts) == 1 else parts[1]


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every ledger_app import in ``path``."""
    module = _module(path, root)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("ledger_app")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("ledger_app"):
                found.append((node.lineno, target))
    return found


def layering_violations(root: Path = PROJECT_ROOT) -> list[str]:
    """Each import under ``root``/ledger_app against ALLOWED, as ``file:line: a -> b``."""
    wrong = []
    for path in sorted((root / "ledger_app").rglob("*.py")):
        module = _module(path, root)
        layer = _layer(module)
        allowed = ALLOWED[layer] | BASE | {layer} | ASSEMBLY.get(module, frozenset())
        for line, target in _imports(path, root):
            if _layer(target) not in allowed:
                wrong.append(f"{path.relative_to(root)}:{line}: {module} -> {target}")
    return wrong


def test_every_layer_is_named():
    layers = {_layer(_module(p, PROJECT_ROOT)) for p in PACKAGE.rglob("*.py")}
    assert layers <= set(ALLOWED), f"a layer missing from ALLOWED: {layers - set(ALLOWED)}"


def test_imports_follow_the_layering():
    assert layering_violations() == []


def test_the_check_sees_a_wrong_import(tmp_path):
    """The check itself, on a copy of the package with one import against the layers."""
    shutil.copytree(PACKAGE, tmp_path / "ledger_app", ignore=shutil.ignore_patterns("__pycache__"))
    probe = tmp_path / "ledger_app" / "domain" / "probe.py"
    probe.write_text("import os\n\nfrom ledger_app.api.errors import REFUSALS\n")
    (tmp_path / "ledger_app" / "indexer" / "probe.py").write_text("from ..api import errors\n")
    assert layering_violations(tmp_path) == [
        "ledger_app/domain/probe.py:3: ledger_app.domain.probe -> ledger_app.api.errors",
        "ledger_app/indexer/probe.py:1: ledger_app.indexer.probe -> ledger_app.api",
    ]
