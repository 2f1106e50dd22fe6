"""The refusal a rule of the ledger raises, before anything is sent.

A domain rule (``receivables.check_split``, ``clearing.check_repaid``, ...)
knows why a request would be refused but nothing of HTTP: it raises ``Refusal`` with
the name the API answers (``ReceivableInvalidSplit``: the contract's own error when
the rule anticipates a revert), a message in the API's words, the request field at
fault if there is one, and the offending values. The API turns it into its answer
in one place, the refusal table (ledger_app/api/errors.py), which gives the status.
"""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    """A request a rule of the ledger refuses.

    ``name`` is the API's error name, ``message`` its words, ``field`` the request field
    at fault (None: the request as a whole), ``values`` the offending values.
    """

    def __init__(self, name: str, message: str, *, field: str | None = None, **values: Any):
        super().__init__(message)
        self.name = name
        self.message = message
        self.field = field
        self.values = values

    @property
    def details(self) -> dict[str, Any]:
        """The values an answer carries: the field at fault first, then the values."""
        return self.values if self.field is None else {"field": self.field, **self.values}
