"""The day's plan (``/today``: its charts and savings, plan and re-plan) and two plans side by side (``/compare``).

Both render stored plans; the forms make plans through the plans routes
(``create_plan``, ``create_intraday_plan``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import defer

from microgrid import errors as mg
from service.api.db import EventRow, PlanRow
from service.api.deps import PlannerDep, SessionDep, SettingsDep
from service.api.problems import ProblemError
from service.api.routes.plans import create_intraday_plan, create_plan
from service.api.schemas import IntradayPlanCreate, PlanCreate
from service.dashboard import charts
from service.dashboard.pages import (PLAN_LIST_LIMIT, Page, PageDep, chosen_day, current_plan, figure_json, fmt,
                                     pct, plan_dt_h, plan_label, plan_of_park, plans_of_day, problem_errors, render)

router = APIRouter(include_in_schema=False)


# --------------------------------------------------------------------------- the day


DAY_BASELINE = "tou-arbitrage"
"""The strategy the day view states a plan's savings against (the TOU rule of C&I storage)."""


def reference_cost(session, plan: PlanRow, baseline: str = DAY_BASELINE) -> float | None:
    """Total cost of the newest ``baseline`` plan over the same start and horizon [CNY], if there is one."""
    query = (select(PlanRow).where(PlanRow.park_id == plan.park_id, PlanRow.strategy == baseline,
                                   PlanRow.starts_at == plan.starts_at, PlanRow.horizon_h == plan.horizon_h)
             .options(defer(PlanRow.schedule), defer(PlanRow.slack)).order_by(PlanRow.id.desc()).limit(1))
    row = session.scalar(query)
    return None if row is None else row.kpis.get("total_cost_cny")


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


@router.get("/today")
def today_page(page: PageDep, session: SessionDep, date: str | None = None, plan: int | None = None,
               error: str | None = None) -> HTMLResponse:
    if page.park is None:
        return render(page, "empty.html", message="no_parks")
    day, date_error = chosen_day(page, date)
    plans = plans_of_day(session, page.park.id, day)
    chosen = plan_of_park(session, page, plan) or current_plan(plans)
    context: dict[str, Any] = {"day": day, "plans": plans, "plan": chosen, "error": error or date_error,
                               "figures": [], "savings": None, "plan_label": lambda p: plan_label(page, p),
                               "baseline": page.t("strategy_" + DAY_BASELINE)}
    if chosen is not None:
        rows, dt_h, tz, t = chosen.schedule, plan_dt_h(chosen), page.timezone, page.t
        windows = event_windows(session, page, chosen)
        figures = [("balance", charts.balance_figure(rows, tz, dt_h, t, windows)),
                   ("pv", charts.pv_figure(rows, tz, dt_h, t))]
        if charts.has_wind(rows):
            figures.append(("wind", charts.wind_figure(rows, tz, dt_h, t)))
        figures.append(("price", charts.price_figure(rows, tz, dt_h, t, windows)))
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
    detail, _ = problem_errors(exc, page.lang)
    return RedirectResponse(page.url("/today", date=day.isoformat(), error=detail), status_code=303)


@router.post("/today/plan")
def make_plan(page: PageDep, session: SessionDep, settings: SettingsDep, planner: PlannerDep,
              date: Annotated[str, Form()]) -> Response:
    """The day's optimal plan and its :data:`DAY_BASELINE` reference (the savings), through ``create_plan``."""
    day, date_error = chosen_day(page, date)
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
    day, _ = chosen_day(page, date)
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
WIND_KPIS = [("kpi_wind_generation_kwh", "wind_generation_kwh", "kWh", 0), ("kpi_wind_used_kwh", "wind_used_kwh", "kWh", 0),
             ("kpi_wind_curtailment_kwh", "wind_curtailment_kwh", "kWh", 0),
             ("kpi_wind_self_consumption", "wind_self_consumption_ratio", "%", 1)]
"""The rows a comparison adds when either plan is of a park with wind turbines (has ``wind_generation_kwh``)."""


def compare_kpis(plan_a: PlanRow, plan_b: PlanRow) -> list[tuple[str, str, str, int]]:
    """The KPI rows of a comparison: :data:`COMPARE_KPIS`, and :data:`WIND_KPIS` when either plan has wind."""
    wind = any("wind_generation_kwh" in p.kpis for p in (plan_a, plan_b))
    return COMPARE_KPIS + (WIND_KPIS if wind else [])


@router.get("/compare")
def compare_page(page: PageDep, session: SessionDep, a: int | None = None, b: int | None = None,
                 error: str | None = None) -> HTMLResponse:
    if page.park is None:
        return render(page, "empty.html", message="no_parks")
    query = (select(PlanRow).where(PlanRow.park_id == page.park.id)
             .options(defer(PlanRow.schedule), defer(PlanRow.slack), defer(PlanRow.request))
             .order_by(PlanRow.id.desc()).limit(PLAN_LIST_LIMIT))
    plans = list(session.scalars(query))
    plan_b = plan_of_park(session, page, b) or current_plan(plans)
    plan_a = plan_of_park(session, page, a)
    if plan_a is None and plan_b is not None:  # the same day's reference, else the plan before
        same = [p for p in plans if p.starts_at == plan_b.starts_at and p.id != plan_b.id]
        others = [p for p in plans if p.id != plan_b.id]
        plan_a = next((p for p in same if p.strategy == DAY_BASELINE), None) or (same or others or [None])[0]
    context: dict[str, Any] = {"plans": plans, "a": plan_a, "b": plan_b, "rows": [], "figures": [], "error": error,
                               "day": dt.date.fromisoformat(plan_b.plan_date) if plan_b is not None else page.today(),
                               "plan_label": lambda p: plan_label(page, p), "no_common": False}
    if plan_a is not None and plan_b is not None:
        for key, column, unit, digits in compare_kpis(plan_a, plan_b):
            va, vb = plan_a.kpis.get(column), plan_b.kpis.get(column)
            diff = None if va is None or vb is None else vb - va
            if unit == "%":
                context["rows"].append((key, unit, pct(va, digits), pct(vb, digits),
                                        None if diff is None else f"{100 * diff:+.{digits}f} pp"))
            else:
                context["rows"].append((key, unit, fmt(va, digits), fmt(vb, digits),
                                        None if diff is None else f"{diff:+,.{digits}f}"))
        figures = charts.compare_figures(plan_a.schedule, plan_b.schedule, page.timezone, plan_dt_h(plan_b), page.t,
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
    day, date_error = chosen_day(page, date)
    if page.park is None or date_error:
        return RedirectResponse(page.url("/compare", error=date_error), status_code=303)
    try:
        made = create_plan(page.park.id, PlanCreate(date=day, strategy=strategy), Response(), session, settings,
                           planner, page.principal)
    except (ProblemError, mg.MicrogridError, ValidationError) as exc:
        session.rollback()
        return RedirectResponse(page.url("/compare", error=problem_errors(exc, page.lang)[0]), status_code=303)
    current = current_plan([p for p in plans_of_day(session, page.park.id, day) if p.id != made.id])
    if made.strategy == "optimal" or current is None:
        return RedirectResponse(page.url("/compare", b=made.id), status_code=303)
    return RedirectResponse(page.url("/compare", a=made.id, b=current.id), status_code=303)
