"""Checking the index against the chain, and fingerprinting it.

``reconcile`` reads every read-model row and asks the contract's own view
function for the same thing at the same block (receivable(id), balanceOf,
participant(account), hasRole, financing(id), offerOf, repaidAmount, lockOf,
quoteUsed, uetrUsed; for risk control creditLine, supplierLimit, drawingOf,
lastLineId, payables, capManager, overdueTriggerDays, isFlagged, overdueRoots; for
deferred payments claimable(payee, token) on whichever contract kept them), and
reports each difference. The calls go out as batched
``eth_call``s.

``digest`` is a sha256 over the canonical, ordered rows of the events table
and the read models, with every value normalised (integers as decimal text),
so that the same index gives the same digest on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, select

from ledger_app.chain.abi import ABI, decode_function_result, encode_function_call
from ledger_app.chain.rpc import RpcClient
from ledger_app.db import schema
from ledger_app.db.schema import canonical_json
from ledger_app.domain.financing import shown_status
from ledger_app.domain.vocabulary import (
    EARLY_PAYMENT_STATUS,
    FINANCING_STATUS,
    LINE_STATUS,
    LOCK_STATE,
    OFFER_STATUS,
    RECEIVABLE_STATUS,
    ROLE_NAMES,
    SALE_STATUS,
    ZERO_ADDRESS,
)

_BATCH = 200  # eth_calls per JSON-RPC batch


@dataclass(frozen=True)
class Mismatch:
    """One value the index and the chain disagree on."""

    table: str
    key: str
    column: str
    indexed: Any
    on_chain: Any

    def __str__(self) -> str:
        return f"{self.table}[{self.key}].{self.column}: index {self.indexed!r}, chain {self.on_chain!r}"


@dataclass(frozen=True)
class _Check:
    table: str
    key: str
    address: str
    abi: ABI
    function: str
    args: tuple[Any, ...]
    compare: Callable[[tuple[Any, ...]], list[tuple[str, Any, Any]]]


def reconcile(
    engine: Engine,
    rpc: RpcClient,
    abis: Mapping[str, ABI],
    contracts: Mapping[str, str],
    block: int,
) -> list[Mismatch]:
    """Every difference between the read models and the contracts' views at ``block``.

    ``abis`` maps contract kind to ABI, ``contracts`` address to kind. The index
    should be at ``block`` (its checkpoint) for the answer to mean anything.
    """
    by_kind = {kind: address for address, kind in contracts.items()}
    with engine.connect() as conn:
        tables = {
            name: [dict(r) for r in conn.execute(select(t)).mappings()]
            for name, t in schema.READ_MODELS.items()
        }
    checks: list[_Check] = []
    if "ReceivableRegistry" in by_kind:
        checks += _receivable_checks(tables["receivables"], by_kind["ReceivableRegistry"], abis)
    if "ParticipantRegistry" in by_kind:
        checks += _participant_checks(tables["participants"], by_kind["ParticipantRegistry"], abis)
    checks += _token_checks(tables["token_balances"], tables["settlement_tokens"], abis)
    if "FinancingDesk" in by_kind:
        checks += _financing_checks(tables, by_kind["FinancingDesk"], abis)
    if "MaturityClearing" in by_kind:
        checks += _clearing_checks(tables["clearing_roots"], by_kind["MaturityClearing"], abis)
        checks += _early_payment_checks(
            tables["early_payment_offers"], by_kind["MaturityClearing"], abis
        )
    if "HashTimeLock" in by_kind:
        checks += _htlc_checks(tables["htlc_locks"], by_kind["HashTimeLock"], abis)
    if "FxSettlement" in by_kind:
        checks += _fx_checks(tables, by_kind["FxSettlement"], abis)
    if "CreditLines" in by_kind:
        checks += _credit_line_checks(tables, by_kind["CreditLines"], abis)
    if "RiskControl" in by_kind:
        checks += _risk_checks(tables, by_kind["RiskControl"], abis)
    checks += _deferred_checks(tables["deferred_payments"], contracts, abis)
    mismatches = []
    for i in range(0, len(checks), _BATCH):
        chunk = checks[i : i + _BATCH]
        calls = [
            (
                "eth_call",
                [
                    {
                        "to": c.address,
                        "data": "0x" + encode_function_call(c.abi, c.function, c.args).hex(),
                    },
                    hex(block),
                ],
            )
            for c in chunk
        ]
        for check, output in zip(chunk, rpc.batch(calls), strict=True):
            values = decode_function_result(
                check.abi, check.function, len(check.args), bytes.fromhex(output[2:])
            )
            for column, indexed, on_chain in check.compare(values):
                if indexed != on_chain:
                    mismatches.append(Mismatch(check.table, check.key, column, indexed, on_chain))
    return mismatches


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _ascii(value: bytes) -> str:
    return value.rstrip(b"\x00").decode("ascii", errors="replace")


def _receivable_checks(rows: list[dict], address: str, abis: Mapping[str, ABI]) -> list[_Check]:
    abi = abis["ReceivableRegistry"]

    def compare(row: dict) -> Callable[[tuple[Any, ...]], list[tuple[str, Any, Any]]]:
        def run(values: tuple[Any, ...]) -> list[tuple[str, Any, Any]]:
            (r,) = values
            chain = {
                "parent_id": r[1], "root_id": r[2], "debtor": _lower(r[3]),
                "creditor": _lower(r[4]), "holder": _lower(r[5]), "amount": r[6],
                "currency": _ascii(r[7]), "issue_date": r[8], "due_date": r[9],
                "invoice_key": _hex(r[10]), "document_hash": _hex(r[11]),
                "status": RECEIVABLE_STATUS[r[12]], "frozen": r[13],
                "first_child_id": r[14], "child_count": r[15], "late_interest_bps": r[16],
            }  # fmt: skip
            return [(c, row[c], v) for c, v in chain.items()]

        return run

    checks = [
        _Check(
            "receivables", str(row["id"]), address, abi, "receivable", (row["id"],), compare(row)
        )
        for row in rows
    ]
    for row in rows:
        if row["parent_id"] == 0:
            checks.append(
                _Check(
                    "receivables", str(row["id"]), address, abi, "outstanding", (row["id"],),
                    lambda v, row=row: [("outstanding", row["outstanding"], v[0])],
                )
            )  # fmt: skip
    # Receivables the index lacks: the chain's last id against the index's count.
    count = len(rows)
    checks.append(
        _Check("receivables", "*", address, abi, "lastId", (), lambda v: [("count", count, v[0])])
    )
    return checks


def _participant_checks(rows: list[dict], address: str, abis: Mapping[str, ABI]) -> list[_Check]:
    abi = abis["ParticipantRegistry"]
    checks = []
    for row in rows:

        def compare(values: tuple[Any, ...], row: dict = row) -> list[tuple[str, Any, Any]]:
            (p,) = values
            onboarded = p[3]
            chain = {
                "lei": _hex(p[0]) if onboarded else None,
                "jurisdiction": _ascii(p[1]) if onboarded else None,
                "kyc_expiry": p[2] if onboarded else None,
                "onboarded": onboarded, "suspended": p[4], "frozen": p[5],
            }  # fmt: skip
            return [(c, row[c], v) for c, v in chain.items()]

        account = row["account"]
        checks.append(
            _Check("participants", account, address, abi, "participant", (account,), compare)
        )
        held = set(filter(None, row["roles"].split(",")))
        for role_id, name in ROLE_NAMES.items():
            checks.append(
                _Check(
                    "participants", account, address, abi, "hasRole",
                    (bytes.fromhex(role_id[2:]), account),
                    lambda v, name=name, held=held: [(f"role {name}", name in held, v[0])],
                )
            )  # fmt: skip
    return checks


def _token_checks(
    balances: list[dict], tokens: list[dict], abis: Mapping[str, ABI]
) -> list[_Check]:
    abi = abis["SettlementToken"]
    checks = [
        _Check(
            "token_balances",
            f"{row['token']}/{row['account']}",
            row["token"],
            abi,
            "balanceOf",
            (row["account"],),
            lambda v, row=row: [("balance", row["balance"], v[0])],
        )
        for row in balances
    ]
    checks += [
        _Check(
            "settlement_tokens",
            row["address"],
            row["address"],
            abi,
            "totalSupply",
            (),
            lambda v, row=row: [("total_supply", row["total_supply"], v[0])],
        )
        for row in tokens
    ]
    return checks


def _financing_checks(
    tables: dict[str, list[dict]], address: str, abis: Mapping[str, ABI]
) -> list[_Check]:
    abi = abis["FinancingDesk"]
    settled = {r["id"] for r in tables["receivables"] if r["status"] == "SETTLED"}
    checks = []
    for row in tables["financings"]:

        def compare(values: tuple[Any, ...], row: dict = row) -> list[tuple[str, Any, Any]]:
            (f,) = values
            # The view reports a funded or defaulted financing of a settled receivable as REPAID.
            status = shown_status(
                row["status"], "SETTLED" if row["receivable_id"] in settled else ""
            )
            chain = {
                "receivable_id": f[0], "supplier": _lower(f[1]), "financier": _lower(f[2]),
                "status": FINANCING_STATUS[f[3]], "offer_count": f[4], "accepted_offer": f[5],
                "recourse_claim": f[6],
            }  # fmt: skip
            return [(c, status if c == "status" else row[c], v) for c, v in chain.items()]

        checks.append(
            _Check("financings", str(row["id"]), address, abi, "financing", (row["id"],), compare)
        )
        checks.append(
            _Check("financings", str(row["id"]), address, abi, "recoursePaid", (row["id"],),
                   lambda v, row=row: [("recourse_paid", row["recourse_paid"], v[0])])
        )  # fmt: skip
    for row in tables["financing_sales"]:

        def compare_sale(values: tuple[Any, ...], row: dict = row) -> list[tuple[str, Any, Any]]:
            (s,) = values
            chain = {"seller": _lower(s[0]), "financing_id": s[1], "status": SALE_STATUS[s[2]],
                     "expiry": s[3], "buyer": _lower(s[4]), "price": s[5]}  # fmt: skip
            return [(c, row[c], v) for c, v in chain.items()]

        sale_id = row["sale_id"]
        checks.append(
            _Check("financing_sales", str(sale_id), address, abi, "sale", (sale_id,), compare_sale)
        )
    count = len(tables["financing_sales"])
    checks.append(
        _Check("financing_sales", "*", address, abi, "lastSaleId", (),
               lambda v: [("count", count, v[0])])
    )  # fmt: skip
    for row in tables["financing_offers"]:

        def compare_offer(values: tuple[Any, ...], row: dict = row) -> list[tuple[str, Any, Any]]:
            (o,) = values
            terms = o[2]
            chain = {
                "financier": _lower(o[0]), "status": OFFER_STATUS[o[1]],
                "advance_rate_bps": terms[0], "discount_rate_bps": terms[1],
                "day_count_basis": terms[2], "recourse": terms[3], "grace_period": terms[4],
                "expiry": terms[5], "fee": terms[6], "advance": o[3], "discount": o[4],
                "proceeds": o[5],
            }  # fmt: skip
            return [(c, row[c], v) for c, v in chain.items()]

        key = (row["financing_id"], row["offer_index"])
        checks.append(
            _Check(
                "financing_offers",
                f"{key[0]}/{key[1]}",
                address,
                abi,
                "offerOf",
                key,
                compare_offer,
            )
        )
    return checks


def _clearing_checks(rows: list[dict], address: str, abis: Mapping[str, ABI]) -> list[_Check]:
    abi = abis["MaturityClearing"]
    checks = []
    for row in rows:
        key = str(row["root_id"])
        checks.append(
            _Check("clearing_roots", key, address, abi, "repaidAmount", (row["root_id"],),
                   lambda v, row=row: [("repaid", row["repaid"], v[0])])
        )  # fmt: skip
        checks.append(
            _Check("clearing_roots", key, address, abi, "unredeemedAmount", (row["root_id"],),
                   lambda v, row=row: [("unredeemed", row["unredeemed"], v[0])])
        )  # fmt: skip
        checks.append(
            _Check("clearing_roots", key, address, abi, "lateInterestCharged", (row["root_id"],),
                   lambda v, row=row: [("late_interest", row["late_interest"], v[0])])
        )  # fmt: skip
        checks.append(
            _Check("clearing_roots", key, address, abi, "lateInterestUnredeemed", (row["root_id"],),
                   lambda v, row=row: [("interest_unredeemed", row["interest_unredeemed"], v[0])])
        )  # fmt: skip
    return checks


def _early_payment_checks(rows: list[dict], address: str, abis: Mapping[str, ABI]) -> list[_Check]:
    abi = abis["MaturityClearing"]
    checks = []
    for row in rows:

        def compare(values: tuple[Any, ...], row: dict = row) -> list[tuple[str, Any, Any]]:
            (o,) = values
            chain = {
                "leaf_id": o[0], "debtor": _lower(o[1]), "annual_rate_bps": o[2],
                "day_count_basis": o[3], "expiry": o[4], "status": EARLY_PAYMENT_STATUS[o[5]],
            }  # fmt: skip
            return [(c, row[c], v) for c, v in chain.items()]

        checks.append(
            _Check("early_payment_offers", str(row["offer_id"]), address, abi,
                   "earlyPaymentOffer", (row["offer_id"],), compare)
        )  # fmt: skip
    count = len(rows)
    checks.append(
        _Check("early_payment_offers", "*", address, abi, "lastEarlyPaymentOfferId", (),
               lambda v: [("count", count, v[0])])
    )  # fmt: skip
    return checks


def _htlc_checks(rows: list[dict], address: str, abis: Mapping[str, ABI]) -> list[_Check]:
    abi = abis["HashTimeLock"]

    def compare(values: tuple[Any, ...], row: dict) -> list[tuple[str, Any, Any]]:
        (lock,) = values
        chain = {
            "sender": _lower(lock[0]), "recipient": _lower(lock[1]), "token": _lower(lock[2]),
            "amount": lock[3], "hashlock": _hex(lock[4]), "timeout": lock[5],
            "state": LOCK_STATE[lock[6]], "uetr": _hex(lock[7]),
        }  # fmt: skip
        return [(c, row[c], v) for c, v in chain.items()]

    return [
        _Check("htlc_locks", str(row["lock_id"]), address, abi, "lockOf", (row["lock_id"],),
               lambda v, row=row: compare(v, row))
        for row in rows
    ]  # fmt: skip


def _deferred_checks(
    rows: list[dict], contracts: Mapping[str, str], abis: Mapping[str, ABI]
) -> list[_Check]:
    """What each contract keeps for each payee, by the contract that kept it."""
    kinds = {address.lower(): kind for address, kind in contracts.items()}
    checks = []
    for row in rows:
        kind = kinds.get(row["contract"])
        if kind is None:  # a contract of another deployment: nothing to ask
            continue
        key = f"{row['contract']}/{row['payee']}/{row['token']}"
        args = (row["payee"], row["token"])
        checks.append(
            _Check("deferred_payments", key, row["contract"], abis[kind], "claimable", args,
                   lambda v, row=row: [("claimable", row["claimable"], v[0])])
        )  # fmt: skip
    return checks


def _fx_checks(
    tables: dict[str, list[dict]], address: str, abis: Mapping[str, ABI]
) -> list[_Check]:
    # The contract keeps no readable copy of a quote or a settlement, only whether
    # each quote id and each UETR has been used.
    abi = abis["FxSettlement"]
    checks = [
        _Check("fx_quotes", row["quote_id"], address, abi, "quoteUsed",
               (bytes.fromhex(row["quote_id"][2:]),),
               lambda v, row=row: [("used", row["used"], v[0])])
        for row in tables["fx_quotes"]
    ]  # fmt: skip
    checks += [
        _Check("pvp_settlements", row["uetr"], address, abi, "uetrUsed",
               (bytes.fromhex(row["uetr"][2:]),), lambda v: [("uetr used", True, v[0])])
        for row in tables["pvp_settlements"]
    ]  # fmt: skip
    return checks


def _credit_line_checks(
    tables: dict[str, list[dict]], address: str, abis: Mapping[str, ABI]
) -> list[_Check]:
    abi = abis["CreditLines"]
    checks = []
    for row in tables["credit_lines"]:

        def compare(values: tuple[Any, ...], row: dict = row) -> list[tuple[str, Any, Any]]:
            (line,) = values
            chain = {
                "financier": _lower(line[0]), "obligor": _lower(line[1]),
                "currency": _ascii(line[2]), "status": LINE_STATUS[line[3]],
                "frozen": line[4], "programme": line[5], "expiry": line[6], "limit": line[7],
                "utilised": line[8],
            }  # fmt: skip
            return [(c, row[c], v) for c, v in chain.items()]

        line_id = row["line_id"]
        checks.append(
            _Check("credit_lines", str(line_id), address, abi, "creditLine", (line_id,), compare)
        )
    count = len(tables["credit_lines"])
    checks.append(
        _Check(
            "credit_lines", "*", address, abi, "lastLineId", (), lambda v: [("count", count, v[0])]
        )
    )
    for row in tables["credit_line_suppliers"]:
        key = (row["line_id"], row["supplier"])
        checks.append(
            _Check("credit_line_suppliers", f"{key[0]}/{key[1]}", address, abi, "supplierLimit",
                   key, lambda v, row=row: [("limit", row["limit"], v[0][0]),
                                            ("utilised", row["utilised"], v[0][1])])
        )  # fmt: skip
    for row in tables["credit_line_drawings"]:

        def compare_drawing(values: tuple[Any, ...], row: dict = row) -> list[tuple[str, Any, Any]]:
            (d,) = values
            if row["released_block"] is not None:  # the contract forgets a released drawing
                return [("line_id (released: none)", 0, d[0])]
            # The contract's amount is what the drawing still counts: face less write-offs.
            chain = {"line_id": d[0], "supplier": _lower(d[1]), "amount": d[2]}
            drawn = int(row["amount"]) - int(row["written_off"])
            return [(c, drawn if c == "amount" else row[c], v) for c, v in chain.items()]

        rid = row["receivable_id"]
        checks.append(
            _Check("credit_line_drawings", str(rid), address, abi, "drawingOf", (rid,),
                   compare_drawing)
        )  # fmt: skip
        if row["released_block"] is None:
            checks.append(
                _Check("credit_line_drawings", str(rid), address, abi, "writtenOffOf", (rid,),
                       lambda v, row=row: [("written_off", row["written_off"], v[0])])
            )  # fmt: skip
    return checks


def _risk_checks(
    tables: dict[str, list[dict]], address: str, abis: Mapping[str, ABI]
) -> list[_Check]:
    abi = abis["RiskControl"]
    checks = []
    for row in tables["core_payables"]:
        key = (row["core"], row["currency"].encode("ascii"))
        checks.append(
            _Check("core_payables", f"{row['core']}/{row['currency']}", address, abi, "payables",
                   key, lambda v, row=row: [("outstanding", row["outstanding"], v[0][0]),
                                            ("cap", row["cap"], v[0][1]),
                                            ("capped", row["capped"], v[0][2])])
        )  # fmt: skip
    for row in tables["cap_managers"]:
        checks.append(
            _Check("cap_managers", row["core"], address, abi, "capManager", (row["core"],),
                   lambda v, row=row: [("manager", row["manager"] or ZERO_ADDRESS, _lower(v[0]))])
        )  # fmt: skip
    settings = [r for r in tables["risk_settings"] if r["contract"] == address.lower()]
    trigger = settings[0]["overdue_trigger_days"] if settings else None
    checks.append(
        _Check("risk_settings", address.lower(), address, abi, "overdueTriggerDays", (),
               lambda v: [("overdue_trigger_days", trigger, v[0])])
    )  # fmt: skip
    # Every core the index knows (payables or flags): a flag the index lacks shows here.
    open_by_debtor: dict[str, int] = {row["core"]: 0 for row in tables["core_payables"]}
    for row in tables["overdue_flags"]:
        flagged = row["cured_block"] is None
        open_by_debtor[row["debtor"]] = open_by_debtor.get(row["debtor"], 0) + int(flagged)
        checks.append(
            _Check("overdue_flags", str(row["root_id"]), address, abi, "isFlagged",
                   (row["root_id"],), lambda v, flagged=flagged: [("open", flagged, v[0])])
        )  # fmt: skip
    for debtor, count in sorted(open_by_debtor.items()):
        checks.append(
            _Check("overdue_flags", debtor, address, abi, "overdueRoots", (debtor,),
                   lambda v, count=count: [("open flags", count, v[0])])
        )  # fmt: skip
    return checks


# --- digest ---------------------------------------------------------------------------


def digest(engine: Engine, chain_id: int, up_to_block: int | None = None) -> str:
    """sha256 of the index: events up to ``up_to_block`` (all when None), then the
    read models, each in primary-key order with values normalised."""
    sha = hashlib.sha256()
    e = schema.events
    query = select(
        e.c.block_number, e.c.log_index, e.c.tx_hash, e.c.block_hash, e.c.contract,
        e.c.contract_kind, e.c.event_name, e.c.args,
    ).where(e.c.chain_id == chain_id)  # fmt: skip
    if up_to_block is not None:
        query = query.where(e.c.block_number <= up_to_block)
    with engine.connect() as conn:
        _feed(sha, "events", conn.execute(query.order_by(e.c.block_number, e.c.log_index)))
        for name, table in sorted(schema.READ_MODELS.items()):
            _feed(sha, name, _ordered(conn, table))
    return sha.hexdigest()


def _ordered(conn: Connection, table: Table) -> list[Any]:
    # Sorted here, not by ORDER BY: text keys would follow the database's collation
    # (a PostgreSQL locale's, SQLite's bytes), and the digest must not.
    positions = [list(table.columns).index(c) for c in table.primary_key.columns]
    rows = conn.execute(select(table)).all()
    return sorted(rows, key=lambda row: tuple(row[i] for i in positions))


def _feed(sha: Any, name: str, rows: Iterable[Any]) -> None:
    sha.update(f"#{name}\n".encode())
    for row in rows:
        sha.update(canonical_json([_norm(v) for v in row]).encode())
        sha.update(b"\n")


def _norm(value: Any) -> Any:
    # bool before int (bool is an int); Decimal/int as decimal text on every database.
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(int(value))
