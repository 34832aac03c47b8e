"""The sizing of the reference park against a brute-force sweep of the same typical-day model.

Run::

    .venv/bin/python bench/sizing.py [--k 12] [--energy 0:60000:10000] [--power 0:10000:2500] [--pv 6000,8000]

Sizes the reference park (``microgrid size`` without its MPC check:
:func:`dispatch.sizing.run.size_case`), then solves the same model (same
typical days, same objective) with the battery's energy and power and the
PV fixed at every point of the grid, the other sizes (heat pump, thermal
store) held at the sizing's values, and compares the life-cycle costs: the
sizing's must be at most the best grid point's (it is the optimum of the
same model) and, for the grid to vouch for it, within 2 % of it. Prints
Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from pathlib import Path

import numpy as np

from dispatch import finance
from dispatch.sizing.model import build_sizing_model, solve_sizing
from dispatch.sizing.run import size_case
from microgrid.case import load_case

CASE_DIR = Path(__file__).resolve().parents[1] / "cases" / "zhengzhou_park"


def _range(text: str) -> list[float]:
    if ":" in text:
        start, stop, step = (float(v) for v in text.split(":"))
        return list(np.arange(start, stop + step / 2, step))
    return [float(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=CASE_DIR)
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--energy", default="0:60000:10000", help="battery energy grid [kWh]: start:stop:step or a,b,c")
    parser.add_argument("--power", default="0:10000:2500", help="battery power grid [kW]")
    parser.add_argument("--pv", default="6000,8000", help="PV grid [kWp]")
    args = parser.parse_args()
    case = load_case(args.case)
    started = time.perf_counter()
    run = size_case(case, args.k)
    size_s = time.perf_counter() - started
    economics = case.park.economics
    annuity = finance.annuity_factor(economics.discount_rate_frac, economics.analysis_years)
    s = run.solution
    held = {n: s.sizes[n] for n in ("wind_kw", "heat_pump_kw", "thermal_store_kwh", "thermal_store_kw")}
    model = build_sizing_model(run.spec, run.days)
    grid = []
    sweep_started = time.perf_counter()
    for energy, power, pv in itertools.product(_range(args.energy), _range(args.power), _range(args.pv)):
        point = solve_sizing(run.spec, run.days, model=model,
                             fixed={**held, "battery_kwh": energy, "battery_kw": power, "pv_kw": pv})
        grid.append((point.annual_cost_cny * annuity, energy, power, pv))
    sweep_s = time.perf_counter() - sweep_started
    best = min(grid)
    lcc = s.annual_cost_cny * annuity
    gap = (lcc - best[0]) / best[0]
    e = run.economics
    print(f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
          f"`bench/sizing.py --k {args.k} --energy {args.energy} --power {args.power} --pv {args.pv}`\n")
    print("| figure | value |\n|---|---|")
    print(f"| typical days (k asked / clustered) | {args.k} / {run.days.k} |")
    print(f"| clustering (year profiles + tsam) | {run.cluster_s:.1f} s |")
    print(f"| sizing (cluster, build, solve with and without new assets, economics) | {size_s:.1f} s "
          f"(HiGHS via Pyomo {s.solve_time_s:.1f} s, status {s.status}) |")
    for name, value in s.sizes.items():
        print(f"| {name} | {value:,.0f} |")
    print(f"| annual cost (capex annuity + O&M + operation) | {s.annual_cost_cny:,.0f} CNY/a |")
    print(f"| life-cycle cost | {lcc:,.0f} CNY |")
    print(f"| NPV vs park without new assets (sizing model) | {e['npv_model_cny']:,.0f} CNY |")
    print(f"| NPV (investment cash flow, dispatch.finance) | {e['npv_cny']:,.0f} CNY |")
    print(f"| grid points ({len(grid)}) solved in | {sweep_s:.1f} s |")
    print(f"| best grid point: battery kWh, kW, PV kWp | {best[1]:,.0f}, {best[2]:,.0f}, {best[3]:,.0f} |")
    print(f"| best grid point's life-cycle cost | {best[0]:,.0f} CNY |")
    print(f"| sizing's life-cycle cost − best grid point's | {gap:+.3%} (must be ≤ 0 and within 2 %) |")
    assert lcc <= best[0] * (1 + 1e-6), "the sizing is worse than a grid point of the same model"
    assert abs(gap) <= 0.02, "the sizing is more than 2 % from the best grid point"


if __name__ == "__main__":
    main()
