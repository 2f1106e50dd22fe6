"""The deployed ledger as the service sees it: addresses, ABIs, calls and views by name.

Built from the build manifest and the deployment record. ``call`` encodes a
write as a ContractCall (what the sender queues); ``view`` runs a view
function; ``error_abis`` is every ABI the build holds, so that a revert
raised anywhere (a token called by the financing desk, say) decodes to its
custom error's name and values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger_app.chain.abi import ABI, encode_deployment, encode_function_call
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.deploy import DeploymentRecord
from ledger_app.chain.sender import ContractCall
from ledger_app.errors import DeploymentError


class LedgerContracts:
    """Named access to the contracts of one deployment."""

    def __init__(self, artifacts: Artifacts, record: DeploymentRecord) -> None:
        self.artifacts = artifacts
        self.record = record
        self.error_abis: tuple[ABI, ...] = tuple(artifact.abi for artifact in artifacts.values())

    def address(self, name: str) -> str:
        """Address of the contract the plan deployed as ``name`` (``receivables``, ...)."""
        try:
            return self.record.contracts[name].address
        except KeyError as exc:
            raise DeploymentError(f"the deployment has no contract named {name}") from exc

    def kind(self, name: str) -> str:
        """Contract type of the contract deployed as ``name``."""
        return self.record.contracts[name].contract

    def abi(self, kind: str) -> ABI:
        """ABI of contract type ``kind``."""
        return self.artifacts[kind].abi

    def call(self, name: str, function: str, *args: Any) -> ContractCall:
        """A call of ``function(*args)`` on the deployed contract ``name``."""
        return self.call_at(self.address(name), self.kind(name), function, *args)

    def call_at(self, address: str, kind: str, function: str, *args: Any) -> ContractCall:
        """A call of ``function(*args)`` on a contract of type ``kind`` at ``address``."""
        data = encode_function_call(self.abi(kind), function, args)
        return ContractCall(to=address, data=data, abis=self.error_abis)

    def creation(self, kind: str, args: Sequence[Any]) -> ContractCall:
        """A transaction deploying a new contract of type ``kind``."""
        artifact = self.artifacts.deployable(kind)
        data = encode_deployment(artifact.abi, artifact.bytecode, args)
        return ContractCall(to=None, data=data, abis=self.error_abis)

    def view(self, client: ChainClient, name: str, function: str, *args: Any) -> Any:
        """First output of a view function of the deployed contract ``name``."""
        kind = self.kind(name)
        outputs = client.call_function(self.address(name), self.abi(kind), function, *args)
        return outputs[0] if len(outputs) == 1 else outputs

    def followed(self) -> dict[str, str]:
        """Address (lower case) -> contract type of every deployed contract."""
        return {c.address.lower(): c.contract for c in self.record.contracts.values()}
