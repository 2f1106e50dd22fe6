"""The OpenAPI document says what the service really answers, so a client (or a fuzzer)
can hold it to it.

FastAPI documents each route's success and a generic 422. To that this adds, from the
permission table (ledger_app/api/permissions.py) and the way errors become statuses
(ledger_app/api/errors.py):

- the API key schemes (``X-API-Key`` or ``Authorization: Bearer``) on every keyed
  operation, none on the public ones;
- every error status an operation can answer, each with the error body
  (``ErrorBody``): 401 and 403 on every keyed operation (no key, role, standing),
  404 where a path names an object or the caller must be a party, 409 and 413 on
  every write method (idempotency conflicts, body limit), 422 (validation), 429
  (a rate limit or the writes in flight, with ``Retry-After``), 503 (node or
  database down), and on ledger writes 202 (indexing or awaiting a
  signature, the same body as the success), 404, 409, 502 and 504 (the chain);
- links from each operation that creates an object to the one that shows it, so that a
  client (or a stateful fuzzer) can follow a created id to the object.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ledger_app.api.errors import ErrorBody
from ledger_app.api.permissions import PERMISSIONS

API_KEY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "the same API key"},
}
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
#: Statuses an operation answers beyond the rules above (its own refusals).
EXTRA_STATUSES: dict[str, set[int]] = {
    "documents.upload": {413, 415},
    "audit.transaction": {404},
    # These two read from the node, not only the index.
    "audit.verify": {502, 504},
    "audit.reconcile": {409, 502, 504},
    "participants.me": {404},
    # A past block the index has not reached (409), or whose header is read from the node.
    "risk.exposure": {409, 502, 504},
}
_DESCRIPTIONS = {
    401: "No API key, or an unknown or revoked one",
    403: "The caller's role or standing does not allow this",
    404: "No such object, or none the caller is a party to",
    409: "Conflicts with the ledger's state or an earlier request (Idempotency-Key)",
    413: "The request body is over its limit",
    415: "The body's media type is not one this operation takes",
    422: "A value at fault, named in args",
    429: "Over the API key's (or the address's) request rate, or (TooManyWritesInFlight) "
    "over the writes in flight allowed; nothing was done: retry after Retry-After seconds",
    502: "The chain answered with an error",
    503: "The node or the database is not reachable, or (ServiceDegraded) the service is "
    "degraded and refuses writes: see /health's reasons",
    504: "The transaction was not mined in time",
}
_ERROR = {"$ref": "#/components/schemas/ErrorBody"}
_RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "schema": {"type": "integer", "minimum": 1},
}
#: operation that creates -> (operation that shows, its parameter, where the answer has it).
LINKS = {
    "participants.onboard": ("participants.show", "address", "/result/participant/address"),
    "documents.upload": ("documents.show", "document_hash", "/document_hash"),
    "receivables.register": ("receivables.show", "receivable_id", "/result/id"),
    "financing.request": ("financing.show", "financing_id", "/result/id"),
    "credit_lines.grant": ("credit_lines.show", "line_id", "/result/line_id"),
    "fx.settle": ("fx.show_settlement", "uetr", "/result/uetr"),
    "escrows.lock": ("escrows.show", "lock_id", "/result/lock_id"),
}


def error_statuses(operation_id: str, method: str, path: str) -> set[int]:
    """Every error status ``operation_id`` (``method path``) can answer."""
    rule = PERMISSIONS[operation_id]
    statuses = {401, 403, 422, 429, 503}
    if rule.party or "{" in path:
        statuses.add(404)
    if method in WRITE_METHODS:
        statuses |= {409, 413}
    if rule.write:
        statuses |= {404, 409, 502, 504}
    return statuses | EXTRA_STATUSES.get(operation_id, set())


def document_api(app: FastAPI) -> None:
    """Make ``app.openapi()`` answer the completed document (see the module docstring)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        if "securitySchemes" not in schema.get("components", {}):
            complete(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(schema: dict[str, Any]) -> None:
    """Add security, error and 202 responses to a FastAPI-generated ``schema`` in place."""
    components = schema.setdefault("components", {})
    components["securitySchemes"] = API_KEY_SCHEMES
    schemas = components.setdefault("schemas", {})
    schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            operation_id = operation.get("operationId")
            if operation_id not in PERMISSIONS:
                continue  # public: /health, /metrics
            operation["security"] = [{name: []} for name in API_KEY_SCHEMES]
            responses = operation["responses"]
            if PERMISSIONS[operation_id].write:
                success = next(v for k, v in responses.items() if k.startswith("2"))
                responses["202"] = {
                    "description": "Accepted: indexing, or awaiting the caller's signature",
                    "content": success.get("content", {}),
                }
            if operation_id in LINKS:
                target, parameter, pointer = LINKS[operation_id]
                created = next(v for k, v in responses.items() if k.startswith("2"))
                created["links"] = {
                    target: {
                        "operationId": target,
                        "parameters": {parameter: f"$response.body#{pointer}"},
                    }
                }
            for status in sorted(error_statuses(operation_id, method, path)):
                responses[str(status)] = {
                    "description": _DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": _ERROR}},
                }
                if status == 429:
                    responses["429"]["headers"] = {"Retry-After": _RETRY_AFTER}
    # FastAPI's own 422 body is replaced everywhere by ErrorBody.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
