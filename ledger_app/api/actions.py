"""One route builder for the action routes: ``POST .../{id}/confirm`` and its kind.

Receivables (confirm, reject, cancel, freeze, unfreeze), financings (cancel, default
and accept, reject, withdraw, expire of an offer) and participants (suspend,
reinstate, freeze, unfreeze) each have a handful of routes that differ only in the
contract function they send: each takes the ids in its path, sends one write for the
caller through its service, and answers the thing acted on as a WriteResponse. They
are declared with ``action_route`` instead of a handler each.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response

from ledger_app.api.deps import ActorDep
from ledger_app.api.identity import Caller
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import WriteResponse
from ledger_app.api.services.writes import WriteOutcome

#: What an action sends: (service, caller, *path ids) -> the write's outcome.
Send = Callable[..., WriteOutcome]
#: What an action answers once indexed: (service, caller, *path ids) -> the result.
Render = Callable[..., Any]


def action_route(
    router: APIRouter,
    path: str,
    operation: str,
    doc: str,
    *,
    ids: dict[str, Any],
    service: Any,
    send: Send,
    render: Render,
    result: type,
) -> None:
    """Add ``POST path`` (operation id ``operation``, described by ``doc``) to ``router``.

    ``ids``: the path's parameters, name -> annotation, in the path's order. ``service``:
    the service's dependency alias (``ReceivablesDep``, ...), built for the request.
    The handler sends ``send(service, caller, *ids)`` and answers
    ``WriteResponse[result]`` with ``render(service, caller, *ids)`` once indexed (202
    without it while not).
    """
    names = list(ids)

    def handler(**values: Any) -> Any:
        caller: Caller = values["caller"]
        acting = values["service"]
        keys = [values[name] for name in names]
        outcome = send(acting, caller, *keys)
        return write_response(outcome, values["response"], lambda _o: render(acting, caller, *keys))

    # FastAPI reads the parameters from the signature: the path's ids, then the caller
    # (authenticated and allowed first), the service and the response.
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, keyword, annotation=kind) for name, kind in ids.items()]
        + [
            inspect.Parameter("caller", keyword, annotation=ActorDep),
            inspect.Parameter("service", keyword, annotation=service),
            inspect.Parameter("response", keyword, annotation=Response),
        ],
        return_annotation=Any,
    )
    handler.__doc__ = doc
    handler.__name__ = handler.__qualname__ = operation.replace(".", "_")
    router.post(path, operation_id=operation, response_model=WriteResponse[result])(handler)
