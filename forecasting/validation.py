"""Validation of the forecasts on real data shipped with PyPI packages.

Three runs, each returning its tables (``bench/forecast_accuracy.py`` prints
them as Markdown; ``docs/forecasting.md`` discusses them):

:func:`validate_serf_east`
    measured 15-minute AC power of NREL's SERF East system (pvanalytics'
    package data, PVDAQ system 50) against the PV model fed with the NSRDB
    PSM3 GHI and temperature of the same period, and against day-ahead and
    clear-sky-index persistence;
:func:`validate_tmy3_cloud_cover`
    Greensboro TMY3 (pvlib's package data): PV from the file's irradiance
    against PV from its cloud cover alone;
:func:`validate_load_reference_case`
    day-ahead load forecasts on the reference park's ``loads.csv`` (standard
    profiles, not metered data) over held-out windows with Chinese public
    holidays and make-up working days.

pvanalytics is only a data source here: its files are located through
:mod:`importlib.metadata` without importing the package (whose import needs
scikit-image and statsmodels).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

from forecasting.accuracy import accuracy_table, day_ahead_persistence, daylight_mask
from forecasting.park_calendar import day_types
from forecasting.load import LoadRegressionConfig, fit_load_regression, seasonal_naive_kw
from forecasting.pv import pv_ac_kw
from forecasting.pv_forecast import (
    PVForecastConfig, clearsky_index_persistence, clearsky_pv_ac_kw, fit_hourly_bias, forecast_pv_ac_kw)
from forecasting.sources import check_table, read_tmy3_weather, site_from_metadata
from microgrid.errors import DataError
from microgrid.park import PVArray, Site
from microgrid.timeseries import read_timeseries_csv

logger = logging.getLogger(__name__)

CASE_DIR = Path(__file__).resolve().parents[1] / "cases" / "zhengzhou_park"
TMY3_GREENSBORO = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"

#: SERF East as documented in pvanalytics' examples (PVDAQ system 50): a
#: fixed-tilt array on NREL's campus in Golden, Colorado. The altitude is not
#: documented there; 1,830 m is that of NREL's South Table Mountain campus.
SERF_EAST_SITE = Site(name="NREL SERF East", latitude_deg=39.742, longitude_deg=-105.1727, altitude_m=1830.0,
                      timezone="Etc/GMT+7")
SERF_EAST_TILT_DEG = 45.0
SERF_EAST_AZIMUTH_DEG = 158.0
#: Period used to estimate the capacity and fit the bias correction; scores
#: are computed on the days after it.
SERF_FIT_END = pd.Timestamp("2016-08-01 00:00", tz="Etc/GMT+7")


def pvanalytics_data_file(name: str) -> Path:
    """Path of a file in pvanalytics' package data, without importing pvanalytics.

    Raises :class:`DataError` if pvanalytics is not installed.
    """
    try:
        distribution = importlib.metadata.distribution("pvanalytics")
    except importlib.metadata.PackageNotFoundError:
        raise DataError(
            f"{name}: pvanalytics is not installed; install it with `pip install --no-deps pvanalytics` "
            "(only its data files are used)"
        ) from None
    path = Path(distribution.locate_file(f"pvanalytics/data/{name}"))
    if not path.exists():
        raise DataError(f"{name}: not found in pvanalytics {distribution.version} at {path}")
    return path


def _read_measured_on(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, index_col=0)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index, format="ISO8601"))
    frame.index = frame.index.tz_convert(SERF_EAST_SITE.timezone)
    frame.index.name = "timestamp"
    return frame


def load_serf_east() -> tuple[pd.DataFrame, pd.Series]:
    """SERF East weather and measured power, 2016-07-01 … 2016-10-13, 15 minutes.

    Returns
    -------
    weather : pandas.DataFrame
        ``ghi`` [W/m²] and ``temp_air`` [°C] from NSRDB PSM3 (hourly values
        interpolated to 15 minutes by pvanalytics), checked like any input.
    measured_kw : pandas.Series
        AC power [kW] (the file's ``ac_power`` is in W), negative standby
        values set to 0.
    """
    psm3 = _read_measured_on(pvanalytics_data_file("serf_east_psm3_data.csv"))
    weather = check_table(psm3[["ghi", "temp_air"]], "serf_east_psm3_data.csv")
    power = _read_measured_on(pvanalytics_data_file("serf_east_15min_ac_power.csv"))["ac_power"]
    measured_kw = (power / 1000.0).clip(lower=0.0).rename("measured_kw")
    return weather, measured_kw


@dataclass(frozen=True)
class SerfEastResult:
    """Tables of :func:`validate_serf_east`."""

    accuracy: pd.DataFrame
    system: dict
    decompositions: pd.DataFrame


def estimate_dc_capacity_kw(measured_kw: pd.Series, weather: pd.DataFrame, site: Site, array: PVArray,
                            mask: pd.Series) -> float:
    """Least-squares scale of the modelled power to the measured one over ``mask`` [kWp].

    ``array`` is modelled at 1 kWp (no clipping); the DC capacity is
    ``sum(measured * model) / sum(model ** 2)`` over the masked steps.
    """
    unit = array.model_copy(update={"dc_capacity_kw": 1.0, "ac_capacity_kw": 10.0})
    model = forecast_pv_ac_kw(weather, site, {"a": unit})["a"]
    pair = pd.concat([measured_kw, model], axis=1, join="inner")[mask.reindex(model.index).fillna(False)]
    y, x = pair.iloc[:, 0].to_numpy(), pair.iloc[:, 1].to_numpy()
    return float((x * y).sum() / (x * x).sum())


def validate_serf_east() -> SerfEastResult:
    """PV forecast from NSRDB weather against persistence on SERF East measurements.

    The array is modelled with the documented tilt (45°) and azimuth (158°),
    PVWatts' default 14 % losses, an open-rack glass/polymer module, and a
    DC capacity estimated from the data: the least-squares scale of the model
    to the measurement on the steps NSRDB flags as clear sky (``ghi ==
    ghi_clear``) in July 2016. No clipping shows in the measurements (the
    highest value, 5.43 kW, is a cloud-enhancement peak), so the inverter is
    sized at the DC capacity. July is used only for that estimate and for
    fitting the hourly bias correction; the scores cover 1 August – 12 October
    2016 (the file ends early on 13 October).
    """
    weather, measured_kw = load_serf_east()
    site = SERF_EAST_SITE
    psm3 = _read_measured_on(pvanalytics_data_file("serf_east_psm3_data.csv"))
    fit = weather.index < SERF_FIT_END
    clear = (psm3["ghi"] == psm3["ghi_clear"]) & (psm3["ghi"] > 50.0)
    template = PVArray(bus="serf", dc_capacity_kw=1.0, ac_capacity_kw=1.0, tilt_deg=SERF_EAST_TILT_DEG,
                       azimuth_deg=SERF_EAST_AZIMUTH_DEG, mounting="open_rack_glass_polymer")
    dc_kw = estimate_dc_capacity_kw(measured_kw, weather, site, template, clear & fit)
    array = template.model_copy(update={"dc_capacity_kw": round(dc_kw, 2), "ac_capacity_kw": round(dc_kw, 2)})
    arrays = {"serf_east": array}

    forecasts = {}
    for decomposition in ("erbs", "dirint", "disc"):
        config = PVForecastConfig(irradiance_input="ghi", decomposition=decomposition)
        forecasts[f"pvlib, NSRDB GHI ({decomposition})"] = forecast_pv_ac_kw(weather, site, arrays, config)["serf_east"]
    model_kw = forecasts["pvlib, NSRDB GHI (erbs)"]
    bias = fit_hourly_bias(measured_kw[fit], model_kw[fit], site.timezone, kind="ratio")
    corrected_kw = bias.apply(model_kw, max_kw=array.ac_capacity_kw)
    clear_kw = clearsky_pv_ac_kw(weather.index, site, array)
    test = weather.index >= SERF_FIT_END
    test &= weather.index < pd.Timestamp("2016-10-13 00:00", tz=site.timezone)
    mask = daylight_mask(weather.index, site) & pd.Series(test, index=weather.index)
    main = {
        "pvlib, NSRDB GHI (Erbs)": model_kw,
        "same + hourly bias correction": corrected_kw,
        "day-ahead persistence": day_ahead_persistence(measured_kw, clock="solar"),
        "clear-sky-index persistence": clearsky_index_persistence(measured_kw, clear_kw, site.timezone),
    }
    accuracy = accuracy_table(measured_kw, main, normalizer=array.ac_capacity_kw,
                              reference="day-ahead persistence", mask=mask)
    decompositions = accuracy_table(measured_kw, forecasts, normalizer=array.ac_capacity_kw, mask=mask)
    decompositions = decompositions.xs("overall", level="period")
    system = {
        "dc_capacity_kw": array.dc_capacity_kw, "ac_capacity_kw": array.ac_capacity_kw,
        "tilt_deg": array.tilt_deg, "azimuth_deg": array.azimuth_deg,
        "clear_fit_steps": int((clear & fit).sum()),
        "bias_ratio_by_hour": bias.by_hour.round(3).to_dict(),
        "measured_max_kw": float(measured_kw.max()),
    }
    logger.info("SERF East: estimated DC capacity %.2f kWp", dc_kw)
    return SerfEastResult(accuracy=accuracy, system=system, decompositions=decompositions)


@dataclass(frozen=True)
class CloudCoverResult:
    """Tables of :func:`validate_tmy3_cloud_cover`."""

    accuracy: pd.DataFrame
    energy: pd.DataFrame


def validate_tmy3_cloud_cover(year: int = 2026) -> CloudCoverResult:
    """PV from Greensboro's TMY3 irradiance against PV from its cloud cover alone.

    Reference ("actual"): the array below modelled from the file's ``ghi``,
    ``dni``, ``dhi``. Compared: the cloud-cover path with total and with
    opaque cloud cover and both relations, the GHI-only path (Erbs; the loss
    of the decomposition alone), and a clear sky (no cloud information). All
    use the file's temperature and wind. Array: 1,000 kWp DC, 830 kW AC,
    20° tilt facing south. Scores over daylight steps, normalised by the AC
    capacity.
    """
    total, metadata = read_tmy3_weather(TMY3_GREENSBORO, year=year, cloud="total")
    opaque, _ = read_tmy3_weather(TMY3_GREENSBORO, year=year, cloud="opaque")
    site = site_from_metadata(metadata, name="Greensboro NC (TMY3)")
    array = PVArray(bus="pv", dc_capacity_kw=1000.0, ac_capacity_kw=830.0, tilt_deg=20.0, azimuth_deg=180.0)
    arrays = {"pv": array}
    actual_kw = pv_ac_kw(total[["ghi", "dni", "dhi", "temp_air", "wind_speed"]], site, array)
    met = total[["temp_air", "wind_speed"]]

    def cloud_path(cover: pd.DataFrame, model: str) -> pd.Series:
        config = PVForecastConfig(irradiance_input="cloud_cover", cloud_model=model)
        return forecast_pv_ac_kw(pd.concat([cover[["cloud_cover"]], met], axis=1), site, arrays, config)["pv"]

    clear_weather = met.assign(cloud_cover=0.0)
    forecasts = {
        "GHI only (Erbs)": forecast_pv_ac_kw(total[["ghi", "temp_air", "wind_speed"]], site, arrays,
                                             PVForecastConfig(irradiance_input="ghi"))["pv"],
        "total cloud, Kasten-Czeplak": cloud_path(total, "kasten_czeplak"),
        "opaque cloud, Kasten-Czeplak": cloud_path(opaque, "kasten_czeplak"),
        "total cloud, linear": cloud_path(total, "linear"),
        "opaque cloud, linear": cloud_path(opaque, "linear"),
        "clear sky (no cloud data)": forecast_pv_ac_kw(clear_weather, site, arrays)["pv"],
        "day-ahead persistence": day_ahead_persistence(actual_kw, clock="solar"),
    }
    mask = daylight_mask(total.index, site)
    accuracy = accuracy_table(actual_kw, forecasts, normalizer=array.ac_capacity_kw,
                              reference="day-ahead persistence", mask=mask)
    energy = pd.DataFrame({
        "energy_mwh": {name: f.sum() / 1000.0 for name, f in [("irradiance (reference)", actual_kw)]
                       + list(forecasts.items())},
    })
    energy["vs_reference_pct"] = 100.0 * (energy["energy_mwh"] / energy.loc["irradiance (reference)", "energy_mwh"] - 1)
    energy.index.name = "forecast"
    return CloudCoverResult(accuracy=accuracy, energy=energy)


@dataclass(frozen=True)
class LoadWindow:
    """A held-out window and the training days of one load validation fold."""

    name: str
    start: dt.date
    end: dt.date  # exclusive
    train: tuple[tuple[dt.date, dt.date], ...]  # [start, end) ranges


#: National Day fold: trained on the past only. The window holds the make-up
#: working days 20 September (Sun) and 10 October (Sat), Mid-Autumn 25–27
#: September and National Day 1–7 October.
NATIONAL_DAY_FOLD = LoadWindow("14 Sep – 18 Oct (National Day)", dt.date(2026, 9, 14), dt.date(2026, 10, 19),
                               ((dt.date(2026, 1, 1), dt.date(2026, 9, 14)),))
#: Spring Festival fold: the window (with make-up working days 14 and
#: 28 February and the holiday 15–23 February) is held out and the model is
#: trained on the other months, since January alone is too short.
SPRING_FESTIVAL_FOLD = LoadWindow("9 Feb – 8 Mar (Spring Festival)", dt.date(2026, 2, 9), dt.date(2026, 3, 9),
                                  ((dt.date(2026, 1, 1), dt.date(2026, 2, 9)), (dt.date(2026, 3, 9), dt.date(2027, 1, 1))))


@dataclass(frozen=True)
class LoadResult:
    """Tables of :func:`validate_load_reference_case`."""

    accuracy: dict[str, pd.DataFrame]
    by_day_type: dict[str, pd.DataFrame]


def _dates_mask(index: pd.DatetimeIndex, ranges, tz: str) -> np.ndarray:
    dates = pd.DatetimeIndex(index.tz_convert(tz).date)
    keep = np.zeros(len(index), dtype=bool)
    for start, end in ranges:
        keep |= (dates >= pd.Timestamp(start)) & (dates < pd.Timestamp(end))
    return keep


def validate_load_reference_case(folds: tuple[LoadWindow, ...] = (NATIONAL_DAY_FOLD, SPRING_FESTIVAL_FOLD),
                                 config: LoadRegressionConfig | None = None) -> LoadResult:
    """Day-ahead forecasts of the reference park's total load on held-out windows.

    Forecasts per fold: seasonal naive, regression on calendar features,
    regression with temperature (the case's ``temp_air``; the profiles do not
    depend on it, so this only checks that the feature does no harm), and
    day-ahead persistence (yesterday) as the skill reference. Lagged features
    use days at least two days before the forecast day, so the whole year can
    serve as history without peeking.
    """
    loads = read_timeseries_csv(CASE_DIR / "loads.csv")
    weather = read_timeseries_csv(CASE_DIR / "weather.csv")
    tz = "Asia/Shanghai"
    total_kw = loads.sum(axis=1).rename("park_kw")
    temp = weather["temp_air"]
    accuracy, by_type = {}, {}
    for fold in folds:
        train = _dates_mask(total_kw.index, fold.train, tz)
        test = _dates_mask(total_kw.index, [(fold.start, fold.end)], tz)
        # Training rows are the fold's training days; lagged features read the whole series.
        model = fit_load_regression(total_kw, timezone=tz, config=config, train_mask=train)
        model_t = fit_load_regression(total_kw, temp_air=temp, timezone=tz, config=config, train_mask=train)
        index = total_kw.index[test]
        forecasts = {
            "seasonal naive": seasonal_naive_kw(total_kw, index, timezone=tz),
            "regression (calendar)": model.predict(total_kw, index),
            "regression (calendar + temperature)": model_t.predict(total_kw, index, temp_air=temp),
            "persistence (D-1)": day_ahead_persistence(total_kw, index, timezone=tz),
        }
        actual = total_kw[test]
        accuracy[fold.name] = accuracy_table(actual, forecasts, normalizer="mean_actual",
                                             reference="persistence (D-1)")
        types = day_types(sorted(set(index.tz_convert(tz).date)))
        groups = pd.Series([types[d] for d in index.tz_convert(tz).date], index=index)
        by_type[fold.name] = accuracy_table(actual, forecasts, normalizer="mean_actual",
                                            reference="persistence (D-1)", groups=groups)
    return LoadResult(accuracy=accuracy, by_day_type=by_type)
