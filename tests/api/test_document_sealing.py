"""Documents at rest and their commitments (issue 21).

A document is sealed on disk (its plain bytes appear nowhere under the service's
directories), committed to on chain with a salt (the document's plain hashes appear
nowhere on chain), disclosed to whoever may read it, and the disclosure is checked by
scripts/verify_disclosure.py alone, against the chain, under ``python -I -S``. A document
under a key the service does not hold is refused by name, at a read and at a start.
Documents stored in the clear before this are sealed at start and stay verifiable as
``keccak256-unsalted``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from apikit import Service, running_service
from eth_utils import keccak
from pydantic import SecretStr
from sqlalchemy import insert

from ledger_app import PROJECT_ROOT
from ledger_app.db.api_tables import document_uploads, documents
from ledger_app.db.engine import make_engine
from ledger_app.domain.documents import SALTED, UNSALTED, salted_commitment
from ledger_app.errors import ConfigurationError
from ledger_app.signing.document_key import DocumentKey, DocumentKeys
from ledger_app.signing.sealed_documents import open_documents

SCRIPT = PROJECT_ROOT / "scripts" / "verify_disclosure.py"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The API suite's service; its document key generated on first start."""
    with running_service(tmp_path_factory.mktemp("sealing")) as svc:
        yield svc


def upload(service: Service, who: str, content: bytes) -> dict[str, Any]:
    response = service.call(who, "POST", "/v1/documents", content=content,
                            headers={"Content-Type": "text/plain"})  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


def distinctive(label: str) -> bytes:
    """Bytes no other test, log line or file holds by chance."""
    return f"{label} {time.time_ns()} ".encode() + hashlib.sha256(label.encode()).digest() * 8


def verify(*args: str) -> subprocess.CompletedProcess[str]:
    """scripts/verify_disclosure.py run isolated: no site-packages, no user site, no cwd."""
    return subprocess.run([sys.executable, "-I", "-S", str(SCRIPT), *args],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def chain_logs(service: Service) -> str:
    """Every log the chain holds, topics and data, as one lower-case hex text."""
    answer = httpx.post(service.settings.rpc_url, json={
        "jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
        "params": [{"fromBlock": "0x0", "toBlock": "latest"}]}, timeout=30).json()  # fmt: skip
    return " ".join(" ".join(log["topics"]) + log["data"] for log in answer["result"]).lower()


def wait_for(service: Service, who: str, receivable_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        shown = service.call(who, "GET", f"/v1/receivables/{receivable_id}")
        if shown.status_code == 200:
            return shown.json()
        time.sleep(0.1)
    raise AssertionError(f"receivable {receivable_id} not indexed in 30 s")


# --- at rest ------------------------------------------------------------------------------


def test_uploaded_document_is_only_ciphertext_on_disk(service: Service) -> None:
    content = distinctive("at rest")
    stored = upload(service, "supplier", content)
    shown = service.call("supplier", "GET", f"/v1/documents/{stored['document_hash']}")
    root = service.settings.state_dir.parent  # var/, the node's state and logs beside it

    holding = [p for p in root.rglob("*") if p.is_file() and content[:40] in p.read_bytes()]
    sealed = service.settings.documents_dir / (stored["commitment"][2:] + ".sealed")

    assert shown.status_code == 200
    assert shown.content == content
    assert holding == []
    assert sealed.read_bytes()[:4] == b"LDOC"
    assert sealed.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in service.settings.documents_dir.iterdir()
            if p.name.startswith(".tmp-")] == []  # fmt: skip


# --- the commitment -----------------------------------------------------------------------


def test_commitment_is_salted_and_the_plain_hashes_are_nowhere_on_chain(service: Service) -> None:
    content = distinctive("committed")
    stored = upload(service, "supplier", content)
    again = upload(service, "supplier2", content)  # the same bytes: one document, one salt
    assert service.call("supplier", "POST", f"/v1/documents/{stored['document_hash']}/grants",
                        json={"participant": service.addresses["core"]}).status_code == 201  # fmt: skip
    receivable = service.register(document_hash=stored["document_hash"])
    disclosure = service.call("core", "GET", f"/v1/documents/{stored['document_hash']}/disclosure")
    salt = bytes.fromhex(disclosure.json()["salt"][2:])
    logs = chain_logs(service)

    assert stored["commitment_scheme"] == SALTED
    assert stored["document_hash"] == stored["commitment"] == again["commitment"]
    assert stored["commitment"] == salted_commitment(salt, content)
    assert salted_commitment(bytes(32), content) != stored["commitment"]  # another salt
    assert receivable["document_hash"] == stored["commitment"]
    assert stored["commitment"][2:] in logs  # the scan sees the commitment itself
    assert keccak(content).hex() not in logs
    assert hashlib.sha256(content).hexdigest() not in logs


# --- disclosure ---------------------------------------------------------------------------


def test_disclosure_is_verified_against_the_chain_by_the_stdlib_script(
    service: Service, tmp_path: Path
) -> None:
    content = distinctive("disclosed")
    stored = upload(service, "core", content)
    receivable = service.register(document_hash=stored["document_hash"])
    wait_for(service, "core", receivable["id"])
    answer = service.call("core", "GET", f"/v1/documents/{stored['document_hash']}/disclosure")
    disclosure = tmp_path / "disclosure.json"
    disclosure.write_text(answer.text)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**answer.json(), "document": "Zm9yZ2Vk"}))
    on_chain = ("--rpc", service.settings.rpc_url, "--registry",
                service.contracts.address("receivables"), "--receivable", str(receivable["id"]))  # fmt: skip

    checked = verify(str(disclosure), stored["commitment"], *on_chain)
    refused = verify(str(forged), *on_chain)
    other = verify(str(disclosure), "0x" + "00" * 32)
    stranger = service.call("supplier2", "GET",
                            f"/v1/documents/{stored['document_hash']}/disclosure")  # fmt: skip

    assert answer.status_code == 200, answer.text
    assert answer.json()["scheme"] == SALTED
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"receivable {receivable['id']}'s documentHash on chain" in checked.stdout
    assert checked.stdout.strip().endswith("verified")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "NOT verified" in refused.stdout
    assert other.returncode == 1
    assert stranger.status_code == 404
    assert stranger.json()["error"] == "DocumentUnknown"


def test_verify_script_imports_only_the_standard_library() -> None:
    tree = ast.parse(SCRIPT.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}  # fmt: skip
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}  # fmt: skip

    assert imported - {"__future__"} <= sys.stdlib_module_names, imported


# --- keys ---------------------------------------------------------------------------------


def test_document_under_another_key_is_refused_by_name(service: Service) -> None:
    content = distinctive("foreign key")
    stored = upload(service, "supplier", content)
    sealed = service.app.state.runtime.documents
    salt, _ = sealed.open(stored["commitment"])
    foreign = DocumentKey.generate()
    sealed.seal(stored["commitment"], salt, content, foreign)  # as a service with another key
    try:
        answer = service.call("supplier", "GET", f"/v1/documents/{stored['document_hash']}")
        disclosure = service.call(
            "supplier", "GET", f"/v1/documents/{stored['document_hash']}/disclosure"
        )
        with pytest.raises(ConfigurationError, match="document key does not match: 1 of"):
            open_documents(service.settings, dev_chain=True)
    finally:
        sealed.seal(stored["commitment"], salt, content)

    assert answer.status_code == 500
    assert answer.json()["error"] == "DocumentKeyMismatch"
    assert "the service's document key does not match" in answer.json()["message"]
    assert "InvalidTag" not in answer.text
    assert "Traceback" not in answer.text
    assert disclosure.json()["error"] == "DocumentKeyMismatch"
    assert service.call("supplier", "GET",
                        f"/v1/documents/{stored['document_hash']}").content == content  # fmt: skip


def test_start_refuses_a_wrong_document_key_and_accepts_it_as_the_previous_one(
    service: Service,
) -> None:
    other = DocumentKey.generate()
    current = service.app.state.runtime.documents.keys.current
    wrong = service.settings.model_copy(update={"document_key": SecretStr(other.encoded())})
    rotating = wrong.model_copy(update={"document_previous_key": SecretStr(current.secret.hex())})

    with pytest.raises(ConfigurationError, match="does not match") as refused:
        open_documents(wrong, dev_chain=True)
    reopened = open_documents(rotating, dev_chain=True)

    assert other.encoded() not in str(refused.value)
    assert reopened.keys == DocumentKeys(other, (current,))


# --- documents stored before sealing ------------------------------------------------------


def test_document_stored_in_the_clear_is_sealed_at_start_and_verifies_unsalted(
    service: Service, tmp_path: Path
) -> None:
    content = distinctive("stored in the clear")
    sha256, commitment = hashlib.sha256(content).hexdigest(), "0x" + keccak(content).hex()
    plain = service.settings.documents_dir / sha256
    plain.write_bytes(content)  # as the service before issue 21 kept it
    engine = make_engine(service.settings.database_url)
    with engine.begin() as conn:  # its row as migration 0017 leaves it
        now = datetime.now(UTC)
        conn.execute(insert(documents).values(sha256=sha256, commitment=commitment,
                                              content_type="text/plain", size=len(content),
                                              uploaded_at=now))  # fmt: skip
        conn.execute(insert(document_uploads).values(
            sha256=sha256, participant=service.addresses["supplier"].lower(), uploaded_at=now))  # fmt: skip
    engine.dispose()

    first = open_documents(service.settings, dev_chain=True)  # what a start does
    again = open_documents(service.settings, dev_chain=True)
    shown = service.call("supplier", "GET", f"/v1/documents/{commitment}")
    answer = service.call("supplier", "GET", f"/v1/documents/{commitment}/disclosure")
    disclosure = tmp_path / "old.json"
    disclosure.write_text(answer.text)
    checked = verify(str(disclosure), commitment)

    assert not plain.exists()
    assert first.exists(commitment)
    assert again.exists(commitment)
    assert shown.content == content
    assert answer.json()["scheme"] == UNSALTED
    assert answer.json()["salt"] is None
    assert checked.returncode == 0, checked.stdout + checked.stderr
    holding = [p for p in service.settings.state_dir.rglob("*")
               if p.is_file() and content[:40] in p.read_bytes()]  # fmt: skip
    assert holding == []
