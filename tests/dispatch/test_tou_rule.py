"""The TOU-arbitrage rule (``tou-arbitrage``) on tiny parks computed by hand, and on the reference park."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from dispatch.day_ahead import plan_day_ahead
from dispatch.strategies import run_strategy
from dispatch.tou_rule import steps_left_in_run, tou_windows
from microgrid.case import load_case
from tests.conftest import make_inputs, two_price_park

CASE_DIR = Path(__file__).resolve().parents[2] / "cases" / "zhengzhou_park"


def tou_park(**grid) -> dict:
    """One battery (100 kWh, 50 kW, η 0.9/0.9, SoC 10–90 kWh, starting at 10 kWh); valley 00–04, peak 04–06."""
    park = two_price_park(capacity_kwh=100, max_charge_kw=50, max_discharge_kw=50, min_soc_frac=0.1,
                          max_soc_frac=0.9, initial_soc_frac=0.1)
    park["tariff"]["period_rules"] = [{"period": "valley", "start": "00:00", "end": "04:00"},
                                      {"period": "peak", "start": "04:00", "end": "06:00"}]
    park["grid"].update(grid)
    return park


def test_valley_charge_is_spread_and_peak_discharge_follows_the_load() -> None:
    """Flat load 40 kW, 1-hour steps from 00:00.

    Valley (4 steps, 80 kWh of room): 80 / (0.9 · 1 h · 4) = 22.22 kW every step, +20 kWh each:
    SoC 30, 50, 70, 90. Peak: 40 kW (the load) → 90 − 40/0.9 = 45.56 kWh; then what is left,
    (45.56 − 10) · 0.9 = 32 kW → 10 kWh. Flat: idle.
    Energy cost = 0.2 · 4 · 62.22 + 1.0 · (0 + 8) + 0.5 · 2 · 40 = 49.78 + 8 + 40 = 97.78 CNY.
    """
    result = run_strategy(make_inputs(tou_park(), [40.0] * 8), "tou-arbitrage")
    s = result.schedule
    p = 80 / 3.6
    assert s["b1.charge_kw"].tolist() == pytest.approx([p] * 4 + [0.0] * 4)
    assert s["b1.discharge_kw"].tolist() == pytest.approx([0.0] * 4 + [40.0, 32.0, 0.0, 0.0])
    assert s["b1.soc_kwh"].tolist() == pytest.approx([30, 50, 70, 90, 90 - 40 / 0.9, 10, 10, 10])
    assert s["grid_import_kw"].tolist() == pytest.approx([40 + p] * 4 + [0.0, 8.0, 40.0, 40.0])
    assert result.kpis["energy_cost_cny"] == pytest.approx(0.2 * 4 * (40 + p) + 8.0 + 0.5 * 80)
    assert result.kpis["strategy"] == "tou-arbitrage"


def test_thirty_minute_steps_give_the_same_day() -> None:
    """The same park on 30-minute steps: 8 valley steps at 22.22 kW (+10 kWh each), 4 peak steps."""
    hourly = run_strategy(make_inputs(tou_park(), [40.0] * 8), "tou-arbitrage")
    result = run_strategy(make_inputs(tou_park(), [40.0] * 16, freq="30min"), "tou-arbitrage")
    s = result.schedule
    assert s["b1.charge_kw"].iloc[:8].tolist() == pytest.approx([80 / 3.6] * 8)
    assert s["b1.soc_kwh"].iloc[:8].tolist() == pytest.approx([20, 30, 40, 50, 60, 70, 80, 90])
    # 40 kW for three half hours (−22.22 kWh each), then the 13.33 kWh left: 24 kW.
    assert s["b1.discharge_kw"].iloc[8:12].tolist() == pytest.approx([40.0, 40.0, 40.0, 24.0])
    assert result.kpis["energy_cost_cny"] == pytest.approx(hourly.kpis["energy_cost_cny"])


def test_the_import_limit_binds_the_charge() -> None:
    """Import limit 55 kW, load 40 kW: 15 kW of charge each valley step (SoC +13.5 kWh), never above the limit."""
    result = run_strategy(make_inputs(tou_park(max_import_kw=55), [40.0] * 8), "tou-arbitrage")
    s = result.schedule
    assert s["b1.charge_kw"].iloc[:4].tolist() == pytest.approx([15.0] * 4)
    assert s["b1.soc_kwh"].iloc[:4].tolist() == pytest.approx([23.5, 37.0, 50.5, 64.0])
    assert s["grid_import_kw"].max() == pytest.approx(55.0)
    assert result.kpis["unserved_load_kwh"] == pytest.approx(0.0)


def test_no_battery_export_and_pv_surplus_charges_at_any_time() -> None:
    """Export allowed, load 40 kW; PV 30 kW in the first peak hour, 60 kW in the first flat hour.

    Peak step 4: discharge only the net load 10 kW (nothing exported). Flat step 6: the 20 kW surplus
    charges the battery. The battery never makes the park export.
    """
    park = tou_park(max_export_kw=1000)
    park["tariff"]["export_price_cny_per_kwh"] = 0.3
    park["pv_arrays"] = {"pv1": {"bus": "main", "dc_capacity_kw": 100, "ac_capacity_kw": 100}}
    pv = [0.0] * 4 + [30.0, 0.0, 60.0, 0.0]
    s = run_strategy(make_inputs(park, [40.0] * 8, pv_kw=pv), "tou-arbitrage").schedule
    assert s["b1.discharge_kw"].iloc[4] == pytest.approx(10.0)
    assert s["b1.charge_kw"].iloc[6] == pytest.approx(20.0)
    assert s["grid_export_kw"].max() == pytest.approx(0.0)


def test_soc_stays_within_limits_and_flows_balance() -> None:
    """Seeded random loads and PV over two days of 15-minute steps: SoC in [10, 90] kWh, every step balanced."""
    rng = np.random.default_rng(7)
    park = tou_park(max_import_kw=80, max_export_kw=20)
    park["pv_arrays"] = {"pv1": {"bus": "main", "dc_capacity_kw": 100, "ac_capacity_kw": 100}}
    n = 192
    load = rng.uniform(0, 60, n).tolist()
    pv = rng.uniform(0, 80, n).tolist()
    result = run_strategy(make_inputs(park, load, pv_kw=pv, freq="15min"), "tou-arbitrage")
    s = result.schedule
    assert s["b1.soc_kwh"].min() >= 10 - 1e-9 and s["b1.soc_kwh"].max() <= 90 + 1e-9
    assert (s["b1.charge_kw"] <= 50 + 1e-9).all() and (s["b1.discharge_kw"] <= 50 + 1e-9).all()
    assert not ((s["b1.charge_kw"] > 1e-9) & (s["b1.discharge_kw"] > 1e-9)).any()
    balance = (s["pv_used_kw"] + s["grid_import_kw"] + s["battery_discharge_kw"]
               - s["load_kw"] - s["battery_charge_kw"] - s["grid_export_kw"] - s["unserved_load_kw"])
    assert balance.abs().max() < 1e-9
    # Discharge never exceeds the net load: the battery exports nothing.
    net = s["load_kw"] - s["pv_available_kw"]
    assert (s["b1.discharge_kw"] <= net.clip(lower=0) + 1e-9).all()


def test_windows_run_past_the_horizon() -> None:
    """A horizon of the first two valley hours still sees the 4-hour window: steps left 4, 3."""
    left, peak = tou_windows(make_inputs(tou_park(), [40.0] * 2))
    assert left.tolist() == [4, 3]
    assert peak.tolist() == [False, False]
    assert steps_left_in_run(np.array([False, True, True, False, True])).tolist() == [0, 2, 1, 0, 1]


def test_reference_summer_day_arbitrage_beats_no_control() -> None:
    """2026-07-15 on the reference park: energy arbitrage lowers the total cost; every step balances."""
    case = load_case(CASE_DIR)
    day = dt.date(2026, 7, 15)
    tou = plan_day_ahead(case, day, "tou-arbitrage")
    idle = plan_day_ahead(case, day, "no-control")
    assert tou.kpis["total_cost_cny"] < idle.kpis["total_cost_cny"]
    assert tou.kpis["energy_cost_cny"] < idle.kpis["energy_cost_cny"]
    s = tou.schedule
    assert s["battery_charge_kw"].sum() > 0 and s["battery_discharge_kw"].sum() > 0
    balance = (s["pv_used_kw"] + s["grid_import_kw"] + s["battery_discharge_kw"]
               - s["load_kw"] - s["battery_charge_kw"] - s["grid_export_kw"])
    assert balance.abs().max() < 1e-6
    assert s["grid_import_kw"].max() <= case.park.grid.max_import_kw + 1e-9
    valley = s["tou_period"] == "valley"
    assert s.loc[~valley & (s["pv_available_kw"] < s["load_kw"]), "battery_charge_kw"].max() == pytest.approx(0.0)


def test_rolling_tou_arbitrage_acts_as_the_day_ahead_rule() -> None:
    """The rule is causal: re-planned every hour on the actual data, it charges and discharges as in one day-ahead run."""
    import pandas as pd

    from dispatch.rolling import RollingConfig, run_rolling_horizon

    case = load_case(CASE_DIR)
    day = dt.date(2026, 7, 15)
    tz = case.park.site.timezone
    start = pd.Timestamp(day).tz_localize(tz)
    rolling = run_rolling_horizon(case, start, start + pd.Timedelta(days=1), RollingConfig(strategy="tou-arbitrage"))
    ahead = plan_day_ahead(case, day, "tou-arbitrage").schedule
    assert rolling.kpis["strategy"] == "tou-arbitrage" and rolling.kpis["fallback_windows"] == 0
    assert rolling.schedule["battery_soc_kwh"].to_numpy() == pytest.approx(ahead["battery_soc_kwh"].to_numpy())
