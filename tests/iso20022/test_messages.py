"""ISO 20022 documents of a settlement, validated against the official XSDs."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import xmlschema
from hypothesis import given
from hypothesis import strategies as st

from ledger_app.iso20022 import (
    ONCHAIN_NAMESPACE,
    PACS002,
    PACS008,
    PACS009,
    Agent,
    CreditorShare,
    FxConversion,
    InvalidMessageData,
    Money,
    OnChainReference,
    Party,
    Refused,
    Settled,
    Settlement,
    build_credit_transfer,
    build_pacs002,
    build_pacs008,
    build_pacs009,
    lei_is_valid,
    namespace,
    refusal_reason,
)

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "iso20022"
UETR = uuid.UUID("8a562c67-ca16-49f1-a0e6-b1a4f4a0b1c2")
TX_HASH = "0x" + "ab" * 32
BLOCK_HASH = "0x" + "cd" * 32
SETTLED_AT = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)


def lei(base: str) -> str:
    """A valid ISO 17442 LEI: `base` (18 characters) and its MOD 97-10 check digits."""
    number = int("".join(str(int(c, 36)) for c in base + "00"))
    return f"{base}{98 - number % 97:02d}"


CORE_LEI = lei("300300CORE00000001")
SUPPLIER_LEI = lei("529900SUPPLIERVN01")
BANK_CN_LEI = lei("300300BANKCN000001")
BANK_VN_LEI = lei("529900BANKVN000001")


@pytest.fixture(scope="module")
def schemas():
    return {
        message: xmlschema.XMLSchema(SCHEMAS / f"{message}.xsd")
        for message in (PACS008, PACS009, PACS002)
    }


def settlement(**overrides) -> Settlement:
    fields = {
        "uetr": UETR,
        "amount": Money(138_000_00, "USD", 2),
        "debtor": Party("Core Enterprise Co., Ltd.", lei=CORE_LEI, country="CN"),
        "creditor": Party("Supplier Vietnam JSC", lei=SUPPLIER_LEI, country="VN"),
        "debtor_agent": Agent(lei=BANK_CN_LEI, name="Settlement Bank CN"),
        "creditor_agent": Agent(bic="BANKVNVXXXX", lei=BANK_VN_LEI),
        "settlement_date": SETTLED_AT,
        "purpose": "SUPP",
        "remittance": "receivable 42",
        "fx": FxConversion(
            Money(1_000_000_00, "CNY", 2), rate=138_000_000_000_000_000, quote_id="0x" + "11" * 32
        ),
        "on_chain": OnChainReference(31337, TX_HASH, 1234, block_hash=BLOCK_HASH, log_index=3),
    }
    fields.update(overrides)
    return Settlement(**fields)


def bank_settlement(**overrides) -> Settlement:
    return settlement(
        debtor=Party("Financier Bank", bic="FINABKCNXXX", lei=BANK_CN_LEI),
        creditor=Party("FX Provider Ltd", bic="FXPRHKHHXXX"),
        fx=None,
        purpose="INTC",
        **overrides,
    )


def find(document: bytes, message: str, path: str) -> ET.Element:
    ns = {"d": namespace(message), "o": ONCHAIN_NAMESPACE}
    element = ET.fromstring(document).find(path, ns)
    assert element is not None, path
    return element


def mutate(document: bytes, message: str, path: str, change) -> bytes:
    """The document with `change(parent, element)` applied to the element at `path`."""
    root = ET.fromstring(document)
    ns = {"d": namespace(message)}
    parent = root.find(path.rsplit("/", 1)[0], ns)
    change(parent, root.find(path, ns))
    ET.register_namespace("", namespace(message))
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


# --- documents validate ---------------------------------------------------------------


def test_pacs008_validates_against_xsd(schemas):
    schemas[PACS008].validate(build_pacs008(settlement(), created_at=SETTLED_AT))


def test_pacs008_with_only_mandatory_parts_validates(schemas):
    bare = settlement(purpose=None, remittance=None, fx=None, on_chain=None)
    document = build_pacs008(bare)
    schemas[PACS008].validate(document)
    assert b"SplmtryData" not in document


def test_pacs009_validates_against_xsd(schemas):
    schemas[PACS009].validate(build_pacs009(bank_settlement(), created_at=SETTLED_AT))


TIER2_LEI = lei("529900TIERTWOVN001")


def clearing_settlement() -> Settlement:
    """A maturity payment into clearing: the holders of the root's leaves are paid."""
    shares = (
        CreditorShare(Party("Supplier Vietnam JSC", lei=SUPPLIER_LEI), Money(90_000_00, "USD", 2)),
        CreditorShare(Party("Tier-2 Supplier", lei=TIER2_LEI), Money(48_000_00, "USD", 2)),
    )
    return settlement(creditor=shares[0].creditor, shares=shares)


@pytest.mark.parametrize(
    ("message", "build"),
    [(PACS008, build_pacs008), (PACS009, build_pacs009),
     (PACS002, lambda s: build_pacs002(s, Settled(SETTLED_AT, None)))],
)  # fmt: skip
def test_a_payment_to_several_holders_is_one_transaction_each_and_validates(
    schemas, message, build
):
    document = build(clearing_settlement())

    schemas[message].validate(document)
    text = document.decode()
    assert text.count(SUPPLIER_LEI) >= 1
    assert text.count(TIER2_LEI) >= 1
    assert f"{UETR.hex[:24]}/2" in text


@pytest.mark.parametrize(("original", "make"), [(PACS008, settlement), (PACS009, bank_settlement)])
def test_pacs002_settled_validates_against_xsd(schemas, original, make):
    outcome = Settled(at=SETTLED_AT, on_chain=OnChainReference(31337, TX_HASH, 1234))
    schemas[PACS002].validate(build_pacs002(make(), outcome, original=original))


def test_pacs002_refused_validates_against_xsd(schemas):
    reason = refusal_reason(
        "FxComplianceDailyLimit", "limit 1000.00 CNY, used today 600.00, asked 400.01"
    )
    document = build_pacs002(settlement(on_chain=None), Refused(reason, at=SETTLED_AT))
    schemas[PACS002].validate(document)


def test_pacs002_with_long_reason_text_validates(schemas):
    reason = refusal_reason(
        "FxQuoteBadSignature",
        "signer 0x" + "12" * 20 + " is not provider 0x" + "34" * 20 + "; " * 40,
    )
    assert len(reason.lines()) > 1
    schemas[PACS002].validate(build_pacs002(settlement(), Refused(reason, at=SETTLED_AT)))


# --- what the documents say -------------------------------------------------------------


def test_pacs008_carries_uetr_parties_amounts_and_chain_reference():
    document = build_pacs008(settlement(), created_at=SETTLED_AT)
    tx = "d:FIToFICstmrCdtTrf/d:CdtTrfTxInf"
    assert find(document, PACS008, f"{tx}/d:PmtId/d:UETR").text == str(UETR)
    amount = find(document, PACS008, f"{tx}/d:IntrBkSttlmAmt")
    assert (amount.text, amount.get("Ccy")) == ("138000.00", "USD")
    instructed = find(document, PACS008, f"{tx}/d:InstdAmt")
    assert (instructed.text, instructed.get("Ccy")) == ("1000000.00", "CNY")
    assert find(document, PACS008, f"{tx}/d:XchgRate").text == "0.138"
    assert find(document, PACS008, f"{tx}/d:Dbtr/d:Id/d:OrgId/d:LEI").text == CORE_LEI
    assert find(document, PACS008, f"{tx}/d:Cdtr/d:Id/d:OrgId/d:LEI").text == SUPPLIER_LEI
    assert find(document, PACS008, f"{tx}/d:DbtrAgt/d:FinInstnId/d:LEI").text == BANK_CN_LEI
    assert find(document, PACS008, f"{tx}/d:CdtrAgt/d:FinInstnId/d:BICFI").text == "BANKVNVXXXX"
    assert find(document, PACS008, f"{tx}/d:Purp/d:Cd").text == "SUPP"
    record = f"{tx}/d:SplmtryData/d:Envlp/o:OnChainSettlement"
    assert find(document, PACS008, f"{record}/o:ChainId").text == "31337"
    assert find(document, PACS008, f"{record}/o:TxHash").text == TX_HASH
    assert find(document, PACS008, f"{record}/o:BlockNumber").text == "1234"
    assert find(document, PACS008, f"{record}/o:Rate1e18").text == "138000000000000000"


def test_pacs002_reports_acsc_with_settlement_time():
    outcome = Settled(at=SETTLED_AT, on_chain=OnChainReference(31337, TX_HASH, 1234))
    document = build_pacs002(settlement(), outcome)
    tx = "d:FIToFIPmtStsRpt/d:TxInfAndSts"
    assert find(document, PACS002, f"{tx}/d:TxSts").text == "ACSC"
    assert find(document, PACS002, f"{tx}/d:OrgnlUETR").text == str(UETR)
    assert (
        find(document, PACS002, "d:FIToFIPmtStsRpt/d:OrgnlGrpInfAndSts/d:OrgnlMsgNmId").text
        == PACS008
    )
    assert (
        find(document, PACS002, f"{tx}/d:FctvIntrBkSttlmDt/d:DtTm").text == "2025-03-14T09:26:53Z"
    )
    assert (
        find(document, PACS002, f"{tx}/d:SplmtryData/d:Envlp/o:OnChainSettlement/o:TxHash").text
        == TX_HASH
    )


def test_pacs002_reports_rjct_with_reason_code_and_text():
    reason = refusal_reason("FxComplianceDailyLimit", "limit 1000.00 CNY")
    document = build_pacs002(settlement(on_chain=None), Refused(reason, at=SETTLED_AT))
    tx = "d:FIToFIPmtStsRpt/d:TxInfAndSts"
    assert find(document, PACS002, f"{tx}/d:TxSts").text == "RJCT"
    assert find(document, PACS002, f"{tx}/d:StsRsnInf/d:Rsn/d:Cd").text == "AM14"
    assert (
        find(document, PACS002, f"{tx}/d:StsRsnInf/d:AddtlInf").text
        == "FxComplianceDailyLimit: limit 1000.00 CNY"
    )
    assert b"FctvIntrBkSttlmDt" not in document


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("FxComplianceCorridorClosed", "RR04"),
        ("FxComplianceStanding", "RR04"),
        ("RegistryAccountFrozen", "AC06"),
        ("ERC20InsufficientBalance", "AM04"),
        ("FxDuplicateUetr", "AM05"),
        ("FxQuoteExpired", "NARR"),  # no ISO code of its own: named in the text
    ],
)
def test_refusal_reason_maps_contract_errors_to_iso_codes(error, code):
    reason = refusal_reason(error)
    assert (reason.code, reason.text) == (code, error)


def test_build_credit_transfer_picks_pacs009_between_banks_and_pacs008_otherwise():
    assert build_credit_transfer(bank_settlement())[0] == PACS009
    assert build_credit_transfer(settlement())[0] == PACS008


# --- amounts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor_units", "decimals", "text"),
    [
        (1234567, 2, "12345.67"),
        (5, 2, "0.05"),
        (0, 2, "0.00"),
        (100, 0, "100"),
        (1_234, 3, "1.234"),
        (1_230_000, 6, "1.23000"),  # a 6-decimal token: only trailing zeros dropped
        (999_999_999_999_999_999, 0, "999999999999999999"),
    ],
)
def test_amount_text_is_exact(minor_units, decimals, text):
    assert Money(minor_units, "USD", decimals).text() == text


@given(
    minor_units=st.integers(min_value=0, max_value=10**16 - 1),
    decimals=st.integers(min_value=0, max_value=2),
)
def test_amount_text_round_trips_to_the_same_minor_units(minor_units, decimals):
    text = Money(minor_units, "CNY", decimals).text()
    assert Decimal(text).scaleb(decimals) == minor_units
    assert len(text.partition(".")[2]) == decimals


def test_amount_in_document_is_exact(schemas):
    document = build_pacs008(settlement(amount=Money(1234567, "USD", 2), fx=None))
    schemas[PACS008].validate(document)
    assert (
        find(document, PACS008, "d:FIToFICstmrCdtTrf/d:CdtTrfTxInf/d:IntrBkSttlmAmt").text
        == "12345.67"
    )


@pytest.mark.parametrize(("minor_units", "decimals"), [(1_234_567, 6), (10**18, 0), (10**19, 2)])
def test_amount_iso_cannot_carry_refused(minor_units, decimals):
    with pytest.raises(InvalidMessageData):
        Money(minor_units, "USD", decimals).text()


def test_exchange_rate_beyond_ten_decimals_only_in_supplementary_data(schemas):
    inexact = settlement(fx=FxConversion(Money(1_234_567, "CNY", 2), rate=137_912_345_678_901_234))
    document = build_pacs008(inexact)
    schemas[PACS008].validate(document)
    assert b"XchgRate" not in document
    record = "d:FIToFICstmrCdtTrf/d:CdtTrfTxInf/d:SplmtryData/d:Envlp/o:OnChainSettlement"
    assert find(document, PACS008, f"{record}/o:Rate1e18").text == "137912345678901234"


# --- refused data -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: Money(100, "usd", 2),
        lambda: Money(100, "USDT", 2),
        lambda: Money(-1, "USD", 2),
        lambda: Party(
            "X", lei=CORE_LEI[:-1] + ("0" if CORE_LEI[-1] != "0" else "1")
        ),  # check digits
        lambda: Party("X", country="CHN"),
        lambda: Agent(name="no identifier"),
        lambda: settlement(uetr=uuid.UUID("8a562c67-ca16-19f1-a0e6-b1a4f4a0b1c2")),  # version 1
        lambda: settlement(settlement_date=datetime(2025, 3, 14)),  # naive
        lambda: OnChainReference(31337, "0x1234", 1),
    ],
)
def test_invalid_settlement_data_refused(make):
    with pytest.raises(InvalidMessageData):
        make()


def test_lei_check_digits():
    assert lei_is_valid(CORE_LEI)
    assert not lei_is_valid(CORE_LEI[:-2] + f"{(int(CORE_LEI[-2:]) + 1) % 100:02d}")


# --- broken documents fail validation ----------------------------------------------------

TX008 = "d:FIToFICstmrCdtTrf/d:CdtTrfTxInf"
BROKEN = {
    "missing MsgId": (
        PACS008,
        "d:FIToFICstmrCdtTrf/d:GrpHdr/d:MsgId",
        lambda parent, e: parent.remove(e),
    ),
    "missing Dbtr": (PACS008, f"{TX008}/d:Dbtr", lambda parent, e: parent.remove(e)),
    "missing UETR pattern": (
        PACS008,
        f"{TX008}/d:PmtId/d:UETR",
        lambda parent, e: setattr(e, "text", "not-a-uuid"),
    ),
    "lower-case currency": (
        PACS008,
        f"{TX008}/d:IntrBkSttlmAmt",
        lambda parent, e: e.set("Ccy", "usd"),
    ),
    "two-letter currency": (
        PACS008,
        f"{TX008}/d:IntrBkSttlmAmt",
        lambda parent, e: e.set("Ccy", "US"),
    ),
    "six decimals": (
        PACS008,
        f"{TX008}/d:IntrBkSttlmAmt",
        lambda parent, e: setattr(e, "text", "12.345678"),
    ),
    "negative amount": (
        PACS008,
        f"{TX008}/d:IntrBkSttlmAmt",
        lambda parent, e: setattr(e, "text", "-1.00"),
    ),
    "bad LEI": (
        PACS008,
        f"{TX008}/d:Dbtr/d:Id/d:OrgId/d:LEI",
        lambda parent, e: setattr(e, "text", "NOT-A-LEI"),
    ),
    "missing ChrgBr": (PACS008, f"{TX008}/d:ChrgBr", lambda parent, e: parent.remove(e)),
    "missing pacs.009 Cdtr": (
        PACS009,
        "d:FICdtTrf/d:CdtTrfTxInf/d:Cdtr",
        lambda parent, e: parent.remove(e),
    ),
    "pacs.009 bad currency": (
        PACS009,
        "d:FICdtTrf/d:CdtTrfTxInf/d:IntrBkSttlmAmt",
        lambda parent, e: e.set("Ccy", "U$D"),
    ),
    "status code too long": (
        PACS002,
        "d:FIToFIPmtStsRpt/d:TxInfAndSts/d:TxSts",
        lambda parent, e: setattr(e, "text", "SETTLED"),
    ),
    "missing status MsgId": (
        PACS002,
        "d:FIToFIPmtStsRpt/d:GrpHdr/d:MsgId",
        lambda parent, e: parent.remove(e),
    ),
}


def valid_document(message: str) -> bytes:
    if message == PACS008:
        return build_pacs008(settlement())
    if message == PACS009:
        return build_pacs009(bank_settlement())
    return build_pacs002(
        settlement(), Settled(at=SETTLED_AT, on_chain=OnChainReference(31337, TX_HASH, 1))
    )


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_document_fails_validation(schemas, case):
    message, path, change = BROKEN[case]
    document = valid_document(message)
    assert schemas[message].is_valid(document)  # the same document before the damage
    broken = mutate(document, message, path, change)
    assert broken != document
    assert not schemas[message].is_valid(broken)
