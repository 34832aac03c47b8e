"""Schedules in the output contract, and the KPIs computed from them.

KPIs are computed from the schedule table alone (plus the tariff's scalar
numbers), so that anyone can recompute them from ``schedule.csv``.

Definitions (energies are Σ power × Δt):

* ``energy_cost_cny`` = Σ import × Δt × import price;
  ``export_revenue_cny`` = Σ export × Δt × export price;
* ``demand_charge_cny`` = w × max(0, peak import − month-to-date peak), where
  w is the tariff's weight for the day (see ``Tariff.demand_charge_weight``);
* ``battery_wear_cost_cny`` = Σ_b c_b × (charge + discharge) × Δt;
* ``total_cost_cny`` = energy cost − export revenue + demand charge + battery wear;
* ``pv_generation_kwh``: PV available (before curtailment);
  ``pv_self_consumption_ratio`` = Σ max(0, PV used − export) × Δt / PV generation
  (PV neither exported nor curtailed, battery charging included);
* ``self_sufficiency_ratio`` = 1 − grid import / consumption, consumption
  being ``load_kw`` (everything but battery charging);
* ``co2_kg`` = grid import × the tariff's CO2 factor (exports not credited).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dispatch.inputs import DispatchInputs

TOTAL_COLUMNS = (
    "pv_available_kw",
    "pv_used_kw",
    "load_kw",
    "battery_charge_kw",
    "battery_discharge_kw",
    "battery_soc_kwh",
    "grid_import_kw",
    "grid_export_kw",
    "price_import_cny_per_kwh",
    "price_export_cny_per_kwh",
)


def make_schedule(
    inputs: DispatchInputs,
    pv_used_kw: pd.DataFrame,
    charge_kw: pd.DataFrame,
    discharge_kw: pd.DataFrame,
    soc_kwh: pd.DataFrame,
    grid_import_kw: np.ndarray,
    grid_export_kw: np.ndarray,
    unserved_kw: np.ndarray,
) -> pd.DataFrame:
    """Assemble the contract table from per-device flows (all on ``inputs.index``)."""
    index = inputs.index
    load_demand = inputs.total_load_kw.to_numpy()
    unserved = np.asarray(unserved_kw, dtype=float)
    columns: dict[str, np.ndarray] = {
        "pv_available_kw": inputs.total_pv_available_kw.to_numpy(),
        "pv_used_kw": pv_used_kw.sum(axis=1).to_numpy(),
        "load_kw": load_demand - unserved,
        "battery_charge_kw": charge_kw.sum(axis=1).to_numpy(),
        "battery_discharge_kw": discharge_kw.sum(axis=1).to_numpy(),
        "battery_soc_kwh": soc_kwh.sum(axis=1).to_numpy(),
        "grid_import_kw": np.asarray(grid_import_kw, dtype=float),
        "grid_export_kw": np.asarray(grid_export_kw, dtype=float),
        "price_import_cny_per_kwh": inputs.price_import_cny_per_kwh.to_numpy(),
        "price_export_cny_per_kwh": inputs.price_export_cny_per_kwh.to_numpy(),
    }
    columns["curtailment_kw"] = columns["pv_available_kw"] - columns["pv_used_kw"]
    columns["unserved_load_kw"] = unserved
    schedule = pd.DataFrame(columns, index=index)
    schedule["tou_period"] = inputs.tou_period.to_numpy()
    for array_id in inputs.pv_available_kw.columns:
        schedule[f"{array_id}.available_kw"] = inputs.pv_available_kw[array_id].to_numpy()
        schedule[f"{array_id}.used_kw"] = pv_used_kw[array_id].to_numpy()
    for battery_id in inputs.park.batteries:
        schedule[f"{battery_id}.charge_kw"] = charge_kw[battery_id].to_numpy()
        schedule[f"{battery_id}.discharge_kw"] = discharge_kw[battery_id].to_numpy()
        schedule[f"{battery_id}.soc_kwh"] = soc_kwh[battery_id].to_numpy()
    for load_id in inputs.load_kw.columns:
        schedule[f"{load_id}.load_kw"] = inputs.load_kw[load_id].to_numpy()
    schedule.index.name = "timestamp"
    return schedule


def compute_kpis(schedule: pd.DataFrame, inputs: DispatchInputs) -> dict:
    """KPIs of a schedule (see the module docstring for every definition)."""
    dt_h = inputs.dt_h
    tariff = inputs.park.tariff
    imp = schedule["grid_import_kw"].to_numpy()
    exp = schedule["grid_export_kw"].to_numpy()
    energy_cost = float((imp * schedule["price_import_cny_per_kwh"].to_numpy()).sum() * dt_h)
    export_revenue = float((exp * schedule["price_export_cny_per_kwh"].to_numpy()).sum() * dt_h)
    peak = float(imp.max()) if len(imp) else 0.0
    demand_charge = tariff.demand_charge_cny(peak, inputs.state.month_to_date_peak_kw, inputs.day)
    wear = 0.0
    for battery_id, battery in inputs.park.batteries.items():
        throughput = (schedule[f"{battery_id}.charge_kw"] + schedule[f"{battery_id}.discharge_kw"]).sum() * dt_h
        wear += battery.throughput_cost_cny_per_kwh * float(throughput)
    pv_generation = float(schedule["pv_available_kw"].sum() * dt_h)
    pv_used = float(schedule["pv_used_kw"].sum() * dt_h)
    pv_on_site = float(np.clip(schedule["pv_used_kw"].to_numpy() - exp, 0, None).sum() * dt_h)
    import_kwh = float(imp.sum() * dt_h)
    consumption = float(schedule["load_kw"].sum() * dt_h)
    return {
        "total_cost_cny": energy_cost - export_revenue + demand_charge + wear,
        "energy_cost_cny": energy_cost,
        "export_revenue_cny": export_revenue,
        "demand_charge_cny": demand_charge,
        "battery_wear_cost_cny": wear,
        "pv_generation_kwh": pv_generation,
        "pv_used_kwh": pv_used,
        "pv_self_consumption_ratio": pv_on_site / pv_generation if pv_generation > 0 else 0.0,
        "self_sufficiency_ratio": max(0.0, 1.0 - import_kwh / consumption) if consumption > 0 else 0.0,
        "consumption_kwh": consumption,
        "grid_import_kwh": import_kwh,
        "grid_export_kwh": float(exp.sum() * dt_h),
        "curtailment_kwh": pv_generation - pv_used,
        "unserved_load_kwh": float(schedule["unserved_load_kw"].sum() * dt_h),
        "peak_import_kw": peak,
        "month_to_date_peak_kw": inputs.state.month_to_date_peak_kw,
        "co2_kg": import_kwh * tariff.co2_kg_per_kwh,
    }
