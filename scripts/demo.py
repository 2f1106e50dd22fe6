#!/usr/bin/env python3
"""The supply-chain finance story against the RUNNING service, only through its HTTP API.

    make run            # in one terminal (prints the operator's API key once)
    make demo           # in another; LEDGER_OPERATOR_KEY=... or it asks ledger-app for a key

1. the operator onboards a core enterprise (in the US, paying in USD), two suppliers
   (tier 1 and tier 2), a bank (settlement bank of CNY and USD, and financier), an FX
   provider and an auditor, and lists CNY and USD;
2. the core enterprise registers a batch of CNY receivables owed to the tier-1 supplier;
3. the supplier confirms them;
4. tier 1 splits the first and passes part to tier 2;
5. tier 2 finances its part at the bank: the bank grants the core a CNY credit line (it
   funds only within one), then request, quote, offer (the bank mints the CNY it lends
   first), accept (which draws on the line);
6. maturity: the due date lies in the future, so on the local dev anvil (chain id 31337)
   the demo moves the chain's clock past it (evm_increaseTime + evm_mine, on the node's
   JSON-RPC) and says so; on any other chain it stops here, before maturity;
7. the core enterprise pays at maturity across the US -> CN corridor: the operator opens
   the corridor, the bank mints USD to the core and CNY to the FX provider, the FX
   provider signs a USD -> CNY quote, and the core repays the root in USD through it
   (POST /v1/clearing/{id}/repay-fx: clearing receives CNY). A service without that
   route gets a plain CNY repay plus a separate USD -> CNY PvP payment, said so;
8. every leaf is redeemed to its holder (tier 1, and the bank for tier 2's financed part);
9. the auditor fetches the root's trace, has the service verify it against the node,
   and prints the verified tree.
Nothing is faked: a step the service or the chain cannot do is reported as not run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BASE = os.environ.get("LEDGER_API", "http://127.0.0.1:8000")
#: The local dev anvil's chain id: the only chain whose clock the demo moves.
ANVIL_CHAIN_ID = 31337
#: CNY fen per US cent, x 1e18 (7.10 CNY per USD).
USD_CNY_RATE = 7_100_000_000_000_000_000
RATE_SCALE = 10**18


class Api:
    """A tiny JSON-over-HTTP client."""

    def __init__(self, base: str, key: str | None = None) -> None:
        self.base, self.key = base.rstrip("/"), key

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        """One request; the decoded JSON (or text) answer. Raises on an unexpected status."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["X-API-Key"] = self.key
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode()
        if expect is not None and status != expect:
            raise SystemExit(f"{method} {path}: HTTP {status}: {text}")
        try:
            return json.loads(text)
        except ValueError:
            return text


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    """One JSON-RPC call to the node (the chain's own HTTP endpoint, not the service)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        reply = json.loads(answer.read())
    if "error" in reply:
        raise SystemExit(f"{method} on {url}: {reply['error']}")
    return reply["result"]


def chain_time(url: str) -> int:
    """The latest block's timestamp."""
    return int(rpc(url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)


def operator_key() -> str:
    """LEDGER_OPERATOR_KEY, or a fresh one from ``ledger-app operator-key`` (set-up, not a step)."""
    if os.environ.get("LEDGER_OPERATOR_KEY"):
        return os.environ["LEDGER_OPERATOR_KEY"]
    out = subprocess.run(["ledger-app", "operator-key", "--label", "demo"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return out.strip().rsplit(" ", 1)[-1]


def onboard(operator: Api, name: str, roles: list[str], lei: str, jurisdiction: str,
            kyc_expiry: datetime) -> tuple[str, Api]:  # fmt: skip
    """Onboard one participant; its address and a client with its key. A supplier gets a
    seller tax id of this run: its invoices must carry it."""
    body = {"lei": lei, "jurisdiction": jurisdiction, "roles": roles, "label": f"demo {name}",
            "kyc_expiry": kyc_expiry.isoformat()}  # fmt: skip
    if "SUPPLIER" in roles:
        body["tax_id"] = tax_id(lei)
    result = operator.call("POST", "/v1/participants", body, expect=201)["result"]
    print(f"  onboarded {name:10} {result['participant']['address']} {jurisdiction} {roles}")
    return result["participant"]["address"], Api(BASE, result["api_key"]["key"])


def tax_id(lei: str) -> str:
    """A seller tax id (18 characters, unified-social-credit-code shaped) unique to the LEI."""
    return "91310000" + lei[8:18]


def lei(n: int) -> str:
    """A valid-looking LEI (ISO 17442 check digits) unique to this run."""
    base = f"DEMO{int(time.time()) % 10**9:09d}{n:05d}"
    digits = int("".join(str(int(c, 36)) for c in base + "00"))
    return base + f"{98 - digits % 97:02d}"


def money(amount: str | int, currency: str) -> str:
    """Minor units (2 decimals) as a readable amount."""
    return f"{int(amount) / 100:,.2f} {currency}"


def balance(api: Api, address: str, currency: str) -> int:
    """An account's indexed balance (the caller's own, or any for a reader)."""
    answer = api.call("GET", f"/v1/balances/{address}", expect=200)
    return next((int(b["balance"]) for b in answer["balances"] if b["currency"] == currency), 0)


def mint(issuer: Api, currency: str, to: str, amount: int, whom: str) -> None:
    """The currency's issuing bank mints tokenized deposits to ``to``."""
    issuer.call("POST", f"/v1/tokens/{currency}/mint", {"to": to, "amount": str(amount)},
                expect=200)  # fmt: skip
    print(f"  the {currency} issuer mints {money(amount, currency)} to {whom}")


def issuer_keys_file() -> Path:
    """Where the demo keeps the API keys of the banks it onboarded (mode 0600):
    LEDGER_DEMO_KEYS, else demo-issuer-keys.json in LEDGER_STATE_DIR (var/)."""
    default = Path(os.environ.get("LEDGER_STATE_DIR", "var")) / "demo-issuer-keys.json"
    return Path(os.environ.get("LEDGER_DEMO_KEYS", default))


def known_issuer_keys() -> dict[str, str]:
    """Address (lower case) -> API key of the issuing banks earlier runs onboarded."""
    try:
        return {a.lower(): k for a, k in json.loads(issuer_keys_file().read_text()).items()}
    except FileNotFoundError:
        return {}


def remember_issuer_key(address: str, key: str) -> None:
    """Keep a bank's key for the next run (only the bank issues its keys, not the operator)."""
    kept = known_issuer_keys() | {address.lower(): key}
    path = issuer_keys_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a file made by hand keeps its mode through O_TRUNC
    with os.fdopen(descriptor, "w") as handle:
        json.dump(kept, handle)


def list_currencies(operator: Api, bank: str, bank_api: Api) -> dict[str, Api]:
    """CNY and USD listed with the bank as issuer; a client of each currency's issuer. A chain
    an earlier demo ran on lists them already, issued by that run's bank: the demo then uses
    the key it kept of that bank (issuer_keys_file). The operator cannot issue one: after
    onboarding, only a participant issues its own keys."""
    listed = {c["currency"]: c for c in operator.call("GET", "/v1/currencies", expect=200)}
    issuers = {}
    for currency in ("CNY", "USD"):
        if currency not in listed:
            operator.call("POST", "/v1/currencies",
                          {"currency": currency, "decimals": 2, "issuer": bank}, expect=201)  # fmt: skip
            print(f"  {currency} listed, issued by the bank")
            issuers[currency] = bank_api
            continue
        issuer = listed[currency]["issuer"]
        if issuer.lower() == bank.lower():
            issuers[currency] = bank_api
            continue
        key = known_issuer_keys().get(issuer.lower())
        if key is None:
            raise SystemExit(
                f"{currency} is listed already, issued by {issuer}, and the demo has no key of "
                f"that bank in {issuer_keys_file()}: only the bank itself issues its keys (the "
                "operator cannot), so the demo cannot mint. Start from a fresh chain (stop "
                "the service, delete var/, `make run` again), or put the bank's key in that "
                f'file as {{"{issuer}": "lk_..."}}.'
            )
        issuers[currency] = Api(BASE, key)
        print(f"  {currency} is listed already (this chain ran the demo before), issued by "
              f"{issuer}: the demo mints with the key it kept of that bank")  # fmt: skip
    return issuers


def main() -> int:
    """Run the story; 0 when it ran to the end and the trace verifies, 1 on a mismatch, 3
    when it stopped before maturity (not the local dev anvil)."""
    health = Api(BASE).call("GET", "/health")
    if not isinstance(health, dict) or "chain" not in health:
        raise SystemExit(f"no service at {BASE}: start it with `make run`")
    rpc_url = os.environ.get("LEDGER_RPC_URL", health["chain"]["rpc_url"])
    # Dates come from the chain's clock: on a dev chain an earlier demo moved it forward.
    now = datetime.fromtimestamp(max(chain_time(rpc_url), int(time.time())), UTC)
    operator = Api(BASE, operator_key())

    print("1. onboarding")
    kyc = now + timedelta(days=365)
    core, core_api = onboard(operator, "core", ["CORE_ENTERPRISE"], lei(1), "US", kyc)
    tier1_lei = lei(2)
    tier1, tier1_api = onboard(operator, "tier1", ["SUPPLIER"], tier1_lei, "CN", kyc)
    tier2, tier2_api = onboard(operator, "tier2", ["SUPPLIER"], lei(3), "CN", kyc)
    bank, bank_api = onboard(operator, "bank", ["SETTLEMENT_BANK", "FINANCIER"], lei(4), "CN", kyc)
    remember_issuer_key(bank, bank_api.key or "")
    fx, fx_api = onboard(operator, "fx", ["FX_PROVIDER"], lei(5), "CN", kyc)
    _, auditor = onboard(operator, "auditor", ["AUDITOR"], lei(6), "CN", kyc)
    issuers = list_currencies(operator, bank, bank_api)

    print("2. the core enterprise registers a batch")
    due = (now + timedelta(days=90)).date().isoformat()
    run = int(time.time())
    items = [{"creditor": tier1, "amount": str(amount), "currency": "CNY", "due_date": due,
              "invoice": {"seller_tax_id": tax_id(tier1_lei), "number": f"DEMO-{run}-{i}"}}
             for i, amount in enumerate((100_000_000, 50_000_000, 25_000_000))]  # fmt: skip
    batch = core_api.call("POST", "/v1/receivables/batch", {"items": items}, expect=201)["result"]
    ids = [r["id"] for r in batch["receivables"]]
    print(f"  receivables {ids}, due {due}")

    print("3. the supplier confirms them")
    for rid in ids:
        tier1_api.call("POST", f"/v1/receivables/{rid}/confirm", expect=200)
    root = ids[0]

    print("4. tier 1 splits the first and passes 40% to tier 2")
    parts = tier1_api.call("POST", f"/v1/receivables/{root}/split",
                           {"amounts": ["60000000", "40000000"]}, expect=200)["result"]  # fmt: skip
    kept, passed = parts[1]["id"], parts[2]["id"]
    tier1_api.call("POST", f"/v1/receivables/{passed}/transfer", {"to": tier2}, expect=200)
    print(f"  #{root} -> #{kept} (kept) + #{passed} (to tier 2 {tier2})")

    print(f"5. tier 2 finances #{passed} at the bank")
    mint(issuers["CNY"], "CNY", bank, 40_000_000, "the bank, as financier (to lend)")
    line = bank_api.call("POST", "/v1/credit-lines",
                         {"obligor": core, "currency": "CNY", "limit": "100000000",
                          "expiry": (now + timedelta(days=365)).isoformat()},
                         expect=201)["result"]  # fmt: skip
    print(f"  the bank grants the core credit line #{line['line_id']}: "
          f"{money(line['limit'], 'CNY')} until {line['expiry']}")  # fmt: skip
    asked = tier2_api.call("POST", "/v1/financings",
                           {"receivable_id": passed, "financier": bank}, expect=201)["result"]  # fmt: skip
    financing = asked["id"]
    terms = {"advance_rate_bps": 9000, "discount_rate_bps": 600, "day_count_basis": 365,
             "recourse": True, "grace_period_days": 30, "fee": "50000",
             "expires_at": (now + timedelta(days=7)).isoformat()}  # fmt: skip
    quoted = bank_api.call("POST", f"/v1/financings/{financing}/quote", terms, expect=200)
    print(f"  financing #{financing} requested; the bank quotes advance "
          f"{money(quoted['advance'], 'CNY')} - discount {money(quoted['discount'], 'CNY')} - fee "
          f"{money(quoted['fee'], 'CNY')} = proceeds {money(quoted['proceeds'], 'CNY')} "
          f"({quoted['days_to_maturity']} days)")  # fmt: skip
    bank_api.call("POST", f"/v1/financings/{financing}/offers", terms, expect=201)
    before = balance(tier2_api, tier2, "CNY")
    funded = tier2_api.call("POST", f"/v1/financings/{financing}/offers/0/accept", expect=200)
    received = balance(tier2_api, tier2, "CNY") - before
    print(f"  offer 0 made (proceeds escrowed) and accepted: financing "
          f"{funded['result']['status']}, tier 2 received {money(received, 'CNY')}, "
          f"the bank now holds #{passed}")  # fmt: skip
    drawn = bank_api.call("GET", f"/v1/credit-lines/{line['line_id']}", expect=200)
    print(f"  credit line #{line['line_id']}: {money(drawn['utilised'], 'CNY')} used of "
          f"{money(drawn['limit'], 'CNY')} ({drawn['utilisation_bps'] // 100}.{drawn['utilisation_bps'] % 100:02d} %)")  # fmt: skip

    print("6. maturity")
    chain_id = int(rpc(rpc_url, "eth_chainId"), 16)
    stopped = None
    if chain_id != ANVIL_CHAIN_ID or health["chain"].get("chain_id") != ANVIL_CHAIN_ID:
        stopped = (f"chain id {chain_id} is not the local dev anvil ({ANVIL_CHAIN_ID}): the "
                   f"demo does not move a real chain's clock, so it stops before maturity "
                   f"(due {due}); the payment, the corridor and the redemption are NOT RUN")  # fmt: skip
        print(f"  STOPPED: {stopped}")
    else:
        due_at = int(datetime.fromisoformat(batch["receivables"][0]["due_date"]).timestamp())
        skip = max(due_at + 1 - chain_time(rpc_url), 0)
        rpc(rpc_url, "evm_increaseTime", [skip])
        rpc(rpc_url, "evm_mine")
        at = datetime.fromtimestamp(chain_time(rpc_url), UTC)
        print(f"  local dev anvil (chain id {chain_id}): the demo moved the chain's clock "
              f"{skip / 86_400:.1f} days forward (evm_increaseTime + evm_mine) to {at:%F %T} "
              f"UTC, past the due date; a real chain would wait")  # fmt: skip
        pay_at_maturity(operator, core_api, issuers, fx_api,
                        {"core": core, "tier1": tier1, "bank": bank, "fx": fx}, root)  # fmt: skip

        print(f"8. every leaf of #{root} is redeemed to its holder")
        before = {who: balance(auditor, addr, "CNY") for who, addr in
                  (("tier1", tier1), ("bank", bank))}  # fmt: skip
        redeemed = tier1_api.call("POST", f"/v1/clearing/{root}/redeem", expect=200)["result"]
        for who, addr in (("tier1", tier1), ("bank", bank)):
            gain = balance(auditor, addr, "CNY") - before[who]
            print(f"  {who} received {money(gain, 'CNY')}")
        shown = tier2_api.call("GET", f"/v1/financings/{financing}", expect=200)
        print(f"  leaves {redeemed['redeemed']} paid; root {redeemed['clearing']['status']}, "
              f"unredeemed {redeemed['clearing']['unredeemed']}; financing #{financing} "
              f"{shown['status']}")  # fmt: skip

    print(f"9. the auditor's verified trace of root #{root}")
    verdict = auditor.call("POST", f"/v1/receivables/{root}/trace/verify", expect=200)
    print(auditor.call("GET", f"/v1/receivables/{root}/trace?format=text", expect=200))
    bad = [s for s in verdict["steps"] + verdict["receivables"] if s["status"] != "verified"]
    print(f"verification against the node: {'VERIFIED' if verdict['verified'] else 'MISMATCH'} "
          f"({len(verdict['steps'])} steps, {len(verdict['receivables'])} receivables)")  # fmt: skip
    for entry in bad:
        print("  mismatch:", entry)
    if stopped:
        print(f"STOPPED BEFORE MATURITY: {stopped}")
        return 3  # what ran verified, but the story is not complete: no success
    return 0 if verdict["verified"] else 1


def pay_at_maturity(operator: Api, core_api: Api, issuers: dict[str, Api], fx_api: Api,
                    who: dict[str, str], root: int) -> None:  # fmt: skip
    """Step 7: the core enterprise pays the root across the US -> CN corridor."""
    print("7. the core enterprise pays at maturity across the US -> CN corridor")
    owed = int(core_api.call("GET", f"/v1/clearing/{root}", expect=200)["amount"])
    opened = operator.call("PUT", "/v1/fx/corridors",
                           {"from_jurisdiction": "US", "to_jurisdiction": "CN", "open": True},
                           expect=200)["result"]  # fmt: skip
    print(f"  the operator opens the corridor US -> CN (open: {opened['open']})")
    usd = -(-owed * RATE_SCALE // USD_CNY_RATE)  # what the FX leg needs, rounded up
    mint(issuers["USD"], "USD", who["core"], usd, "the core (its USD deposit)")
    mint(issuers["CNY"], "CNY", who["fx"], owed + 1_000_000, "the FX provider (its CNY liquidity)")
    paths = Api(BASE).call("GET", "/openapi.json").get("paths", {})
    signed = fx_api.call("POST", "/v1/fx/quotes/signed", {
        "sell_currency": "USD", "buy_currency": "CNY", "rate": str(USD_CNY_RATE),
        "valid_for_seconds": 600, "payer": who["core"], "liquidity": str(owed + 1_000_000)},
        expect=201)  # fmt: skip
    print(f"  the FX provider signs a quote: 1 USD = {USD_CNY_RATE / RATE_SCALE:.2f} CNY, for "
          f"the core only, valid 600 s (EIP-712, quote {signed['quote']['quote_id'][:10]}...)")  # fmt: skip
    usd_before = balance(core_api, who["core"], "USD")
    if "/v1/clearing/{root_id}/repay-fx" in paths:
        answer = core_api.call("POST", f"/v1/clearing/{root}/repay-fx",
                               {"quote": signed["quote"], "signature": signed["signature"]},
                               expect=200)["result"]  # fmt: skip
        pvp = answer["settlement"]
        print(f"  the core repays #{root} via FX in one transaction: it pays "
              f"{money(pvp['sell_amount'], 'USD')} (UETR {pvp['uetr']}), the FX provider pays "
              f"{money(pvp['buy_amount'], 'CNY')} into clearing; repaid "
              f"{money(answer['clearing']['repaid'], 'CNY')}, the rounding "
              f"({money(int(pvp['buy_amount']) - int(answer['clearing']['repaid']), 'CNY')}) "
              f"back to the core")  # fmt: skip
    else:
        print(
            "  NOT RUN: repaying in USD through the quote: this service has no "
            "POST /v1/clearing/{root_id}/repay-fx route; instead, said plainly:"
        )
        mint(issuers["CNY"], "CNY", who["core"], owed, "the core (to repay in CNY)")
        repaid = core_api.call("POST", f"/v1/clearing/{root}/repay", expect=200)["result"]
        print(f"  the core repays #{root} in CNY: {money(repaid['repaid'], 'CNY')} into clearing")
        pvp = core_api.call("POST", "/v1/fx/settlements", {
            "quote": signed["quote"], "signature": signed["signature"], "payee": who["tier1"],
            "sell_amount": "100000", "reference_id": root}, expect=201)["result"]  # fmt: skip
        print(f"  and a separate PvP payment across the corridor: the core pays "
              f"{money(pvp['sell_amount'], 'USD')}, tier 1 receives "
              f"{money(pvp['buy_amount'], 'CNY')} (UETR {pvp['uetr']})")  # fmt: skip
    usd_after = balance(core_api, who["core"], "USD")
    print(f"  the core's USD balance: {money(usd_before, 'USD')} -> {money(usd_after, 'USD')}")


if __name__ == "__main__":
    sys.exit(main())
