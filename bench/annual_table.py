"""The four strategies over a study's period as a Markdown table for docs/benchmarks.md.

Reads ``kpis.json`` of a finished ``microgrid study`` (each strategy over the
whole period) and prints, per strategy: total cost, savings
against ``no-control``, demand charge, PV self-consumption, green share, CO2,
peak import and the windows that fell back; then the share of perfect
foresight's savings that ``mpc`` captures.

Run::

    microgrid study cases/zhengzhou_park --start 2026-01-01 --end 2026-12-31 \\
        --strategy no-control --strategy rule-based --strategy mpc --strategy perfect-foresight --out out/year
    .venv/bin/python bench/annual_table.py out/year
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

ORDER = ("no-control", "rule-based", "mpc", "perfect-foresight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="output folder of microgrid study")
    args = parser.parse_args()
    study = json.loads((args.study / "kpis.json").read_text(encoding="utf-8"))
    table = pd.DataFrame(study["strategies"]).T
    strategies = [s for s in ORDER if s in table.index]
    base = table.loc["no-control", "total_cost_cny"] if "no-control" in table.index else None
    print(f"{study['start']} – {study['end']}, {study['days']} days, horizon {study['horizon_h']:g} h, "
          f"re-plan every {study['replan_h']:g} h, seed {study['seed']}\n")
    print("| strategy | total cost [CNY] | savings vs no-control [CNY] | demand charge [CNY] | PV self-consumption "
          "| green share | CO2 [t] | peak import [kW] | fallback windows |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in strategies:
        row = table.loc[s]
        savings = "" if base is None else f"{base - row['total_cost_cny']:,.0f}"
        print(f"| {s} | {row['total_cost_cny']:,.0f} | {savings} | {row['demand_charge_cny']:,.0f} "
              f"| {row['pv_self_consumption_ratio']:.1%} | {row['green_share_ratio']:.1%} | {row['co2_kg'] / 1000:,.0f} "
              f"| {row['peak_import_kw']:,.0f} | {int(row['fallback_windows'])} |")
    if base is not None and {"mpc", "perfect-foresight"} <= set(strategies):
        pf = base - table.loc["perfect-foresight", "total_cost_cny"]
        mpc = base - table.loc["mpc", "total_cost_cny"]
        print(f"\nmpc captures {mpc / pf:.1%} of perfect foresight's savings.")


if __name__ == "__main__":
    main()
