"""``/parks/{park_id}/measurements``: the metered state of a park, the start of its next plans.

Any key of the park sends measurements and reads the latest; listing,
correcting and deleting them takes an admin key (a park's key gets 403).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response, status

from service.api import alerts, measurements, store
from service.api.deps import ParkIdDep, PlannerDep, PrincipalDep, SessionDep, SettingsDep
from service.api.parsing import StrictJsonRoute
from service.api.schemas import PARK_ID_PATTERN, MeasurementCreate, MeasurementOut
from service.api.validation import Offset, RowId, Timestamp

router = APIRouter(prefix="/parks/{park_id}/measurements", tags=["measurements"], route_class=StrictJsonRoute)

AdminParkId = Annotated[str, Path(pattern=PARK_ID_PATTERN, description="The park's id (an admin key: any park).")]

MEASUREMENT_EXAMPLES = {
    "state": {"summary": "Battery SoC and the month's peak import",
              "value": {"measured_at": "2026-07-15T09:55:00+08:00", "soc_kwh": {"b1": 1200, "b2": 300},
                        "month_to_date_peak_kw": 5200}},
    "with meters": {"summary": "Also the thermal store and the metered PV and load",
                    "value": {"measured_at": "2026-07-15T09:55:00+08:00", "soc_kwh": {"b1": 1200},
                              "thermal_soc_kwh": {"ts1": 2500}, "month_to_date_peak_kw": 5200,
                              "pv_kw": 1830.5, "load_kw": 6120.0}},
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=MeasurementOut, summary="Send a measurement",
             responses={422: {"description": "Unknown device id or a value outside its bounds (the field named)"}})
def create_measurement(
    park_id: ParkIdDep, body: Annotated[MeasurementCreate, Body(openapi_examples=MEASUREMENT_EXAMPLES)],
    response: Response, session: SessionDep, principal: PrincipalDep, settings: SettingsDep, planner: PlannerDep,
) -> MeasurementOut:
    """Store the metered state, checked against the park's current version, before the answer.

    The park's alert rules are then evaluated (``GET /parks/{id}/alerts``); an
    alert of a rule with ``replan: true`` that opens re-plans the park
    intraday from this measurement before the answer.

    ``measured_at`` lies from 2000-01-01T00:00Z to at most
    ``MICROGRID_MAX_MEASUREMENT_AHEAD_H`` (24 h) after the server's clock.
    Plans requested without a state start from the newest measurement taken
    at or before their start.
    """
    version = store.get_version(session, park_id)
    row = measurements.add_measurement(session, version, body, principal.key_id, settings.max_measurement_ahead_h)
    alerts.evaluate_park(session, settings, planner, park_id)
    response.headers["Location"] = f"/parks/{park_id}/measurements/latest"
    return measurements.measurement_out(row)


@router.get("/latest", response_model=MeasurementOut, summary="The newest measurement (by measured_at)",
            responses={404: {"description": "No measurement yet"}})
def read_latest_measurement(park_id: ParkIdDep, session: SessionDep) -> MeasurementOut:
    store.get_park(session, park_id)
    return measurements.measurement_out(measurements.latest_or_404(session, park_id))


@router.get("", response_model=list[MeasurementOut], summary="List a park's measurements, newest first (admin)",
            responses={403: {"description": "Not an admin key"}})
def list_measurements(
    park_id: AdminParkId, session: SessionDep, principal: PrincipalDep,
    measured_from: Annotated[Timestamp | None, Query(
        alias="from", description="Only measurements taken at or after this time (ISO 8601 with offset).")] = None,
    measured_to: Annotated[Timestamp | None, Query(
        alias="to", description="Only measurements taken at or before this time (ISO 8601 with offset).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[MeasurementOut]:
    """The park's measurements by ``measured_at``, newest first, optionally within ``from`` … ``to`` (included)."""
    principal.require_admin("listing measurements")
    store.get_park(session, park_id)
    rows = measurements.list_measurements(session, park_id, measured_from, measured_to, limit, offset)
    return [measurements.measurement_out(row) for row in rows]


@router.get("/{measurement_id:int}", response_model=MeasurementOut, summary="Fetch one measurement (admin)",
            responses={403: {"description": "Not an admin key"}, 404: {"description": "No such measurement"}})
def read_measurement(park_id: AdminParkId, measurement_id: RowId, session: SessionDep,
                     principal: PrincipalDep) -> MeasurementOut:
    principal.require_admin("reading a measurement by id")
    store.get_park(session, park_id)
    return measurements.measurement_out(measurements.get_measurement(session, park_id, measurement_id))


@router.put("/{measurement_id:int}", response_model=MeasurementOut, summary="Correct a measurement (admin)",
            responses={403: {"description": "Not an admin key"}, 404: {"description": "No such measurement"},
                       422: {"description": "Unknown device id or a value outside its bounds (the field named)"}})
def replace_measurement(
    park_id: AdminParkId, measurement_id: RowId, body: Annotated[MeasurementCreate, Body(
        openapi_examples=MEASUREMENT_EXAMPLES)],
    session: SessionDep, principal: PrincipalDep, settings: SettingsDep, planner: PlannerDep,
) -> MeasurementOut:
    """Replace every field of a measurement, checked as a new one against the park's current version.

    Its id stays; plans made before keep the state they started from. The park's alert rules are evaluated
    again, as for a new measurement.
    """
    principal.require_admin("correcting a measurement")
    store.get_park(session, park_id)
    row = measurements.get_measurement(session, park_id, measurement_id)
    version = store.get_version(session, park_id)
    row = measurements.replace_measurement(session, row, version, body, settings.max_measurement_ahead_h)
    alerts.evaluate_park(session, settings, planner, park_id)
    return measurements.measurement_out(row)


@router.delete("/{measurement_id:int}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Delete a measurement (admin)",
               responses={403: {"description": "Not an admin key"}, 404: {"description": "No such measurement"}})
def delete_measurement(park_id: AdminParkId, measurement_id: RowId, session: SessionDep,
                       principal: PrincipalDep) -> Response:
    """Delete a measurement: no later plan starts from it; plans that did keep their schedule, their
    ``measurement_id`` becomes null."""
    principal.require_admin("deleting a measurement")
    store.get_park(session, park_id)
    measurements.delete_measurement(session, measurements.get_measurement(session, park_id, measurement_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
