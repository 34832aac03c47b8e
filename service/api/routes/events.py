"""``/parks/{park_id}/events``: demand-response events, each answered with a re-plan and the park's response.

An event asks the park to ``reduce`` its grid import over a window (at most
``max_import_kw``, or ``reduce_by_kw`` below the baseline) or to ``increase``
it (at least ``increase_by_kw`` above the baseline). Every PUT of a new or
changed event, and every cancellation, re-plans in the worker pool:

* the plan starts from the newest measurement taken at or before the
  window's start, at its time rounded up to the next step; without one, at
  local midnight of the window's first day from the park's initial state;
* it covers max(24 h, through the window's end), within the server's
  ``max_horizon_h`` and the park's data;
* the baseline is the optimal plan without events; the event plan the same
  with the limits of every active event of the park combined per step (the
  smallest cap, the largest minimum; relative amounts from the baseline's
  import). It is stored as a plan of kind ``event``.

The answer gives, per step of the window, the baseline and planned import,
what the event asks (``requested_kw``) and the response (``response_kw``,
baseline − planned for reduce, planned − baseline for increase, ≥ 0), and
whether the park delivers it ``full`` (at every step within 0.5 %),
``partial`` (``delivered_share``) or ``none`` (under 1 % of the energy
asked). A cancelled event asks nothing: its answer is the re-plan of the
remaining events over its window, with zero requested and zero response.
The other active events whose windows lie inside the new plan's horizon are
answered anew from the same plan (their ``plan`` and answer change, their
``version`` does not); one in progress or reaching past the horizon keeps its
answer. ``cost_increase_cny`` is the event plan's cost less the baseline's
(all active events together), ``net_benefit_cny`` the event's incentive less
that.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated
from zoneinfo import ZoneInfo

import pandas as pd
from fastapi import APIRouter, Body, Path, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from microgrid.case import park_from_dict
from microgrid.messages import Message
from microgrid.timeseries import local_day
from service.api import forecasts, measurements, notify, store
from service.api.db import EventRow, MeasurementRow, PlanRow, utc_now
from service.api.deps import ParkIdDep, PlannerDep, PrincipalDep, SessionDep, SettingsDep
from service.api.commitments import active_rows
from service.api.event_jobs import event_job
from service.api.openapi import WORKER_POOL
from service.api.parsing import StrictJsonRoute
from service.api.problems import Conflict, InvalidInput, NotFound, PlanTimeout
from service.api.routes.plans import plan_out
from service.api.schemas import EventIn, EventOut, PARK_ID_PATTERN

router = APIRouter(prefix="/parks/{park_id}/events", tags=["events"], route_class=StrictJsonRoute)

FULL_TOLERANCE = 0.005
"""A step is delivered when its response is at least the request less this share (0.5 %)."""
NONE_SHARE = 0.01
"""Under this share of the energy asked the event is not delivered at all."""
EPS_KW = 1e-6

EventIdPath = Annotated[str, Path(pattern=PARK_ID_PATTERN, description="The client's id of the event.")]

EVENT_EXAMPLES = {
    "peak shaving": {"summary": "Import at most 500 kW from 19:00 to 21:00",
                     "value": {"kind": "reduce", "start": "2026-07-15T19:00:00+08:00",
                               "end": "2026-07-15T21:00:00+08:00", "max_import_kw": 500,
                               "incentive_cny_per_kwh": 3.0, "notified_at": "2026-07-15T09:00:00+08:00"}},
    "valley filling": {"summary": "Consume 100 kW more than planned from 12:00 to 13:00",
                       "value": {"kind": "increase", "start": "2026-07-15T12:00:00+08:00",
                                 "end": "2026-07-15T13:00:00+08:00", "increase_by_kw": 100,
                                 "incentive_cny_per_kwh": 0.5, "notified_at": "2026-07-15T09:00:00+08:00"}},
}


def _event_limits(event_id: str, event: dict) -> dict:
    return {"id": event_id,
            **{k: event.get(k) for k in ("kind", "start", "end", "max_import_kw", "reduce_by_kw", "increase_by_kw")}}


def _baseline_of(result: dict, event_id: str) -> tuple[list[float], dict]:
    """The baseline an event is measured against in an event job's ``result``, and its description."""
    own = result.get("baselines", {}).get(event_id)
    if own is None:
        return result["baseline_import_kw"], {"method": "optimal-plan"}
    return own["kw"], own["description"]


def _meter_readings(session, park_id: str, park, before: dt.datetime) -> dict:
    """What a similar-days baseline needs from the database: the metered import and the other events' days.

    Measurements with ``grid_import_kw`` from ``lookback_days`` + 1 days
    before the window's start up to it; the local days of the park's other
    active events (left out of the similar days). Nothing for an
    ``optimal-plan`` park.
    """
    settings = park.demand_response
    if settings.baseline != "similar-days":
        return {}
    since = before - dt.timedelta(days=settings.lookback_days + 1)
    rows = session.execute(
        select(MeasurementRow.measured_at, MeasurementRow.grid_import_kw)
        .where(MeasurementRow.park_id == park_id, MeasurementRow.grid_import_kw.is_not(None),
               MeasurementRow.measured_at >= since, MeasurementRow.measured_at < before)
        .order_by(MeasurementRow.measured_at))
    tz = ZoneInfo(park.site.timezone)
    days: set[str] = set()
    for row in active_rows(session, park_id):
        first = dt.datetime.fromisoformat(row.body["start"]).astimezone(tz)
        last = (dt.datetime.fromisoformat(row.body["end"]) - dt.timedelta(microseconds=1)).astimezone(tz)
        day = first.date()
        while day <= last.date():
            days.add(day.isoformat())
            day += dt.timedelta(days=1)
    return {"meter_readings": [[when.isoformat(), kw] for when, kw in rows], "event_days": sorted(days)}


def _respond(event: dict | None, window: EventIn, plan: dict, baseline_kw: list[float],
             baseline_cost_cny: float | None = None, baseline: dict | None = None) -> dict:
    """Per-step response over ``window`` and the totals; ``event`` None for a cancelled event (asks nothing).

    ``baseline_kw`` is the baseline per step of the plan (the plan without
    events, or the event's customer baseline inside its window), described by
    ``baseline`` (``method`` and, for similar days, the days and the
    adjustment). ``cost_increase_cny``: the event plan's total cost over its
    horizon less the plan without events' (every active event together: their
    costs cannot be told apart); ``net_benefit_cny``: this event's incentive
    less that.
    """
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    dt_h = plan["kpis"]["dt_h"]
    steps, all_met = [], True
    for row, base in zip(plan["schedule"], baseline_kw):
        stamp = pd.Timestamp(row["timestamp"])
        if not start <= stamp < end:
            continue
        planned = float(row["grid_import_kw"])
        if event is None:
            requested = response = 0.0
        elif event["kind"] == "reduce":
            requested = (max(0.0, base - event["max_import_kw"]) if event.get("max_import_kw") is not None
                         else event["reduce_by_kw"])
            response = max(0.0, base - planned)
        else:
            requested, response = event["increase_by_kw"], max(0.0, planned - base)
        if response < requested * (1 - FULL_TOLERANCE) - EPS_KW:
            all_met = False
        steps.append({"timestamp": row["timestamp"], "baseline_import_kw": base, "planned_import_kw": planned,
                      "requested_kw": requested, "response_kw": response})
    requested_kwh = sum(s["requested_kw"] for s in steps) * dt_h
    response_kwh = sum(s["response_kw"] for s in steps) * dt_h
    if event is None:
        delivery, share = "none", 0.0
    elif requested_kwh <= EPS_KW:
        delivery, share = "full", 1.0
    else:
        share = min(1.0, response_kwh / requested_kwh)
        delivery = "full" if all_met else "none" if response_kwh < NONE_SHARE * requested_kwh else "partial"
    incentive = 0.0 if event is None else response_kwh * event["incentive_cny_per_kwh"]
    cost = plan["kpis"].get("total_cost_cny")
    increase = cost - baseline_cost_cny if cost is not None and baseline_cost_cny is not None else None
    return {"steps": steps, "requested_kwh": requested_kwh, "response_kwh": response_kwh, "delivery": delivery,
            "delivered_share": share, "incentive_cny": incentive, "cost_increase_cny": increase,
            "net_benefit_cny": incentive - increase if increase is not None else None,
            "baseline": baseline or {"method": "optimal-plan"}}


def _replan(park_id: str, window: EventIn, answered: dict | None, active: list[dict], session, settings, planner,
            key_id: int | None, event_id: str) -> tuple[PlanRow, dict]:
    """Solve the baseline and the event plan for ``window`` with the ``active`` events; store the plan (not committed).

    Returns the plan's row and the answer for ``answered`` (None: the event
    ``event_id`` is being cancelled); the other active events whose windows
    lie inside the plan's horizon are answered anew from the same plan
    (:func:`_reanswer_others`).
    """
    received = time.time()
    limit_s = settings.plan_time_limit_s
    version = store.get_version(session, park_id)
    park = park_from_dict(version.document)
    measured = measurements.latest(session, park_id, at_or_before=window.start)
    if measured is not None:
        start = measured.measured_at
        state = measurements.state_for_plan(measured, start, park)
    else:
        day = window.start.astimezone(ZoneInfo(park.site.timezone)).date()
        start = local_day(day, park.site.timezone)[0].to_pydatetime()
        state = {}
    folder = store.version_folder(settings, session, version)
    request = {"start": start.isoformat(), "window_start": window.start.isoformat(),
               "window_end": window.end.isoformat(), "max_horizon_h": settings.max_horizon_h, **state}
    history = _meter_readings(session, park_id, park, window.start)
    # The uploaded forecast, as for plans: the newest issued by now covering max(24 h, to the window's end) from the
    # rounded start, within the server's maximum horizon (the job may cut the horizon shorter at the data's end).
    begins = forecasts.grid_start(folder, park, start)
    horizon_end = min(max(begins + pd.Timedelta(hours=24), window.end),
                      begins + pd.Timedelta(hours=settings.max_horizon_h))
    forecast = forecasts.newest_covering(session, park_id, begins, horizon_end, utc_now())
    session.commit()  # no database connection is held while the worker solves
    grace_s = min(5.0, (settings.http_timeout_s - limit_s) / 2)
    try:
        result = planner.run(event_job, version.document, str(folder),
                             {**request, "warm_start": settings.plan_warm_start, **forecasts.job_fields(forecast),
                              **history},
                             active, received + limit_s,
                             timeout_s=limit_s + grace_s - (time.time() - received))
    except PlanTimeout:
        raise PlanTimeout(Message("no answer within the time limit of {limit_s:g} s; the server is busy or the "
                                  "park too large for the limit: retry later",
                                  limit_s=limit_s)) from None
    plan = result["plan"]
    row = PlanRow(
        park_id=park_id, park_version=version.version, kind="event", plan_date=plan["date"],
        starts_at=plan["start"], ends_at=plan["end"], strategy=plan["strategy"], objective=plan["objective"],
        horizon_h=result["horizon_h"], status=plan["status"], mip_gap=plan["mip_gap"],
        solve_time_s=plan["solve_time_s"], wall_time_s=time.time() - received, time_limit_s=limit_s,
        fallback_reason=None, request={**request, "events": active}, kpis=plan["kpis"],
        measurement_id=measured.id if measured is not None else None,
        forecast_id=forecast.id if forecast is not None else None, slack=plan["slack"],
        schedule=plan["schedule"], decisions=plan.get("decisions"), created_at=utc_now(), created_by_key_id=key_id)
    session.add(row)
    session.flush()
    notify.plan_created(session, row)  # sent once the caller commits the answer
    _reanswer_others(session, park_id, event_id, row, result)
    baseline_kw, baseline = _baseline_of(result, event_id)
    return row, _respond(answered, window, plan, baseline_kw, result.get("baseline_cost_cny"), baseline)


def _reanswer_others(session, park_id: str, event_id: str, row: PlanRow, result: dict) -> None:
    """Answer every other active event whose window lies inside the new plan's horizon from that plan.

    The plan holds all active events' limits, so their stored answers would
    otherwise describe a plan that is no longer the park's. Events whose
    window begins before the plan (in progress) or ends after it keep their
    answers: the plan does not cover them whole.
    """
    plan = result["plan"]
    begins, ends = pd.Timestamp(plan["start"]), pd.Timestamp(plan["end"])
    for other in active_rows(session, park_id, except_id=event_id):
        window = EventIn.model_validate(other.body)
        if begins <= pd.Timestamp(window.start) and pd.Timestamp(window.end) <= ends:
            baseline_kw, baseline = _baseline_of(result, other.id)
            other.answer = _respond(other.body, window, plan, baseline_kw, result.get("baseline_cost_cny"), baseline)
            other.plan_id = row.id
            other.updated_at = utc_now()


def _active(session, park_id: str, except_id: str) -> list[dict]:
    return [_event_limits(row.id, row.body) for row in active_rows(session, park_id, except_id)]


def event_out(session, row: EventRow) -> EventOut:
    plan = session.get(PlanRow, row.plan_id)
    return EventOut(id=row.id, park_id=row.park_id, version=row.version, status=row.status, event=row.body,
                    created_at=row.created_at, updated_at=row.updated_at, plan=plan_out(plan), **row.answer)


def _get(session, park_id: str, event_id: str) -> EventRow:
    store.get_park(session, park_id)
    row = session.get(EventRow, (park_id, event_id))
    if row is None:
        raise NotFound(Message("park {park_id!r} has no event {event_id!r}; list its events with GET "
                               "/parks/{park_id}/events",
                               park_id=park_id, event_id=event_id))
    return row


def apply_event(session, settings, planner, park_id: str, event_id: str, body: EventIn,
                key_id: int | None) -> tuple[EventRow, str]:
    """Store a new or changed event of a park and re-plan with it; the core of ``PUT .../events/{event_id}``.

    Also what the OpenADR VEN calls (:mod:`service.api.openadr`).

    Returns
    -------
    (EventRow, str)
        The event, committed, and what happened: ``created`` (re-planned),
        ``updated`` (a changed body or a cancelled event sent again: re-planned,
        ``version`` + 1) or ``unchanged`` (the same body again: the stored
        answer, no re-plan).

    Raises
    ------
    InvalidInput
        The event on its own is invalid, or longer than the server's horizon (422).
    NotFound
        No such park.
    Conflict
        The same event was stored meanwhile by another request.
    """
    errors = body.errors()
    if body.end - body.start > pd.Timedelta(hours=settings.max_horizon_h):
        errors.append({"field": "end", "reason": Message("the window is longer than the {max_horizon_h:g} h a "
                                                         "plan may cover on this server",
                                                         max_horizon_h=settings.max_horizon_h)})
    if errors:
        raise InvalidInput("; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors=errors)
    document = body.model_dump(mode="json")
    row = session.get(EventRow, (park_id, event_id))
    store.get_park(session, park_id)
    if row is not None and row.body == document and row.status == "active":
        return row, "unchanged"
    active = [*_active(session, park_id, event_id), _event_limits(event_id, document)]
    plan, answer = _replan(park_id, body, document, active, session, settings, planner, key_id, event_id)
    now = utc_now()
    row = session.get(EventRow, (park_id, event_id))
    if row is None:
        row = EventRow(park_id=park_id, id=event_id, version=1, created_at=now)
        session.add(row)
        outcome = "created"
    else:
        row.version += 1
        outcome = "updated"
    row.status, row.body, row.answer, row.plan_id, row.updated_at = "active", document, answer, plan.id, now
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(Message("event {event_id!r} was sent twice at once; send it again", event_id=event_id)) from None
    return row, outcome


def withdraw_event(session, settings, planner, park_id: str, event_id: str, key_id: int | None) -> EventRow:
    """Mark an event cancelled and re-plan its window with the remaining active events; the core of ``DELETE``.

    Idempotent: a cancelled event is returned as stored. Raises
    :class:`NotFound` for an unknown park or event.
    """
    row = _get(session, park_id, event_id)
    if row.status == "cancelled":
        return row
    window = EventIn.model_validate(row.body)
    plan, answer = _replan(park_id, window, None, _active(session, park_id, event_id), session, settings, planner,
                           key_id, event_id)
    row = _get(session, park_id, event_id)
    row.status, row.answer, row.plan_id, row.updated_at = "cancelled", answer, plan.id, utc_now()
    row.version += 1
    session.commit()
    return row


@router.put("/{event_id}", response_model=EventOut, summary="Announce or update a demand-response event",
            responses={200: {"description": "The same event again (the stored answer) or an update (re-planned)"},
                       201: {"description": "A new event, re-planned"},
                       422: {"description": "Invalid event (the field named)"}, **WORKER_POOL})
def put_event(
    park_id: ParkIdDep, event_id: EventIdPath, body: Annotated[EventIn, Body(openapi_examples=EVENT_EXAMPLES)],
    response: Response, session: SessionDep, settings: SettingsDep, planner: PlannerDep, principal: PrincipalDep,
) -> EventOut:
    """Re-plan with the event and answer the park's expected response; idempotent on the event's id.

    The same body again answers the stored event (200, no re-plan); a changed
    body re-plans (``version`` + 1, 200); a cancelled event sent again is
    active again. See the module description for how the plan is made.
    """
    row, outcome = apply_event(session, settings, planner, park_id, event_id, body, principal.key_id)
    if outcome == "unchanged":
        return event_out(session, row)
    if outcome == "created":
        response.status_code = status.HTTP_201_CREATED
    response.headers["Location"] = f"/parks/{park_id}/events/{event_id}"
    return event_out(session, row)


@router.get("", response_model=list[EventOut], summary="List a park's events, newest first")
def list_events(park_id: ParkIdDep, session: SessionDep) -> list[EventOut]:
    store.get_park(session, park_id)
    query = select(EventRow).where(EventRow.park_id == park_id).order_by(EventRow.created_at.desc())
    return [event_out(session, row) for row in session.scalars(query)]


@router.get("/{event_id}", response_model=EventOut, summary="Fetch an event with its last answer")
def read_event(park_id: ParkIdDep, event_id: EventIdPath, session: SessionDep) -> EventOut:
    return event_out(session, _get(session, park_id, event_id))


@router.delete("/{event_id}", response_model=EventOut, summary="Cancel an event and re-plan the others",
               responses={404: {"description": "No such event"}, **WORKER_POOL})
def cancel_event(
    park_id: ParkIdDep, event_id: EventIdPath, session: SessionDep, settings: SettingsDep, planner: PlannerDep,
    principal: PrincipalDep,
) -> EventOut:
    """Mark the event cancelled and re-plan its window with the remaining active events (idempotent)."""
    return event_out(session, withdraw_event(session, settings, planner, park_id, event_id, principal.key_id))
