"""The dashboard's page machinery: who is signed in, the page's park, rendering, and what the views share.

Pages sign in with an API key kept in an HttpOnly, ``SameSite=Strict``,
``Secure`` cookie (:data:`KEY_COOKIE`). :func:`page_context` authenticates
that key with :func:`service.api.security.authenticate` and shows only the
key's parks; a missing, unknown or revoked key raises :class:`SignInRequired`
(the browser goes to the sign-in page with a message), a park the key may not
use raises :class:`ParkNotAllowed` (a 403 page); both are answered by the
handlers :func:`service.dashboard.routes.install` adds.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import defer

from microgrid.case import park_from_dict
from microgrid.messages import Message
from microgrid.park import Park
from service.api import store
from service.api.db import ParkRow, PlanRow
from service.api.deps import SessionDep, SettingsDep
from service.api.problems import ProblemError, Unauthorized, _field, message_of, split_message
from service.api.security import Principal, authenticate
from service.dashboard import charts
from service.dashboard.i18n import DEFAULT_LANGUAGE, LANG_COOKIE, LANGUAGES, choose, translator
from service.i18n import localize, localize_pydantic

HERE = Path(__file__).resolve().parent
KEY_COOKIE = "mg_key"
PLAN_LIST_LIMIT = 40

environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                 undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


class SignInRequired(Exception):
    """The page needs a valid key: redirect to sign-in with the message ``reason`` (a catalogue key)."""

    def __init__(self, reason: str, next_path: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.next_path = next_path


class ParkNotAllowed(Exception):
    """The key may not use the park asked for (the same answer whether it exists or not)."""

    def __init__(self, park_id: str) -> None:
        super().__init__(park_id)
        self.park_id = park_id


# --------------------------------------------------------------------------- the page's context


@dataclass
class Page:
    """Who is looking, in which language, at which park."""

    request: Request
    lang: str
    principal: Principal
    parks: list[ParkRow]
    park: ParkRow | None = None
    model: Park | None = None
    document: dict = field(default_factory=dict)
    timezone: str = "Asia/Shanghai"

    @property
    def t(self):
        return translator(self.lang)

    def url(self, path: str, **params) -> str:
        """``path`` with the park and ``params`` (None values left out) as query."""
        query = {"park": self.park.id if self.park is not None else None, **params}
        query = {k: v for k, v in query.items() if v is not None and v != ""}
        return f"{path}?{urlencode(query)}" if query else path

    def today(self) -> dt.date:
        return dt.datetime.now(ZoneInfo(self.timezone)).date()


def page_language(request: Request) -> str:
    return choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def page_context(request: Request, session: SessionDep, settings: SettingsDep,
                 park: Annotated[str | None, Query(max_length=64)] = None) -> Page:
    """The signed-in key, its parks and the chosen one (``?park=``, else the first); sign-in or 403 otherwise."""
    next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    token = request.cookies.get(KEY_COOKIE)
    if not token:
        raise SignInRequired("signin_needed", next_path)
    try:
        principal = authenticate(session, token, settings.admin_key)
    except Unauthorized:
        raise SignInRequired("key_invalid", next_path) from None
    query = select(ParkRow).order_by(ParkRow.id)
    if not principal.is_admin:
        query = query.where(ParkRow.id.in_(sorted(principal.park_ids)))
    parks = list(session.scalars(query))
    page = Page(request=request, lang=page_language(request), principal=principal, parks=parks)
    if park is not None and not principal.can_access(park):
        raise ParkNotAllowed(park)
    chosen = next((p for p in parks if p.id == park), None) if park is not None else (parks[0] if parks else None)
    if park is not None and chosen is None:  # an admin asking for a park that does not exist
        raise ParkNotAllowed(park)
    if chosen is not None:
        version = store.get_version(session, chosen.id)
        page.park, page.document = chosen, version.document
        page.model = park_from_dict(version.document)
        page.timezone = page.model.site.timezone
    return page


PageDep = Annotated[Page, Depends(page_context)]


def render(page: Page | None, template: str, status_code: int = 200, request: Request | None = None,
           **context) -> HTMLResponse:
    request = request or page.request
    lang = page.lang if page is not None else page_language(request)
    t = translator(lang)
    html = environment.get_template(template).render(
        page=page, t=t, lang=lang, languages=LANGUAGES, fmt=fmt, pct=pct, path=request.url.path,
        local=lambda stamp: charts.local_time(stamp, page.timezone if page is not None else "UTC"),
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""), **context)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def fmt(value: Any, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals; ``—`` for none."""
    if value is None:
        return "—"
    return f"{float(value):,.{digits}f}"


def pct(value: Any, digits: int = 1) -> str:
    """A ratio (0-1) as a percentage; ``—`` for none."""
    return "—" if value is None else f"{100 * float(value):.{digits}f} %"


def figure_json(figure: dict) -> str:
    """Compact JSON of a figure, safe inside a ``<script type="application/json">`` element."""
    return json.dumps(figure, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")


def problem_errors(exc: Exception, lang: str = DEFAULT_LANGUAGE) -> tuple[str, list[dict[str, str]]]:
    """The detail and ``errors`` (field, reason) of a service problem, a project error or a validation error.

    In ``lang``: the messages through the ``messages`` catalog (:func:`service.i18n.localize`),
    pydantic's through its message templates (:func:`service.i18n.localize_pydantic`).
    """
    if isinstance(exc, ProblemError):
        errors = [{"field": str(e.get("field", "")), "reason": localize(e.get("reason", ""), lang)}
                  for e in exc.errors or []]
        if errors and not isinstance(exc.detail, Message) and lang != DEFAULT_LANGUAGE:
            detail = "; ".join(f"{e['field']}: {e['reason']}" if e["field"] else e["reason"] for e in errors)
        else:
            detail = localize(exc.detail, lang)
        return detail, errors or [{"field": "", "reason": detail}]
    if isinstance(exc, ValidationError):
        errors = [{"field": _field(tuple(e.get("loc", ()))), "reason": localize_pydantic(e, lang)}
                  for e in exc.errors()]
        return "; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors
    detail = localize(message_of(exc), lang)
    return detail, split_message(detail)


def place_errors(exc: Exception, fields: dict[str, str], errors: dict[str, str],
                 lang: str = DEFAULT_LANGUAGE) -> str | None:
    """Put the service's errors of ``exc`` next to the form's fields (``fields``: service field → form field).

    Returns the problem's detail when an error names no field of the form
    (shown above the form), else None.
    """
    detail, items = problem_errors(exc, lang)
    general = None
    for item in items:
        target = fields.get(item["field"].split(".")[0])
        if target is None:
            general = detail
        else:
            errors.setdefault(target, item["reason"])
    return general


# --------------------------------------------------------------------------- plans of a day


def plans_of_day(session, park_id: str, day: dt.date) -> list[PlanRow]:
    """The park's plans of ``day`` (newest first), without their schedules."""
    query = (select(PlanRow).where(PlanRow.park_id == park_id, PlanRow.plan_date == day.isoformat())
             .options(defer(PlanRow.schedule), defer(PlanRow.slack), defer(PlanRow.request))
             .order_by(PlanRow.id.desc()))
    return list(session.scalars(query))


def current_plan(plans: list[PlanRow]) -> PlanRow | None:
    """The plan the park runs: the newest optimal one (day-ahead, intraday or event), else the newest."""
    optimal = [p for p in plans if p.strategy == "optimal"]
    return (optimal or plans or [None])[0]


def plan_of_park(session, page: Page, plan_id: int | None) -> PlanRow | None:
    """Plan ``plan_id`` if it is one of the page's park (None otherwise, or without an id)."""
    if plan_id is None:
        return None
    row = session.get(PlanRow, plan_id)
    return row if row is not None and row.park_id == page.park.id else None


def plan_dt_h(plan: PlanRow) -> float:
    """A plan's step length [h]."""
    if plan.kpis.get("dt_h"):
        return float(plan.kpis["dt_h"])
    stamps = [dt.datetime.fromisoformat(r["timestamp"]) for r in plan.schedule[:2]]
    return (stamps[1] - stamps[0]).total_seconds() / 3600 if len(stamps) == 2 else 1.0


def plan_label(page: Page, plan: PlanRow) -> str:
    """A plan as a list shows it: id, kind, strategy and start."""
    t = page.t
    return (f"#{plan.id} · {t('kind_' + plan.kind)} · {t('strategy_' + plan.strategy)} · "
            f"{t('plan_start')} {charts.local_time(plan.starts_at, page.timezone)}")


def chosen_day(page: Page, date: str | None) -> tuple[dt.date, str | None]:
    """The day ``date`` names (today without one) and an error message if it is not a date."""
    if not date:
        return page.today(), None
    try:
        return dt.date.fromisoformat(date), None
    except ValueError:
        return page.today(), localize(Message("date: {date!r} is not a date (YYYY-MM-DD)", date=date), page.lang)
