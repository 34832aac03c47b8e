"""Everything one dispatch horizon needs, as plain numbers on one time index."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from forecasting.pv import park_pv_ac_kw
from microgrid.case import Case
from microgrid.errors import DataError, InvalidParkError
from microgrid.park import Park
from microgrid.timeseries import local_day, slice_window, step_hours


@dataclass
class PlantState:
    """Measured state at the start of a horizon.

    Attributes
    ----------
    soc_kwh : dict
        Battery id → stored energy [kWh]; a missing id starts at its
        ``initial_soc_frac``.
    month_to_date_peak_kw : float
        Highest 15-min import of the month so far [kW]; the demand charge is
        priced on what a plan adds above it.
    """

    soc_kwh: dict[str, float] = field(default_factory=dict)
    month_to_date_peak_kw: float = 0.0


@dataclass
class DispatchInputs:
    """Time series and state of one horizon, on one tz-aware index (step starts).

    All powers in kW (means over the step), prices in CNY/kWh.
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

    def __post_init__(self) -> None:
        for name in ("pv_available_kw", "load_kw", "price_import_cny_per_kwh", "price_export_cny_per_kwh"):
            if not getattr(self, name).index.equals(self.index):
                raise DataError(f"{name}: index differs from the horizon's index")
        unknown = sorted(set(self.state.soc_kwh) - set(self.park.batteries))
        if unknown:
            raise InvalidParkError(f"state.soc_kwh: unknown battery id(s) {', '.join(unknown)}")
        for battery_id, soc in self.state.soc_kwh.items():
            battery = self.park.batteries[battery_id]
            if not battery.min_soc_kwh - 1e-6 <= soc <= battery.max_soc_kwh + 1e-6:
                raise InvalidParkError(
                    f"state.soc_kwh.{battery_id}: {soc:g} kWh is outside the battery's bounds "
                    f"[{battery.min_soc_kwh:g}, {battery.max_soc_kwh:g}] kWh"
                )
        if self.state.month_to_date_peak_kw < 0:
            raise InvalidParkError("state.month_to_date_peak_kw: must be ≥ 0 kW")

    @property
    def n_steps(self) -> int:
        return len(self.index)

    def initial_soc_kwh(self, battery_id: str) -> float:
        """Stored energy of a battery at the start of the horizon [kWh]."""
        battery = self.park.batteries[battery_id]
        return self.state.soc_kwh.get(battery_id, battery.initial_soc_kwh)

    @property
    def total_load_kw(self) -> pd.Series:
        return self.load_kw.sum(axis=1)

    @property
    def total_pv_available_kw(self) -> pd.Series:
        return self.pv_available_kw.sum(axis=1)

    @property
    def demand_charge_cny_per_kw(self) -> float:
        """Price of each kW the plan adds to the month-to-date peak [CNY/kW]."""
        return self.park.tariff.demand_charge_weight(self.day)


def day_ahead_inputs(case: Case, day: dt.date, horizon_h: float = 24.0, state: PlantState | None = None) -> DispatchInputs:
    """Inputs for a plan starting at local midnight of ``day`` and lasting ``horizon_h`` hours.

    PV comes from the case's weather through pvlib; loads from its loads file.
    """
    if horizon_h <= 0:
        raise InvalidParkError(f"horizon_h: must be > 0 hours, got {horizon_h:g}")
    park = case.park
    tz = park.site.timezone
    start, end = local_day(day, tz, horizon_h)
    loads_window = slice_window(case.load_profiles, start, end, f"data.loads ({park.data.loads})")
    index = loads_window.index.tz_convert(tz)
    dt_h = step_hours(index, f"data.loads ({park.data.loads})")
    load_kw = pd.DataFrame(
        {load_id: loads_window[load.profile].to_numpy() * load.scale for load_id, load in park.loads.items()},
        index=index,
    )
    if (load_kw < 0).to_numpy().any():
        column = load_kw.columns[(load_kw < 0).any()][0]
        raise DataError(f"loads.{column}: negative power in the profile; loads are consumption in kW ≥ 0")
    if park.pv_arrays:
        weather = slice_window(case.weather, start, end, f"data.weather ({park.data.weather})")
        weather.index = weather.index.tz_convert(tz)
        if not weather.index.equals(index):
            raise DataError(
                f"data.weather ({park.data.weather}): its steps differ from the loads file's; "
                "use the same step length in both"
            )
        pv_kw = park_pv_ac_kw(weather, park.site, park.pv_arrays)
    else:
        pv_kw = pd.DataFrame(index=index)
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
    )
