"""CSV readers for weather forecasts and metered power.

Weather CSV contract (:func:`read_weather_csv`)
-----------------------------------------------

======================  ========  =====================================================
column                  unit      meaning
======================  ========  =====================================================
``timestamp``           –         ISO 8601 with UTC offset (``2026-07-15T00:00:00+08:00``
                                  or ``...Z``), the **start** of the step; required
``ghi``                 W/m²      global horizontal irradiance, step mean
``dni``, ``dhi``        W/m²      direct normal and diffuse horizontal, step means;
                                  both or neither, and only with ``ghi``
``cloud_cover``         %         total cloud cover, 0–100, step mean
``temp_air``            °C        air temperature, optional
``wind_speed``          m/s       wind speed at 10 m, optional
``pressure``            Pa        air pressure at the ground (station pressure),
                                  optional: the air density of wind power
======================  ========  =====================================================

At least one of ``ghi`` or ``cloud_cover`` is required. Any other column is an
error (names are pvlib's and case-sensitive). Empty cells and missing rows are
gaps: filled when at most ``max_gap_h`` long, an error otherwise. Values are
range-checked against :data:`forecasting.sources.checks.WEATHER_LIMITS`.

Meter CSV contract (:func:`read_meter_csv`)
-------------------------------------------

``timestamp`` as above, then one or more columns whose names end in ``_kw``:
mean power over the step [kW], non-negative (consumption or heat demand).

Power forecast CSV contract (:func:`read_power_forecast_csv`)
-------------------------------------------------------------

The meter contract, for forecasts of PV, load or heat demand given directly:
``timestamp`` (the start of the step) and ``*_kw`` columns holding the mean
power over each step [kW], finite and ≥ 0. A forecast has no gaps: every step
from its first row to its last has a row with every value (an empty cell or a
missing row is an error naming the first missing timestamp).
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.sources.checks import WEATHER_LIMITS, check_table, regular_step
from microgrid.errors import DataError
from microgrid.messages import Message
from microgrid.timeseries import read_timestamped_csv

logger = logging.getLogger(__name__)

#: Columns a weather CSV may hold besides ``timestamp``.
WEATHER_CSV_COLUMNS = ("ghi", "dni", "dhi", "cloud_cover", "temp_air", "wind_speed", "pressure")



def read_weather_csv(path: Path | str, *, max_gap_h: float = 1.0, what: str | None = None) -> pd.DataFrame:
    """Read a weather forecast or record that follows the weather CSV contract.

    Parameters
    ----------
    path : pathlib.Path or str
        CSV file.
    max_gap_h : float, default 1.0
        Longest gap [h] filled by interpolation; longer gaps are errors.
    what : str, optional
        Name used in error messages (default: the file name).

    Returns
    -------
    pandas.DataFrame
        The columns present among :data:`WEATHER_CSV_COLUMNS`, float, on a
        regular tz-aware index named ``timestamp``, without gaps.

    Raises
    ------
    DataError
        File missing or unreadable, naive or malformed timestamps, unknown or
        missing columns, irregular steps, impossible values, long gaps.

    Examples
    --------
    >>> weather = read_weather_csv("forecast.csv")            # doctest: +SKIP
    >>> prepare_weather(weather, site)  # fills dni/dhi, defaults  # doctest: +SKIP
    """
    path = Path(path)
    what = what or path.name
    frame = _read_with_timestamps(path, what)
    unknown = [c for c in frame.columns if c not in WEATHER_CSV_COLUMNS]
    if unknown:
        column = unknown[0]
        close = difflib.get_close_matches(column.lower(), WEATHER_CSV_COLUMNS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(WEATHER_CSV_COLUMNS)}"
        raise DataError(Message("{what}: unknown column '{column}'; {hint}", what=what, column=column, hint=hint))
    if "ghi" not in frame.columns and "cloud_cover" not in frame.columns:
        raise DataError(
            Message("{what}: missing column 'ghi' or 'cloud_cover'; give irradiance (ghi [W/m²], optionally with "
                    "dni and dhi) or total cloud cover [%]",
                    what=what)
        )
    if ("dni" in frame.columns) != ("dhi" in frame.columns):
        given, absent = ("dni", "dhi") if "dni" in frame.columns else ("dhi", "dni")
        raise DataError(Message("{what}: column '{given}' without '{absent}'; give both or neither",
                                what=what, given=given, absent=absent))
    if "dni" in frame.columns and "ghi" not in frame.columns:
        raise DataError(Message("{what}: columns 'dni' and 'dhi' without 'ghi'; add ghi [W/m²]", what=what))
    return check_table(frame, what, limits=WEATHER_LIMITS, max_gap_h=max_gap_h)


def read_meter_csv(
    path: Path | str, *, max_gap_h: float = 1.0, max_kw: float | None = None, what: str | None = None
) -> pd.DataFrame:
    """Read metered power (load or heat demand) that follows the meter CSV contract.

    Parameters
    ----------
    path : pathlib.Path or str
        CSV file.
    max_gap_h : float, default 1.0
        Longest gap [h] filled by interpolation; longer gaps are errors.
    max_kw : float, optional
        Upper limit of every column [kW], e.g. the connection's rating.
    what : str, optional
        Name used in error messages (default: the file name).

    Returns
    -------
    pandas.DataFrame
        One float column per ``*_kw`` column, on a regular tz-aware index.
    """
    path = Path(path)
    what = what or path.name
    frame = _read_with_timestamps(path, what)
    if frame.columns.empty:
        raise DataError(Message("{what}: no power column; add at least one column named like 'load_kw'",
                                what=what))
    not_kw = [c for c in frame.columns if not str(c).endswith("_kw")]
    if not_kw:
        raise DataError(Message("{what}: column '{not_kw}' has no unit; name power columns '<name>_kw' (mean kW "
                                "over the step)",
                                what=what, not_kw=not_kw[0]))
    high = float("inf") if max_kw is None else max_kw
    limits = {c: (0.0, high) for c in frame.columns}
    return check_table(frame, what, limits=limits, max_gap_h=max_gap_h)


def read_power_forecast_csv(path: Path | str, *, what: str | None = None) -> pd.DataFrame:
    """Read a power forecast (PV, load or heat demand [kW]) that follows the power forecast CSV contract.

    Parameters
    ----------
    path : pathlib.Path or str
        CSV file.
    what : str, optional
        Name used in error messages (default: the file name).

    Returns
    -------
    pandas.DataFrame
        One float column per ``*_kw`` column, on a regular tz-aware index
        (the step is the spacing of the rows), without gaps.

    Raises
    ------
    DataError
        File missing or unreadable, naive or malformed timestamps, a column
        without ``_kw``, irregular steps, a missing row or empty cell (the
        first missing timestamp named), a negative or infinite value.
    """
    path = Path(path)
    what = what or path.name
    frame = _read_with_timestamps(path, what)
    if frame.columns.empty:
        raise DataError(Message("{what}: no power column; add at least one column named like 'pv1_kw' (mean kW "
                                "over the step)",
                                what=what))
    not_kw = [c for c in frame.columns if not str(c).endswith("_kw")]
    if not_kw:
        raise DataError(Message("{what}: column '{not_kw}' has no unit; name power columns '<name>_kw' (mean kW "
                                "over the step)",
                                what=what, not_kw=not_kw[0]))
    step = regular_step(frame.index, what)
    full = pd.date_range(frame.index[0], frame.index[-1], freq=step, name=frame.index.name)
    table = frame.reindex(full)
    missing = table.isna().to_numpy()
    if missing.any():
        row, column = (int(v[0]) for v in np.nonzero(missing))
        raise DataError(
            Message("{what}: no value at {at} (column '{column}'); a forecast needs every {step_min:g}-min step "
                    "from its first row to its last: fill the gap",
                    what=what, at=full[row].isoformat(), column=table.columns[column],
                    step_min=step / pd.Timedelta(minutes=1))
        )
    return check_table(table, what, limits={c: (0.0, float("inf")) for c in table.columns}, max_gap_h=0.0)


def _read_with_timestamps(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV whose ``timestamp`` column holds ISO 8601 times with UTC offset.

    Empty cells become NaN (gaps, checked by :func:`check_table`); non-numeric
    cells are errors.
    """
    return read_timestamped_csv(path, what)
