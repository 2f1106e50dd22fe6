"""The console's story end to end in headless Chromium: the core registers a receivable
from a CSV file, the supplier confirms, splits and asks for financing, a financier offers,
the supplier accepts, and an auditor opens the lineage graph and verifies every step.
Every page is saved under test-artifacts/console/."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from apikit import Service
from consolekit import Console, plain
from selenium.webdriver.common.by import By


def _csv(tmp_path: Path, service: Service, invoice: str) -> Path:
    due = (date.today() + timedelta(days=120)).isoformat()
    path = tmp_path / "batch.csv"
    supplier = service.addresses["supplier"]
    path.write_text(
        "creditor,amount,currency,due_date,seller_tax_id,invoice_number\n"
        f'{supplier},"1,000,000.00",CNY,{due},{service.tax_ids[supplier.lower()]},{invoice}\n'
    )
    return path


def _receivable_status(console: Console) -> str:
    return console.text_of("#receivable-summary .summary .status")


def test_story_from_batch_upload_to_verified_lineage(
    console: Console, console_service: Service, tmp_path: Path
) -> None:
    service = console_service
    invoice = f"INV-STORY-{time.time_ns()}"

    # The core enterprise registers the receivable from a CSV file: one result per row.
    console.sign_in(service.keys["core"])
    console.find("#batch-file").send_keys(str(_csv(tmp_path, service, invoice)))
    console.click("Check and register")
    summary = console.wait_text(".batch-summary", "All 1 rows registered")
    row = console.text_of(".batch-results tbody tr")
    assert invoice in row, row
    assert "CNY 1,000,000.00" in row, row
    root_id = int(row.split("registered as #")[1].split()[0])
    assert summary == "All 1 rows registered."
    console.wait_text("#core-payables", f"#{root_id}")
    console.screenshot("01-core-worklist-batch-registered")
    console.sign_out()

    # The supplier confirms it from its worklist.
    console.sign_in(service.keys["supplier"])
    task = console.find(f"#confirm-{root_id}")
    assert "CNY 1,000,000.00" in plain(task.text)
    console.screenshot("02-supplier-worklist-to-confirm")
    console.click("Confirm", task)
    console.gone(f"#confirm-{root_id}")
    console.wait_text("#supplier-held", f"#{root_id}")

    # ... opens it and splits off 400,000.00.
    console.find(f'#supplier-held a[href="#/receivables/{root_id}"][aria-label]').click()
    console.wait_text("main h1", f"Receivable #{root_id}")
    console.fill("#split-amounts", "600000.00\n400000.00")
    console.click("Split")
    console.wait(lambda: _receivable_status(console) == "SPLIT", "the receivable to be SPLIT")
    parts = console.text_of("#receivable-summary .summary")
    first_part, second_part = root_id + 1, root_id + 2
    assert f"#{first_part} #{second_part}" in parts, parts
    console.screenshot("03-supplier-receivable-split")

    # ... and asks any financier to finance the 600,000.00 part.
    console.go(f"/receivables/{first_part}")
    console.wait_text("main h1", f"Receivable #{first_part}")
    console.wait_text("#receivable-summary", "CNY 600,000.00")
    console.click("Request financing")
    console.wait(lambda: _receivable_status(console) == "FINANCING", "the part to be FINANCING")
    console.screenshot("04-supplier-financing-requested")
    console.sign_out()

    # A financier prices terms, then offers.
    console.sign_in(service.keys["financier"])
    request = console.wait(
        lambda: next(
            (li for li in console.driver.find_elements(By.CSS_SELECTOR, "#financier-open li")
             if f"#{first_part}" in li.text),
            None,
        ),
        "the open request",
    )  # fmt: skip
    request.find_element(By.TAG_NAME, "summary").click()
    console.click("Quote", request)
    quote = console.wait_text("#financier-open .quote", "proceeds to the supplier")
    assert "advance CNY 540,000.00" in quote, quote
    console.click("Make offer", request)
    console.wait_text("#financier-offers", f"#{first_part}")
    console.screenshot("05-financier-offer-made")
    console.sign_out()

    # The supplier accepts the offer (the financier funds within the line it granted core).
    service.credit_line("financier")
    console.sign_in(service.keys["supplier"])
    offer = console.find("#supplier-offers li")
    assert f"#{first_part}" in offer.text
    console.screenshot("06-supplier-offer-received")
    console.click("Accept", offer)
    console.wait_text("#supplier-offers", "No open offer")
    console.sign_out()

    # An auditor finds the root, sees its lineage, and verifies every step against the node.
    console.sign_in(service.keys["auditor"])
    console.fill("#search-q", str(root_id))
    console.click("Search")
    console.wait_text("main h1", f"Receivable #{root_id}")
    graph = console.find("svg.lineage")
    nodes = {
        int(n.get_attribute("data-node")) for n in graph.find_elements(By.CSS_SELECTOR, ".node")
    }
    assert nodes == {root_id, first_part, second_part}
    financed_edge = graph.find_element(By.CSS_SELECTOR, f'[data-edge="{root_id}-{first_part}"]')
    assert "financed" in financed_edge.text
    assert "marked" in financed_edge.get_attribute("class")
    financed_node = graph.find_element(By.CSS_SELECTOR, f'[data-node="{first_part}"]')
    assert "FINANCED" in financed_node.text
    assert "financier" in financed_node.text
    console.click("Verify against the node")
    verdict = console.wait_text("#verify-summary", "verified against the node")
    steps = console.driver.find_elements(By.CSS_SELECTOR, "table.steps tbody tr")
    assert len(steps) >= 10, verdict
    assert all("✓ verified" in step.text for step in steps)
    assert all(
        "verdict-verified" in n.get_attribute("class")
        for n in graph.find_elements(By.CSS_SELECTOR, ".node")
    )
    # Each step carries its proof: the transaction, its block and log.
    steps[0].find_element(By.TAG_NAME, "summary").click()
    assert "Block hash" in steps[0].text
    assert "0x" in steps[0].text
    console.screenshot("07-auditor-lineage-verified")

    # The proof's transaction opens the auditor's search: every event of that transaction.
    steps[0].find_element(By.CSS_SELECTOR, "details.proof a").click()
    console.wait_text("#search-transaction", "ReceivableRegistered")
    # An address: the participant's balances and every event naming it.
    console.fill("#search-q", service.addresses["supplier"])
    console.click("Search")
    events = console.wait_text("#search-participant", "FinancingAccepted")
    assert "CNY 529,347.95" in events, events
    console.screenshot("08-auditor-search-participant")


def _warp_past(service: Service, due_date: str) -> None:
    """Mine a block just after ``due_date`` (ISO) on the module's own anvil."""
    due = int(datetime.fromisoformat(due_date).timestamp())
    for method, params in (("evm_setNextBlockTimestamp", [due + 1]), ("evm_mine", [])):
        answer = httpx.post(service.settings.rpc_url,
                            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})  # fmt: skip
        assert "error" not in answer.json(), answer.text


def test_lineage_marks_settlement_after_clearing(
    console: Console, console_service: Service
) -> None:
    # Last in this module: it moves the module's chain past a due date.
    service = console_service
    chain_now = int(service.client.get_block("latest")["timestamp"])
    due = (datetime.fromtimestamp(chain_now, UTC) + timedelta(days=2)).date().isoformat()
    root = service.active(due_date=due)
    split = service.call("supplier", "POST", f"/v1/receivables/{root['id']}/split",
                         json={"amounts": ["70000000", "30000000"]})  # fmt: skip
    assert split.status_code == 200, split.text
    service.mint("core", 100_000_000)
    _warp_past(service, root["due_date"])
    repaid = service.call("core", "POST", f"/v1/clearing/{root['id']}/repay")
    assert repaid.status_code == 200, repaid.text
    redeemed = service.call("supplier", "POST", f"/v1/clearing/{root['id']}/redeem")
    assert redeemed.status_code == 200, redeemed.text

    console.sign_in(service.keys["auditor"])
    console.go(f"/receivables/{root['id']}")
    graph = console.find("svg.lineage")
    for part in (root["id"] + 1, root["id"] + 2):
        edge = console.find(f'[data-edge="{root["id"]}-{part}"]', graph)
        assert "settled" in edge.text
        assert "SETTLED" in console.find(f'[data-node="{part}"]', graph).text
    assert "repaid" in console.find(f'[data-node="{root["id"]}"]', graph).text
    console.click("Verify against the node")
    console.wait_text("#verify-summary", "verified against the node")
    console.screenshot("09-auditor-lineage-settled")
