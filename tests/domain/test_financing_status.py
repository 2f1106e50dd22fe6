"""A financing's status as shown: REPAID once a FUNDED or DEFAULTED one's receivable settles."""

from __future__ import annotations

import pytest

from ledger_app.domain.financing import shown_status, stored_for
from ledger_app.domain.vocabulary import FINANCING_STATUS, RECEIVABLE_STATUS


@pytest.mark.parametrize("status", ["FUNDED", "DEFAULTED"])
def test_funded_or_defaulted_of_a_settled_receivable_shows_repaid(status):
    assert shown_status(status, "SETTLED") == "REPAID"
    assert shown_status(status, "FINANCED") == status


@pytest.mark.parametrize("status", ["REQUESTED", "OFFERED", "CLOSED"])
def test_other_statuses_show_as_stored(status):
    assert shown_status(status, "SETTLED") == status


def test_stored_for_is_the_inverse_of_shown_status():
    for shown in FINANCING_STATUS[1:]:
        statuses, settled = stored_for(shown)
        for stored in FINANCING_STATUS[1:]:
            for receivable in RECEIVABLE_STATUS[1:]:
                matches = stored in statuses and (
                    settled is None or settled == (receivable == "SETTLED")
                )
                if stored == "REPAID":
                    continue  # the indexer never stores REPAID (the view computes it)
                assert matches == (shown_status(stored, receivable) == shown), (
                    shown,
                    stored,
                    receivable,
                )
