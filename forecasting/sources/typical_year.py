"""Readers for TMY3 and EPW weather files, through :mod:`pvlib.iotools`.

Both formats hold hourly rows labelled with the **end** of the hour in local
standard time (a fixed UTC offset, no daylight saving time). Irradiance is the
energy of the hour ending at the label, i.e. the mean over that hour [W/m²];
temperature, wind and cloud cover are observations *at* the label. The readers
return the package's convention: rows labelled with the **start** of the hour
and every value a mean over the hour, the observations becoming the mean of
the two that bound the hour (for the first hour of a typical year, whose
months come from different years, the last observation of the file, the year
being periodic; otherwise the first hour keeps its own value).

Cloud cover is given in tenths of the sky in both formats; it is returned as
``cloud_cover`` in percent (× 10). ``pvlib.iotools.read_tmy3`` with
``map_variables=True`` maps irradiance, temperature and wind to pvlib's names
but leaves ``TotCld (tenths)`` and ``OpqCld (tenths)`` unmapped;
``pvlib.iotools.read_epw`` always maps and calls them ``total_sky_cover`` and
``opaque_sky_cover`` (it has no ``map_variables`` argument). EPW marks missing
values with 9999 (irradiance), 99.9 (temperature), 999 (wind) and 99 (sky
cover); they become gaps.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pvlib

from forecasting.sources.checks import WEATHER_LIMITS, check_table
from microgrid.errors import DataError
from microgrid.messages import Message
from microgrid.park import Site

logger = logging.getLogger(__name__)

#: Columns returned by both readers, in this order.
TYPICAL_YEAR_COLUMNS = ("ghi", "dni", "dhi", "temp_air", "wind_speed", "cloud_cover")

_TMY3_CLOUD = {"total": "TotCld (tenths)", "opaque": "OpqCld (tenths)"}
_EPW_CLOUD = {"total": "total_sky_cover", "opaque": "opaque_sky_cover"}
_EPW_MISSING = {"ghi": 9999, "dni": 9999, "dhi": 9999, "temp_air": 99.9, "wind_speed": 999,
                "total_sky_cover": 99, "opaque_sky_cover": 99}
_OBSERVED_AT_LABEL = ("temp_air", "wind_speed", "cloud_cover")


def read_tmy3_weather(
    path: Path | str,
    *,
    year: int | None = None,
    cloud: Literal["total", "opaque"] = "total",
    max_gap_h: float = 1.0,
) -> tuple[pd.DataFrame, dict]:
    """Read a TMY3 file into a weather table with step-start labels.

    Parameters
    ----------
    path : pathlib.Path or str
        TMY3 CSV file (the 2015 revision that pvlib reads).
    year : int, optional
        Put every row in this non-leap year (a typical year's months come from
        different years). Without it, the file's own dates are kept and must
        be one continuous series.
    cloud : {"total", "opaque"}, default "total"
        Which cloud amount becomes ``cloud_cover``.
    max_gap_h : float, default 1.0
        Longest gap [h] filled by interpolation.

    Returns
    -------
    weather : pandas.DataFrame
        :data:`TYPICAL_YEAR_COLUMNS`: ``ghi``, ``dni``, ``dhi`` [W/m²],
        ``temp_air`` [°C], ``wind_speed`` [m/s], ``cloud_cover`` [%], hourly
        step means, index in the file's fixed UTC offset.
    metadata : dict
        pvlib's metadata (``latitude``, ``longitude``, ``altitude``, ``TZ``...).
    """
    path = Path(path)
    what = path.name
    _check_year(year, what)
    if not path.exists():
        raise DataError(Message("{what}: file not found at {path}", what=what, path=path))
    try:
        data, metadata = pvlib.iotools.read_tmy3(str(path), coerce_year=year, map_variables=True)
    except (ValueError, KeyError, IndexError, pd.errors.ParserError) as exc:
        raise DataError(Message("{what}: cannot be read as TMY3; is it a TMY3 file? (pvlib: {name} {exc})",
                                what=what, name=type(exc).__name__, exc=exc)) from None
    columns = {"ghi": "ghi", "dni": "dni", "dhi": "dhi", "temp_air": "temp_air",
               "wind_speed": "wind_speed", _TMY3_CLOUD[cloud]: "cloud_cover"}
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(Message("{what}: missing column(s) {missing}; is this a TMY3 file?",
                                what=what, missing=', '.join(missing)))
    frame = data[list(columns)].rename(columns=columns).astype(float)
    frame["cloud_cover"] *= 10.0
    frame.index = data.index - pd.Timedelta(hours=1)
    return _finish(frame, what, periodic=year is not None, max_gap_h=max_gap_h), metadata


def read_epw_weather(
    path: Path | str,
    *,
    year: int | None = None,
    cloud: Literal["total", "opaque"] = "total",
    max_gap_h: float = 1.0,
) -> tuple[pd.DataFrame, dict]:
    """Read an EnergyPlus weather (EPW) file into a weather table.

    Parameters and returns as :func:`read_tmy3_weather`. pvlib already labels
    EPW rows with the start of the hour (``hour - 1``).
    """
    path = Path(path)
    what = path.name
    _check_year(year, what)
    if not path.exists():
        raise DataError(Message("{what}: file not found at {path}", what=what, path=path))
    try:
        data, metadata = pvlib.iotools.read_epw(str(path), coerce_year=year)
    except (ValueError, KeyError, IndexError, pd.errors.ParserError) as exc:
        raise DataError(Message("{what}: cannot be read as EPW; is it an EPW file? (pvlib: {name} {exc})",
                                what=what, name=type(exc).__name__, exc=exc)) from None
    frame = data[["ghi", "dni", "dhi", "temp_air", "wind_speed", _EPW_CLOUD[cloud]]].astype(float)
    for column, code in _EPW_MISSING.items():
        if column in frame.columns:
            frame.loc[np.isclose(frame[column], code), column] = np.nan
    frame = frame.rename(columns={_EPW_CLOUD[cloud]: "cloud_cover"})
    frame["cloud_cover"] *= 10.0
    return _finish(frame, what, periodic=year is not None, max_gap_h=max_gap_h), metadata


def site_from_metadata(metadata: dict, name: str | None = None) -> Site:
    """A :class:`~microgrid.park.Site` from pvlib's TMY3 or EPW metadata.

    The timezone is the file's fixed offset as an ``Etc/GMT±h`` zone (no
    daylight saving time), e.g. ``TZ = -5`` → ``Etc/GMT+5``.
    """
    offset_h = float(metadata["TZ"])
    if not offset_h.is_integer():
        raise DataError(Message("metadata: UTC offset {offset_h} h is not whole; give the site's IANA timezone "
                                "instead",
                                offset_h=offset_h))
    tz = "UTC" if offset_h == 0 else f"Etc/GMT{-int(offset_h):+d}"
    label = name or str(metadata.get("Name") or metadata.get("city") or "site").strip('"')
    return Site(name=label, latitude_deg=float(metadata["latitude"]), longitude_deg=float(metadata["longitude"]),
                altitude_m=float(metadata["altitude"]), timezone=tz)


def _check_year(year: int | None, what: str) -> None:
    if year is not None and pd.Timestamp(year=year, month=1, day=1).is_leap_year:
        raise DataError(Message("{what}: year {year} is a leap year; a typical year has no 29 February, pick a "
                                "non-leap year",
                                what=what, year=year))


def _finish(frame: pd.DataFrame, what: str, *, periodic: bool, max_gap_h: float) -> pd.DataFrame:
    """Check, fill gaps, and turn point observations into hourly means."""
    if frame.index.tz is None:
        raise DataError(Message("{what}: the reader returned naive timestamps; the file has no UTC offset",
                                what=what))
    deltas = np.diff(frame.index.asi8)
    if (deltas <= 0).any():
        i = int(np.argmax(deltas <= 0))
        raise DataError(
            Message("{what}: dates are not one continuous series ({later} after {earlier}): a typical year's "
                    "months come from different years; pass year=<a non-leap year>",
                    what=what, later=frame.index[i + 1], earlier=frame.index[i])
        )
    table = check_table(frame, what, limits=WEATHER_LIMITS, max_gap_h=max_gap_h)
    for column in _OBSERVED_AT_LABEL:
        at_end = table[column].to_numpy()
        at_start = np.roll(at_end, 1)
        if not periodic:
            at_start[0] = at_end[0]
        table[column] = 0.5 * (at_start + at_end)
    table.index.name = "timestamp"
    logger.info("%s: %d hourly steps from %s", what, len(table), table.index[0].isoformat())
    return table[list(TYPICAL_YEAR_COLUMNS)]
