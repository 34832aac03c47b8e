"""Checks every weather or meter table passes at the edge, whatever its format.

One function, :func:`check_table`, turns a parsed table into the form the rest
of the package relies on, or raises :class:`~microgrid.errors.DataError` with a
message that names the column and says how to fix it:

* the index is tz-aware, strictly increasing and without duplicates;
* the step is the most common spacing of the timestamps; a spacing that is not
  a whole number of steps is an *irregular step* (resample the data);
* values outside the physical limits of :data:`WEATHER_LIMITS` (or the limits
  given) are errors, except small negative irradiance (down to
  :data:`IRRADIANCE_NEGATIVE_TOLERANCE_W_M2`), the night-time offset of
  thermopile pyranometers, which is set to 0;
* missing rows and empty cells are *gaps*; a gap as long as ``max_gap_h`` or
  shorter is filled by linear interpolation in time (at the ends of the table,
  by the nearest value), a longer one is an error. The length of a gap is the
  time without data: the number of missing steps times the step.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from microgrid.errors import DataError
from microgrid.messages import Message
from microgrid.timeseries import increasing_deltas, require_tz_aware

logger = logging.getLogger(__name__)

#: Physical limits of the weather columns, in the columns' units:
#: irradiance [W/m²], ``temp_air`` [°C], ``wind_speed`` [m/s],
#: ``cloud_cover`` [%], ``pressure`` [Pa]. DNI cannot exceed the extraterrestrial normal
#: irradiance (at most about 1,412 W/m², in early January). The pressure
#: range is that of stations from the sea to about 7 km up: a value outside
#: is hPa or kPa rather than Pa.
WEATHER_LIMITS: dict[str, tuple[float, float]] = {
    "ghi": (0.0, 1500.0),
    "dni": (0.0, 1420.0),
    "dhi": (0.0, 1000.0),
    "temp_air": (-60.0, 70.0),
    "wind_speed": (0.0, 60.0),
    "cloud_cover": (0.0, 100.0),
    "pressure": (40_000.0, 110_000.0),
}

#: Irradiance between this value and 0 [W/m²] is read as 0 (sensor offset).
IRRADIANCE_NEGATIVE_TOLERANCE_W_M2 = -10.0

_IRRADIANCE = ("ghi", "dni", "dhi")


def regular_step(index: pd.DatetimeIndex, what: str) -> pd.Timedelta:
    """The step of a possibly gappy index: the most common spacing.

    Raises :class:`DataError` if the index is naive, has fewer than two
    timestamps, repeats or goes back in time, or has a spacing that is not a
    whole number of steps.
    """
    deltas = increasing_deltas(index, what)
    values, counts = np.unique(deltas, return_counts=True)
    step_ns = int(values[np.argmax(counts)])
    off_grid = deltas % step_ns != 0
    if off_grid.any():
        i = int(np.argmax(off_grid))
        raise DataError(
            Message("{what}: irregular steps; {first} → {second} is not a whole number of the usual step of "
                    "{step}; resample to one step length",
                    what=what, first=index[i].isoformat(), second=index[i + 1].isoformat(),
                    step=pd.Timedelta(step_ns, 'ns'))
        )
    return pd.Timedelta(step_ns, "ns")


def check_table(
    frame: pd.DataFrame,
    what: str,
    *,
    limits: Mapping[str, tuple[float, float]] | None = None,
    max_gap_h: float = 1.0,
) -> pd.DataFrame:
    """Validate a table and fill its short gaps.

    Parameters
    ----------
    frame : pandas.DataFrame
        Numeric columns on a tz-aware index of step starts; NaN marks a
        missing value.
    what : str
        Name of the file or table, used in error messages.
    limits : mapping of str to (float, float), optional
        Inclusive ``(min, max)`` per column, in the column's unit. Defaults to
        :data:`WEATHER_LIMITS`; columns not in it are not range-checked.
    max_gap_h : float, default 1.0
        Longest gap [h] that is filled by interpolation.

    Returns
    -------
    pandas.DataFrame
        Float columns on a regular index (missing rows inserted and filled),
        no NaN.

    Raises
    ------
    DataError
        Naive, unordered or irregular timestamps, a value outside its limits,
        or a gap longer than ``max_gap_h``.
    """
    if max_gap_h < 0:
        raise ValueError(Message("max_gap_h must be >= 0 h, got {max_gap_h}", max_gap_h=max_gap_h))
    limits = WEATHER_LIMITS if limits is None else limits
    index = require_tz_aware(frame.index, what)
    step = regular_step(index, what)
    table = frame.astype(float)
    for column in table.columns:
        if column not in limits:
            continue
        low, high = limits[column]
        values = table[column]
        if column in _IRRADIANCE:
            offset = (values < low) & (values >= low + IRRADIANCE_NEGATIVE_TOLERANCE_W_M2)
            if offset.any():
                logger.debug("%s: %d small negative %s values set to 0", what, int(offset.sum()), column)
                values = values.mask(offset, low)
                table[column] = values
        bad = (values < low) | (values > high) | np.isinf(values)
        if bad.any():
            at = table.index[bad.to_numpy()][0]
            raise DataError(
                Message("{what}: column '{column}' has {values:g} at {at}, outside the physical range {low:g} … "
                        "{high:g}; check the unit and the sensor, or remove the value",
                        what=what, column=column, values=values[at], at=at.isoformat(), low=low, high=high)
            )
    full_index = pd.date_range(index[0], index[-1], freq=step, name=frame.index.name)
    table = table.reindex(full_index)
    max_missing_steps = int(np.floor(pd.Timedelta(hours=max_gap_h) / step + 1e-9))
    for column in table.columns:
        missing = table[column].isna().to_numpy()
        if not missing.any():
            continue
        start, length = _longest_run(missing)
        if length > max_missing_steps:
            first = full_index[start]
            last = full_index[start + length - 1] + step
            raise DataError(
                Message("{what}: column '{column}' has a gap of {value:g} h ({first} – {last}), longer than "
                        "max_gap_h={max_gap_h:g} h; fill it from another source or allow longer gaps",
                        what=what, column=column, value=length * step / pd.Timedelta(hours=1),
                        first=first.isoformat(), last=last.isoformat(), max_gap_h=max_gap_h)
            )
        logger.info("%s: filled %d missing '%s' values by interpolation", what, int(missing.sum()), column)
        table[column] = table[column].interpolate(method="time", limit_direction="both")
    return table


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    """Start and length of the longest run of True in a boolean array."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    lengths = ends - starts
    i = int(np.argmax(lengths))
    return int(starts[i]), int(lengths[i])
