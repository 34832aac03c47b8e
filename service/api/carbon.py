"""Carbon metering of a park's month from its stored plans: ``GET /parks/{park_id}/carbon``.

The month's schedule is laid together from the park's stored plans: every
step of the month (its local days) comes from the newest plan (the highest
id) that covers it, so an intraday re-plan replaces the rest of the day-ahead
plan it re-plans, and a day planned again replaces its earlier plan. Each
step keeps the grid factor its plan carried (``co2_kg_per_kwh`` of its
schedule rows). The figures are :func:`dispatch.carbon.carbon_by_day`'s of that
schedule, one row per local day with a plan and the month's total over those
days; scope 1 is the park's current version's fuels over the hours the plans
cover.

Measurements are not used: the service stores them as readings of the state
at an instant (stored energy, the powers at that moment), not as energy
metered over the steps, so they cannot be summed into a month.

A month no plan covers answers 404 (naming the month): a table of zeros
would read as a month without emissions.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy import select

from microgrid.messages import Message
from microgrid.park import Park
from service.api.db import PlanRow
from service.api.problems import Conflict, NotFound

MONTH_PATTERN = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"
"""A month YYYY-MM of the service's years (2000-2099)."""

FORMATS: dict[str, str] = {"json": "application/json", "csv": "text/csv", "html": "text/html"}
"""The answer's formats and their media types."""

Format = Literal["json", "csv", "html"]


class CarbonFigures(BaseModel):
    """The carbon figures of a local day (``date`` YYYY-MM-DD) or of the month (``date`` YYYY-MM)."""

    date: str
    import_kwh: float = Field(description="grid import [kWh]")
    consumption_kwh: float = Field(description="the park's consumption, load_kw × Δt [kWh]")
    renewable_onsite_kwh: float = Field(description="PV (and wind) used on site, neither exported nor curtailed "
                                                    "[kWh]")
    renewable_share: float = Field(description="renewables used on site / (that + grid import)")
    scope1_co2_kg: float = Field(description="fuels burnt on site [kg CO2]")
    scope2_co2_kg: float = Field(description="grid import × each step's grid factor [kg CO2]")
    total_co2_kg: float = Field(description="scope 1 + scope 2 [kg CO2]")
    avoided_co2_kg: float = Field(description="renewables used on site × each step's grid factor; exports not "
                                              "credited [kg CO2]")
    intensity_kg_per_kwh: float | None = Field(description="scope 2 / consumption [kg CO2/kWh]; null without "
                                                           "consumption")
    gec_mwh: float = Field(description="renewable generation delivered (used or exported) [MWh]")
    gec_certificates: int | None = Field(description="whole green electricity certificates of the month; null on "
                                                     "a day")
    co2_kg_per_kwh: float = Field(description="mean grid factor of the steps [kg CO2/kWh]")


class GridFactorOut(BaseModel):
    """The grid factor of the park's current version and its source."""

    co2_kg_per_kwh: float
    scope: str
    region: str
    year: int | None
    source: str
    hourly_co2_kg_per_kwh: list[float] | None
    hourly_source: str | None


class FuelOut(BaseModel):
    """A fuel burnt on site (scope 1) of the park's current version."""

    name: str
    fuel: str
    co2_kg_per_gj: float
    source: str


class CarbonOut(BaseModel):
    """The carbon figures of a month of a park, from its stored plans."""

    park_id: str
    park_version: int = Field(description="the version whose grid factor and fuels are shown and used for scope 1")
    month: str
    month_days: int
    days_covered: int = Field(description="local days of the month with at least one planned step")
    plan_ids: list[int] = Field(description="the plans the steps come from")
    steps: int
    dt_h: float
    grid_factor: GridFactorOut
    factor_source: str = Field(description="the grid factor and its source in one line")
    fuels: list[FuelOut]
    days: list[CarbonFigures]
    month_total: CarbonFigures


def parse_month(month: str) -> tuple[dt.date, dt.date]:
    """First and last day of a validated ``YYYY-MM``."""
    year, number = int(month[:4]), int(month[5:])
    return dt.date(year, number, 1), dt.date(year, number, calendar.monthrange(year, number)[1])


def negotiate(format_: str | None, accept: str | None) -> str:
    """The answer's format: ``format`` when given, else the ``Accept`` media type of highest quality, else JSON.

    >>> negotiate(None, "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
    'html'
    >>> negotiate(None, "application/json;q=0.5, text/csv")
    'csv'
    >>> negotiate("json", "text/csv")
    'json'
    >>> negotiate(None, "*/*")
    'json'
    """
    if format_ is not None:
        return format_
    best, best_q = "json", 0.0
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            if param.lower().startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        for name, media_type in FORMATS.items():
            if media.lower() == media_type and quality > best_q:
                best, best_q = name, quality
    return best


def month_schedule(session, park_id: str, park: Park, month: str, lookback_days: int) -> tuple[pd.DataFrame, float,
                                                                                                list[int]]:
    """The month's schedule from the park's plans (each step from the newest plan covering it), its Δt [h], plan ids.

    Plans dated up to ``lookback_days`` before the month are looked at (a
    long horizon reaches into the month). 404 without any step in the month;
    409 when the plans have different step lengths.
    """
    first, last = parse_month(month)
    tz = park.site.timezone
    begins = pd.Timestamp(first, tz=tz)
    ends = pd.Timestamp(last + dt.timedelta(days=1), tz=tz)
    query = (select(PlanRow).where(PlanRow.park_id == park_id,
                                   PlanRow.plan_date >= (first - dt.timedelta(days=lookback_days)).isoformat(),
                                   PlanRow.plan_date <= last.isoformat())
             .order_by(PlanRow.id))
    frames, steps = [], {}
    for row in session.scalars(query):
        if not row.schedule:
            continue
        frame = pd.DataFrame(row.schedule)
        frame.index = pd.to_datetime(frame.pop("timestamp"), utc=True)
        frame = frame.loc[(frame.index >= begins) & (frame.index < ends)]
        if frame.empty:
            continue
        span_h = (dt.datetime.fromisoformat(row.ends_at) - dt.datetime.fromisoformat(row.starts_at)).total_seconds()
        steps[row.id] = round(span_h / 3600.0 / len(row.schedule), 9)
        frame["plan_id"] = row.id
        frames.append(frame)
    if not frames:
        raise NotFound(Message("month: park {park_id!r} has no plan covering {month}; the figures are of its "
                               "stored plans: request them with POST /parks/{park_id}/plans",
                               park_id=park_id, month=month),
                       errors=[{"field": "month", "reason": Message("no plan covers {month}", month=month)}])
    lengths = sorted(set(steps.values()))
    if len(lengths) > 1:
        raise Conflict(Message("month: the plans of {month} have steps of {lengths} h; carbon figures need one "
                               "step length (plan the month again on the park's current data)",
                               month=month, lengths=', '.join(f'{v:g}' for v in lengths)),
                       errors=[{"field": "month", "reason": Message("plans with different step lengths")}])
    schedule = pd.concat(frames)
    schedule = schedule.loc[~schedule.index.duplicated(keep="last")].sort_index()
    schedule.index.name = "timestamp"
    if park.wind_turbines:
        for column in ("wind_available_kw", "wind_used_kw", "wind_curtailment_kw"):
            schedule[column] = schedule[column].fillna(0.0) if column in schedule else 0.0
    plan_ids = sorted(int(p) for p in schedule["plan_id"].unique())
    return schedule.drop(columns="plan_id"), lengths[0], plan_ids


def _number(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def figures(row: dict) -> CarbonFigures:
    """A row of :func:`dispatch.carbon.carbon_by_day`'s table as the answer's figures (NaN as null)."""
    certificates = _number(row["gec_certificates"])
    return CarbonFigures(**{k: row[k] for k in CarbonFigures.model_fields if k not in (
        "intensity_kg_per_kwh", "gec_certificates")},
        intensity_kg_per_kwh=_number(row["intensity_kg_per_kwh"]),
        gec_certificates=None if certificates is None else int(certificates))


def carbon_out(park_id: str, version: int, park: Park, month: str, table: pd.DataFrame, dt_h: float,
               plan_ids: list[int], steps: int) -> CarbonOut:
    from dispatch.carbon import factor_source, fuels_described

    first, last = parse_month(month)
    rows = table.to_dict(orient="records")
    days = [figures(r) for r in rows if r["period"] == "day"]
    grid = park.carbon.grid
    return CarbonOut(
        park_id=park_id, park_version=version, month=month, month_days=(last - first).days + 1,
        days_covered=len(days), plan_ids=plan_ids, steps=steps, dt_h=dt_h,
        grid_factor=GridFactorOut(co2_kg_per_kwh=grid.co2_kg_per_kwh, scope=grid.scope, region=grid.region,
                                  year=grid.year, source=grid.source, hourly_co2_kg_per_kwh=grid.hourly_co2_kg_per_kwh,
                                  hourly_source=grid.hourly_source),
        factor_source=factor_source(park), fuels=[FuelOut(**f) for f in fuels_described(park)],
        days=days, month_total=figures(next(r for r in rows if r["period"] == "month")))
