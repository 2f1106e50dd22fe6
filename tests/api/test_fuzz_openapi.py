"""Schemathesis against the running service's own OpenAPI (/openapi.json), as each role.

Every check schemathesis has is on: no 5xx, every status, content type, header and
body as declared, schema-violating input refused, schema-valid input accepted,
missing or bad keys refused (``ignored_auth``), undeclared methods 405 with a true
``Allow``, plus stateful checks where the spec links operations. The service is
this module's own (tests/api/conftest.py: one per module), a real anvil and real
writes, so what fuzzing does to the ledger stays here.

Each cast member fuzzes the operations the permission table allows its role (a
role's refusals are the authorization matrix's, tests/api/test_authorization.py):
examples, fuzzing and stateful on all of them, the coverage phase (boundary and
negative values of every keyword, role-independent) once per operation, by the first
role below allowed to call it. Each member fuzzes with a key of its own issued for the
run, and rotating or revoking keys comes last, apart, so that a member that revokes
its own key (it may) ends only that part. The roles that suspend and freeze go last.

``positive_data_acceptance`` also takes 422 for a value the schema cannot judge (an
address checksum, a date in the future, a participant not onboarded: refusals that
name the field); ``schema_valid_input_is_not_malformed`` then fails any schema-valid
request that the request validation refuses for a rule the schema could have stated.

``LEDGER_API_FUZZ_EXAMPLES`` sets the examples per operation (``make fuzz-api``: many).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from apikit import Service, running_service, trade_objects
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from ledger_app.api.auth import issue_key
from ledger_app.api.permissions import PERMISSIONS, Role
from ledger_app.db.engine import make_engine

EXAMPLES = int(os.environ.get("LEDGER_API_FUZZ_EXAMPLES", "2"))
SEED = int(os.environ.get("LEDGER_FUZZ_SEED", "20261203"))
#: Cast member of each role, in the order they fuzz.
MEMBERS = {
    "core": Role.CORE_ENTERPRISE,
    "supplier": Role.SUPPLIER,
    "financier": Role.FINANCIER,
    "bank": Role.SETTLEMENT_BANK,
    "fx": Role.FX_PROVIDER,
    "auditor": Role.AUDITOR,
    "regulator": Role.REGULATOR,
    "operator": Role.OPERATOR,
}
#: A member may rotate or revoke its own key (the operator anyone's): fuzzed last, apart.
KEY_OPERATIONS = frozenset({"api_keys.rotate", "api_keys.revoke"})
#: The event stream answers for as long as it is asked to (max_seconds): not fuzzed, its
#: parameters are tried in tests/api/test_webhooks.py.
NOT_FUZZED = frozenset({"events.stream"})
PHASES = ("examples", "coverage", "fuzzing", "stateful")


def allowed(role: Role) -> set[str]:
    """Operations the permission table lets ``role`` call (less those not fuzzed)."""
    return {op for op, rule in PERMISSIONS.items() if role in rule.roles} - NOT_FUZZED


def coverage_owner(operation: str) -> Role:
    """The role whose run covers ``operation``'s boundaries: the first in MEMBERS allowed."""
    return next(role for role in MEMBERS.values() if role in PERMISSIONS[operation].roles)


@schemathesis.check
def schema_valid_input_is_not_malformed(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request the schema calls valid is not refused as malformed: a 422 from request
    validation must come from a rule the service checks beyond the schema (its own
    validators: pydantic's "Value error, ..."), never from a type, pattern, bound or
    field the schema does not declare."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    if meta.phase.name == "stateful" or meta.pool_draws or meta.semantic_draws:
        return None  # values taken from earlier answers, not generated from the schema
    body = json.loads(response.content or b"{}")
    if body.get("error") != "ValidationFailed":
        return None  # a refusal by the ledger's rules, naming the field
    undeclared = [f for f in body["args"]["fields"] if not f["message"].startswith("Value error,")]
    if undeclared:
        raise AssertionError(f"schema-valid input refused by validation: {undeclared}")
    return None


@dataclass
class FuzzRun:
    """What one run tried and what it found."""

    cases: Counter[str] = field(default_factory=Counter)  # by phase
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    transitions: int = 0  # links the stateful phase followed between operations


def fuzz(service: Service, key: str, operations: set[str], phases: set[str], run: FuzzRun) -> None:
    """Run schemathesis with API key ``key`` over ``operations`` with ``phases`` into ``run``."""
    if not operations:
        return
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": {"X-API-Key": key},
            "workers": 1,
            "request-timeout": 120,
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]
                },
            },
            "generation": {"max-examples": EXAMPLES, "no-shrink": True},
            "phases": {name: {"enabled": name in phases} for name in PHASES},
            "suppress-health-check": [
                "too_slow",
                "filter_too_much",
                "data_too_large",
                "large_base_example",
            ],
        }
    )
    schema = schemathesis.openapi.from_url(f"{service.base_url}/openapi.json", config=config)
    schema = schema.include(operation_id=sorted(operations))
    for event in from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted) and event.payload is not None:
            run.transitions += event.payload.transitions_selected
        if isinstance(event, events.ScenarioFinished):
            run.cases[event.phase.value] += len(event.recorder.cases)
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    run.statuses[interaction.response.status_code] += 1
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.failure_info is not None:
                        run.failures.append(_describe(event.recorder, case_id, check))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            run.errors.append(f"{getattr(event, 'label', '')}: {getattr(event, 'info', event)}")


def fresh_key(service: Service, member: str) -> str:
    """A new API key of ``member`` for one run (straight into the database, as the
    operator's first key is: the operator is no participant to issue one to)."""
    address = service.operator_address if member == "operator" else service.addresses[member]
    engine = make_engine(service.settings.database_url)
    try:
        with engine.begin() as conn:
            return issue_key(conn, address, f"fuzz {member}").key
    finally:
        engine.dispose()


def _describe(recorder: Any, case_id: str, check: Any) -> str:
    failure = check.failure_info.failure
    interaction = recorder.interactions.get(case_id)
    sent = answered = ""
    if interaction is not None:
        request = interaction.request
        sent = f"{request.method} {request.uri} {(request.body or b'')[:300]!r}"
        if interaction.response is not None:
            answered = f"{interaction.response.status_code} {interaction.response.content[:300]!r}"
    return f"{recorder.label} [{check.name}] {failure.title}: {failure.message}\n  {sent}\n  -> {answered}"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """This module's own service, whose failed-authentication quota leaves the fuzzing
    alone: ``ignored_auth`` sends a wrong key to every operation, and with every
    operation of every role that is past the suite's 300 a minute from one address,
    after which every request with a key is 429 (tests/api/test_rate_limits.py tests
    that quota)."""
    # No webhook is delivered: a generated URL may name a public address (never a target
    # of a test), and resolving generated host names is not what is fuzzed here.
    with running_service(
        tmp_path_factory.mktemp("fuzz"),
        auth_failure_limit="100000/minute",
        webhook_delivery_interval=0.0,
    ) as svc:
        yield svc


@pytest.fixture(scope="module")
def seeded(service: Service) -> dict[str, Any]:
    """A receivable, a financing with an offer, a PvP settlement and an escrow, so that
    small ids the fuzzer tries name real objects."""
    return trade_objects(service)


def test_openapi_declares_auth_and_error_bodies_for_every_operation(service: Service) -> None:
    spec = httpx.get(f"{service.base_url}/openapi.json").json()
    operations = {op["operationId"]: op for path in spec["paths"].values() for op in path.values()}

    for operation_id in PERMISSIONS:
        declared = operations[operation_id]
        assert declared["security"], operation_id
        for status in ("401", "403", "422"):
            schema = declared["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (operation_id, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


@pytest.mark.parametrize("member", MEMBERS)
def test_fuzzing_as_each_role_finds_no_failure(
    service: Service, seeded: dict[str, Any], member: str
) -> None:
    role = MEMBERS[member]
    mine = allowed(role)
    owned = {op for op in mine if coverage_owner(op) == role}

    run = FuzzRun()
    key = fresh_key(service, member)
    fuzz(service, key, mine - KEY_OPERATIONS, {"examples", "fuzzing", "stateful"}, run)
    fuzz(service, key, owned - KEY_OPERATIONS, {"coverage"}, run)
    fuzz(service, key, mine & KEY_OPERATIONS, {"examples", "fuzzing"}, run)
    fuzz(service, key, owned & KEY_OPERATIONS, {"coverage"}, run)

    print(f"\n{member}: {len(mine)} operations, {run.transitions} links, cases {dict(run.cases)}, "
          f"statuses {dict(sorted(run.statuses.items()))}")  # fmt: skip
    assert not run.errors, "\n".join(run.errors)
    assert not run.failures, "\n".join(run.failures)
    assert sum(run.cases.values()) >= len(mine)
    assert not [s for s in run.statuses if s >= 500]
