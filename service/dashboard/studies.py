"""Studies and sweeps (``/studies``): start, follow and cancel them, their KPIs, and their HTML reports.

Through the studies routes (``start_study``, ``list_studies``,
``cancel_study``, ``study_report``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from microgrid import errors as mg
from service.api.deps import PlannerDep, SessionDep, SettingsDep
from service.api.problems import ProblemError
from service.api.routes.studies import cancel_study, list_studies, start_study, study_report
from service.api.studies import ALL_STRATEGIES, StudyCreate
from service.dashboard.pages import PLAN_LIST_LIMIT, Page, PageDep, fmt, pct, place_errors, render

router = APIRouter(include_in_schema=False)


STUDY_KPIS = [("kpi_cost", "total_cost_cny", "CNY", 0), ("kpi_savings", "savings_cny", "CNY", 0),
              ("kpi_peak_import", "peak_import_kw", "kW", 0), ("kpi_grid_import_kwh", "grid_import_kwh", "kWh", 0),
              ("kpi_co2", "co2_kg", "kg", 0), ("kpi_self_consumption", "pv_self_consumption_ratio", "%", 1),
              ("kpi_green_share", "green_share_ratio", "%", 1),
              ("kpi_annual_savings", "annual_savings_cny", "unit_cny_per_year", 0), ("kpi_npv", "npv_cny", "CNY", 0),
              ("kpi_irr", "irr", "%", 1), ("kpi_payback", "payback_years", "unit_years", 1),
              ("kpi_discounted_payback", "discounted_payback_years", "unit_years", 1),
              ("kpi_lcoe_pv", "lcoe_pv_cny_per_kwh", "CNY/kWh", 3), ("kpi_lcoe_wind", "lcoe_wind_cny_per_kwh", "CNY/kWh", 3),
              ("kpi_lcos", "lcos_cny_per_kwh", "CNY/kWh", 3)]
"""The KPI columns of a study's table: label key, KPI, unit (a catalogue key when it starts with ``unit_``), digits.
Investment KPIs: :mod:`dispatch.studies.investment`."""
INVESTMENT_KPIS = {key for key, *_ in STUDY_KPIS[7:]}
"""Shown only when some row has them (no LCOE of wind for a park without new wind)."""
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
        columns = [(key, column, page.t(unit) if unit.startswith("unit_") else unit, digits)
                   for key, column, unit, digits in STUDY_KPIS
                   if column in chosen.kpis[0]
                   and (key not in INVESTMENT_KPIS or any(r.get(column) is not None for r in chosen.kpis))]
        rows = []
        for record in chosen.kpis:
            cells = [pct(record.get(c), d) if u == "%" else fmt(record.get(c), d) for _, c, u, d in columns]
            rows.append(([str(record.get(k)) for k in identity], cells))
        baseline = chosen.kpis[0].get("baseline") or chosen.request.get("baseline") or "no-control"
        table = {"identity": identity, "columns": columns, "rows": rows, "baseline": page.t("strategy_" + baseline),
                 "investment": _investment_note(page, chosen.kpis)}
    return {"studies": studies, "chosen": chosen, "table": table, "strategies": ALL_STRATEGIES,
            "refresh_s": STUDY_REFRESH_S if any(s.state in ("queued", "running") for s in studies) else None}


def _investment_note(page: Page, records: list[dict]) -> str | None:
    """What the investment columns are stated against, and the annualisation; ``None`` without them."""
    if not records or "npv_cny" not in records[0]:
        return None
    assets = sorted({str(r.get("new_assets")) for r in records if r.get("new_assets")})
    days = sorted({r["annualised_from_days"] for r in records if r.get("annualised_from_days") is not None})
    return page.t("study_investment_note", assets="; ".join(assets) or "—",
                  days=", ".join(fmt(d, 0) for d in days) or "—")


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
            general = place_errors(exc, STUDY_FORM_FIELDS, errors, page.lang)
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
                      general=problem_errors(exc, page.lang)[0], **_studies_context(page, session, settings, study))
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
