"""The OpenAPI document, true to what each route answers, and ``Allow`` that agrees with it.

FastAPI documents a route's success answer and, for routes with parameters,
a 422 in its own validation shape. The service answers every error as a
problem document (:mod:`service.api.problems`) with more statuses than that.
:func:`install` replaces the application's ``openapi()`` with one that, for
every documented operation,

* declares the statuses that follow from how the operation is declared
  (:func:`implied_statuses`): 401 for one that needs a key, 403 and 404 for
  one under a park, 404 for every other path parameter, 413 and 422 for a
  request body, 422 for any parameter;
* keeps the statuses a route declares itself: 409, admin-only 403, and the
  worker pool's 503 and 504 (:data:`WORKER_POOL`) on every route that solves
  or computes in it;
* gives every status of 400 and above the media type
  ``application/problem+json`` with the :data:`PROBLEM_SCHEMA`, and the
  ``WWW-Authenticate`` and ``Retry-After`` headers where they are sent.

:func:`service.api.problems.allowed_methods` is what ``Allow`` lists on a 405 answer and on an
``OPTIONS`` request: the methods of every route of that path, not only of
the first route that matched it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.api.problems import MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error (RFC 9457 problem details). `errors` names each offending field.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong and how to fix it."},
        "instance": {"type": "string", "description": "The request's path."},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}

DESCRIPTIONS = {
    400: "Bad request",
    401: "No API key, or an unknown or revoked one",
    403: "The API key is not valid for this park or action",
    404: "No such park or resource",
    409: "Conflict with the current state",
    413: "Request body larger than the server takes (MICROGRID_MAX_REQUEST_BYTES)",
    422: "Invalid request: the problem's errors name each field and how to fix it",
    503: "The worker pool is busy (see Retry-After) or a worker failed",
    504: "No answer within the time limit",
}

HEADERS = {
    401: {"WWW-Authenticate": {"description": "How to authenticate: an API key in X-API-Key.",
                               "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait before retrying (when busy).",
                          "schema": {"type": "integer"}}},
}

WORKER_POOL: dict[int | str, dict[str, Any]] = {
    503: {"description": "Too many requests in progress (see Retry-After), a worker failed, or the solver did"},
    504: {"description": "No answer within the time limit"},
}
"""The answers of a route that runs a job in the worker pool (:class:`service.api.planner.Planner`)."""

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def implied_statuses(path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer by how it is declared (its security, parameters, body).

    * ``security`` (an API key): 401;
    * a path under ``/parks/{park_id}``: 403 (a key of another park, or not
      an admin's where an admin is needed) and 404 (no such park);
    * any other path parameter: 404 (nothing of that id);
    * a request body: 413 (too large) and 422;
    * any parameter or body: 422.
    """
    statuses: set[int] = set()
    if operation.get("security"):
        statuses.add(401)
    if path.startswith("/parks/{park_id}"):
        statuses |= {403, 404}
    if "{" in path:
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {413, 422}
    if operation.get("parameters"):
        statuses.add(422)
    return statuses


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of ``app`` with every error status and problem media type declared."""
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                         tags=app.openapi_tags, servers=app.servers)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in sorted(implied_statuses(path, operation)):
                responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {MEDIA_TYPE: {"schema": PROBLEM_REF}}
                    if int(status) in HEADERS:
                        response.setdefault("headers", {}).update(HEADERS[int(status)])
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    text = repr(schema["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}'" not in text:
            components.pop(unused, None)
    return schema


def install(app: FastAPI) -> None:
    """Serve :func:`document` as the application's OpenAPI document (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
