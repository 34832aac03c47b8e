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

The studies view starts, follows and cancels study and sweep jobs through
the studies routes and opens their HTML reports.

Pages render from stored plans (nothing is solved on a page load); the
network view runs the AC power flow of a stored plan once in the worker pool
and keeps it (:data:`NETWORK_CACHE_SIZE` plans).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import defer

from microgrid import errors as mg
from microgrid.case import park_from_dict
from microgrid.park import Park
from service.api import store
from service.api.db import EventRow, ParkRow, PlanRow
from service.api.deps import PlannerDep, SessionDep, SettingsDep
from service.api.problems import ProblemError, Unauthorized, _field, split_message
from service.api.routes.events import cancel_event, put_event
from service.api.routes.plans import create_intraday_plan, create_plan
from service.api.routes.studies import cancel_study, list_studies, start_study, study_report
from service.api.schemas import PARK_ID_PATTERN, EventIn, IntradayPlanCreate, PlanCreate
from service.api.security import Principal, authenticate
from service.api.studies import ALL_STRATEGIES, StudyCreate
from service.dashboard import charts
from service.dashboard.i18n import LANG_COOKIE, LANGUAGES, choose, translator
from service.dashboard.jobs import network_job

HERE = Path(__file__).resolve().parent
KEY_COOKIE = "mg_key"
KEY_COOKIE_MAX_AGE_S = 12 * 3600
"""A sign-in lasts a control-room shift at most."""
NETWORK_CACHE_SIZE = 16
PLAN_LIST_LIMIT = 40
STATIC_FILES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


def plotly_js_path() -> Path:
    """``plotly.min.js`` as the installed ``plotly`` package ships it."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                 undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)

router = APIRouter(include_in_schema=False)


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


def _safe_next(path: str | None) -> str:
    """A local path to return to (never another site)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/today"
    return path


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


def problem_errors(exc: Exception) -> tuple[str, list[dict[str, str]]]:
    """The detail and ``errors`` (field, reason) of a service problem, a project error or a validation error."""
    if isinstance(exc, ProblemError):
        return exc.detail, exc.errors or [{"field": "", "reason": exc.detail}]
    if isinstance(exc, ValidationError):
        errors = [{"field": _field(tuple(e.get("loc", ()))), "reason": e.get("msg", "invalid")} for e in exc.errors()]
        return "; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors
    return str(exc), split_message(str(exc))


# --------------------------------------------------------------------------- sign-in, language, static files


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


# --------------------------------------------------------------------------- plans of a day


def _plans_of_day(session, park_id: str, day: dt.date) -> list[PlanRow]:
    query = (select(PlanRow).where(PlanRow.park_id == park_id, PlanRow.plan_date == day.isoformat())
             .options(defer(PlanRow.schedule), defer(PlanRow.slack), defer(PlanRow.request))
             .order_by(PlanRow.id.desc()))
    return list(session.scalars(query))


def current_plan(plans: list[PlanRow]) -> PlanRow | None:
    """The plan the park runs: the newest optimal one (day-ahead, intraday or event), else the newest."""
    optimal = [p for p in plans if p.strategy == "optimal"]
    return (optimal or plans or [None])[0]


def _plan_of_park(session, page: Page, plan_id: int | None) -> PlanRow | None:
    if plan_id is None:
        return None
    row = session.get(PlanRow, plan_id)
    return row if row is not None and row.park_id == page.park.id else None


DAY_BASELINE = "tou-arbitrage"
"""The strategy the day view states a plan's savings against (the TOU rule of C&I storage)."""


def reference_cost(session, plan: PlanRow, baseline: str = DAY_BASELINE) -> float | None:
    """Total cost of the newest ``baseline`` plan over the same start and horizon [CNY], if there is one."""
    query = (select(PlanRow).where(PlanRow.park_id == plan.park_id, PlanRow.strategy == baseline,
                                   PlanRow.starts_at == plan.starts_at, PlanRow.horizon_h == plan.horizon_h)
             .options(defer(PlanRow.schedule), defer(PlanRow.slack)).order_by(PlanRow.id.desc()).limit(1))
    row = session.scalar(query)
    return None if row is None else row.kpis.get("total_cost_cny")


def _dt_h(plan: PlanRow) -> float:
    if plan.kpis.get("dt_h"):
        return float(plan.kpis["dt_h"])
    stamps = [dt.datetime.fromisoformat(r["timestamp"]) for r in plan.schedule[:2]]
    return (stamps[1] - stamps[0]).total_seconds() / 3600 if len(stamps) == 2 else 1.0


def event_windows(session, page: Page, plan: PlanRow) -> list[tuple[str, str]]:
    """Local-time windows of the park's active events that overlap ``plan``."""
    start, end = dt.datetime.fromisoformat(plan.starts_at), dt.datetime.fromisoformat(plan.ends_at)
    windows = []
    for row in session.scalars(select(EventRow).where(EventRow.park_id == page.park.id, EventRow.status == "active")):
        w_start, w_end = dt.datetime.fromisoformat(row.body["start"]), dt.datetime.fromisoformat(row.body["end"])
        if w_start < end and w_end > start:
            windows.append((charts.local_time(max(w_start, start), page.timezone),
                            charts.local_time(min(w_end, end), page.timezone)))
    return windows


def plan_label(page: Page, plan: PlanRow) -> str:
    t = page.t
    return (f"#{plan.id} · {t('kind_' + plan.kind)} · {t('strategy_' + plan.strategy)} · "
            f"{t('plan_start')} {charts.local_time(plan.starts_at, page.timezone)}")


def _day(page: Page, date: str | None) -> tuple[dt.date, str | None]:
    if not date:
        return page.today(), None
    try:
        return dt.date.fromisoformat(date), None
    except ValueError:
        return page.today(), f"date: {date!r} is not a date (YYYY-MM-DD)"


@router.get("/today")
def today_page(page: PageDep, session: SessionDep, date: str | None = None, plan: int | None = None,
               error: str | None = None) -> HTMLResponse:
    if page.park is None:
        return render(page, "empty.html", message="no_parks")
    day, date_error = _day(page, date)
    plans = _plans_of_day(session, page.park.id, day)
    chosen = _plan_of_park(session, page, plan) or current_plan(plans)
    context: dict[str, Any] = {"day": day, "plans": plans, "plan": chosen, "error": error or date_error,
                               "figures": [], "savings": None, "plan_label": lambda p: plan_label(page, p),
                               "baseline": page.t("strategy_" + DAY_BASELINE)}
    if chosen is not None:
        rows, dt_h, tz, t = chosen.schedule, _dt_h(chosen), page.timezone, page.t
        windows = event_windows(session, page, chosen)
        figures = [("balance", charts.balance_figure(rows, tz, dt_h, t, windows)),
                   ("pv", charts.pv_figure(rows, tz, dt_h, t)),
                   ("price", charts.price_figure(rows, tz, dt_h, t, windows))]
        batteries = list(page.model.batteries)
        if batteries:
            figures.append(("soc", charts.storage_figure(rows, tz, dt_h, t, batteries, "soc_kwh", "chart_storage",
                                                         "axis_energy_kwh")))
        stores = list(page.model.thermal_stores)
        if stores:
            figures.append(("thermal", charts.storage_figure(rows, tz, dt_h, t, stores, "soc_th_kwh",
                                                             "chart_thermal", "axis_heat_kwh")))
        context["figures"] = [(name, figure_json(figure)) for name, figure in figures]
        reference = reference_cost(session, chosen) if chosen.strategy != DAY_BASELINE else None
        cost = chosen.kpis.get("total_cost_cny")
        if reference is not None and cost is not None:
            context["savings"] = (reference - cost, (reference - cost) / reference if reference else None)
        context["windows"] = windows
    return render(page, "today.html", **context)


def _replan_error(page: Page, exc: Exception, day: dt.date) -> HTMLResponse:
    detail, _ = problem_errors(exc)
    return RedirectResponse(page.url("/today", date=day.isoformat(), error=detail), status_code=303)


@router.post("/today/plan")
def make_plan(page: PageDep, session: SessionDep, settings: SettingsDep, planner: PlannerDep,
              date: Annotated[str, Form()]) -> Response:
    """The day's optimal plan and its :data:`DAY_BASELINE` reference (the savings), through ``create_plan``."""
    day, date_error = _day(page, date)
    if page.park is None or date_error:
        return RedirectResponse(page.url("/today", error=date_error), status_code=303)
    try:
        create_plan(page.park.id, PlanCreate(date=day, strategy=DAY_BASELINE), Response(), session, settings,
                    planner, page.principal)
        plan = create_plan(page.park.id, PlanCreate(date=day), Response(), session, settings, planner,
                           page.principal)
    except (ProblemError, mg.MicrogridError) as exc:
        return _replan_error(page, exc, day)
    return RedirectResponse(page.url("/today", date=day.isoformat(), plan=plan.id), status_code=303)


@router.post("/today/replan")
def replan(page: PageDep, session: SessionDep, settings: SettingsDep, planner: PlannerDep,
           date: Annotated[str, Form()] = "") -> Response:
    """Re-plan the next 24 h from the latest measurement, through ``create_intraday_plan``."""
    day, _ = _day(page, date)
    if page.park is None:
        return RedirectResponse("/today", status_code=303)
    try:
        plan = create_intraday_plan(page.park.id, IntradayPlanCreate(), Response(), session, settings, planner,
                                    page.principal)
    except (ProblemError, mg.MicrogridError) as exc:
        return _replan_error(page, exc, day)
    return RedirectResponse(page.url("/today", date=plan.date.isoformat(), plan=plan.id), status_code=303)


# --------------------------------------------------------------------------- compare


COMPARE_KPIS = [("kpi_cost", "total_cost_cny", "CNY", 0), ("kpi_energy_cost", "energy_cost_cny", "CNY", 0),
                ("kpi_demand_charge", "demand_charge_cny", "CNY", 0),
                ("kpi_grid_import_kwh", "grid_import_kwh", "kWh", 0),
                ("kpi_grid_export_kwh", "grid_export_kwh", "kWh", 0), ("kpi_peak_import", "peak_import_kw", "kW", 0),
                ("kpi_curtailment_kwh", "curtailment_kwh", "kWh", 0), ("kpi_co2", "co2_kg", "kg", 0),
                ("kpi_self_consumption", "pv_self_consumption_ratio", "%", 1),
                ("kpi_green_share", "green_share_ratio", "%", 1)]


@router.get("/compare")
def compare_page(page: PageDep, session: SessionDep, a: int | None = None, b: int | None = None,
                 error: str | None = None) -> HTMLResponse:
    if page.park is None:
        return render(page, "empty.html", message="no_parks")
    query = (select(PlanRow).where(PlanRow.park_id == page.park.id)
             .options(defer(PlanRow.schedule), defer(PlanRow.slack), defer(PlanRow.request))
             .order_by(PlanRow.id.desc()).limit(PLAN_LIST_LIMIT))
    plans = list(session.scalars(query))
    plan_b = _plan_of_park(session, page, b) or current_plan(plans)
    plan_a = _plan_of_park(session, page, a)
    if plan_a is None and plan_b is not None:  # the same day's reference, else the plan before
        same = [p for p in plans if p.starts_at == plan_b.starts_at and p.id != plan_b.id]
        others = [p for p in plans if p.id != plan_b.id]
        plan_a = next((p for p in same if p.strategy == DAY_BASELINE), None) or (same or others or [None])[0]
    context: dict[str, Any] = {"plans": plans, "a": plan_a, "b": plan_b, "rows": [], "figures": [], "error": error,
                               "day": dt.date.fromisoformat(plan_b.plan_date) if plan_b is not None else page.today(),
                               "plan_label": lambda p: plan_label(page, p), "no_common": False}
    if plan_a is not None and plan_b is not None:
        for key, column, unit, digits in COMPARE_KPIS:
            va, vb = plan_a.kpis.get(column), plan_b.kpis.get(column)
            diff = None if va is None or vb is None else vb - va
            if unit == "%":
                context["rows"].append((key, unit, pct(va, digits), pct(vb, digits),
                                        None if diff is None else f"{100 * diff:+.{digits}f} pp"))
            else:
                context["rows"].append((key, unit, fmt(va, digits), fmt(vb, digits),
                                        None if diff is None else f"{diff:+,.{digits}f}"))
        figures = charts.compare_figures(plan_a.schedule, plan_b.schedule, page.timezone, _dt_h(plan_b), page.t,
                                         f"A #{plan_a.id}", f"B #{plan_b.id}")
        if figures is None:
            context["no_common"] = True
        else:
            context["figures"] = [("import", figure_json(figures[0])), ("diff", figure_json(figures[1]))]
    return render(page, "compare.html", **context)


@router.post("/compare/plan")
def compare_strategy(page: PageDep, session: SessionDep, settings: SettingsDep, planner: PlannerDep,
                     date: Annotated[str, Form()], strategy: Annotated[str, Form()]) -> Response:
    """A day-ahead plan of ``strategy`` (through ``create_plan``) compared with the day's current plan."""
    day, date_error = _day(page, date)
    if page.park is None or date_error:
        return RedirectResponse(page.url("/compare", error=date_error), status_code=303)
    try:
        made = create_plan(page.park.id, PlanCreate(date=day, strategy=strategy), Response(), session, settings,
                           planner, page.principal)
    except (ProblemError, mg.MicrogridError, ValidationError) as exc:
        session.rollback()
        return RedirectResponse(page.url("/compare", error=problem_errors(exc)[0]), status_code=303)
    current = current_plan([p for p in _plans_of_day(session, page.park.id, day) if p.id != made.id])
    if made.strategy == "optimal" or current is None:
        return RedirectResponse(page.url("/compare", b=made.id), status_code=303)
    return RedirectResponse(page.url("/compare", a=made.id, b=current.id), status_code=303)


# --------------------------------------------------------------------------- demand-response events


AMOUNT_KINDS = ("max_import_kw", "reduce_by_kw", "increase_by_kw")
FORM_FIELDS = {"kind": "kind", "start": "start", "end": "end", "incentive_cny_per_kwh": "incentive",
               "notified_at": "notified_at", "event_id": "event_id", **{k: "amount" for k in AMOUNT_KINDS}}
"""The service's field names → the form's fields."""


def _local_input(stamp: dt.datetime, timezone: str) -> str:
    return stamp.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")


def _form_defaults(page: Page) -> dict[str, str]:
    """Tomorrow 19:00-21:00 at most 80 % of today's peak import (an evening peak-shaving request), notified now."""
    now = dt.datetime.now(ZoneInfo(page.timezone)).replace(second=0, microsecond=0)
    start = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(19), tzinfo=ZoneInfo(page.timezone))
    return {"event_id": "", "kind": "reduce", "start": _local_input(start, page.timezone),
            "end": _local_input(start + dt.timedelta(hours=2), page.timezone), "amount_kind": "max_import_kw",
            "amount": "", "incentive": "3.0", "notified_at": _local_input(now, page.timezone)}


def _events_context(page: Page, session, selected: str | None) -> dict[str, Any]:
    rows = list(session.scalars(select(EventRow).where(EventRow.park_id == page.park.id)
                                .order_by(EventRow.created_at.desc())))
    chosen = next((r for r in rows if r.id == selected), None) if selected else (rows[0] if rows else None)
    context: dict[str, Any] = {"events": rows, "chosen": chosen, "answer_figure": None,
                               "window": lambda body: (charts.local_time(body["start"], page.timezone) + " – "
                                                       + charts.local_time(body["end"], page.timezone)[11:]),
                               "amount": _amount_text}
    if chosen is not None and chosen.answer.get("steps"):
        plan = session.get(PlanRow, chosen.plan_id)
        figure = charts.event_figure(chosen.answer["steps"], chosen.body["kind"], page.timezone, _dt_h(plan), page.t,
                                     page.t("answer_title", event=chosen.id))
        context["answer_figure"] = figure_json(figure)
    return context


def _amount_text(body: dict) -> tuple[str, str]:
    """(catalogue key, value) of an event's amount."""
    for name in AMOUNT_KINDS:
        if body.get(name) is not None:
            return name, fmt(body[name])
    return "event_amount", "—"


@router.get("/events")
def events_page(page: PageDep, session: SessionDep, event: str | None = None) -> HTMLResponse:
    if page.park is None:
        return render(page, "empty.html", message="no_parks")
    return render(page, "events.html", form=_form_defaults(page), errors={}, general=None,
                  **_events_context(page, session, event))


def _parse_local(value: str, timezone: str) -> dt.datetime:
    stamp = dt.datetime.fromisoformat(value.strip())
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=ZoneInfo(timezone))
    return stamp


@router.post("/events")
def create_event(
    page: PageDep, session: SessionDep, settings: SettingsDep, planner: PlannerDep,
    kind: Annotated[str, Form()] = "", start: Annotated[str, Form()] = "", end: Annotated[str, Form()] = "",
    amount_kind: Annotated[str, Form()] = "", amount: Annotated[str, Form()] = "",
    incentive: Annotated[str, Form()] = "", notified_at: Annotated[str, Form()] = "",
    event_id: Annotated[str, Form()] = "",
) -> Response:
    """Announce a demand-response event through ``put_event``; field errors shown next to their fields."""
    if page.park is None:
        return RedirectResponse("/events", status_code=303)
    form = {"event_id": event_id, "kind": kind, "start": start, "end": end, "amount_kind": amount_kind,
            "amount": amount, "incentive": incentive, "notified_at": notified_at}
    t = page.t
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"kind": kind}
    for name, value in (("start", start), ("end", end), ("notified_at", notified_at)):
        if not value.strip():
            errors[name] = t("field_value_missing")
            continue
        try:
            body[name] = _parse_local(value, page.timezone).isoformat()
        except ValueError:
            errors[name] = t("field_not_a_time")
    for name, value, target in (("amount", amount, amount_kind if amount_kind in AMOUNT_KINDS else "max_import_kw"),
                                ("incentive", incentive, "incentive_cny_per_kwh")):
        if not value.strip():
            errors[name] = t("field_value_missing")
            continue
        try:
            body[target] = float(value)
        except ValueError:
            errors[name] = t("field_not_a_number")
    general = None
    if not errors:
        stamp = body["start"][:16].replace("-", "").replace(":", "").replace("T", "-")
        identifier = event_id.strip() or f"dash-{stamp}-{secrets.token_hex(2)}"
        try:
            answer = put_event(page.park.id, _event_id(identifier), EventIn.model_validate(body), Response(), session,
                               settings, planner, page.principal)
        except (ProblemError, mg.MicrogridError, ValidationError) as exc:
            session.rollback()
            general = _place_errors(exc, FORM_FIELDS, errors)
        else:
            return RedirectResponse(page.url("/events", event=answer.id), status_code=303)
    return render(page, "events.html", status_code=422, form=form, errors=errors,
                  general=general or t("form_invalid"), **_events_context(page, session, None))


def _place_errors(exc: Exception, fields: dict[str, str], errors: dict[str, str]) -> str | None:
    """Put the service's errors of ``exc`` next to the form's fields (``fields``: service field → form field).

    Returns the problem's detail when an error names no field of the form
    (shown above the form), else None.
    """
    detail, items = problem_errors(exc)
    general = None
    for item in items:
        target = fields.get(item["field"].split(".")[0])
        if target is None:
            general = detail
        else:
            errors.setdefault(target, item["reason"])
    return general


def _event_id(identifier: str) -> str:
    """The event id as typed, checked against the service's path pattern (a field error otherwise)."""
    if not re.match(PARK_ID_PATTERN, identifier):
        raise ProblemError(f"event_id: {identifier!r} is not an id; use 1-64 letters, digits, '_' and '-'",
                           errors=[{"field": "event_id", "reason": "use 1-64 letters, digits, '_' and '-'"}])
    return identifier


@router.post("/events/cancel")
def cancel(page: PageDep, session: SessionDep, settings: SettingsDep, planner: PlannerDep,
           event: Annotated[str, Form()]) -> Response:
    if page.park is None:
        return RedirectResponse("/events", status_code=303)
    try:
        cancel_event(page.park.id, event, session, settings, planner, page.principal)
    except (ProblemError, mg.MicrogridError) as exc:
        session.rollback()
        return render(page, "events.html", status_code=422, form=_form_defaults(page), errors={},
                      general=problem_errors(exc)[0], **_events_context(page, session, event))
    return RedirectResponse(page.url("/events", event=event), status_code=303)


# --------------------------------------------------------------------------- network


@router.get("/network")
def network_page(page: PageDep, session: SessionDep, settings: SettingsDep, planner: PlannerDep,
                 date: str | None = None, plan: int | None = None) -> HTMLResponse:
    if page.park is None:
        return render(page, "empty.html", message="no_parks")
    day, date_error = _day(page, date)
    context: dict[str, Any] = {"day": day, "plan": None, "figures": [], "report": None, "error": date_error,
                               "plans": [], "plan_label": lambda p: plan_label(page, p)}
    if not page.model.network.described:
        return render(page, "network.html", described=False, **context)
    plans = _plans_of_day(session, page.park.id, day)
    chosen = _plan_of_park(session, page, plan) or current_plan(plans)
    context.update(plans=plans, plan=chosen)
    if chosen is not None:
        try:
            report = network_report(page, chosen, session, settings, planner)
        except (ProblemError, mg.MicrogridError) as exc:
            context["error"] = problem_errors(exc)[0]
        else:
            t = page.t
            context["report"] = report
            context["violations"] = [dict(v, local=charts.local_time(v["timestamp"], page.timezone))
                                     for v in report["violations"]]
            figures = charts.network_figures(report["steps"], page.timezone, _dt_h(chosen), t, report["limits"])
            context["figures"] = [(f"net{k}", figure_json(f)) for k, f in enumerate(figures)]
    return render(page, "network.html", described=True, **context)


def network_report(page: Page, plan: PlanRow, session, settings, planner) -> dict:
    """The AC power flow of a stored plan on its park version's network, computed once in the worker pool."""
    cache: OrderedDict = page.request.app.state.dashboard_network_cache
    key = (plan.id, plan.park_version)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    version = store.get_version(session, plan.park_id, plan.park_version)
    folder = store.version_folder(settings, session, version)
    schedule = plan.schedule
    session.commit()  # no database connection is held while the worker computes
    report = planner.run(network_job, version.document, str(folder), schedule, timeout_s=settings.plan_time_limit_s)
    cache[key] = report
    while len(cache) > NETWORK_CACHE_SIZE:
        cache.popitem(last=False)
    return report


# --------------------------------------------------------------------------- studies


STUDY_KPIS = [("kpi_cost", "total_cost_cny", "CNY", 0), ("kpi_savings", "savings_cny", "CNY", 0),
              ("kpi_peak_import", "peak_import_kw", "kW", 0), ("kpi_grid_import_kwh", "grid_import_kwh", "kWh", 0),
              ("kpi_co2", "co2_kg", "kg", 0), ("kpi_self_consumption", "pv_self_consumption_ratio", "%", 1),
              ("kpi_green_share", "green_share_ratio", "%", 1)]
STUDY_FORM_FIELDS = {"kind": "kind", "start": "start", "end": "end", "strategies": "strategies",
                     "replan_h": "replan_h", "horizon_h": "replan_h", "axes": "axis"}
"""The service's field names → the study form's fields (``axes.0.values`` → ``axis``)."""
STUDY_REFRESH_S = 3


def _study_defaults(page: Page) -> dict[str, Any]:
    """Yesterday, three strategies, re-planned every hour; a sweep of the first battery's capacity."""
    yesterday = (page.today() - dt.timedelta(days=1)).isoformat()
    battery = next(iter(page.model.batteries), None) if page.model else None
    return {"kind": "study", "start": yesterday, "end": yesterday, "strategies": ["tou-arbitrage", "mpc"],
            "replan_h": "1", "axis_parameter": f"batteries.{battery}.capacity_kwh" if battery else "",
            "axis_values": ""}


def _studies_context(page: Page, session, settings, selected: int | None) -> dict[str, Any]:
    studies = list_studies(page.park.id, session, settings, limit=PLAN_LIST_LIMIT)
    chosen = next((s for s in studies if s.id == selected), None) if selected else None
    chosen = chosen or next((s for s in studies if s.state == "done"), None)
    table = None
    if chosen is not None and chosen.kpis:
        axes = [axis["parameter"] for axis in chosen.request.get("axes") or []]
        identity = [k for k in ("strategy", *axes) if k in chosen.kpis[0]]
        columns = [(key, column, unit, digits) for key, column, unit, digits in STUDY_KPIS if column in chosen.kpis[0]]
        rows = []
        for record in chosen.kpis:
            cells = [pct(record.get(c), d) if u == "%" else fmt(record.get(c), d) for _, c, u, d in columns]
            rows.append(([str(record.get(k)) for k in identity], cells))
        baseline = chosen.kpis[0].get("baseline") or chosen.request.get("baseline") or "no-control"
        table = {"identity": identity, "columns": columns, "rows": rows, "baseline": page.t("strategy_" + baseline)}
    return {"studies": studies, "chosen": chosen, "table": table, "strategies": ALL_STRATEGIES,
            "refresh_s": STUDY_REFRESH_S if any(s.state in ("queued", "running") for s in studies) else None}


@router.get("/studies")
def studies_page(page: PageDep, session: SessionDep, settings: SettingsDep, study: int | None = None) -> HTMLResponse:
    if page.park is None:
        return render(page, "empty.html", message="no_parks")
    return render(page, "studies.html", form=_study_defaults(page), errors={}, general=None,
                  **_studies_context(page, session, settings, study))


def _number_list(text: str) -> list[Any]:
    """``"0, 2000, 4000"`` → [0, 2000, 4000] (numbers as numbers, ``true``/``false``, else the text)."""
    values: list[Any] = []
    for part in (p.strip() for p in text.replace("，", ",").split(",")):
        if not part:
            continue
        try:
            values.append(json.loads(part))
        except ValueError:
            values.append(part)
    return values


@router.post("/studies")
def create_study(
    request: Request, page: PageDep, session: SessionDep, settings: SettingsDep, planner: PlannerDep,
    kind: Annotated[str, Form()] = "study", start: Annotated[str, Form()] = "", end: Annotated[str, Form()] = "",
    strategies: Annotated[list[str], Form()] = [], replan_h: Annotated[str, Form()] = "",  # noqa: B006
    axis_parameter: Annotated[str, Form()] = "", axis_values: Annotated[str, Form()] = "",
) -> Response:
    """Start a study or a sweep through the studies route (``start_study``); field errors next to their fields."""
    if page.park is None:
        return RedirectResponse("/studies", status_code=303)
    t = page.t
    form = {"kind": kind, "start": start, "end": end, "strategies": strategies, "replan_h": replan_h,
            "axis_parameter": axis_parameter, "axis_values": axis_values}
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"kind": kind, "start": start, "end": end, "strategies": strategies}
    for name in ("start", "end"):
        if not form[name].strip():
            errors[name] = t("field_value_missing")
    if not strategies:
        errors["strategies"] = t("field_choose_one")
    try:
        body["replan_h"] = float(replan_h)
    except ValueError:
        errors["replan_h"] = t("field_not_a_number")
    if kind == "sweep":
        body["axes"] = [{"parameter": axis_parameter.strip(), "values": _number_list(axis_values)}]
    general = None
    if not errors:
        try:
            accepted = start_study(page.park.id, StudyCreate.model_validate(body), Response(), session, settings,
                                   planner, request.app.state.study_runner, page.principal)
        except (ProblemError, mg.MicrogridError, ValidationError) as exc:
            session.rollback()
            general = _place_errors(exc, STUDY_FORM_FIELDS, errors)
        else:
            return RedirectResponse(page.url("/studies", study=accepted.id), status_code=303)
    return render(page, "studies.html", status_code=422, form=form, errors=errors,
                  general=general or t("form_invalid_study"), **_studies_context(page, session, settings, None))


@router.post("/studies/cancel")
def cancel_study_page(request: Request, page: PageDep, session: SessionDep, settings: SettingsDep,
                      study: Annotated[int, Form()]) -> Response:
    if page.park is None:
        return RedirectResponse("/studies", status_code=303)
    try:
        cancel_study(page.park.id, study, session, settings, request.app.state.study_runner)
    except ProblemError as exc:
        session.rollback()
        return render(page, "studies.html", status_code=exc.status, form=_study_defaults(page), errors={},
                      general=exc.detail, **_studies_context(page, session, settings, study))
    return RedirectResponse(page.url("/studies", study=study), status_code=303)


@router.get("/studies/report")
def study_report_page(page: PageDep, session: SessionDep, settings: SettingsDep, study: int) -> Response:
    """A finished study's self-contained HTML report (the studies route's), for the signed-in key's park."""
    if page.park is None:
        return RedirectResponse("/studies", status_code=303)
    try:
        return study_report(page.park.id, study, session, settings)
    except ProblemError as exc:
        return render(page, "error.html", status_code=exc.status, message=exc.detail)


# --------------------------------------------------------------------------- mounting


def install(app: FastAPI) -> None:
    """Add the dashboard's pages to ``app``: its router and the sign-in redirect and 403 page."""
    app.include_router(router)
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
