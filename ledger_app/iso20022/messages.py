"""pacs.008, pacs.009 and pacs.002 documents for a settlement, as XML bytes.

Built with xml.etree only; the element order is the schema's, which the tests check
against the official ISO 20022 XSDs of the versions named here. Where a settlement
lives on chain (chain id, transaction hash, block) does not fit any ISO element, so
it travels in the transaction's SplmtryData, in the ledger's own namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from xml.etree import ElementTree as ET

from ledger_app.iso20022.model import (
    Agent,
    InvalidMessageData,
    Money,
    OnChainReference,
    Party,
    Settlement,
    Transaction,
    iso_date,
    iso_datetime,
)
from ledger_app.iso20022.reasons import RefusalReason

PACS008 = "pacs.008.001.13"
PACS009 = "pacs.009.001.12"
PACS002 = "pacs.002.001.15"
ONCHAIN_NAMESPACE = "urn:ledger-scf:xsd:onchain.001"
#: The clearing system of every message: this permissioned ledger (SttlmInf/ClrSys/Prtry).
CLEARING_SYSTEM = "LEDGER-SCF-PVP"
RATE_SCALE = 10**18
#: BaseOneRate (XchgRate): at most 11 digits, 10 after the point.
_RATE_FRACTION_DIGITS = 10
_RATE_TOTAL_DIGITS = 11


def namespace(message: str) -> str:
    """The XML namespace of an ISO 20022 message version, e.g. of "pacs.008.001.13"."""
    return f"urn:iso:std:iso:20022:tech:xsd:{message}"


@dataclass(frozen=True)
class Settled:
    """The settlement happened on chain (pacs.002 ACSC)."""

    at: datetime
    on_chain: OnChainReference


@dataclass(frozen=True)
class Refused:
    """The ledger refused the settlement (pacs.002 RJCT); no value moved."""

    reason: RefusalReason
    at: datetime
    on_chain: OnChainReference | None = None


class _Writer:
    """Appends elements of one namespace, in the order they are written."""

    def __init__(self, message: str, root_tag: str):
        self.ns = namespace(message)
        self.document = ET.Element(f"{{{self.ns}}}Document")
        self.root = self.sub(self.document, root_tag)

    def sub(
        self, parent: ET.Element, tag: str, text: str | None = None, **attrs: str
    ) -> ET.Element:
        element = ET.SubElement(parent, f"{{{self.ns}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    def path(self, parent: ET.Element, tags: str, text: str) -> ET.Element:
        """Writes a chain of single children, "A/B/C", ending in `text`."""
        *outer, last = tags.split("/")
        for tag in outer:
            parent = self.sub(parent, tag)
        return self.sub(parent, last, text)

    def amount(self, parent: ET.Element, tag: str, money: Money) -> None:
        self.sub(parent, tag, money.text(), Ccy=money.currency)

    def serialize(self) -> bytes:
        ET.register_namespace("", self.ns)
        ET.indent(self.document)
        return ET.tostring(self.document, encoding="UTF-8", xml_declaration=True)


def message_id(settlement: Settlement) -> str:
    """The MsgId of the credit transfer for `settlement`: its UETR's 32 hex digits."""
    return settlement.uetr.hex


def build_pacs008(settlement: Settlement, created_at: datetime | None = None) -> bytes:
    """FIToFICustomerCreditTransfer (pacs.008.001.13): a customer (the debtor
    enterprise) pays a customer (the creditor) through their settlement banks."""
    w = _Writer(PACS008, "FIToFICstmrCdtTrf")
    _group_header(w, settlement, created_at)
    for transaction in settlement.transactions():
        tx = w.sub(w.root, "CdtTrfTxInf")
        _payment_id(w, tx, settlement, transaction)
        w.amount(tx, "IntrBkSttlmAmt", transaction.amount)
        w.sub(tx, "IntrBkSttlmDt", iso_date(settlement.settlement_date))
        if settlement.fx is not None:
            if transaction.instructed is not None:
                w.amount(tx, "InstdAmt", transaction.instructed)
            rate = _base_one_rate(settlement)
            if rate is not None:
                w.sub(tx, "XchgRate", rate)
        w.sub(tx, "ChrgBr", "SHAR")
        _party(w, w.sub(tx, "Dbtr"), settlement.debtor)
        _agent(w, w.sub(tx, "DbtrAgt"), settlement.debtor_agent)
        _agent(w, w.sub(tx, "CdtrAgt"), settlement.creditor_agent)
        _party(w, w.sub(tx, "Cdtr"), transaction.creditor)
        if settlement.purpose:
            w.path(tx, "Purp/Cd", settlement.purpose)
        if settlement.remittance:
            w.path(tx, "RmtInf/Ustrd", settlement.remittance)
        _supplementary(w, tx, settlement, settlement.on_chain)
    return w.serialize()


def build_pacs009(settlement: Settlement, created_at: datetime | None = None) -> bytes:
    """FinancialInstitutionCreditTransfer (pacs.009.001.12): a bank-to-bank transfer,
    e.g. a financier's disbursement or an FX provider's leg; debtor and creditor are
    financial institutions (identified by BIC and/or LEI)."""
    w = _Writer(PACS009, "FICdtTrf")
    _group_header(w, settlement, created_at)
    for transaction in settlement.transactions():
        tx = w.sub(w.root, "CdtTrfTxInf")
        _payment_id(w, tx, settlement, transaction)
        w.amount(tx, "IntrBkSttlmAmt", transaction.amount)
        w.sub(tx, "IntrBkSttlmDt", iso_date(settlement.settlement_date))
        _institution(w, w.sub(tx, "Dbtr"), settlement.debtor)
        _agent(w, w.sub(tx, "DbtrAgt"), settlement.debtor_agent)
        _agent(w, w.sub(tx, "CdtrAgt"), settlement.creditor_agent)
        _institution(w, w.sub(tx, "Cdtr"), transaction.creditor)
        if settlement.purpose:
            w.path(tx, "Purp/Cd", settlement.purpose)
        if settlement.remittance:
            w.path(tx, "RmtInf/Ustrd", settlement.remittance)
        _supplementary(w, tx, settlement, settlement.on_chain)
    return w.serialize()


def build_credit_transfer(
    settlement: Settlement, created_at: datetime | None = None
) -> tuple[str, bytes]:
    """pacs.009 when both parties are financial institutions (both have a BIC), else
    pacs.008; returns (message name, document)."""
    if settlement.debtor.bic and settlement.creditor.bic:
        return PACS009, build_pacs009(settlement, created_at)
    return PACS008, build_pacs008(settlement, created_at)


def build_pacs002(
    settlement: Settlement,
    outcome: Settled | Refused,
    original: str = PACS008,
    created_at: datetime | None = None,
) -> bytes:
    """FIToFIPaymentStatusReport (pacs.002.001.15) on the credit transfer `original`
    sent for `settlement`: ACSC once settled on chain, RJCT with the reason if refused."""
    _require_original(original)
    status = "ACSC" if isinstance(outcome, Settled) else "RJCT"
    w = _Writer(PACS002, "FIToFIPmtStsRpt")
    header = w.sub(w.root, "GrpHdr")
    w.sub(header, "MsgId", f"STS{settlement.uetr.hex}")
    w.sub(header, "CreDtTm", iso_datetime(created_at or datetime.now(UTC)))
    group = w.sub(w.root, "OrgnlGrpInfAndSts")
    w.sub(group, "OrgnlMsgId", message_id(settlement))
    w.sub(group, "OrgnlMsgNmId", original)
    transactions = settlement.transactions()
    w.sub(group, "OrgnlNbOfTxs", str(len(transactions)))
    w.sub(group, "GrpSts", status)
    for transaction in transactions:
        tx = w.sub(w.root, "TxInfAndSts")
        w.sub(tx, "OrgnlEndToEndId", transaction.end_to_end_id)
        w.sub(tx, "OrgnlUETR", str(settlement.uetr))
        w.sub(tx, "TxSts", status)
        if isinstance(outcome, Refused):
            reason = w.sub(tx, "StsRsnInf")
            w.path(reason, "Rsn/Cd", outcome.reason.code)
            for line in outcome.reason.lines():
                w.sub(reason, "AddtlInf", line)
        w.sub(tx, "AccptncDtTm", iso_datetime(outcome.at))
        if isinstance(outcome, Settled):
            w.path(tx, "FctvIntrBkSttlmDt/DtTm", iso_datetime(outcome.at))
        _original_reference(w, w.sub(tx, "OrgnlTxRef"), settlement, transaction, original)
        _supplementary(w, tx, settlement, outcome.on_chain)
    return w.serialize()


# --- parts -------------------------------------------------------------------------


def _require_original(original: str) -> None:
    if original not in (PACS008, PACS009):
        raise InvalidMessageData(
            f"a status report answers {PACS008} or {PACS009}, not {original!r}"
        )


def _group_header(w: _Writer, settlement: Settlement, created_at: datetime | None) -> None:
    header = w.sub(w.root, "GrpHdr")
    w.sub(header, "MsgId", message_id(settlement))
    w.sub(header, "CreDtTm", iso_datetime(created_at or datetime.now(UTC)))
    w.sub(header, "NbOfTxs", str(len(settlement.transactions())))
    instruction = w.sub(header, "SttlmInf")
    w.sub(instruction, "SttlmMtd", "CLRG")
    w.path(instruction, "ClrSys/Prtry", CLEARING_SYSTEM)


def _payment_id(
    w: _Writer, tx: ET.Element, settlement: Settlement, transaction: Transaction
) -> None:
    ids = w.sub(tx, "PmtId")
    w.sub(ids, "EndToEndId", transaction.end_to_end_id)
    w.sub(ids, "UETR", str(settlement.uetr))


def _party(w: _Writer, parent: ET.Element, party: Party) -> None:
    w.sub(parent, "Nm", party.name)
    if party.lei or party.bic or party.other_id:
        organisation = w.sub(w.sub(parent, "Id"), "OrgId")
        if party.bic:
            w.sub(organisation, "AnyBIC", party.bic)
        if party.lei:
            w.sub(organisation, "LEI", party.lei)
        if party.other_id:
            w.path(organisation, "Othr/Id", party.other_id)
    if party.country:
        w.sub(parent, "CtryOfRes", party.country)


def _institution(w: _Writer, parent: ET.Element, party: Party) -> None:
    if not (party.bic or party.lei):
        raise InvalidMessageData(
            f"{party.name!r} needs a BIC or LEI to be named as a financial institution"
        )
    _financial_institution(w, parent, bic=party.bic, lei=party.lei, name=party.name)


def _agent(w: _Writer, parent: ET.Element, agent: Agent) -> None:
    _financial_institution(w, parent, bic=agent.bic, lei=agent.lei, name=agent.name)


def _financial_institution(
    w: _Writer, parent: ET.Element, bic: str | None, lei: str | None, name: str | None
) -> None:
    institution = w.sub(parent, "FinInstnId")
    if bic:
        w.sub(institution, "BICFI", bic)
    if lei:
        w.sub(institution, "LEI", lei)
    if name:
        w.sub(institution, "Nm", name)


def _original_reference(
    w: _Writer,
    reference: ET.Element,
    settlement: Settlement,
    transaction: Transaction,
    original: str,
) -> None:
    """OrgnlTxRef: the key terms of the credit transfer the report answers."""
    w.amount(reference, "IntrBkSttlmAmt", transaction.amount)
    if transaction.instructed is not None:
        w.amount(w.sub(reference, "Amt"), "InstdAmt", transaction.instructed)
    w.sub(reference, "IntrBkSttlmDt", iso_date(settlement.settlement_date))
    _original_party(w, w.sub(reference, "Dbtr"), settlement.debtor, original)
    _agent(w, w.sub(reference, "DbtrAgt"), settlement.debtor_agent)
    _agent(w, w.sub(reference, "CdtrAgt"), settlement.creditor_agent)
    _original_party(w, w.sub(reference, "Cdtr"), transaction.creditor, original)
    if settlement.purpose:
        w.path(reference, "Purp/Cd", settlement.purpose)


def _original_party(w: _Writer, parent: ET.Element, party: Party, original: str) -> None:
    if original == PACS009:
        _institution(w, w.sub(parent, "Agt"), party)
    else:
        _party(w, w.sub(parent, "Pty"), party)


def _base_one_rate(settlement: Settlement) -> str | None:
    """XchgRate: buy-currency units per sell-currency unit, when ISO's BaseOneRate
    (11 digits, 10 decimals) carries it exactly; otherwise only SplmtryData does."""
    fx = settlement.fx
    assert fx is not None
    rate = Fraction(fx.rate, RATE_SCALE) * Fraction(
        10**fx.instructed.decimals, 10**settlement.amount.decimals
    )
    scaled = rate * 10**_RATE_FRACTION_DIGITS
    if scaled.denominator != 1:
        return None
    digits = str(scaled.numerator).rjust(_RATE_FRACTION_DIGITS + 1, "0")
    whole, fraction = digits[:-_RATE_FRACTION_DIGITS], digits[-_RATE_FRACTION_DIGITS:].rstrip("0")
    if len(whole.lstrip("0")) + len(fraction) > _RATE_TOTAL_DIGITS:
        return None
    return f"{whole}.{fraction}" if fraction else whole


def _supplementary(
    w: _Writer, tx: ET.Element, settlement: Settlement, on_chain: OnChainReference | None
) -> None:
    """SplmtryData: the on-chain reference and the exact FX terms, in the ledger's namespace."""
    if on_chain is None and settlement.fx is None:
        return
    data = w.sub(tx, "SplmtryData")
    w.sub(data, "PlcAndNm", "CdtTrfTxInf/OnChainSettlement")
    record = ET.SubElement(w.sub(data, "Envlp"), f"{{{ONCHAIN_NAMESPACE}}}OnChainSettlement")
    for tag, value in _onchain_fields(settlement, on_chain):
        ET.SubElement(record, f"{{{ONCHAIN_NAMESPACE}}}{tag}").text = value
    ET.register_namespace("onchain", ONCHAIN_NAMESPACE)


def _onchain_fields(
    settlement: Settlement, on_chain: OnChainReference | None
) -> Iterable[tuple[str, str]]:
    if on_chain is not None:
        yield "ChainId", str(on_chain.chain_id)
        yield "TxHash", on_chain.tx_hash.lower()
        yield "BlockNumber", str(on_chain.block_number)
        if on_chain.block_hash:
            yield "BlockHash", on_chain.block_hash.lower()
        if on_chain.log_index is not None:
            yield "LogIndex", str(on_chain.log_index)
    if settlement.fx is not None:
        if settlement.fx.quote_id:
            yield "QuoteId", settlement.fx.quote_id
        yield "Rate1e18", str(settlement.fx.rate)
