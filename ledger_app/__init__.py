"""Supply-chain finance on a permissioned EVM ledger: node, deployment and HTTP API."""

from pathlib import Path

__version__ = "0.1.0"

#: The repository checkout this package runs from (the package is installed
#: editable by `make setup`): node_modules/, migrations/ and .build/ live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
