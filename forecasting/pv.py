"""PV power from weather, through pvlib.

Weather tables use pvlib's standard names: ``ghi``, ``dni``, ``dhi`` [W/m²],
``temp_air`` [°C], ``wind_speed`` [m/s]. Each row is the mean over a step that
starts at its timestamp; the sun's position is taken at the step's midpoint.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

import pandas as pd
import pvlib
from pvlib.temperature import TEMPERATURE_MODEL_PARAMETERS

from microgrid.errors import DataError
from microgrid.park import PVArray, Site
from microgrid.timeseries import require_tz_aware, step_hours

if TYPE_CHECKING:
    from microgrid.case import Case

logger = logging.getLogger(__name__)

WEATHER_COLUMNS = ("ghi", "dni", "dhi", "temp_air", "wind_speed")


def site_location(site: Site) -> pvlib.location.Location:
    """pvlib Location of the park."""
    return pvlib.location.Location(
        site.latitude_deg, site.longitude_deg, tz=site.timezone, altitude=site.altitude_m, name=site.name
    )


def pv_ac_kw(weather: pd.DataFrame, site: Site, array: PVArray) -> pd.Series:
    """AC power of one array [kW], clipped by its inverters at ``ac_capacity_kw``.

    The chain, all pvlib functions: solar position at each step's midpoint →
    plane-of-array irradiance (Hay-Davies transposition, physical IAM) → cell
    temperature (SAPM, ``array.mounting``) → PVWatts DC power with the
    temperature coefficient → DC system losses (``system_losses_pct``) →
    PVWatts inverter, whose DC input rating ``ac_capacity_kw / inverter_efficiency``
    makes the AC output clip at ``ac_capacity_kw``.

    Parameters
    ----------
    weather : pandas.DataFrame
        Columns ``ghi``, ``dni``, ``dhi`` [W/m²], ``temp_air`` [°C],
        ``wind_speed`` [m/s] on a regular tz-aware index (step starts).
    site : Site
    array : PVArray

    Returns
    -------
    pandas.Series
        Mean AC power over each step [kW], non-negative, on ``weather.index``.
    """
    index = require_tz_aware(weather.index, "weather")
    missing = [c for c in WEATHER_COLUMNS if c not in weather.columns]
    if missing:
        raise DataError(f"weather: missing column(s) {', '.join(missing)}; use pvlib's standard names")
    if array.dc_capacity_kw == 0 or array.ac_capacity_kw == 0:
        return pd.Series(0.0, index=index, name="pv_ac_kw")
    dt_h = step_hours(index, "weather") if len(index) > 1 else 1.0
    mid = index + pd.Timedelta(hours=dt_h / 2)
    location = site_location(site)
    sun = location.get_solarposition(mid)
    dni_extra = pvlib.irradiance.get_extra_radiation(mid)
    poa = pvlib.irradiance.get_total_irradiance(
        array.tilt_deg, array.azimuth_deg, sun["apparent_zenith"], sun["azimuth"],
        weather["dni"].to_numpy(), weather["ghi"].to_numpy(), weather["dhi"].to_numpy(),
        dni_extra=dni_extra, model="haydavies",
    )
    aoi = pvlib.irradiance.aoi(array.tilt_deg, array.azimuth_deg, sun["apparent_zenith"], sun["azimuth"])
    iam = pvlib.iam.physical(aoi)
    effective = (poa["poa_direct"] * iam + poa["poa_diffuse"]).clip(lower=0.0).fillna(0.0)
    params = TEMPERATURE_MODEL_PARAMETERS["sapm"][array.mounting]
    temp_cell = pvlib.temperature.sapm_cell(
        poa["poa_global"].fillna(0.0), weather["temp_air"].to_numpy(), weather["wind_speed"].to_numpy(), **params
    )
    pdc_w = pvlib.pvsystem.pvwatts_dc(effective, temp_cell, array.dc_capacity_kw * 1000.0, array.temp_coeff_per_c)
    pdc_w = pdc_w * (1.0 - array.system_losses_pct / 100.0)
    pdc0_inverter_w = array.ac_capacity_kw * 1000.0 / array.inverter_efficiency
    ac_w = pvlib.inverter.pvwatts(pdc_w, pdc0_inverter_w, array.inverter_efficiency)
    ac_kw = pd.Series((ac_w / 1000.0).clip(lower=0.0, upper=array.ac_capacity_kw).fillna(0.0).to_numpy(),
                      index=index, name="pv_ac_kw")
    return ac_kw


def park_pv_ac_kw(weather: pd.DataFrame, site: Site, arrays: dict[str, PVArray]) -> pd.DataFrame:
    """AC power of every array [kW], one column per array id."""
    return pd.DataFrame({array_id: pv_ac_kw(weather, site, array) for array_id, array in arrays.items()},
                        index=weather.index)


#: id of a live case → AC power of its arrays over its weather file; an entry leaves with its case.
_CASE_PV_KW: dict[int, pd.DataFrame] = {}


def case_pv_profiles(case: Case) -> pd.DataFrame:
    """AC power of every PV array of ``case`` over its whole weather file [kW], computed once per case.

    :func:`park_pv_ac_kw` on the case's weather, kept for as long as the
    case object lives: a rolling horizon or the service's worker warm-up
    computes the year once, and every window then slices it
    (:func:`cached_case_pv_profiles`) instead of running pvlib again.

    Parameters
    ----------
    case : microgrid.case.Case

    Returns
    -------
    pandas.DataFrame
        One column per array id [kW] on the weather file's index.
    """
    cached = cached_case_pv_profiles(case)
    if cached is not None:
        return cached
    pv_kw = park_pv_ac_kw(case.weather, case.park.site, case.park.pv_arrays)
    key = id(case)
    _CASE_PV_KW[key] = pv_kw
    # The id of a collected case may be given to a new object: its entry goes first.
    weakref.finalize(case, _CASE_PV_KW.pop, key, None)
    return pv_kw


def cached_case_pv_profiles(case: Case) -> pd.DataFrame | None:
    """The PV of ``case`` if :func:`case_pv_profiles` has computed it, else ``None`` (nothing is computed)."""
    return _CASE_PV_KW.get(id(case))
