"""The solc-js front end answers py-solc-x (and so ape-solidity) as native solc would."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import solcx
import yaml
from packaging.version import Version
from solcx.exceptions import SolcError
from solcx.wrapper import VERSION_REGEX, get_solc_version

ROOT = Path(__file__).resolve().parents[2]
OPENZEPPELIN = ROOT / "node_modules" / "@openzeppelin" / "contracts"

OWNED_SOURCE = """// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

contract Owned is Ownable {
    constructor() Ownable(msg.sender) {}
}
"""


def standard_input(sources: dict[str, str], **settings: object) -> dict[str, object]:
    """Standard-JSON input compiling ``sources`` to ABI and bytecode."""
    return {
        "language": "Solidity",
        "sources": {name: {"content": content} for name, content in sources.items()},
        "settings": {
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
            **settings,
        },
    }


def test_version_parses_with_solcx_regex_and_equals_package_pin(
    solc_binary: Path, solc_pin: str
) -> None:
    output = subprocess.run(
        [str(solc_binary), "--version"], capture_output=True, text=True, check=True
    ).stdout

    assert output.startswith("solc, the solidity compiler commandline interface\nVersion: ")
    match = re.search(VERSION_REGEX, output)
    assert match is not None
    assert match.group(1) == solc_pin
    assert get_solc_version(solc_binary) == Version(solc_pin)


def test_compile_standard_resolves_openzeppelin_through_remapping(
    solc_binary: Path, tmp_path: Path
) -> None:
    output = solcx.compile_standard(
        standard_input(
            {"Owned.sol": OWNED_SOURCE},
            remappings=[f"@openzeppelin/contracts/={OPENZEPPELIN}/"],
        ),
        base_path=tmp_path,
        allow_paths=[OPENZEPPELIN],
        solc_binary=solc_binary,
    )

    owned = output["contracts"]["Owned.sol"]["Owned"]
    assert owned["evm"]["bytecode"]["object"]
    assert any(entry.get("name") == "owner" for entry in owned["abi"])
    assert f"{OPENZEPPELIN}/access/Ownable.sol" in output["sources"]


def test_compile_standard_refuses_import_outside_allowed_paths(
    solc_binary: Path, tmp_path: Path
) -> None:
    with pytest.raises(SolcError) as raised:
        solcx.compile_standard(
            standard_input(
                {"Owned.sol": OWNED_SOURCE},
                remappings=[f"@openzeppelin/contracts/={OPENZEPPELIN}/"],
            ),
            base_path=tmp_path,
            solc_binary=solc_binary,
        )

    errors = [e for e in raised.value.error_dict if e["severity"] == "error"]
    assert len(errors) == 1
    assert errors[0]["type"] == "ParserError"
    assert errors[0]["message"] == (
        f'Source "{OPENZEPPELIN}/access/Ownable.sol" not found: '
        "File outside of allowed directories."
    )


def test_syntax_error_reported_as_parser_error_like_native_solc(solc_binary: Path) -> None:
    broken = "pragma solidity 0.8.28;\ncontract Broken {\n    uint256 x\n}\n"

    with pytest.raises(SolcError) as raised:
        solcx.compile_standard(standard_input({"Broken.sol": broken}), solc_binary=solc_binary)

    # Exactly what native solc 0.8.28 answers for this input.
    assert raised.value.error_dict == [
        {
            "component": "general",
            "errorCode": "2314",
            "formattedMessage": (
                "ParserError: Expected ';' but got '}'\n --> Broken.sol:4:1:\n  |\n4 | }\n  | ^\n\n"
            ),
            "message": "Expected ';' but got '}'",
            "severity": "error",
            "sourceLocation": {"end": 57, "file": "Broken.sol", "start": 56},
            "type": "ParserError",
        }
    ]


def test_ape_config_solidity_version_equals_package_pin(solc_pin: str) -> None:
    ape_config = yaml.safe_load((ROOT / "ape-config.yaml").read_text())
    package = json.loads((ROOT / "package.json").read_text())

    assert str(ape_config["solidity"]["version"]) == solc_pin
    assert package["dependencies"]["solc"] == solc_pin
