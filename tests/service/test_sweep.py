"""``microgrid sweep``: --set parsing and validation, and a small sweep on a real local Dask cluster."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from microgrid.errors import InvalidParkError, InvalidRequestError
from tests.service.helpers import TINY_PARK, one_line_error, run, write_tiny_case
from dispatch.studies.study import StudySettings
from dispatch.studies.sweep import apply_overrides, parse_set, run_sweep, run_sweep_in_process, scenario_grid, scenario_id




def write_case(folder: Path, days: int = 3) -> Path:
    """``days`` days at 15 minutes from 2026-07-14: a sine-shaped day of sun, a two-level load."""
    return write_tiny_case(folder, TINY_PARK, start="2026-07-14", days=days, day_kw=700.0, night_kw=300.0)


def test_parse_set_reads_values_as_yaml() -> None:
    axis = parse_set("batteries.b1.capacity_kwh=0,2000,4000.5")
    assert axis.path == "batteries.b1.capacity_kwh"
    assert axis.values == (0, 2000, 4000.5)
    assert parse_set("grid.export_pv_only=true,false").values == (True, False)
    assert parse_set("tariff.preset=henan_2024").values == ("henan_2024",)
    assert parse_set("x.y=[1, 2],[3]").values == ([1, 2], [3])
    for bad in ("batteries.b1.capacity_kwh", "=1,2", "a..b=1", "a.b=1,,2", "a.b=1,1"):
        with pytest.raises(InvalidRequestError):
            parse_set(bad)


def test_overrides_set_fields_and_refuse_unknown_devices() -> None:
    config = {"batteries": {"b1": {"capacity_kwh": 1}, "b2": {"capacity_kwh": 2}}, "tariff": {"preset": "p"}}
    out = apply_overrides(config, {"batteries.b1.capacity_kwh": 5, "tariff.prices_cny_per_kwh.flat": 0.7})
    assert out == {"batteries": {"b1": {"capacity_kwh": 5}, "b2": {"capacity_kwh": 2}},
                   "tariff": {"preset": "p", "prices_cny_per_kwh": {"flat": 0.7}}}
    assert config["batteries"]["b1"]["capacity_kwh"] == 1  # not mutated
    with pytest.raises(InvalidParkError, match="no 'b9' in batteries; known: b1, b2"):
        apply_overrides(config, {"batteries.b9.capacity_kwh": 5})
    with pytest.raises(InvalidParkError, match="batteries.b1.capacity_kwh is a value"):
        apply_overrides(config, {"batteries.b1.capacity_kwh.x": 5})


def test_grid_is_cartesian_and_ids_are_stable() -> None:
    grid = scenario_grid([parse_set("a.b=1,2"), parse_set("c.d=x,y,z")])
    assert [s.overrides for s in grid][:2] == [{"a.b": 1, "c.d": "x"}, {"a.b": 1, "c.d": "y"}]
    assert len(grid) == 6 and [s.number for s in grid] == list(range(1, 7))
    assert len({s.id for s in grid}) == 6
    assert scenario_id({"c.d": "x", "a.b": 1}) == grid[0].id


SWEEP = ("--start", "2026-07-15", "--end", "2026-07-15", "--strategy", "no-control")


@pytest.mark.parametrize(("option", "fragments"), [
    ("batteries.b1.capacty_kwh=100,200", ("--set batteries.b1.capacty_kwh=100", "did you mean 'capacity_kwh'")),
    ("batteries.b1.capacity_kwh=400,-5", ("--set batteries.b1.capacity_kwh=-5", "batteries.b1.capacity_kwh")),
    ("batteries.b9.capacity_kwh=100", ("--set batteries.b9.capacity_kwh", "no 'b9' in batteries")),
    ("pv_arrays.pv1.dc_capacity_kw=600,lots", ("--set pv_arrays.pv1.dc_capacity_kw=lots",)),
    ("loads.l1.profile=l1_kw,missing_kw", ("--set loads.l1.profile=missing_kw", "column 'missing_kw'")),
    ("grid.max_import_kw", ("write it as PATH=VALUE",)),
])
def test_bad_set_gives_one_line_before_anything_runs(tmp_path: Path, option: str, fragments: tuple) -> None:
    case = write_case(tmp_path / "case")
    out = tmp_path / "out"
    result = run("sweep", str(case), "--set", option, *SWEEP, "--out", str(out))
    one_line_error(result, *fragments)
    assert not out.exists()


def test_a_scenario_invalid_as_a_whole_is_named(tmp_path: Path) -> None:
    # each value is valid alone; min 0.44 with initial 0.42 is not
    case = write_case(tmp_path / "case")
    result = run("sweep", str(case), "--set", "batteries.b1.min_soc_frac=0.1,0.44",
                 "--set", "batteries.b1.initial_soc_frac=0.5,0.42", *SWEEP, "--out", str(tmp_path / "out"))
    one_line_error(result, "scenario batteries.b1.min_soc_frac=0.44, batteries.b1.initial_soc_frac=0.42:",
                   "initial_soc_frac 0.42 is outside")
    assert not (tmp_path / "out").exists()


@pytest.fixture
def local_cluster():
    from dask.distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield cluster
    finally:
        cluster.close()


def test_sweep_runs_on_a_real_local_dask_cluster(tmp_path: Path, local_cluster) -> None:
    case = write_case(tmp_path / "case")
    axes = [parse_set("pv_arrays.pv1.dc_capacity_kw=300,900"), parse_set("batteries.b1.capacity_kwh=0,400")]
    settings = StudySettings(dt.date(2026, 7, 15), dt.date(2026, 7, 15), ("no-control",), baseline="no-control")
    seen = []
    result = run_sweep(case, axes, settings, tmp_path / "out", scheduler=local_cluster.scheduler_address,
                       progress=lambda done, total, scenario, outcome: seen.append((done, total, outcome["error"])))
    assert [d for d, _, _ in seen] == [1, 2, 3, 4] and all(not e for _, _, e in seen)
    assert "2 workers" in result.cluster
    table = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert len(table) == 4
    assert list(table.columns[:4]) == ["scenario", "pv_arrays.pv1.dc_capacity_kw", "batteries.b1.capacity_kwh",
                                       "strategy"]
    assert (table["error"].fillna("") == "").all()
    assert (table["windows"] == 24).all()
    by_pv = table.groupby("pv_arrays.pv1.dc_capacity_kw")
    # PV size matters: more generation, less cost; battery size does not under no-control
    assert by_pv["pv_generation_kwh"].first()[900] > 2 * by_pv["pv_generation_kwh"].first()[300]
    assert by_pv["total_cost_cny"].first()[900] < by_pv["total_cost_cny"].first()[300]
    assert table.groupby("pv_arrays.pv1.dc_capacity_kw")["total_cost_cny"].nunique().eq(1).all()
    assert (tmp_path / "out" / "report.html").read_text().count("data:image/png;base64,") >= 3
    meta = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert meta["scenarios"] == 4 and meta["wall_s"] > 0
    for scenario in result.scenarios:
        days = tmp_path / "out" / "scenarios" / scenario.id / "no-control" / "days"
        assert (days / "2026-07-15.state.json").exists()

    # The same grid in this process (the service's study worker): the same table, and progress over all scenarios
    events = []
    in_process = run_sweep_in_process(case, axes, settings, tmp_path / "out-here", progress=events.append)
    assert [(e.done, e.total) for e in events if e.day_finished and "new assets" not in e.strategy] == [
        (1, 4), (2, 4), (3, 4), (4, 4)]
    # then the park without its new assets (one run shared by all four), reported as the last step
    assert [(e.strategy, e.done) for e in events if "new assets" in e.strategy and e.day_finished] == [
        ("no-control (park without new assets)", 4)]
    assert in_process.cluster == "one process, one scenario after another"
    kept = [c for c in in_process.table.columns if c not in ("wall_s", "resumed_days")]
    pd.testing.assert_frame_equal(in_process.table[kept], result.table[kept])
    # ... and it resumes what the cluster computed
    resumed = run_sweep_in_process(case, axes, settings, tmp_path / "out", report=False)
    assert (resumed.table["resumed_days"] == 1).all()
    pd.testing.assert_frame_equal(resumed.table[kept], result.table[kept])


def test_sweep_cli_on_the_default_local_cluster_and_resume(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case")
    args = ("sweep", str(case), "--set", "pv_arrays.pv1.dc_capacity_kw=300,900", *SWEEP, "--strategy", "rule-based",
            "--baseline", "rule-based", "--workers", "2", "--out", str(tmp_path / "out"))
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "total wall time" in result.output
    table = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert len(table) == 4 and set(table["strategy"]) == {"no-control", "rule-based"}
    assert "savings_cny" in table.columns and set(table["baseline"]) == {"rule-based"}
    assert "savings are stated against rule-based" in " ".join(result.output.split())
    assert table.loc[table["strategy"] == "rule-based", "savings_cny"].to_numpy() == pytest.approx(0.0)
    assert (table["resumed_days"] == 0).all()
    again = run(*args)
    assert again.exit_code == 0, again.output
    table_again = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert (table_again["resumed_days"] == 2).all()  # one day × two strategies, read back
    pd.testing.assert_series_equal(table_again["total_cost_cny"], table["total_cost_cny"])
    other = run(*args, "--seed", "3")  # refused before any cluster starts
    one_line_error(other, "scenario pv_arrays.pv1.dc_capacity_kw=300:", "seed 0 there, 3 now", "use another output")
