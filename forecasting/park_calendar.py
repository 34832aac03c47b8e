"""Calendar of a park: day types from the Chinese holiday schedule, reference days, clock-time lookups.

Day types (:data:`DAY_TYPES`), from the maintained ``chinesecalendar`` package
(import name ``chinese_calendar``), which carries the State Council's holiday
and make-up working-day schedule year by year:

``"workday"``
    an ordinary working day, Monday to Friday;
``"makeup_workday"``
    an official make-up working day (调休上班) falling on a Saturday or Sunday,
    e.g. 2026-01-04, 02-14, 02-28, 05-09, 09-20, 10-10;
``"saturday"``, ``"sunday"``
    an ordinary weekend day off;
``"holiday"``
    a day off that belongs to a public holiday (it carries a holiday name in
    ``chinese_calendar.get_holiday_detail``), weekend days inside the holiday
    block included, e.g. 2026-10-01 … 10-07.

With ``calendar="none"`` only weekdays count: Monday–Friday are workdays.

Dates are *local* dates of the park's timezone. A local day may have 23 or
25 hours where the timezone has daylight saving time; values are matched by
local clock time (:func:`same_clock_time`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Literal

import chinese_calendar
import numpy as np
import pandas as pd

from microgrid.errors import ForecastError
from microgrid.messages import Message
from microgrid.timeseries import require_tz_aware

logger = logging.getLogger(__name__)

DAY_TYPES = ("workday", "makeup_workday", "saturday", "sunday", "holiday")
HolidayCalendar = Literal["china", "none"]

#: Day type whose days stand in for each day type in a seasonal naive forecast.
#: Ordinary days use the same weekday; holidays a Sunday; make-up working days
#: the latest ordinary working day.
REFERENCE_TYPE = {"workday": "workday", "saturday": "saturday", "sunday": "sunday",
                  "holiday": "sunday", "makeup_workday": "workday"}


def day_type(day: dt.date, calendar: HolidayCalendar = "china") -> str:
    """Day type of one local date, see the module docstring.

    Raises
    ------
    ForecastError
        The installed ``chinesecalendar`` has no schedule for the year.

    Examples
    --------
    >>> day_type(dt.date(2026, 10, 10)), day_type(dt.date(2026, 10, 3))
    ('makeup_workday', 'holiday')
    """
    weekend = day.weekday() >= 5
    if calendar == "none":
        return ("saturday", "sunday")[day.weekday() - 5] if weekend else "workday"
    if calendar != "china":
        raise ValueError(Message("unknown calendar {calendar!r}; use 'china' or 'none'", calendar=calendar))
    try:
        working = chinese_calendar.is_workday(day)
        _, holiday_name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError as exc:
        raise ForecastError(
            Message("calendar: chinesecalendar has no holiday schedule for {day} ({exc}); upgrade it (pip "
                    "install -U chinesecalendar) once the State Council has published that year",
                    day=day.isoformat(), exc=exc)
        ) from None
    if working:
        return "makeup_workday" if weekend else "workday"
    if holiday_name is not None:
        return "holiday"
    return "saturday" if day.weekday() == 5 else "sunday"


def day_types(days: Iterable[dt.date], calendar: HolidayCalendar = "china") -> pd.Series:
    """Day type of each date, as a Series indexed by the dates."""
    days = list(days)
    return pd.Series([day_type(d, calendar) for d in days], index=days, dtype=object, name="day_type")


def local_dates(index: pd.DatetimeIndex, timezone: str) -> list[dt.date]:
    """The distinct local dates an index touches, in order."""
    local = require_tz_aware(index, "index").tz_convert(timezone)
    return sorted(set(local.date))


def reference_day(day: dt.date, available: Mapping[dt.date, str], target_type: str,
                  min_lag_days: int = 2, max_lookback_days: int = 42) -> dt.date | None:
    """The day whose values a seasonal naive forecast copies for ``day``.

    * ordinary ``workday``, ``saturday``, ``sunday``: the latest day of the
      same weekday and the same type (``day - 7``, or ``day - 14`` when the
      week before was a holiday...);
    * ``holiday``: the latest ordinary Sunday;
    * ``makeup_workday``: the latest ordinary working day;

    always at least ``min_lag_days`` and at most ``max_lookback_days`` before
    ``day``, among ``available`` (date → day type). ``None`` if there is none.
    """
    wanted = REFERENCE_TYPE[target_type]
    same_weekday = target_type in ("workday", "saturday", "sunday")
    for lag in range(max(min_lag_days, 1), max_lookback_days + 1):
        if same_weekday and lag % 7:
            continue
        candidate = day - dt.timedelta(days=lag)
        if available.get(candidate) == wanted:
            return candidate
    return None


def seasonal_naive_reference_days(target_days: Iterable[dt.date], available_days: Iterable[dt.date],
                                  calendar: HolidayCalendar = "china", min_lag_days: int = 2,
                                  max_lookback_days: int = 42) -> dict[dt.date, dt.date | None]:
    """Reference day of each target day (see :func:`reference_day`)."""
    target_days = list(target_days)
    available = day_types(available_days, calendar).to_dict()
    targets = day_types(target_days, calendar)
    return {d: reference_day(d, available, targets[d], min_lag_days, max_lookback_days) for d in target_days}


def same_clock_time(series: pd.Series, target_index: pd.DatetimeIndex, mapping: Mapping[dt.date, dt.date | None],
                    timezone: str, tolerance: pd.Timedelta = pd.Timedelta(hours=1)) -> pd.Series:
    """Values of ``series`` at the same local clock time on the mapped day.

    For each target timestamp on local date ``d``, the value of ``series`` at
    the same local clock time on ``mapping[d]``. Where that clock time does
    not exist on the reference day (the hour skipped when daylight saving
    time starts) the nearest value within ``tolerance`` is taken; where it
    exists twice (the hour repeated when it ends) the first one. Targets
    without a reference day, or without data near it, get NaN.
    """
    tz = timezone
    source = pd.Series(series.to_numpy(dtype=float), index=require_tz_aware(series.index, "series")
                       .tz_convert(tz).tz_localize(None))
    source = source[~source.index.duplicated(keep="first")].sort_index()
    local = require_tz_aware(target_index, "index").tz_convert(tz).tz_localize(None)
    days = local.normalize()
    clock = local - days
    ref = {pd.Timestamp(d): (pd.Timestamp(r) if r is not None else pd.NaT) for d, r in mapping.items()}
    ref_days = pd.DatetimeIndex([ref.get(d, pd.NaT) for d in days])
    lookup = ref_days + clock
    valid = ~lookup.isna()
    values = np.full(len(lookup), np.nan)
    if valid.any() and len(source):
        position = source.index.get_indexer(lookup[valid], method="nearest", tolerance=tolerance)
        found = position >= 0
        # The nearest value must come from the reference day itself, not from its neighbours.
        same_day = np.zeros(len(position), dtype=bool)
        same_day[found] = source.index[position[found]].normalize() == ref_days[valid][found]
        picked = np.full(len(position), np.nan)
        picked[same_day] = source.to_numpy()[position[same_day]]
        values[valid] = picked
    return pd.Series(values, index=target_index, name=series.name)


def calendar_features(index: pd.DatetimeIndex, timezone: str | None = None,
                      calendar: HolidayCalendar = "china") -> pd.DataFrame:
    """Calendar features of each step, for regression models.

    Columns: ``hour`` (local clock hour of the step start, fractional),
    ``weekday`` (0 = Monday), ``day_type``, ``prev_day_type``,
    ``next_day_type`` (codes: positions in :data:`DAY_TYPES`), ``is_day_off``
    (1 for ``saturday``, ``sunday``, ``holiday``).
    """
    tz = timezone or str(require_tz_aware(index, "index").tz)
    local = index.tz_convert(tz)
    dates = pd.Index(local.date)
    first, last = min(dates), max(dates)
    span = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    code = {name: i for i, name in enumerate(DAY_TYPES)}
    types = day_types(span, calendar)
    # The neighbours just outside the index may lie in a year the holiday
    # schedule does not cover yet; they fall back to the weekday.
    for edge in (first - dt.timedelta(days=1), last + dt.timedelta(days=1)):
        try:
            types[edge] = day_type(edge, calendar)
        except ForecastError:
            logger.info("calendar: no holiday schedule for %s; its type comes from the weekday", edge)
            types[edge] = day_type(edge, "none")
    types = types.map(code)
    day_code = types.reindex(dates).to_numpy()
    prev_code = types.reindex([d - dt.timedelta(days=1) for d in dates]).to_numpy()
    next_code = types.reindex([d + dt.timedelta(days=1) for d in dates]).to_numpy()
    off = np.isin(day_code, [code["saturday"], code["sunday"], code["holiday"]]).astype(int)
    return pd.DataFrame({
        "hour": local.hour + local.minute / 60.0,
        "weekday": local.weekday,
        "day_type": day_code,
        "prev_day_type": prev_code,
        "next_day_type": next_code,
        "is_day_off": off,
    }, index=index)
