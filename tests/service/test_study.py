"""``microgrid study``: outputs, checkpoints and resume, refused settings, fallback windows in the KPIs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dispatch.inputs import PlantState
from microgrid.case import load_case
from tests.service.helpers import TINY_PARK as BASE_PARK
from tests.service.helpers import one_line_error, run, write_tiny_case
from dispatch.studies.report import write_study_report
from dispatch.studies.study import (StudyProgress, StudyResult, StudySettings, run_study, simulate, state_from_dict,
                           state_to_dict, study_kpis)


# The shared tiny park with a larger PV array, so that PV surplus charges the battery.
TINY_PARK = {**BASE_PARK, "pv_arrays": {"pv1": {"bus": "pcc", "dc_capacity_kw": 900, "ac_capacity_kw": 750}}}
FIRST_DAY = "2026-07-14"


def write_case(folder: Path, park: dict | None = None, days: int = 4) -> Path:
    """``days`` days at 15 minutes from 2026-07-14: a sunny and a hazy day alternating, a two-level load."""
    return write_tiny_case(folder, park or TINY_PARK, start=FIRST_DAY, days=days, day_kw=600.0, night_kw=250.0, hazy_odd_days=True)


STUDY = ("--start", "2026-07-15", "--end", "2026-07-16", "--strategy", "no-control", "--strategy", "rule-based",
         "--baseline", "no-control")


def test_study_writes_all_outputs(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case")
    out = tmp_path / "out"
    result = run("study", str(case), *STUDY, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "total cost" in result.output
    for strategy in ("no-control", "rule-based"):
        schedule = pd.read_parquet(out / strategy / "schedule.parquet")
        assert len(schedule) == 2 * 96
        assert str(schedule.index.tz) == "Asia/Shanghai"
        assert schedule.index[0] == pd.Timestamp("2026-07-15", tz="Asia/Shanghai")
        assert {"grid_import_kw", "battery_soc_kwh", "b1.soc_kwh", "pv1.used_kw", "tou_period"} <= set(schedule)
        balance = (schedule["pv_used_kw"] + schedule["grid_import_kw"] + schedule["battery_discharge_kw"]
                   - schedule["load_kw"] - schedule["battery_charge_kw"] - schedule["grid_export_kw"])
        assert balance.abs().max() < 1e-3
        assert sorted(p.name for p in (out / strategy / "days").iterdir()) == [
            "2026-07-15.parquet", "2026-07-15.state.json", "2026-07-15.windows.parquet",
            "2026-07-16.parquet", "2026-07-16.state.json", "2026-07-16.windows.parquet"]
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["days"] == 2 and kpis["baseline"] == "no-control"
    assert set(kpis["strategies"]) == {"no-control", "rule-based"}
    rule = kpis["strategies"]["rule-based"]
    for key in ("total_cost_cny", "energy_cost_cny", "demand_charge_cny", "pv_self_consumption_ratio",
                "green_share_ratio", "co2_kg", "windows", "fallback_windows", "savings_cny", "savings_ratio"):
        assert key in rule, key
    assert rule["windows"] == 48 and rule["fallback_windows"] == 0
    base = kpis["strategies"]["no-control"]
    assert rule["savings_cny"] == pytest.approx(base["total_cost_cny"] - rule["total_cost_cny"])
    assert rule["savings_cny"] > 0  # the battery stores the PV surplus of the sunny day
    monthly = pd.read_csv(out / "kpis_monthly.csv")
    assert list(monthly["strategy"]) == ["no-control", "rule-based"] and set(monthly["month"]) == {"2026-07"}
    annual = pd.read_csv(out / "kpis_annual.csv")
    assert list(annual["year"]) == [2026, 2026]
    assert annual["total_cost_cny"].to_numpy() == pytest.approx(monthly["total_cost_cny"].to_numpy())
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 5
    assert "http://" not in report and "https://" not in report and "<script" not in report
    assert "fallback" in report.lower()


@pytest.mark.parametrize(("strategies", "days"), [(("no-control", "rule-based"), 3), (("mpc",), 2)])
def test_interrupted_study_resumes_to_the_same_result(tmp_path: Path, strategies: tuple, days: int) -> None:
    case = load_case(write_case(tmp_path / "case"))
    settings = StudySettings(dt.date(2026, 7, 15), dt.date(2026, 7, 14 + days), strategies)
    whole = run_study(case, settings, tmp_path / "whole", report=False)

    class Stop(Exception):
        pass

    def stop_after_first_day(event: StudyProgress) -> None:
        if event.day_finished:
            raise Stop  # the first day of the first strategy is checkpointed, nothing else

    with pytest.raises(Stop):
        run_study(case, settings, tmp_path / "cut", progress=stop_after_first_day, report=False)
    folder = tmp_path / "cut" / strategies[0] / "days"
    assert (folder / "2026-07-15.state.json").exists() and not (folder / "2026-07-16.state.json").exists()
    assert not (tmp_path / "cut" / "kpis.json").exists()
    assert not list((tmp_path / "cut").rglob("*.tmp"))
    resumed_events: list[StudyProgress] = []
    resumed = run_study(load_case(tmp_path / "case"), settings, tmp_path / "cut", progress=resumed_events.append,
                        report=False)
    assert resumed.resumed_days == 1
    assert [e.day for e in resumed_events if e.resumed] == [settings.start]
    for strategy in settings.strategies:
        pd.testing.assert_frame_equal(resumed.runs[strategy].schedule, whole.runs[strategy].schedule)
        columns = ["window_start", "status", "fallback", "reason"]
        pd.testing.assert_frame_equal(resumed.runs[strategy].windows[columns], whole.runs[strategy].windows[columns])
        assert state_to_dict(resumed.runs[strategy].state) == state_to_dict(whole.runs[strategy].state)
    pd.testing.assert_frame_equal(resumed.kpis, whole.kpis)
    pd.testing.assert_frame_equal(resumed.monthly, whole.monthly)


def test_the_cli_resumes_and_says_so(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case")
    out = tmp_path / "out"
    assert run("study", str(case), *STUDY, "--out", str(out)).exit_code == 0
    first = json.loads((out / "kpis.json").read_text())
    (out / "rule-based" / "days" / "2026-07-16.state.json").unlink()  # as if killed while writing that day
    again = run("study", str(case), *STUDY, "--out", str(out))
    assert again.exit_code == 0, again.output
    assert "resumed 3 finished day(s)" in again.output
    assert json.loads((out / "kpis.json").read_text()) == first


@pytest.mark.parametrize(("change", "fragment"), [
    (("--seed", "1"), "seed 0 there, 1 now"),
    (("--replan-h", "2"), "replan_h 1.0 there, 2.0 now"),
])
def test_a_study_with_other_settings_is_refused(tmp_path: Path, change: tuple, fragment: str) -> None:
    case = write_case(tmp_path / "case")
    out = tmp_path / "out"
    assert run("study", str(case), *STUDY, "--out", str(out)).exit_code == 0
    result = run("study", str(case), *STUDY, "--out", str(out), *change)
    one_line_error(result, fragment, "use another output folder (--out) or delete", str(out))


def test_a_changed_case_is_refused(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case")
    out = tmp_path / "out"
    assert run("study", str(case), *STUDY, "--out", str(out)).exit_code == 0
    park = yaml.safe_load((case / "park.yaml").read_text())
    park["batteries"]["b1"]["capacity_kwh"] = 800
    (case / "park.yaml").write_text(yaml.safe_dump(park))
    one_line_error(run("study", str(case), *STUDY, "--out", str(out)), "the case (park.yaml or its data files) differs")


@pytest.mark.parametrize(("args", "fragment"), [
    (("--start", "2026-07-16", "--end", "2026-07-15", "--strategy", "no-control"), "is before start"),
    (("--start", "2026-07-15", "--end", "2026-07-30", "--strategy", "no-control"), "outside the case's data"),
    (("--start", "15/07/2026", "--end", "2026-07-16", "--strategy", "no-control"), "--start"),
    (("--start", "2026-07-15", "--end", "2026-07-16", "--strategy", "optimal"), "unknown 'optimal'"),
    (("--start", "2026-07-15", "--end", "2026-07-16", "--strategy", "mpc", "--replan-h", "5"), "does not divide"),
    (("--start", "2026-07-15", "--end", "2026-07-16", "--strategy", "mpc", "--replan-h", "5e-324"),
     "replan_h: must be at least 0.25 h"),
    (("--start", "2026-07-15", "--end", "2026-07-16", "--strategy", "mpc", "--replan-h", "nan"),
     "must be finite"),
    (("--start", "2026-07-15", "--end", "2026-07-16", "--strategy", "mpc", "--replan-h", "6",
      "--integer-horizon-h", "2"), "integer_horizon_h: must be at least the re-plan interval"),
])
def test_bad_requests_give_one_line(tmp_path: Path, args: tuple, fragment: str) -> None:
    case = write_case(tmp_path / "case")
    result = run("study", str(case), *args, "--out", str(tmp_path / "out"))
    one_line_error(result, fragment)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.parquet"))


def test_fallback_windows_are_counted_and_reported(tmp_path: Path) -> None:
    case = load_case(write_case(tmp_path / "case"))
    settings = StudySettings(dt.date(2026, 7, 15), dt.date(2026, 7, 16), ("no-control", "rule-based"))
    runs = simulate(case, settings, tmp_path / "out")
    windows = runs["rule-based"].windows
    failed = windows.index[[3, 4, 30]]
    windows.loc[failed, "fallback"] = True
    windows.loc[failed, "status"] = "failed"
    windows.loc[failed, "reason"] = "no plan within the time limit"
    kpis, monthly, annual = study_kpis(runs, case.park)
    assert kpis.set_index("strategy")["fallback_windows"].to_dict() == {"no-control": 0, "rule-based": 3,
                                                                     "tou-arbitrage": 0}  # the baseline, added
    assert monthly.set_index("strategy").loc["rule-based", "fallback_windows"] == 3
    assert annual.set_index("strategy").loc["rule-based", "windows"] == 48
    result = StudyResult(runs=runs, kpis=kpis, monthly=monthly, annual=annual)
    meta = {"case": case.name, "start": "2026-07-15", "end": "2026-07-16", "days": 2, "horizon_h": 24.0,
            "replan_h": 1.0, "seed": 0}
    html = write_study_report(tmp_path / "report.html", result, case.park, meta).read_text()
    assert "rule-based: 3 of 48 windows" in html
    assert "no plan within the time limit" in html


def test_state_survives_json() -> None:
    state = PlantState(soc_kwh={"b1": 123.456789012345}, month_to_date_peak_kw=0.1 + 0.2,
                       process_runs_done={"p": 1}, shift_ahead_kwh={"c": -3.5})
    assert state_from_dict(json.loads(json.dumps(state_to_dict(state)))) == state


def test_savings_are_stated_against_the_named_baseline(tmp_path: Path) -> None:
    """One day, only no-control asked for: the default baseline tou-arbitrage is added and named everywhere."""
    case = write_case(tmp_path / "case")
    out = tmp_path / "out"
    result = run("study", str(case), "--start", "2026-07-15", "--end", "2026-07-15", "--strategy", "no-control",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "baseline tou-arbitrage is added" in result.output
    assert "savings vs tou-arbitrage" in result.output
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["baseline"] == "tou-arbitrage"
    assert list(kpis["strategies"]) == ["no-control", "tou-arbitrage"]
    idle, tou = kpis["strategies"]["no-control"], kpis["strategies"]["tou-arbitrage"]
    assert idle["baseline"] == tou["baseline"] == "tou-arbitrage"
    assert tou["savings_cny"] == pytest.approx(0.0)
    assert idle["savings_cny"] == pytest.approx(tou["total_cost_cny"] - idle["total_cost_cny"])
    monthly = pd.read_csv(out / "kpis_monthly.csv")
    assert set(monthly["baseline"]) == {"tou-arbitrage"}
    report = (out / "report.html").read_text()
    assert "savings against tou-arbitrage [CNY]" in report and "savings against no-control" not in report


def test_an_unknown_baseline_is_refused_in_one_line(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case")
    result = run("study", str(case), *STUDY[:-2], "--baseline", "cheapest", "--out", str(tmp_path / "out"))
    one_line_error(result, "baseline: unknown 'cheapest'")
