"""ISO 20022 messages for the ledger's settlements.

A `Settlement` (plain data: UETR, amounts in minor units, debtor and creditor with
their LEIs, their settlement banks, purpose, the on-chain reference) becomes

- a pacs.008.001.13 FIToFICustomerCreditTransfer (`build_pacs008`) between enterprises,
- a pacs.009.001.12 FinancialInstitutionCreditTransfer (`build_pacs009`) between banks,
- a pacs.002.001.15 FIToFIPaymentStatusReport (`build_pacs002`): ACSC once settled on
  chain, RJCT with the reason (`refusal_reason`) when the ledger refused it.

The documents are XML bytes made with the standard library; tests validate them
against the official XSDs (tests/data/iso20022/).
"""

from ledger_app.iso20022.messages import (
    CLEARING_SYSTEM,
    ONCHAIN_NAMESPACE,
    PACS002,
    PACS008,
    PACS009,
    Refused,
    Settled,
    build_credit_transfer,
    build_pacs002,
    build_pacs008,
    build_pacs009,
    namespace,
)
from ledger_app.iso20022.model import (
    Agent,
    CreditorShare,
    FxConversion,
    InvalidMessageData,
    Money,
    OnChainReference,
    Party,
    Settlement,
    lei_is_valid,
)
from ledger_app.iso20022.reasons import RefusalReason, refusal_reason

__all__ = [
    "CLEARING_SYSTEM",
    "ONCHAIN_NAMESPACE",
    "PACS002",
    "PACS008",
    "PACS009",
    "Agent",
    "CreditorShare",
    "FxConversion",
    "InvalidMessageData",
    "Money",
    "OnChainReference",
    "Party",
    "RefusalReason",
    "Refused",
    "Settled",
    "Settlement",
    "build_credit_transfer",
    "build_pacs002",
    "build_pacs008",
    "build_pacs009",
    "lei_is_valid",
    "namespace",
    "refusal_reason",
]
