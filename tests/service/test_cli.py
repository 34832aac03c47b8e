"""The ``microgrid schedule`` command: outputs, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.service.helpers import TINY_PARK, one_line_error, run, write_tiny_case

PARK = TINY_PARK


def write_case(folder: Path, park: dict | None = None, naive: bool = False) -> Path:
    """Two days at 15 minutes from 2026-07-15: a sine-shaped day of sun, a two-level load."""
    return write_tiny_case(folder, park or PARK, naive=naive)


def test_schedule_writes_the_three_files(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case")
    out = tmp_path / "out"
    result = run("schedule", str(case), "--date", "2026-07-15", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "total cost" in result.output
    schedule = pd.read_csv(out / "schedule.csv")
    assert len(schedule) == 96
    assert schedule["timestamp"].iloc[0] == "2026-07-15T00:00:00+08:00"
    kpis = json.loads((out / "kpis.json").read_text())
    for key in ("strategy", "total_cost_cny", "energy_cost_cny", "export_revenue_cny", "demand_charge_cny",
                "pv_generation_kwh", "pv_self_consumption_ratio", "self_sufficiency_ratio", "grid_import_kwh",
                "grid_export_kwh", "curtailment_kwh", "peak_import_kw", "co2_kg", "solver_status", "mip_gap",
                "solve_time_s"):
        assert key in kpis
    assert kpis["solver_status"] == "optimal"
    assert (out / "schedule.png").stat().st_size > 10_000


@pytest.mark.parametrize("strategy", ["rule-based", "no-control"])
def test_heuristic_strategies(tmp_path: Path, strategy: str) -> None:
    case = write_case(tmp_path / "case")
    result = run("schedule", str(case), "--date", "2026-07-15", "--strategy", strategy,
                 "--out", str(tmp_path / "o"), "--no-plot")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o" / "kpis.json").read_text())["strategy"] == strategy


def test_unknown_field_is_named_with_a_suggestion(tmp_path: Path) -> None:
    park = json.loads(json.dumps(PARK))
    park["batteries"]["b1"]["capcity_kwh"] = park["batteries"]["b1"].pop("capacity_kwh")
    case = write_case(tmp_path / "case", park)
    one_line_error(run("schedule", str(case), "--date", "2026-07-15"),
                   "batteries.b1.capcity_kwh: unknown field", "did you mean 'capacity_kwh'")


def test_negative_capacity_is_named(tmp_path: Path) -> None:
    park = json.loads(json.dumps(PARK))
    park["batteries"]["b1"]["capacity_kwh"] = -5
    case = write_case(tmp_path / "case", park)
    one_line_error(run("schedule", str(case), "--date", "2026-07-15"),
                   "batteries.b1.capacity_kwh", "greater than or equal to 0", "-5")


def test_naive_timestamps_are_refused(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case", naive=True)
    one_line_error(run("schedule", str(case), "--date", "2026-07-15"), "without UTC offset", "+08:00")


def test_date_outside_the_data(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case")
    one_line_error(run("schedule", str(case), "--date", "2027-01-01"), "outside the data", "pick a date inside it")


def test_malformed_date(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case")
    one_line_error(run("schedule", str(case), "--date", "15/07/2026"), "--date", "YYYY-MM-DD")


def test_missing_case_folder(tmp_path: Path) -> None:
    one_line_error(run("schedule", str(tmp_path / "nowhere"), "--date", "2026-07-15"), "no park.yaml")


def test_device_on_unknown_bus(tmp_path: Path) -> None:
    park = json.loads(json.dumps(PARK))
    park["network"] = {"buses": {"pcc": {"vn_kv": 10}}}
    park["batteries"]["b1"]["bus"] = "ws9"
    case = write_case(tmp_path / "case", park)
    one_line_error(run("schedule", str(case), "--date", "2026-07-15"), "batteries.b1.bus", "'ws9'")


def test_unknown_profile_column(tmp_path: Path) -> None:
    park = json.loads(json.dumps(PARK))
    park["loads"]["l1"]["profile"] = "nope_kw"
    case = write_case(tmp_path / "case", park)
    one_line_error(run("schedule", str(case), "--date", "2026-07-15"), "loads.l1.profile", "'nope_kw'", "l1_kw")


def test_bad_yaml(tmp_path: Path) -> None:
    case = tmp_path / "case"
    case.mkdir()
    (case / "park.yaml").write_text("site: [unclosed\n")
    one_line_error(run("schedule", str(case), "--date", "2026-07-15"), "not valid YAML", "line")


def test_soc_bounds_message(tmp_path: Path) -> None:
    park = json.loads(json.dumps(PARK))
    park["batteries"]["b1"].update(min_soc_frac=0.6, initial_soc_frac=0.5)
    case = write_case(tmp_path / "case", park)
    one_line_error(run("schedule", str(case), "--date", "2026-07-15"), "batteries.b1", "initial_soc_frac 0.5 is outside")


def test_objective_option_overrides_the_case(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case")
    result = run("schedule", str(case), "--date", "2026-07-15", "--objective", "co2", "--out", str(tmp_path / "o"),
                 "--no-plot")
    assert result.exit_code == 0, result.output
    kpis = json.loads((tmp_path / "o" / "kpis.json").read_text())
    assert kpis["objective"] == "co2"
    for key in ("total_cost_cny", "pv_onsite_kwh", "co2_kg", "green_share_ratio"):
        assert key in kpis


def test_unknown_objective_is_a_usage_error(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case")
    result = run("schedule", str(case), "--date", "2026-07-15", "--objective", "profit")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_unmet_requirements_are_printed(tmp_path: Path) -> None:
    """An import limit below the load: a plan still comes back, with the report."""
    park = json.loads(json.dumps(PARK))
    park["grid"]["max_import_kw"] = 300
    case = write_case(tmp_path / "case", park)
    result = run("schedule", str(case), "--date", "2026-07-15", "--out", str(tmp_path / "o"), "--no-plot")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "infeasible_relaxed" in text
    assert "not met: grid: max_import_kw (load not served) short by" in text
    kpis = json.loads((tmp_path / "o" / "kpis.json").read_text())
    assert kpis["solver_status"] == "infeasible_relaxed"
    assert kpis["slack"][0]["device"] == "grid"
    assert kpis["unserved_load_kwh"] > 0


def test_brackets_in_messages_survive(tmp_path: Path) -> None:
    """Messages quote ranges in brackets; the terminal must show them, not eat them as markup."""
    park = json.loads(json.dumps(PARK))
    park["batteries"]["b1"].update(min_soc_frac=0.44, initial_soc_frac=0.42)
    case = write_case(tmp_path / "case", park)
    one_line_error(run("schedule", str(case), "--date", "2026-07-15"),
                   "is outside [min_soc_frac 0.44, max_soc_frac 0.9]; move it inside")
