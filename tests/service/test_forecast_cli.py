"""``microgrid forecast ...`` and ``microgrid schedule --weather/--load-history`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()
CASE = Path(__file__).resolve().parents[2] / "cases" / "zhengzhou_park"


def run(*args: str):
    return runner.invoke(app, list(args))


def write(frame: pd.DataFrame, path: Path) -> Path:
    table = frame.copy()
    table.index = [t.isoformat() for t in table.index]
    table.index.name = "timestamp"
    table.to_csv(path)
    return path


@pytest.fixture(scope="module")
def case_weather() -> pd.DataFrame:
    w = pd.read_csv(CASE / "weather.csv", index_col="timestamp")
    w.index = pd.to_datetime(w.index)
    return w


@pytest.fixture(scope="module")
def case_loads() -> pd.DataFrame:
    loads = pd.read_csv(CASE / "loads.csv", index_col="timestamp")
    loads.index = pd.to_datetime(loads.index)
    return loads


def test_forecast_pv_from_hourly_cloud_cover(tmp_path: Path, case_weather) -> None:
    """A forecast with cloud cover only, hourly: the cloud-cover path and the hourly steps."""
    index = pd.date_range("2026-07-15", periods=24, freq="1h", tz="Asia/Shanghai")
    weather = pd.DataFrame({"cloud_cover": 30.0, "temp_air": 30.0, "wind_speed": 2.0}, index=index)
    out = tmp_path / "pv.csv"
    result = run("forecast", "pv", str(CASE), "--weather", str(write(weather, tmp_path / "w.csv")), "--out", str(out))
    assert result.exit_code == 0, result.output
    pv = pd.read_csv(out, index_col="timestamp")
    assert list(pv.columns) == ["pv_ws1_kw", "pv_ws2_kw", "pv_ws3_kw", "pv_ws4_kw", "pv_kw"]
    assert pv.index[0] == "2026-07-15T00:00:00+08:00"
    assert pv["pv_kw"].iloc[:5].max() == 0.0          # night
    assert 2000 < pv["pv_kw"].max() <= 4580          # clipped at the sum of AC ratings


def test_forecast_pv_bad_weather_is_one_line(tmp_path: Path) -> None:
    index = pd.date_range("2026-07-15", periods=4, freq="1h", tz="Asia/Shanghai")
    weather = pd.DataFrame({"ghi": [0, 100, 2000, 100], "temp_air": 20.0}, index=index)
    result = run("forecast", "pv", str(CASE), "--weather", str(write(weather, tmp_path / "w.csv")))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "ghi" in result.output and "1500" in result.output.replace(",", "")


def test_forecast_load_and_check(tmp_path: Path, case_loads) -> None:
    history = case_loads.loc[:"2026-09-30", ["ws1_machining_kw", "ws3_heat_treatment_kw"]].iloc[-96 * 56:]
    hist = write(history, tmp_path / "history.csv")
    out = tmp_path / "load.csv"
    result = run("forecast", "load", str(CASE), "--history", str(hist), "--date", "2026-10-01", "--days", "2",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    forecast = pd.read_csv(out, index_col="timestamp")
    assert len(forecast) == 2 * 96
    # National Day holiday: the forecast of the machining hall drops to its holiday level.
    assert forecast["ws1_machining_kw"].max() < 0.5 * history["ws1_machining_kw"].max()
    measured = write(case_loads.loc["2026-09-24":"2026-10-03", ["ws1_machining_kw", "ws3_heat_treatment_kw"]],
                     tmp_path / "measured.csv")
    report = tmp_path / "accuracy.json"
    result = run("forecast", "check", "--measured", str(measured), "--forecast", str(out), "--json", str(report))
    assert result.exit_code == 0, result.output
    payload = json.loads(report.read_text())
    overall = [r for r in payload["ws1_machining_kw"] if r["period"] == "overall" and r["forecast"] == "forecast"][0]
    assert {"nmae_pct", "nrmse_pct", "bias_pct", "skill_pct"} <= set(overall)
    assert overall["nmae_pct"] < 15.0


def test_forecast_load_date_inside_history_is_refused(tmp_path: Path, case_loads) -> None:
    hist = write(case_loads.loc["2026-09-01":"2026-09-30", ["ws1_machining_kw"]], tmp_path / "history.csv")
    result = run("forecast", "load", str(CASE), "--history", str(hist), "--date", "2026-08-01")
    assert result.exit_code == 1
    assert "is not after the history" in result.output


def test_schedule_runs_on_forecasts(tmp_path: Path, case_weather, case_loads) -> None:
    """Day-ahead plan from an hourly weather forecast and metered load history."""
    weather = case_weather.loc["2026-07-15":"2026-07-15", ["ghi", "temp_air", "wind_speed"]].resample("1h").mean()
    history = case_loads.loc["2026-06-01":"2026-07-14", ["ws1_machining_kw", "ws2_assembly_kw"]].copy()
    history["ws2_assembly_kw"] *= 1.1   # a meter reading 10 % above the case's profile
    out = tmp_path / "plan"
    result = run("schedule", str(CASE), "--date", "2026-07-15", "--weather", str(write(weather, tmp_path / "w.csv")),
                 "--load-history", str(write(history, tmp_path / "h.csv")), "--out", str(out), "--no-plot")
    assert result.exit_code == 0, result.output
    assert "load forecasts from h.csv: ws1_machining_kw, ws2_assembly_kw" in " ".join(result.output.split())
    schedule = pd.read_csv(out / "schedule.csv")
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["solver_status"] == "optimal"
    # PV from the hourly forecast (GHI alone, decomposed) stays close to PV from the case's 15-min weather.
    reference = json.loads(run("schedule", str(CASE), "--date", "2026-07-15", "--out", str(tmp_path / "ref"),
                               "--no-plot").stdout and (tmp_path / "ref" / "kpis.json").read_text())
    assert kpis["pv_generation_kwh"] == pytest.approx(reference["pv_generation_kwh"], rel=0.1)
    ws2_forecast = schedule["ws2.load_kw"].sum() / pd.read_csv(tmp_path / "ref" / "schedule.csv")["ws2.load_kw"].sum()
    assert ws2_forecast == pytest.approx(1.1, abs=0.06)   # the forecast follows the metered level
    assert not np.allclose(schedule["ws3.load_kw"], 0.0)   # profiles without history come from the case


def test_schedule_weather_not_covering_the_day(tmp_path: Path, case_weather) -> None:
    weather = case_weather.loc["2026-07-14":"2026-07-14", ["ghi", "temp_air"]]
    result = run("schedule", str(CASE), "--date", "2026-07-15", "--weather", str(write(weather, tmp_path / "w.csv")))
    assert result.exit_code == 1
    assert "--weather: covers" in " ".join(result.output.split())
