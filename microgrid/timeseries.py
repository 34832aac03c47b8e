"""Checks and helpers for the time series the park model consumes.

Conventions (written down once):

* every index is a tz-aware :class:`pandas.DatetimeIndex`; naive ones are
  rejected, never localized silently;
* a timestamp labels the **start** of its step and the value is the mean over
  the step (kW for power, W/m² for irradiance);
* the step length ``dt_h`` is derived from the index, never assumed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from microgrid.errors import DataError


def require_tz_aware(index: pd.Index, what: str) -> pd.DatetimeIndex:
    """Return ``index`` as a tz-aware DatetimeIndex or raise :class:`DataError`.

    Parameters
    ----------
    index : pandas.Index
        Index to check.
    what : str
        Name of the series or file, used in the error message.
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"{what}: the index must be timestamps, got {type(index).__name__}")
    if index.tz is None:
        raise DataError(
            f"{what}: timestamps have no UTC offset; write them with an offset, "
            "e.g. 2026-07-15T00:00:00+08:00"
        )
    return index


def step_hours(index: pd.DatetimeIndex, what: str = "time series") -> float:
    """Length of one step [h], derived from a regular index.

    Raises :class:`DataError` when the index has fewer than two entries, is not
    strictly increasing, or its steps are not all equal.
    """
    require_tz_aware(index, what)
    if len(index) < 2:
        raise DataError(f"{what}: need at least two timestamps to derive the step length")
    deltas = np.diff(index.asi8)
    if (deltas <= 0).any():
        i = int(np.argmax(deltas <= 0))
        raise DataError(
            f"{what}: timestamps must be strictly increasing; "
            f"{index[i + 1].isoformat()} follows {index[i].isoformat()}"
        )
    if not (deltas == deltas[0]).all():
        i = int(np.argmax(deltas != deltas[0]))
        raise DataError(
            f"{what}: irregular steps; {index[i].isoformat()} → {index[i + 1].isoformat()} "
            f"differs from the first step of {pd.Timedelta(int(deltas[0]), 'ns')}; "
            "resample to one step length"
        )
    return float(deltas[0]) / 3.6e12


def read_timeseries_csv(path: Path, what: str | None = None) -> pd.DataFrame:
    """Read a CSV whose first column ``timestamp`` holds ISO 8601 times with offset.

    Returns a frame indexed by tz-aware timestamps (converted to one timezone
    when the file mixes offsets) with float columns.
    """
    what = what or path.name
    if not path.exists():
        raise DataError(f"{what}: file not found at {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{what}: cannot be read as CSV ({exc})") from None
    if "timestamp" not in frame.columns:
        raise DataError(f"{what}: missing column 'timestamp' (ISO 8601 with UTC offset)")
    raw = frame.pop("timestamp").astype(str)
    naive = ~raw.str.contains(r"(?:[+-]\d{2}:?\d{2}|Z)$", regex=True)
    if naive.any():
        first = raw[naive].iloc[0]
        raise DataError(
            f"{what}: column 'timestamp' has a time without UTC offset ({first!r}); "
            "write it with an offset, e.g. 2026-07-15T00:00:00+08:00"
        )
    try:
        stamps = pd.to_datetime(raw, format="ISO8601", utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{what}: column 'timestamp' is not ISO 8601 ({exc})") from None
    offsets = raw.str.extract(r"([+-]\d{2}:?\d{2}|Z)$")[0].unique()
    index = pd.DatetimeIndex(stamps)
    if len(offsets) == 1 and offsets[0] not in ("Z", "+00:00", "+0000"):
        first = pd.Timestamp(raw.iloc[0])
        index = index.tz_convert(first.tz)
    frame.index = index
    frame.index.name = "timestamp"
    for column in frame.columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            at = frame.index[bad.to_numpy()][0].isoformat()
            raise DataError(f"{what}: column '{column}' has a non-numeric value at {at}")
        if values.isna().any():
            at = frame.index[values.isna().to_numpy()][0].isoformat()
            raise DataError(f"{what}: column '{column}' has a missing value at {at}; fill the gap")
        frame[column] = values.astype(float)
    step_hours(frame.index, what)
    return frame


def local_day(date: dt.date, timezone: str, horizon_h: float = 24.0) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Start and end of the planning window that begins at local midnight of ``date``."""
    start = pd.Timestamp(date).tz_localize(timezone)
    return start, start + pd.Timedelta(hours=horizon_h)


def slice_window(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, what: str) -> pd.DataFrame:
    """Rows with ``start <= t < end``; :class:`DataError` unless the window is fully covered."""
    dt_h = step_hours(frame.index, what)
    window = frame.loc[(frame.index >= start) & (frame.index < end)]
    expected = round((end - start) / pd.Timedelta(hours=dt_h))
    if len(window) != expected or len(window) == 0:
        first, last = frame.index[0], frame.index[-1] + pd.Timedelta(hours=dt_h)
        raise DataError(
            f"{what}: the period {start.isoformat()} – {end.isoformat()} is outside the data, "
            f"which covers {first.isoformat()} – {last.isoformat()}; pick a date inside it"
        )
    return window
