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


def write_forecast(path: Path, columns: dict[str, list], start: str = "2026-07-15", freq: str = "1h") -> Path:
    """A forecast CSV: ``timestamp`` (hourly by default, +08:00) and ``columns``."""
    n = len(next(iter(columns.values())))
    stamps = pd.date_range(start, periods=n, freq=freq, tz="Asia/Shanghai")
    pd.DataFrame({"timestamp": [t.isoformat() for t in stamps], **columns}).to_csv(path, index=False)
    return path


def test_schedule_on_direct_pv_and_load_forecasts(tmp_path: Path) -> None:
    """No battery; PV 200 kW 10-14 h, load 500 kW: import = 24 h · 500 − 4 h · 200 = 11,200 kWh."""
    park = {k: v for k, v in PARK.items() if k != "batteries"}
    case = write_case(tmp_path / "case", park)
    pv = write_forecast(tmp_path / "pv.csv", {"pv1_kw": [200.0 if 10 <= h < 14 else 0.0 for h in range(25)]})
    load = write_forecast(tmp_path / "load.csv", {"l1_kw": [500.0] * 96}, freq="15min")
    out = tmp_path / "out"
    result = run("schedule", str(case), "--date", "2026-07-15", "--pv-forecast", str(pv), "--load-forecast",
                 str(load), "--out", str(out), "--no-plot")
    assert result.exit_code == 0, result.output
    assert "PV from the forecast pv.csv: pv1" in result.output
    assert "loads from the forecast load.csv: l1_kw" in result.output
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["grid_import_kwh"] == pytest.approx(11_200.0, abs=1e-6)
    assert kpis["pv_generation_kwh"] == pytest.approx(800.0, abs=1e-6)
    assert kpis["forecast_sources"] == {"load.l1_kw": "load_kw", "pv.pv1": "pv_kw"}
    schedule = pd.read_csv(out / "schedule.csv")
    assert schedule["pv_available_kw"].iloc[40:56].tolist() == pytest.approx([200.0] * 16)


@pytest.mark.parametrize(("option", "columns", "fragments"), [
    ("--pv-forecast", {"pv1_kw": [900.0] * 25}, ["--pv-forecast.pv1_kw: 900 kW at 2026-07-15T00:00:00+08:00",
                                                 "AC rating of 500 kW"]),
    ("--pv-forecast", {"pv7_kw": [0.0] * 25}, ["--pv-forecast.pv7_kw: the park has no PV array column 'pv7_kw'"]),
    ("--pv-forecast", {"pv1": [0.0] * 25}, ["--pv-forecast (f.csv): column 'pv1' has no unit"]),
    ("--pv-forecast", {"pv1_kw": [0.0] * 20}, ["--pv-forecast: no value for 2026-07-15T20:00:00+08:00"]),
    ("--load-forecast", {"l1_kw": [-5.0] * 25}, ["--load-forecast (f.csv): column 'l1_kw' has -5"]),
    ("--load-forecast", {"l1_kw": [1.0, None] + [1.0] * 23},
     ["--load-forecast (f.csv): no value at 2026-07-15T01:00:00+08:00 (column 'l1_kw')"]),
    ("--heat-forecast", {"steam_kw": [1.0] * 25}, ["--heat-forecast: the park has no heat buses"]),
])
def test_bad_forecast_files_are_one_line(tmp_path: Path, option: str, columns: dict, fragments: list) -> None:
    case = write_case(tmp_path / "case")
    path = write_forecast(tmp_path / "f.csv", columns)
    result = run("schedule", str(case), "--date", "2026-07-15", option, str(path), "--no-plot",
                 "--out", str(tmp_path / "out"))
    one_line_error(result, *fragments)


def test_forecast_file_with_naive_times_or_missing_is_one_line(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case")
    naive = tmp_path / "naive.csv"
    naive.write_text("timestamp,pv1_kw\n2026-07-15T00:00:00,0\n2026-07-15T01:00:00,0\n")
    one_line_error(run("schedule", str(case), "--date", "2026-07-15", "--pv-forecast", str(naive)),
                   "--pv-forecast (naive.csv): column 'timestamp' has a time without UTC offset")
    one_line_error(run("schedule", str(case), "--date", "2026-07-15", "--load-forecast", str(tmp_path / "nope.csv")),
                   "--load-forecast (nope.csv): file not found")
