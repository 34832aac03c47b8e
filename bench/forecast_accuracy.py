"""Benchmark: accuracy of the PV and load forecasts on real data shipped with PyPI packages.

Runs the three validations of :mod:`forecasting.validation` and prints their
tables in Markdown (paste them into docs/forecasting.md):

* SERF East (pvanalytics package data): PV forecast from NSRDB weather against
  measured AC power, day-ahead and clear-sky-index persistence;
* Greensboro TMY3 (pvlib package data): PV from cloud cover alone against PV
  from the file's irradiance;
* the reference park's loads.csv: seasonal naive against the regression model
  on held-out windows with Chinese public holidays and make-up working days.

Run::

    .venv/bin/python bench/forecast_accuracy.py [--only serf,tmy3,load]

Needs pvanalytics for the SERF East part (`.venv/bin/pip install --no-deps pvanalytics`).
"""

from __future__ import annotations

import argparse
import logging
import time

from forecasting import validation
from forecasting.accuracy import to_markdown

PARTS = ("serf", "tmy3", "load")


def serf() -> None:
    result = validation.validate_serf_east()
    system = result.system
    print("## SERF East: PV forecast from NSRDB weather vs measured AC power\n")
    print(f"Estimated DC capacity {system['dc_capacity_kw']:.2f} kWp (AC {system['ac_capacity_kw']:.2f} kW), "
          f"tilt {system['tilt_deg']:g}°, azimuth {system['azimuth_deg']:g}°, from "
          f"{system['clear_fit_steps']} clear-sky steps in July 2016. Scores: daylight steps, "
          "1 Aug – 12 Oct 2016, normalised by the AC capacity; skill against day-ahead persistence.\n")
    print(to_markdown(result.accuracy))
    print("\nDecomposition models (GHI → DNI, DHI), overall:\n")
    print(to_markdown(result.decompositions.drop(columns="skill_pct")))
    print()


def tmy3() -> None:
    result = validation.validate_tmy3_cloud_cover()
    print("## Greensboro TMY3: PV from cloud cover alone vs PV from the file's irradiance\n")
    print("Daylight steps of the typical year, normalised by the AC capacity (830 kW); "
          "skill against day-ahead persistence of the irradiance-based PV.\n")
    print(to_markdown(result.accuracy.xs("overall", level="period")))
    print("\nAnnual energy:\n")
    print(to_markdown(result.energy))
    print("\nBy month, total cloud cover with Kasten-Czeplak:\n")
    print(to_markdown(result.accuracy.loc[["total cloud, Kasten-Czeplak"]]))
    print()


def load() -> None:
    result = validation.validate_load_reference_case()
    print("## Reference park load (standard profiles): day-ahead forecasts on held-out windows\n")
    print("Park total of loads.csv; normalised by the mean load of each row; "
          "skill against persistence (D-1).\n")
    for name, table in result.accuracy.items():
        print(f"### {name}\n")
        print(to_markdown(table))
        print("\nBy day type:\n")
        print(to_markdown(result.by_day_type[name].drop(index="overall", level="period")))
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts: serf,tmy3,load")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    started = time.perf_counter()
    for part in parts:
        {"serf": serf, "tmy3": tmy3, "load": load}[part]()
    print(f"_Computed in {time.perf_counter() - started:.0f} s._")


if __name__ == "__main__":
    main()
