"""The refusal table (ledger_app/api/errors.py): every custom error of every contract is
worded in the API's own terms, and every named refusal answers its pinned status."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from ledger_app.api.errors import REFUSALS, error_body, refused, request_error, status_for
from ledger_app.chain.artifacts import Artifacts
from ledger_app.domain.refusals import Refusal as DomainRefusal
from ledger_app.domain.vocabulary import (
    EARLY_PAYMENT_STATUS,
    FINANCING_STATUS,
    LOCK_STATE,
    OFFER_STATUS,
    RECEIVABLE_STATUS,
    ROLE_NAMES,
    SALE_STATUS,
    STANDING,
)
from ledger_app.errors import (
    ChainTimeout,
    ChainUnavailable,
    ConfigurationError,
    Conflict,
    DatabaseError,
    Forbidden,
    InvalidInput,
    NotFound,
    TransactionReverted,
)
from ledger_app.settings import PROJECT_ROOT

MANIFEST = PROJECT_ROOT / ".build" / "__local__.json"

#: Enum types of the contracts (ABI internalType suffix) and their names.
ENUMS = {
    "IReceivableRegistry.Status": RECEIVABLE_STATUS,
    "IFinancingDesk.FinancingStatus": FINANCING_STATUS,
    "IFinancingDesk.OfferStatus": OFFER_STATUS,
    "IFinancingDesk.SaleStatus": SALE_STATUS,
    "IHashTimeLock.LockState": LOCK_STATE,
    "IParticipantRegistry.Standing": STANDING,
    "IMaturityClearing.EarlyPaymentStatus": EARLY_PAYMENT_STATUS,
}
RPC_WORDS = re.compile(r"eth_|estimateGas|reverted|execution|revert", re.IGNORECASE)
SELECTOR = re.compile(r"0x[0-9a-fA-F]{8}(?![0-9a-fA-F])")
SUPPLIER = "0x" + "00" * 12 + "5e" * 8


def contract_errors() -> dict[str, dict[str, Any]]:
    """Every custom error declared in any compiled contract's ABI, by name."""
    artifacts = Artifacts.load(Path(MANIFEST))
    return {
        entry["name"]: entry
        for kind in artifacts
        for entry in artifacts[kind].abi
        if entry.get("type") == "error"
    }


def sample(entry: dict[str, Any]) -> dict[str, Any]:
    """Raw values as the ABI decoder gives them, one per input of ``entry``."""
    values: dict[str, Any] = {}
    for index, put in enumerate(entry["inputs"]):
        kind, name = put["type"], put["name"]
        if put["internalType"].startswith("enum "):
            values[name] = 1
        elif kind == "address":
            values[name] = SUPPLIER
        elif kind == "bytes32" and "role" in name.lower():
            values[name] = bytes.fromhex(next(iter(ROLE_NAMES))[2:])
        elif kind == "bytes32":
            values[name] = b"5493001KJTIIGC8Y1R12".ljust(32, b"\0")
        elif kind == "bytes3":
            values[name] = b"CNY"
        elif kind == "bytes2":
            values[name] = b"CN"
        elif kind == "bytes16":
            values[name] = bytes(range(16))
        elif kind.startswith("uint"):
            values[name] = 6 if "mask" in name.lower() else 1_800_000_000 + index
        elif kind == "string":
            values[name] = "rate"
        elif kind == "bool":
            values[name] = True
        else:
            raise AssertionError(f"no sample for {kind} {name} of {entry['name']}")
    return values


def masked_enum(entry: dict[str, Any]) -> tuple[str, ...]:
    """The names of the enum an error's status mask allows values of: that of its status."""
    (status,) = [p for p in entry["inputs"] if p["internalType"].startswith("enum ")]
    return ENUMS[status["internalType"].split(" ", 1)[1]]


ERRORS = contract_errors()


def test_the_abis_declare_the_contracts_errors() -> None:
    assert len(ERRORS) > 80
    assert "ReceivableInvalidStatus" in ERRORS


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_contract_error_is_worded_in_the_apis_terms(name: str) -> None:
    entry = ERRORS[name]
    assert name in REFUSALS, f"{name} has no row in the refusal table"
    assert REFUSALS[name].wording, f"{name} has no wording"
    error = TransactionReverted(
        f"eth_estimateGas reverted: {name}(...)", error_name=name, error_args=sample(entry)
    )

    body = error_body(error)

    assert body["error"] == name
    message = body["message"]
    assert not RPC_WORDS.search(message), message
    assert not SELECTOR.search(message), message
    assert "{" not in message, message
    assert name not in message, message
    for put in entry["inputs"]:
        internal = put["internalType"]
        if internal.startswith("enum "):
            names = ENUMS[internal.split(" ", 1)[1]]
            assert body["args"][put["name"]] == names[1], (name, body["args"])
            assert names[1] in message
        if "mask" in put["name"].lower():
            names = masked_enum(entry)
            assert names[1] in message
            assert names[2] in message
            assert put["name"] not in body["args"], "a mask is shown as the names it allows"
        if put["type"] == "bytes32" and "role" in put["name"].lower():
            assert body["args"][put["name"]] == ROLE_NAMES[next(iter(ROLE_NAMES))]


def test_a_receivable_status_refusal_names_the_statuses() -> None:
    mask = 1 << RECEIVABLE_STATUS.index("PENDING")
    error = TransactionReverted(
        "eth_estimateGas reverted: ReceivableInvalidStatus(id=4, current=10, allowedStatusMask=2)",
        error_name="ReceivableInvalidStatus",
        error_args={"id": 4, "current": RECEIVABLE_STATUS.index("CANCELLED"),
                    "allowedStatusMask": mask},
    )  # fmt: skip

    body = error_body(error)

    assert body == {
        "error": "ReceivableInvalidStatus",
        "args": {"id": "4", "current": "CANCELLED", "allowed": ["PENDING"]},
        "message": "receivable 4 is CANCELLED; this needs it PENDING",
    }


def test_a_financing_status_refusal_names_the_statuses() -> None:
    mask = (1 << FINANCING_STATUS.index("REQUESTED")) | (1 << FINANCING_STATUS.index("OFFERED"))
    error = TransactionReverted(
        "eth_estimateGas reverted: FinancingInvalidStatus(...)",
        error_name="FinancingInvalidStatus",
        error_args={"financingId": 7, "current": FINANCING_STATUS.index("FUNDED"),
                    "allowedStatusMask": mask},
    )  # fmt: skip

    body = error_body(error)

    assert body == {
        "error": "FinancingInvalidStatus",
        "args": {"financingId": "7", "current": "FUNDED", "allowed": ["REQUESTED", "OFFERED"]},
        "message": "financing 7 is FUNDED; this needs it REQUESTED or OFFERED",
    }


def test_a_clearing_refusal_names_the_payable_statuses() -> None:
    mask = (1 << RECEIVABLE_STATUS.index("ACTIVE")) | (1 << RECEIVABLE_STATUS.index("SPLIT"))
    error = TransactionReverted(
        "eth_estimateGas reverted: ClearingNotPayable(...)",
        error_name="ClearingNotPayable",
        error_args={"rootId": 3, "status": RECEIVABLE_STATUS.index("PENDING"),
                    "allowedStatusMask": mask},
    )  # fmt: skip

    body = error_body(error)

    assert body == {
        "error": "ClearingNotPayable",
        "args": {"rootId": "3", "status": "PENDING", "allowed": ["ACTIVE", "SPLIT"]},
        "message": "receivable 3 is PENDING; it can be paid only when ACTIVE or SPLIT",
    }


def test_invalid_offer_terms_name_the_value_refused() -> None:
    error = TransactionReverted(
        "eth_estimateGas reverted: FinancingInvalidTerms(...)",
        error_name="FinancingInvalidTerms",
        error_args={"field": "dayCountBasis", "value": 364},
    )

    body = error_body(error)

    assert body["args"] == {"field": "dayCountBasis", "value": "364"}
    assert body["message"] == "the offer's dayCountBasis 364 is out of range"


def test_an_unnamed_revert_speaks_no_rpc() -> None:
    error = TransactionReverted("eth_estimateGas reverted: execution reverted")

    assert not RPC_WORDS.search(error_body(error)["message"])


#: Named refusals and their status: 422 what the request gets wrong, 409 what the
#: ledger's state refuses, 404 what it does not know.
PINNED = {
    "IssuerNotSettlementBank": 409,
    "CurrencyNotListed": 409,
    "BlockBeforeDeployment": 409,
    "BlockNotIndexed": 409,
    "CreditorNotActiveSupplier": 409,
    "FinancierNotActive": 409,
    "AccountRefused": 409,
    "AccountNotParticipant": 404,
    "ReceivableUnknownCurrency": 409,
    "FinancingCurrencyNotListed": 409,
    "ClearingCurrencyNotListed": 409,
    "FxCurrencyNotListed": 409,
    "HtlcTokenNotListed": 409,
    "HtlcRecipientRefused": 409,
    "RegistryTokenCurrencyMismatch": 409,
    "ReceivableDuplicateInvoice": 409,
    "ClearingNotDue": 409,
    "ReceivableInvalidSplit": 422,
    "ReceivableSelfDealing": 422,
    "FinancingNoProceeds": 422,
    "FinancingInvalidTerms": 422,
    "HtlcWrongPreimage": 422,
    "TransferToSelf": 422,
    "EmptyDocument": 422,
    "ReceivableUnknown": 404,
    "FinancingUnknown": 404,
    "HtlcUnknown": 404,
}


@pytest.mark.parametrize(("name", "status"), sorted(PINNED.items()))
@pytest.mark.parametrize("raised_as", [InvalidInput, Conflict])
def test_a_named_refusal_answers_its_pinned_status(name: str, status: int, raised_as: type) -> None:
    precheck = raised_as("refused", error=name)
    revert = TransactionReverted("refused", error_name=name)

    assert status_for(precheck) == status
    if name in ERRORS:
        assert status_for(revert) == status


# --- the table is complete: every name the ledger or the service can answer has its row

INTERFACES = PROJECT_ROOT / "contracts" / "interfaces"
DECLARED = re.compile(r"^\s*error\s+(\w+)\s*\(", re.MULTILINE)
PACKAGE = PROJECT_ROOT / "ledger_app"
TABLE = PACKAGE / "api" / "errors.py"
#: The classes a request error is raised as (ledger_app/errors.py): its name defaults to
#: the class's.
REQUEST_ERRORS = {
    "RequestError",
    "Unauthenticated",
    "Forbidden",
    "NotFound",
    "Conflict",
    "InvalidInput",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "ServiceDegraded",
    "ServiceStopping",
    "RateLimited",
}


def declared_errors() -> dict[str, str]:
    """Every custom error declared in contracts/interfaces/*.sol -> the file declaring it."""
    return {
        name: path.name
        for path in sorted(INTERFACES.glob("*.sol"))
        for name in DECLARED.findall(path.read_text())
    }


def _called(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _constants(value: ast.expr) -> list[str] | None:
    """The names an ``error=`` value can take, or None when it is not spelled out."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return [value.value]
    if isinstance(value, ast.IfExp):
        body, orelse = _constants(value.body), _constants(value.orelse)
        return None if body is None or orelse is None else body + orelse
    return None


def raised_names() -> tuple[dict[str, str], list[str]]:
    """Every error name ledger_app raises (name -> first place), and the places whose name
    is not spelled out in the source: request errors' ``error=`` (or their class's name) and
    domain refusals' first argument."""
    names: dict[str, str] = {}
    unspelled: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == TABLE:
            continue  # the table's own translation passes the names it is given through
        domain = path.parent.name == "domain"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
            called = _called(node)
            if domain and (called == "Refusal" or called.endswith("Refused")):
                found = _constants(node.args[0]) if node.args else None
            elif called in REQUEST_ERRORS or called == "request_error":
                keyword = next((k for k in node.keywords if k.arg == "error"), None)
                if called == "request_error":
                    found = _constants(node.args[0]) if node.args else None
                elif keyword is None:
                    found = [called]
                else:
                    found = _constants(keyword.value)
            else:
                continue
            if found is None:
                unspelled.append(where)
            for name in found or ():
                names.setdefault(name, where)
    return names, unspelled


DECLARED_ERRORS = declared_errors()
RAISED, UNSPELLED = raised_names()
#: Rows for what no source spells: the compiler's string revert and panic, and the answer
#: to a revert the table lacks.
GENERIC = {"Error", "Panic", "TransactionReverted"}


def test_the_interfaces_declare_the_contracts_errors() -> None:
    assert "ReceivableInvalidStatus" in DECLARED_ERRORS
    assert set(DECLARED_ERRORS) <= set(ERRORS), "an interface error missing from the ABIs"


@pytest.mark.parametrize("name", sorted(DECLARED_ERRORS))
def test_every_interface_error_has_its_row(name: str) -> None:
    assert name in REFUSALS, f"{name} ({DECLARED_ERRORS[name]}) has no row in REFUSALS"
    assert REFUSALS[name].wording, f"{name} has no wording"


def test_every_raised_error_name_is_spelled_out() -> None:
    assert "ReceivableInvalidSplit" in RAISED
    assert "ClearingNotDue" in RAISED
    assert UNSPELLED == [], "an error name the refusal table cannot be checked for"


@pytest.mark.parametrize("name", sorted(RAISED))
def test_every_raised_error_name_has_its_row(name: str) -> None:
    assert name in REFUSALS, f"{name} (raised at {RAISED[name]}) has no row in REFUSALS"


@pytest.mark.parametrize("name", sorted(REQUEST_ERRORS))
def test_every_request_error_class_has_its_row(name: str) -> None:
    """The answer to a request error raised without a name of its own (its class's)."""
    assert name in REFUSALS


def test_every_row_answers_something_the_ledger_or_the_service_raises() -> None:
    stale = set(REFUSALS) - set(ERRORS) - set(RAISED) - REQUEST_ERRORS - GENERIC
    assert stale == set(), "rows no contract declares and no code raises"


def test_an_unknown_revert_is_refused_generically() -> None:
    error = TransactionReverted(
        "eth_estimateGas reverted: 0x12345678", error_name="FutureContractError",
        error_args={"id": 7},
    )  # fmt: skip

    body = error_body(error)

    assert status_for(error) == 409
    assert body["error"] == "FutureContractError"
    assert body["message"] == "the ledger refused this: FutureContractError"
    assert body["args"] == {"id": "7"}


def test_a_nameless_revert_is_refused_generically() -> None:
    error = TransactionReverted("execution reverted", transaction_hash="0x" + "ab" * 32)

    assert status_for(error) == 409
    assert error_body(error)["error"] == "TransactionReverted"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ChainUnavailable("no answer"), 503),
        (ChainTimeout("not mined", transaction_hash="0x" + "ab" * 32), 504),
        (DatabaseError("down"), 503),
        (ConfigurationError("no key"), 500),
    ],
)
def test_an_error_that_is_no_refusal_is_answered_by_its_class(error: Any, status: int) -> None:
    assert status_for(error) == status


@pytest.mark.parametrize(
    ("name", "raised_as"),
    [
        ("ReceivableInvalidSplit", InvalidInput),
        ("ClearingNotDebtor", Forbidden),
        ("ClearingNotDue", Conflict),
        ("DocumentUnknown", NotFound),
        ("KeyRecoveryPending", Conflict),
    ],
)
def test_a_domain_refusal_is_answered_by_its_row(name: str, raised_as: type) -> None:
    refusal = DomainRefusal(name, "refused", field="amounts", sum=99)

    error = refused(refusal)

    assert type(error) is raised_as
    assert status_for(error) == REFUSALS[name].status
    assert error_body(error) == {
        "error": name,
        "args": {"field": "amounts", "sum": 99},
        "message": "refused",
    }


def test_a_batch_refusal_answers_the_status_its_rows_share() -> None:
    def batch(*names: str) -> int:
        rows = [{"row": i, "error": n} for i, n in enumerate(names)]
        return status_for(request_error("BatchRefused", "refused", rows=rows))

    assert batch("ReceivableDuplicateInvoice", "ReceivableUnknownCurrency") == 409
    assert batch("DocumentUnknown") == 404
    assert batch("ReceivableDuplicateInvoice", "DuplicateInBatch") == 422
