"""Wind power of the park's turbine groups from weather, through windpowerlib.

Each :class:`~microgrid.wind.WindTurbineGroup` becomes a windpowerlib
``WindFarm`` of one ``WindTurbineGroup`` (``number_of_turbines`` turbines of
its type, the library's or its own power curve), run by windpowerlib's
``TurbineClusterModelChain``:

1. wind speed at hub height from the 10-m ``wind_speed`` of the weather:
   logarithmic profile ``v_hub = v_10 · ln(h_hub / z0) / ln(10 / z0)`` over
   the group's roughness length ``z0`` (or the Hellman power law);
2. air temperature at hub height: ``temp_air`` (at 2 m) with the standard
   lapse rate of −6.5 K/km;
3. air density at hub height (:attr:`WindForecastConfig.density_model`): the
   ideal gas law from a measured ``pressure`` column [Pa] when the weather has
   one, else windpowerlib's barometric height equation from the pressure of
   the standard atmosphere at the site's altitude (``pvlib.atmosphere.alt2pres``);
   both carry the pressure to hub height at −1/8 hPa/m;
4. the group's power curve (the turbine's × ``number_of_turbines``, scaled by
   ``wind_farm_efficiency`` if given), density-corrected (windpowerlib's
   ``power_curve_density_correction``, after Svenningsen) unless switched
   off, read at the hub-height wind speed (lowered first by a
   ``wind_efficiency_curve`` if the group has one). Power is 0 below the
   curve's first wind speed and above its last; windpowerlib's wind farm
   curve steps down to 0 over the 0.5 m/s after a last value that is not 0.

Weather tables use pvlib's names: ``wind_speed`` [m/s] at 10 m,
``temp_air`` [°C] at 2 m, optionally ``pressure`` [Pa]. Each row is the mean
over a step; the power of a step is read at its mean wind speed (no
smoothing of the power curve over the wind's variation within the step).
"""

from __future__ import annotations

import logging
import warnings
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pvlib
from pydantic import Field

from forecasting.sources.checks import WEATHER_LIMITS
from microgrid.base import StrictModel
from microgrid.errors import DataError
from microgrid.messages import Message
from microgrid.park import Site
from microgrid.timeseries import require_tz_aware
from microgrid.wind import WindTurbineGroup

if TYPE_CHECKING:
    from microgrid.case import Case

logger = logging.getLogger(__name__)

#: Name of the park's total wind power [kW] in a wind forecast file, next to one ``<group_id>_kw`` per group.
WIND_TOTAL_COLUMN = "wind_kw"
#: Height above ground of the air temperature ``temp_air`` [m] (screen height of a weather station).
TEMPERATURE_HEIGHT_M = 2.0
#: Height above ground of the pressure, measured or from the site's altitude [m].
PRESSURE_HEIGHT_M = 0.0
#: Plausible station pressure [Pa]: a value outside is taken for a wrong unit (hPa, kPa); the weather readers'.
PRESSURE_LIMITS_PA = WEATHER_LIMITS["pressure"]

DensityModel = Literal["auto", "barometric", "ideal_gas"]


class WindForecastConfig(StrictModel):
    """How wind power is computed from weather (the park's turbine groups hold the rest).

    ``density_model``: ``auto`` (``ideal_gas`` with a measured ``pressure``
    column, else ``barometric`` from the site's altitude), or one of the two
    windpowerlib models, with the altitude's standard pressure where the
    weather has none. ``density_correction``: read the power curve at the
    density at hub height (true) or at the standard 1.225 kg/m³ of the curve
    (false: temperature and pressure are then not needed).
    """

    wind_speed_height_m: float = Field(default=10.0, gt=0, le=200, description="height of wind_speed [m]")
    density_model: DensityModel = "auto"
    density_correction: bool = True


def station_pressure_pa(weather: pd.DataFrame, site: Site, what: str = "weather") -> tuple[pd.Series, bool]:
    """Air pressure at the ground [Pa]: the weather's ``pressure`` column, else the standard atmosphere's.

    Returns
    -------
    (pandas.Series, bool)
        The pressure on ``weather.index`` and whether it was measured (from
        the ``pressure`` column) rather than estimated from
        ``site.altitude_m`` with ``pvlib.atmosphere.alt2pres``.

    Raises
    ------
    DataError
        A ``pressure`` value outside :data:`PRESSURE_LIMITS_PA` (hPa or kPa
        instead of Pa) or missing.
    """
    if "pressure" not in weather.columns:
        return pd.Series(float(pvlib.atmosphere.alt2pres(site.altitude_m)), index=weather.index), False
    pressure = pd.to_numeric(weather["pressure"], errors="coerce").astype(float)
    low, high = PRESSURE_LIMITS_PA
    bad = ~pressure.between(low, high)
    if bad.any():
        at = weather.index[bad.to_numpy()][0]
        raise DataError(Message("{what}.pressure: {pressure:g} at {at} is not a station pressure in Pa "
                                "({low:g}–{high:g} Pa); give Pa (1 hPa = 100 Pa) or leave the column out",
                                what=what, pressure=pressure[at], at=at.isoformat(), low=low, high=high))
    return pressure, True


def windpowerlib_weather(weather: pd.DataFrame, site: Site, group: WindTurbineGroup,
                         config: WindForecastConfig, what: str = "weather") -> pd.DataFrame:
    """The weather as windpowerlib's model chains take it: columns (variable, height above ground [m]).

    ``wind_speed`` [m/s] at ``config.wind_speed_height_m``, ``temperature``
    [K] at :data:`TEMPERATURE_HEIGHT_M`, ``pressure`` [Pa] at
    :data:`PRESSURE_HEIGHT_M` (see :func:`station_pressure_pa`), and the
    group's ``roughness_length`` [m].
    """
    index = require_tz_aware(weather.index, what)
    if "wind_speed" not in weather.columns:
        raise DataError(Message("{what}: missing column wind_speed (wind speed at {wind_speed_height_m:g} m "
                                "[m/s]); wind power needs it",
                                what=what, wind_speed_height_m=config.wind_speed_height_m))
    wind = pd.to_numeric(weather["wind_speed"], errors="coerce").astype(float)
    bad = wind.isna() | (wind < 0) | ~np.isfinite(wind)
    if bad.any():
        at = index[bad.to_numpy()][0]
        raise DataError(Message("{what}.wind_speed: {wind:g} m/s at {at}; give a finite wind speed ≥ 0",
                                what=what, wind=wind[at], at=at.isoformat()))
    columns = {("wind_speed", config.wind_speed_height_m): wind.to_numpy(),
               ("roughness_length", 0.0): np.full(len(index), group.roughness_length_m)}
    if config.density_correction:
        if "temp_air" not in weather.columns:
            raise DataError(Message("{what}: missing column temp_air (air temperature at 2 m [°C]); the density "
                                    "correction of the power curve needs it, or switch density_correction off",
                                    what=what))
        temp = pd.to_numeric(weather["temp_air"], errors="coerce").astype(float)
        if temp.isna().any():
            at = index[temp.isna().to_numpy()][0]
            raise DataError(Message("{what}.temp_air: no value at {at}; fill the gap",
                                    what=what, at=at.isoformat()))
        pressure, _ = station_pressure_pa(weather, site, what)
        columns[("temperature", TEMPERATURE_HEIGHT_M)] = temp.to_numpy() + 273.15
        columns[("pressure", PRESSURE_HEIGHT_M)] = pressure.to_numpy()
    frame = pd.DataFrame(columns, index=index)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["variable_name", "height"])
    return frame


def density_model_used(weather: pd.DataFrame, config: WindForecastConfig) -> str:
    """The windpowerlib density model that :attr:`WindForecastConfig.density_model` stands for with ``weather``."""
    if config.density_model != "auto":
        return config.density_model
    return "ideal_gas" if "pressure" in weather.columns else "barometric"


def wind_model_chain(group: WindTurbineGroup, config: WindForecastConfig, density_model: str, name: str = ""):
    """windpowerlib's ``TurbineClusterModelChain`` over a ``WindFarm`` of ``group``'s turbines (not yet run).

    A library type's power curve is windpowerlib's bundled one
    (``WindTurbine(turbine_type=..., hub_height=...)`` reads the package's own
    ``oedb`` files); an own curve is given in W.
    """
    from windpowerlib import TurbineClusterModelChain, WindFarm, WindTurbine

    if group.turbine_type is not None:
        turbine = WindTurbine(hub_height=group.hub_height_m, turbine_type=group.turbine_type)
    else:
        curve = pd.DataFrame({"wind_speed": group.power_curve.wind_speed_m_per_s,
                              "value": np.asarray(group.power_curve.p_kw) * 1000.0})
        turbine = WindTurbine(hub_height=group.hub_height_m, power_curve=curve,
                              nominal_power=group.turbine_rated_kw * 1000.0, path=None)
    farm = WindFarm([turbine.to_group(group.number_of_turbines)], efficiency=group.wind_farm_efficiency,
                    name=name)
    if group.wind_farm_efficiency is not None:
        wake_losses_model = "wind_farm_efficiency"
    else:
        wake_losses_model = group.wind_efficiency_curve   # None: no wake losses
    return TurbineClusterModelChain(
        farm,
        wake_losses_model=wake_losses_model,
        wind_speed_model=group.wind_speed_model,
        hellman_exp=group.hellman_exponent,
        temperature_model="linear_gradient",
        density_model=density_model,
        power_output_model="power_curve",
        density_correction=config.density_correction,
    )


def hub_height_weather(weather: pd.DataFrame, site: Site, group: WindTurbineGroup,
                       config: WindForecastConfig | None = None) -> pd.DataFrame:
    """Wind speed [m/s] and, with the density correction, air density [kg/m³] at the group's hub height.

    The values windpowerlib's model chain reads the power curve at, before
    any wind efficiency curve lowers the wind speed.

    Returns
    -------
    pandas.DataFrame
        ``wind_speed_m_per_s`` and (with ``config.density_correction``)
        ``density_kg_per_m3`` on ``weather.index``.
    """
    config = config or WindForecastConfig()
    table = windpowerlib_weather(weather, site, group, config)
    chain = wind_model_chain(group, config, density_model_used(weather, config))
    chain.power_plant.mean_hub_height()
    out = pd.DataFrame({"wind_speed_m_per_s": np.asarray(chain.wind_speed_hub(table), dtype=float)},
                       index=table.index)
    if config.density_correction:
        out["density_kg_per_m3"] = np.asarray(chain.density_hub(table), dtype=float)
    return out


def wind_group_kw(weather: pd.DataFrame, site: Site, group: WindTurbineGroup,
                  config: WindForecastConfig | None = None, name: str = "", what: str = "weather") -> pd.Series:
    """Electrical power of one turbine group [kW] on ``weather.index``.

    Parameters
    ----------
    weather : pandas.DataFrame
        ``wind_speed`` [m/s] at ``config.wind_speed_height_m`` (10 m),
        ``temp_air`` [°C] at 2 m (with the density correction), optionally
        ``pressure`` [Pa], on a tz-aware index.
    site : Site
        Its ``altitude_m`` gives the pressure when the weather has none.
    group : WindTurbineGroup
    config : WindForecastConfig, optional
    name : str, optional
        Name of the series (default ``wind_kw``).
    what : str, optional
        The weather's name in error messages (default ``weather``).

    Returns
    -------
    pandas.Series
        Mean power over each step [kW], between 0 and ``group.max_p_kw``.

    Examples
    --------
    >>> group = WindTurbineGroup(bus="b", turbine_type="E-82/2350", hub_height_m=100)
    >>> weather = pd.DataFrame({"wind_speed": [2.0, 8.0], "temp_air": [15.0, 15.0]},
    ...                        index=pd.date_range("2026-07-15", periods=2, freq="1h", tz="Asia/Shanghai"))
    >>> wind_group_kw(weather, site, group).round(0).tolist()  # doctest: +SKIP
    """
    config = config or WindForecastConfig()
    table = windpowerlib_weather(weather, site, group, config, what)
    chain = wind_model_chain(group, config, density_model_used(weather, config), name=name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)   # pandas deprecations inside windpowerlib
        chain.run_model(table)
    power_kw = np.asarray(chain.power_output, dtype=float) / 1000.0
    return pd.Series(np.clip(power_kw, 0.0, None), index=table.index, name=name or "wind_kw")


def park_wind_kw(weather: pd.DataFrame, site: Site, groups: Mapping[str, WindTurbineGroup],
                 config: WindForecastConfig | None = None, what: str = "weather") -> pd.DataFrame:
    """Power of every turbine group [kW], one column per group id, on ``weather.index``.

    ``what`` names the weather in error messages (a missing ``wind_speed``, a bad value).
    """
    return pd.DataFrame({group_id: wind_group_kw(weather, site, group, config, name=group_id, what=what)
                         for group_id, group in groups.items()}, index=weather.index)


#: id of a live case → power of its turbine groups over its weather file; an entry leaves with its case.
_CASE_WIND_KW: dict[int, pd.DataFrame] = {}


def case_wind_profiles(case: Case) -> pd.DataFrame:
    """Power of every turbine group of ``case`` over its whole weather file [kW], computed once per case.

    :func:`park_wind_kw` on the case's weather with the default
    :class:`WindForecastConfig` (what ``microgrid forecast wind`` writes), kept
    for as long as the case object lives, as ``forecasting.pv.case_pv_profiles``
    keeps the PV: a rolling horizon computes the year once and every window
    slices it (:func:`cached_case_wind_profiles`).

    Returns
    -------
    pandas.DataFrame
        One column per turbine group id [kW] on the weather file's index.
    """
    cached = cached_case_wind_profiles(case)
    if cached is not None:
        return cached
    wind_kw = park_wind_kw(case.weather, case.park.site, case.park.wind_turbines)
    key = id(case)
    _CASE_WIND_KW[key] = wind_kw
    # The id of a collected case may be given to a new object: its entry goes first.
    weakref.finalize(case, _CASE_WIND_KW.pop, key, None)
    return wind_kw


def cached_case_wind_profiles(case: Case) -> pd.DataFrame | None:
    """The wind power of ``case`` if :func:`case_wind_profiles` has computed it, else ``None``."""
    return _CASE_WIND_KW.get(id(case))


def wind_forecast_table(wind_kw: pd.DataFrame) -> pd.DataFrame:
    """A wind forecast as a file holds it: ``<group_id>_kw`` per group, then the total ``wind_kw``.

    The layout of a PV forecast file (``forecasting.pv_forecast.pv_forecast_table``),
    for the same power forecast reader
    (``forecasting.sources.read_power_forecast_csv``); no total when a group is
    called ``wind`` (its column is ``wind_kw``).

    Examples
    --------
    >>> idx = pd.date_range("2026-07-15 12:00", periods=1, freq="15min", tz="Asia/Shanghai")
    >>> wind_forecast_table(pd.DataFrame({"wt1": [1.5], "wt2": [2.0]}, index=idx)).iloc[0].to_dict()
    {'wt1_kw': 1.5, 'wt2_kw': 2.0, 'wind_kw': 3.5}
    """
    table = wind_kw.add_suffix("_kw")
    if WIND_TOTAL_COLUMN not in table.columns:
        table[WIND_TOTAL_COLUMN] = table.sum(axis=1)
    return table


def wind_assumptions(weather: pd.DataFrame, groups: Mapping[str, WindTurbineGroup],
                     config: WindForecastConfig | None = None) -> list[str]:
    """The assumptions of a wind forecast, one line each, for the head of its file and for people.

    Examples
    --------
    >>> wind_assumptions(weather, park.wind_turbines)[0]  # doctest: +SKIP
    'wind_speed measured at 10 m above ground [m/s], the mean of each step'
    """
    config = config or WindForecastConfig()
    lines = [f"wind_speed measured at {config.wind_speed_height_m:g} m above ground [m/s], the mean of each "
             "step; power in kW, mean over the step starting at timestamp"]
    if config.density_correction:
        if density_model_used(weather, config) == "ideal_gas":
            density = "ideal gas law"
        else:
            density = "barometric height equation"
        pressure = ("measured pressure [Pa]" if "pressure" in weather.columns
                    else "standard-atmosphere pressure at the site's altitude")
        lines.append(f"air density at hub height: {density} from {pressure} and temp_air at "
                     f"{TEMPERATURE_HEIGHT_M:g} m (-6.5 K/km); power curves density-corrected")
    else:
        lines.append("power curves read at their standard air density 1.225 kg/m3 (no density correction)")
    for group_id, group in groups.items():
        turbine = group.turbine_type if group.turbine_type is not None else "own power curve"
        if group.wind_speed_model == "logarithmic":
            profile = f"logarithmic profile, roughness length {group.roughness_length_m:g} m"
        else:
            exponent = (f"{group.hellman_exponent:g}" if group.hellman_exponent is not None
                        else f"1/ln(h/z0), z0 {group.roughness_length_m:g} m")
            profile = f"Hellman power law, exponent {exponent}"
        if group.wind_farm_efficiency is not None:
            losses = f"wind farm efficiency {group.wind_farm_efficiency:g}"
        elif group.wind_efficiency_curve is not None:
            losses = f"wind efficiency curve {group.wind_efficiency_curve}"
        else:
            losses = "no wake losses"
        lines.append(f"{group_id}: {group.number_of_turbines} x {turbine} ({group.turbine_rated_kw:g} kW), hub "
                     f"{group.hub_height_m:g} m, {profile}, {losses}")
    return lines
