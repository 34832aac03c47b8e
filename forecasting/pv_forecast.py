"""PV power forecasts from weather forecasts, per array, through pvlib.

The power itself comes from :func:`forecasting.pv.pv_ac_kw` (plane-of-array
irradiance, cell temperature, PVWatts DC, losses, inverter clipping at
``ac_capacity_kw``). This module turns whatever a weather forecast provides
into the five columns that function needs, and adds the corrections and
reference forecasts that an operational forecast needs.

Irradiance inputs (:attr:`PVForecastConfig.irradiance_input`):

``"ghi_dni_dhi"``
    all three components given, used as they are;
``"ghi"``
    GHI alone; DNI and DHI from a decomposition model
    (:attr:`PVForecastConfig.decomposition`: Erbs, DIRINT or DISC, all pvlib);
``"cloud_cover"``
    total cloud cover [%] alone. GHI = clear-sky GHI × a cloud-cover relation
    (:func:`cloud_cover_to_ghi`); the clear-sky GHI is pvlib's Ineichen model
    with pvlib's Linke turbidity climatology for the site, averaged over each
    step (5-minute samples); then the decomposition model;
``"auto"`` (default)
    the first of the three whose columns are all present, in that order; the
    choice is logged.

``temp_air`` and ``wind_speed`` default to :data:`DEFAULT_TEMP_AIR_C` (20 °C)
and :data:`DEFAULT_WIND_SPEED_M_S` (0 m/s) when absent, the defaults of
pvlib's ``ModelChain``; 0 m/s gives the hottest cells, so a forecast without
wind errs low, not high.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pvlib
from pydantic import Field

from forecasting.pv import park_pv_ac_kw, pv_ac_kw, site_location
from forecasting.weather import _mean_clearsky_ghi
from microgrid.base import StrictModel
from microgrid.errors import DataError, ForecastError
from microgrid.messages import Message
from microgrid.park import PVArray, Site
from microgrid.timeseries import require_tz_aware, step_hours

logger = logging.getLogger(__name__)

#: Air temperature used when the forecast has none [°C] (pvlib ModelChain default).
DEFAULT_TEMP_AIR_C = 20.0
#: Wind speed used when the forecast has none [m/s] (pvlib ModelChain default).
DEFAULT_WIND_SPEED_M_S = 0.0

IrradianceInput = Literal["auto", "ghi_dni_dhi", "ghi", "cloud_cover"]
Decomposition = Literal["erbs", "dirint", "disc"]
CloudModel = Literal["kasten_czeplak", "linear"]

_IRRADIANCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "ghi_dni_dhi": ("ghi", "dni", "dhi"),
    "ghi": ("ghi",),
    "cloud_cover": ("cloud_cover",),
}


class PVForecastConfig(StrictModel):
    """How a weather forecast becomes PV power.

    Attributes
    ----------
    irradiance_input : {"auto", "ghi_dni_dhi", "ghi", "cloud_cover"}
        Which columns of the weather forecast carry the irradiance (see the
        module docstring).
    decomposition : {"erbs", "dirint", "disc"}
        Model splitting GHI into DNI and DHI when only GHI is known.
    cloud_model : {"kasten_czeplak", "linear"}
        Relation from cloud cover to GHI, see :func:`cloud_cover_to_ghi`.
    linear_offset : float
        Clear-sky fraction left under overcast sky by the ``"linear"`` relation.
    default_temp_air_c, default_wind_speed_m_s : float
        Used when the forecast lacks ``temp_air`` [°C] or ``wind_speed`` [m/s].
    """

    irradiance_input: IrradianceInput = "auto"
    decomposition: Decomposition = "erbs"
    cloud_model: CloudModel = "kasten_czeplak"
    linear_offset: float = Field(default=0.35, ge=0, le=1)
    default_temp_air_c: float = Field(default=DEFAULT_TEMP_AIR_C, ge=-60, le=70)
    default_wind_speed_m_s: float = Field(default=DEFAULT_WIND_SPEED_M_S, ge=0, le=60)


def step_midpoints(index: pd.DatetimeIndex, what: str = "weather") -> pd.DatetimeIndex:
    """Midpoints of the steps that start at ``index`` (where the sun is placed)."""
    dt_h = step_hours(index, what)
    return index + pd.Timedelta(hours=dt_h / 2)


def clearsky_ghi(index: pd.DatetimeIndex, site: Site) -> pd.Series:
    """Clear-sky GHI [W/m²], mean over each step, Ineichen with Linke turbidity climatology.

    The mean is taken over 5-minute samples, since the value at the midpoint
    is badly off in hourly steps that contain sunrise or sunset.
    """
    require_tz_aware(index, "weather")
    step = pd.Timedelta(hours=step_hours(index, "weather"))
    values = _mean_clearsky_ghi(site_location(site), index, step)
    return pd.Series(values, index=index, name="ghi_clear")


def clearsky_weather(index: pd.DatetimeIndex, site: Site, temp_air_c: float = DEFAULT_TEMP_AIR_C,
                     wind_speed_m_s: float = DEFAULT_WIND_SPEED_M_S) -> pd.DataFrame:
    """Clear-sky weather at the step midpoints: Ineichen ``ghi``, ``dni``, ``dhi`` [W/m²].

    ``temp_air`` [°C] and ``wind_speed`` [m/s] are constants. Used for
    clear-sky PV and so for clear-sky-index persistence.
    """
    mid = step_midpoints(require_tz_aware(index, "weather"))
    clear = site_location(site).get_clearsky(mid, model="ineichen")
    frame = pd.DataFrame({c: np.maximum(clear[c].to_numpy(dtype=float), 0.0) for c in ("ghi", "dni", "dhi")},
                         index=index)
    frame["temp_air"] = temp_air_c
    frame["wind_speed"] = wind_speed_m_s
    return frame


def cloud_cover_to_ghi(cloud_cover_pct, ghi_clear, model: CloudModel = "kasten_czeplak",
                       linear_offset: float = 0.35):
    """GHI [W/m²] from total cloud cover [%] and clear-sky GHI [W/m²].

    ``"kasten_czeplak"`` (Kasten and Czeplak 1980, fitted on ten years of
    Hamburg observations, cloud amount N in oktas)::

        ghi = ghi_clear * (1 - 0.75 * (N / 8) ** 3.4)

    with ``N / 8 = cloud_cover_pct / 100``. Overcast sky keeps 25 % of the
    clear-sky GHI, and the loss grows slowly at low cover.

    ``"linear"`` (the relation of pvlib's former forecast module, after
    Larson et al. 2016)::

        ghi = ghi_clear * (linear_offset + (1 - linear_offset) * (1 - cloud_cover_pct / 100))

    Parameters
    ----------
    cloud_cover_pct : array-like
        Total cloud cover [%], 0 to 100.
    ghi_clear : array-like
        Clear-sky GHI [W/m²].
    model : {"kasten_czeplak", "linear"}
    linear_offset : float, default 0.35
        Fraction of clear-sky GHI under overcast sky for ``"linear"``.

    Returns
    -------
    Same type as ``ghi_clear``: GHI [W/m²].

    Examples
    --------
    >>> float(cloud_cover_to_ghi(100.0, 800.0))
    200.0
    >>> float(cloud_cover_to_ghi(50.0, 800.0, model="linear"))
    540.0
    """
    fraction = np.clip(np.asarray(cloud_cover_pct, dtype=float) / 100.0, 0.0, 1.0)
    if model == "kasten_czeplak":
        factor = 1.0 - 0.75 * fraction ** 3.4
    elif model == "linear":
        factor = linear_offset + (1.0 - linear_offset) * (1.0 - fraction)
    else:
        raise ValueError(Message("unknown cloud model {model!r}; use 'kasten_czeplak' or 'linear'", model=model))
    return ghi_clear * factor


def decompose_ghi(ghi: pd.Series, site: Site, model: Decomposition = "erbs") -> pd.DataFrame:
    """Split GHI [W/m²] into DNI and DHI [W/m²] with a pvlib decomposition model.

    The solar zenith is taken at each step's midpoint. ``"erbs"`` needs only
    GHI and the zenith; ``"dirint"`` adds the change of the clearness index
    between neighbouring steps (meaningful for measured or satellite series,
    less so for smooth interpolated forecasts) and the site's pressure from
    its altitude; ``"disc"``, the model DIRINT builds on, works step by step.
    For DIRINT and DISC, DHI closes the balance ``dhi = ghi - dni * cos(zenith)``
    (DNI is cut where it would make DHI negative).

    Returns
    -------
    pandas.DataFrame
        Columns ``dni``, ``dhi`` on ``ghi.index``, non-negative, no NaN.
    """
    index = require_tz_aware(ghi.index, "weather")
    mid = step_midpoints(index)
    location = site_location(site)
    sun = location.get_solarposition(mid)
    zenith = sun["zenith"].to_numpy(dtype=float)
    values = ghi.to_numpy(dtype=float)
    if model == "erbs":
        parts = pvlib.irradiance.erbs(values, zenith, mid)
        dni = np.asarray(parts["dni"], dtype=float)
        dhi = np.asarray(parts["dhi"], dtype=float)
    elif model in ("dirint", "disc"):
        pressure = pvlib.atmosphere.alt2pres(site.altitude_m)
        ghi_mid = pd.Series(values, index=mid)
        if model == "dirint":
            dni = pvlib.irradiance.dirint(ghi_mid, sun["zenith"], mid, pressure=pressure).to_numpy(dtype=float)
        else:
            dni = pvlib.irradiance.disc(ghi_mid, sun["zenith"], mid, pressure=pressure)["dni"].to_numpy(dtype=float)
        cos_zenith = np.cos(np.radians(zenith))
        dni = np.where(zenith < 90.0, np.maximum(np.nan_to_num(dni, nan=0.0), 0.0), 0.0)
        dni = np.minimum(dni, np.where(cos_zenith > 0, values / np.maximum(cos_zenith, 1e-6), 0.0))
        dhi = np.maximum(values - dni * cos_zenith, 0.0)
    else:
        raise ValueError(Message("unknown decomposition {model!r}; use 'erbs', 'dirint' or 'disc'", model=model))
    return pd.DataFrame({"dni": np.nan_to_num(dni), "dhi": np.nan_to_num(dhi)}, index=index)


def irradiance_source(columns, irradiance_input: IrradianceInput = "auto") -> str:
    """Which irradiance path applies to a table with ``columns``.

    Raises :class:`ForecastError` when the columns required by an explicit
    choice, or by every path for ``"auto"``, are missing.
    """
    present = set(columns)
    if irradiance_input == "auto":
        for source, needed in _IRRADIANCE_COLUMNS.items():
            if set(needed) <= present:
                return source
        raise ForecastError(
            Message("weather: no irradiance; give ghi, dni and dhi [W/m²], ghi alone, or cloud_cover [%] "
                    "(pvlib's standard names)")
        )
    if irradiance_input not in _IRRADIANCE_COLUMNS:
        raise ValueError(Message("unknown irradiance_input {irradiance_input!r}",
                                 irradiance_input=irradiance_input))
    missing = [c for c in _IRRADIANCE_COLUMNS[irradiance_input] if c not in present]
    if missing:
        raise ForecastError(
            Message("weather: irradiance_input={irradiance_input!r} needs column(s) {missing}; add them or "
                    "choose another irradiance_input",
                    irradiance_input=irradiance_input, missing=', '.join(missing))
        )
    return irradiance_input


def prepare_weather(weather: pd.DataFrame, site: Site, config: PVForecastConfig | None = None) -> pd.DataFrame:
    """Complete a weather forecast to ``ghi``, ``dni``, ``dhi``, ``temp_air``, ``wind_speed``.

    Parameters
    ----------
    weather : pandas.DataFrame
        Regular tz-aware index of step starts; irradiance as ``ghi``, ``dni``,
        ``dhi`` [W/m²] and/or ``cloud_cover`` [%]; optionally ``temp_air``
        [°C] and ``wind_speed`` [m/s]. Other columns are ignored.
    site : Site
    config : PVForecastConfig, optional

    Returns
    -------
    pandas.DataFrame
        The five columns :func:`forecasting.pv.pv_ac_kw` needs, on
        ``weather.index``.

    Raises
    ------
    DataError
        Naive or irregular index, or NaN in a used column.
    ForecastError
        No usable irradiance columns.
    """
    config = config or PVForecastConfig()
    index = require_tz_aware(weather.index, "weather")
    step_hours(index, "weather")
    source = irradiance_source(weather.columns, config.irradiance_input)
    used = list(_IRRADIANCE_COLUMNS[source]) + [c for c in ("temp_air", "wind_speed") if c in weather.columns]
    for column in used:
        if weather[column].isna().any():
            at = index[weather[column].isna().to_numpy()][0].isoformat()
            raise DataError(Message("weather: column '{column}' has a missing value at {at}; fill the gap",
                                    column=column, at=at))
    if source == "ghi_dni_dhi":
        out = weather[["ghi", "dni", "dhi"]].astype(float).copy()
    else:
        if source == "ghi":
            ghi = weather["ghi"].astype(float)
        else:
            ghi = cloud_cover_to_ghi(weather["cloud_cover"].astype(float), clearsky_ghi(index, site),
                                     config.cloud_model, config.linear_offset).rename("ghi")
        out = pd.concat([ghi.rename("ghi"), decompose_ghi(ghi, site, config.decomposition)], axis=1)
    logger.info("weather: irradiance from %s (%s)", source,
                {"ghi_dni_dhi": "as given", "ghi": config.decomposition,
                 "cloud_cover": f"{config.cloud_model} + {config.decomposition}"}[source])
    for column, default in (("temp_air", config.default_temp_air_c), ("wind_speed", config.default_wind_speed_m_s)):
        if column in weather.columns:
            out[column] = weather[column].astype(float)
        else:
            logger.info("weather: no '%s'; using the default %g", column, default)
            out[column] = default
    return out


def forecast_pv_ac_kw(
    weather: pd.DataFrame,
    site: Site,
    arrays: Mapping[str, PVArray],
    config: PVForecastConfig | None = None,
    bias: HourlyBiasCorrection | Mapping[str, HourlyBiasCorrection] | None = None,
) -> pd.DataFrame:
    """AC power forecast of every array [kW], clipped at its ``ac_capacity_kw``.

    Parameters
    ----------
    weather : pandas.DataFrame
        Weather forecast, see :func:`prepare_weather`.
    site : Site
    arrays : mapping of str to PVArray
    config : PVForecastConfig, optional
    bias : HourlyBiasCorrection or mapping of array id to one, optional
        Correction fitted with :func:`fit_hourly_bias`; one for all arrays or
        one per array id (arrays without one stay uncorrected).

    Returns
    -------
    pandas.DataFrame
        One column per array id [kW], on ``weather.index``.

    Examples
    --------
    >>> weather = pd.DataFrame({"cloud_cover": 40.0, "temp_air": 25.0},
    ...                        index=pd.date_range("2026-07-15", periods=96, freq="15min", tz="Asia/Shanghai"))
    >>> pv = forecast_pv_ac_kw(weather, park.site, park.pv_arrays)  # doctest: +SKIP
    """
    complete = prepare_weather(weather, site, config)
    pv = park_pv_ac_kw(complete, site, dict(arrays))
    if bias is None:
        return pv
    for array_id, array in arrays.items():
        correction = bias.get(array_id) if isinstance(bias, Mapping) else bias
        if correction is not None:
            pv[array_id] = correction.apply(pv[array_id], max_kw=array.ac_capacity_kw)
    return pv


#: Name of the park's total AC power [kW] in a PV forecast file, next to (or
#: instead of) one ``<array_id>_kw`` column per array.
PV_TOTAL_COLUMN = "pv_kw"
#: Least difference between a file's total and the sum of its arrays counted
#: as a disagreement [kW] (three decimals of kW, summed over arrays, stay below).
PV_TOTAL_TOLERANCE_KW = 0.01
#: The same, as a fraction of the arrays' total AC rating, for large parks.
PV_TOTAL_TOLERANCE_FRAC = 1e-4


def pv_total_tolerance_kw(ac_rating_kw: float) -> float:
    """How far a PV forecast's total may be from the sum of its arrays [kW].

    Parameters
    ----------
    ac_rating_kw : float
        Sum of the arrays' ``ac_capacity_kw`` [kW].

    Returns
    -------
    float
        ``max(PV_TOTAL_TOLERANCE_KW, PV_TOTAL_TOLERANCE_FRAC * ac_rating_kw)``.

    Examples
    --------
    >>> pv_total_tolerance_kw(4400.0), pv_total_tolerance_kw(50.0)
    (0.44, 0.01)
    """
    return max(PV_TOTAL_TOLERANCE_KW, PV_TOTAL_TOLERANCE_FRAC * ac_rating_kw)


def pv_forecast_table(pv_ac_kw: pd.DataFrame) -> pd.DataFrame:
    """A PV forecast as a file holds it: ``<array_id>_kw`` per array, then the total ``pv_kw``.

    This is what ``microgrid forecast pv --out`` writes and
    ``microgrid schedule --pv-forecast`` reads: the plan takes the arrays'
    columns and checks that the total equals their sum.

    Parameters
    ----------
    pv_ac_kw : pandas.DataFrame
        One column per array id [kW AC], as :func:`forecast_pv_ac_kw` returns.

    Returns
    -------
    pandas.DataFrame
        The same values in ``<array_id>_kw`` columns and their sum in
        :data:`PV_TOTAL_COLUMN`; no total when an array is called ``pv`` (its
        column is ``pv_kw``), since the name is then taken.

    Examples
    --------
    >>> idx = pd.date_range("2026-07-15 12:00", periods=1, freq="15min", tz="Asia/Shanghai")
    >>> pv_forecast_table(pd.DataFrame({"a": [1.5], "b": [2.0]}, index=idx)).iloc[0].to_dict()
    {'a_kw': 1.5, 'b_kw': 2.0, 'pv_kw': 3.5}
    """
    table = pv_ac_kw.add_suffix("_kw")
    if PV_TOTAL_COLUMN not in table.columns:
        table[PV_TOTAL_COLUMN] = table.sum(axis=1)
    return table


def check_pv_total(arrays: Mapping[str, PVArray], frame: pd.DataFrame, what: str) -> None:
    """Check that a PV forecast's total ``pv_kw`` is the sum of its array columns.

    Parameters
    ----------
    arrays : mapping of str to PVArray
        The park's arrays (none of them called ``pv``).
    frame : pandas.DataFrame
        The forecast [kW AC]: ``<array_id>_kw`` columns and :data:`PV_TOTAL_COLUMN`.
    what : str
        The forecast's name in messages (``--pv-forecast``).

    Raises
    ------
    DataError
        Naming the forecast when an array has no column, or
        ``<what>.pv_kw`` and the first timestamp where the total differs from
        the arrays' sum by more than :func:`pv_total_tolerance_kw` of their AC
        rating. Steps where a value is missing are not compared (the plan
        finds missing values it needs).

    The plan uses the arrays' columns; the total is there for people reading
    the file, as :func:`pv_forecast_table` writes it.
    """
    columns = [f"{a_id}_kw" for a_id in arrays]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(Message("{what}: the total {total_column} comes with array columns but not {missing}; "
                                "give every array's column, or the total alone",
                                what=what, total_column=PV_TOTAL_COLUMN, missing=', '.join(missing)))
    sum_kw = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float).sum(axis=1)
    total_kw = pd.to_numeric(frame[PV_TOTAL_COLUMN], errors="coerce").to_numpy(dtype=float)
    tolerance_kw = pv_total_tolerance_kw(sum(a.ac_capacity_kw for a in arrays.values()))
    with np.errstate(invalid="ignore"):
        off = np.abs(total_kw - sum_kw) > tolerance_kw   # False where a value is missing
    if off.any():
        k = int(np.argmax(off))
        raise DataError(Message("{what}.{total_column}: {total_kw:g} kW at {at} is not the sum of the "
                                "array columns, {sum_kw:g} kW (tolerance {tolerance_kw:g} kW); correct the total "
                                "or leave the column out",
                                what=what, total_column=PV_TOTAL_COLUMN, total_kw=total_kw[k],
                                at=frame.index[k].isoformat(), sum_kw=sum_kw[k], tolerance_kw=tolerance_kw))


def clearsky_pv_ac_kw(index: pd.DatetimeIndex, site: Site, array: PVArray) -> pd.Series:
    """AC power of one array under a clear sky [kW] (Ineichen, 20 °C, no wind)."""
    return pv_ac_kw(clearsky_weather(index, site), site, array).rename("clearsky_ac_kw")


def standard_time_hour(index: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    """Hour of day [h, 0 ≤ h < 24] in the *standard* time of ``timezone`` (DST removed).

    PV output follows the sun, which does not move with daylight saving time;
    counting hours in standard time keeps a given hour at the same solar time
    all year.
    """
    local = require_tz_aware(index, "index").tz_convert(timezone)
    offsets = np.array([(t.utcoffset() - (t.dst() or pd.Timedelta(0))).total_seconds() for t in local])
    seconds = (local.asi8 // 10**9 + offsets.astype(np.int64)) % 86400
    return seconds / 3600.0


@dataclass(frozen=True)
class HourlyBiasCorrection:
    """A bias correction of PV power by hour of day (local standard time).

    Attributes
    ----------
    kind : {"ratio", "additive"}
        ``"ratio"``: corrected = forecast × ``by_hour[h]``;
        ``"additive"``: corrected = forecast + ``by_hour[h]`` [kW] where the
        forecast is positive (night stays 0).
    by_hour : pandas.Series
        Factor [-] or offset [kW] for hours 0 … 23.
    timezone : str
        IANA timezone whose standard time defines the hour.
    """

    kind: Literal["ratio", "additive"]
    by_hour: pd.Series
    timezone: str

    def apply(self, forecast_kw: pd.Series, max_kw: float | None = None) -> pd.Series:
        """Corrected forecast [kW], clipped to ``[0, max_kw]``."""
        hour = np.floor(standard_time_hour(forecast_kw.index, self.timezone)).astype(int)
        values = self.by_hour.reindex(range(24)).to_numpy()[hour]
        raw = forecast_kw.to_numpy(dtype=float)
        corrected = raw * values if self.kind == "ratio" else np.where(raw > 0, raw + values, 0.0)
        upper = np.inf if max_kw is None else max_kw
        return pd.Series(np.clip(corrected, 0.0, upper), index=forecast_kw.index, name=forecast_kw.name)


def fit_hourly_bias(
    measured_kw: pd.Series,
    forecast_kw: pd.Series,
    timezone: str,
    kind: Literal["ratio", "additive"] = "ratio",
    min_steps_per_hour: int = 8,
    max_ratio: float = 2.0,
) -> HourlyBiasCorrection:
    """Fit an hour-of-day bias correction on history of measured against forecast power.

    For each hour h of local standard time, over the steps where the forecast
    is positive (daylight)::

        ratio:     by_hour[h] = sum(measured) / sum(forecast),  clipped to [1/max_ratio, max_ratio]
        additive:  by_hour[h] = mean(measured - forecast)       [kW]

    Hours with fewer than ``min_steps_per_hour`` such steps keep 1 (ratio) or
    0 (additive).

    Parameters
    ----------
    measured_kw, forecast_kw : pandas.Series
        Power [kW] on tz-aware indexes; only common, non-NaN timestamps are
        used. Negative measured values (inverter standby) count as 0.
    timezone : str
        The site's IANA timezone.
    kind : {"ratio", "additive"}, default "ratio"
    min_steps_per_hour : int, default 8
    max_ratio : float, default 2.0

    Returns
    -------
    HourlyBiasCorrection

    Raises
    ------
    ForecastError
        No common daylight steps.
    """
    require_tz_aware(measured_kw.index, "measured_kw")
    require_tz_aware(forecast_kw.index, "forecast_kw")
    pair = pd.concat([measured_kw.rename("measured").clip(lower=0.0), forecast_kw.rename("forecast")],
                     axis=1, join="inner").dropna()
    pair = pair[pair["forecast"] > 0.0]
    if pair.empty:
        raise ForecastError(Message("bias correction: measured and forecast power share no daylight step; give "
                                    "overlapping history"))
    hour = np.floor(standard_time_hour(pair.index, timezone)).astype(int)
    grouped = pair.groupby(hour)
    counts = grouped.size().reindex(range(24), fill_value=0)
    if kind == "ratio":
        sums = grouped.sum().reindex(range(24), fill_value=0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            by_hour = (sums["measured"] / sums["forecast"]).clip(1.0 / max_ratio, max_ratio)
        by_hour = by_hour.where(counts >= min_steps_per_hour, 1.0).fillna(1.0)
    elif kind == "additive":
        by_hour = (grouped["measured"].mean() - grouped["forecast"].mean()).reindex(range(24))
        by_hour = by_hour.where(counts >= min_steps_per_hour, 0.0).fillna(0.0)
    else:
        raise ValueError(Message("unknown kind {kind!r}; use 'ratio' or 'additive'", kind=kind))
    by_hour.index.name = "hour"
    logger.info("bias correction (%s) fitted on %d daylight steps", kind, len(pair))
    return HourlyBiasCorrection(kind=kind, by_hour=by_hour.astype(float), timezone=timezone)


def clearsky_index_persistence(measured_kw: pd.Series, clearsky_kw: pd.Series, timezone: str | None = None,
                               lag_days: int = 1, max_index: float = 1.5) -> pd.Series:
    """Clear-sky-index persistence: yesterday's daily PV clear-sky index × today's clear-sky power.

    ::

        k(D)        = sum_t measured(D, t) / sum_t clearsky(D, t)
        forecast(D) = min(k(D - lag_days), max_index) * clearsky(D)

    Unlike plain persistence it follows the change of day length and sun
    height from one day to the next. Days whose reference day has no
    clear-sky energy or no data get NaN.

    Parameters
    ----------
    measured_kw : pandas.Series
        Measured AC power [kW]; negative values count as 0.
    clearsky_kw : pandas.Series
        Clear-sky AC power of the same system [kW] on the forecast index
        (e.g. :func:`clearsky_pv_ac_kw`), covering the reference days too.
    timezone : str, optional
        Timezone whose local days are used (default: that of ``clearsky_kw``).
    lag_days : int, default 1
    max_index : float, default 1.5
    """
    tz = timezone or str(clearsky_kw.index.tz)
    measured = measured_kw.clip(lower=0.0).reindex(clearsky_kw.index)
    day = clearsky_kw.index.tz_convert(tz).tz_localize(None).normalize()
    both = measured.notna().to_numpy()
    energy_measured = pd.Series(np.where(both, measured.to_numpy(), 0.0)).groupby(day).sum()
    energy_clear = pd.Series(np.where(both, clearsky_kw.to_numpy(), 0.0)).groupby(day).sum()
    coverage = pd.Series(both).groupby(day).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        k_day = (energy_measured / energy_clear).where((energy_clear > 0) & (coverage > 0.9))
    k_day = k_day.clip(upper=max_index)
    k_ref = k_day.reindex(day - pd.Timedelta(days=lag_days)).to_numpy()
    return pd.Series(k_ref * clearsky_kw.to_numpy(), index=clearsky_kw.index, name="clearsky_persistence_kw")
