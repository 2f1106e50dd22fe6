"""The pre-checks of the ledger's writes (ledger_app/domain/receivables.py,
clearing.py, tokens.py) answered through the API: the status, name, values and
words of each refusal, and nothing sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from apikit import Service

FACE = 100_000_000


def chain_time(service: Service) -> int:
    return int(service.client.get_block("latest")["timestamp"])


def test_split_whose_parts_do_not_sum_is_refused_before_sending(service: Service) -> None:
    parent = service.active()
    nonce = service.nonce("supplier")

    response = service.call("supplier", "POST", f"/v1/receivables/{parent['id']}/split",
                            json={"amounts": ["60000000", "30000000"]})  # fmt: skip

    assert response.status_code == 422
    assert response.json() == {
        "error": "ReceivableInvalidSplit",
        "args": {"field": "amounts", "sum": 90_000_000, "amount": FACE},
        "message": f"the parts sum to 90000000, the receivable is {FACE}",
    }
    assert service.nonce("supplier") == nonce


def test_registration_owed_to_oneself_is_refused_as_self_dealing(service: Service) -> None:
    nonce = service.nonce("core")

    response = service.call("core", "POST", "/v1/receivables",
                            json=service.registration(creditor=service.addresses["core"]))  # fmt: skip

    assert response.status_code == 422
    assert response.json() == {
        "error": "ReceivableSelfDealing",
        "args": {"field": "creditor"},
        "message": "the debtor cannot be the creditor",
    }
    assert service.nonce("core") == nonce


def test_batch_with_one_invoice_twice_reports_the_later_row(service: Service) -> None:
    row = service.registration()
    nonce = service.nonce("core")

    response = service.call("core", "POST", "/v1/receivables/batch",
                            json={"items": [row, service.registration(), row]})  # fmt: skip

    assert response.status_code == 422
    assert response.json() == {
        "error": "BatchRefused",
        "args": {"rows": [{"row": 2, "field": "invoice", "error": "DuplicateInBatch",
                           "message": "the same invoice as row 0"}]},
        "message": "1 of 3 rows would be refused; nothing was sent",
    }  # fmt: skip
    assert service.nonce("core") == nonce


def test_batch_of_refusals_with_different_statuses_is_422(service: Service) -> None:
    row = service.registration()
    unlisted = {**service.registration(), "currency": "USD"}

    response = service.call("core", "POST", "/v1/receivables/batch",
                            json={"items": [row, unlisted, row]})  # fmt: skip

    assert response.status_code == 422  # a 409 (unlisted currency) and a 422 (the duplicate)
    rows = response.json()["args"]["rows"]
    assert [(r["row"], r["error"]) for r in rows] == [
        (1, "ReceivableUnknownCurrency"),
        (2, "DuplicateInBatch"),
    ]
    assert rows[0] == {"row": 1, "field": "currency", "error": "ReceivableUnknownCurrency",
                       "message": "no settlement token is listed for USD",
                       "currency": "USD"}  # fmt: skip


def test_token_transfer_to_oneself_is_refused(service: Service) -> None:
    nonce = service.nonce("supplier")

    response = service.call("supplier", "POST", "/v1/tokens/CNY/transfers",
                            json={"to": service.addresses["supplier"], "amount": "1"})  # fmt: skip

    assert response.status_code == 422
    assert response.json() == {
        "error": "TransferToSelf",
        "args": {"field": "to"},
        "message": "a transfer to oneself moves nothing",
    }
    assert service.nonce("supplier") == nonce


def test_clearing_of_a_part_and_before_the_due_date_is_refused(service: Service) -> None:
    due = (datetime.fromtimestamp(chain_time(service), UTC) + timedelta(days=2)).date()
    root = service.active(due_date=due.isoformat())
    parts = service.call("supplier", "POST", f"/v1/receivables/{root['id']}/split",
                         json={"amounts": ["60000000", "40000000"]}).json()["result"]  # fmt: skip
    part = parts[1]["id"]
    nonce = service.nonce("core")

    of_part = service.call("core", "POST", f"/v1/clearing/{part}/repay")
    early = service.call("core", "POST", f"/v1/clearing/{root['id']}/repay")

    assert of_part.status_code == 422
    assert of_part.json() == {
        "error": "ClearingNotRoot",
        "args": {"field": "root_id", "root_id": root["id"]},
        "message": f"receivable {part} is a part of root {root['id']}",
    }
    assert early.status_code == 409
    body = early.json()
    due_at = int(datetime.fromisoformat(root["due_date"]).timestamp())
    assert (body["error"], body["args"]["root_id"], body["args"]["due_date"]) == (
        "ClearingNotDue", root["id"], due_at,
    )  # fmt: skip
    assert body["args"]["now"] < due_at
    assert body["message"] == f"root {root['id']} is due at {due_at}, not yet"
    assert service.nonce("core") == nonce


def test_redeeming_a_settled_root_again_is_refused(service: Service) -> None:
    # Last in the module: it moves the chain's clock past a due date.
    service.mint("core", FACE)
    due = (datetime.fromtimestamp(chain_time(service), UTC) + timedelta(days=2)).date()
    root = service.active(due_date=due.isoformat())
    due_at = int(datetime.fromisoformat(root["due_date"]).timestamp())
    for method, params in (("evm_setNextBlockTimestamp", [due_at + 1]), ("evm_mine", [])):
        answer = httpx.post(service.settings.rpc_url,
                            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})  # fmt: skip
        assert "error" not in answer.json(), answer.text
    repaid = service.call("core", "POST", f"/v1/clearing/{root['id']}/repay")
    redeemed = service.call("supplier", "POST", f"/v1/clearing/{root['id']}/redeem")
    assert (repaid.status_code, redeemed.status_code) == (200, 200), redeemed.text
    nonce = service.nonce("supplier")

    again = service.call("supplier", "POST", f"/v1/clearing/{root['id']}/redeem")

    assert again.status_code == 409
    assert again.json() == {
        "error": "ClearingNothingToRedeem",
        "args": {"root_id": root["id"]},
        "message": f"root {root['id']} has no unsettled leaf to redeem",
    }
    assert service.nonce("supplier") == nonce
