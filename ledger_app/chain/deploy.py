"""Deploying the ledger's contracts once, and finding them again after a restart.

``PLAN`` below is the list of steps; edit it when a contract is added. A step
deploys a contract (``Deploy``) or has the operator call a function of an
already deployed one (``Call``). Arguments are literals, ``OPERATOR`` (the
operator's address) or ``Ref("name")`` (the address of an earlier step).

The outcome is written to the deployment record (``var/deployment.json``):
chain id, genesis block hash, deployment block and its hash, and the
addresses. On the next start the record is re-used if it still describes the
chain: same chain id, the same block at the deployment height, the same
genesis hash (except on anvil, below), code at every address, and the same
plan and bytecode (the ``fingerprint``). A record made by the first steps of
the plan (steps since appended to it, same code) is extended: only the new
steps run, and the contracts already deployed, with their state, stay.
Otherwise everything is deployed anew and the record replaced; the log says why.

Why the deployment block's hash and not only the genesis hash: anvil 1.5.1
does not keep block 0 stable across a state reload. It makes a new genesis
block at each start, and the state file then holds one block 0 per start, of
which any may answer (foundry-rs/foundry#13197 and #15760 fix this after
1.5.1). Every later block keeps its hash, and a chain that is not the one
deployed to has another block, or none, at the deployment height. On any
other node the genesis hash is checked as well.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger_app.chain.artifacts import Artifacts
from ledger_app.errors import DeploymentError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from ledger_app.chain.client import ChainClient

log = logging.getLogger(__name__)

RECORD_VERSION = 1


# --- the plan ---------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """The address of the contract an earlier ``Deploy`` step named ``name``."""

    name: str


class _Operator:
    def __repr__(self) -> str:
        return "OPERATOR"


#: Stands for the operator's address in step arguments.
OPERATOR = _Operator()


@dataclass(frozen=True)
class Deploy:
    """Deploy contract type ``contract`` as ``name`` with constructor ``args``."""

    name: str
    contract: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Call:
    """The operator calls ``function(*args)`` on the contract deployed as ``target``."""

    target: str
    function: str
    args: tuple[Any, ...] = ()


Step = Deploy | Call

#: Days past its due date after which an unpaid root restricts its debtor, at deployment
#: (the operator changes it with ``PUT /v1/risk/overdue-trigger``).
OVERDUE_TRIGGER_DAYS = 30

PLAN: tuple[Step, ...] = (
    Deploy("participants", "ParticipantRegistry", (OPERATOR,)),
    Deploy("receivables", "ReceivableRegistry", (Ref("participants"),)),
    # Risk control (issuance caps, overdue trigger) is bound to the registry before the
    # first registration; credit lines are drawn by the desk and freed by clearing.
    Deploy(
        "risk_control",
        "RiskControl",
        (Ref("participants"), Ref("receivables"), OVERDUE_TRIGGER_DAYS),
    ),
    Call("receivables", "bindRiskControl", (Ref("risk_control"),)),
    Deploy(
        "credit_lines",
        "CreditLines",
        (Ref("participants"), Ref("receivables"), Ref("risk_control")),
    ),
    Deploy(
        "financing_desk",
        "FinancingDesk",
        (Ref("participants"), Ref("receivables"), Ref("credit_lines")),
    ),
    Deploy(
        "maturity_clearing",
        "MaturityClearing",
        (Ref("participants"), Ref("receivables"), Ref("credit_lines")),
    ),
    Call("participants", "registerLedgerContract", (Ref("financing_desk"),)),
    Call("participants", "registerLedgerContract", (Ref("maturity_clearing"),)),
    # Cross-border settlement, appended so that a deployment of the steps above is
    # extended rather than replaced (``ensure_deployed``). Both are ledger contracts:
    # the escrow holds tokens, and FxSettlement spends allowances, which settlement
    # tokens allow only to ledger contracts and active participants.
    Deploy("fx_settlement", "FxSettlement", (Ref("participants"),)),
    Deploy("hash_time_lock", "HashTimeLock", (Ref("participants"),)),
    Call("participants", "registerLedgerContract", (Ref("fx_settlement"),)),
    Call("participants", "registerLedgerContract", (Ref("hash_time_lock"),)),
    # The access log's anchors (issue 21), appended for the same reason. Not a ledger
    # contract: it holds no tokens and only the operator writes to it.
    Deploy("access_log_anchor", "AccessLogAnchor", (Ref("participants"),)),
)


def load_plan(spec: str) -> tuple[Step, ...]:
    """The plan named by ``"module:attribute"`` (settings.deploy_plan)."""
    module_name, _, attribute = spec.partition(":")
    try:
        plan = getattr(importlib.import_module(module_name), attribute or "PLAN")
    except (ImportError, AttributeError) as exc:
        raise DeploymentError(f"cannot load deployment plan {spec!r}: {exc}") from exc
    validate_plan(plan)
    return tuple(plan)


def validate_plan(plan: Sequence[Step]) -> None:
    """Raise DeploymentError unless every name is unique and every Ref points back."""
    deployed: set[str] = set()
    for index, step in enumerate(plan):
        if isinstance(step, Deploy):
            refs, target = step.args, None
            if step.name in deployed:
                raise DeploymentError(f"step {index}: {step.name} is deployed twice")
        elif isinstance(step, Call):
            refs, target = step.args, step.target
        else:
            raise DeploymentError(f"step {index}: {step!r} is neither Deploy nor Call")
        for name in [target, *(a.name for a in refs if isinstance(a, Ref))]:
            if name is not None and name not in deployed:
                raise DeploymentError(f"step {index} refers to {name}, not deployed before it")
        if isinstance(step, Deploy):
            deployed.add(step.name)


def plan_fingerprint(plan: Sequence[Step], artifacts: Artifacts) -> str:
    """sha256 over the steps and the creation bytecode of every contract they deploy.

    A record with another fingerprint was made by another plan or other code.
    """
    parts = []
    for step in plan:
        if isinstance(step, Deploy):
            code = artifacts.deployable(step.contract).initcode_hash
            parts.append(["deploy", step.name, step.contract, code, [repr(a) for a in step.args]])
        else:
            parts.append(["call", step.target, step.function, [repr(a) for a in step.args]])
    return "sha256:" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()


# --- the record -------------------------------------------------------------------


@dataclass(frozen=True)
class DeployedContract:
    """One contract of a deployment."""

    contract: str
    address: str
    block_number: int
    transaction_hash: str


@dataclass(frozen=True)
class DeploymentRecord:
    """What ``var/deployment.json`` holds."""

    chain_id: int
    genesis_hash: str
    deployment_block: int
    operator: str
    fingerprint: str
    contracts: dict[str, DeployedContract]
    calls: list[dict[str, Any]] = field(default_factory=list)
    deployed_at: str = ""
    #: Hash of block ``deployment_block``; "" in a record made without it.
    deployment_block_hash: str = ""
    #: The EVM version the contracts were compiled for (LEDGER_EVM_VERSION); "" if unrecorded.
    evm_version: str = ""
    version: int = RECORD_VERSION

    def addresses(self) -> dict[str, str]:
        """Address of each contract by its plan name."""
        return {name: c.address for name, c in self.contracts.items()}

    def to_json(self) -> str:
        """The record as pretty JSON."""
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> DeploymentRecord:
        """Parse a record; raise DeploymentError on anything unexpected."""
        try:
            raw = json.loads(text)
            if raw.get("version") != RECORD_VERSION:
                raise ValueError(f"record version {raw.get('version')}, expected {RECORD_VERSION}")
            raw["contracts"] = {
                name: DeployedContract(**contract) for name, contract in raw["contracts"].items()
            }
            return cls(**raw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise DeploymentError(f"unreadable deployment record: {exc}") from exc


def read_record(path: Path) -> DeploymentRecord | None:
    """The record at ``path``, or None if there is none or it cannot be read."""
    try:
        return DeploymentRecord.from_json(Path(path).read_text())
    except FileNotFoundError:
        return None
    except DeploymentError as exc:
        log.warning("ignoring %s: %s", path, exc)
        return None


def write_record(path: Path, record: DeploymentRecord) -> None:
    """Write the record atomically (a crash leaves the old one or the new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=path.name, suffix=".tmp", delete=False
    ) as tmp:
        tmp.write(record.to_json())
        tmp.flush()
        os.fsync(tmp.fileno())
    # Left 0600 as NamedTemporaryFile makes it: public facts, but under var/ every file is
    # the service owner's alone (issue 17).
    os.replace(tmp.name, path)


def stale_reason(record: DeploymentRecord, client: ChainClient, fingerprint: str) -> str | None:
    """Why ``record`` does not describe the chain ``client`` talks to; None if it does."""
    chain_id = client.chain_id()
    if record.chain_id != chain_id:
        return f"record is for chain id {record.chain_id}, the node is chain id {chain_id}"
    if record.deployment_block_hash:
        number = record.deployment_block
        actual = client.block_hash(number)
        if actual is None:
            return f"the chain has no block {number} yet: not the chain deployed to"
        if actual != record.deployment_block_hash:
            return (
                f"block {number} is {actual}, not the record's {record.deployment_block_hash}: "
                "not the chain deployed to"
            )
    if not client.is_anvil():
        genesis = client.genesis_hash()
        if record.genesis_hash != genesis:
            return f"genesis block {genesis} differs from the record's {record.genesis_hash}"
    if record.fingerprint != fingerprint:
        return "the plan or the compiled contracts changed since the record was written"
    for name, contract in record.contracts.items():
        if not client.get_code(contract.address):
            return f"no code at {name} ({contract.address})"
    return None


def extendable_steps(
    record: DeploymentRecord, client: ChainClient, artifacts: Artifacts, plan: Sequence[Step]
) -> int:
    """How many first steps of ``plan`` ``record`` was made by, when it still describes
    the chain and the plan only appended steps since; 0 when it cannot be extended."""
    if stale_reason(record, client, record.fingerprint) is not None:
        return 0
    for done in range(len(plan) - 1, 0, -1):
        if plan_fingerprint(plan[:done], artifacts) == record.fingerprint:
            return done
    return 0


# --- the compiler's target ------------------------------------------------------------

_APE_EVM_VERSION = re.compile(r"^\s+evm_version:\s*([A-Za-z]+)\s*$", re.MULTILINE)


def check_evm_version(wanted: str, artifacts: Artifacts, ape_config: Path) -> None:
    """Raise DeploymentError unless ``wanted`` (LEDGER_EVM_VERSION) is the EVM version of
    ape-config.yaml's solidity section and of the build in ``artifacts``.

    Code compiled for a later EVM than the chain runs can deploy and then fail at the
    first opcode the chain lacks (PUSH0 before Shanghai, MCOPY and TSTORE before Cancun).
    On Besu the EVM version is set by the genesis file's milestones (``shanghaiTime``,
    ``cancunTime``, ...): the contracts must not target one the chain has not reached.
    """
    found: list[str] = []
    try:
        match = _APE_EVM_VERSION.search(ape_config.read_text())
    except OSError:
        match = None  # an installed service without its checkout: the build decides
    if match is not None and match.group(1) != wanted:
        found.append(f"{ape_config.name} has solidity.evm_version {match.group(1)}")
    built = sorted(artifacts.evm_versions - {wanted})
    if built:
        found.append(f"{artifacts.source} was compiled for {', '.join(built)}")
    if found:
        raise DeploymentError(
            f"LEDGER_EVM_VERSION is {wanted}, but {'; '.join(found)}. Set solidity.evm_version "
            "in ape-config.yaml to the EVM version the chain runs and recompile (`ape compile "
            "--force`), and LEDGER_EVM_VERSION to the same; on Besu it is the latest milestone "
            "of the genesis file (shanghaiTime, cancunTime, ...). Nothing was deployed"
        )


# --- deploying --------------------------------------------------------------------


def deploy_plan(
    client: ChainClient,
    operator: LocalAccount,
    artifacts: Artifacts,
    plan: Sequence[Step],
    fingerprint: str,
    *,
    extending: DeploymentRecord | None = None,
    done: int = 0,
    evm_version: str = "",
) -> DeploymentRecord:
    """Run every step of ``plan`` in order and return the record of what was done.

    With ``extending``, a record of the first ``done`` steps, only the steps after
    them run; the record keeps its contracts, calls and deployment block.
    """
    validate_plan(plan)
    contracts: dict[str, DeployedContract] = dict(extending.contracts) if extending else {}
    calls: list[dict[str, Any]] = list(extending.calls) if extending else []

    def resolve(arg: Any) -> Any:
        if arg is OPERATOR:
            return operator.address
        if isinstance(arg, Ref):
            return contracts[arg.name].address
        return arg

    for step in plan[done:]:
        args = [resolve(a) for a in step.args]
        if isinstance(step, Deploy):
            receipt = client.deploy(operator, artifacts.deployable(step.contract), args)
            assert receipt.contract_address is not None
            contracts[step.name] = DeployedContract(
                contract=step.contract,
                address=receipt.contract_address,
                block_number=receipt.block_number,
                transaction_hash=receipt.transaction_hash,
            )
            log.info("deployed %s (%s) at %s", step.name, step.contract, receipt.contract_address)
        else:
            target = contracts[step.target]
            receipt = client.transact(
                operator, target.address, artifacts[target.contract].abi, step.function, args
            )
            calls.append(
                {
                    "target": step.target,
                    "function": step.function,
                    "args": args,
                    "block_number": receipt.block_number,
                    "transaction_hash": receipt.transaction_hash,
                }
            )
            log.info("called %s.%s(%s)", step.target, step.function, ", ".join(map(str, args)))
    if extending is not None:
        return dataclasses.replace(
            extending, fingerprint=fingerprint, contracts=contracts, calls=calls
        )
    first_block = min((c.block_number for c in contracts.values()), default=client.block_number())
    first_block_hash = client.block_hash(first_block)
    assert first_block_hash is not None  # the block holding our first receipt
    return DeploymentRecord(
        chain_id=client.chain_id(),
        genesis_hash=client.genesis_hash(),
        deployment_block=first_block,
        deployment_block_hash=first_block_hash,
        operator=operator.address,
        fingerprint=fingerprint,
        contracts=contracts,
        calls=calls,
        deployed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        evm_version=evm_version,
    )


@dataclass(frozen=True)
class DeploymentOutcome:
    """The record in force, and whether it was re-used or just written."""

    record: DeploymentRecord
    reused: bool
    reason: str | None = None


def ensure_deployed(
    client: ChainClient,
    operator: LocalAccount,
    artifacts: Artifacts,
    plan: Sequence[Step],
    record_path: Path,
    *,
    force: bool = False,
    evm_version: str = "",
) -> DeploymentOutcome:
    """Re-use the record at ``record_path`` if it still fits the chain, else deploy.

    ``force`` deploys anew whatever the record says. ``evm_version``: what the contracts
    were compiled for (checked by ``check_evm_version`` before), kept in a new record.
    """
    fingerprint = plan_fingerprint(plan, artifacts)
    record = read_record(record_path)
    if record is None:
        reason = f"no deployment record at {record_path}"
    elif force:
        reason = "redeployment forced"
    else:
        reason = stale_reason(record, client, fingerprint)
        if reason is None:
            log.info(
                "re-using deployment of block %d from %s", record.deployment_block, record_path
            )
            return DeploymentOutcome(record=record, reused=True)
        done = extendable_steps(record, client, artifacts, plan)
        if done:
            log.warning("extending the deployment of block %d: steps %d.. of the plan are new",
                        record.deployment_block, done)  # fmt: skip
            record = deploy_plan(client, operator, artifacts, plan, fingerprint,
                                 extending=record, done=done, evm_version=evm_version)  # fmt: skip
            write_record(record_path, record)
            return DeploymentOutcome(record=record, reused=True, reason="extended: " + reason)
    log.log(logging.INFO if record is None else logging.WARNING, "deploying: %s", reason)
    record = deploy_plan(client, operator, artifacts, plan, fingerprint, evm_version=evm_version)
    write_record(record_path, record)
    log.info("deployment record written to %s", record_path)
    return DeploymentOutcome(record=record, reused=False, reason=reason)
