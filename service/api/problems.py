"""Every error as one problem-details JSON shape (RFC 9457), mapped in one place.

::

    {"type": "https://park-microgrid.example/problems/invalid-park",
     "title": "Invalid park", "status": 422,
     "detail": "batteries.b1.capcity_kwh: unknown field; did you mean 'capacity_kwh'?",
     "instance": "/parks", "errors": [{"field": "batteries.b1.capcity_kwh",
     "reason": "unknown field; did you mean 'capacity_kwh'?"}]}

The project's exceptions (:mod:`microgrid.errors`) map to statuses in
:data:`MICROGRID_STATUS`; the service's own (:class:`ProblemError` and its
subclasses) carry theirs. Request validation is 422; anything unexpected is
a 500 without internals, logged with its traceback.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from microgrid import errors as mg
from microgrid.messages import Message, Reason

logger = logging.getLogger(__name__)

PROBLEM_BASE = "https://park-microgrid.example/problems/"
MEDIA_TYPE = "application/problem+json"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class ProblemError(Exception):
    """An error the service answers with a problem document.

    Parameters
    ----------
    detail : str
        What went wrong and how to fix it.
    errors : list of dict, optional
        ``{"field": ..., "reason": ...}`` per problem.
    headers : dict, optional
        Extra response headers (``WWW-Authenticate``, ``Retry-After``).
    """

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, errors: list[dict] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "API key missing or unknown"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Not allowed with this API key"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "Request too large"


class InvalidInput(ProblemError):
    status, slug, title = 422, "invalid-request", "Invalid request"


class Overloaded(ProblemError):
    status, slug, title = 503, "overloaded", "Too many plans in progress"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


class WorkerFailed(ProblemError):
    status, slug, title = 503, "worker-failed", "The worker solving the request failed"


class PlanTimeout(ProblemError):
    status, slug, title = 504, "plan-timeout", "No plan within the time limit"


MICROGRID_STATUS: dict[type[mg.MicrogridError], tuple[int, str, str]] = {
    mg.InvalidParkError: (422, "invalid-park", "Invalid park"),
    mg.DataError: (422, "invalid-data", "Invalid or missing data"),
    mg.InvalidRequestError: (422, "invalid-request", "Invalid request"),
    mg.ForecastError: (422, "forecast-failed", "Forecast cannot be made"),
    mg.InfeasibleError: (422, "infeasible", "No plan can meet the request"),
    mg.SolverTimeoutError: (504, "plan-timeout", "No plan within the time limit"),
    mg.SolverError: (503, "solver-failed", "The solver failed"),
    mg.MicrogridError: (422, "invalid-request", "Invalid request"),
}
"""Status, type slug and title of each project exception (the most specific class wins)."""


_FIELD_FIRST = re.compile(r"^(?P<field>[A-Za-z_][\w.\-]*)(?: \([^)]*\))?: (?P<reason>.+)$", re.S)


def split_message(message: str) -> list[dict[str, str]]:
    """``field: reason`` items of a project error message (``; ``-separated) as problem ``errors``.

    Examples
    --------
    >>> split_message("grid.max_import_kw: must be > 0; site.name: required field is missing; add it")
    [{'field': 'grid.max_import_kw', 'reason': 'must be > 0'}, {'field': 'site.name', 'reason': 'required field is missing; add it'}]
    >>> split_message("data.loads (loads.csv): column 'x' has a gap")
    [{'field': 'data.loads', 'reason': "column 'x' has a gap"}]
    """
    items: list[dict[str, str]] = []
    for part in str(message).split("; "):
        match = _FIELD_FIRST.match(part)
        if match:
            items.append({"field": match["field"], "reason": match["reason"]})
        elif items:
            items[-1]["reason"] += "; " + part
        else:
            items.append({"field": "", "reason": part})
    if isinstance(message, Message) and len(items) == 1 and items[0]["field"]:
        items[0]["reason"] = Reason(message, str(message).partition(": ")[0])  # translatable as the whole message
    return items


def message_of(exc: Exception) -> str:
    """An exception's message, a :class:`~microgrid.messages.Message` kept as such (``str(exc)`` loses it)."""
    return exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)


def problem_response(request: Request, status: int, slug: str, title: str, detail: str,
                     errors: list[dict] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error response of the service."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail,
                            "instance": request.url.path}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def microgrid_problem(exc: mg.MicrogridError) -> tuple[int, str, str]:
    for cls in type(exc).__mro__:
        if cls in MICROGRID_STATUS:
            return MICROGRID_STATUS[cls]
    return MICROGRID_STATUS[mg.MicrogridError]


def _field(loc: tuple) -> str:
    """``body.batteries.b1`` → ``batteries.b1``; query and path parameters keep their origin."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts)


def allowed_methods(request: Request) -> str | None:
    """``Allow`` of the request's path as the OpenAPI document declares it; None for an undocumented path.

    Of the document's path templates matching the path, the most specific
    (fewest parameters) wins, as OpenAPI matches concrete paths first:
    ``/parks/p/plans/intraday`` is ``POST /parks/{park_id}/plans/intraday``,
    not ``GET /parks/{park_id}/plans/{plan_id}``. ``HEAD`` comes with ``GET``.
    Starlette alone would list the methods of the first route it matched
    only (``GET`` for ``/parks``, which also takes ``POST``).
    """
    path = request.url.path
    best: tuple[int, set[str]] | None = None
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods = {m.upper() for m in operations if m in HTTP_METHODS}
            specificity = template.count("{")
            if best is None or specificity < best[0]:
                best = (specificity, methods)
    if best is None:
        return None
    methods = best[1] | ({"HEAD"} if "GET" in best[1] else set())
    return ", ".join(sorted(methods))


def install_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(request, exc.status, exc.slug, exc.title, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(mg.MicrogridError)
    async def _microgrid(request: Request, exc: mg.MicrogridError) -> JSONResponse:
        status, slug, title = microgrid_problem(exc)
        message = message_of(exc)
        return problem_response(request, status, slug, title, message, split_message(message))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(tuple(e.get("loc", ()))), "reason": e.get("msg", "invalid")}
                  for e in exc.errors()]
        detail = "; ".join(f"{e['field'] or '(body)'}: {e['reason']}" for e in errors)
        return problem_response(request, 422, "validation-error", "Request validation failed", detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 400: "Bad request", 413: "Request too large"}
        title = titles.get(exc.status_code, "HTTP error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
            if request.method == "OPTIONS":  # what the path allows, as RFC 9110 asks of OPTIONS
                return Response(status_code=204, headers=headers)
            detail = f"{request.method} is not a method of {request.url.path}; it allows {headers['Allow']}"
        elif exc.status_code == 404 and detail == "Not Found":  # no route has this path
            detail = f"no resource at {request.url.path}; the service's paths are listed at /docs"
        return problem_response(request, exc.status_code, title.lower().replace(" ", "-"), title, detail,
                                headers=headers or None)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, "internal-error", "Internal error",
                                f"{type(exc).__name__}; the error is logged on the server, please report it")
