"""Curtailment under anti-backflow: the rolling strategies on the high-renewable park, one week per season.

Run::

    .venv/bin/python bench/high_re.py                 # one week per season: about 4.5 min of CPU
    .venv/bin/python bench/high_re.py --period year   # 2026-01-01 to 2026-12-31: about 13 times as long

Every strategy of :data:`dispatch.rolling.ROLLING_STRATEGIES` operates
``cases/zhengzhou_park_high_re`` with hourly re-planning over 24 h at 15
minutes, as ``microgrid study`` does: the three rules (``no-control``,
``rule-based``, ``tou-arbitrage``) act on the actual data, ``mpc`` plans on
forecasts from the default error model (seed 0), ``perfect-foresight`` on the
actual data (the bound). The weeks are Monday to Sunday in the middle of the
first month of each season, none with a public holiday: 12–18 January, 13–19
April, 13–19 July and 12–18 October 2026. Each week starts from the devices'
initial state and pays its demand charge pro rata (a week's share of its
month's bill).

Prints Markdown for docs/benchmarks.md: per period and strategy the PV and
wind generated, their self-consumption, curtailment (kWh and share of the
generation), total cost and CO2, all KPIs of :mod:`dispatch.kpis` (the
four-week total is :func:`dispatch.kpis.schedule_kpis` of the four weeks'
schedules together); then by how much ``mpc`` curtails less than the rule
that curtails least, and what the rules and ``mpc`` do with the surplus.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from pathlib import Path

import pandas as pd

from dispatch.kpis import schedule_kpis
from dispatch.rolling import ROLLING_STRATEGIES, ModelCache, RollingConfig, run_rolling_horizon
from microgrid.case import Case, load_case
from microgrid.timeseries import step_hours

CASE_DIR = Path(__file__).resolve().parents[1] / "cases" / "zhengzhou_park_high_re"
WEEKS = {"winter": dt.date(2026, 1, 12), "spring": dt.date(2026, 4, 13), "summer": dt.date(2026, 7, 13),
         "autumn": dt.date(2026, 10, 12)}
RULES = ("no-control", "rule-based", "tou-arbitrage")
OPTIMIZER = "mpc"


def operate(case: Case, strategy: str, first: dt.date, last: dt.date, cache: ModelCache) -> pd.DataFrame:
    """The realized 15-min schedule of ``strategy`` from ``first`` to ``last`` (local days, both included)."""
    tz = case.park.site.timezone
    start = pd.Timestamp(first).tz_localize(tz)
    end = pd.Timestamp(last + dt.timedelta(days=1)).tz_localize(tz)
    return run_rolling_horizon(case, start, end, RollingConfig(strategy=strategy), cache=cache).schedule


def kpis_of(case: Case, schedule: pd.DataFrame) -> dict:
    """:func:`dispatch.kpis.schedule_kpis` of a schedule (several weeks together: each month billed pro rata)."""
    return schedule_kpis(schedule, case.park, step_hours(schedule.index[:2], "schedule"), None)


def surplus_steps(uncontrolled: pd.DataFrame) -> pd.Series:
    """The steps where PV + wind exceed the park's uncontrolled consumption (``no-control``'s ``load_kw``)."""
    return uncontrolled["pv_available_kw"] + uncontrolled["wind_available_kw"] > uncontrolled["load_kw"]


def surplus_use(schedule: pd.DataFrame, surplus: pd.Series) -> dict:
    """Battery charging and electric-boiler consumption at the ``surplus`` steps [kWh]."""
    dt_h = step_hours(schedule.index[:2], "schedule")
    boilers = [c for c in schedule.columns if c.startswith("eb") and c.endswith(".elec_kw")]
    return {"surplus_steps": int(surplus.sum()),
            "battery_kwh": float(schedule.loc[surplus, "battery_charge_kw"].sum() * dt_h),
            "boiler_kwh": float(schedule.loc[surplus, boilers].sum(axis=1).sum() * dt_h)}


def mwh(kwh: float) -> str:
    """kWh as MWh to 0.1 (a solver's -1e-9 shown as 0.0, not -0.0)."""
    return f"{round(kwh / 1000, 1) + 0.0:,.1f}"


def row(label: str, strategy: str, k: dict) -> str:
    return (f"| {label} | {strategy} | {mwh(k['renewable_generation_kwh'])} | "
            f"{k['renewable_self_consumption_ratio']:.1%} | {mwh(k['renewable_curtailment_kwh'])} | "
            f"{round(k['renewable_curtailment_ratio'], 3) + 0.0:.1%} | {k['total_cost_cny']:,.0f} | "
            f"{k['co2_kg'] / 1000:,.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=CASE_DIR)
    parser.add_argument("--period", choices=("weeks", "year"), default="weeks")
    args = parser.parse_args()
    case = load_case(args.case)
    if args.period == "weeks":
        periods = {season: (monday, monday + dt.timedelta(days=6)) for season, monday in WEEKS.items()}
    else:
        periods = {"2026": (dt.date(2026, 1, 1), dt.date(2026, 12, 31))}
    schedules: dict[str, dict[str, pd.DataFrame]] = {s: {} for s in ROLLING_STRATEGIES}
    wall: dict[str, float] = {}
    for strategy in ROLLING_STRATEGIES:
        cache = ModelCache(256)
        started = time.perf_counter()
        for label, (first, last) in periods.items():
            schedules[strategy][label] = operate(case, strategy, first, last, cache)
        wall[strategy] = time.perf_counter() - started
    kpis = {s: {label: kpis_of(case, frame) for label, frame in by_period.items()}
            for s, by_period in schedules.items()}
    total = "four weeks" if len(periods) > 1 else None
    if total:
        for s, by_period in schedules.items():
            kpis[s][total] = kpis_of(case, pd.concat(by_period.values()))
    labels = list(periods) + ([total] if total else [])
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"case {case.name} ({args.case.name}), export rule {case.park.grid.export_rule}; "
          + ", ".join(f"{label} {first}–{last}" for label, (first, last) in periods.items())
          + "; hourly re-planning over 24 h, seed 0\n")
    print("| period | strategy | PV + wind generated [MWh] | PV + wind self-consumption | curtailed [MWh] "
          "| curtailed [% of generation] | total cost [CNY] | CO2 [t] |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label in labels:
        for s in ROLLING_STRATEGIES:
            print(row(label, s, kpis[s][label]))
    print(f"\nCurtailment of `{OPTIMIZER}` against the rule that curtails least (baseline: that rule):\n")
    print(f"| period | best rule | its curtailment [MWh] | {OPTIMIZER} [MWh] | less curtailed [MWh] | less curtailed [%] "
          f"| cost saved vs that rule [CNY] | CO2 saved vs that rule [t] |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label in labels:
        best = min(RULES, key=lambda s: kpis[s][label]["renewable_curtailment_kwh"])
        rule, opt = kpis[best][label], kpis[OPTIMIZER][label]
        less = rule["renewable_curtailment_kwh"] - opt["renewable_curtailment_kwh"]
        share = less / rule["renewable_curtailment_kwh"] if rule["renewable_curtailment_kwh"] > 0 else 0.0
        print(f"| {label} | {best} | {mwh(rule['renewable_curtailment_kwh'])} | "
              f"{mwh(opt['renewable_curtailment_kwh'])} | {mwh(less)} | {share:.0%} | "
              f"{rule['total_cost_cny'] - opt['total_cost_cny']:,.0f} | {(rule['co2_kg'] - opt['co2_kg']) / 1000:,.1f} |")
    surplus = surplus_steps(pd.concat(schedules["no-control"].values()))
    print("\nWhere the surplus went (at the steps where PV + wind exceed the consumption of `no-control`, "
          "all periods):\n")
    print("| strategy | surplus steps | battery charging [MWh] | electric boiler [MWh] | wall time [s] |")
    print("|---|---:|---:|---:|---:|")
    for s in ROLLING_STRATEGIES:
        use = surplus_use(pd.concat(schedules[s].values()), surplus)
        print(f"| {s} | {use['surplus_steps']:,} | {mwh(use['battery_kwh'])} | {mwh(use['boiler_kwh'])} "
              f"| {wall[s]:,.0f} |")


if __name__ == "__main__":
    main()
