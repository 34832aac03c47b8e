"""The three objectives side by side on the full reference park.

Run::

    .venv/bin/python bench/objectives.py

Prints a Markdown table (paste it into docs/benchmarks.md): for a spring
working day with a midday valley, a summer working day and a sunny holiday
(PV surplus), the KPIs of the ``optimal`` strategy under ``cost``,
``self_consumption`` and ``co2``, with HiGHS's time (both solves of a
lexicographic objective).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from dispatch.day_ahead import plan_day_ahead
from dispatch.model import OBJECTIVES, DispatchConfig
from microgrid.case import load_case

CASE_DIR = Path(__file__).resolve().parents[1] / "cases" / "zhengzhou_park"
DAYS = {"spring working day": dt.date(2026, 4, 15), "summer working day": dt.date(2026, 7, 15),
        "sunny holiday": dt.date(2026, 5, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=CASE_DIR)
    args = parser.parse_args()
    case = load_case(args.case)
    print("| day | objective | total cost [CNY] | energy cost [CNY] | demand charge [CNY] | export revenue [CNY] "
          "| PV on site [kWh] | PV self-consumption | green share | grid import [kWh] | CO2 [kg] | peak import [kW] "
          "| HiGHS [s] | MIP gap |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, day in DAYS.items():
        for objective in OBJECTIVES:
            k = plan_day_ahead(case, day, "optimal", DispatchConfig(objective=objective)).kpis
            print(f"| {day} {label} | {objective} | {k['total_cost_cny']:,.0f} | {k['energy_cost_cny']:,.0f} | "
                  f"{k['demand_charge_cny']:,.0f} | {k['export_revenue_cny']:,.0f} | {k['pv_onsite_kwh']:,.0f} | "
                  f"{k['pv_self_consumption_ratio']:.1%} | {k['green_share_ratio']:.1%} | {k['grid_import_kwh']:,.0f} | "
                  f"{k['co2_kg']:,.0f} | {k['peak_import_kw']:,.0f} | {k['solve_time_s']:.2f} | {k['mip_gap']:.1e} |")


if __name__ == "__main__":
    main()
