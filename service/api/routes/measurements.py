"""``/parks/{park_id}/measurements``: the metered state of a park, the start of its next plans."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from service.api import measurements, store
from service.api.deps import ParkIdDep, PrincipalDep, SessionDep
from service.api.schemas import MeasurementCreate, MeasurementOut

router = APIRouter(prefix="/parks/{park_id}/measurements", tags=["measurements"])

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
    response: Response, session: SessionDep, principal: PrincipalDep,
) -> MeasurementOut:
    """Store the metered state, checked against the park's current version, before the answer.

    Plans requested without a state start from the newest measurement taken
    at or before their start.
    """
    version = store.get_version(session, park_id)
    row = measurements.add_measurement(session, version, body, principal.key_id)
    response.headers["Location"] = f"/parks/{park_id}/measurements/latest"
    return measurements.measurement_out(row)


@router.get("/latest", response_model=MeasurementOut, summary="The newest measurement (by measured_at)",
            responses={404: {"description": "No measurement yet"}})
def read_latest_measurement(park_id: ParkIdDep, session: SessionDep) -> MeasurementOut:
    store.get_park(session, park_id)
    return measurements.measurement_out(measurements.latest_or_404(session, park_id))
