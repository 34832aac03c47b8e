"""Property checks of plans for the bundled reference park, on days across the year."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dispatch.day_ahead import plan_day_ahead, write_outputs
from dispatch.inputs import day_ahead_inputs
from dispatch.heat import HEAT_DUMP_PENALTY_CNY_PER_KWH
from dispatch.model import RENEWABLE_USE_CREDIT_CNY_PER_KWH, end_of_horizon_values
from dispatch.results import SolverStatus
from microgrid.case import Case, load_case

CASE_DIR = Path(__file__).resolve().parents[2] / "cases" / "zhengzhou_park"
TOL_KW = 1e-3


@pytest.fixture(scope="module")
def case() -> Case:
    return load_case(CASE_DIR)


def sunny_and_cloudy_days(case: Case, months: tuple[int, ...]) -> list[dt.date]:
    """For each month, the day with the most and the least irradiation in the case's weather."""
    return [day for month in months for day in case.sunniest_and_cloudiest_day(month)]


# One month per tariff season: Jan/Dec (critical 17-18), Mar-May and Sep-Nov
# (midday valley), June (no critical peak), Jul/Aug (critical 20-23).
SEASON_MONTHS = (1, 4, 6, 7, 10, 12)


@pytest.fixture(scope="module")
def plans(case: Case) -> dict[tuple[dt.date, str], object]:
    days = sunny_and_cloudy_days(case, SEASON_MONTHS)
    return {(day, s): plan_day_ahead(case, day, s) for day in days for s in ("optimal", "rule-based", "no-control")}


def test_days_cover_sunny_and_cloudy(case: Case) -> None:
    daily = case.weather["ghi"].tz_convert("Asia/Shanghai").resample("1D").sum() * 0.25 / 1000
    days = sunny_and_cloudy_days(case, SEASON_MONTHS)
    sunny, cloudy = days[0::2], days[1::2]
    for s_day, c_day in zip(sunny, cloudy):
        assert daily.loc[str(s_day)] > 2 * daily.loc[str(c_day)], (s_day, c_day)


def test_optimal_beats_both_heuristics_every_day(plans) -> None:
    days = sorted({day for day, _ in plans})
    for day in days:
        optimal = plans[(day, "optimal")].kpis["total_cost_cny"]
        for other in ("rule-based", "no-control"):
            assert optimal < plans[(day, other)].kpis["total_cost_cny"] - 1.0, (day, other)


def test_every_plan_is_physical(case: Case, plans) -> None:
    park = case.park
    for (day, strategy), result in plans.items():
        s = result.schedule
        assert len(s) == 96
        lhs = s["pv_used_kw"] + s["grid_import_kw"] + s["battery_discharge_kw"]
        rhs = s["load_kw"] + s["battery_charge_kw"] + s["grid_export_kw"]
        assert np.abs(lhs - rhs).max() < TOL_KW, (day, strategy)
        assert (s["pv_used_kw"] <= s["pv_available_kw"] + TOL_KW).all()
        assert (s["grid_import_kw"] <= park.grid.max_import_kw + TOL_KW).all()
        assert (s["grid_export_kw"] <= park.grid.max_export_kw + TOL_KW).all()
        assert (s["grid_export_kw"] <= s["pv_used_kw"] + TOL_KW).all(), "only PV surplus is exported"
        assert (s[[c for c in s.columns if c.endswith("_kw")]] >= -TOL_KW).all().all()
        for b, battery in park.batteries.items():
            assert s[f"{b}.soc_kwh"].between(battery.min_soc_kwh - TOL_KW, battery.max_soc_kwh + TOL_KW).all()
            assert (s[f"{b}.charge_kw"] <= battery.max_charge_kw + TOL_KW).all()
            assert (s[f"{b}.discharge_kw"] <= battery.max_discharge_kw + TOL_KW).all()
            # SoC follows the charge/discharge flows exactly.
            previous = np.concatenate([[battery.initial_soc_kwh], s[f"{b}.soc_kwh"].to_numpy()[:-1]])
            expected = previous + (battery.charge_efficiency * s[f"{b}.charge_kw"]
                                   - s[f"{b}.discharge_kw"] / battery.discharge_efficiency) * 0.25
            assert np.abs(expected - s[f"{b}.soc_kwh"]).max() < TOL_KW
        assert result.slack == []
        if strategy == "optimal":
            assert result.status is SolverStatus.OPTIMAL
            assert result.mip_gap <= 1e-3


def test_costs_recomputed_from_the_csv_equal_the_kpis(case: Case, tmp_path: Path) -> None:
    day = dt.date(2026, 4, 15)
    result = plan_day_ahead(case, day, "optimal")
    write_outputs(result, tmp_path, plot=False)
    s = pd.read_csv(tmp_path / "schedule.csv")
    kpis = json.loads((tmp_path / "kpis.json").read_text())
    tariff = case.park.tariff
    dt_h = (pd.Timestamp(s["timestamp"].iloc[1]) - pd.Timestamp(s["timestamp"].iloc[0])) / pd.Timedelta("1h")
    energy = (s["grid_import_kw"] * s["price_import_cny_per_kwh"]).sum() * dt_h
    revenue = (s["grid_export_kw"] * s["price_export_cny_per_kwh"]).sum() * dt_h
    # No month-to-date peak known: the day is charged its share of the month (1/30 of April) for its peak.
    assert kpis["demand_charge_basis"] == "pro_rata" and kpis["month_to_date_peak_kw"] is None
    demand = tariff.demand_charge_cny_per_kw_month / 30 * s["grid_import_kw"].max()
    wear = sum(b.throughput_cost_cny_per_kwh * (s[f"{i}.charge_kw"] + s[f"{i}.discharge_kw"]).sum() * dt_h
               for i, b in case.park.batteries.items())
    shed = sum(c.shed_cost_cny_per_kwh * s[f"{i}.shed_kw"].sum() * dt_h for i, c in case.park.curtailable_loads.items())
    assert kpis["energy_cost_cny"] == pytest.approx(energy, abs=0.05)
    assert kpis["export_revenue_cny"] == pytest.approx(revenue, abs=0.05)
    assert kpis["demand_charge_cny"] == pytest.approx(demand, abs=0.05)
    assert kpis["shed_cost_cny"] == pytest.approx(shed, abs=0.05)
    assert kpis["total_cost_cny"] == pytest.approx(energy - revenue + demand + wear + shed, abs=0.1)
    assert kpis["grid_import_kwh"] == pytest.approx(s["grid_import_kw"].sum() * dt_h, abs=0.01)
    assert kpis["co2_kg"] == pytest.approx(s["grid_import_kw"].sum() * dt_h * tariff.co2_kg_per_kwh, abs=0.01)
    assert kpis["pv_generation_kwh"] == pytest.approx(s["pv_available_kw"].sum() * dt_h, abs=0.01)
    # The solver's own objective is the same money, less the value of the energy the
    # stores keep at the end (end_of_horizon='value'), with no slack used, and the two
    # tie-breaks: a credit for PV used net of the batteries' net charge, a penalty on vented heat.
    ends = end_of_horizon_values(day_ahead_inputs(case, day), "value")
    kept = sum(ends[b].value_cny_per_kwh * s[f"{b}.soc_kwh"].iloc[-1] for b in case.park.batteries)
    kept += sum(ends[j].value_cny_per_kwh * s[f"{j}.soc_th_kwh"].iloc[-1] for j in case.park.thermal_stores)
    assert kept > 0
    net_used = s["pv_used_kw"] - s["battery_charge_kw"] + s["battery_discharge_kw"]
    credit = RENEWABLE_USE_CREDIT_CNY_PER_KWH * net_used.sum() * dt_h
    vented = HEAT_DUMP_PENALTY_CNY_PER_KWH * sum(s[f"{h}.dumped_th_kw"].sum() for h in case.park.heat_buses) * dt_h
    assert result.objective_cny == pytest.approx(kpis["total_cost_cny"] - kept - credit + vented, rel=1e-6)


def test_month_to_date_peak_lowers_the_demand_charge(case: Case) -> None:
    from dispatch.inputs import PlantState

    day = dt.date(2026, 7, 15)
    fresh = plan_day_ahead(case, day, "optimal")
    later = plan_day_ahead(case, day, "optimal", state=PlantState(month_to_date_peak_kw=5000.0))
    assert later.kpis["demand_charge_cny"] == pytest.approx(0.0, abs=1e-6)
    assert later.kpis["energy_cost_cny"] <= fresh.kpis["energy_cost_cny"] + 1e-6


def test_look_ahead_horizon(case: Case) -> None:
    result = plan_day_ahead(case, dt.date(2026, 7, 15), "optimal", horizon_h=36)
    assert len(result.schedule) == 144
    assert result.schedule.index[-1] == pd.Timestamp("2026-07-16 11:45", tz="Asia/Shanghai")


def test_heat_balances_and_stores_stay_in_bounds(case: Case, plans) -> None:
    park = case.park
    for (day, strategy), result in plans.items():
        s = result.schedule
        for bus in park.heat_buses:
            supply = sum(s[f"{h}.heat_th_kw"] for h, hp in park.heat_pumps.items() if hp.heat_bus == bus)
            supply = supply + sum(s[f"{k}.heat_th_kw"] for k, b in park.electric_boilers.items() if b.heat_bus == bus)
            supply = supply + sum(s[f"{j}.discharge_th_kw"] - s[f"{j}.charge_th_kw"]
                                  for j, st in park.thermal_stores.items() if st.heat_bus == bus)
            balance = supply + s[f"{bus}.unserved_th_kw"] - s[f"{bus}.demand_th_kw"] - s[f"{bus}.dumped_th_kw"]
            assert np.abs(balance).max() < TOL_KW, (day, strategy, bus)
            assert s[f"{bus}.unserved_th_kw"].max() < TOL_KW
        for j, store in park.thermal_stores.items():
            assert s[f"{j}.soc_th_kwh"].between(store.min_soc_kwh - TOL_KW, store.max_soc_kwh + TOL_KW).all()
            retention = (1 - store.loss_frac_per_h) ** 0.25
            previous = np.concatenate([[store.initial_soc_kwh], s[f"{j}.soc_th_kwh"].to_numpy()[:-1]])
            expected = retention * previous + (s[f"{j}.charge_th_kw"] - s[f"{j}.discharge_th_kw"]) * 0.25
            assert np.abs(expected - s[f"{j}.soc_th_kwh"]).max() < TOL_KW
        for h, hp in park.heat_pumps.items():
            elec = s[f"{h}.elec_kw"]
            running = elec > TOL_KW
            assert (elec[running] >= hp.min_load_frac * hp.max_elec_kw - TOL_KW).all(), (day, strategy, h)
            assert (elec <= hp.max_elec_kw + TOL_KW).all()
            assert np.allclose(s[f"{h}.heat_th_kw"], elec * s[f"{h}.cop"], atol=TOL_KW)
            assert s[f"{h}.cop"].between(2.2, 3.6).all()


def test_processes_run_whole_inside_their_windows(case: Case, plans) -> None:
    from microgrid.workdays import is_workday

    park = case.park
    for (day, strategy), result in plans.items():
        s = result.schedule
        local = s.index.tz_convert("Asia/Shanghai")
        for p, process in park.shiftable_processes.items():
            power = s[f"{p}.load_kw"].to_numpy()
            on = power > TOL_KW
            if not is_workday(day):
                assert not on.any(), (day, p)
                continue
            steps = np.flatnonzero(on)
            assert len(steps) == round(process.duration_h / 0.25), (day, strategy, p)
            assert (np.diff(steps) == 1).all(), "one uninterrupted run"
            assert np.allclose(power[on], process.power_kw)
            start = local[steps[0]].hour * 60 + local[steps[0]].minute
            end = local[steps[-1]].hour * 60 + local[steps[-1]].minute + 15
            earliest = int(process.earliest_start[:2]) * 60 + int(process.earliest_start[3:])
            latest = int(process.latest_end[:2]) * 60 + int(process.latest_end[3:])
            assert earliest <= start and end <= latest, (day, strategy, p)


def test_fleet_gets_its_energy(case: Case, plans) -> None:
    """Optimal: the session that arrived the evening before (a working day) receives its
    2,400 kWh before 06:00; the evening session may wait for the next night's valley.
    No control: the evening session charges at full power from 18:00."""
    from microgrid.workdays import is_workday

    trucks = case.park.energy_loads["trucks"]
    for (day, strategy), result in plans.items():
        s = result.schedule
        hours = s.index.tz_convert("Asia/Shanghai").hour
        power = s["trucks.load_kw"]
        assert (power <= trucks.max_kw + TOL_KW).all()
        assert (power[(hours >= 6) & (hours < 18)] < TOL_KW).all(), "only between arrival and departure"
        previous_day_active = is_workday(day - dt.timedelta(days=1))
        morning = power[hours < 6].sum() * 0.25
        evening = power[hours >= 18].sum() * 0.25
        if strategy == "optimal":
            assert morning == pytest.approx(trucks.energy_kwh if previous_day_active else 0.0, abs=1e-3), day
        else:
            assert morning == pytest.approx(0.0, abs=1e-3)
            assert evening == pytest.approx(trucks.energy_kwh if is_workday(day) else 0.0, abs=1e-3), day


def test_shedding_and_shifting_stay_within_their_limits(case: Case, plans) -> None:
    hvac = case.park.curtailable_loads["office_hvac"]
    cold = case.park.shiftable_loads["cold_store"]
    for (day, strategy), result in plans.items():
        s = result.schedule
        shed = s["office_hvac.shed_kw"]
        assert (shed <= hvac.max_shed_kw + TOL_KW).all()
        assert (shed <= s["office_hvac.baseline_kw"] + TOL_KW).all()
        assert (shed > TOL_KW).sum() * 0.25 <= hvac.max_shed_hours_per_day + 1e-9
        assert np.allclose(s["office_hvac.load_kw"], s["office_hvac.baseline_kw"] - shed, atol=TOL_KW)
        moved = (s["cold_store.load_kw"] - s["cold_store.baseline_kw"]).cumsum() * 0.25
        assert abs(moved.iloc[-1]) < 1e-3, "all energy recovered within the day"
        assert (s["cold_store.load_kw"] <= cold.max_kw + TOL_KW).all()
        if strategy != "optimal":
            assert np.allclose(s["cold_store.load_kw"], s["cold_store.baseline_kw"])
            assert shed.max() == 0.0
