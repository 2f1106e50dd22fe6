"""Many writers at once: every write lands exactly once, and no sender's nonce sticks."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from apikit import Service, onboard

WRITERS = 5
PER_WRITER = 10


def test_50_concurrent_writes_from_5_participants_land_once(service: Service) -> None:
    names = [f"writer{i}" for i in range(WRITERS)]
    for name in names:
        onboard(service, name, ["CORE_ENTERPRISE"])
    jobs = [(name, service.registration()) for name in names for _ in range(PER_WRITER)]
    last_id = service.view("receivables", "lastId")
    nonces = {name: service.nonce(name) for name in names}

    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(
            lambda job: service.call(job[0], "POST", "/v1/receivables", json=job[1]), jobs
        ))  # fmt: skip

    assert [a.status_code for a in answers] == [201] * len(jobs), [
        a.text for a in answers if a.status_code != 201
    ]
    ids = sorted(a.json()["result"]["id"] for a in answers)
    assert ids == list(range(last_id + 1, last_id + 1 + len(jobs)))
    assert service.view("receivables", "lastId") == last_id + len(jobs)
    invoice_keys = {a.json()["result"]["invoice_key"]: a.json()["result"]["id"] for a in answers}
    assert len(invoice_keys) == len(jobs)  # every request its own receivable: none twice
    for invoice_key, receivable_id in invoice_keys.items():
        assert (
            service.view("receivables", "receivableByInvoiceKey", bytes.fromhex(invoice_key[2:]))
            == receivable_id
        )
    for name in names:
        assert service.nonce(name) == nonces[name] + PER_WRITER
        pending = service.client.get_transaction_count(service.addresses[name], "pending")
        assert pending == service.nonce(name)  # nothing left in the pool


def test_sequential_registration_rate(service: Service) -> None:
    """Rough requests/s of single registrations by one caller (printed with -s)."""
    count = 40
    bodies = [service.registration() for _ in range(count)]
    with service.http("core") as http:  # one connection, as a real client keeps
        started = time.monotonic()
        answers = [http.post("/v1/receivables", json=body) for body in bodies]
        elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [201] * count
    print(
        f"\nsingle receivable registration: {count} in {elapsed:.2f} s = {count / elapsed:.1f} req/s"
    )
