"""Every file one ``microgrid`` command writes is read as it is by the command that consumes it.

The pairs, on the bundled reference park for 2026-07-15:

* ``forecast pv --out`` → ``schedule --pv-forecast``;
* ``forecast wind --out`` → ``schedule --wind-forecast`` (a tiny park with a wind turbine);
* ``forecast load --out`` (history of load profiles) → ``schedule --load-forecast``;
* ``forecast load --out`` (history of heat-demand profiles) → ``schedule --heat-forecast``;
* ``forecast pv --out`` / ``forecast load --out`` → ``forecast check --forecast``;
* ``schedule``'s ``schedule.csv`` → ``network check --schedule``.

No command writes a weather file (``--weather``) or a meter history
(``--load-history``), and no command reads the study and sweep outputs.
Then the KPI table's title, and one-line errors for PV files whose total
disagrees with their arrays.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microgrid.case import load_case
from tests.service.helpers import TINY_PARK, TINY_WIND_PARK, one_line_error, run, windy_nights, write_tiny_case

CASE = Path(__file__).resolve().parents[2] / "cases" / "zhengzhou_park"
DAY = "2026-07-15"
HISTORY_DAYS = 28


def _rows(path: Path, first: str, last: str) -> pd.DataFrame:
    """Rows of a case CSV whose timestamp (ISO text, +08:00) is in [first, last)."""
    frame = pd.read_csv(path)
    return frame[(frame["timestamp"] >= first) & (frame["timestamp"] < last)]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The day's weather and four weeks of metered loads and heat before it, cut from the case's data."""
    folder = tmp_path_factory.mktemp("inputs")
    start = (pd.Timestamp(DAY) - pd.Timedelta(days=HISTORY_DAYS)).date().isoformat()
    paths = {"weather": folder / "weather.csv", "loads": folder / "loads_meter.csv", "heat": folder / "heat_meter.csv",
             "measured_loads": folder / "loads_measured.csv", "weather_two_days": folder / "weather_two_days.csv"}
    _rows(CASE / "weather.csv", DAY, "2026-07-16").to_csv(paths["weather"], index=False)
    _rows(CASE / "loads.csv", start, DAY).to_csv(paths["loads"], index=False)
    _rows(CASE / "heat.csv", start, DAY).to_csv(paths["heat"], index=False)
    _rows(CASE / "loads.csv", "2026-07-14", "2026-07-16").to_csv(paths["measured_loads"], index=False)
    _rows(CASE / "weather.csv", "2026-07-14", "2026-07-16").to_csv(paths["weather_two_days"], index=False)
    return paths


@pytest.fixture(scope="module")
def case():
    return load_case(CASE)


def _ok(result) -> None:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def _schedule(out: Path, *options: str):
    result = run("schedule", str(CASE), "--date", DAY, "--out", str(out), "--no-plot", "--no-network", *options)
    _ok(result)
    return (json.loads((out / "kpis.json").read_text()),
            pd.read_csv(out / "schedule.csv", index_col="timestamp"))


def _forecast(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, index_col="timestamp")


def test_forecast_pv_feeds_schedule_pv_forecast(tmp_path: Path, files, case) -> None:
    pv_file = tmp_path / "pv.csv"
    _ok(run("forecast", "pv", str(CASE), "--weather", str(files["weather"]), "--out", str(pv_file)))
    pv = _forecast(pv_file)
    arrays = [f"{a_id}_kw" for a_id in case.park.pv_arrays]
    assert list(pv.columns) == [*arrays, "pv_kw"]
    # three decimals per column: the total is within rounding of the arrays' sum
    assert np.abs(pv["pv_kw"] - pv[arrays].sum(axis=1)).max() <= 0.0005 * (len(arrays) + 1) + 1e-9
    assert pv["pv_kw"].max() > 1000.0   # a July day of sun on 5 MW of AC rating

    kpis, schedule = _schedule(tmp_path / "out", "--pv-forecast", str(pv_file))
    assert kpis["forecast_sources"] == {f"pv.{a_id}": "pv_kw" for a_id in case.park.pv_arrays}
    assert schedule.index.tolist() == pv.index.tolist()
    for a_id in case.park.pv_arrays:
        assert schedule[f"{a_id}.available_kw"].to_numpy() == pytest.approx(pv[f"{a_id}_kw"].to_numpy(), abs=1e-9)
    assert schedule["pv_available_kw"].to_numpy() == pytest.approx(pv["pv_kw"].to_numpy(), abs=0.01)


def test_forecast_wind_feeds_schedule_wind_forecast(tmp_path: Path) -> None:
    """The wind file is read as it is; the plan's wind is the file's, and the same as from the case's weather."""
    case = write_tiny_case(tmp_path / "case", TINY_WIND_PARK, wind=windy_nights)
    wind_file = tmp_path / "wind.csv"
    _ok(run("forecast", "wind", str(case), "--out", str(wind_file)))
    wind = pd.read_csv(wind_file, index_col="timestamp", comment="#")
    assert list(wind.columns) == ["wt1_kw", "wind_kw"]

    out = tmp_path / "out"
    result = run("schedule", str(case), "--date", DAY, "--wind-forecast", str(wind_file), "--out", str(out),
                 "--no-plot")
    _ok(result)
    assert "wind from the forecast wind.csv: wt1" in " ".join(result.output.split())
    kpis = json.loads((out / "kpis.json").read_text())
    schedule = pd.read_csv(out / "schedule.csv", index_col="timestamp")
    assert kpis["forecast_sources"] == {"wind.wt1": "wind_kw"}
    day = wind.loc[schedule.index]
    assert schedule["wt1.available_kw"].to_numpy() == pytest.approx(day["wt1_kw"].to_numpy(), abs=1e-9)
    assert schedule["wind_available_kw"].to_numpy() == pytest.approx(day["wind_kw"].to_numpy(), abs=1e-3)
    assert {"wind_used_kw", "wind_curtailment_kw", "wt1.used_kw"} <= set(schedule.columns)
    assert kpis["wind_generation_kwh"] == pytest.approx(float(day["wind_kw"].sum()) * 0.25, abs=0.01)
    # the KPI table shows the wind
    table = " ".join(result.output.split())
    assert "wind generation" in table and "wind self-consumption" in table and "wind curtailed" in table

    # without the file, the same wind from the case's weather (the file has three decimals)
    _ok(run("schedule", str(case), "--date", DAY, "--out", str(tmp_path / "own"), "--no-plot"))
    own = json.loads((tmp_path / "own" / "kpis.json").read_text())
    assert own.get("forecast_sources", {}) == {}
    assert own["wind_generation_kwh"] == pytest.approx(kpis["wind_generation_kwh"], abs=0.01)


def test_the_kpi_table_shows_wind_only_for_a_park_with_wind(tmp_path: Path) -> None:
    case = write_tiny_case(tmp_path / "case", TINY_PARK)
    result = run("schedule", str(case), "--date", DAY, "--out", str(tmp_path / "o"), "--no-plot")
    _ok(result)
    assert "wind" not in result.output.split("wrote ")[0]       # (the paths written hold the test's name)
    assert "wind_generation_kwh" not in json.loads((tmp_path / "o" / "kpis.json").read_text())


@pytest.mark.parametrize(("columns", "fragments"), [
    ({"wt2_kw": 100.0}, ["--wind-forecast.wt2_kw: the park has no wind turbine group column 'wt2_kw'; use wt1_kw "
                         "(and/or the total wind_kw)"]),
    ({"wt1_kw": 1500.0}, ["--wind-forecast.wt1_kw: 1500 kW at 2026-07-15T00:00:00+08:00 exceeds the group's most "
                          "power (max_p_kw) of 1000 kW"]),
    ({"wt1_kw": 100.0, "wind_kw": 150.0}, ["--wind-forecast.wind_kw: 150 kW at 2026-07-15T00:00:00+08:00 is not the "
                                           "sum of the turbine group columns, 100 kW"]),
    ({"wt1_kw": -1.0}, ["--wind-forecast (wind.csv): column 'wt1_kw' has -1"]),
])
def test_bad_wind_files_are_one_line(tmp_path: Path, columns: dict, fragments: list[str]) -> None:
    case = write_tiny_case(tmp_path / "case", TINY_WIND_PARK, wind=windy_nights)
    stamps = pd.date_range(DAY, periods=25, freq="1h", tz="Asia/Shanghai")
    wind = tmp_path / "wind.csv"
    pd.DataFrame({"timestamp": [t.isoformat() for t in stamps], **columns}).to_csv(wind, index=False)
    one_line_error(run("schedule", str(case), "--date", DAY, "--wind-forecast", str(wind), "--no-plot",
                       "--out", str(tmp_path / "o")), *fragments)


def test_a_wind_file_for_a_park_without_wind_is_one_line(tmp_path: Path) -> None:
    case = write_tiny_case(tmp_path / "case", TINY_PARK)
    stamps = pd.date_range(DAY, periods=25, freq="1h", tz="Asia/Shanghai")
    wind = tmp_path / "wind.csv"
    pd.DataFrame({"timestamp": [t.isoformat() for t in stamps], "wind_kw": 10.0}).to_csv(wind, index=False)
    one_line_error(run("schedule", str(case), "--date", DAY, "--wind-forecast", str(wind), "--no-plot",
                       "--out", str(tmp_path / "o")),
                   "--wind-forecast: the park has no wind turbines; leave out the wind forecast")


def test_forecast_load_feeds_schedule_load_forecast(tmp_path: Path, files, case) -> None:
    load_file = tmp_path / "load.csv"
    _ok(run("forecast", "load", str(CASE), "--history", str(files["loads"]), "--date", DAY, "--out", str(load_file)))
    load = _forecast(load_file)
    kpis, schedule = _schedule(tmp_path / "out", "--load-forecast", str(load_file))
    profiles = {load.profile for load in case.park.loads.values()} | \
        {c.profile for c in case.park.curtailable_loads.values()} | \
        {s.profile for s in case.park.shiftable_loads.values()}
    assert kpis["forecast_sources"] == {f"load.{p}": "load_kw" for p in sorted(profiles)}
    assert schedule.index.tolist() == load.index.tolist()
    for load_id, device in case.park.loads.items():
        assert schedule[f"{load_id}.load_kw"].to_numpy() == pytest.approx(
            load[device.profile].to_numpy() * device.scale, abs=1e-6)
    for load_id, device in case.park.curtailable_loads.items():
        assert schedule[f"{load_id}.baseline_kw"].to_numpy() == pytest.approx(
            load[device.profile].to_numpy() * device.scale, abs=1e-6)


def test_forecast_load_of_heat_history_feeds_schedule_heat_forecast(tmp_path: Path, files, case) -> None:
    heat_file = tmp_path / "heat.csv"
    _ok(run("forecast", "load", str(CASE), "--history", str(files["heat"]), "--date", DAY, "--out", str(heat_file)))
    heat = _forecast(heat_file)
    kpis, schedule = _schedule(tmp_path / "out", "--heat-forecast", str(heat_file))
    assert kpis["forecast_sources"] == {f"heat.{b.demand_profile}": "heat_kw" for b in case.park.heat_buses.values()}
    for bus_id, bus in case.park.heat_buses.items():
        assert schedule[f"{bus_id}.demand_th_kw"].to_numpy() == pytest.approx(
            heat[bus.demand_profile].to_numpy() * bus.scale, abs=1e-6)


def test_forecasts_feed_forecast_check(tmp_path: Path, files) -> None:
    load_file = tmp_path / "load.csv"
    _ok(run("forecast", "load", str(CASE), "--history", str(files["loads"]), "--date", DAY, "--out", str(load_file)))
    report = tmp_path / "accuracy.json"
    _ok(run("forecast", "check", "--measured", str(files["measured_loads"]), "--forecast", str(load_file),
            "--json", str(report)))
    assert set(json.loads(report.read_text())) == set(_forecast(load_file).columns)

    pv_file = tmp_path / "pv.csv"
    _ok(run("forecast", "pv", str(CASE), "--weather", str(files["weather"]), "--out", str(pv_file)))
    # as if metered: the arrays' power over two days (persistence needs the day before)
    two_days = tmp_path / "pv_two_days.csv"
    _ok(run("forecast", "pv", str(CASE), "--weather", str(files["weather_two_days"]), "--out", str(two_days)))
    measured = _forecast(two_days).drop(columns="pv_kw")
    measured_file = tmp_path / "pv_measured.csv"
    measured.to_csv(measured_file)
    _ok(run("forecast", "check", "--kind", "pv", "--case", str(CASE), "--measured", str(measured_file),
            "--forecast", str(pv_file), "--json", str(report)))
    assert set(json.loads(report.read_text())) == set(measured.columns)


def test_schedule_csv_feeds_network_check(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _schedule(out)
    result = run("network", "check", str(CASE), "--schedule", str(out / "schedule.csv"), "--out", str(tmp_path / "n"))
    assert result.exit_code in (0, 4), result.output   # 4: the plan violates a network limit, reported
    assert "Traceback" not in result.output
    steps = pd.read_csv(tmp_path / "n" / "network.csv", index_col="timestamp")
    assert steps.index.tolist() == pd.read_csv(out / "schedule.csv", index_col="timestamp").index.tolist()


# --- the KPI table's title ---------------------------------------------------------------------------------------


def _title(output: str) -> str:
    """The table's title: the lines above its top border (wrapped to the table's width), joined."""
    lines = output.splitlines()
    top = next(k for k, line in enumerate(lines) if line.lstrip().startswith("┏"))
    return " ".join(" ".join(lines[:top]).split())


def test_title_of_an_infeasible_plan_says_so(tmp_path: Path) -> None:
    park = json.loads(json.dumps(TINY_PARK))
    park["grid"]["max_import_kw"] = 300   # below the 400-900 kW load
    case = write_tiny_case(tmp_path / "case", park)
    result = run("schedule", str(case), "--date", DAY, "--out", str(tmp_path / "o"), "--no-plot")
    _ok(result)
    assert _title(result.output) == ("tiny park — 2026-07-15 — optimal strategy — status: infeasible_relaxed "
                                     "(priced slack used, see below)")


def test_title_of_an_optimal_plan(tmp_path: Path) -> None:
    case = write_tiny_case(tmp_path / "case", TINY_PARK)
    result = run("schedule", str(case), "--date", DAY, "--out", str(tmp_path / "o"), "--no-plot")
    _ok(result)
    assert json.loads((tmp_path / "o" / "kpis.json").read_text())["solver_status"] == "optimal"
    assert _title(result.output) == "tiny park — 2026-07-15 — optimal strategy — status: optimal"


@pytest.mark.parametrize("strategy", ["rule-based", "no-control"])
def test_title_of_a_heuristic_plan(tmp_path: Path, strategy: str) -> None:
    case = write_tiny_case(tmp_path / "case", TINY_PARK)
    result = run("schedule", str(case), "--date", DAY, "--strategy", strategy, "--out", str(tmp_path / "o"),
                 "--no-plot")
    _ok(result)
    assert _title(result.output) == f"tiny park — 2026-07-15 — {strategy} (not optimized)"


# --- PV files with a total and arrays ----------------------------------------------------------------------------

TWO_ARRAYS = {**json.loads(json.dumps(TINY_PARK)), "batteries": {}}
TWO_ARRAYS["pv_arrays"]["pv2"] = {"bus": "pcc", "dc_capacity_kw": 300, "ac_capacity_kw": 250}


def _pv_file(path: Path, columns: dict[str, list[float]]) -> Path:
    stamps = pd.date_range(DAY, periods=25, freq="1h", tz="Asia/Shanghai")
    pd.DataFrame({"timestamp": [t.isoformat() for t in stamps], **columns}).to_csv(path, index=False)
    return path


def _sun(peak_kw: float) -> list[float]:
    return [peak_kw if 10 <= h < 14 else 0.0 for h in range(25)]


def test_pv_file_with_arrays_and_total_uses_the_arrays(tmp_path: Path) -> None:
    """pv1 300 kW and pv2 100 kW from 10 to 14 h, total 400 kW: 4 h · 400 kW = 1,600 kWh, split as given."""
    case = write_tiny_case(tmp_path / "case", TWO_ARRAYS)
    pv = _pv_file(tmp_path / "pv.csv", {"pv1_kw": _sun(300.0), "pv2_kw": _sun(100.0), "pv_kw": _sun(400.004)})
    result = run("schedule", str(case), "--date", DAY, "--pv-forecast", str(pv), "--out", str(tmp_path / "o"),
                 "--no-plot")
    _ok(result)
    kpis = json.loads((tmp_path / "o" / "kpis.json").read_text())
    assert kpis["forecast_sources"] == {"pv.pv1": "pv_kw", "pv.pv2": "pv_kw"}
    assert kpis["pv_generation_kwh"] == pytest.approx(1600.0, abs=1e-6)
    schedule = pd.read_csv(tmp_path / "o" / "schedule.csv")
    assert schedule["pv2.available_kw"].iloc[40:56].tolist() == pytest.approx([100.0] * 16)


def test_pv_total_alone_is_still_split_by_rating(tmp_path: Path) -> None:
    """300 kW over 500 + 250 kW of rating: 200 and 100 kW."""
    case = write_tiny_case(tmp_path / "case", TWO_ARRAYS)
    pv = _pv_file(tmp_path / "pv.csv", {"pv_kw": _sun(300.0)})
    result = run("schedule", str(case), "--date", DAY, "--pv-forecast", str(pv), "--out", str(tmp_path / "o"),
                 "--no-plot")
    _ok(result)
    schedule = pd.read_csv(tmp_path / "o" / "schedule.csv")
    assert schedule["pv1.available_kw"].iloc[44] == pytest.approx(200.0)
    assert schedule["pv2.available_kw"].iloc[44] == pytest.approx(100.0)


@pytest.mark.parametrize(("columns", "fragments"), [
    ({"pv1_kw": _sun(300.0), "pv2_kw": _sun(100.0), "pv_kw": _sun(401.0)},
     ["--pv-forecast.pv_kw: 401 kW at 2026-07-15T10:00:00+08:00 is not the sum of the array columns, 400 kW "
      "(tolerance 0.075 kW)"]),
    ({"pv1_kw": _sun(300.0), "pv_kw": _sun(300.0)},
     ["--pv-forecast: the total pv_kw comes with array columns but not pv2_kw; give every array's column"]),
    ({"pv1_kw": _sun(300.0), "pv2_kw": _sun(100.0), "pv_kw": _sun(-1.0)},
     ["--pv-forecast (pv.csv): column 'pv_kw' has -1"]),
])
def test_inconsistent_pv_files_are_one_line(tmp_path: Path, columns: dict, fragments: list[str]) -> None:
    case = write_tiny_case(tmp_path / "case", TWO_ARRAYS)
    pv = _pv_file(tmp_path / "pv.csv", columns)
    one_line_error(run("schedule", str(case), "--date", DAY, "--pv-forecast", str(pv), "--no-plot",
                       "--out", str(tmp_path / "o")), *fragments)


def test_a_heat_profile_in_the_load_forecast_is_named(tmp_path: Path) -> None:
    """A forecast of a history holding loads and heat: each option names the profile of the other kind."""
    day = _rows(CASE / "loads.csv", DAY, "2026-07-16").set_index("timestamp")[["ws1_machining_kw"]]
    day["process_heat_kw"] = _rows(CASE / "heat.csv", DAY, "2026-07-16")["process_heat_kw"].to_numpy()
    mixed = tmp_path / "mixed.csv"
    day.to_csv(mixed)
    one_line_error(run("schedule", str(CASE), "--date", DAY, "--load-forecast", str(mixed), "--no-plot",
                       "--no-network", "--out", str(tmp_path / "o")),
                   "--load-forecast.process_heat_kw: 'process_heat_kw' is a heat-demand profile, not a load profile; "
                   "give it in the heat-demand forecast (one file per kind")
    one_line_error(run("schedule", str(CASE), "--date", DAY, "--heat-forecast", str(mixed), "--no-plot",
                       "--no-network", "--out", str(tmp_path / "o")),
                   "--heat-forecast.ws1_machining_kw: 'ws1_machining_kw' is a load profile, not a heat-demand "
                   "profile; give it in the load forecast")
