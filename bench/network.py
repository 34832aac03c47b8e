"""Benchmark: AC validation of a day of the reference park (issue "Network-aware dispatch").

Plans a day with ``dispatch.optimize.solve_optimal`` once (not timed), then
times the AC power flow of its 96 steps, repeated, with each engine:

* ``lightsim2grid``: lightsim2grid's Newton-Raphson on the pandapower model
  (what ``microgrid schedule`` and ``microgrid network check`` use for the
  reference park);
* ``pandapower (recycle)``: ``pandapower.runpp`` per step, admittance matrix
  built once;
* ``pandapower (plain)``: ``pandapower.runpp`` per step, as before this issue.

Then the network-aware day-ahead plan (``dispatch.network_aware.plan_network_aware``)
of the reference park and of the stress case ``cases/zhengzhou_park_constrained``,
timed whole: the network-unaware plan, its AC check, and every round of
linearization, solve and AC check.

Each run is what ``validate_schedule`` does with a built network: the
injections from the schedule, the power flows, the report (steps,
violations, KPIs). Building the network (pandapower tables, topology check)
is timed apart.

Run::

    .venv/bin/python bench/network.py [--repeats 7] [--date 2026-07-15] [--case cases/zhengzhou_park]

Prints Markdown (paste it into docs/benchmarks.md).
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
from dispatch.model import DispatchConfig
from dispatch.network_aware import plan_network_aware
from dispatch.optimize import solve_optimal
from microgrid.case import load_case
from microgrid.network import (build_network, injections_mw, network_report, run_lightsim2grid, run_pandapower,
                               validate_schedule)

CASE_DIR = Path(__file__).resolve().parents[1] / "cases" / "zhengzhou_park"
STRESS_DIR = Path(__file__).resolve().parents[1] / "cases" / "zhengzhou_park_constrained"

ENGINES = {
    "lightsim2grid": lambda net, inj: run_lightsim2grid(net, inj),
    "pandapower (recycle)": lambda net, inj: run_pandapower(net, inj, recycle=True),
    "pandapower (plain)": lambda net, inj: run_pandapower(net, inj, recycle=False),
}


def time_validation(park, schedule, net, engine: str) -> tuple[float, dict]:
    started = time.perf_counter()
    injections = injections_mw(park, net, schedule)
    results = ENGINES[engine](net, injections)
    report = network_report(park, net, schedule.index, results, engine)
    return time.perf_counter() - started, report.kpis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--date", default="2026-07-15")
    parser.add_argument("--case", type=Path, default=CASE_DIR)
    parser.add_argument("--plain-repeats", type=int, default=3, help="repeats of the slow plain-runpp engine")
    parser.add_argument("--aware-repeats", type=int, default=3, help="repeats of the network-aware plans (0: none)")
    args = parser.parse_args()
    case = load_case(args.case)
    day = dt.date.fromisoformat(args.date)
    inputs = day_ahead_inputs(case, day)
    plan = solve_optimal(inputs, DispatchConfig())
    schedule = plan.schedule
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; {case.name}, {day}, {len(schedule)} steps "
          f"(plan by solve_optimal, not timed); {args.repeats} runs per engine "
          f"({args.plain_repeats} for plain runpp) after one warm-up\n")

    build_s = []
    for _ in range(args.repeats + 1):
        started = time.perf_counter()
        net = build_network(case.park, case.folder)
        build_s.append(time.perf_counter() - started)
    build_median = statistics.median(build_s[1:])

    print("| engine | AC validation of the day, median [s] | per step [ms] | min [s] | max [s] | "
          "largest difference to plain runpp |")
    print("|---|---:|---:|---:|---:|---|")
    reference = None
    rows = []
    for engine in ("pandapower (plain)", "pandapower (recycle)", "lightsim2grid"):
        repeats = args.plain_repeats if engine == "pandapower (plain)" else args.repeats
        time_validation(case.park, schedule, net, engine)           # warm-up: imports, caches
        runs = [time_validation(case.park, schedule, net, engine) for _ in range(repeats)]
        times = [t for t, _ in runs]
        kpis = runs[-1][1]
        if reference is None:
            reference = kpis
        diff = max(abs(kpis[k] - reference[k]) for k in reference)
        median = statistics.median(times)
        rows.append((engine, median))
        print(f"| {engine} | {median:.3f} | {median / len(schedule) * 1000:.2f} | {min(times):.3f} | "
              f"{max(times):.3f} | {diff:.1e} (KPIs) |")
    started = time.perf_counter()
    auto = validate_schedule(case.park, schedule, folder=case.folder)
    auto_s = time.perf_counter() - started
    plain = dict(rows)["pandapower (plain)"]
    print(f"\nBuilding the network (pandapower tables, topology check), once per validation: "
          f"median {build_median:.3f} s. `validate_schedule` as `microgrid schedule` calls it "
          f"(build + {auto.engine}), one run: {auto_s:.3f} s.")
    print(f"Speed-up over plain runpp: recycle {plain / dict(rows)['pandapower (recycle)']:.1f}×, "
          f"lightsim2grid {plain / dict(rows)['lightsim2grid']:.0f}×.")
    print(f"KPIs of the day: min {auto.kpis['min_vm_pu']:.4f} p.u., max line loading "
          f"{auto.kpis['max_line_loading_pct']:.1f} %, max transformer loading "
          f"{auto.kpis['max_trafo_loading_pct']:.1f} %, losses {auto.kpis['network_losses_kwh']:.1f} kWh, "
          f"{auto.kpis['network_violations']} violations.")
    aware_cases = [("reference park", args.case)] + ([("stress case", STRESS_DIR)] if args.aware_repeats else [])
    print(f"\nNetwork-aware day-ahead plan (`plan_network_aware`: network-unaware plan, then solve / AC check / "
          f"re-linearize until no violation; network built once, not timed), {args.aware_repeats} runs:\n")
    print("| case | plan, median [s] | min [s] | max [s] | iterations | violations unaware → aware | "
          "cost increase [CNY] | losses AC [kWh] |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for label, folder in aware_cases:
        aware_case = load_case(folder)
        aware_inputs = day_ahead_inputs(aware_case, day)
        aware_net = build_network(aware_case.park, aware_case.folder)
        times, plan = [], None
        for _ in range(args.aware_repeats):
            started = time.perf_counter()
            plan = plan_network_aware(aware_inputs, net=aware_net)
            times.append(time.perf_counter() - started)
        print(f"| {label} | {statistics.median(times):.2f} | {min(times):.2f} | {max(times):.2f} | "
              f"{len(plan.iterations) - 1} | {plan.unaware_report.kpis['network_violations']} → "
              f"{plan.report.kpis['network_violations']} | {plan.cost_increase_cny:,.0f} | "
              f"{plan.report.kpis['network_losses_kwh']:.0f} |")


if __name__ == "__main__":
    main()
