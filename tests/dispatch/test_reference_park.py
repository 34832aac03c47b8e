"""Property checks of plans for the bundled reference park, on days across the year."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dispatch.day_ahead import plan_day_ahead, write_outputs
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
    demand = tariff.demand_charge_cny_per_kw_month * s["grid_import_kw"].max()
    wear = sum(b.throughput_cost_cny_per_kwh * (s[f"{i}.charge_kw"] + s[f"{i}.discharge_kw"]).sum() * dt_h
               for i, b in case.park.batteries.items())
    assert kpis["energy_cost_cny"] == pytest.approx(energy, abs=0.05)
    assert kpis["export_revenue_cny"] == pytest.approx(revenue, abs=0.05)
    assert kpis["demand_charge_cny"] == pytest.approx(demand, abs=0.05)
    assert kpis["total_cost_cny"] == pytest.approx(energy - revenue + demand + wear, abs=0.1)
    assert kpis["grid_import_kwh"] == pytest.approx(s["grid_import_kw"].sum() * dt_h, abs=0.01)
    assert kpis["co2_kg"] == pytest.approx(s["grid_import_kw"].sum() * dt_h * tariff.co2_kg_per_kwh, abs=0.01)
    assert kpis["pv_generation_kwh"] == pytest.approx(s["pv_available_kw"].sum() * dt_h, abs=0.01)
    # The solver's own objective is the same money (no slack was used).
    assert result.objective_cny == pytest.approx(kpis["total_cost_cny"], rel=1e-6)


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
