"""Shared fixtures: small hand-made parks and inputs."""

from __future__ import annotations

import pandas as pd
import pytest

from dispatch.inputs import DispatchInputs, PlantState
from microgrid.case import park_from_dict

TZ = "Asia/Shanghai"


def hourly_index(n: int, start: str = "2026-07-15 00:00", freq: str = "1h") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq=freq, tz=TZ, name="timestamp")


def two_price_park(**battery) -> dict:
    """A park with one battery and no PV; valley 00-01, peak 01-02, flat otherwise."""
    spec = dict(bus="main", capacity_kwh=100, max_charge_kw=100, max_discharge_kw=100,
                charge_efficiency=0.9, discharge_efficiency=0.9, min_soc_frac=0.0,
                max_soc_frac=1.0, initial_soc_frac=0.0)
    spec.update(battery)
    return {
        "site": {"name": "hand", "latitude_deg": 34.75, "longitude_deg": 113.63},
        "grid": {"bus": "main", "max_import_kw": 1000, "max_export_kw": 0},
        "tariff": {
            "prices_cny_per_kwh": {"valley": 0.2, "flat": 0.5, "peak": 1.0},
            "period_rules": [
                {"period": "valley", "start": "00:00", "end": "01:00"},
                {"period": "peak", "start": "01:00", "end": "02:00"},
            ],
            "export_price_cny_per_kwh": 0.0,
            "demand_charge_cny_per_kw_month": 0.0,
        },
        "batteries": {"b1": spec},
        "loads": {"l1": {"bus": "main", "profile": "l1_kw"}},
    }


def make_inputs(park_config: dict, load_kw, pv_kw=None, freq: str = "1h",
                state: PlantState | None = None, heat_kw: dict | None = None, temp_air_c=None,
                curtailable_kw: dict | None = None, shiftable_kw: dict | None = None,
                start: str = "2026-07-15 00:00", wind_kw=None) -> DispatchInputs:
    """Inputs on an index starting ``start`` Asia/Shanghai (default 2026-07-15 00:00), one load ``l1``.

    ``heat_kw``, ``curtailable_kw`` and ``shiftable_kw`` map device ids to series; ``pv_kw`` and
    ``wind_kw`` are the available power of every PV array and every wind turbine group.
    """
    park = park_from_dict(park_config)
    index = hourly_index(len(load_kw), start=start, freq=freq)
    pv = pd.DataFrame({a: pv_kw for a in park.pv_arrays}, index=index) if park.pv_arrays else pd.DataFrame(index=index)
    tariff = park.tariff

    def frame(series: dict | None) -> pd.DataFrame:
        return pd.DataFrame(series or {}, index=index, dtype=float)

    temp = pd.Series(temp_air_c if temp_air_c is not None else 20.0, index=index, dtype=float)
    return DispatchInputs(
        park=park,
        index=index,
        dt_h=pd.Timedelta(freq) / pd.Timedelta("1h"),
        pv_available_kw=pv,
        load_kw=pd.DataFrame({"l1": load_kw}, index=index, dtype=float),
        price_import_cny_per_kwh=tariff.import_price(index, TZ),
        price_export_cny_per_kwh=tariff.export_price(index),
        tou_period=tariff.periods(index, TZ),
        day=index[0].date(),
        state=state or PlantState(),
        temp_air_c=temp,
        heat_demand_kw=frame(heat_kw),
        curtailable_base_kw=frame(curtailable_kw),
        shiftable_base_kw=frame(shiftable_kw),
        wind_available_kw=frame({w: wind_kw for w in park.wind_turbines}),
    )


@pytest.fixture
def two_price_inputs() -> DispatchInputs:
    return make_inputs(two_price_park(), [100.0, 100.0])
