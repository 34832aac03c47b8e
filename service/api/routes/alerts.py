"""``/parks/{park_id}/alerts`` (operator alerts and their lifecycle) and ``/parks/{park_id}/adherence``.

Any key of the park reads, acknowledges, resolves and evaluates its alerts; a
key of another park gets 403, an alert of another park 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from microgrid.case import park_from_dict
from service.api import adherence, alerts, store
from service.api.alert_schemas import AdherenceOut, AlertOut, AlertStatus, EvaluationOut
from service.api.db import AlertRow
from service.api.deps import ParkIdDep, PlannerDep, PrincipalDep, SessionDep, SettingsDep
from service.api.parsing import StrictJsonRoute
from service.api.validation import MAX_ROW_ID, Day, Offset, RowId

router = APIRouter(prefix="/parks/{park_id}", tags=["alerts"], route_class=StrictJsonRoute)

CONFLICT = {409: {"description": "The alert is already resolved"}}


def alert_out(row: AlertRow, park=None) -> AlertOut:
    replan = bool(park is not None and park.alerts.rule(row.rule).replan)
    return AlertOut(id=row.id, park_id=row.park_id, rule=row.rule, subject=row.subject, status=row.status,
                    message=row.message, value=row.value, threshold=row.threshold, unit=row.unit,
                    cny_at_stake=row.cny_at_stake, details=row.details or {}, measurement_id=row.measurement_id,
                    plan_id=row.plan_id, opened_at=row.opened_at, last_seen_at=row.last_seen_at,
                    acknowledged_at=row.acknowledged_at, acknowledged_by=row.acknowledged_by,
                    resolved_at=row.resolved_at, resolution=row.resolution, replan=replan,
                    replan_plan_id=row.replan_plan_id, replan_error=row.replan_error)


def _park(session, park_id: str):
    return park_from_dict(store.get_version(session, park_id).document)


@router.get("/alerts", response_model=list[AlertOut], summary="List a park's alerts, newest first")
def list_alerts(
    park_id: ParkIdDep, session: SessionDep,
    status: Annotated[AlertStatus | None, Query(description="Only alerts in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[AlertOut]:
    park = _park(session, park_id)
    return [alert_out(row, park) for row in alerts.list_alerts(session, park_id, status, limit, offset)]


@router.get("/alerts/{alert_id:int}", response_model=AlertOut, summary="Fetch one alert")
def read_alert(park_id: ParkIdDep, alert_id: RowId, session: SessionDep) -> AlertOut:
    park = _park(session, park_id)
    return alert_out(alerts.get_alert(session, park_id, alert_id), park)


@router.post("/alerts/{alert_id:int}/acknowledge", response_model=AlertOut, summary="Acknowledge an alert",
             responses=CONFLICT)
def acknowledge_alert(park_id: ParkIdDep, alert_id: RowId, session: SessionDep,
                      principal: PrincipalDep) -> AlertOut:
    """open → acknowledged, recording the key and the time; an acknowledged alert is answered unchanged."""
    park = _park(session, park_id)
    return alert_out(alerts.acknowledge(session, alerts.get_alert(session, park_id, alert_id), principal), park)


@router.post("/alerts/{alert_id:int}/resolve", response_model=AlertOut, summary="Resolve an alert by hand",
             responses=CONFLICT)
def resolve_alert(park_id: ParkIdDep, alert_id: RowId, session: SessionDep, principal: PrincipalDep) -> AlertOut:
    """open or acknowledged → resolved (``resolution`` manual). If the cause persists, the next evaluation
    opens a new alert."""
    park = _park(session, park_id)
    return alert_out(alerts.resolve_by_hand(session, alerts.get_alert(session, park_id, alert_id), principal), park)


@router.post("/alerts/evaluate", response_model=EvaluationOut, summary="Evaluate the park's alert rules now")
def evaluate_alerts(park_id: ParkIdDep, session: SessionDep, settings: SettingsDep,
                    planner: PlannerDep) -> EvaluationOut:
    """Evaluate every rule of the park's ``alerts:`` section on its newest measurement, its plans and the
    server's clock, as a posted measurement and the periodic task do. An opened alert of a rule with
    ``replan: true`` makes an intraday re-plan (its id in ``replan_plan_id``, or the reason in
    ``replan_error``)."""
    opened = alerts.evaluate_park(session, settings, planner, park_id)
    park = _park(session, park_id)
    return EvaluationOut(opened=[alert_out(row, park) for row in opened],
                         active=[alert_out(row, park) for row in alerts.active_alerts(session, park_id)])


@router.get("/adherence", response_model=AdherenceOut, summary="Plan against measurement over a day")
def read_adherence(
    park_id: ParkIdDep, session: SessionDep,
    date: Annotated[Day, Query(description="The park's local date (YYYY-MM-DD).")],
    plan_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="Compare with this plan only (default: the plan in "
                                                           "force at each step).")] = None,
) -> AdherenceOut:
    """Each measured step's deviation from the plan in force (the newest optimal plan covering it) and its
    cost, and the day's plan adherence. Definitions: ``service.api.adherence`` and README, Plan adherence."""
    park = _park(session, park_id)
    return AdherenceOut(**adherence.day_adherence(session, park_id, park, date, plan_id))
