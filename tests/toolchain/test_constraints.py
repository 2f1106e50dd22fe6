"""The venv the tests run in is exactly constraints.txt: nothing more, nothing else."""

from __future__ import annotations

import re
from importlib.metadata import distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Installed by venv/pip themselves, or the project itself.
NOT_PINNED = {"pip", "setuptools", "wheel", "ledger-app"}


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version
    return pins


def installed() -> dict[str, str]:
    return {
        canonical(d.metadata["Name"]): d.version
        for d in distributions()
        if canonical(d.metadata["Name"]) not in NOT_PINNED
    }


def test_every_installed_package_is_pinned_at_its_version() -> None:
    pins = pinned()
    unpinned = {name: version for name, version in installed().items() if pins.get(name) != version}
    # A package installed by hand for a new import is missing here: add it to
    # pyproject.toml and its pin (and its dependencies') to constraints.txt,
    # or a fresh clone will not have it.
    assert unpinned == {}


def test_every_pin_is_installed() -> None:
    missing = sorted(set(pinned()) - set(installed()) - {"pip"})
    assert missing == []
