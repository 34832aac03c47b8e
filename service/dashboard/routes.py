"""The operator dashboard: server-rendered pages over the service's own routes and tables.

Pages sign in with an API key kept in an HttpOnly, ``SameSite=Strict``,
``Secure`` cookie (Chromium and Firefox keep Secure cookies on
``http://127.0.0.1`` and ``http://localhost``, which they treat as secure
contexts; behind TLS anything else works the same). Every page authenticates
that key with :func:`service.api.security.authenticate` and shows only the
key's parks; a missing, unknown or revoked key sends the browser to the
sign-in page with a message. Actions call the API's route functions in the
process (``create_plan``, ``create_intraday_plan``, ``put_event``,
``cancel_event``), so the same validation, worker pool, time limits and
errors apply; a problem's ``errors[].reason`` is shown next to its field.

The views, one module each with its router: :mod:`~service.dashboard.today`
(the day's plan and the comparison of two), :mod:`~service.dashboard.events`,
:mod:`~service.dashboard.network`, :mod:`~service.dashboard.studies`
(start, follow and cancel study and sweep jobs, open their HTML reports),
:mod:`~service.dashboard.alerts` (open and recent alerts, acknowledge) and
:mod:`~service.dashboard.live` (the park's events for the page's notices); what
they share (the signed-in key, the park, rendering) is in
:mod:`~service.dashboard.pages`. This module has the sign-in, language and
static-file routes and mounts it all (:func:`install`).

Pages render from stored plans (nothing is solved on a page load); the
network view runs the AC power flow of a stored plan once in the worker pool
and keeps it (:data:`service.dashboard.network.NETWORK_CACHE_SIZE` plans).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from service.api.deps import SessionDep, SettingsDep
from service.api.problems import Unauthorized
from service.api.security import authenticate
from service.dashboard import alerts, events, live, network, studies, today
from service.dashboard.i18n import LANG_COOKIE, LANGUAGES, translator
from service.dashboard.pages import HERE, KEY_COOKIE, ParkNotAllowed, SignInRequired, page_language, render

KEY_COOKIE_MAX_AGE_S = 12 * 3600
"""A sign-in lasts a control-room shift at most."""
STATIC_FILES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


def plotly_js_path() -> Path:
    """``plotly.min.js`` as the installed ``plotly`` package ships it."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def _safe_next(path: str | None) -> str:
    """A local path to return to (never another site)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/today"
    return path


# --------------------------------------------------------------------------- sign-in, language, static files


router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/today", status_code=303)


@router.get("/signin")
def signin_form(request: Request, reason: str | None = None, next: str | None = None) -> HTMLResponse:
    message = reason if reason in ("signin_needed", "key_invalid", "signed_out") else None
    return render(None, "signin.html", request=request, message=message, error=None, next=_safe_next(next))


@router.post("/signin")
def signin(request: Request, session: SessionDep, settings: SettingsDep,
           api_key: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/today") -> Response:
    token = api_key.strip()
    error = None
    if not token:
        error = "key_missing"
    else:
        try:
            authenticate(session, token, settings.admin_key)
        except Unauthorized:
            error = "key_invalid"
    if error is not None:
        return render(None, "signin.html", status_code=401, request=request, message=None, error=error,
                      next=_safe_next(next))
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(KEY_COOKIE, token, max_age=KEY_COOKIE_MAX_AGE_S, httponly=True, secure=True,
                        samesite="strict", path="/")
    return response


@router.post("/signout")
def signout() -> RedirectResponse:
    response = RedirectResponse("/signin?reason=signed_out", status_code=303)
    response.delete_cookie(KEY_COOKIE, path="/", httponly=True, secure=True, samesite="strict")
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, next: str | None = None) -> RedirectResponse:
    """Keep the language chosen on the page (a cookie for a year); back to ``next``."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", secure=True, path="/")
    return response


@router.get("/static/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(plotly_js_path(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(HERE / "static" / name, media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "no-cache"})


# --------------------------------------------------------------------------- mounting


ROUTERS = (router, today.router, events.router, network.router, studies.router, alerts.router, live.router)
"""The dashboard's routers: sign-in, language and static files, then the views."""


def install(app: FastAPI) -> None:
    """Add the dashboard's pages to ``app``: its routers and the sign-in redirect and 403 page."""
    for view_router in ROUTERS:
        app.include_router(view_router)
    app.state.dashboard_network_cache = OrderedDict()

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        query = urlencode({"reason": exc.reason, "next": exc.next_path})
        response = RedirectResponse(f"/signin?{query}", status_code=303)
        if exc.reason == "key_invalid":
            response.delete_cookie(KEY_COOKIE, path="/", httponly=True, secure=True, samesite="strict")
        return response

    @app.exception_handler(ParkNotAllowed)
    async def _not_allowed(request: Request, exc: ParkNotAllowed) -> Response:
        return render(None, "error.html", status_code=403, request=request,
                      message=translator(page_language(request))("forbidden_park", park=exc.park_id))
