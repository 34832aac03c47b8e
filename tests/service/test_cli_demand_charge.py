"""The demand charge of ``microgrid schedule``: which month-to-date peak, and the rule it says it used.

Tiny park (Henan tariff: 38.4 CNY/(kW·month); July has 31 days) planned with
``no-control`` on 2026-07-15, so the day's import is fixed: load 900 kW by day,
400 kW by night, less PV.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.service.helpers import TINY_PARK, one_line_error, run, write_tiny_case

RATE = 38.4


def case_with_meter(folder: Path, until: str = "2026-07-15", peak_kw: float = 1234.0) -> Path:
    """The tiny case with ``data.grid_meter``: 600 kW from 1 July up to ``until``, one 15-min peak of ``peak_kw``."""
    park = copy.deepcopy(TINY_PARK)
    park["data"] = {"grid_meter": "meter.csv"}
    write_tiny_case(folder, park)
    index = pd.date_range("2026-07-01", until, freq="15min", tz="Asia/Shanghai", inclusive="left")
    values = np.full(len(index), 600.0)
    values[index.get_loc(pd.Timestamp("2026-07-10 14:00", tz="Asia/Shanghai"))] = peak_kw
    pd.DataFrame({"timestamp": [t.isoformat() for t in index], "grid_import_kw": values}).to_csv(
        folder / "meter.csv", index=False)
    return folder


def plan(case: Path, out: Path, *extra: str) -> dict:
    result = run("schedule", str(case), "--date", "2026-07-15", "--strategy", "no-control", "--out", str(out),
                 "--no-plot", *extra)
    assert result.exit_code == 0, result.output
    return json.loads((out / "kpis.json").read_text())


def test_without_a_known_peak_the_day_is_charged_its_share_of_the_month(tmp_path: Path) -> None:
    kpis = plan(write_tiny_case(tmp_path / "case", TINY_PARK), tmp_path / "out")
    assert kpis["month_to_date_peak_kw"] is None and kpis["month_to_date_peak_source"] is None
    assert kpis["demand_charge_basis"] == "pro_rata"
    assert kpis["peak_marginal_cost_cny_per_kw"] == pytest.approx(RATE / 31)
    assert kpis["demand_charge_cny"] == pytest.approx(RATE / 31 * kpis["peak_import_kw"])


def test_the_option_gives_the_peak_and_only_the_rise_above_it_is_charged(tmp_path: Path) -> None:
    case = write_tiny_case(tmp_path / "case", TINY_PARK)
    kpis = plan(case, tmp_path / "out", "--month-peak-kw", "500")
    assert kpis["month_to_date_peak_source"] == "--month-peak-kw"
    assert kpis["demand_charge_basis"] == "month_to_date_peak"
    assert kpis["peak_marginal_cost_cny_per_kw"] == pytest.approx(RATE)
    assert kpis["demand_charge_cny"] == pytest.approx(RATE * (kpis["peak_import_kw"] - 500))
    above = plan(case, tmp_path / "above", "--month-peak-kw", "5000")
    assert above["demand_charge_cny"] == 0.0


def test_the_case_meter_gives_the_peak_up_to_the_day_before(tmp_path: Path) -> None:
    kpis = plan(case_with_meter(tmp_path / "case"), tmp_path / "out")
    assert kpis["month_to_date_peak_kw"] == pytest.approx(1234.0)
    assert kpis["month_to_date_peak_source"] == "data.grid_meter"
    assert kpis["demand_charge_basis"] == "month_to_date_peak"
    assert kpis["demand_charge_cny"] == pytest.approx(RATE * max(0.0, kpis["peak_import_kw"] - 1234.0))
    # The option wins over the meter.
    assert plan(case_with_meter(tmp_path / "case2"), tmp_path / "out2", "--month-peak-kw", "0")[
        "month_to_date_peak_kw"] == 0.0


def test_a_meter_that_stops_early_is_not_taken_for_the_month(tmp_path: Path) -> None:
    """Data up to 13 July only: the peak of 13–14 July is unknown, so the charge is pro rata."""
    kpis = plan(case_with_meter(tmp_path / "case", until="2026-07-14"), tmp_path / "out")
    assert kpis["month_to_date_peak_kw"] is None
    assert kpis["demand_charge_basis"] == "pro_rata"


def test_bad_peaks_and_meters_are_one_line(tmp_path: Path) -> None:
    case = write_tiny_case(tmp_path / "case", TINY_PARK)
    for value in ("-1", "nan", "inf"):
        result = run("schedule", str(case), "--date", "2026-07-15", "--month-peak-kw", value, "--out",
                     str(tmp_path / "out"), "--no-plot")
        one_line_error(result, "--month-peak-kw", "finite number ≥ 0 kW")
    metered = case_with_meter(tmp_path / "metered")
    frame = pd.read_csv(metered / "meter.csv").rename(columns={"grid_import_kw": "import_kw"})
    frame.to_csv(metered / "meter.csv", index=False)
    result = run("schedule", str(metered), "--date", "2026-07-15", "--out", str(tmp_path / "out"), "--no-plot")
    one_line_error(result, "data.grid_meter (meter.csv)", "grid_import_kw")
    frame.rename(columns={"import_kw": "grid_import_kw"}).assign(grid_import_kw=-5.0).to_csv(
        metered / "meter.csv", index=False)
    result = run("schedule", str(metered), "--date", "2026-07-15", "--out", str(tmp_path / "out"), "--no-plot")
    one_line_error(result, "data.grid_meter (meter.csv)", "negative")


def test_end_of_horizon_option_and_its_bad_value(tmp_path: Path) -> None:
    """The tiny park's battery starts at half its 400 kWh: ``cyclic`` brings it back there."""
    case = write_tiny_case(tmp_path / "case", TINY_PARK)
    result = run("schedule", str(case), "--date", "2026-07-15", "--end-of-horizon", "cyclic", "--out",
                 str(tmp_path / "out"), "--no-plot")
    assert result.exit_code == 0, result.output
    schedule = pd.read_csv(tmp_path / "out" / "schedule.csv")
    assert schedule["b1.soc_kwh"].iloc[-1] >= 200.0 - 1e-3
    result = run("schedule", str(case), "--date", "2026-07-15", "--end-of-horizon", "full", "--out",
                 str(tmp_path / "out"), "--no-plot")
    assert result.exit_code == 2 and "--end-of-horizon" in result.output and "Traceback" not in result.output
    park = copy.deepcopy(TINY_PARK)
    park["dispatch"] = {"end_of_horizon": "full"}
    result = run("schedule", str(write_tiny_case(tmp_path / "bad", park)), "--date", "2026-07-15", "--out",
                 str(tmp_path / "out"), "--no-plot")
    one_line_error(result, "dispatch.end_of_horizon")
