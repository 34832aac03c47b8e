"""Benchmark: rolling-horizon operation of the reference park over a period (default: the year).

Hourly re-planning over a 24-hour horizon at 15 minutes. Reports the wall time,
the median time per re-plan split into model update (parameters of a reused
model) and HiGHS solve, the median time to build a model for a new horizon
shape, the speed-up of updating over rebuilding, how many windows relax-and-fix
settled without a MIP, and the windows that fell back. With ``--rebuild``
every window builds its model anew (no cache), to measure what updating saves.

Run::

    .venv/bin/python bench/annual_study.py [--strategy mpc] [--start 2026-01-01 --end 2027-01-01]

A period shorter than the year prints the time per day and the year
extrapolated from it (marked as such). Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time
from pathlib import Path

import pandas as pd

from dispatch.model import DispatchConfig
from dispatch.rolling import ModelCache, RollingConfig, run_rolling_horizon
from microgrid.case import load_case

CASE_DIR = Path(__file__).resolve().parents[1] / "cases" / "zhengzhou_park"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=CASE_DIR)
    parser.add_argument("--strategy", default="mpc")
    parser.add_argument("--start", default="2026-01-01")
    parser.add_argument("--end", default="2027-01-01", help="exclusive")
    parser.add_argument("--horizon-h", type=float, default=24.0)
    parser.add_argument("--replan-h", type=float, default=1.0)
    parser.add_argument("--integer-horizon-h", type=float, default=3.0,
                        help="keep integer decisions only for this many hours of each plan (24: all)")
    parser.add_argument("--no-lp-first", action="store_true", help="always solve the MIP (no relax-and-fix)")
    parser.add_argument("--rebuild", action="store_true", help="build every window's model anew (no reuse)")
    args = parser.parse_args()
    case = load_case(args.case)
    tz = case.park.site.timezone
    start = pd.Timestamp(dt.date.fromisoformat(args.start)).tz_localize(tz)
    end = pd.Timestamp(dt.date.fromisoformat(args.end)).tz_localize(tz)
    config = RollingConfig(strategy=args.strategy, horizon_h=args.horizon_h, replan_h=args.replan_h,
                           dispatch=DispatchConfig(integer_horizon_h=args.integer_horizon_h,
                                                   lp_first=not args.no_lp_first, end_of_horizon="minimum"))
    cache = ModelCache(0 if args.rebuild else 256)
    state = None
    windows = []
    started = time.perf_counter()
    day = start
    while day < end:
        nxt = min(day + pd.Timedelta(days=1), end)
        result = run_rolling_horizon(case, day, nxt, config, state=state, cache=cache)
        state = result.state
        windows.append(result.windows)
        day = nxt
    wall = time.perf_counter() - started
    w = pd.concat(windows, ignore_index=True)
    days = (end - start) / pd.Timedelta(days=1)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"strategy {args.strategy}, {args.start} – {args.end} (exclusive), horizon {args.horizon_h:g} h, "
          f"re-plan every {args.replan_h:g} h, integer decisions over the first {args.integer_horizon_h:g} h, "
          f"relax-and-fix {'off' if args.no_lp_first else 'on'}, models {'rebuilt' if args.rebuild else 'reused'}\n")
    print("| quantity | value |")
    print("|---|---:|")
    print(f"| windows | {len(w)} |")
    print(f"| wall time | {wall:,.0f} s |")
    print(f"| wall time per day | {wall / days:.1f} s |")
    if days < 365:
        print(f"| year extrapolated from this period | {wall / days * 365 / 60:,.0f} min |")
    if args.strategy in ("mpc", "perfect-foresight"):
        reused, new = w[w["reused"]], w[~w["reused"]]
        per_window = wall / len(w)
        print(f"| mean time per re-plan, all included (wall / windows) | {per_window:.3f} s |")
        print(f"| mean HiGHS time per re-plan (LPs and MIPs) | {w['solve_s'].mean():.3f} s |")
        print(f"| median HiGHS time per re-plan | {statistics.median(w['solve_s']):.3f} s |")
        print(f"| re-plans settled by relax-and-fix (no MIP) | {w['method'].isin(['lp_rounded', 'lp_fixed']).mean():.1%} |")
        if len(reused):
            print(f"| median update of a reused model ({len(reused)} windows) | {statistics.median(reused['update_s']):.3f} s |")
        if len(new):
            print(f"| median build of a new model ({len(new)} windows) | {statistics.median(new['update_s']):.3f} s |")
        if len(reused) and len(new):
            print(f"| speed-up of updating over rebuilding | {statistics.median(new['update_s']) / statistics.median(reused['update_s']):.1f}× |")
    print(f"| windows that fell back to rule-based | {int(w['fallback'].sum())} |")


if __name__ == "__main__":
    main()
