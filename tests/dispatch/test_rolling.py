"""The rolling-horizon engine: state carried across windows, fallback, perfect foresight."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml

from dispatch.day_ahead import plan_day_ahead
from dispatch.inputs import PlantState, day_ahead_inputs
from dispatch.kpis import compute_kpis
from dispatch.model import DispatchConfig
from dispatch.optimize import DispatchModel
from dispatch.rolling import RollingConfig, period_kpis, run_rolling_horizon
from microgrid.case import load_case
from microgrid.errors import InvalidRequestError, SolverError

TZ = "Asia/Shanghai"

PARK = {
    "site": {"name": "rolling park", "latitude_deg": 34.75, "longitude_deg": 113.63, "altitude_m": 110},
    "grid": {"max_import_kw": 3000, "max_export_kw": 500},
    "tariff": {"preset": "henan_2024"},
    "pv_arrays": {"pv1": {"bus": "pcc", "dc_capacity_kw": 900, "ac_capacity_kw": 750}},
    "batteries": {"b1": {"bus": "pcc", "capacity_kwh": 800, "max_charge_kw": 400, "max_discharge_kw": 400,
                         "initial_soc_frac": 0.2, "throughput_cost_cny_per_kwh": 0.05}},
    "loads": {"l1": {"bus": "pcc", "profile": "l1_kw"}},
    "heat_buses": {"steam": {"demand_profile": "steam_kw"}},
    "electric_boilers": {"eb1": {"bus": "pcc", "heat_bus": "steam", "max_elec_kw": 600}},
    "thermal_stores": {"ts1": {"heat_bus": "steam", "capacity_kwh": 1500, "max_charge_kw": 600,
                               "max_discharge_kw": 600, "loss_frac_per_h": 0.01, "initial_soc_frac": 0.3}},
    "energy_loads": {"ev": {"bus": "pcc", "arrival": "18:00", "departure": "06:00", "energy_kwh": 600, "max_kw": 300}},
    "shiftable_loads": {"cold": {"bus": "pcc", "profile": "cold_kw", "max_shift_h": 1}},
}


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Three days at 15 minutes: a sunny day shape, two-level loads, steady heat."""
    folder = tmp_path_factory.mktemp("rolling_case")
    (folder / "park.yaml").write_text(yaml.safe_dump(PARK, sort_keys=False))
    index = pd.date_range("2026-07-14", periods=4 * 96, freq="15min", tz=TZ)
    hours = index.hour + index.minute / 60
    sun = np.clip(np.sin((hours - 6) / 13 * np.pi), 0, None)
    stamps = [t.isoformat() for t in index]
    pd.DataFrame({"timestamp": stamps, "ghi": 900 * sun, "dni": 700 * sun, "dhi": 150 * sun,
                  "temp_air": 28.0, "wind_speed": 2.0}).to_csv(folder / "weather.csv", index=False)
    pd.DataFrame({"timestamp": stamps, "l1_kw": np.where((hours >= 8) & (hours < 20), 900.0, 400.0),
                  "cold_kw": 100.0 + 20 * np.sin(hours / 24 * 2 * np.pi)}).to_csv(folder / "loads.csv", index=False)
    pd.DataFrame({"timestamp": stamps, "steam_kw": np.where((hours >= 6) & (hours < 22), 400.0, 150.0)}).to_csv(
        folder / "heat.csv", index=False)
    return load_case(folder)


START = pd.Timestamp("2026-07-15", tz=TZ)


def test_state_carries_exactly_across_windows(case) -> None:
    """Every committed step continues from the previous one: store and battery energy conserved."""
    result = run_rolling_horizon(case, START, START + pd.Timedelta(hours=12),
                                 RollingConfig(strategy="perfect-foresight", horizon_h=12, replan_h=2))
    s = result.schedule
    assert len(s) == 48 and len(result.windows) == 6
    store = case.park.thermal_stores["ts1"]
    retention = (1 - store.loss_frac_per_h) ** 0.25
    previous = np.concatenate([[store.initial_soc_kwh], s["ts1.soc_th_kwh"].to_numpy()[:-1]])
    expected = retention * previous + (s["ts1.charge_th_kw"] - s["ts1.discharge_th_kw"]).to_numpy() * 0.25
    assert np.abs(expected - s["ts1.soc_th_kwh"].to_numpy()).max() < 1e-6
    battery = case.park.batteries["b1"]
    previous = np.concatenate([[battery.initial_soc_kwh], s["b1.soc_kwh"].to_numpy()[:-1]])
    expected = previous + (0.95 * s["b1.charge_kw"] - s["b1.discharge_kw"] / 0.95).to_numpy() * 0.25
    assert np.abs(expected - s["b1.soc_kwh"].to_numpy()).max() < 1e-6
    assert result.state.thermal_soc_kwh["ts1"] == pytest.approx(s["ts1.soc_th_kwh"].iloc[-1])
    assert result.state.soc_kwh["b1"] == pytest.approx(s["b1.soc_kwh"].iloc[-1])
    balance = s["pv_used_kw"] + s["grid_import_kw"] + s["battery_discharge_kw"] - s["load_kw"] \
        - s["battery_charge_kw"] - s["grid_export_kw"]
    assert balance.abs().max() < 1e-6
    assert result.kpis["fallback_windows"] == 0


def test_fleet_and_shifted_energy_are_delivered_across_windows(case) -> None:
    """Over a whole day in 3-hour windows the EV session due at 06:00 gets its 600 kWh and
    the cold store's shifted energy is all recovered."""
    result = run_rolling_horizon(case, START, START + pd.Timedelta(days=1),
                                 RollingConfig(strategy="perfect-foresight", horizon_h=24, replan_h=3))
    s = result.schedule
    hours = s.index.tz_convert(TZ).hour
    assert s["ev.load_kw"][hours < 6].sum() * 0.25 == pytest.approx(600.0, abs=1e-3)
    moved = (s["cold.load_kw"] - s["cold.baseline_kw"]).sum() * 0.25
    assert abs(moved - result.state.shift_ahead_kwh["cold"]) < 1e-6
    assert abs(result.state.shift_ahead_kwh["cold"]) <= 100 * 1.0 + 1e-6   # within one hour of baseline


def test_perfect_foresight_over_one_window_equals_the_day_ahead_plan(case) -> None:
    """One 24-hour window from midnight with actual data is the day-ahead problem: same optimum.

    (Solved to optimality; the plans may differ where the optimum is not unique,
    so the cost of the rolling schedule is priced with the day-ahead rules.)"""
    exact = DispatchConfig(mip_gap=0.0, end_of_horizon="minimum")
    state = PlantState(month_to_date_peak_kw=0.0)
    rolling = run_rolling_horizon(case, START, START + pd.Timedelta(days=1),
                                  RollingConfig(strategy="perfect-foresight", horizon_h=24, replan_h=24, dispatch=exact),
                                  state=state)
    day_ahead = plan_day_ahead(case, dt.date(2026, 7, 15), "optimal", exact, state=state)
    assert len(rolling.windows) == 1 and not rolling.windows["fallback"].any()
    priced = compute_kpis(rolling.schedule, day_ahead_inputs(case, dt.date(2026, 7, 15), state=state))
    assert priced["total_cost_cny"] == pytest.approx(day_ahead.kpis["total_cost_cny"], rel=1e-7)
    assert rolling.schedule["ev.load_kw"].sum() == pytest.approx(day_ahead.schedule["ev.load_kw"].sum())


def test_a_failing_window_is_flagged_and_falls_back(case, monkeypatch) -> None:
    failing = START + pd.Timedelta(hours=4)
    original = DispatchModel.plan

    def plan(self, inputs, warm_start=None):
        if inputs.index[0] == failing:
            raise SolverError("HiGHS stopped without a plan (forced in a test)")
        return original(self, inputs, warm_start)

    monkeypatch.setattr(DispatchModel, "plan", plan)
    result = run_rolling_horizon(case, START, START + pd.Timedelta(hours=8),
                                 RollingConfig(strategy="perfect-foresight", horizon_h=12, replan_h=2))
    windows = result.windows
    assert windows["fallback"].tolist() == [False, False, True, False]
    assert "forced in a test" in windows.loc[2, "reason"]
    assert result.kpis["fallback_windows"] == 1
    # The fallback window still has its steps, planned by the rule-based action.
    assert len(result.schedule) == 32
    assert result.schedule.index[16] == failing


def test_mpc_sees_forecast_errors_but_stays_physical(case) -> None:
    mpc = run_rolling_horizon(case, START, START + pd.Timedelta(hours=12),
                              RollingConfig(strategy="mpc", horizon_h=12, replan_h=3, seed=7))
    again = run_rolling_horizon(case, START, START + pd.Timedelta(hours=12),
                                RollingConfig(strategy="mpc", horizon_h=12, replan_h=3, seed=7))
    pd.testing.assert_frame_equal(mpc.schedule, again.schedule)   # seeded errors: reproducible
    s = mpc.schedule
    assert (s["grid_import_kw"] <= 3000 + 1e-6).all()
    assert (s["pv_used_kw"] <= s["pv_available_kw"] + 1e-6).all()
    assert s["b1.soc_kwh"].between(80 - 1e-6, 720 + 1e-6).all()


def test_heuristic_strategies_run_on_the_same_engine(case) -> None:
    for strategy in ("no-control", "rule-based"):
        result = run_rolling_horizon(case, START, START + pd.Timedelta(hours=6), RollingConfig(strategy=strategy))
        assert len(result.schedule) == 24
        assert result.kpis["strategy"] == strategy


def test_period_kpis_bill_each_month_pro_rata(case) -> None:
    result = run_rolling_horizon(case, START, START + pd.Timedelta(hours=6), RollingConfig(strategy="no-control"))
    kpis = period_kpis(result.schedule, case.park)
    peak = result.schedule["grid_import_kw"].max()
    assert kpis["demand_charge_cny"] == pytest.approx(38.4 * peak * 0.25 / 31)


def test_bad_periods_are_refused(case) -> None:
    with pytest.raises(InvalidRequestError, match="end"):
        run_rolling_horizon(case, START, START, RollingConfig(strategy="no-control"))
    with pytest.raises(InvalidRequestError, match="replan_h"):
        RollingConfig(horizon_h=2, replan_h=3)


def test_integer_horizon_relaxes_only_far_integers() -> None:
    """With integer decisions kept for the first 2 hours, later starts are continuous."""
    import pyomo.environ as pyo

    from dispatch.model import build_model, set_inputs
    from tests.conftest import make_inputs, two_price_park

    park = two_price_park(capacity_kwh=0, initial_soc_frac=0.0)
    park["shiftable_processes"] = {"grind": {"bus": "main", "power_kw": 100, "duration_h": 1}}
    inputs = make_inputs(park, [0.0] * 6)
    config = DispatchConfig(integer_horizon_h=2)
    m = build_model(inputs, config, exclusive=False)
    set_inputs(m, inputs, config)
    domains = {tau: m.process_start["grind", tau].domain for tau in range(6)}
    assert domains[0] is pyo.Binary and domains[1] is pyo.Binary
    assert all(domains[tau] is pyo.UnitInterval for tau in range(2, 6))
    # The same model for another window: the domains follow the config again.
    set_inputs(m, inputs, DispatchConfig(integer_horizon_h=6))
    assert all(m.process_start["grind", tau].domain is pyo.Binary for tau in range(6))
