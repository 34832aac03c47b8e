"""Weather series for the dispatch cases, built from data shipped with PyPI
packages.

The main entry point is :py:func:`transplant_weather`, which moves a measured
typical-year weather series from one site to another by transplanting its
clear-sky index, so that a reference case can have a realistic year of
cloudy and clear days without downloading any data at run time.

Conventions used throughout this module:

* Every time index is timezone-aware and labels the **start** of its step.
* Irradiance values (``ghi``, ``dni``, ``dhi``) are means over the step
  [W/m^2]; ``temp_air`` [C] and ``wind_speed`` [m/s] are step means as well.
* Column names follow pvlib.
"""

import logging

import numpy as np
import pandas as pd
import pvlib
from microgrid.messages import Message

logger = logging.getLogger(__name__)

#: Columns returned by :py:func:`transplant_weather`, in this order.
WEATHER_COLUMNS = ("ghi", "dni", "dhi", "temp_air", "wind_speed")

#: Columns :py:func:`transplant_weather` needs in its source frame.
SOURCE_COLUMNS = ("ghi", "temp_air", "wind_speed")

_TMY3_DATE_TIME_COLUMNS = ("Date (MM/DD/YYYY)", "Time (HH:MM)")

_HOURS_PER_TYPICAL_YEAR = 365 * 24
# Cumulative day count at the start of each month of a non-leap year.
_NON_LEAP_MONTH_START_DAY = np.cumsum([0, 31, 28, 31, 30, 31, 30, 31, 31, 30,
                                       31, 30, 31])[:12]
_SOURCE_CLEARSKY_SUBSTEP = pd.Timedelta("5min")


def tmy3_to_interval_start(tmy3_data: pd.DataFrame, year: int) -> pd.DataFrame:
    """Re-index a TMY3 frame to one calendar year with step-start labels.

    NSRDB TMY3 files label each hour with its **end** in local standard time
    (``01:00`` .. ``24:00``): irradiance is the energy received during the
    preceding 60 minutes [Wh/m^2], which equals the mean irradiance over the
    hour [W/m^2]. Temperature and wind speed, in contrast, are observations
    at the labelled instant. The months of a TMY come from different years,
    so the index as returned by :py:func:`pvlib.iotools.read_tmy3` is not
    monotonic.

    This function

    * rebuilds the labels from the file's own ``Date (MM/DD/YYYY)`` and
      ``Time (HH:MM)`` columns as the **start** of each hour (``HH - 1``),
      so ``24:00`` stays on its own day;
    * sets all rows to ``year`` (TMY files contain no 29 February, so a
      non-leap ``year`` gives 8760 regular hourly steps);
    * turns the instantaneous ``temp_air`` and ``wind_speed`` observations
      into hourly means by averaging the two observations that bound each
      hour (the year is treated as periodic, so the first hour uses the last
      observation of the file, as a typical year should).

    Parameters
    ----------
    tmy3_data : pandas.DataFrame
        Data as returned by ``pvlib.iotools.read_tmy3`` with
        ``map_variables=True`` (with or without ``coerce_year``): a
        timezone-aware index in the
        file's fixed UTC offset and at least the columns
        ``Date (MM/DD/YYYY)``, ``Time (HH:MM)``, ``ghi`` [W/m^2],
        ``temp_air`` [C] and ``wind_speed`` [m/s].
    year : int
        Non-leap calendar year to put all rows in.

    Returns
    -------
    pandas.DataFrame
        Columns ``ghi`` [W/m^2], ``temp_air`` [C], ``wind_speed`` [m/s],
        indexed by hour starts in ``year`` in the file's own fixed UTC offset,
        8760 rows, sorted.

    Raises
    ------
    ValueError
        If ``year`` is a leap year, the index is naive, columns are missing,
        or the data are not 8760 distinct hours once re-labelled.
    """
    if pd.Timestamp(year=year, month=1, day=1).is_leap_year:
        raise ValueError(Message("year must be a non-leap year, got {year}", year=year))
    _check_aware_index(tmy3_data.index, "tmy3_data.index")
    _check_columns(tmy3_data, SOURCE_COLUMNS, "tmy3_data")

    # Re-label from the file's own date and hour columns: pvlib turns
    # "02/28/1996 24:00" into 1996-03-01 00:00, and one hour before that is
    # 29 February in a leap source year, so the index itself is not a safe
    # starting point.
    _check_columns(tmy3_data, _TMY3_DATE_TIME_COLUMNS, "tmy3_data")
    month_day = tmy3_data["Date (MM/DD/YYYY)"].str.slice(0, 5)
    if (month_day == "02/29").any():
        raise ValueError(Message("tmy3_data contains 29 February; a TMY has no leap day"))
    hour_end = tmy3_data["Time (HH:MM)"].str.slice(0, 2).astype(int)
    if not hour_end.between(1, 24).all():
        raise ValueError(Message("tmy3_data hours must run from 01:00 to 24:00"))
    day_start = pd.to_datetime(month_day + f"/{year}", format="%m/%d/%Y")
    hour_start_in_year = pd.DatetimeIndex(
        day_start + pd.to_timedelta(hour_end - 1, unit="h"))

    # Observations at the hour ends, in file order, then averaged in pairs
    # (previous hour end = this hour's start).
    temp_end_c = tmy3_data["temp_air"].to_numpy(dtype=float)
    wind_end_m_s = tmy3_data["wind_speed"].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "ghi": tmy3_data["ghi"].to_numpy(dtype=float),
            "temp_end_c": temp_end_c,
            "wind_end_m_s": wind_end_m_s,
        },
        index=hour_start_in_year,
    ).sort_index()
    if not frame.index.is_unique or len(frame) != _HOURS_PER_TYPICAL_YEAR:
        raise ValueError(
            Message("tmy3_data must hold 8760 distinct hours once set to one year, got {rows} rows ({duplicated} "
                    "duplicated)",
                    rows=len(frame), duplicated=frame.index.duplicated().sum()))
    expected_index = pd.date_range(f"{year}-01-01", periods=len(frame),
                                   freq="1h")
    if not frame.index.equals(expected_index):
        raise ValueError(Message("tmy3_data does not cover every hour of the year"))

    temp_start_c = np.roll(frame["temp_end_c"].to_numpy(), 1)
    wind_start_m_s = np.roll(frame["wind_end_m_s"].to_numpy(), 1)
    result = pd.DataFrame(
        {
            "ghi": frame["ghi"].to_numpy(),
            "temp_air": 0.5 * (temp_start_c + frame["temp_end_c"].to_numpy()),
            "wind_speed": 0.5 * (wind_start_m_s
                                 + frame["wind_end_m_s"].to_numpy()),
        },
        index=frame.index.tz_localize(tmy3_data.index.tz),
    )
    result.index.name = "timestamp"
    return result


def transplant_weather(
    source_weather: pd.DataFrame,
    source_location: pvlib.location.Location,
    target_location: pvlib.location.Location,
    target_index: pd.DatetimeIndex,
    max_clearsky_index: float = 1.2,
    min_reliable_clearsky_ghi: float = 50.0,
) -> pd.DataFrame:
    """Transplant a typical-year weather series to another site.

    The cloudiness of the source series is carried over as its clear-sky
    index and re-applied to the target site's own clear-sky irradiance:

    1. The source clear-sky GHI is computed with pvlib's Ineichen model for
       the source site, averaged over each source step (sampled every
       5 minutes, because the clear-sky value at the mid-point of an hourly
       step is badly off in the hours that contain sunrise or sunset). The
       clear-sky index is ``ghi / clear-sky ghi``
       (:py:func:`pvlib.irradiance.clearsky_index`), capped at
       ``max_clearsky_index``. In steps whose mean clear-sky GHI is below
       ``min_reliable_clearsky_ghi`` (dawn, dusk, night) the ratio of two
       small numbers is dominated by timing and cosine-response errors, so
       such steps take the index of the nearest reliable step instead.
    2. Each target step is matched to the source at the same day of year and
       the same **local standard clock time** (a 29 February, if any, reuses
       28 February). Local standard time stands in for solar time: for
       Greensboro NC (79.95 W, UTC-5) and Zhengzhou (113.63 E, UTC+8) solar
       noon falls at about 12:20 and 12:25 clock time respectively
       (longitude offsets from the zone meridians of 4.95 deg and 6.37 deg,
       i.e. 20 and 25 minutes), so the residual mismatch is about 6 minutes,
       well below the hourly source resolution. Sites far from their zone
       meridian would need a solar-time mapping instead.
    3. The clear-sky index, ``temp_air`` and ``wind_speed`` are interpolated
       linearly between the source step mid-points to the target step
       mid-points, treating the year as periodic (31 December wraps to
       1 January). Linear interpolation of the index (not of GHI itself)
       keeps the diurnal shape of the target's own clear-sky curve.
    4. Target GHI = index x target clear-sky GHI (Ineichen, target site,
       evaluated at the mid-point of each target step). Night steps have
       zero clear-sky GHI and hence zero GHI.
    5. GHI is split into DNI and DHI with the Erbs model
       (:py:func:`pvlib.irradiance.erbs`) at the step mid-point's true solar
       zenith. Erbs is chosen over DIRINT because DIRINT's stability term
       uses the change of the clearness index between consecutive steps,
       which here is an artefact of interpolating hourly data and would be
       meaningless; Erbs needs only GHI, zenith and day of year, and pvlib's
       implementation keeps the closure ``ghi = dni * cos(zenith) + dhi``.

    Parameters
    ----------
    source_weather : pandas.DataFrame
        One typical year of weather at the source site, indexed by a
        timezone-aware, regular, increasing DatetimeIndex of step starts
        (e.g. hourly, as from :py:func:`tmy3_to_interval_start`). Columns
        ``ghi`` (step-mean global horizontal irradiance) [W/m^2],
        ``temp_air`` [C], ``wind_speed`` [m/s]. Each (day of year, clock
        time) may occur only once, and the whole year must be covered.
    source_location : pvlib.location.Location
        Site of the source measurements; its ``tz`` defines the source's
        local standard time.
    target_location : pvlib.location.Location
        Site to transplant to; its ``tz`` defines the target's local
        standard time.
    target_index : pandas.DatetimeIndex
        Timezone-aware, regular, increasing step starts of the result (e.g.
        15-minute steps of one year).
    max_clearsky_index : float, default 1.2
        Cap on the clear-sky index [-]. Hourly means above about 1.1-1.2 are
        rare even with cloud enhancement; larger ratios come from
        measurement or timing errors.
    min_reliable_clearsky_ghi : float, default 50.0
        Source steps whose mean clear-sky GHI is below this value [W/m^2]
        take the clear-sky index of the nearest reliable step.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``target_index``, columns ``ghi``, ``dni``, ``dhi``
        [W/m^2] (step means), ``temp_air`` [C] and ``wind_speed`` [m/s].
        No NaN, no negative values; GHI is zero whenever the target
        clear-sky GHI is zero.

    Raises
    ------
    ValueError
        If an index is naive, not regular or not increasing, if required
        columns are missing or hold NaN, if the source repeats or misses part
        of the year, or if the parameters are out of range.

    Notes
    -----
    The result keeps the source site's climate apart from the sun geometry
    and the clear-sky turbidity: cloud statistics, temperatures and wind come
    from the source site. It is a plausible year, not a forecast or a
    measurement of the target site.
    """
    if not max_clearsky_index >= 1.0:
        raise ValueError(Message("max_clearsky_index must be >= 1.0, got {max_clearsky_index}",
                                 max_clearsky_index=max_clearsky_index))
    if not min_reliable_clearsky_ghi > 0.0:
        raise ValueError(Message("min_reliable_clearsky_ghi must be > 0 W/m^2, got {min_reliable_clearsky_ghi}",
                                 min_reliable_clearsky_ghi=min_reliable_clearsky_ghi))
    if not isinstance(source_weather, pd.DataFrame):
        raise ValueError(Message("source_weather must be a pandas DataFrame"))
    _check_columns(source_weather, SOURCE_COLUMNS, "source_weather")
    source_step = _regular_step(source_weather.index, "source_weather.index")
    target_step = _regular_step(target_index, "target_index")
    source_values = source_weather.loc[:, list(SOURCE_COLUMNS)].astype(float)
    nan_columns = source_values.columns[source_values.isna().any()].tolist()
    if nan_columns:
        raise ValueError(Message("source_weather holds NaN in {nan_columns}", nan_columns=nan_columns))
    if (source_values["ghi"] < 0.0).any():
        raise ValueError(Message("source_weather['ghi'] holds negative values"))

    source_mid = source_weather.index + source_step / 2
    source_position_h = _typical_year_hours(source_mid, source_location.tz)
    _check_covers_typical_year(source_position_h, source_step)

    source_clearsky_ghi = _mean_clearsky_ghi(source_location,
                                             source_weather.index,
                                             source_step)
    with np.errstate(divide="ignore", invalid="ignore"):
        # 0 / 0 at night; pvlib sets those ratios to 0, and they are
        # replaced below anyway.
        clearsky_index = np.asarray(pvlib.irradiance.clearsky_index(
            source_values["ghi"].to_numpy(), source_clearsky_ghi,
            max_clearsky_index=max_clearsky_index), dtype=float)
    is_reliable = source_clearsky_ghi >= min_reliable_clearsky_ghi
    if not is_reliable.any():
        raise ValueError(Message("source_weather has no step with clear-sky GHI >= {min_reliable_clearsky_ghi} "
                                 "W/m^2",
                                 min_reliable_clearsky_ghi=min_reliable_clearsky_ghi))
    clearsky_index = _fill_from_nearest(source_position_h, clearsky_index,
                                        is_reliable)
    logger.debug("source clear-sky index: %d of %d steps reliable, mean %.3f",
                 is_reliable.sum(), is_reliable.size,
                 clearsky_index[is_reliable].mean())

    target_mid = target_index + target_step / 2
    target_position_h = _typical_year_hours(target_mid, target_location.tz)

    def interpolate(values):
        return np.interp(target_position_h, source_position_h, values,
                         period=_HOURS_PER_TYPICAL_YEAR)

    target_clearsky_index = interpolate(clearsky_index)
    temp_air_c = interpolate(source_values["temp_air"].to_numpy())
    wind_speed_m_s = np.maximum(
        interpolate(source_values["wind_speed"].to_numpy()), 0.0)

    solar_position = target_location.get_solarposition(target_mid)
    target_clearsky = target_location.get_clearsky(
        target_mid, model="ineichen", solar_position=solar_position)
    target_clearsky_ghi = np.maximum(
        target_clearsky["ghi"].to_numpy(dtype=float), 0.0)
    ghi = target_clearsky_index * target_clearsky_ghi

    zenith_deg = solar_position["zenith"].to_numpy(dtype=float)
    decomposed = pvlib.irradiance.erbs(ghi, zenith_deg, target_mid)
    dni = np.asarray(decomposed["dni"], dtype=float)
    dhi = np.asarray(decomposed["dhi"], dtype=float)

    result = pd.DataFrame(
        {
            "ghi": ghi,
            "dni": dni,
            "dhi": dhi,
            "temp_air": temp_air_c,
            "wind_speed": wind_speed_m_s,
        },
        index=target_index,
    )
    irradiance = result[["ghi", "dni", "dhi"]].to_numpy()
    if result.isna().to_numpy().any() or (irradiance < 0.0).any():
        # Defensive: not expected for valid inputs.
        raise ValueError(Message("transplant produced NaN or negative irradiance"))
    logger.info(
        "transplanted %d steps: GHI sum %.1f kWh/m^2, mean temp_air %.2f C",
        len(result), result["ghi"].sum() * target_step / pd.Timedelta("1h")
        / 1000.0, result["temp_air"].mean())
    return result


def _check_aware_index(index, name):
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError(Message("{name} must be a pandas DatetimeIndex, got {type_name}",
                                 name=name, type_name=type(index).__name__))
    if index.tz is None:
        raise ValueError(Message("{name} is timezone-naive; localize it (e.g. "
                                 "index.tz_localize('Asia/Shanghai')) so that local standard time is unambiguous",
                                 name=name))


def _check_columns(frame, columns, name):
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(Message("{name} lacks required columns {missing}", name=name, missing=missing))


def _regular_step(index, name):
    """Return the constant step of a timezone-aware, increasing index."""
    _check_aware_index(index, name)
    if len(index) < 2:
        raise ValueError(Message("{name} needs at least two timestamps", name=name))
    steps = np.diff(index.asi8)
    if (steps <= 0).any():
        raise ValueError(Message("{name} must be strictly increasing", name=name))
    if (steps != steps[0]).any():
        raise ValueError(Message("{name} must be regular (one constant step)", name=name))
    return pd.Timedelta(int(steps[0]), unit="ns")


def _typical_year_hours(times, tz):
    """Hours since 1 January 00:00 local standard time of a non-leap year.

    ``times`` are converted to ``tz``, daylight saving time is removed, and
    the day of year is counted on a 365-day calendar (29 February maps onto
    28 February).
    """
    local = times.tz_convert(tz)
    utc_offset = np.array([timestamp.utcoffset() for timestamp in local],
                          dtype="timedelta64[ns]")
    dst_offset = np.array([timestamp.dst() or pd.Timedelta(0)
                           for timestamp in local], dtype="timedelta64[ns]")
    standard = pd.DatetimeIndex(times.tz_convert("UTC").tz_localize(None)
                                + (utc_offset - dst_offset))
    month = standard.month.to_numpy()
    day = np.minimum(standard.day.to_numpy(),
                     np.where(month == 2, 28, 31))
    day_index = _NON_LEAP_MONTH_START_DAY[month - 1] + day - 1
    seconds_of_day = (standard - standard.normalize()).total_seconds()
    return day_index * 24.0 + np.asarray(seconds_of_day) / 3600.0


def _check_covers_typical_year(position_h, step):
    """Raise unless positions are unique and leave no gap wider than a step."""
    ordered = np.sort(position_h)
    if (np.diff(ordered) == 0).any():
        raise ValueError(Message("source_weather repeats a day of year and clock time; it must be one typical "
                                 "year"))
    gaps_h = np.diff(np.append(ordered,
                               ordered[0] + _HOURS_PER_TYPICAL_YEAR))
    step_h = step / pd.Timedelta("1h")
    if gaps_h.max() > 1.5 * step_h:
        raise ValueError(Message("source_weather must cover the whole year; largest gap is {gap_h:.1f} h",
                                 gap_h=gaps_h.max()))


def _mean_clearsky_ghi(location, step_starts, step):
    """Ineichen clear-sky GHI at ``location`` averaged over each step."""
    substep_count = max(1, int(step / _SOURCE_CLEARSKY_SUBSTEP))
    substep = step / substep_count
    offsets = [(k + 0.5) * substep for k in range(substep_count)]
    sample_times = pd.DatetimeIndex(np.concatenate(
        [(step_starts + offset).asi8 for offset in offsets])).tz_localize(
            "UTC").tz_convert(step_starts.tz)
    clearsky = location.get_clearsky(sample_times, model="ineichen")
    ghi_samples = np.maximum(clearsky["ghi"].to_numpy(dtype=float), 0.0)
    return ghi_samples.reshape(substep_count, len(step_starts)).mean(axis=0)


def _fill_from_nearest(position_h, values, is_valid):
    """Replace invalid values by the value at the nearest valid position.

    Distances are periodic over the typical year; ties go to the earlier
    position.
    """
    valid_position_h = position_h[is_valid]
    valid_values = values[is_valid]
    order = np.argsort(valid_position_h)
    valid_position_h = valid_position_h[order]
    valid_values = valid_values[order]
    # Pad with wrapped copies so that every query has neighbours on both sides.
    padded_position_h = np.concatenate([
        valid_position_h[-1:] - _HOURS_PER_TYPICAL_YEAR, valid_position_h,
        valid_position_h[:1] + _HOURS_PER_TYPICAL_YEAR])
    padded_values = np.concatenate([valid_values[-1:], valid_values,
                                    valid_values[:1]])
    right = np.searchsorted(padded_position_h, position_h, side="left")
    right = np.clip(right, 1, len(padded_position_h) - 1)
    left = right - 1
    use_left = ((position_h - padded_position_h[left])
                <= (padded_position_h[right] - position_h))
    nearest = np.where(use_left, padded_values[left], padded_values[right])
    return np.where(is_valid, values, nearest)
