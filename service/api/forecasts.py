"""Uploaded forecasts of a park: checked against its current version, stored, and chosen for plans.

A forecast holds any of five parts, each a table of rows as sent: ``weather``
(PV through pvlib, heat-pump COP from ``temp_air``, wind power through
windpowerlib), ``pv_kw``, ``load_kw``, ``heat_kw`` and ``wind_kw`` (power
given directly). It is checked in a worker
(:func:`service.api.jobs.check_forecast_job`: the CSV readers' checks, column
ids against the park, values, and for a park with wind turbines the weather
columns windpowerlib needs for the groups ``wind_kw`` leaves to the weather)
before it is stored, with the period each part covers and the period all of
them cover (``starts_at`` – ``ends_at``).

Which forecast a plan uses (:func:`for_plan`): the one named by the
request's ``forecast_id``; otherwise, unless the request has inline
``forecasts``, the newest forecast of the park (by ``issued_at``, then the
latest upload) issued at or before the request arrived whose parts all cover
the plan's whole horizon. That forecast is used as a whole (its parts replace
the park's data; everything it lacks comes from the park's data files); parts
of different forecasts are never mixed.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from microgrid.messages import Message
from microgrid.park import Park
from service.api.db import ForecastRow, ParkVersionRow, utc_now
from service.api.jobs import check_forecast_job
from service.api.problems import InvalidInput, NotFound
from service.api.forecast_schemas import (FORECAST_PARTS, ForecastCreate, ForecastOut, ForecastPeriod,
                                          ForecastSummary)


def check_row_limits(parts: dict[str, list | None], max_rows: int, prefix: str = "") -> None:
    """422 naming the part whose table has more than ``max_rows`` rows (``MICROGRID_MAX_FORECAST_ROWS``)."""
    for name, rows in parts.items():
        if rows is not None and len(rows) > max_rows:
            raise InvalidInput(Message("{prefix}{name}: at most {max_rows} rows, got {rows}; send a shorter "
                                       "period",
                                       prefix=prefix, name=name, max_rows=max_rows, rows=len(rows)),
                               errors=[{"field": f"{prefix}{name}", "reason": Message("too many rows")}])


def add_forecast(session: Session, settings, planner, version: ParkVersionRow, body: ForecastCreate,
                 key_id: int | None) -> ForecastRow:
    """Check ``body`` against ``version`` in a worker and store it; committed."""
    parts = {part: getattr(body, part) for part in FORECAST_PARTS if getattr(body, part) is not None}
    check_row_limits(parts, settings.max_forecast_rows)
    empty = [part for part, rows in parts.items() if not rows]
    if empty:
        raise InvalidInput(Message("{part}: no rows; leave the part out or give its rows", part=empty[0]),
                           errors=[{"field": part, "reason": Message("no rows")} for part in empty])
    session.commit()  # no database connection is held while the worker checks
    checked = planner.run(check_forecast_job, version.document, parts, timeout_s=settings.plan_time_limit_s)
    offset = body.issued_at.utcoffset() or dt.timedelta(0)
    row = ForecastRow(park_id=version.park_id, park_version=version.version,
                      issued_at=body.issued_at.astimezone(dt.timezone.utc),
                      issued_offset_min=round(offset.total_seconds() / 60), kind=body.kind, source=body.source,
                      starts_at=dt.datetime.fromisoformat(checked["start"]),
                      ends_at=dt.datetime.fromisoformat(checked["end"]),
                      periods=checked["periods"], data=parts, created_at=utc_now(), created_by_key_id=key_id)
    session.add(row)
    session.commit()
    return row


def get_forecast(session: Session, park_id: str, forecast_id: int) -> ForecastRow:
    """A forecast of the park, or 404 (also for another park's forecast)."""
    row = session.get(ForecastRow, forecast_id)
    if row is None or row.park_id != park_id:
        raise NotFound(Message("park {park_id!r} has no forecast {forecast_id}; list its forecasts with GET "
                               "/parks/{park_id}/forecasts",
                               park_id=park_id, forecast_id=forecast_id))
    return row


def list_forecasts(session: Session, park_id: str, covers_from: dt.datetime | None, covers_to: dt.datetime | None,
                   kind: str | None, limit: int, offset: int) -> list[ForecastRow]:
    """The park's forecasts, newest first (by ``issued_at``, then id), without their rows."""
    query = select(ForecastRow).where(ForecastRow.park_id == park_id).options(defer(ForecastRow.data))
    if covers_from is not None:
        query = query.where(ForecastRow.starts_at <= covers_from.astimezone(dt.timezone.utc))
    if covers_to is not None:
        query = query.where(ForecastRow.ends_at >= covers_to.astimezone(dt.timezone.utc))
    if kind is not None:
        query = query.where(ForecastRow.kind == kind)
    query = query.order_by(ForecastRow.issued_at.desc(), ForecastRow.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def newest_covering(session: Session, park_id: str, start: dt.datetime, end: dt.datetime,
                    issued_by: dt.datetime) -> ForecastRow | None:
    """The newest forecast issued at or before ``issued_by`` whose parts all cover ``[start, end)``."""
    utc = dt.timezone.utc
    query = select(ForecastRow).where(ForecastRow.park_id == park_id,
                                      ForecastRow.issued_at <= issued_by.astimezone(utc),
                                      ForecastRow.starts_at <= start.astimezone(utc),
                                      ForecastRow.ends_at >= end.astimezone(utc))
    return session.scalars(query.order_by(ForecastRow.issued_at.desc(), ForecastRow.id.desc()).limit(1)).first()


def for_plan(session: Session, park_id: str, forecast_id: int | None, start: dt.datetime, end: dt.datetime,
             issued_by: dt.datetime) -> ForecastRow | None:
    """The forecast a plan of ``[start, end)`` uses: ``forecast_id``'s, else :func:`newest_covering`'s (or None).

    A ``forecast_id`` that is not the park's, or whose parts do not all cover
    the horizon, is a 422 naming ``forecast_id``.
    """
    if forecast_id is None:
        return newest_covering(session, park_id, start, end, issued_by)
    row = session.get(ForecastRow, forecast_id)
    if row is None or row.park_id != park_id:
        raise InvalidInput(Message("forecast_id: park {park_id!r} has no forecast {forecast_id}; list its "
                                   "forecasts with GET /parks/{park_id}/forecasts",
                                   park_id=park_id, forecast_id=forecast_id),
                           errors=[{"field": "forecast_id", "reason": Message("no forecast {forecast_id}",
                                                                              forecast_id=forecast_id)}])
    if row.starts_at > start or row.ends_at < end:
        tz = start.tzinfo
        covered = f"{row.starts_at.astimezone(tz).isoformat()} – {row.ends_at.astimezone(tz).isoformat()}"
        reason = (f"forecast {forecast_id} covers {covered}, not the plan's {start.isoformat()} – "
                  f"{end.isoformat()}")
        raise InvalidInput(Message("forecast_id: {reason}; upload a forecast for the whole plan or plan a "
                                   "shorter horizon",
                                   reason=reason),
                           errors=[{"field": "forecast_id", "reason": reason}])
    return row


def job_fields(row: ForecastRow | None) -> dict[str, Any]:
    """The fields a plan job needs for the forecast ``row`` (its rows and its name in messages)."""
    if row is None:
        return {}
    return {"forecasts": row.data, "forecast_label": f"forecast_{row.id}"}


def grid_start(folder: Path, park: Park, start: dt.datetime) -> dt.datetime:
    """``start`` rounded up to the next step of the park's data, as the plan job rounds it.

    Only the first two rows of the loads file are read (the data were checked
    when the park was registered: one regular step). A start before the data
    is returned as it is (the job then refuses it).
    """
    import pandas as pd

    head = pd.read_csv(folder / park.data.loads, usecols=["timestamp"], nrows=2, dtype=str)
    first, second = (pd.Timestamp(t.strip()) for t in head["timestamp"])
    wanted = pd.Timestamp(start)
    if wanted <= first:
        return wanted.to_pydatetime()
    steps = math.ceil((wanted - first) / (second - first))
    return (first + steps * (second - first)).tz_convert(wanted.tz).to_pydatetime()


def forecast_summary(row: ForecastRow) -> ForecastSummary:
    tz = row.offset
    return ForecastSummary(id=row.id, park_id=row.park_id, park_version=row.park_version,
                           issued_at=row.issued_at.astimezone(tz), kind=row.kind, source=row.source,
                           start=row.starts_at.astimezone(tz), end=row.ends_at.astimezone(tz),
                           parts={k: ForecastPeriod(**v) for k, v in row.periods.items()},
                           created_at=row.created_at)


def forecast_out(row: ForecastRow) -> ForecastOut:
    return ForecastOut(**dict(forecast_summary(row)), **{part: row.data.get(part) for part in FORECAST_PARTS})
