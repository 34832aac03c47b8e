"""Request and response bodies of forecasts: inline with a plan request (:class:`ForecastsIn`) or uploaded.

Every part is a table of rows, ``timestamp`` (ISO 8601 with offset, the
start of the step; any step length, one per table) and values, units in the
column names. :mod:`service.api.schemas` imports these names, so both
modules give them.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field, model_validator

from microgrid.messages import Message
from service.api.validation import RequestModel, Timestamp

Rows = list[dict[str, float | str | None]]
"""Table rows: ``timestamp`` (ISO 8601 with offset, the start of the step) and the values, units in the names."""

PV_KW = "PV AC power [kW]: <array_id>_kw columns, one total pv_kw, or both (the total equal to the arrays' sum)."
LOAD_KW = "Load [kW]: one column per load profile, named as the profile."
HEAT_KW = "Heat demand [kW of heat]: one column per heat profile."
WIND_KW = ("Wind power [kW]: <group_id>_kw columns for the wind_turbines groups (groups without one come from the "
           "weather), one total wind_kw split over the groups by max_p_kw, or both (the total equal to the groups' "
           "sum); at most each group's max_p_kw.")
WEATHER = ("Weather: PV through pvlib, air-source heat pumps' COP from temp_air, and the wind turbine groups "
           "without a wind_kw column through windpowerlib (wind_speed needed; temp_air for the air density, "
           "pressure [Pa] if measured, else the standard atmosphere at the site's altitude).")


class ForecastsIn(RequestModel):
    """Forecasts that replace the case's data for this plan, as rows with ISO 8601 timestamps.

    ``weather``: ``timestamp`` and the weather CSV columns (``ghi``, ``dni``,
    ``dhi`` [W/m²] or ``cloud_cover`` [%], ``temp_air`` [°C], ``wind_speed``
    [m/s] at 10 m, optionally ``pressure`` [Pa]); ``load_history``: ``timestamp`` and ``<profile>_kw``
    columns of metered history before the plan; ``pv_kw``, ``load_kw``,
    ``heat_kw``, ``wind_kw``: direct forecasts, ``timestamp`` and mean power
    over the step [kW] (see :class:`ForecastCreate`).
    """

    weather: Rows | None = Field(None, description=WEATHER)
    load_history: Rows | None = None
    pv_kw: Rows | None = Field(None, description=PV_KW)
    load_kw: Rows | None = Field(None, description=LOAD_KW)
    heat_kw: Rows | None = Field(None, description=HEAT_KW)
    wind_kw: Rows | None = Field(None, description=WIND_KW)


FORECAST_PARTS = ("weather", "pv_kw", "load_kw", "heat_kw", "wind_kw")
"""The parts an uploaded forecast may hold."""


class ForecastCreate(RequestModel):
    """A forecast for a park: weather and/or PV, load, heat demand and wind power given directly.

    Each part is a table of rows, ``timestamp`` (ISO 8601 with offset, the
    start of the step; any step length, one per table) and values:

    * ``weather``: the weather CSV columns (``ghi``, ``dni``, ``dhi`` [W/m²] or
      ``cloud_cover`` [%], ``temp_air`` [°C], ``wind_speed`` [m/s] at 10 m,
      optionally ``pressure`` [Pa]); PV comes from it through pvlib, air-source heat
      pumps' COP from ``temp_air``, wind power of the turbine groups without
      a ``wind_kw`` column through windpowerlib (such a group needs
      ``wind_speed``, and ``temp_air`` for the air density; checked);
    * ``pv_kw``: PV AC power [kW], one ``<array_id>_kw`` column per array
      (arrays without one come from the weather), or one total ``pv_kw``
      split over the arrays by AC rating, or every array's column and their
      sum ``pv_kw`` (checked); at most the AC rating;
    * ``load_kw``: load [kW], one column per load profile of the park, named
      as the profile (e.g. ``l1_kw``);
    * ``heat_kw``: heat demand [kW of heat], one column per heat profile;
    * ``wind_kw``: wind power [kW], laid out as ``pv_kw``: one
      ``<group_id>_kw`` column per wind turbine group, or one total
      ``wind_kw`` split over the groups by ``max_p_kw``, or both (checked);
      at most each group's ``max_p_kw``.

    Values are means over the step, finite and ≥ 0; a direct part has no gaps.
    """

    issued_at: Timestamp = Field(description="When the forecast was issued (ISO 8601 with offset).")
    kind: str | None = Field(None, max_length=64, description="A label, e.g. day_ahead or intraday.")
    source: str | None = Field(None, max_length=200, description="Where it comes from, e.g. the provider.")
    weather: Rows | None = Field(None, description=WEATHER)
    pv_kw: Rows | None = Field(None, description=PV_KW)
    load_kw: Rows | None = Field(None, description=LOAD_KW)
    heat_kw: Rows | None = Field(None, description=HEAT_KW)
    wind_kw: Rows | None = Field(None, description=WIND_KW)

    @model_validator(mode="after")
    def _some_part(self) -> "ForecastCreate":
        if all(getattr(self, part) is None for part in FORECAST_PARTS):
            raise ValueError(Message("a forecast needs at least one of {parts}",
                                     parts=', '.join(FORECAST_PARTS)))
        return self



class ForecastPeriod(BaseModel):
    start: dt.datetime = Field(description="The first step's start.")
    end: dt.datetime = Field(description="The last step's end.")
    rows: int
    columns: list[str]


class ForecastSummary(BaseModel):
    id: int
    park_id: str
    park_version: int = Field(description="The park version the forecast was checked against.")
    issued_at: dt.datetime
    kind: str | None
    source: str | None
    start: dt.datetime = Field(description="Start of the period every part covers.")
    end: dt.datetime = Field(description="End of the period every part covers.")
    parts: dict[str, ForecastPeriod]
    created_at: dt.datetime


class ForecastOut(ForecastSummary):
    """A forecast with its rows, as they were sent."""

    weather: Rows | None = None
    pv_kw: Rows | None = None
    load_kw: Rows | None = None
    heat_kw: Rows | None = None
    wind_kw: Rows | None = None
