"""The document key and its rotation (ledger_app/signing/document_key.py, sealed_documents.py).

Rotation is run as the operator runs it, ``ledger-app rotate-document-key``, from a
store already half-rotated (the state a kill leaves: some files under the new key, a
temporary file left behind, a document still in the clear), killed again mid-way with
SIGKILL, and run once more: every document then reads back byte-identical under the new
key alone, and none under the old key alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger_app.domain.documents import SALT_BYTES, salted_commitment, unsalted_commitment
from ledger_app.errors import ConfigurationError, DocumentDamaged, DocumentKeyMismatch
from ledger_app.settings import Settings
from ledger_app.signing.document_key import (
    DocumentKey,
    DocumentKeys,
    document_keys,
    parse_key,
    write_key_file,
)
from ledger_app.signing.sealed_documents import SealedDocuments

LEDGER_APP = Path(sys.executable).parent / "ledger-app"
DOCUMENTS = 150  # at ~7 ms a file (one fsync each) the kill lands mid-way


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(state_dir=tmp_path / "var", **values)  # type: ignore[arg-type]


def test_key_is_generated_once_on_a_dev_chain_and_required_elsewhere(tmp_path: Path) -> None:
    configured = settings(tmp_path)

    with pytest.raises(ConfigurationError, match="set LEDGER_DOCUMENT_KEY"):
        document_keys(configured, dev_chain=False)
    generated = document_keys(configured, dev_chain=True)
    reused = document_keys(configured, dev_chain=True)

    assert reused == generated
    assert configured.generated_document_key_file.stat().st_mode & 0o777 == 0o600


def test_key_is_read_as_hex_or_base64_and_a_bad_one_is_refused_without_showing_it() -> None:
    key = DocumentKey.generate()

    assert parse_key(key.secret.hex(), "k") == parse_key("0x" + key.secret.hex(), "k") == key
    assert parse_key(key.encoded() + "\n", "k") == key
    with pytest.raises(
        ConfigurationError, match="LEDGER_DOCUMENT_KEY is not a document key"
    ) as bad:
        parse_key(key.secret.hex()[:-2], "LEDGER_DOCUMENT_KEY")
    assert key.secret.hex()[:20] not in str(bad.value)
    assert key.secret.hex() not in repr(key)


def test_sealed_file_moved_or_altered_is_refused_as_damaged(tmp_path: Path) -> None:
    store = SealedDocuments(tmp_path, DocumentKeys(DocumentKey.generate()))
    salt = os.urandom(SALT_BYTES)
    first, second = salted_commitment(salt, b"one"), salted_commitment(salt, b"two")
    store.seal(first, salt, b"one")
    store.path(first).rename(store.path(second))  # another document's place

    with pytest.raises(DocumentDamaged, match="does not authenticate"):
        store.open(second)
    with pytest.raises(DocumentKeyMismatch, match="document key does not match"):
        SealedDocuments(tmp_path, DocumentKeys(DocumentKey.generate())).open(second)


def test_rotation_killed_mid_way_and_run_again_loses_nothing(tmp_path: Path) -> None:
    old, new = DocumentKey.generate(), DocumentKey.generate()
    old_file, new_file = tmp_path / "old.key", tmp_path / "new.key"
    write_key_file(old_file, old)
    write_key_file(new_file, new)
    directory = settings(tmp_path).documents_dir
    store = SealedDocuments(directory, DocumentKeys(old))
    contents: dict[str, bytes] = {}
    for n in range(DOCUMENTS):
        content, salt = f"document {n} ".encode() + os.urandom(64), os.urandom(SALT_BYTES)
        commitment = salted_commitment(salt, content)
        contents[commitment] = content
        store.seal(commitment, salt, content)
    legacy = b"stored in the clear before sealing"
    (directory / hashlib.sha256(legacy).hexdigest()).write_bytes(legacy)
    contents[unsalted_commitment(legacy)] = legacy
    # What an earlier run killed after a few files leaves: those under the new key and a
    # temporary file (ciphertext) it was writing.
    for path in list(store.sealed_files())[:5]:
        store.reseal(path, new, DocumentKeys(new, (old,)))
    (directory / ".tmp-killed").write_bytes(b"LDOC half a file")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "LEDGER_STATE_DIR": str(tmp_path / "var"), "LEDGER_DOCUMENT_KEY_FILE": str(old_file)}  # fmt: skip
    command = [str(LEDGER_APP), "rotate-document-key", "--new-key-file", str(new_file)]

    killed = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE)
    first_untouched = list(store.sealed_files())[5]
    deadline = time.monotonic() + 60
    while killed.poll() is None and time.monotonic() < deadline:
        if store.key_id_of(first_untouched) == new.key_id:  # this run is under way
            killed.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    killed.wait(timeout=30)
    under_new = sum(store.key_id_of(p) == new.key_id for p in store.sealed_files())
    rerun = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120, check=False)  # fmt: skip

    assert killed.returncode == -signal.SIGKILL  # killed, not finished
    assert 5 < under_new < len(contents)  # mid-way
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["resealed"] == len(contents) - under_new
    assert report["not_under_new_key"] == 0
    only_new = SealedDocuments(directory, DocumentKeys(new))
    assert {c: only_new.open(c)[1] for c in contents} == contents
    assert sorted(p.name for p in directory.iterdir() if not p.name.startswith(".tmp-")) == sorted(
        c[2:] + ".sealed" for c in contents
    )
    with pytest.raises(DocumentKeyMismatch):
        SealedDocuments(directory, DocumentKeys(old)).open(next(iter(contents)))
    # The temporary files the kills left (ciphertext) are removed at a start once stale.
    left = [p for p in directory.iterdir() if p.name.startswith(".tmp-")]
    for path in left:
        os.utime(path, (time.time() - 7200,) * 2)
    assert only_new.remove_stale_temporary_files() == len(left) >= 1
    assert [p.name for p in directory.iterdir() if p.name.startswith(".tmp-")] == []
