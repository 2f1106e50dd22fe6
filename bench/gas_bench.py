"""Gas per operation against its lower bound, and an OpenZeppelin ERC-1155 yardstick.

The figures are scripts/gas_table.py's measurements (run under ape by bench/gas_ape.py).
Each lower bound is what the operation cannot avoid under the issue's cost model:

    21,000 (transaction) + 22,100 per new storage slot + 5,000 per changed slot
    + per log: 375 + 375 per topic (topic0 included) + 8 per data byte

(calldata, cold reads and the checks are left out, so a ratio of 1.0 is unreachable).
The derivations, slot by slot, from contracts/ReceivableRegistry.sol and
contracts/SettlementToken.sol (OpenZeppelin ERC20 underneath):
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from ledger_app import PROJECT_ROOT
from ledger_app.chain.abi import encode_function_call
from ledger_app.chain.client import ChainClient
from ledger_app.chain.keys import anvil_dev_account

TX, NEW, CHANGED = 21_000, 22_100, 5_000
# Issue 19's rows also count what a call cannot avoid reading (EIP-2929): the first touch
# of another contract, the first read of a slot, a call to a contract already touched,
# and the refund for clearing a slot (EIP-3529), which the receipt's gas already nets.
COLD_ACCOUNT, COLD_SLOT, WARM_CALL, CLEAR_REFUND = 2_600, 2_100, 100, 4_800


def log_cost(topics: int, data_bytes: int) -> int:
    """A LOG with ``topics`` topics (topic0 counted) and ``data_bytes`` of data."""
    return 375 + 375 * topics + 8 * data_bytes


# ReceivableRegistered: topics id, debtor, creditor (+topic0); data amount, currency,
# dueDate, invoiceKey, documentHash = 5 words.
REGISTERED_LOG = log_cost(4, 5 * 32)
# ReceivableStatusChanged: topics id, actor (+topic0); data from, to = 2 words.
STATUS_LOG = log_cost(3, 2 * 32)
# One registration writes 7 new slots: _invoiceKeys[key] (1), _roots[id] (RootTerms:
# debtor|currency|dueDate, creditor|issueDate, invoiceKey, documentHash = 4), _nodes[id]
# (holder|parentId|status|frozen, amount|rootId|firstChildId|childCount = 2).
REGISTRATION = 7 * NEW + REGISTERED_LOG + STATUS_LOG
# What the registry's report to the risk control adds to a registration (once per
# currency run of a batch): RiskControl touched cold, payables.outstanding changed
# (read and rewritten: 5k), payables' cap|capped slot and the core's overdue count read.
ISSUED_HOOK = COLD_ACCOUNT + CHANGED + 2 * COLD_SLOT


def split_bound(parts: int) -> int:
    """split(id, amounts): parent slot 0 (status) and slot 1 (firstChildId, childCount)
    change, _lastId changes, 2 new slots per child; logs StatusChanged and ReceivableSplit
    (topics parentId, holder; data firstChildId, offset, length, one word per amount)."""
    return TX + 3 * CHANGED + parts * 2 * NEW + STATUS_LOG + log_cost(3, (3 + parts) * 32)


def erc1155_mint_batch_bound(parts: int) -> int:
    """mintBatch(to, ids, values): one new balance slot per id; TransferBatch (topics
    operator, from, to; data two arrays: 2 offsets + 2 lengths + 2 words per id)."""
    return TX + parts * NEW + log_cost(4, (4 + 2 * parts) * 32)


BOUNDS: dict[str, tuple[str, int, int]] = {
    # gas_table operation -> (benchmark name, lower bound, items the figure covers)
    "receivable: register": (
        "gas_register",
        TX + REGISTRATION + CHANGED + ISSUED_HOOK,  # + _lastId changed
        1,
    ),
    "receivable: registerBatch of 100": (
        "gas_register_batch_100",
        TX + 100 * REGISTRATION + CHANGED + ISSUED_HOOK,  # one currency: one report
        100,
    ),
    "receivable: confirm": (
        "gas_confirm",
        TX + CHANGED + STATUS_LOG,  # node slot 0 (status) changes
        1,
    ),
    "receivable: split into 2": ("gas_split_2", split_bound(2), 2),
    "receivable: split into 10": ("gas_split_10", split_bound(10), 10),
    "receivable: transfer": (
        "gas_transfer",
        # node slot 0 (holder) changes; ReceivableTransferred: topics id, from, to; data actor.
        TX + CHANGED + log_cost(4, 32),
        1,
    ),
    "settlement token: mint": (
        "gas_token_mint",
        # balance and totalSupply change; Transfer: topics from, to; data value.
        TX + 2 * CHANGED + log_cost(3, 32),
        1,
    ),
    "settlement token: transfer": (
        "gas_token_transfer",
        TX + 2 * CHANGED + log_cost(3, 32),  # both balances change; Transfer
        1,
    ),
    # --- credit lines and risk control (issue 19), contracts/CreditLines.sol and
    # contracts/RiskControl.sol. A Line is 3 slots: financier|expiry|status|frozen|programme,
    # obligor|currency, limit|utilised; a SupplierLimit and a DrawnBy are 1 slot each.
    "credit line: grant": (
        "gas_line_grant",
        # 3 new Line slots + _openLine[f][o][c] = 4 fresh; _lastLineId changed; the
        # participant registry touched cold, reading the financier's and the obligor's
        # records and settlementToken[currency]; CreditLineGranted: topics lineId,
        # financier, obligor; data currency, limit, expiry.
        TX + 4 * NEW + CHANGED + COLD_ACCOUNT + 3 * COLD_SLOT + log_cost(4, 3 * 32),
        1,
    ),
    "credit line: amend": (
        "gas_line_amend",
        # slot 0 (expiry) and slot 2 (limit; utilised read) change; the financier's record
        # read in the cold registry; CreditLineAmended: topic lineId; limit, expiry, actor.
        TX + 2 * CHANGED + COLD_ACCOUNT + COLD_SLOT + log_cost(2, 3 * 32),
        1,
    ),
    "credit line: setSupplierLimit": (
        "gas_line_supplier_limit",
        # the supplier's SupplierLimit slot is fresh; slot 0 (programme) changes; slot 2
        # (limit) read; the registry cold with the financier's and the supplier's records;
        # CreditLineSupplierLimitSet: topics lineId, supplier; data limit, actor.
        TX + NEW + CHANGED + 3 * COLD_SLOT + COLD_ACCOUNT + log_cost(3, 2 * 32),
        1,
    ),
    "credit line: close": (
        "gas_line_close",
        # slot 0 (status) changes; slot 1 (obligor|currency) read; _openLine cleared
        # (5k less the refund); the registry cold, the financier's record;
        # CreditLineClosed: topic lineId; data actor.
        TX + 2 * CHANGED - CLEAR_REFUND + 2 * COLD_SLOT + COLD_ACCOUNT + log_cost(2, 32),
        1,
    ),
    "credit line: freeze": (
        "gas_line_freeze",
        # slot 0 (frozen) changes; the registry cold, the regulator's record;
        # CreditLineFrozen: topics lineId, regulator; no data.
        TX + CHANGED + COLD_ACCOUNT + COLD_SLOT + log_cost(3, 0),
        1,
    ),
    "credit line: consume at accept": (
        "gas_line_consume",
        # What accept pays more than before lines (accept after - before, same flow; no
        # TX): the DrawnBy slot is fresh; slot 2 (utilised) changes; _openLine, slot 0
        # (frozen, expiry, programme) and the debtor's overdue count read; CreditLines and
        # RiskControl touched cold, the registry and the receivables warm;
        # CreditLineConsumed: topics lineId, receivableId, supplier; data financingId,
        # amount, utilised.
        NEW + CHANGED + 3 * COLD_SLOT + 2 * COLD_ACCOUNT + 2 * WARM_CALL + log_cost(4, 3 * 32),
        1,
    ),
    "credit line: release at redeem": (
        "gas_line_release",
        # What redeem pays more than before lines: the DrawnBy slot read and cleared (5k
        # less the refund); slot 2 (utilised) changes; CreditLines cold, the registry warm
        # (clearing's LEDGER role already read by settle); CreditLineReleased: topics
        # lineId, receivableId; data cause, amount, utilised.
        2 * CHANGED - CLEAR_REFUND + COLD_ACCOUNT + WARM_CALL + log_cost(3, 3 * 32),
        1,
    ),
    "credit line: writeOff": (
        "gas_line_write_off",
        # DrawnBy slot 0 read, its writtenOff slot new (the drawing is kept for a
        # recovery); slot 2 changes; slot 0 (financier) read; the registry (the
        # financier's record) and the receivables (node and root slots) cold;
        # CreditLineReleased as above.
        TX + NEW + CHANGED + 4 * COLD_SLOT + 2 * COLD_ACCOUNT + log_cost(3, 3 * 32),
        1,
    ),
    "risk: setIssuanceCap": (
        "gas_risk_set_cap",
        # payables' cap|capped slot is fresh; the registry cold: the core's record, the
        # operator's role and settlementToken[currency] read; IssuanceCapSet: topics core,
        # currency; data cap, actor.
        TX + NEW + COLD_ACCOUNT + 3 * COLD_SLOT + log_cost(3, 2 * 32),
        1,
    ),
    "receivable: register, under an issuance cap": (
        "gas_register_capped",
        # A registration (as "receivable: register") whose report to the risk control
        # finds a cap set: the same slots, so the same bound.
        TX + REGISTRATION + CHANGED + ISSUED_HOOK,
        1,
    ),
    "access log: anchor": (
        "gas_access_log_anchor",
        # A later anchor: _lastCount and _lastHead both change (two slots); the registry
        # touched cold for the operator's role (one slot); AccessLogAnchored: topic count;
        # data head, by.
        TX + 2 * CHANGED + COLD_ACCOUNT + COLD_SLOT + log_cost(2, 2 * 32),
        1,
    ),
    "risk: flagOverdue": (
        "gas_risk_flag_overdue",
        # _flagged[root] and the core's first _overdueRoots are fresh; the trigger days
        # read; the registry (the caller's record) and the receivables (node, root terms,
        # rootRepaid) touched cold; RootOverdueFlagged: topics rootId, debtor; data
        # dueDate, overdueRoots, actor.
        TX + 2 * NEW + 2 * COLD_ACCOUNT + 5 * COLD_SLOT + log_cost(3, 3 * 32),
        1,
    ),
}


def run_gas_table(clearing: bool) -> list[dict[str, Any]]:
    """scripts/gas_table.py's rows, measured now under ape (bench/gas_ape.py)."""
    out = Path(tempfile.mkdtemp(prefix="bench-gas-")) / "rows.json"
    command = [sys.executable, str(PROJECT_ROOT / "bench" / "gas_ape.py"), str(out)]
    done = subprocess.run(command + (["--clearing"] if clearing else []), cwd=PROJECT_ROOT,
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"gas_ape failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def compile_erc1155() -> dict[str, Any]:
    """abi and bytecode of bench/contracts/BenchERC1155.sol (cached by source hash)."""
    import solcx

    source = PROJECT_ROOT / "bench" / "contracts" / "BenchERC1155.sol"
    key = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    cached = PROJECT_ROOT / "bench" / ".cache" / f"erc1155-{key}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    out = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {"BenchERC1155.sol": {"urls": [str(source)]}},
            "settings": {
                "optimizer": {"enabled": True, "runs": 200},
                "evmVersion": "cancun",
                "remappings": [f"@openzeppelin/={PROJECT_ROOT}/node_modules/@openzeppelin/"],
                "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
            },
        },
        solc_binary=str(PROJECT_ROOT / ".venv" / "solcx" / "solc-v0.8.28"),
        allow_paths=[str(PROJECT_ROOT)],
    )
    contract = out["contracts"]["BenchERC1155.sol"]["BenchERC1155"]
    artifact = {"abi": contract["abi"], "bytecode": contract["evm"]["bytecode"]["object"]}
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(artifact))
    return artifact


def measure_erc1155(rpc_url: str) -> dict[str, int]:
    """Gas of OZ ERC-1155 calls shaped like split (mintBatch of 2 and 10 new ids to the
    holder) and transfer (a whole id to a new owner), on the benchmark's anvil."""
    artifact = compile_erc1155()
    client = ChainClient(rpc_url, poll_interval=0.01)
    owner: LocalAccount = anvil_dev_account(2)
    other = anvil_dev_account(3)
    deployed = client.send_transaction(owner, to=None, data=bytes.fromhex(artifact["bytecode"]))
    token, abi = deployed.contract_address, artifact["abi"]

    def call(account: LocalAccount, name: str, *args: Any) -> int:
        data = encode_function_call(abi, name, args)
        return client.send_transaction(account, to=token, data=data, abis=[abi]).gas_used

    call(owner, "mint", owner.address, 1, 1)  # warm nothing shared; ids below are fresh
    gas = {
        "mint_batch_2": call(owner, "mintBatch", owner.address, [10, 11], [1, 1]),
        "mint_batch_10": call(owner, "mintBatch", owner.address, list(range(20, 30)), [1] * 10),
        "transfer": call(owner, "safeTransferFrom", owner.address, other.address, 20, 1, b""),
    }
    return gas


# ERC-1155 safeTransferFrom of a whole id: from's balance changes, to's is new;
# TransferSingle: topics operator, from, to; data id, value.
ERC1155_TRANSFER_BOUND = TX + CHANGED + NEW + log_cost(4, 2 * 32)


# Rows reported without a bound: the whole operations whose credit-line part has its own
# bounded row above ("credit line: consume at accept", "credit line: release at redeem").
REPORTED: dict[str, str] = {
    "financing: accept, drawing its line": "gas_accept_with_line",
    "clearing: redeem a financed receivable, freeing its line": "gas_redeem_financed_with_line",
}
