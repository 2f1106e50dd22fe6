"""Contract ABIs and bytecode from the build manifest ``ape compile`` writes.

``.build/__local__.json`` is an ethpm (EIP-2678) manifest: ``contractTypes``
maps each contract name to its ``abi`` and ``deploymentBytecode.bytecode``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak

from ledger_app.errors import ArtifactError


@dataclass(frozen=True)
class ContractArtifact:
    """One compiled contract: what is needed to deploy it and to talk to it."""

    name: str
    abi: list[dict[str, Any]] = field(repr=False)
    bytecode: bytes = field(repr=False)

    @property
    def initcode_hash(self) -> str:
        """keccak256 of the creation bytecode: changes whenever the contract does."""
        return "0x" + keccak(self.bytecode).hex()

    def constructor_inputs(self) -> list[dict[str, Any]]:
        """ABI inputs of the constructor (empty when it takes none)."""
        for entry in self.abi:
            if entry.get("type") == "constructor":
                return list(entry.get("inputs", []))
        return []


class Artifacts(Mapping[str, ContractArtifact]):
    """The deployable contracts of one build manifest, by contract name."""

    def __init__(
        self, contracts: dict[str, ContractArtifact], source: Path, evm_versions: frozenset[str]
    ) -> None:
        self._contracts = contracts
        self.source = source
        #: solc's evmVersion of each compilation the manifest records (ape writes it under
        #: ``compilers[].settings``); empty when it records none.
        self.evm_versions = evm_versions

    @classmethod
    def load(cls, path: Path) -> Artifacts:
        """Read an ethpm manifest; raise ArtifactError if it is missing or malformed."""
        try:
            manifest = json.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise ArtifactError(
                f"{path} does not exist: compile the contracts first (`make compile`)"
            ) from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"{path} is not a readable JSON manifest: {exc}") from exc
        contract_types = manifest.get("contractTypes")
        if not isinstance(contract_types, dict):
            raise ArtifactError(f"{path} has no contractTypes: not an ethpm manifest")
        contracts = {}
        for name, contract_type in contract_types.items():
            code = (contract_type.get("deploymentBytecode") or {}).get("bytecode") or ""
            contracts[name] = ContractArtifact(
                name=name,
                abi=list(contract_type.get("abi") or []),
                bytecode=_hex_to_bytes(code, name, path),
            )
        evm_versions = frozenset(
            str(compiler["settings"]["evmVersion"])
            for compiler in manifest.get("compilers") or []
            if isinstance(compiler, dict) and (compiler.get("settings") or {}).get("evmVersion")
        )
        return cls(contracts, Path(path), evm_versions)

    def __getitem__(self, name: str) -> ContractArtifact:
        try:
            return self._contracts[name]
        except KeyError:
            known = ", ".join(sorted(self._contracts)) or "none"
            raise ArtifactError(
                f"contract {name} is not in {self.source} (compiled: {known}); run `make compile`"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._contracts)

    def __len__(self) -> int:
        return len(self._contracts)

    def deployable(self, name: str) -> ContractArtifact:
        """The named contract, which must have creation bytecode (not an interface)."""
        artifact = self[name]
        if not artifact.bytecode:
            raise ArtifactError(
                f"{name} in {self.source} has no creation bytecode "
                "(an interface or abstract contract cannot be deployed)"
            )
        return artifact


def _hex_to_bytes(code: str, name: str, path: Path) -> bytes:
    if "__" in code:
        # Unlinked library placeholders (__$...$__): the plan does not link libraries.
        raise ArtifactError(f"{name} in {path} needs library linking, which is not supported")
    try:
        return bytes.fromhex(code.removeprefix("0x"))
    except ValueError as exc:
        raise ArtifactError(f"{name} in {path} has malformed bytecode") from exc
