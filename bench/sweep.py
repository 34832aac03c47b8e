"""A sweep on a local Dask cluster against the same scenarios run one by one.

Run::

    .venv/bin/python bench/sweep.py [--days 2] [--strategy rule-based] [--workers N]

Six scenarios of the reference park (battery b1 of 0, 2,000 and 4,000 kWh ×
PV array pv_ws1 of 1,000 and 1,600 kWp), each a rolling-horizon study of
``--days`` days from 2026-07-15 with re-planning every hour. The serial run
calls the sweep's task (:func:`dispatch.studies.sweep.run_scenario`) one scenario after
the other in this process; the Dask run is :func:`dispatch.studies.sweep.run_sweep` on a
new local cluster of ``--workers`` single-threaded processes (default: one per
core), its time including validation, the cluster's start and the report. Both
start from empty output folders (no checkpoint is resumed). Prints Markdown
for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from dispatch.studies.study import StudySettings
from dispatch.studies.sweep import parse_set, run_scenario, run_sweep, scenario_grid, settings_to_dict

CASE_DIR = Path(__file__).resolve().parents[1] / "cases" / "zhengzhou_park"
AXES = ("batteries.b1.capacity_kwh=0,2000,4000", "pv_arrays.pv_ws1.dc_capacity_kw=1000,1600")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=CASE_DIR)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 7, 15))
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--strategy", default="rule-based")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    axes = [parse_set(text) for text in AXES]
    settings = StudySettings(args.start, args.start + dt.timedelta(days=args.days - 1), (args.strategy,))
    scenarios = scenario_grid(axes)
    workers = args.workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        serial = {}
        for scenario in scenarios:
            serial[scenario.id] = run_scenario(str(args.case.resolve()), scenario.overrides, settings_to_dict(settings),
                                               str(Path(tmp, "serial", scenario.id)))
            assert not serial[scenario.id]["error"], serial[scenario.id]["error"]
        serial_s = time.perf_counter() - started
        result = run_sweep(args.case, axes, settings, Path(tmp, "dask"), workers=workers)
    assert result.failed.empty, result.failed["error"].iloc[0]
    for scenario in scenarios:  # same numbers either way
        row = result.table.loc[result.table["scenario"] == scenario.number].iloc[0]
        expected = serial[scenario.id]["kpis"][args.strategy]["total_cost_cny"]
        assert np.isclose(row["total_cost_cny"], expected, rtol=1e-9), (scenario.describe(), row["total_cost_cny"])
    task_s = float(result.table.drop_duplicates("scenario")["wall_s"].sum())
    machine = platform.processor() or platform.machine()
    print(f"Sweep of {len(scenarios)} scenarios ({', '.join(AXES)}), `{args.strategy}`, {args.days} day(s) from "
          f"{args.start} with hourly re-planning, on {os.cpu_count()} cores ({machine}, "
          f"Python {platform.python_version()}):\n")
    print("| run | wall time [s] | validation [s] | cluster start [s] | scenarios [s] | speed-up (wall) "
          "| speed-up (scenarios) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| one by one, in one process | {serial_s:.1f} | – | – | {serial_s:.1f} | 1.00 | 1.00 |")
    print(f"| local Dask cluster, {workers} worker process(es) × 1 thread | {result.wall_s:.1f} | "
          f"{result.validate_s:.1f} | {result.cluster_start_s:.1f} | {result.run_s:.1f} | "
          f"{serial_s / result.wall_s:.2f} | {serial_s / result.run_s:.2f} |")
    print(f"\nThe scenario tasks on the cluster took {task_s:.1f} s in all (one by one: {serial_s:.1f} s); "
          "the Dask wall time includes checking every scenario, starting the cluster and writing sweep.csv "
          "and report.html.\n")
    print(f"| {' | '.join(a.path for a in axes)} | total cost [CNY] | PV self-consumption | CO2 [kg] | fallbacks |")
    print(f"|{'---:|' * (len(axes) + 4)}")
    for row in result.table.to_dict(orient="records"):
        values = " | ".join(f"{row[a.path]:,}" for a in axes)
        print(f"| {values} | {row['total_cost_cny']:,.0f} | {row['pv_self_consumption_ratio']:.1%} | "
              f"{row['co2_kg']:,.0f} | {row['fallback_windows']} |")


if __name__ == "__main__":
    main()
