"""The check a settlement-token transfer passes before it is sent.

The token refuses nothing of a transfer to oneself, but it moves nothing either: the
service refuses it as the request's own fault (the refusal table's ``TransferToSelf``,
ledger_app/api/errors.py). Who may hold and move tokens is the token's (standing).
"""

from __future__ import annotations

from ledger_app.domain.refusals import Refusal


def check_transfer(sender: str, recipient: str) -> None:
    """A transfer pays another account than its sender."""
    if sender.lower() == recipient.lower():
        raise Refusal("TransferToSelf", "a transfer to oneself moves nothing", field="to")
