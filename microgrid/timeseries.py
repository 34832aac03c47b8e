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
from microgrid.messages import Message


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
        raise DataError(Message("{what}: the index must be timestamps, got {name}",
                                what=what, name=type(index).__name__))
    if index.tz is None:
        raise DataError(
            Message("{what}: timestamps have no UTC offset; write them with an offset, e.g. "
                    "2026-07-15T00:00:00+08:00",
                    what=what)
        )
    return index


def increasing_deltas(index: pd.DatetimeIndex, what: str) -> np.ndarray:
    """Spacings of a tz-aware index [ns]; :class:`DataError` unless it has two or more
    timestamps that strictly increase."""
    require_tz_aware(index, what)
    if len(index) < 2:
        raise DataError(Message("{what}: need at least two timestamps to derive the step length", what=what))
    deltas = np.diff(index.asi8)
    if (deltas <= 0).any():
        i = int(np.argmax(deltas <= 0))
        at, before = index[i + 1].isoformat(), index[i].isoformat()
        if deltas[i] == 0:
            raise DataError(Message("{what}: timestamps must be strictly increasing; {at} is repeated after {before}; "
                                    "sort the rows and drop duplicates", what=what, at=at, before=before))
        raise DataError(Message("{what}: timestamps must be strictly increasing; {at} goes back in time after "
                                "{before}; sort the rows and drop duplicates", what=what, at=at, before=before))
    return deltas


def step_hours(index: pd.DatetimeIndex, what: str = "time series") -> float:
    """Length of one step [h], derived from a regular index.

    Raises :class:`DataError` when the index has fewer than two entries, is not
    strictly increasing, or its steps are not all equal.
    """
    deltas = increasing_deltas(index, what)
    if not (deltas == deltas[0]).all():
        i = int(np.argmax(deltas != deltas[0]))
        raise DataError(
            Message("{what}: irregular steps; {first} → {second} differs from the first step of {step}; "
                    "resample to one step length",
                    what=what, first=index[i].isoformat(), second=index[i + 1].isoformat(),
                    step=pd.Timedelta(int(deltas[0]), 'ns'))
        )
    return float(deltas[0]) / 3.6e12


_OFFSET = r"(?:[+-]\d{2}:?\d{2}|Z)$"


def leading_comment_lines(path: Path) -> int:
    """How many lines at the head of a text file start with ``#`` (a file's notes, before the CSV header)."""
    count = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            count += 1
    return count


def read_timestamped_csv(path: Path, what: str | None = None, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV whose ``timestamp`` column holds ISO 8601 times with UTC offset.

    Lines starting with ``#`` before the header are notes (what
    :func:`write_timeseries_csv` writes as ``comments``) and are skipped.

    Returns a frame on a tz-aware index (in the file's offset when it uses one,
    else UTC) with float columns; empty cells become NaN, and everything else
    that is wrong (file missing, not CSV, no ``timestamp``, an empty or naive
    or malformed time, a non-numeric value) raises :class:`DataError`.
    ``text_columns`` are kept as text.
    """
    what = what or path.name
    if not path.exists():
        raise DataError(Message("{what}: file not found at {path}", what=what, path=path))
    try:
        frame = pd.read_csv(path, dtype={"timestamp": str}, skiprows=leading_comment_lines(path))
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(Message("{what}: cannot be read as CSV ({exc})", what=what, exc=exc)) from None
    if "timestamp" not in frame.columns:
        raise DataError(Message("{what}: missing column 'timestamp' (ISO 8601 with UTC offset, start of the step)",
                                what=what))
    raw = frame.pop("timestamp")
    if raw.isna().any():
        row = int(raw.isna().to_numpy().argmax()) + 2
        raise DataError(Message("{what}: empty 'timestamp' on line {row}; every row needs a time",
                                what=what, row=row))
    stamps = _one_offset(raw)
    if stamps is None:
        stamps = _mixed_offsets(raw, what)
    frame.index = stamps
    frame.index.name = "timestamp"
    for column in frame.columns:
        if column in text_columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            at = frame.index[bad.to_numpy()][0].isoformat()
            raise DataError(Message("{what}: column '{column}' has a non-numeric value {value!r} at {at}",
                                    what=what, column=column, value=frame[column][bad].iloc[0], at=at))
        frame[column] = values.astype(float)
    return frame


def _one_offset(raw: pd.Series) -> pd.DatetimeIndex | None:
    """The times of ``raw`` in their one UTC offset, parsed at once; None if not all carry the same offset.

    The fast path of :func:`read_timestamped_csv`: a case's file is a year of
    steps in one offset. Naive times, mixed offsets and malformed times
    return None and are sorted out (with their message) by the slow path.
    """
    try:
        parsed = pd.to_datetime(raw, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        return None
    if not isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return None
    return pd.DatetimeIndex(parsed)


def _mixed_offsets(raw: pd.Series, what: str) -> pd.DatetimeIndex:
    """Times with several offsets in UTC (one offset: in it), or DataError naming the first bad time."""
    raw = raw.str.strip()
    naive = ~raw.str.contains(_OFFSET, regex=True)
    if naive.any():
        raise DataError(
            Message("{what}: column 'timestamp' has a time without UTC offset ({value!r}); write it with an "
                    "offset, e.g. 2026-07-15T00:00:00+08:00",
                    what=what, value=raw[naive].iloc[0])
        )
    try:
        stamps = pd.DatetimeIndex(pd.to_datetime(raw, format="ISO8601", utc=True))
    except (ValueError, TypeError) as exc:
        raise DataError(Message("{what}: column 'timestamp' is not ISO 8601 ({exc})", what=what, exc=exc)) from None
    offsets = raw.str.extract(f"({_OFFSET})")[0].unique()
    if len(offsets) == 1 and offsets[0] not in ("Z", "+00:00", "+0000"):
        stamps = stamps.tz_convert(pd.Timestamp(raw.iloc[0]).tz)
    return stamps


def write_timeseries_csv(frame: pd.DataFrame, path: Path, float_format: str = "%.4f",
                         comments: tuple[str, ...] | list[str] = ()) -> Path:
    """Write ``frame`` with its index as a ``timestamp`` column in ISO 8601 with UTC offset.

    The counterpart of :func:`read_timestamped_csv`: step starts such as
    ``2026-07-15T00:00:00+08:00``. Each of ``comments`` goes on a line of its
    own starting with ``# `` before the header (the file's assumptions, for
    people). Creates the folder if needed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    table = frame.copy()
    table.index = pd.Index([t.isoformat() for t in frame.index], name="timestamp")
    with path.open("w", encoding="utf-8", newline="") as handle:
        for comment in comments:
            for line in str(comment).splitlines() or [""]:
                handle.write(f"# {line}\n")
        table.to_csv(handle, float_format=float_format, lineterminator="\n")
    return path


def read_timeseries_csv(path: Path, what: str | None = None) -> pd.DataFrame:
    """Read a case's data file: :func:`read_timestamped_csv`, with no gap and one step length."""
    what = what or path.name
    frame = read_timestamped_csv(path, what)
    for column in frame.columns:
        missing = frame[column].isna().to_numpy()
        if missing.any():
            at = frame.index[missing][0].isoformat()
            raise DataError(Message("{what}: column '{column}' has a missing value at {at}; fill the gap",
                                    what=what, column=column, at=at))
    step_hours(frame.index, what)
    return frame


def local_day(date: dt.date, timezone: str, horizon_h: float = 24.0) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Start and end of the planning window that begins at local midnight of ``date``.

    Raises :class:`DataError` for a date pandas cannot place in time (before
    1678 or after 2261).
    """
    if not 1678 <= date.year <= 2261:
        raise DataError(Message("date: {date} is outside the range of timestamps (1678–2261); pick a date inside "
                                "the case's data",
                                date=date))
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
            Message("{what}: the period {start} – {end} is outside the data, which covers {first} – {last}; pick "
                    "a date inside it",
                    what=what, start=start.isoformat(), end=end.isoformat(), first=first.isoformat(),
                    last=last.isoformat())
        )
    return window
