"""Investment KPIs of studies and sweeps: recomputed from their own outputs, and zero for no new assets."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy_financial as npf
import pandas as pd
import pytest

from dispatch.rolling import period_kpis
from dispatch.studies.study import StudySettings, run_study
from dispatch.studies.sweep import parse_set, run_sweep_in_process
from microgrid.case import load_case
from tests.service.helpers import TINY_PARK, write_tiny_case

PARK = {**TINY_PARK, "pv_arrays": {"pv1": {"bus": "pcc", "dc_capacity_kw": 900, "ac_capacity_kw": 750}}}
DAY = dt.date(2026, 7, 15)


def write_case(folder: Path) -> Path:
    return write_tiny_case(folder, PARK, start="2026-07-14", days=3, day_kw=600.0, night_kw=250.0)


def operating_cost(schedule: pd.DataFrame, case) -> float:
    kpis = period_kpis(schedule, case.park)
    return kpis["total_cost_cny"] - kpis["battery_wear_cost_cny"]


def test_study_investment_kpis_are_recomputed_from_its_schedules_and_cash_flows(tmp_path: Path) -> None:
    case = load_case(write_case(tmp_path / "case"))
    settings = StudySettings(DAY, DAY, ("no-control", "rule-based"), baseline="no-control")
    out = tmp_path / "out"
    run_study(case, settings, out)
    kpis = json.loads((out / "kpis.json").read_text())
    economics = kpis["economics"]
    cash = pd.read_csv(out / "cash_flows.csv")
    baseline = case.park.without_new_assets()
    for strategy, row in kpis["strategies"].items():
        assert row["investment_baseline"] == "park without pv1, b1 (same strategy)"
        assert row["annualised_from_days"] == 1
        own = operating_cost(pd.read_parquet(out / strategy / "schedule.parquet"), case)
        base_schedule = pd.read_parquet(out / "no-new-assets" / strategy / "schedule.parquet")
        assert "b1.soc_kwh" not in base_schedule and "pv1.used_kw" not in base_schedule
        base = period_kpis(base_schedule, baseline)["total_cost_cny"]  # no battery: no wear
        assert row["annual_savings_cny"] == pytest.approx((base - own) * 365, rel=1e-9)
        flows = cash.loc[cash["strategy"] == strategy].sort_values("year")
        assert flows["year"].tolist() == list(range(economics["analysis_years"] + 1))
        parts = flows[["capex_cny", "subsidy_cny", "fixed_om_cny", "variable_om_cny", "replacement_cny",
                       "salvage_cny", "savings_cny"]].sum(axis=1)
        assert flows["net_cny"].to_numpy() == pytest.approx(parts.to_numpy())
        assert row["npv_cny"] == pytest.approx(npf.npv(economics["discount_rate_frac"], flows["net_cny"]), rel=1e-6)
        assert row["capex_cny"] == pytest.approx(900 * 3000 + 400 * 900 + 200 * 300)  # the default costs
        assert row["lcoe_pv_cny_per_kwh"] > 0
    assert kpis["strategies"]["no-control"]["lcos_cny_per_kwh"] is None  # the battery never discharges
    report = (out / "report.html").read_text()
    assert "Investment" in report and "annualised from 1 day" in report and "park without pv1, b1" in report


def test_sweep_npv_from_its_cash_flows_and_a_point_equal_to_the_baseline(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case")
    battery = "{{bus: pcc, capacity_kwh: {0}, max_charge_kw: {1}, max_discharge_kw: {1}}}"
    axes = [parse_set(f"batteries.b1={battery.format(0, 0)},{battery.format(400, 200)}"),
            parse_set("economics.new_assets=[b1]")]
    settings = StudySettings(DAY, DAY, ("no-control", "rule-based"), baseline="no-control")
    result = run_sweep_in_process(case, axes, settings, tmp_path / "out", report=False)
    table = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert {"npv_cny", "irr", "payback_years"} <= set(table.columns)
    assert list(table.columns[-4:]) == ["wall_s", "resumed_days", "error", "folder"]
    cash = pd.read_csv(tmp_path / "out" / "cash_flows.csv")
    for row in table.itertuples():
        flows = cash.loc[(cash["scenario"] == row.scenario) & (cash["strategy"] == row.strategy)].sort_values("year")
        assert row.npv_cny == pytest.approx(npf.npv(0.06, flows["net_cny"]), rel=1e-6, abs=1e-6)
    # a battery of nothing is the park without it: nothing saved, nothing invested
    zero = table.loc[table["scenario"] == 1]
    assert (zero["annual_savings_cny"] == 0).all() and (zero["npv_cny"] == 0).all()
    assert zero["irr"].isna().all() and zero["payback_years"].isna().all()
    both = table.loc[table["scenario"] == 2]
    assert (both["capex_cny"] == 400 * 900 + 200 * 300).all()
    assert (both["investment_baseline"] == "park without b1 (same strategy)").all()
    assert len(list((tmp_path / "out" / "baselines").iterdir())) == 1  # one park without b1, shared
    assert result.table["npv_cny"].tolist() == pytest.approx(table["npv_cny"].tolist(), rel=1e-5)
