"""Everything one dispatch horizon needs, as plain numbers on one time index."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dispatch.forecast_inputs import (DIRECT_PARTS, Forecasts, check_direct_forecast, direct_forecast_on_steps,
                                      forecast_profiles_from_history, load_profile_names, step_means)
from forecasting.pv import cached_case_pv_profiles, park_pv_ac_kw
from microgrid.case import Case
from microgrid.errors import DataError, InvalidParkError
from microgrid.messages import Message
from microgrid.park import Park
from microgrid.tariff import DemandCharge
from microgrid.timeseries import local_day, slice_window, step_hours

#: This module's names, and those of :mod:`dispatch.forecast_inputs` that callers import from here.
__all__ = ["DIRECT_PARTS", "DispatchInputs", "Forecasts", "PlantState", "check_direct_forecast", "day_ahead_inputs",
           "horizon_inputs", "load_profile_names", "step_means", "to_steps", "wind_on_steps"]


@dataclass
class PlantState:
    """Measured state at the start of a horizon.

    Attributes
    ----------
    soc_kwh : dict
        Battery id → stored energy [kWh]; a missing id starts at its
        ``initial_soc_frac``.
    thermal_soc_kwh : dict
        Thermal store id → stored heat [kWh]; a missing id starts at its
        ``initial_soc_frac``.
    energy_delivered_kwh : dict
        Energy load id → energy already delivered to the session in progress
        at the start [kWh]. A missing id: the optimal strategy assumes 0 (the
        previous plan deferred charging), the heuristics assume the session
        was completed at full power after its arrival.
    month_to_date_peak_kw : float or None
        Highest 15-min import of the month so far [kW]; the demand charge is
        priced on what a plan adds above it. ``None`` (default): not known,
        and the demand charge is priced pro rata (see
        :class:`microgrid.tariff.DemandCharge`).
    process_runs_done : dict
        Batch process id → runs already started on the local day of the start.
    process_running_steps : dict
        Batch process id → steps of its profile already run by a run still in
        progress at the start (it continues with the rest).
    shed_hours_used, shed_kwh_used : dict
        Curtailable load id → hours with shedding, and energy shed, so far on
        the local day of the start.
    shift_ahead_kwh : dict
        Shiftable load id → energy consumed ahead of its baseline at the start
        [kWh] (negative: still owed).
    shift_recent_base_kw : dict
        Shiftable load id → its baseline over the last steps before the start
        [kW], most recent last: energy owed at the start may come from them.
    previous_plan : dict, optional
        The controller's memory, not a measurement: the start (ISO 8601) and
        the integer decisions of the last optimized plan
        (``DispatchModel.integer_decisions``), which warm-start the next one.
        A rolling horizon keeps it so that a run continued from a saved state
        makes the same plans as one that was never interrupted.
    """

    soc_kwh: dict[str, float] = field(default_factory=dict)
    thermal_soc_kwh: dict[str, float] = field(default_factory=dict)
    energy_delivered_kwh: dict[str, float] = field(default_factory=dict)
    month_to_date_peak_kw: float | None = None
    process_runs_done: dict[str, int] = field(default_factory=dict)
    process_running_steps: dict[str, int] = field(default_factory=dict)
    shed_hours_used: dict[str, float] = field(default_factory=dict)
    shed_kwh_used: dict[str, float] = field(default_factory=dict)
    shift_ahead_kwh: dict[str, float] = field(default_factory=dict)
    shift_recent_base_kw: dict[str, list[float]] = field(default_factory=dict)
    previous_plan: dict | None = None


@dataclass
class DispatchInputs:
    """Time series and state of one horizon, on one tz-aware index (step starts).

    All powers in kW (means over the step), prices in CNY/kWh.
    ``peak_margin_kw`` (optional, per step) is headroom the plan keeps below
    the month-to-date peak for forecast errors: its import plus the margin is
    what counts against the peak (see ``ForecastErrorModel.peak_margin_sigmas``);
    none by default. ``import_cap_kw`` and ``min_import_kw`` (optional, per
    step) are limits on the grid import a demand-response event asks for:
    at most the cap (peak shaving), at least the minimum (valley filling),
    each with priced slack reported when the park cannot meet it (``inf``
    and 0 where an event does not apply). ``forecast_sources`` records which
    inputs came from forecasts rather than the case's data (see
    :func:`horizon_inputs`). ``wind_available_kw`` is the power the wind
    turbine groups can give, one column per group (none without wind), a
    curtailable generator like PV.
    """

    park: Park
    index: pd.DatetimeIndex
    dt_h: float
    pv_available_kw: pd.DataFrame
    load_kw: pd.DataFrame
    price_import_cny_per_kwh: pd.Series
    price_export_cny_per_kwh: pd.Series
    tou_period: pd.Series
    day: dt.date
    state: PlantState = field(default_factory=PlantState)
    temp_air_c: pd.Series | None = None
    heat_demand_kw: pd.DataFrame | None = None
    curtailable_base_kw: pd.DataFrame | None = None
    shiftable_base_kw: pd.DataFrame | None = None
    peak_margin_kw: np.ndarray | None = None
    import_cap_kw: np.ndarray | None = None
    min_import_kw: np.ndarray | None = None
    forecast_sources: dict[str, str] = field(default_factory=dict)
    wind_available_kw: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        empty = pd.DataFrame(index=self.index)
        for name in ("heat_demand_kw", "curtailable_base_kw", "shiftable_base_kw", "wind_available_kw"):
            if getattr(self, name) is None:
                setattr(self, name, empty.copy())
        if self.peak_margin_kw is None:
            self.peak_margin_kw = np.zeros(len(self.index))
        elif len(self.peak_margin_kw) != len(self.index) or np.any(np.asarray(self.peak_margin_kw) < 0):
            raise DataError(Message("peak_margin_kw: one value ≥ 0 kW per step of the horizon"))
        for name in ("import_cap_kw", "min_import_kw"):
            values = getattr(self, name)
            if values is None:
                continue
            values = np.asarray(values, dtype=float)
            if values.shape != (len(self.index),) or np.isnan(values).any() or (values < 0).any():
                raise DataError(Message("{name}: one value ≥ 0 kW per step of the horizon (inf: no cap)",
                                        name=name))
            setattr(self, name, values)
        if self.temp_air_c is None:
            if any(hp.source == "ambient" for hp in self.park.heat_pumps.values()):
                raise DataError(Message("weather: temp_air is needed for the COP of air-source heat pumps"))
            self.temp_air_c = pd.Series(np.nan, index=self.index)
        for name in ("pv_available_kw", "load_kw", "price_import_cny_per_kwh", "price_export_cny_per_kwh",
                     "heat_demand_kw", "curtailable_base_kw", "shiftable_base_kw", "temp_air_c", "wind_available_kw"):
            if not getattr(self, name).index.equals(self.index):
                raise DataError(Message("{name}: index differs from the horizon's index", name=name))
        for name, devices in (("heat_demand_kw", self.park.heat_buses),
                              ("wind_available_kw", self.park.wind_turbines),
                              ("curtailable_base_kw", self.park.curtailable_loads),
                              ("shiftable_base_kw", self.park.shiftable_loads)):
            missing = sorted(set(devices) - set(getattr(self, name).columns))
            if missing:
                raise DataError(Message("{name}: no series for {missing}", name=name, missing=', '.join(missing)))
        wind = self.wind_available_kw.to_numpy(dtype=float)
        if wind.size and not (np.isfinite(wind) & (wind >= 0)).all():
            raise DataError(Message("wind_available_kw: one value ≥ 0 kW per step and turbine group, finite"))
        unknown = sorted(set(self.state.soc_kwh) - set(self.park.batteries))
        if unknown:
            raise InvalidParkError(Message("state.soc_kwh: unknown battery id(s) {unknown}",
                                           unknown=', '.join(unknown)))
        for battery_id, soc in self.state.soc_kwh.items():
            battery = self.park.batteries[battery_id]
            if not battery.min_soc_kwh - 1e-6 <= soc <= battery.max_soc_kwh + 1e-6:
                raise InvalidParkError(
                    Message("state.soc_kwh.{battery_id}: {soc:g} kWh is outside the battery's bounds "
                            "[{min_soc_kwh:g}, {max_soc_kwh:g}] kWh",
                            battery_id=battery_id, soc=soc, min_soc_kwh=battery.min_soc_kwh,
                            max_soc_kwh=battery.max_soc_kwh)
                )
        peak = self.state.month_to_date_peak_kw
        if peak is not None and not (math.isfinite(peak) and peak >= 0):
            raise InvalidParkError(Message("state.month_to_date_peak_kw: must be a finite number ≥ 0 kW, got "
                                           "{peak!r}",
                                           peak=peak))

    @property
    def has_grid_limits(self) -> bool:
        """Whether a demand-response event limits the grid import anywhere in the horizon."""
        return self.import_cap_kw is not None or self.min_import_kw is not None

    @property
    def n_steps(self) -> int:
        return len(self.index)

    def initial_soc_kwh(self, battery_id: str) -> float:
        """Stored energy of a battery at the start of the horizon [kWh]."""
        battery = self.park.batteries[battery_id]
        return self.state.soc_kwh.get(battery_id, battery.initial_soc_kwh)

    def initial_thermal_soc_kwh(self, store_id: str) -> float:
        """Stored heat of a thermal store at the start of the horizon [kWh]."""
        store = self.park.thermal_stores[store_id]
        return self.state.thermal_soc_kwh.get(store_id, store.initial_soc_kwh)

    @property
    def local_index(self) -> pd.DatetimeIndex:
        """The index in the park's timezone."""
        return self.index.tz_convert(self.park.site.timezone)

    def cop(self, heat_pump_id: str) -> np.ndarray:
        """COP of a heat pump at every step."""
        return self.park.heat_pumps[heat_pump_id].cop_series(self.temp_air_c.to_numpy())

    @property
    def total_load_kw(self) -> pd.Series:
        return self.load_kw.sum(axis=1)

    @property
    def total_pv_available_kw(self) -> pd.Series:
        return self.pv_available_kw.sum(axis=1)

    @property
    def total_wind_available_kw(self) -> pd.Series:
        return self.wind_available_kw.sum(axis=1)

    @property
    def total_renewable_available_kw(self) -> pd.Series:
        """PV and wind the park can generate at every step [kW]."""
        return self.total_pv_available_kw + self.total_wind_available_kw

    @property
    def demand_charge_cny_per_kw(self) -> float:
        """Price of each kW the plan adds to the month-to-date peak (or to 0 when unknown) [CNY/kW]."""
        return self.demand_charge_rule.marginal_cny_per_kw

    @property
    def demand_charge_basis(self) -> str:
        """How the plan's demand charge is priced: ``month_to_date_peak`` or ``pro_rata``."""
        return self.demand_charge_rule.basis

    @property
    def demand_charge_rule(self) -> DemandCharge:
        """The tariff's demand-charge rule for this horizon and state (:meth:`Tariff.demand_charge_rate`)."""
        return self.park.tariff.demand_charge_rate(self.index, self.park.site.timezone,
                                                   self.state.month_to_date_peak_kw, self.dt_h)

    @property
    def month_to_date_peak_or_zero_kw(self) -> float:
        """The month-to-date peak the plan's new peak is measured from [kW]: 0 when unknown."""
        peak = self.state.month_to_date_peak_kw
        return 0.0 if peak is None else peak

    @property
    def co2_kg_per_kwh(self) -> pd.Series:
        """The grid emission factor of every step [kg CO2/kWh] (``carbon.grid``: hourly where it has a profile)."""
        return self.park.grid_co2_kg_per_kwh(self.index)

    @property
    def next_day_cheapest_price_cny_per_kwh(self) -> float:
        """The cheapest import price of the tariff in the 24 h after the horizon ends [CNY/kWh]."""
        end = self.index[-1] + pd.Timedelta(hours=self.dt_h)
        after = pd.date_range(end, periods=max(1, int(round(24.0 / self.dt_h))), freq=pd.Timedelta(hours=self.dt_h))
        return float(self.park.tariff.import_price(after, self.park.site.timezone).min())


def to_steps(frame: pd.DataFrame, index: pd.DatetimeIndex, what: str) -> pd.DataFrame:
    """Step means of ``frame`` on ``index``: averaged when finer, held when coarser.

    Raises :class:`DataError` unless ``frame`` covers the whole of ``index``.
    """
    dt_h = step_hours(index, "plan")
    source_dt_h = step_hours(frame.index, what) if len(frame) > 1 else dt_h
    start, end = index[0], index[-1] + pd.Timedelta(hours=dt_h)
    last = frame.index[-1] + pd.Timedelta(hours=source_dt_h)
    if frame.index[0] > start or last < end:
        raise DataError(
            Message("{what}: covers {first} – {last}, not the plan's {start} – {end}; give data for the whole "
                    "plan",
                    what=what, first=frame.index[0].isoformat(), last=last.isoformat(), start=start.isoformat(),
                    end=end.isoformat())
        )
    step = pd.Timedelta(hours=dt_h)
    if source_dt_h < dt_h:
        out = frame.resample(step, origin=start).mean()
    else:
        extended = pd.concat([frame, frame.iloc[[-1]].set_axis([last])])
        out = extended.resample(step, origin=start).ffill()
    out = out.reindex(index.tz_convert(out.index.tz)).set_axis(index)
    if out.isna().to_numpy().any():
        raise DataError(Message("{what}: its steps do not align with the plan's {step_min:g}-minute steps",
                                what=what, step_min=dt_h * 60))
    return out


def day_ahead_inputs(case: Case, day: dt.date, horizon_h: float = 24.0, state: PlantState | None = None,
                     forecasts: Forecasts | None = None) -> DispatchInputs:
    """Inputs for a plan starting at local midnight of ``day`` and lasting ``horizon_h`` hours.

    PV comes from the case's weather through pvlib; loads from its loads file;
    ``forecasts`` replaces either with forecasts (weather forecast, load
    forecasts from metered history, direct PV, load and heat forecasts).
    """
    if horizon_h <= 0:
        raise InvalidParkError(Message("horizon_h: must be > 0 hours, got {horizon_h:g}", horizon_h=horizon_h))
    start, _ = local_day(day, case.park.site.timezone, horizon_h)
    return horizon_inputs(case, start, horizon_h, state, forecasts)


def horizon_inputs(case: Case, start: pd.Timestamp, horizon_h: float, state: PlantState | None = None,
                   forecasts: Forecasts | None = None) -> DispatchInputs:
    """Inputs for a horizon of ``horizon_h`` hours from ``start`` (tz-aware), from the case's data.

    ``forecasts`` replaces parts of the case's data, in this order of
    precedence: PV of an array from a direct PV forecast, else from the
    weather forecast (pvlib), else from the case's weather; a load or heat
    profile from a direct forecast, else from ``load_history`` (calendar
    regression), else from the case's files; ``temp_air`` (heat-pump COP) from
    the weather forecast, else the case's weather. The inputs'
    ``forecast_sources`` records each replaced part: ``pv.<array_id>``,
    ``load.<profile>``, ``heat.<profile>``, ``temp_air`` → ``pv_kw``,
    ``weather``, ``load_kw``, ``heat_kw`` or ``load_history``. Wind likewise
    (:func:`wind_on_steps`): ``wind.<group_id>`` → ``wind_kw`` or ``weather``.
    """
    if horizon_h <= 0:
        raise InvalidParkError(Message("horizon_h: must be > 0 hours, got {horizon_h:g}", horizon_h=horizon_h))
    park = case.park
    tz = park.site.timezone
    start = start.tz_convert(tz)
    end = start + pd.Timedelta(hours=horizon_h)
    day = start.date()
    loads_window = slice_window(case.load_profiles, start, end, f"data.loads ({park.data.loads})")
    index = loads_window.index.tz_convert(tz)
    dt_h = step_hours(index, f"data.loads ({park.data.loads})")
    sources: dict[str, str] = {}
    direct_pv = direct_forecast_on_steps(forecasts, park, "pv_kw", index, dt_h)
    direct_load = direct_forecast_on_steps(forecasts, park, "load_kw", index, dt_h)
    direct_heat = direct_forecast_on_steps(forecasts, park, "heat_kw", index, dt_h) if park.heat_buses else None
    if forecasts is not None and forecasts.heat_kw is not None and not park.heat_buses:
        check_direct_forecast(park, "heat_kw", forecasts.heat_kw, forecasts.label("heat_kw"))
    used = load_profile_names(park)
    loads_window = loads_window.set_axis(index)
    if forecasts is not None and forecasts.load_history is not None:
        given = set(direct_load.columns) if direct_load is not None else set()
        loads_window = forecast_profiles_from_history(case, forecasts, loads_window, index, used - given)
        sources.update({f"load.{p}": "load_history" for p in used if p in forecasts.forecast_profiles})
    if direct_load is not None:
        loads_window = loads_window.copy()
        for profile in direct_load.columns:
            loads_window[profile] = direct_load[profile].to_numpy()
            sources[f"load.{profile}"] = "load_kw"
    load_kw = pd.DataFrame(
        {load_id: loads_window[load.profile].to_numpy() * load.scale for load_id, load in park.loads.items()},
        index=index,
    )
    if (load_kw < 0).to_numpy().any():
        column = load_kw.columns[(load_kw < 0).any()][0]
        raise DataError(Message("loads.{column}: negative power in the profile; loads are consumption in kW ≥ 0",
                                column=column))
    weather_pv = {a_id: a for a_id, a in park.pv_arrays.items()
                  if direct_pv is None or a_id not in direct_pv.columns}
    needs_weather = bool(weather_pv) or any(hp.source == "ambient" for hp in park.heat_pumps.values())
    pv_kw = pd.DataFrame(index=index)
    temp_air_c = None
    if needs_weather and forecasts is not None and forecasts.weather is not None:
        from forecasting.pv_forecast import forecast_pv_ac_kw

        what = forecasts.label("weather")
        weather = to_steps(forecasts.weather, index, what)
        if weather_pv:
            pv_kw = forecast_pv_ac_kw(weather, park.site, weather_pv)
            sources.update({f"pv.{a_id}": "weather" for a_id in weather_pv})
        if "temp_air" in weather.columns:
            temp_air_c = weather["temp_air"]
            if park.heat_pumps:
                sources["temp_air"] = "weather"
        elif any(hp.source == "ambient" for hp in park.heat_pumps.values()):
            raise DataError(Message("{what}: no temp_air column; air-source heat pumps need it for their COP",
                                    what=what))
    elif needs_weather:
        weather = slice_window(case.weather, start, end, f"data.weather ({park.data.weather})")
        weather.index = weather.index.tz_convert(tz)
        if not weather.index.equals(index):
            raise DataError(
                Message("data.weather ({weather}): its steps differ from the loads file's; use the same step "
                        "length in both",
                        weather=park.data.weather)
            )
        year_pv_kw = cached_case_pv_profiles(case) if weather_pv else None
        if year_pv_kw is not None:
            # Already computed for the whole weather file (a rolling horizon does that once).
            pv_kw = year_pv_kw.loc[(year_pv_kw.index >= start) & (year_pv_kw.index < end), list(weather_pv)]
            pv_kw = pv_kw.set_axis(index)
        elif weather_pv:
            pv_kw = park_pv_ac_kw(weather, park.site, weather_pv)
        if "temp_air" in weather.columns:
            temp_air_c = weather["temp_air"]
    if direct_pv is not None:
        pv_kw = pv_kw.copy()
        for array_id in direct_pv.columns:
            pv_kw[array_id] = direct_pv[array_id].to_numpy()
            sources[f"pv.{array_id}"] = "pv_kw"
        pv_kw = pv_kw[list(park.pv_arrays)]
    heat_kw = None
    if park.heat_buses:
        heat = slice_window(case.heat_profiles, start, end, f"data.heat ({park.data.heat})").set_axis(index)
        demand_profiles = {b.demand_profile for b in park.heat_buses.values()}
        if forecasts is not None and forecasts.load_history is not None:
            given = set(direct_heat.columns) if direct_heat is not None else set()
            heat = forecast_profiles_from_history(case, forecasts, heat, index, demand_profiles - given)
            sources.update({f"heat.{p}": "load_history" for p in demand_profiles
                            if p in forecasts.forecast_profiles})
        if direct_heat is not None:
            heat = heat.copy()
            for profile in direct_heat.columns:
                heat[profile] = direct_heat[profile].to_numpy()
                sources[f"heat.{profile}"] = "heat_kw"
        heat_kw = pd.DataFrame({bus_id: heat[bus.demand_profile].to_numpy() * bus.scale
                                for bus_id, bus in park.heat_buses.items()}, index=index)
    curtailable = pd.DataFrame({c_id: loads_window[c.profile].to_numpy() * c.scale
                                for c_id, c in park.curtailable_loads.items()}, index=index)
    shiftable = pd.DataFrame({s_id: loads_window[s.profile].to_numpy() * s.scale
                              for s_id, s in park.shiftable_loads.items()}, index=index)
    wind_kw = wind_on_steps(case, forecasts, index, dt_h, sources)
    tariff = park.tariff
    return DispatchInputs(
        park=park,
        index=index,
        dt_h=dt_h,
        pv_available_kw=pv_kw,
        load_kw=load_kw,
        price_import_cny_per_kwh=tariff.import_price(index, tz),
        price_export_cny_per_kwh=tariff.export_price(index),
        tou_period=tariff.periods(index, tz),
        day=day,
        state=state or PlantState(),
        temp_air_c=temp_air_c,
        heat_demand_kw=heat_kw,
        curtailable_base_kw=curtailable,
        shiftable_base_kw=shiftable,
        forecast_sources=dict(sorted(sources.items())),
        wind_available_kw=wind_kw,
    )


def wind_on_steps(case: Case, forecasts: Forecasts | None, index: pd.DatetimeIndex, dt_h: float,
                  sources: dict[str, str]) -> pd.DataFrame:
    """Power each wind turbine group can give at every step of the plan [kW], one column per group.

    In this order of precedence: a direct wind forecast (``forecasts.wind_kw``),
    else windpowerlib on the weather forecast (``forecasts.weather``), else on
    the case's weather (sliced from the whole year when a rolling horizon has
    computed it, ``forecasting.wind.case_wind_profiles``). ``sources`` gets
    ``wind.<group_id>`` → ``wind_kw`` or ``weather`` for each replaced group.
    windpowerlib is imported only for a park with wind turbines.
    """
    park = case.park
    if not park.wind_turbines:
        if forecasts is not None and forecasts.wind_kw is not None:
            check_direct_forecast(park, "wind_kw", forecasts.wind_kw, forecasts.label("wind_kw"))   # says: no wind
        return pd.DataFrame(index=index)
    direct = direct_forecast_on_steps(forecasts, park, "wind_kw", index, dt_h)
    rest = {g_id: g for g_id, g in park.wind_turbines.items() if direct is None or g_id not in direct.columns}
    wind_kw = pd.DataFrame(index=index)
    if rest:
        from forecasting.wind import cached_case_wind_profiles, park_wind_kw

        start, end = index[0], index[-1] + pd.Timedelta(hours=dt_h)
        what = f"data.weather ({park.data.weather})"
        year = cached_case_wind_profiles(case)
        if forecasts is not None and forecasts.weather is not None:
            what = forecasts.label("weather")
            wind_kw = park_wind_kw(to_steps(forecasts.weather, index, what), park.site, rest, what=what)
            sources.update({f"wind.{g_id}": "weather" for g_id in rest})
        elif year is not None:
            # Already computed for the whole weather file (a rolling horizon does that once).
            wind_kw = slice_window(year[list(rest)], start, end, what)
        else:
            wind_kw = park_wind_kw(slice_window(case.weather, start, end, what), park.site, rest, what=what)
        wind_kw.index = wind_kw.index.tz_convert(index.tz)
        if not wind_kw.index.equals(index):
            raise DataError(Message("{what}: its steps differ from the loads file's; use the same step length in "
                                    "both",
                                    what=what))
    if direct is not None:
        wind_kw = wind_kw.copy()
        for g_id in direct.columns:
            wind_kw[g_id] = direct[g_id].to_numpy()
            sources[f"wind.{g_id}"] = "wind_kw"
    return wind_kw[list(park.wind_turbines)]
