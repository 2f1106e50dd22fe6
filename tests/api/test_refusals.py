"""The refusal table (ledger_app/api/errors.py): every custom error of every contract is
worded in the API's own terms, and every named refusal answers its pinned status."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ledger_app.api.errors import REFUSALS, error_body, status_for
from ledger_app.api.wording import STANDING
from ledger_app.chain.artifacts import Artifacts
from ledger_app.errors import Conflict, InvalidInput, TransactionReverted
from ledger_app.indexer.handlers import (
    FINANCING_STATUS,
    LOCK_STATE,
    OFFER_STATUS,
    RECEIVABLE_STATUS,
    ROLE_NAMES,
)
from ledger_app.settings import PROJECT_ROOT

MANIFEST = PROJECT_ROOT / ".build" / "__local__.json"

#: Enum types of the contracts (ABI internalType suffix) and their names.
ENUMS = {
    "IReceivableRegistry.Status": RECEIVABLE_STATUS,
    "IFinancingDesk.FinancingStatus": FINANCING_STATUS,
    "IFinancingDesk.OfferStatus": OFFER_STATUS,
    "IHashTimeLock.LockState": LOCK_STATE,
    "IParticipantRegistry.Standing": STANDING,
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
        "message": "root 3 is PENDING; it can be repaid only when ACTIVE or SPLIT",
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
