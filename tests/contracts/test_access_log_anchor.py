"""AccessLogAnchor: only the operator anchors, the count only grows, the head is never zero;
each anchor is an event a verifier reads without the service."""

import ape
import pytest

HEAD = bytes.fromhex("11" * 32)


@pytest.fixture
def anchor(project, participants, operator):
    return project.AccessLogAnchor.deploy(participants, sender=operator)


def test_anchor_by_the_operator_emits_and_is_kept(anchor, operator):
    tx = anchor.anchor(5, HEAD, sender=operator)

    assert [e.event_name for e in tx.events] == ["AccessLogAnchored"]
    event = tx.events[0]
    assert (event["count"], event["head"], event["by"]) == (5, HEAD, operator.address)
    assert anchor.lastAnchor() == (5, HEAD)


def test_anchor_refused_to_anyone_but_the_operator(anchor, auditor, regulator, outsider):
    for account in (auditor, regulator, outsider):
        with ape.reverts(anchor.AnchorNotOperator, account=account.address):
            anchor.anchor(1, HEAD, sender=account)
    assert anchor.lastAnchor() == (0, bytes(32))


def test_anchor_count_must_grow(anchor, operator):
    anchor.anchor(5, HEAD, sender=operator)

    other = bytes.fromhex("22" * 32)
    with ape.reverts(anchor.AnchorCountNotGrowing, count=5, lastCount=5):
        anchor.anchor(5, other, sender=operator)  # never another head for a count
    with ape.reverts(anchor.AnchorCountNotGrowing, count=4, lastCount=5):
        anchor.anchor(4, other, sender=operator)  # never a shorter chain
    anchor.anchor(6, other, sender=operator)
    assert anchor.lastAnchor() == (6, other)


def test_anchor_refuses_a_zero_head_and_a_zero_count(anchor, operator):
    with ape.reverts(anchor.AnchorZeroHead):
        anchor.anchor(1, bytes(32), sender=operator)
    with ape.reverts(anchor.AnchorCountNotGrowing, count=0, lastCount=0):
        anchor.anchor(0, HEAD, sender=operator)
