"""A participant's standing: the order of precedence of ParticipantRegistry._standing."""

from __future__ import annotations

import pytest

from ledger_app.domain.standing import caller_standing, standing_of

NOW = 1_700_000_000


def _facts(**over):
    facts = {"onboarded": True, "suspended": False, "frozen": False,
             "kyc_expiry": NOW + 1, "roles": ("SUPPLIER",), "now": NOW}  # fmt: skip
    return {**facts, **over}


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({}, "ACTIVE"),
        ({"kyc_expiry": NOW}, "ACTIVE"),  # the contract refuses only an expiry before now
        (
            {"onboarded": False, "suspended": True, "frozen": True, "kyc_expiry": None},
            "NOT_ONBOARDED",
        ),
        ({"suspended": True, "frozen": True, "kyc_expiry": NOW - 1}, "SUSPENDED"),
        ({"frozen": True, "kyc_expiry": NOW - 1}, "KYC_EXPIRED"),
        ({"kyc_expiry": None}, "KYC_EXPIRED"),
        ({"frozen": True}, "FROZEN"),
        ({"onboarded": False, "kyc_expiry": None, "roles": ("LEDGER",)}, "ACTIVE"),
    ],
)
def test_standing_of_follows_the_contracts_order(over, expected):
    assert standing_of(**_facts(**over)) == expected


def test_caller_standing_lets_the_operator_act_by_its_role_alone():
    operator = _facts(onboarded=False, kyc_expiry=None, roles=("OPERATOR",))

    assert standing_of(**operator) == "NOT_ONBOARDED"
    assert caller_standing(**operator) == "ACTIVE"
    assert caller_standing(**_facts(suspended=True)) == "SUSPENDED"
