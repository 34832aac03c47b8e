"""The park's pandapower network and the AC power flow of schedules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dispatch.day_ahead import plan_day_ahead
from microgrid.case import load_case, park_from_dict
from microgrid.errors import InvalidParkError
from microgrid.network import build_network, validate_schedule
from tests.service.helpers import one_line_error, run

CASE_DIR = Path(__file__).resolve().parents[2] / "cases" / "zhengzhou_park"


@pytest.fixture(scope="module")
def case():
    return load_case(CASE_DIR)


@pytest.fixture(scope="module")
def plan(case):
    return plan_day_ahead(case, dt.date(2026, 7, 15))


def test_reference_network_has_every_element(case) -> None:
    net = build_network(case.park)
    spec = case.park.network
    assert len(net.bus) == len(spec.buses) and len(net.line) == len(spec.lines)
    assert len(net.trafo) == len(spec.transformers) and len(net.ext_grid) == 1
    assert len(net.sgen) == len(case.park.pv_arrays) and len(net.storage) == len(case.park.batteries)
    # 2,500 kVA is 2.5 MVA: kW/kVA become MW/MVA at this boundary only.
    assert net.trafo.set_index("name").loc["t_ws1", "sn_mva"] == pytest.approx(2.5)


def test_power_flow_of_the_reference_plan(case, plan) -> None:
    """Losses are positive and small, voltages within ±5 %, and the grid supplies plan + losses."""
    report = validate_schedule(case.park, plan.schedule)
    steps = report.steps
    assert steps["converged"].all() and len(steps) == 96
    consumption = plan.schedule["load_kw"] + plan.schedule["battery_charge_kw"]
    assert (steps["losses_kw"] > 0).all()
    assert (steps["losses_kw"] < 0.03 * consumption).all()
    assert 0.95 <= report.kpis["min_vm_pu"] <= report.kpis["max_vm_pu"] <= 1.05
    assert report.kpis["network_violations"] == 0
    assert report.kpis["network_losses_kwh"] == pytest.approx(steps["losses_kw"].sum() * 0.25)


def test_overloaded_transformer_is_reported_by_element_and_step(case, plan) -> None:
    park = case.park.model_copy(deep=True)
    park.network.transformers["t_ws1"].sn_kva = 1000   # 1 MVA under a 1.9 MW workshop
    report = validate_schedule(park, plan.schedule)
    over = report.violations[report.violations["name"] == "t_ws1"]
    assert len(over) > 0
    assert set(over["element"]) == {"trafo"} and set(over["quantity"]) == {"loading_pct"}
    assert (over["value"] > 100).all()
    assert report.kpis["max_trafo_loading_pct"] > 100


def test_island_without_a_source_is_named(case) -> None:
    config = yaml.safe_load((CASE_DIR / "park.yaml").read_text())
    del config["network"]["transformers"]["t_depot"]
    park = park_from_dict(config)
    with pytest.raises(InvalidParkError, match=r"network: bus\(es\) depot_lv have no path to the grid bus 'pcc'"):
        build_network(park)


def test_line_without_impedance_is_refused() -> None:
    config = yaml.safe_load((CASE_DIR / "park.yaml").read_text())
    config["network"]["lines"]["feeder_ws1"] = {"from_bus": "pcc", "to_bus": "ws1_mv", "length_km": 0.3,
                                                "r_ohm_per_km": 0, "x_ohm_per_km": 0, "max_i_ka": 0.4}
    with pytest.raises(InvalidParkError, match=r"network.lines.feeder_ws1: .*a line with no impedance"):
        park_from_dict(config)


def test_unknown_line_type_is_named() -> None:
    config = yaml.safe_load((CASE_DIR / "park.yaml").read_text())
    config["network"]["lines"]["feeder_ws1"]["std_type"] = "NA2XS2Y 1x999"
    with pytest.raises(InvalidParkError, match=r"network.lines.feeder_ws1.std_type: 'NA2XS2Y 1x999' is not"):
        build_network(park_from_dict(config))


def test_schedule_writes_network_csv_and_check_command(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    result = run("schedule", str(CASE_DIR), "--date", "2026-07-15", "--out", str(out), "--no-plot")
    assert result.exit_code == 0, result.output
    network = pd.read_csv(out / "network.csv")
    assert list(network.columns[:4]) == ["timestamp", "converged", "min_vm_pu", "max_vm_pu"]
    for column in ("max_line", "max_line_loading_pct", "max_trafo", "max_trafo_loading_pct", "losses_kw"):
        assert column in network.columns
    check = run("network", "check", str(CASE_DIR), "--schedule", str(out / "schedule.csv"))
    assert check.exit_code == 0, check.output
    assert "network_violations" in check.output


def test_check_of_a_schedule_from_another_park(tmp_path: Path) -> None:
    schedule = tmp_path / "schedule.csv"
    schedule.write_text("timestamp,grid_import_kw\n2026-07-15T00:00:00+08:00,1\n2026-07-15T00:15:00+08:00,1\n")
    one_line_error(run("network", "check", str(CASE_DIR), "--schedule", str(schedule)), "schedule: no column")
