"""The four day-ahead strategies on the reference park, on a sunny and a cloudy day of each tariff season.

Run::

    .venv/bin/python bench/strategies.py

Prints Markdown tables (paste them into docs/benchmarks.md). The days are the
sunniest and the cloudiest of January (critical peak 17-18), April (midday
valley), June (no critical peak), July (critical peak 20-23), October (midday
valley) and December in the case's weather, plus two public holidays (Labour
Day 2026-05-03, National Day 2026-10-03) on which the idle workshops leave PV
surplus, the only days the rule-based self-consumption mode has something to
charge from (``tou-arbitrage``, the TOU rule, charges in the valleys every day).
Each day is planned alone from local midnight as ``microgrid schedule`` plans
it: no month-to-date peak known, so each day's demand charge is its share of
the month (``demand_charge_basis: pro_rata``), and the optimal plan values the
energy left at midnight (``end_of_horizon: value``).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from dispatch.day_ahead import plan_day_ahead
from dispatch.strategies import STRATEGIES
from microgrid.case import load_case

CASE_DIR = Path(__file__).resolve().parents[1] / "cases" / "zhengzhou_park"
MONTHS = (1, 4, 6, 7, 10, 12)
HOLIDAYS = (dt.date(2026, 5, 3), dt.date(2026, 10, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=CASE_DIR)
    args = parser.parse_args()
    case = load_case(args.case)
    rows = []
    for month in MONTHS:
        for label, day in zip(("sunny", "cloudy"), case.sunniest_and_cloudiest_day(month)):
            results = {s: plan_day_ahead(case, day, s) for s in STRATEGIES}
            rows.append((day, label, results))
    for day in HOLIDAYS:
        rows.append((day, "holiday", {s: plan_day_ahead(case, day, s) for s in STRATEGIES}))
    print("| date | sky | strategy | total cost [CNY] | energy cost [CNY] | demand charge [CNY] | export revenue [CNY] "
          "| PV generation [kWh] | PV self-consumption | self-sufficiency | peak import [kW] | CO2 [kg] | status |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for day, label, results in rows:
        for strategy, r in results.items():
            k = r.kpis
            print(f"| {day} | {label} | {strategy} | {k['total_cost_cny']:,.0f} | {k['energy_cost_cny']:,.0f} | "
                  f"{k['demand_charge_cny']:,.0f} | {k['export_revenue_cny']:,.0f} | {k['pv_generation_kwh']:,.0f} | "
                  f"{k['pv_self_consumption_ratio']:.1%} | {k['self_sufficiency_ratio']:.1%} | "
                  f"{k['peak_import_kw']:,.0f} | {k['co2_kg']:,.0f} | {k['solver_status']} |")
    print("\nSavings of `optimal`:\n")
    print("| date | sky | vs tou-arbitrage [CNY] | vs rule-based [CNY] | vs no-control [CNY] | optimal cheapest |")
    print("|---|---|---:|---:|---:|---|")
    for day, label, results in rows:
        cost = {s: r.kpis["total_cost_cny"] for s, r in results.items()}
        cheapest = cost["optimal"] < min(cost["tou-arbitrage"], cost["rule-based"], cost["no-control"])
        print(f"| {day} | {label} | {cost['tou-arbitrage'] - cost['optimal']:,.0f} | "
              f"{cost['rule-based'] - cost['optimal']:,.0f} | "
              f"{cost['no-control'] - cost['optimal']:,.0f} | {'yes' if cheapest else 'NO'} |")


if __name__ == "__main__":
    main()
