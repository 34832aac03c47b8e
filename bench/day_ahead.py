"""Benchmark: day-ahead plan of the reference park.

Reports medians over repeated runs of the three phases of ``plan_day_ahead``
after the case is loaded: inputs (slicing the data, PV through pvlib), model
build (Pyomo model, parameters, hand-over to HiGHS), HiGHS's own solve time,
and the total, with the ratio of the total to HiGHS's time.

Run::

    .venv/bin/python bench/day_ahead.py [--repeats 5] [--dates 2026-01-14,...] [--case cases/zhengzhou_park]

The default dates are a mid-month Wednesday of every month (working days, so
the batch processes and the truck fleet run).

Prints a Markdown table (paste it into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time
from pathlib import Path

from dispatch.inputs import day_ahead_inputs
from dispatch.model import DispatchConfig, needs_exclusivity
from dispatch.optimize import DispatchModel
from microgrid.case import load_case

CASE_DIR = Path(__file__).resolve().parents[1] / "cases" / "zhengzhou_park"


def time_one(case, day: dt.date, config: DispatchConfig) -> dict[str, float]:
    started = time.perf_counter()
    inputs = day_ahead_inputs(case, day)
    t_inputs = time.perf_counter() - started
    model = DispatchModel(inputs, config, needs_exclusivity(inputs))
    result = model.solve(inputs)
    total = time.perf_counter() - started
    return {
        "inputs_s": t_inputs,
        "build_s": result.build_time_s,
        "highs_s": result.solve_time_s,
        "total_s": total,
        "gap": result.mip_gap,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dates", default="2026-01-14,2026-02-11,2026-03-18,2026-04-15,2026-05-13,2026-06-10,"
                                           "2026-07-15,2026-08-12,2026-09-16,2026-10-14,2026-11-11,2026-12-16")
    parser.add_argument("--mip-gap", type=float, default=1e-3)
    parser.add_argument("--case", type=Path, default=CASE_DIR)
    args = parser.parse_args()
    started = time.perf_counter()
    case = load_case(args.case)
    case.load_profiles, case.weather  # noqa: B018 - read the data files once, outside the timings
    load_s = time.perf_counter() - started
    config = DispatchConfig(mip_gap=args.mip_gap)
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; case load (YAML + CSV, once): {load_s:.2f} s; "
          f"{args.repeats} runs per date, MIP gap {args.mip_gap:g}\n")
    print("| date | inputs (PV, data) [s] | build [s] | HiGHS [s] | total [s] | total / HiGHS | MIP gap |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    all_totals = []
    for text in args.dates.split(","):
        day = dt.date.fromisoformat(text)
        time_one(case, day, config)  # warm-up: imports, caches
        runs = [time_one(case, day, config) for _ in range(args.repeats)]
        med = {k: statistics.median(r[k] for r in runs) for k in ("inputs_s", "build_s", "highs_s", "total_s", "gap")}
        all_totals += [r["total_s"] for r in runs]
        print(f"| {day} | {med['inputs_s']:.3f} | {med['build_s']:.3f} | {med['highs_s']:.3f} | "
              f"{med['total_s']:.3f} | {med['total_s'] / med['highs_s']:.1f} | {med['gap']:.1e} |")
    print(f"\nMedian total over all dates and runs: {statistics.median(all_totals):.3f} s; "
          f"90th percentile {statistics.quantiles(all_totals, n=10)[-1]:.3f} s; max {max(all_totals):.3f} s")


if __name__ == "__main__":
    main()
