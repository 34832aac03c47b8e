"""``/parks/{park_id}/forecasts``: upload weather, PV, load, heat and wind forecasts; the next plans use them.

See :mod:`service.api.forecasts` for what is checked and which forecast a plan uses.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status

from service.api import forecasts, store
from service.api.deps import ParkIdDep, PlannerDep, PrincipalDep, SessionDep, SettingsDep
from service.api.openapi import WORKER_POOL
from service.api.parsing import StrictJsonRoute
from service.api.forecast_schemas import ForecastCreate, ForecastOut, ForecastSummary
from service.api.validation import Offset, RowId, Timestamp

router = APIRouter(prefix="/parks/{park_id}/forecasts", tags=["forecasts"], route_class=StrictJsonRoute)


def _hours(day: str, hours: int, step_h: float = 1.0) -> list[str]:
    start = dt.datetime.fromisoformat(f"{day}T00:00:00+08:00")
    return [(start + dt.timedelta(hours=i * step_h)).isoformat() for i in range(hours)]


def _sun(hour: float, peak: float) -> float:
    return round(max(0.0, peak * math.sin(math.pi * (hour - 6) / 13)), 1) if 6 < hour < 19 else 0.0


FORECAST_EXAMPLES = {
    "PV total and loads": {
        "summary": "The park's PV as one total (split over the arrays by AC rating) and one load profile, hourly",
        "value": {"issued_at": "2026-07-14T18:00:00+08:00", "kind": "day_ahead", "source": "provider-x",
                  "pv_kw": [{"timestamp": t, "pv_kw": _sun(h, 3800)} for h, t in enumerate(_hours("2026-07-15", 24))],
                  "load_kw": [{"timestamp": t, "ws1_machining_kw": 900.0 if 8 <= h < 20 else 420.0}
                              for h, t in enumerate(_hours("2026-07-15", 24))]},
    },
    "PV per array": {
        "summary": "One column per array (<array_id>_kw); arrays left out come from the weather",
        "value": {"issued_at": "2026-07-15T06:00:00+08:00", "kind": "intraday",
                  "pv_kw": [{"timestamp": t, "pv_ws1_kw": _sun(h, 1200), "pv_ws2_kw": _sun(h, 1100)}
                            for h, t in enumerate(_hours("2026-07-15", 24))]},
    },
    "weather": {
        "summary": "A weather forecast: PV through pvlib, heat-pump COP from temp_air",
        "value": {"issued_at": "2026-07-14T18:00:00+08:00", "source": "nwp",
                  "weather": [{"timestamp": t, "ghi": _sun(h, 850), "temp_air": 30.0, "wind_speed": 2.0}
                              for h, t in enumerate(_hours("2026-07-15", 24))]},
    },
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ForecastOut, summary="Upload a forecast",
             responses={422: {"description": "Bad rows, naive timestamps, unknown array, group or profile ids, "
                                             "weather without what wind needs, too many rows (the field named)"}, **WORKER_POOL})
def create_forecast(
    park_id: ParkIdDep, body: Annotated[ForecastCreate, Body(openapi_examples=FORECAST_EXAMPLES)],
    response: Response, session: SessionDep, settings: SettingsDep, planner: PlannerDep, principal: PrincipalDep,
) -> ForecastOut:
    """Store a forecast, checked against the park's current version, before the answer.

    Each part (``weather``, ``pv_kw``, ``load_kw``, ``heat_kw``, ``wind_kw``)
    is a table of rows with ``timestamp`` (ISO 8601 with offset, the start of
    the step) at any one step length, at most ``MICROGRID_MAX_FORECAST_ROWS``
    rows. Direct parts: mean power over the step [kW], finite, ≥ 0, no gaps;
    ``pv_kw`` has one ``<array_id>_kw`` column per array or one total
    ``pv_kw`` (split over the arrays by AC rating), at most the AC rating;
    ``wind_kw`` likewise per wind turbine group (``<group_id>_kw``, or the
    total ``wind_kw`` split by ``max_p_kw``), at most each group's
    ``max_p_kw``; ``load_kw`` and ``heat_kw`` one column per load or heat
    profile, named as the profile. For a park with wind turbines, a
    ``weather`` part must give the groups that ``wind_kw`` leaves out what
    windpowerlib needs: ``wind_speed`` [m/s] at 10 m, ``temp_air`` [°C] for
    the air density, and ``pressure`` in Pa if given (else the standard
    atmosphere at the site's altitude).

    Plans requested without ``forecast_id`` and without inline forecasts use
    the newest forecast issued by then that covers their whole horizon.
    """
    version = store.get_version(session, park_id)
    row = forecasts.add_forecast(session, settings, planner, version, body, principal.key_id)
    response.headers["Location"] = f"/parks/{park_id}/forecasts/{row.id}"
    return forecasts.forecast_out(row)


@router.get("", response_model=list[ForecastSummary], summary="List a park's forecasts, newest first (no rows)")
def list_forecasts(
    park_id: ParkIdDep, session: SessionDep,
    covers_from: Annotated[Timestamp | None, Query(
        description="Only forecasts covering this time (ISO 8601 with offset): all parts start at or before it.")
    ] = None,
    covers_to: Annotated[Timestamp | None, Query(
        description="Only forecasts covering up to this time: all parts end at or after it.")] = None,
    kind: Annotated[str | None, Query(max_length=64, description="Only forecasts with this kind label.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> list[ForecastSummary]:
    """The park's forecasts by ``issued_at``, newest first, with the periods they cover but not their rows.

    ``covers_from`` and ``covers_to`` together list the forecasts a plan of
    that period could use.
    """
    store.get_park(session, park_id)
    rows = forecasts.list_forecasts(session, park_id, covers_from, covers_to, kind, limit, offset)
    return [forecasts.forecast_summary(row) for row in rows]


@router.get("/{forecast_id}", response_model=ForecastOut, summary="Fetch a forecast with its rows",
            responses={404: {"description": "No such forecast of this park"}})
def read_forecast(park_id: ParkIdDep, forecast_id: RowId, session: SessionDep) -> ForecastOut:
    store.get_park(session, park_id)
    return forecasts.forecast_out(forecasts.get_forecast(session, park_id, forecast_id))


@router.delete("/{forecast_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Delete a forecast (the park's key or an admin)",
               responses={404: {"description": "No such forecast of this park"}})
def delete_forecast(park_id: ParkIdDep, forecast_id: RowId, session: SessionDep) -> Response:
    """Delete a forecast: no later plan uses it; the plans that did keep its ``forecast_id``.

    Any key of the park may delete its forecasts, as it may upload them (an
    admin key too). Its id is never given to another forecast.
    """
    store.get_park(session, park_id)
    session.delete(forecasts.get_forecast(session, park_id, forecast_id))
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
