"""``/parks/{park_id}/plans``: request day-ahead plans and intraday re-plans, list and fetch past ones."""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import defer

from microgrid.case import park_from_dict
from microgrid.messages import Message
from microgrid.timeseries import local_day
from service.api import forecasts as forecast_store
from service.api import measurements, notify, store
from service.api.db import PlanRow, utc_now
from service.api.deps import ParkIdDep, PlannerDep, PrincipalDep, SessionDep, SettingsDep
from service.api.jobs import plan_job
from service.api.openapi import WORKER_POOL
from service.api.parsing import StrictJsonRoute
from service.api.problems import Conflict, InvalidInput, NotFound, PlanTimeout
from service.api.schemas import IntradayPlanCreate, PlanCreate, PlanOut, PlanSummary
from service.api.validation import Day, Offset, RowId

router = APIRouter(prefix="/parks/{park_id}/plans", tags=["plans"], route_class=StrictJsonRoute)

PLAN_EXAMPLES = {
    "least cost": {"summary": "Least-cost plan for a day", "value": {"date": "2026-07-15"}},
    "state and options": {
        "summary": "With the measured state, another objective and a time limit",
        "value": {"date": "2026-07-15", "objective": "self_consumption", "month_to_date_peak_kw": 5200,
                  "soc_kwh": {"b1": 1200, "b2": 300}, "time_limit_s": 10},
    },
    "rule-based": {"summary": "The inverter's self-consumption mode, for comparison",
                   "value": {"date": "2026-07-15", "strategy": "rule-based"}},
    "weather forecast inline": {
        "summary": "PV from a weather forecast sent with the request (hourly rows here; any step length)",
        "value": {"date": "2026-07-15", "forecasts": {"weather": [
            {"timestamp": f"2026-07-{15 + hour // 24}T{hour % 24:02d}:00:00+08:00",
             "ghi": round(max(0.0, 850 * math.sin(math.pi * (hour - 5.5) / 14)), 1) if 5.5 < hour < 19.5 else 0.0,
             "temp_air": round(27.0 + 6 * math.sin(math.pi * (hour - 8) / 12), 1), "wind_speed": 2.0}
            for hour in range(25)]}},
    },
    "uploaded forecast": {
        "summary": "On an uploaded forecast (POST /parks/{id}/forecasts); without forecast_id the newest one "
                   "covering the day is used",
        "value": {"date": "2026-07-15", "forecast_id": 1},
    },
    "PV and load forecasts inline": {
        "summary": "PV (one total, split over the arrays by AC rating) and a load profile given directly, hourly",
        "value": {"date": "2026-07-15", "forecasts": {
            "pv_kw": [{"timestamp": f"2026-07-15T{hour:02d}:00:00+08:00",
                       "pv_kw": round(max(0.0, 3800 * math.sin(math.pi * (hour - 6) / 13)), 1) if 6 < hour < 19
                       else 0.0} for hour in range(24)],
            "load_kw": [{"timestamp": f"2026-07-15T{hour:02d}:00:00+08:00",
                         "ws1_machining_kw": 900.0 if 8 <= hour < 20 else 420.0} for hour in range(24)]}},
    },
    "the park's own data": {
        "summary": "Empty inline forecasts: the park's data files, not the uploaded forecasts",
        "value": {"date": "2026-07-15", "forecasts": {}},
    },
}


def summary_fields(row: PlanRow) -> dict:
    return dict(id=row.id, park_id=row.park_id, park_version=row.park_version, kind=row.kind,
                date=dt.date.fromisoformat(row.plan_date), start=row.starts_at, end=row.ends_at,
                strategy=row.strategy, objective=row.objective, horizon_h=row.horizon_h, status=row.status,
                mip_gap=row.mip_gap, fallback=row.fallback_reason is not None, fallback_reason=row.fallback_reason,
                total_cost_cny=row.kpis.get("total_cost_cny"), measurement_id=row.measurement_id,
                forecast_id=row.forecast_id, created_at=row.created_at)


def plan_out(row: PlanRow) -> PlanOut:
    return PlanOut(**summary_fields(row), solve_time_s=row.solve_time_s, wall_time_s=row.wall_time_s,
                   time_limit_s=row.time_limit_s, request=row.request, kpis=row.kpis, slack=row.slack,
                   schedule=row.schedule, forecast_sources=row.kpis.get("forecast_sources") or {})


def _check_limits(body: PlanCreate, settings) -> float:
    """The request's time limit [s], after the horizon, time-limit and forecast-size guards."""
    if body.horizon_h > settings.max_horizon_h:
        raise InvalidInput(Message("horizon_h: at most {max_horizon_h:g} h on this server, got {horizon_h:g}",
                                   max_horizon_h=settings.max_horizon_h, horizon_h=body.horizon_h),
                           errors=[{"field": "horizon_h", "reason": Message("at most {max_horizon_h:g} h",
                                                                            max_horizon_h=settings.max_horizon_h)}])
    if body.time_limit_s is not None and body.time_limit_s > settings.plan_time_limit_s:
        raise InvalidInput(
            Message("time_limit_s: at most {plan_time_limit_s:g} s on this server, got {time_limit_s:g}",
                    plan_time_limit_s=settings.plan_time_limit_s, time_limit_s=body.time_limit_s),
            errors=[{"field": "time_limit_s", "reason": Message("at most {plan_time_limit_s:g} s",
                                                                plan_time_limit_s=settings.plan_time_limit_s)}])
    if body.forecasts is not None:
        forecast_store.check_row_limits(dict(body.forecasts), settings.max_forecast_rows, prefix="forecasts.")
    return body.time_limit_s or settings.plan_time_limit_s


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PlanOut, summary="Request a day-ahead plan",
             responses={422: {"description": "Invalid request or park data"}, **WORKER_POOL})
def create_plan(
    park_id: ParkIdDep, body: Annotated[PlanCreate, Body(openapi_examples=PLAN_EXAMPLES)], response: Response,
    session: SessionDep, settings: SettingsDep, planner: PlannerDep, principal: PrincipalDep,
) -> PlanOut:
    """Plan a day with the park's current version; the plan is stored before the answer.

    Without ``soc_kwh``, ``thermal_soc_kwh`` and ``month_to_date_peak_kw`` the
    plan starts from the newest measurement taken at or before its start
    (``measurement_id``; the peak only within the same month), or, without
    one, from the park's initial values.

    Forecasts: inline ``forecasts`` (rows of ``weather``, ``load_history``,
    ``pv_kw``, ``load_kw``, ``heat_kw``, ``wind_kw``) replace the park's data
    for this plan only. A park with wind turbines gets their power from
    ``wind_kw``, else from the forecast's ``weather`` through windpowerlib
    (``wind_speed``, ``temp_air``, optionally ``pressure``), else from its
    weather file; the schedule has ``wind_available_kw``, ``wind_used_kw``
    and ``wind_curtailment_kw`` per step and the KPIs the wind totals. Otherwise the plan uses an uploaded forecast (``forecast_id``): the
    one named, or, without ``forecast_id``, the newest of the park issued at
    or before this request arrived whose parts all cover the plan's whole
    horizon. It is used as a whole: its parts replace the park's data, the
    rest comes from the data files; forecasts are never mixed. None covers
    it: the park's data. ``"forecasts": {}`` plans on the park's data even
    when a forecast covers the day. The plan records ``forecast_id`` and, in
    ``forecast_sources``, each input that came from a forecast.

    The park's active demand-response events hold: their import limits (as
    their answers fixed them) bind the plan, with priced slack, and
    ``kpis.committed_events`` names them.

    The solve runs in a worker process within ``time_limit_s``. At the limit
    the best plan found is returned with its ``mip_gap`` (status
    ``time_limit``); without any, the rule-based plan, with ``fallback`` true
    and the reason. Only when no answer at all is ready in time: 504.
    """
    received = time.time()
    limit_s = _check_limits(body, settings)
    version = store.get_version(session, park_id)
    folder = store.version_folder(settings, session, version)
    request = body.model_dump(mode="json")
    job_request, measured = dict(request), None
    park = park_from_dict(version.document)
    start = local_day(body.date, park.site.timezone, body.horizon_h)[0].to_pydatetime()
    if not body.explicit_state:
        measured = measurements.latest(session, park_id, at_or_before=start)
        if measured is not None:
            job_request.update(measurements.state_for_plan(measured, start, park))
    forecast = _forecast_for(session, park_id, body, start, received)
    job_request.update(forecast_store.job_fields(forecast))
    return _solve_and_store(park_id, "day_ahead", version, folder, request, job_request, measured, body.horizon_h,
                            limit_s, received, response, session, settings, planner, principal, forecast, start)


def _forecast_for(session, park_id: str, body: PlanCreate | IntradayPlanCreate, start: dt.datetime,
                  received: float):
    """The plan's uploaded forecast: ``forecast_id``'s, else the newest covering its horizon; None with inline ones."""
    if body.forecasts is not None:
        return None
    end = start + dt.timedelta(hours=body.horizon_h)
    return forecast_store.for_plan(session, park_id, body.forecast_id, start, end,
                                   dt.datetime.fromtimestamp(received, dt.timezone.utc))


def _solve_and_store(park_id: str, kind: str, version, folder, request: dict, job_request: dict, measured,
                     horizon_h: float, limit_s: float, received: float, response: Response, session, settings,
                     planner, principal, forecast, begins: dt.datetime) -> PlanOut:
    """Solve ``job_request`` from ``begins`` in the worker pool within ``limit_s``, store the plan, answer it (201).

    The park's active events that end after ``begins`` bind the plan.
    """
    from service.api.commitments import committed_limits

    job_request = {**job_request, "grid_limits": committed_limits(session, park_id, begins)}
    session.commit()  # end the read transaction: no database connection is held while the worker solves
    grace_s = min(5.0, (settings.http_timeout_s - limit_s) / 2)
    try:
        result = planner.run(plan_job, version.document, str(folder),
                             {**job_request, "warm_start": settings.plan_warm_start}, received + limit_s,
                             timeout_s=limit_s + grace_s - (time.time() - received))
    except PlanTimeout:
        raise PlanTimeout(Message("no answer within the request's time limit of {limit_s:g} s; the server is "
                                  "busy or the park too large for the limit: retry later or with a longer "
                                  "time_limit_s",
                                  limit_s=limit_s)) from None
    row = PlanRow(
        park_id=park_id, park_version=version.version, kind=kind, plan_date=result["date"],
        starts_at=result["start"], ends_at=result["end"],
        strategy=result["strategy"], objective=result["objective"], horizon_h=horizon_h,
        status=result["status"], mip_gap=result["mip_gap"], solve_time_s=result["solve_time_s"],
        wall_time_s=time.time() - received, time_limit_s=limit_s, fallback_reason=result["fallback_reason"],
        request=request, kpis=result["kpis"], measurement_id=measured.id if measured is not None else None,
        forecast_id=forecast.id if forecast is not None else None, slack=result["slack"],
        schedule=result["schedule"], decisions=result.get("decisions"),
        created_at=utc_now(), created_by_key_id=principal.key_id,
    )
    session.add(row)
    session.flush()
    notify.plan_created(session, row)  # sent to the park's streams and webhooks once the plan is committed
    session.commit()
    response.headers["Location"] = f"/parks/{park_id}/plans/{row.id}"
    return plan_out(row)


WARM_START_CANDIDATES = 20
"""Newest plans of a park looked at for an intraday re-plan's warm start."""


def previous_plan(session, park_id: str, park_version: int, start: dt.datetime) -> dict | None:
    """The newest optimal plan of the park version that covers ``start``: ``start``, ``decisions``, ``plan_id``.

    An intraday re-plan starts HiGHS from its integer decisions (shifted to
    the new start), as a rolling horizon does from its previous window.
    """
    query = (select(PlanRow).where(PlanRow.park_id == park_id, PlanRow.park_version == park_version,
                                   PlanRow.decisions.is_not(None))
             .options(defer(PlanRow.schedule), defer(PlanRow.slack), defer(PlanRow.request))
             .order_by(PlanRow.id.desc()).limit(WARM_START_CANDIDATES))
    for row in session.scalars(query):
        if dt.datetime.fromisoformat(row.starts_at) <= start < dt.datetime.fromisoformat(row.ends_at):
            return {"start": row.starts_at, "decisions": row.decisions, "plan_id": row.id}
    return None


INTRADAY_EXAMPLES = {
    "from the latest measurement": {"summary": "Re-plan the next 24 h from the newest measured state",
                                    "value": {}},
    "from a time": {"summary": "From 14:00 to midnight",
                    "value": {"start": "2026-07-15T14:00:00+08:00", "horizon_h": 10}},
}


@router.post("/intraday", status_code=status.HTTP_201_CREATED, response_model=PlanOut,
             summary="Re-plan from the latest measured state",
             responses={409: {"description": "No measurement at or before the start"},
                        422: {"description": "Invalid request or park data"}, **WORKER_POOL})
def create_intraday_plan(
    park_id: ParkIdDep, body: Annotated[IntradayPlanCreate, Body(openapi_examples=INTRADAY_EXAMPLES)],
    response: Response, session: SessionDep, settings: SettingsDep, planner: PlannerDep, principal: PrincipalDep,
) -> PlanOut:
    """Plan ``horizon_h`` hours from ``start`` (default: the latest measurement's time) from the measured state.

    The state is the newest measurement at or before ``start`` (without
    ``start``: the newest taken at or before the server's clock, whose time is then the start)
    (``measurement_id``); ``start`` is rounded up to the next step of the
    park's data. Solved like a day-ahead plan (the same strategies, solver,
    time limit and fallback) and stored with ``kind`` ``intraday``. HiGHS
    starts from the newest optimal plan of the park that covers ``start``
    (its integer decisions, shifted), as a rolling horizon does
    (``kpis.warm_start_plan_id``). The park's active demand-response events
    hold, as in a day-ahead plan (``kpis.committed_events``). Forecasts as for a day-ahead plan: inline
    ``forecasts``, else the uploaded ``forecast_id``, else the newest forecast
    issued by now whose parts all cover the re-plan's horizon (from the
    rounded start).
    """
    received = time.time()
    limit_s = _check_limits(body, settings)
    version = store.get_version(session, park_id)
    # without a start: the newest measurement taken by now (one sent ahead of the clock waits until it is due)
    measured = measurements.latest(session, park_id, at_or_before=body.start or utc_now())
    if measured is None:
        if body.start is not None:
            detail = Message("park {park_id!r} has no measurement at or before {start} to start from; send one "
                             "with POST /parks/{park_id}/measurements", park_id=park_id, start=body.start.isoformat())
        else:
            detail = Message("park {park_id!r} has no measurement taken by now to start from; send one with POST "
                             "/parks/{park_id}/measurements", park_id=park_id)
        raise Conflict(detail, errors=[{"field": "start", "reason": Message("no measurement")}])
    folder = store.version_folder(settings, session, version)
    request = body.model_dump(mode="json")
    start = body.start or measured.measured_at
    park = park_from_dict(version.document)
    begins = forecast_store.grid_start(folder, park, start)
    forecast = _forecast_for(session, park_id, body, begins, received)
    job_request = {**request, "start": start.isoformat(), **measurements.state_for_plan(measured, start, park),
                   **forecast_store.job_fields(forecast)}
    if settings.plan_warm_start:
        job_request["previous_plan"] = previous_plan(session, park_id, version.version, begins)
    return _solve_and_store(park_id, "intraday", version, folder, request, job_request, measured, body.horizon_h,
                            limit_s, received, response, session, settings, planner, principal, forecast, begins)


@router.get("", response_model=list[PlanSummary], summary="List a park's plans, newest first")
def list_plans(
    park_id: ParkIdDep, session: SessionDep,
    date: Annotated[Day | None, Query(description="Only plans of this local date.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> list[PlanSummary]:
    store.get_park(session, park_id)
    query = select(PlanRow).where(PlanRow.park_id == park_id)
    if date is not None:
        query = query.where(PlanRow.plan_date == date.isoformat())
    query = query.options(defer(PlanRow.schedule), defer(PlanRow.slack), defer(PlanRow.request))
    query = query.order_by(PlanRow.id.desc()).limit(limit).offset(offset)
    return [PlanSummary(**summary_fields(row)) for row in session.scalars(query)]


@router.get("/{plan_id:int}", response_model=PlanOut, summary="Fetch a plan with its schedule and KPIs")
def read_plan(park_id: ParkIdDep, plan_id: RowId, session: SessionDep) -> PlanOut:
    row = session.get(PlanRow, plan_id)
    if row is None or row.park_id != park_id:
        raise NotFound(Message("park {park_id!r} has no plan {plan_id}; list its plans with GET "
                               "/parks/{park_id}/plans",
                               park_id=park_id, plan_id=plan_id))
    return plan_out(row)
