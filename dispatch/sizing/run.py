"""``microgrid size``: size a case's new assets, value them, and check the sizes by simulation.

:func:`size_case` clusters the year (:mod:`dispatch.sizing.periods`),
solves the sizing model (:mod:`dispatch.sizing.model`) and the same model
with every new size 0 (the park without new assets, the baseline of the
savings and the NPV), builds the sized park (:func:`sized_park`) and values
it (:func:`sizing_economics`); :func:`verify` runs a rolling-horizon MPC
study of the sized park (:func:`dispatch.studies.study.run_study`) over some
days and sets the sizing model's estimate for the same days beside it.

Economics (every figure per year is of the year the typical days stand for):

* ``annualised_capex_cny``: Σ size × annualised capex per unit
  (:mod:`dispatch.sizing.costs`) + the battery cells;
* ``fixed_om_cny``: Σ size × fixed O&M per kW and year;
* ``operation_cny``: energy cost − export revenue + demand charge (+ the new
  assets' per-kWh costs) of the sized park's operation on the typical days;
* ``annual_cost_cny`` = their sum (the sizing objective, slack aside);
  ``life_cycle_cost_cny`` = annual cost × annuity(``discount_rate_frac``,
  ``analysis_years``) [CNY], the present value of all of them;
* ``npv_model_cny`` = the baseline's life-cycle cost − the sized park's
  (same model, same annuity);
* ``npv_cny``, ``irr``, paybacks: :func:`dispatch.studies.investment.investment_cash_flow`
  of the sized park's new assets with the model's savings (baseline's
  operating cost − the sized park's) and energies, through
  :mod:`dispatch.finance` (cells by cycles rounded to whole years,
  degradation counted), the definition studies use; ``cash_flows.csv``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dispatch import finance
from dispatch.sizing.model import SIZE_NAMES, SIZE_TECHNOLOGY, SizingSolution, SizingSpec, sizing_spec, solve_sizing
from dispatch.sizing.periods import TypicalDays, pv_templates, typical_days, wind_templates, year_profiles
from dispatch.studies.investment import DAYS_PER_YEAR, investment_cash_flow
from microgrid.case import Case
from microgrid.errors import InvalidRequestError
from microgrid.park import Park

logger = logging.getLogger(__name__)

MIN_SIZE = 1.0
"""Sizes below this (kW or kWh) are not bought: the sized park leaves the device out."""
NEW_IDS = {"battery": "new_battery", "heat_pump": "new_heat_pump", "thermal_store": "new_thermal_store"}


def _kept(value: float) -> float:
    return round(value, 1) if value >= MIN_SIZE else 0.0


def sized_park(park: Park, spec: SizingSpec, sizes: dict[str, float]) -> Park:
    """The park without its new assets plus the sized ones, which become its ``economics.new_assets``.

    New PV: the park's PV arrays it is shaped like (:func:`~dispatch.sizing.periods.pv_templates`),
    DC and AC ratings scaled together so that their DC sum is ``pv_kw``;
    wind: the first template group with ``round(wind_kw / rated)`` turbines
    (at least 1); the battery (``new_battery``), heat pump (``new_heat_pump``)
    and thermal store (``new_thermal_store``) copy their templates with the
    sizes (both power ratings = the sized power). Sizes below
    :data:`MIN_SIZE` are left out.
    """
    base = park.without_new_assets()
    groups = {g: dict(d) for g, d in base.device_groups().items()}
    new: list[str] = []
    pv_kw = _kept(sizes["pv_kw"])
    if pv_kw > 0:
        ids = pv_templates(park)
        dc = sum(park.pv_arrays[a].dc_capacity_kw for a in ids)
        for a in ids:
            array = park.pv_arrays[a]
            f = pv_kw / dc
            groups["pv_arrays"][a] = array.model_copy(update={"dc_capacity_kw": array.dc_capacity_kw * f,
                                                              "ac_capacity_kw": array.ac_capacity_kw * f})
            new.append(a)
    wind_kw = _kept(sizes["wind_kw"])
    if wind_kw > 0:
        g = wind_templates(park)[0]
        group = park.wind_turbines[g]
        count = max(1, round(wind_kw / group.turbine_rated_kw))
        groups["wind_turbines"][g] = group.model_copy(update={"number_of_turbines": count})
        new.append(g)
    energy, power = _kept(sizes["battery_kwh"]), _kept(sizes["battery_kw"])
    if energy > 0 and power > 0 and spec.battery is not None:
        groups["batteries"][NEW_IDS["battery"]] = spec.battery.model_copy(
            update={"capacity_kwh": energy, "max_charge_kw": power, "max_discharge_kw": power})
        new.append(NEW_IDS["battery"])
    hp_kw = _kept(sizes["heat_pump_kw"])
    if hp_kw > 0 and spec.heat_pump is not None:
        groups["heat_pumps"][NEW_IDS["heat_pump"]] = spec.heat_pump.model_copy(update={"max_elec_kw": hp_kw})
        new.append(NEW_IDS["heat_pump"])
    energy, power = _kept(sizes["thermal_store_kwh"]), _kept(sizes["thermal_store_kw"])
    if energy > 0 and power > 0 and spec.thermal_store is not None:
        groups["thermal_stores"][NEW_IDS["thermal_store"]] = spec.thermal_store.model_copy(
            update={"capacity_kwh": energy, "max_charge_kw": power, "max_discharge_kw": power})
        new.append(NEW_IDS["thermal_store"])
    economics = park.economics.model_copy(update={"new_assets": new})
    # model_copy, not a new validation: the devices are validated, and re-validating a dump would count the
    # defaults of a standard-type transformer as its own data
    return base.model_copy(update={**groups, "economics": economics})


def asset_energies(park: Park, solution: SizingSolution) -> dict[str, float]:
    """Energy of every new device of the sized ``park`` in the model's year [kWh/a] (PV split by DC rating)."""
    f = solution.figures
    energies: dict[str, float] = {}
    pv = [a for a in park.new_assets["pv_arrays"]]
    dc = sum(park.pv_arrays[a].dc_capacity_kw for a in pv)
    for a in pv:
        energies[a] = f["pv_new_used_kwh"] * park.pv_arrays[a].dc_capacity_kw / dc
    for g in park.new_assets["wind_turbines"]:
        energies[g] = f["wind_new_used_kwh"]
    energies[NEW_IDS["battery"]] = f["battery_new_discharge_kwh"]
    energies[NEW_IDS["heat_pump"]] = f["heat_pump_new_heat_kwh"]
    energies[NEW_IDS["thermal_store"]] = f["thermal_store_new_discharge_kwh"]
    return energies


def sizing_economics(spec: SizingSpec, solution: SizingSolution, baseline: SizingSolution,
                     park: Park) -> tuple[dict, pd.DataFrame]:
    """The economics of the module docstring, and the yearly cash flow of the new assets."""
    economics = spec.park.economics
    c = spec.costs
    sizes = solution.sizes
    capex = sum(sizes[s] * (c.capex_cny_per_kwh_year.get(SIZE_TECHNOLOGY[s], 0.0) if s.endswith("_kwh")
                            else c.capex_cny_per_kw_year[SIZE_TECHNOLOGY[s]]) for s in SIZE_NAMES)
    cells = solution.assets_cny - capex - sum(sizes[s] * c.fixed_om_cny_per_kw_year[SIZE_TECHNOLOGY[s]]
                                              for s in SIZE_NAMES if not s.endswith("_kwh"))
    om = sum(sizes[s] * c.fixed_om_cny_per_kw_year[SIZE_TECHNOLOGY[s]] for s in SIZE_NAMES if not s.endswith("_kwh"))
    annuity = finance.annuity_factor(economics.discount_rate_frac, economics.analysis_years)
    annual = solution.assets_cny + solution.operation_cny
    base_annual = baseline.assets_cny + baseline.operation_cny
    savings = baseline.grid_cost_cny - solution.grid_cost_cny
    # the model's figures are already annual: a "study" of 365 days, not rescaled
    flows, kpis = investment_cash_flow(park, asset_energies(park, solution), DAYS_PER_YEAR, savings)
    return {
        "investment_baseline": "the park without its new assets, operated by the same model on the same typical "
                               "days",
        "annualised_capex_cny": capex + cells,
        "battery_cells_cny": cells,
        "fixed_om_cny": om,
        "operation_cny": solution.operation_cny,
        "demand_charge_cny": solution.demand_charge_cny,
        "annual_cost_cny": annual,
        "life_cycle_cost_cny": annual * annuity,
        "baseline_operation_cny": baseline.operation_cny,
        "baseline_life_cycle_cost_cny": base_annual * annuity,
        "npv_model_cny": (base_annual - annual) * annuity,
        "annual_savings_cny": savings,
        "npv_cny": kpis["npv_cny"],
        "irr": kpis["irr"],
        "payback_years": kpis["payback_years"],
        "discounted_payback_years": kpis["discounted_payback_years"],
        "capex_cny": kpis["capex_cny"],
        "lcoe_pv_cny_per_kwh": kpis["lcoe_pv_cny_per_kwh"],
        "lcos_cny_per_kwh": kpis["lcos_cny_per_kwh"],
        "discount_rate_frac": economics.discount_rate_frac,
        "analysis_years": economics.analysis_years,
    }, flows


@dataclass
class SizingRun:
    """What :func:`size_case` computed."""

    spec: SizingSpec
    days: TypicalDays
    solution: SizingSolution
    baseline: SizingSolution
    park: Park
    economics: dict
    cash_flows: pd.DataFrame
    cluster_s: float
    verification: dict | None = None
    paths: dict[str, Path] = field(default_factory=dict)

    def sizes_table(self) -> pd.DataFrame:
        """One row per size: its bounds and the chosen value."""
        rows = []
        for name in SIZE_NAMES:
            low, high = self.spec.bounds[name]
            tech = SIZE_TECHNOLOGY[name]
            rows.append({"size": name, "technology": tech, "sized": getattr(self.spec.sizing, tech) is not None,
                         "min": low, "max": high, "value": self.solution.sizes[name],
                         "at_bound": bool(getattr(self.spec.sizing, tech) is not None and high > low and (
                             math.isclose(self.solution.sizes[name], high, rel_tol=1e-6, abs_tol=1e-3)
                             or math.isclose(self.solution.sizes[name], low, rel_tol=1e-6, abs_tol=1e-3)))})
        return pd.DataFrame(rows)


def size_case(case: Case, k: int | None = None, time_limit_s: float = 600.0) -> SizingRun:
    """Cluster the case's year into ``k`` typical days (default: ``sizing.typical_days``) and size it."""
    spec = sizing_spec(case.park)
    k = k if k is not None else spec.sizing.typical_days
    started = time.perf_counter()
    year = year_profiles(case, wind_sized=spec.sizing.wind is not None)
    days = typical_days(year, k)
    cluster_s = time.perf_counter() - started
    from dispatch.sizing.model import build_sizing_model

    model = build_sizing_model(spec, days)
    solution = solve_sizing(spec, days, time_limit_s=time_limit_s, model=model)
    baseline = solve_sizing(spec, days, fixed={n: 0.0 for n in SIZE_NAMES}, time_limit_s=time_limit_s, model=model)
    park = sized_park(case.park, spec, solution.sizes)
    economics, flows = sizing_economics(spec, solution, baseline, park)
    return SizingRun(spec, days, solution, baseline, park, economics, flows, cluster_s)


def estimate_days(run: SizingRun, dates: list[dt.date]) -> dict[str, float]:
    """The sizing model's figures for ``dates``: each day as its typical day, demand charge pro rata."""
    position = {d: i for i, d in enumerate(run.days.dates)}
    missing = [d for d in dates if d not in position]
    if missing:
        raise InvalidRequestError(f"--verify-start: {missing[0].isoformat()} is outside the case's year "
                                  f"({run.days.dates[0].isoformat()} … {run.days.dates[-1].isoformat()})")
    clusters = [int(run.days.assignment[position[d]]) for d in dates]
    per_day = run.solution.per_day
    rate = run.spec.park.tariff.demand_charge_cny_per_kw_month
    demand = sum(rate / calendar.monthrange(d.year, d.month)[1]
                 * run.solution.month_peak_kw[f"{d.year:04d}-{d.month:02d}"] for d in dates)
    grid = float(sum(per_day["grid_cost_cny"][c] for c in clusters)) + demand
    used = float(sum(per_day["renewable_used_kwh"][c] for c in clusters))
    exported = float(sum(per_day["export_kwh"][c] for c in clusters))
    available = float(sum(per_day["renewable_kwh"][c] for c in clusters))
    return {"operating_cost_cny": grid, "grid_import_kwh": float(sum(per_day["import_kwh"][c] for c in clusters)),
            "self_consumption_ratio": (used - exported) / available if available > 0 else float("nan")}


def verify(run: SizingRun, case: Case, start: dt.date, n_days: int, out_dir: Path, seed: int = 0) -> dict:
    """Rolling-horizon MPC study of the sized park over ``n_days`` from ``start``, next to the model's estimate.

    Operating cost = ``total_cost_cny − battery_wear_cost_cny`` (as the
    investment KPIs count it); self-consumption is the KPI of
    :mod:`dispatch.kpis` (PV + wind with wind turbines, else PV).
    """
    from dispatch.studies.investment import operating_cost_cny
    from dispatch.studies.study import StudySettings, run_study

    if n_days < 1:
        raise InvalidRequestError(f"--verify-days: at least 1 day, got {n_days}")
    end = start + dt.timedelta(days=n_days - 1)
    dates = [start + dt.timedelta(days=i) for i in range(n_days)]
    estimate = estimate_days(run, dates)
    sized = Case(park=run.park, folder=case.folder, _cache=case._cache)
    settings = StudySettings(start=start, end=end, strategies=("mpc",), baseline="mpc", seed=seed)
    result = run_study(sized, settings, out_dir, report=False)
    row = result.kpis.set_index("strategy").loc["mpc"].to_dict()
    ratio = "renewable_self_consumption_ratio" if run.park.wind_turbines else "pv_self_consumption_ratio"
    simulated = {"operating_cost_cny": operating_cost_cny(row), "grid_import_kwh": float(row["grid_import_kwh"]),
                 "self_consumption_ratio": float(row.get(ratio, float("nan")))}
    return {
        "start": start.isoformat(), "end": end.isoformat(), "days": n_days, "strategy": "mpc", "seed": seed,
        "self_consumption_kpi": ratio,
        "rows": [{"figure": f, "sizing_model": estimate[f], "simulated": simulated[f],
                  "difference_frac": (simulated[f] - estimate[f]) / estimate[f] if estimate[f] else float("nan")}
                 for f in ("operating_cost_cny", "grid_import_kwh", "self_consumption_ratio")],
        "simulated_npv_cny": float(row.get("npv_cny", float("nan"))),
        "simulated_annualised_from_days": float(row.get("annualised_from_days", n_days)),
    }


def clusters_table(days: TypicalDays) -> pd.DataFrame:
    """One row per typical day: its weight and the days it stands for by month."""
    rows = []
    for c in range(days.k):
        members = [d for d, a in zip(days.dates, days.assignment) if a == c]
        rows.append({"typical_day": c, "weight_days": float(days.weights[c]),
                     "months": ",".join(sorted({f"{d.month:02d}" for d in members})),
                     "first_day": members[0].isoformat() if members else ""})
    return pd.DataFrame(rows)


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_outputs(run: SizingRun, out_dir: Path) -> dict[str, Path]:
    """``sizes.csv``, ``sizing.json`` (sizes, economics, model status, typical days, verification), cash flows."""
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"sizes_csv": out_dir / "sizes.csv", "sizing_json": out_dir / "sizing.json",
             "cash_flows": out_dir / "cash_flows.csv", "typical_days": out_dir / "typical_days.csv"}
    run.sizes_table().to_csv(paths["sizes_csv"], index=False, float_format="%.3f")
    run.cash_flows.to_csv(paths["cash_flows"], float_format="%.2f")
    clusters_table(run.days).to_csv(paths["typical_days"], index=False)
    s = run.solution
    document = {
        "sizes": {n: _plain(v) for n, v in s.sizes.items()},
        "new_assets": run.park.economics.new_assets,
        "templates": run.spec.templates,
        "economics": {k: _plain(v) for k, v in run.economics.items()},
        "operation": {k: _plain(v) for k, v in s.figures.items()},
        "model": {"status": s.status, "mip_gap": s.mip_gap, "solve_time_s": s.solve_time_s,
                  "build_time_s": s.build_time_s, "slack_cny": s.slack_cny, "cluster_time_s": run.cluster_s},
        "typical_days": {"k": run.days.k, "days": run.days.days, "weights": run.days.weights.tolist(),
                         "method": "tsam hierarchical, medoids, peak-load day kept",
                         "rmse": run.days.rmse, "month_clusters": run.days.month_clusters()},
        "verification": run.verification,
    }
    paths["sizing_json"].write_text(json.dumps(document, indent=2, default=_plain), encoding="utf-8")
    run.paths.update(paths)
    return paths
