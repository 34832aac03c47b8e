"""Direct PV, load and heat forecasts: resampled to the plan's steps, checked, and planned on (by hand)."""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from dispatch.day_ahead import plan_day_ahead
from dispatch.forecast_inputs import Forecasts, step_means
from dispatch.inputs import day_ahead_inputs
from forecasting.pv_forecast import pv_forecast_table
from microgrid.case import load_case
from microgrid.errors import DataError
from tests.service.helpers import TINY_PARK, write_tiny_case

TZ = "Asia/Shanghai"
DAY = dt.date(2026, 7, 15)


def hourly(values: dict[str, list[float]], start: str = "2026-07-15", freq: str = "1h") -> pd.DataFrame:
    n = len(next(iter(values.values())))
    return pd.DataFrame(values, index=pd.date_range(start, periods=n, freq=freq, tz=TZ), dtype=float)


def plan_index(periods: int = 96, freq: str = "15min") -> pd.DatetimeIndex:
    return pd.date_range("2026-07-15", periods=periods, freq=freq, tz=TZ)


def tiny_case(tmp_path, heat_kw: float | None = None, **changes):
    """The tiny park without its battery (the plan is then PV first, grid for the rest), plus ``changes``.

    ``heat_kw``: a heat file with a constant ``steam_kw`` profile.
    """
    park = copy.deepcopy(TINY_PARK)
    park.pop("batteries")
    park.update(changes)
    folder = write_tiny_case(tmp_path / "case", park)
    if heat_kw is not None:
        index = pd.date_range("2026-07-15", periods=192, freq="15min", tz=TZ)
        pd.DataFrame({"timestamp": [t.isoformat() for t in index], "steam_kw": heat_kw}).to_csv(
            folder / "heat.csv", index=False)
    return load_case(folder)


# --- step_means: the resampling rule ------------------------------------------------------------

def test_an_hourly_forecast_holds_over_its_four_quarter_hours() -> None:
    frame = hourly({"pv1_kw": [100.0, 40.0, 7.0]})
    means = step_means(frame, plan_index(12), 0.25, "pv")
    assert means["pv1_kw"].tolist() == pytest.approx([100.0] * 4 + [40.0] * 4 + [7.0] * 4, rel=1e-12)


def test_quarter_hours_average_into_an_hour() -> None:
    frame = hourly({"l1_kw": [100.0, 200.0, 300.0, 600.0, 0.0, 0.0, 0.0, 40.0]}, freq="15min")
    means = step_means(frame, plan_index(2, "1h"), 1.0, "load")
    assert means["l1_kw"].tolist() == pytest.approx([300.0, 10.0], rel=1e-12)


def test_steps_that_do_not_divide_are_weighted_by_their_overlap() -> None:
    """20-min forecast of 60, 120, 30 kW on 15-min steps.

    00:00-00:15 → 60; 00:15-00:30 → (5 min · 60 + 10 min · 120) / 15 min = 100;
    00:30-00:45 → (10 · 120 + 5 · 30) / 15 = 90; 00:45-01:00 → 30.
    """
    frame = hourly({"x_kw": [60.0, 120.0, 30.0]}, freq="20min")
    means = step_means(frame, plan_index(4), 0.25, "x")
    assert means["x_kw"].tolist() == pytest.approx([60.0, 100.0, 90.0, 30.0], rel=1e-12)
    assert (means["x_kw"].sum() * 0.25) == pytest.approx((60 + 120 + 30) / 3)  # the energy is kept


def test_a_gap_names_the_first_missing_timestamp() -> None:
    frame = hourly({"pv1_kw": [1.0] * 24}).drop(pd.Timestamp("2026-07-15 12:00", tz=TZ))
    with pytest.raises(DataError, match=r"^pv: no value for 2026-07-15T12:00:00\+08:00 \(column 'pv1_kw'\)"):
        step_means(frame, plan_index(), 0.25, "pv")
    frame = hourly({"pv1_kw": [1.0] * 24, "pv2_kw": [1.0] * 24})
    frame.iloc[5, 1] = np.nan
    with pytest.raises(DataError, match=r"no value for 2026-07-15T05:00:00\+08:00 \(column 'pv2_kw'\)"):
        step_means(frame, plan_index(), 0.25, "pv")


def test_a_forecast_not_covering_the_horizon_names_where_it_stops() -> None:
    short = hourly({"pv1_kw": [1.0] * 23})  # 00:00 - 23:00
    with pytest.raises(DataError, match=r"no value for 2026-07-15T23:00:00\+08:00 .* the plan needs "
                                        r"2026-07-15T00:00:00\+08:00 – 2026-07-16T00:00:00\+08:00"):
        step_means(short, plan_index(), 0.25, "pv")
    late = hourly({"pv1_kw": [1.0] * 24}, start="2026-07-15 02:00")
    with pytest.raises(DataError, match=r"no value for 2026-07-15T00:00:00\+08:00"):
        step_means(late, plan_index(), 0.25, "pv")


def test_naive_timestamps_are_refused() -> None:
    frame = hourly({"pv1_kw": [1.0] * 24}).tz_localize(None)
    with pytest.raises(DataError, match="no UTC offset"):
        step_means(frame, plan_index(), 0.25, "forecasts.pv_kw")


# --- the inputs and the plan --------------------------------------------------------------------

def pv_day(kw: float, hours=range(10, 14)) -> list[float]:
    """25 hourly values from 00:00: ``kw`` in ``hours``, else 0."""
    return [kw if h in hours else 0.0 for h in range(25)]


def test_a_direct_pv_forecast_changes_the_plan_exactly(tmp_path) -> None:
    """Load 900 kW 08-20 h, 400 kW otherwise; PV 200 kW 10-14 h, no battery: import = load − PV.

    Import = 12 h · 900 + 12 h · 400 − 4 h · 200 = 14,800 kWh; PV 800 kWh, all used on site.
    """
    case = tiny_case(tmp_path)
    forecast = Forecasts(pv_kw=hourly({"pv1_kw": pv_day(200.0)}))
    plan = plan_day_ahead(case, DAY, "optimal", forecasts=forecast)
    s = plan.schedule
    hours = s.index.hour
    assert s["pv_available_kw"].tolist() == pytest.approx(np.where((hours >= 10) & (hours < 14), 200.0, 0.0))
    assert s["grid_import_kw"].tolist() == pytest.approx(s["load_kw"] - s["pv_available_kw"], abs=1e-6)
    assert plan.kpis["grid_import_kwh"] == pytest.approx(14_800.0, abs=1e-6)
    assert plan.kpis["pv_generation_kwh"] == pytest.approx(800.0, abs=1e-6)
    assert plan.kpis["forecast_sources"] == {"pv.pv1": "pv_kw"}
    from_weather = plan_day_ahead(case, DAY, "optimal")
    assert from_weather.kpis["pv_generation_kwh"] > 2000 and "forecast_sources" not in from_weather.kpis
    assert from_weather.kpis["grid_import_kwh"] < plan.kpis["grid_import_kwh"]


def test_zero_pv_forecast_means_the_whole_load_is_imported(tmp_path) -> None:
    case = tiny_case(tmp_path)
    plan = plan_day_ahead(case, DAY, "optimal", forecasts=Forecasts(pv_kw=hourly({"pv1_kw": [0.0] * 25})))
    assert plan.kpis["grid_import_kwh"] == pytest.approx(12 * 900 + 12 * 400, abs=1e-6)


def test_direct_pv_overrides_the_weather_forecast_but_not_its_temperature(tmp_path) -> None:
    """PV from the direct forecast; the air-source heat pump's COP still from the forecast's temp_air."""
    case = tiny_case(tmp_path, heat_kw=50.0, heat_buses={"steam": {"demand_profile": "steam_kw"}},
                     heat_pumps={"hp1": {"bus": "pcc", "heat_bus": "steam", "max_elec_kw": 100, "source": "ambient",
                                         "cop": {"kind": "table", "source_temps_c": [0, 60], "cops": [2, 4]}}})
    weather = hourly({"ghi": pv_day(800.0, range(6, 19)), "temp_air": [30.0] * 25})
    forecasts = Forecasts(weather=weather, pv_kw=hourly({"pv1_kw": pv_day(50.0)}))
    inputs = day_ahead_inputs(case, DAY, forecasts=forecasts)
    assert inputs.pv_available_kw["pv1"].sum() * inputs.dt_h == pytest.approx(200.0)
    assert inputs.temp_air_c.tolist() == pytest.approx([30.0] * 96)
    assert inputs.cop("hp1").tolist() == pytest.approx([3.0] * 96)
    assert inputs.forecast_sources == {"pv.pv1": "pv_kw", "temp_air": "weather"}
    without_heat_pumps = day_ahead_inputs(tiny_case(tmp_path / "plain"), DAY, forecasts=forecasts)
    assert without_heat_pumps.forecast_sources == {"pv.pv1": "pv_kw"}


def two_arrays() -> dict:
    return {"pv1": {"bus": "pcc", "dc_capacity_kw": 600, "ac_capacity_kw": 500},
            "pv2": {"bus": "pcc", "dc_capacity_kw": 200, "ac_capacity_kw": 300, "azimuth_deg": 90}}


def test_a_total_pv_forecast_is_split_by_ac_rating(tmp_path) -> None:
    case = tiny_case(tmp_path, pv_arrays=two_arrays())
    inputs = day_ahead_inputs(case, DAY, forecasts=Forecasts(pv_kw=hourly({"pv_kw": pv_day(400.0)})))
    noon = pd.Timestamp("2026-07-15 12:00", tz=TZ)
    assert inputs.pv_available_kw.loc[noon].to_dict() == pytest.approx({"pv1": 250.0, "pv2": 150.0})
    assert inputs.forecast_sources == {"pv.pv1": "pv_kw", "pv.pv2": "pv_kw"}


def test_arrays_and_their_total_use_the_arrays(tmp_path) -> None:
    """The file ``forecast pv`` writes: every array and the total; the arrays are used, not the split total."""
    case = tiny_case(tmp_path, pv_arrays=two_arrays())
    frame = hourly({"pv1_kw": pv_day(100.0), "pv2_kw": pv_day(300.0), "pv_kw": pv_day(400.0)})
    inputs = day_ahead_inputs(case, DAY, forecasts=Forecasts(pv_kw=frame))
    noon = pd.Timestamp("2026-07-15 12:00", tz=TZ)
    assert inputs.pv_available_kw.loc[noon].to_dict() == pytest.approx({"pv1": 100.0, "pv2": 300.0})
    assert inputs.forecast_sources == {"pv.pv1": "pv_kw", "pv.pv2": "pv_kw"}
    with pytest.raises(DataError, match=r"^forecasts.pv_kw: the total pv_kw comes with array columns but not "
                                        r"pv2_kw; give every array's column, or the total alone$"):
        day_ahead_inputs(case, DAY, forecasts=Forecasts(pv_kw=frame.drop(columns="pv2_kw")))


def test_a_missing_total_is_not_needed_where_the_arrays_are_given(tmp_path) -> None:
    """The total is only read next to the arrays: an empty total cell is no missing value."""
    case = tiny_case(tmp_path, pv_arrays=two_arrays())
    frame = hourly({"pv1_kw": pv_day(100.0), "pv2_kw": pv_day(300.0), "pv_kw": pv_day(400.0)})
    frame.iloc[12, 2] = np.nan
    inputs = day_ahead_inputs(case, DAY, forecasts=Forecasts(pv_kw=frame))
    assert inputs.pv_available_kw.sum(axis=1).max() == pytest.approx(400.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_written_pv_forecast_is_read_back_as_it_is(tmp_path, seed) -> None:
    """Property: ``pv_forecast_table`` of any PV within the ratings, rounded to 3 decimals as written, is accepted
    and gives back the arrays' values."""
    case = tiny_case(tmp_path, pv_arrays=two_arrays())
    rng = np.random.default_rng(seed)
    pv = hourly({"pv1": rng.uniform(0, 500, 25), "pv2": rng.uniform(0, 300, 25)})
    table = pv_forecast_table(pv).round(3)
    assert list(table.columns) == ["pv1_kw", "pv2_kw", "pv_kw"]
    inputs = day_ahead_inputs(case, DAY, forecasts=Forecasts(pv_kw=table))
    hours = inputs.index.floor("1h")
    for array_id in ("pv1", "pv2"):
        expected = table[f"{array_id}_kw"].reindex(hours).to_numpy()
        assert inputs.pv_available_kw[array_id].to_numpy() == pytest.approx(expected, abs=1e-9)


def test_arrays_without_a_column_keep_pv_from_the_weather(tmp_path) -> None:
    case = tiny_case(tmp_path, pv_arrays=two_arrays())
    plain = day_ahead_inputs(case, DAY)
    inputs = day_ahead_inputs(case, DAY, forecasts=Forecasts(pv_kw=hourly({"pv1_kw": [0.0] * 25})))
    assert inputs.pv_available_kw["pv1"].abs().max() == 0.0
    assert inputs.pv_available_kw["pv2"].tolist() == pytest.approx(plain.pv_available_kw["pv2"].tolist())
    assert list(inputs.pv_available_kw.columns) == ["pv1", "pv2"]
    assert inputs.forecast_sources == {"pv.pv1": "pv_kw"}


@pytest.mark.parametrize(("frame", "message"), [
    (hourly({"pv1_kw": pv_day(600.0)}), r"forecasts.pv_kw.pv1_kw: 600 kW at 2026-07-15T10:00:00\+08:00 exceeds "
                                        r"the array's AC rating of 500 kW"),
    (hourly({"pv_kw": pv_day(501.0)}), r"forecasts.pv_kw.pv_kw: 501 kW .* the arrays' AC rating of 500 kW"),
    (hourly({"pv9_kw": pv_day(1.0)}), r"forecasts.pv_kw.pv9_kw: the park has no PV array column 'pv9_kw'; use pv1_kw"),
    (hourly({"pv1_kw": pv_day(-1.0)}), r"forecasts.pv_kw.pv1_kw: -1 kW at 2026-07-15T10:00:00\+08:00"),
    (hourly({"pv1_kw": pv_day(np.inf)}), r"forecasts.pv_kw.pv1_kw: inf kW"),
    (hourly({"pv_kw": pv_day(2.0), "pv1_kw": pv_day(1.0)}),
     r"^forecasts.pv_kw.pv_kw: 2 kW at 2026-07-15T10:00:00\+08:00 is not the sum of the array columns, 1 kW "
     r"\(tolerance 0.05 kW\); correct the total or leave the column out$"),
])
def test_bad_pv_forecasts_are_named(tmp_path, frame, message) -> None:
    case = tiny_case(tmp_path)
    with pytest.raises(DataError, match=message):
        day_ahead_inputs(case, DAY, forecasts=Forecasts(pv_kw=frame))


def test_a_direct_load_forecast_replaces_its_profile_and_wins_over_history(tmp_path) -> None:
    case = tiny_case(tmp_path, loads={"l1": {"bus": "pcc", "profile": "l1_kw", "scale": 2.0}})
    history = hourly({"l1_kw": [300.0] * 24 * 14}, start="2026-07-01")
    forecasts = Forecasts(load_kw=hourly({"l1_kw": [500.0] * 12 + [100.0] * 13}), load_history=history)
    inputs = day_ahead_inputs(case, DAY, forecasts=forecasts)
    assert inputs.load_kw["l1"].tolist() == pytest.approx([1000.0] * 48 + [200.0] * 48)
    assert inputs.forecast_sources == {"load.l1_kw": "load_kw"}
    assert forecasts.forecast_profiles == []
    with pytest.raises(DataError, match=r"forecasts.load_kw.l9_kw: the park has no load profile 'l9_kw'; use l1_kw"):
        day_ahead_inputs(case, DAY, forecasts=Forecasts(load_kw=hourly({"l9_kw": [1.0] * 25})))
    with pytest.raises(DataError, match="no heat buses"):
        day_ahead_inputs(case, DAY, forecasts=Forecasts(heat_kw=hourly({"steam_kw": [1.0] * 25})))


def test_a_direct_heat_forecast_replaces_the_heat_demand(tmp_path) -> None:
    case = tiny_case(tmp_path, heat_kw=80.0, heat_buses={"steam": {"demand_profile": "steam_kw", "scale": 0.5}},
                     electric_boilers={"eb1": {"bus": "pcc", "heat_bus": "steam", "max_elec_kw": 500,
                                               "efficiency": 1.0}})
    forecasts = Forecasts(heat_kw=hourly({"steam_kw": [200.0] * 25}), names={"heat_kw": "--heat-forecast"})
    plan = plan_day_ahead(case, DAY, "no-control", forecasts=forecasts)
    assert plan.schedule["eb1.heat_th_kw"].tolist() == pytest.approx([100.0] * 96)
    assert plan.kpis["heat_demand_kwh"] == pytest.approx(2400.0)
    assert plan.kpis["forecast_sources"] == {"heat.steam_kw": "heat_kw"}
    with pytest.raises(DataError, match=r"^--heat-forecast.x_kw: the park has no heat-demand profile 'x_kw'"):
        day_ahead_inputs(case, DAY, forecasts=Forecasts(heat_kw=hourly({"x_kw": [1.0] * 25}),
                                                        names={"heat_kw": "--heat-forecast"}))
