"""PV of a whole case, computed once per case object and sliced by every horizon."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dispatch.inputs import horizon_inputs
from forecasting import pv
from forecasting.pv import cached_case_pv_profiles, case_pv_profiles, park_pv_ac_kw
from microgrid.case import Case, park_from_dict

TZ = "Asia/Shanghai"


def _write_case(folder: Path) -> Case:
    """Two days of hourly clear-ish weather and a flat load; two PV arrays of different orientation."""
    index = pd.date_range("2026-07-14", periods=48, freq="1h", tz=TZ, name="timestamp")
    hour = index.hour.to_numpy()
    sun = np.clip(np.sin((hour - 6) / 12 * np.pi), 0.0, None)
    weather = pd.DataFrame({"ghi": 800.0 * sun, "dni": 600.0 * sun, "dhi": 150.0 * sun,
                            "temp_air": 25.0 + 5.0 * sun, "wind_speed": 2.0}, index=index)
    weather.to_csv(folder / "weather.csv")
    pd.DataFrame({"l1_kw": 100.0}, index=index).to_csv(folder / "loads.csv")
    park = park_from_dict({
        "site": {"name": "pv-cache", "latitude_deg": 34.75, "longitude_deg": 113.63},
        "grid": {"bus": "main", "max_import_kw": 1000, "max_export_kw": 0},
        "tariff": {"prices_cny_per_kwh": {"flat": 0.5}, "period_rules": [],
                   "export_price_cny_per_kwh": 0.0, "demand_charge_cny_per_kw_month": 0.0},
        "pv_arrays": {"south": {"bus": "main", "dc_capacity_kw": 200, "ac_capacity_kw": 180},
                      "east": {"bus": "main", "dc_capacity_kw": 100, "ac_capacity_kw": 90, "azimuth_deg": 90}},
        "loads": {"l1": {"bus": "main", "profile": "l1_kw"}},
    })
    return Case(park=park, folder=folder)


@pytest.fixture
def case(tmp_path: Path) -> Case:
    return _write_case(tmp_path)


def test_the_case_pv_is_the_pvlib_chain_over_the_whole_weather_file(case: Case) -> None:
    assert cached_case_pv_profiles(case) is None            # nothing is computed by asking
    profiles = case_pv_profiles(case)
    expected = park_pv_ac_kw(case.weather, case.park.site, case.park.pv_arrays)
    pd.testing.assert_frame_equal(profiles, expected)
    assert list(profiles.columns) == ["south", "east"] and len(profiles) == 48
    assert profiles["south"].max() > 0.0


def test_it_is_computed_once_per_case(case: Case, tmp_path: Path, monkeypatch) -> None:
    calls = []
    real = pv.park_pv_ac_kw
    monkeypatch.setattr(pv, "park_pv_ac_kw", lambda *args: calls.append(args) or real(*args))
    first = case_pv_profiles(case)
    assert case_pv_profiles(case) is first and cached_case_pv_profiles(case) is first
    assert len(calls) == 1
    other = _write_case(tmp_path)                           # an equal case, another object: its own entry
    assert cached_case_pv_profiles(other) is None
    case_pv_profiles(other)
    assert len(calls) == 2


def test_the_entry_leaves_with_its_case(tmp_path: Path) -> None:
    case = _write_case(tmp_path)
    case_pv_profiles(case)
    key = id(case)
    assert key in pv._CASE_PV_KW
    del case
    gc.collect()
    assert key not in pv._CASE_PV_KW


def test_a_horizon_slices_the_computed_year_to_the_same_numbers(case: Case, tmp_path: Path) -> None:
    start = pd.Timestamp("2026-07-14 09:00", tz=TZ)
    computed_for_the_window = horizon_inputs(case, start, 24.0).pv_available_kw
    assert cached_case_pv_profiles(case) is None            # a single plan does not compute the year
    sliced = _write_case(tmp_path)
    case_pv_profiles(sliced)
    from_the_year = horizon_inputs(sliced, start, 24.0).pv_available_kw
    pd.testing.assert_frame_equal(from_the_year, computed_for_the_window, check_freq=False)
    assert from_the_year.index[0] == start and len(from_the_year) == 24
