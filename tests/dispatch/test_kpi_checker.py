"""An independent checker: every KPI in ``kpis.json`` recomputed from ``schedule.csv``.

The checker shares no code with :mod:`dispatch.kpis`: it reads the files that
``microgrid schedule`` writes, as an operator would, and recomputes each
figure from the schedule's columns (plus, for the demand charge, the two plan
inputs ``kpis.json`` states: the month-to-date peak and the monthly rate; for
the AC check, ``network.csv``). A KPI it does not know fails the test, so a
new KPI cannot be added without a definition that can be checked.
"""

from __future__ import annotations

import calendar
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from dispatch.strategies import STRATEGIES
from service.cli import app
from tests.service.helpers import TINY_WIND_PARK, windy_nights, write_tiny_case

CASES = sorted(p.parent for p in (Path(__file__).parents[2] / "cases").glob("*/park.yaml"))
DAY = "2026-07-15"      # a working day in July: batch processes run, the fleet charges, critical peak 20–23 h

# Inputs and outcomes of the plan, not figures derived from the schedule.
DESCRIPTIVE = {"case", "date", "strategy", "objective", "solver_status", "mip_gap", "solve_time_s", "build_time_s",
               "slack", "month_to_date_peak_source", "forecast_sources", "month_to_date_peak_kw",
               "demand_charge_cny_per_kw_month", "network_aware", "network_iterations", "network_converged",
               "network_cost_increase_cny", "network_unaware_violations", "network_unaware_total_cost_cny",
               "export_rule"}
NETWORK = {"min_vm_pu", "max_vm_pu", "max_line_loading_pct", "max_trafo_loading_pct", "network_losses_kwh",
           "network_violations"}


def devices(schedule: pd.DataFrame, quantity: str) -> list[str]:
    """Device ids that have a ``<id>.<quantity>`` column."""
    suffix = "." + quantity
    return [c[: -len(suffix)] for c in schedule.columns if c.endswith(suffix)]


def recompute(schedule: pd.DataFrame, kpis: dict) -> dict:
    """Every schedule-derived KPI, from the table alone (and the two demand-charge inputs)."""
    index = pd.DatetimeIndex(schedule.index)
    dt_h = float((index[1] - index[0]) / pd.Timedelta(hours=1))
    e = lambda column: float(schedule[column].sum()) * dt_h   # noqa: E731 - energy of a power column [kWh]
    imp, exp = schedule["grid_import_kw"], schedule["grid_export_kw"]
    out: dict = {"dt_h": dt_h, "horizon_h": len(schedule) * dt_h}
    out["energy_cost_cny"] = float((imp * schedule["price_import_cny_per_kwh"]).sum()) * dt_h
    out["export_revenue_cny"] = float((exp * schedule["price_export_cny_per_kwh"]).sum()) * dt_h
    # Demand charge: the month-to-date peak when it is known, else the day's share of the month.
    rate, known = kpis["demand_charge_cny_per_kw_month"], kpis["month_to_date_peak_kw"]
    local = index.tz_convert("Asia/Shanghai")
    assert len(set(zip(local.year, local.month))) == 1, "the checker handles plans within one month"
    peak = float(imp.max())
    if known is not None:
        out["demand_charge_basis"], out["peak_marginal_cost_cny_per_kw"] = "month_to_date_peak", rate
        out["demand_charge_cny"] = rate * max(0.0, peak - known)
    else:
        share = len(schedule) * dt_h / 24 / calendar.monthrange(local[0].year, local[0].month)[1]
        out["demand_charge_basis"], out["peak_marginal_cost_cny_per_kw"] = "pro_rata", rate * share
        out["demand_charge_cny"] = rate * share * peak
    out["battery_wear_cost_cny"] = sum(
        float(((schedule[f"{b}.charge_kw"] + schedule[f"{b}.discharge_kw"]) * schedule[f"{b}.wear_cny_per_kwh"]).sum())
        * dt_h for b in devices(schedule, "wear_cny_per_kwh"))
    shed = devices(schedule, "shed_cny_per_kwh")
    shed_cost = sum(float((schedule[f"{c}.shed_kw"] * schedule[f"{c}.shed_cny_per_kwh"]).sum()) * dt_h for c in shed)
    if shed:
        out["shed_cost_cny"] = shed_cost
        out["shed_kwh"] = sum(e(f"{c}.shed_kw") for c in shed)
    out["total_cost_cny"] = (out["energy_cost_cny"] - out["export_revenue_cny"] + out["demand_charge_cny"]
                             + out["battery_wear_cost_cny"] + shed_cost)
    # Energy. Every step balances: generation used, import and discharge = consumption, charge and export.
    has_wind = "wind_available_kw" in schedule.columns
    pv_used = schedule["pv_used_kw"].to_numpy()
    wind_used = schedule["wind_used_kw"].to_numpy() if has_wind else np.zeros(len(schedule))
    supply = pv_used + wind_used + imp + schedule["battery_discharge_kw"]
    assert np.allclose(supply, schedule["load_kw"] + schedule["battery_charge_kw"] + exp, atol=5e-3), "power balance"
    for source, available, used, curtailed in (("pv", "pv_available_kw", "pv_used_kw", "curtailment_kw"),
                                               ("wind", "wind_available_kw", "wind_used_kw", "wind_curtailment_kw")):
        if available in schedule.columns:
            assert (schedule[used] <= schedule[available] + 1e-3).all(), f"{source} used above available"
            assert np.allclose(schedule[curtailed], schedule[available] - schedule[used], atol=2e-4), curtailed
    # What PV and wind give that is neither exported nor curtailed, each source's share as it was used.
    generated = pv_used + wind_used
    onsite_kw = np.clip(generated - exp, 0, None)
    pv_onsite_kw = np.where(generated > 0, onsite_kw * pv_used / np.where(generated > 0, generated, 1.0), 0.0)
    pv = e("pv_available_kw")
    onsite = float(pv_onsite_kw.sum()) * dt_h
    renewable_onsite = float(onsite_kw.sum()) * dt_h
    out.update(pv_generation_kwh=pv, pv_used_kwh=e("pv_used_kw"), curtailment_kwh=pv - e("pv_used_kw"),
               pv_onsite_kwh=onsite, pv_self_consumption_ratio=onsite / pv if pv else 0.0,
               consumption_kwh=e("load_kw"), grid_import_kwh=e("grid_import_kw"), grid_export_kwh=e("grid_export_kw"),
               unserved_load_kwh=e("unserved_load_kw"), peak_import_kw=peak,
               co2_kg=float((imp * schedule["co2_kg_per_kwh"]).sum()) * dt_h,
               co2_avoided_kg=float((onsite_kw * schedule["co2_kg_per_kwh"]).sum()) * dt_h)
    if has_wind:
        wind = e("wind_available_kw")
        wind_onsite = renewable_onsite - onsite
        out.update(wind_generation_kwh=wind, wind_used_kwh=e("wind_used_kw"),
                   wind_curtailment_kwh=e("wind_curtailment_kw"), wind_onsite_kwh=wind_onsite,
                   wind_self_consumption_ratio=wind_onsite / wind if wind else 0.0,
                   renewable_generation_kwh=pv + wind, renewable_used_kwh=e("pv_used_kw") + e("wind_used_kw"),
                   renewable_curtailment_kwh=e("curtailment_kw") + e("wind_curtailment_kw"),
                   renewable_curtailment_ratio=(e("curtailment_kw") + e("wind_curtailment_kw")) / (pv + wind)
                   if pv + wind else 0.0,
                   renewable_onsite_kwh=renewable_onsite,
                   renewable_self_consumption_ratio=renewable_onsite / (pv + wind) if pv + wind else 0.0)
    out["self_sufficiency_ratio"] = max(0.0, 1 - out["grid_import_kwh"] / out["consumption_kwh"])
    out["green_share_ratio"] = renewable_onsite / (renewable_onsite + out["grid_import_kwh"])
    # Heat: producers, stores, and the balance that ties them.
    buses = devices(schedule, "demand_th_kw")
    if buses:
        producers = devices(schedule, "heat_th_kw")
        stores = devices(schedule, "soc_th_kwh")
        out["heat_served_kwh"] = {k: e(f"{k}.heat_th_kw") for k in producers}
        out["heat_demand_kwh"] = sum(e(f"{b}.demand_th_kw") for b in buses)
        out["heat_unserved_kwh"] = sum(e(f"{b}.unserved_th_kw") for b in buses)
        out["heat_dumped_kwh"] = sum(e(f"{b}.dumped_th_kw") for b in buses)
        out["heat_store_charge_kwh"] = sum(e(f"{j}.charge_th_kw") for j in stores)
        out["heat_store_discharge_kwh"] = sum(e(f"{j}.discharge_th_kw") for j in stores)
        out["heat_store_losses_kwh"] = sum(e(f"{j}.loss_th_kw") for j in stores)
        # The content of each store moves by charge − discharge − loss, step by step.
        for j in stores:
            moved = (schedule[f"{j}.charge_th_kw"] - schedule[f"{j}.discharge_th_kw"] - schedule[f"{j}.loss_th_kw"]) * dt_h
            assert np.allclose(np.diff(schedule[f"{j}.soc_th_kwh"]), moved.iloc[1:], atol=1e-3), j
        out["heat_stored_kwh"] = out["heat_store_charge_kwh"] - out["heat_store_discharge_kwh"] - out["heat_store_losses_kwh"]
        served = sum(out["heat_served_kwh"].values())
        balance = (out["heat_demand_kwh"] - out["heat_unserved_kwh"] + out["heat_dumped_kwh"]
                   + out["heat_store_losses_kwh"] + out["heat_stored_kwh"])
        assert served == pytest.approx(balance, abs=0.01), "heat served by producers must equal what the heat went to"
        pumps = [h for h in producers if f"{h}.cop" in schedule.columns]
        elec = sum(e(f"{h}.elec_kw") for h in pumps)
        out["heat_pump_average_cop"] = sum(e(f"{h}.heat_th_kw") for h in pumps) / elec if elec else None
    fleets = [f for f in devices(schedule, "load_kw") if f"{f}.baseline_kw" not in schedule.columns
              and f in kpis.get("energy_loads_kwh", {})]
    if "energy_loads_kwh" in kpis:
        out["energy_loads_kwh"] = {f: e(f"{f}.load_kw") for f in fleets}
    if "network_losses_kw" in schedule.columns:
        out["planned_network_losses_kwh"] = e("network_losses_kw")
    return out


def check_export_rule(schedule: pd.DataFrame, rule: str) -> None:
    """The schedule obeys the export rule ``kpis.json`` states, at every step.

    ``anti_backflow``: no export; ``full_export``: the export is the PV and
    wind used (none of it on site); ``surplus_to_grid``: no export beyond the
    PV and wind used (``export_pv_only``, the default of every case here).
    """
    exp = schedule["grid_export_kw"]
    pv_used = schedule["pv_used_kw"] + (schedule["wind_used_kw"] if "wind_used_kw" in schedule else 0.0)
    if rule == "anti_backflow":
        assert (exp == 0).all(), "anti_backflow: a step exports"
    elif rule == "full_export":
        assert np.allclose(exp, pv_used, atol=1e-3), "full_export: the export is not the PV and wind used"
    else:
        assert rule == "surplus_to_grid", rule
        assert (exp <= pv_used + 1e-3).all(), "surplus_to_grid: a step exports more than the PV and wind used"


def recompute_network(folder: Path) -> dict:
    """The AC check's KPIs from ``network.csv`` (and ``network_violations.csv``)."""
    net = pd.read_csv(folder / "network.csv")
    dt_h = float((pd.Timestamp(net["timestamp"].iloc[1]) - pd.Timestamp(net["timestamp"].iloc[0])) / pd.Timedelta("1h"))
    violations = folder / "network_violations.csv"
    return {"min_vm_pu": net["min_vm_pu"].min(), "max_vm_pu": net["max_vm_pu"].max(),
            "max_line_loading_pct": net["max_line_loading_pct"].max(),
            "max_trafo_loading_pct": net["max_trafo_loading_pct"].max(),
            "network_losses_kwh": float(net["losses_kw"].sum()) * dt_h,
            "network_violations": len(pd.read_csv(violations)) if violations.exists() else 0}


def check(folder: Path) -> None:
    """Compare every KPI in ``folder/kpis.json`` with its recomputation."""
    kpis = json.loads((folder / "kpis.json").read_text(encoding="utf-8"))
    schedule = pd.read_csv(folder / "schedule.csv", index_col="timestamp")
    schedule.index = pd.to_datetime(schedule.index)
    expected = recompute(schedule, kpis)
    check_export_rule(schedule, kpis["export_rule"])
    if (folder / "network.csv").exists():
        expected.update(recompute_network(folder))
    unknown = set(kpis) - set(expected) - DESCRIPTIVE
    assert not unknown, f"KPIs the checker has no definition for: {sorted(unknown)}"
    for key, value in expected.items():
        if key not in kpis:
            continue
        reported = kpis[key]
        if isinstance(value, dict):
            assert set(reported) == set(value), key
            for device, figure in value.items():
                assert reported[device] == pytest.approx(figure, rel=1e-4, abs=0.01), f"{key}.{device}"
        elif isinstance(value, str) or value is None:
            assert reported == value, key
        elif key in NETWORK:
            # network.csv is written with 4 decimals
            assert reported == pytest.approx(value, rel=1e-3, abs=2e-3), key
        else:
            assert reported == pytest.approx(value, rel=1e-6, abs=0.01), key
    if "network_unaware_total_cost_cny" in kpis:
        assert kpis["network_cost_increase_cny"] == pytest.approx(
            kpis["total_cost_cny"] - kpis["network_unaware_total_cost_cny"], abs=0.01)
    # Status and slack agree: a plan that leaves something unmet says so.
    assert (kpis["solver_status"] == "infeasible_relaxed") == bool(kpis["slack"]) or kpis["solver_status"] == "not_optimized"
    if kpis["unserved_load_kwh"] > 0.01:
        assert any("load not served" in entry["constraint"] for entry in kpis["slack"])


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_every_kpi_recomputes_from_the_schedule(case: Path, strategy: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["schedule", str(case), "--date", DAY, "--strategy", strategy,
                                      "--out", str(tmp_path), "--no-plot"])
    assert result.exit_code == 0, result.output
    check(tmp_path)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_wind_kpis_recompute_from_the_schedule(strategy: str, tmp_path: Path) -> None:
    """The tiny park with a wind turbine and windy nights: the wind and PV + wind KPIs, from the table."""
    park = json.loads(json.dumps(TINY_WIND_PARK))
    park["grid"]["max_export_kw"] = 200      # the night's wind surplus beyond the battery is curtailed
    case = write_tiny_case(tmp_path / "case", park, wind=windy_nights)
    result = CliRunner().invoke(app, ["schedule", str(case), "--date", DAY, "--strategy", strategy,
                                      "--out", str(tmp_path / "out"), "--no-plot"])
    assert result.exit_code == 0, result.output
    check(tmp_path / "out")
    kpis = json.loads((tmp_path / "out" / "kpis.json").read_text())
    # 12 h of 1 MW at night and none by day; the night's load is 400 kW, at most 200 kW exported.
    assert kpis["wind_generation_kwh"] == pytest.approx(12_000.0, rel=1e-6)
    assert kpis["wind_curtailment_kwh"] > 1000.0
    assert kpis["renewable_curtailment_kwh"] == pytest.approx(kpis["curtailment_kwh"] + kpis["wind_curtailment_kwh"])


def test_the_checker_catches_a_wrong_figure(tmp_path: Path) -> None:
    """The checker is not vacuous: one KPI changed by 1 % fails it."""
    case = CASES[0]
    result = CliRunner().invoke(app, ["schedule", str(case), "--date", DAY, "--strategy", "no-control",
                                      "--out", str(tmp_path), "--no-plot", "--no-network"])
    assert result.exit_code == 0, result.output
    check(tmp_path)
    kpis = json.loads((tmp_path / "kpis.json").read_text())
    kpis["energy_cost_cny"] *= 1.01
    (tmp_path / "kpis.json").write_text(json.dumps(kpis))
    with pytest.raises(AssertionError, match="energy_cost_cny"):
        check(tmp_path)


def case_with_export_rule(case: Path, rule: str, folder: Path) -> Path:
    """A copy of ``case``'s park.yaml under ``folder`` with ``grid.export_rule: rule`` (its data read in place)."""
    config = yaml.safe_load((case / "park.yaml").read_text(encoding="utf-8"))
    config["grid"]["export_rule"] = rule
    config["data"] = {key: str((case / name).resolve()) for key, name in config["data"].items()}
    folder.mkdir()
    (folder / "park.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("rule", ["full_export", "anti_backflow"])
def test_every_kpi_recomputes_under_each_export_rule(rule: str, strategy: str, tmp_path: Path) -> None:
    """The reference case sold whole (全额上网) and behind anti-backflow (防逆流): the KPIs still recompute."""
    case = case_with_export_rule(CASES[0], rule, tmp_path / "case")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["schedule", str(case), "--date", DAY, "--strategy", strategy,
                                      "--out", str(out), "--no-plot", "--no-network"])
    assert result.exit_code == 0, result.output
    check(out)
    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["export_rule"] == rule
    if rule == "full_export":
        assert kpis["export_revenue_cny"] == pytest.approx(kpis["pv_used_kwh"] * 0.3779, rel=1e-6)
        assert kpis["pv_onsite_kwh"] == pytest.approx(0.0, abs=1e-3)


def test_the_checker_catches_a_broken_export_rule(tmp_path: Path) -> None:
    """A schedule that uses its PV on site while kpis.json says full_export fails the check."""
    case = CASES[0]
    result = CliRunner().invoke(app, ["schedule", str(case), "--date", DAY, "--strategy", "no-control",
                                      "--out", str(tmp_path), "--no-plot", "--no-network"])
    assert result.exit_code == 0, result.output
    kpis = json.loads((tmp_path / "kpis.json").read_text())
    kpis["export_rule"] = "full_export"      # the day's PV is used on site, not exported
    (tmp_path / "kpis.json").write_text(json.dumps(kpis))
    with pytest.raises(AssertionError, match="full_export"):
        check(tmp_path)
