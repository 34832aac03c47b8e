"""Schedules in the output contract, and the KPIs computed from them.

KPIs are computed from the schedule table alone (plus the tariff's scalar
numbers), so that anyone can recompute them from ``schedule.csv``.

Definitions (energies are Σ power × Δt):

* ``energy_cost_cny`` = Σ import × Δt × import price;
  ``export_revenue_cny`` = Σ export × Δt × export price; ``export_rule`` names
  the rule the exports lived under (``grid.export_rule``: ``surplus_to_grid``,
  export ≤ PV used at every step when ``export_pv_only``; ``full_export``,
  export = PV used; ``anti_backflow``, export = 0), which the schedule shows;
* ``demand_charge_cny``: by the tariff's rule (:class:`microgrid.tariff.DemandCharge`):
  with the month-to-date peak known, ``rate × max(0, peak import − month-to-date peak)``;
  otherwise pro rata, ``rate × days covered / days of the month × peak import``.
  ``demand_charge_basis`` names the rule (``month_to_date_peak`` or ``pro_rata``),
  ``peak_marginal_cost_cny_per_kw`` the CNY each kW above the month-to-date peak
  costs, and the plan's inputs ``month_to_date_peak_kw`` (``None``: not known)
  and ``demand_charge_cny_per_kw_month`` are reported beside them;
* ``battery_wear_cost_cny`` = Σ_b c_b × (charge + discharge) × Δt, c_b the
  schedule's ``<b>.wear_cny_per_kwh``;
* ``total_cost_cny`` = energy cost − export revenue + demand charge + battery wear;
* ``pv_generation_kwh``: PV available (before curtailment); ``pv_used_kwh``: PV
  not curtailed; ``curtailment_kwh``: PV curtailed (``curtailment_kw``, the
  name PV's since before the park had wind);
* renewable used on site at a step: ``onsite = max(0, PV used + wind used −
  export)`` (neither exported nor curtailed, battery charging included); it is
  shared between PV and wind in proportion to their use at the step (the
  export comes from both alike): ``pv_onsite = onsite × PV used / (PV used +
  wind used)``, and likewise wind (without wind, ``max(0, PV used − export)``).
  ``pv_onsite_kwh`` = Σ pv_onsite × Δt, ``pv_self_consumption_ratio`` =
  pv_onsite_kwh / PV generation;
* wind, for a park with wind turbines (the schedule's ``wind_available_kw``,
  ``wind_used_kw``, ``wind_curtailment_kw``): ``wind_generation_kwh``,
  ``wind_used_kwh``, ``wind_curtailment_kwh``, ``wind_onsite_kwh``,
  ``wind_self_consumption_ratio``, as for PV; and PV + wind:
  ``renewable_generation_kwh``, ``renewable_used_kwh``,
  ``renewable_curtailment_kwh`` (the total curtailment),
  ``renewable_curtailment_ratio`` = renewable_curtailment_kwh /
  renewable_generation_kwh (0 without generation),
  ``renewable_onsite_kwh`` = Σ onsite × Δt, ``renewable_self_consumption_ratio``
  = renewable_onsite_kwh / renewable_generation_kwh;
* ``self_sufficiency_ratio`` = 1 − grid import / consumption, consumption
  being ``load_kw`` (everything but battery charging; in a network-aware plan
  it includes the planned network losses, ``network_losses_kw``);
* ``co2_kg`` = Σ grid import × Δt × the schedule's ``co2_kg_per_kwh`` (the
  grid factor of each step, ``carbon.grid``'s: the published average, or its
  local hour's value under an hourly profile; exports not credited); ``co2_avoided_kg`` = Σ onsite × Δt ×
  ``co2_kg_per_kwh``: the grid CO2 of the import the park's own PV and wind
  used on site replace (exports not credited either);
* ``green_share_ratio`` = renewable used on site / (renewable used on site +
  grid import): the share of the energy the park consumes (and stores) that
  is its own PV and wind;
* ``shed_cost_cny`` = Σ shed × Δt × the load's ``<c>.shed_cny_per_kwh``, part of the total;
* heat: ``heat_served_kwh`` is the heat each heat pump and boiler produced
  (stores are not producers); ``heat_store_charge_kwh``,
  ``heat_store_discharge_kwh`` and ``heat_store_losses_kwh`` (standing loss,
  the schedule's ``<j>.loss_th_kw``) sum over the thermal stores, and
  ``heat_stored_kwh`` = charge − discharge − losses is the change of their
  content. Heat balances: Σ heat served = heat demand − unserved + dumped +
  store losses + heat stored. ``heat_pump_average_cop`` = Σ heat / Σ
  electricity of the heat pumps.

Every KPI can be recomputed from ``schedule.csv`` alone, but for the demand
charge, which also needs ``month_to_date_peak_kw`` and
``demand_charge_cny_per_kw_month`` (reported in the KPIs): the schedule carries
the per-step prices, CO2 factor, wear and shed prices it uses
(``tests/dispatch/test_kpi_checker.py`` does it independently).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatch.inputs import DispatchInputs
from microgrid.park import Park

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


@dataclass
class Flows:
    """Every device flow of a plan, one column per device, on the horizon's index.

    Powers in kW (heat in kW of heat), stored energy at the end of each step in
    kWh. Frames of absent device families are empty (no columns).
    """

    pv_used_kw: pd.DataFrame
    battery_charge_kw: pd.DataFrame
    battery_discharge_kw: pd.DataFrame
    battery_soc_kwh: pd.DataFrame
    grid_import_kw: np.ndarray
    grid_export_kw: np.ndarray
    unserved_kw: np.ndarray
    hp_elec_kw: pd.DataFrame | None = None
    hp_heat_kw: pd.DataFrame | None = None
    boiler_elec_kw: pd.DataFrame | None = None
    boiler_heat_kw: pd.DataFrame | None = None
    ts_charge_kw: pd.DataFrame | None = None
    ts_discharge_kw: pd.DataFrame | None = None
    ts_soc_kwh: pd.DataFrame | None = None
    heat_dump_kw: pd.DataFrame | None = None
    heat_unserved_kw: pd.DataFrame | None = None
    process_kw: pd.DataFrame | None = None
    energy_load_kw: pd.DataFrame | None = None
    shed_kw: pd.DataFrame | None = None
    shiftable_kw: pd.DataFrame | None = None
    network_losses_kw: np.ndarray | None = None
    wind_used_kw: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        index = self.pv_used_kw.index
        for name, value in vars(self).items():
            if value is None and name != "network_losses_kw":
                setattr(self, name, pd.DataFrame(index=index))

    def flexible_kw(self, inputs: DispatchInputs) -> np.ndarray:
        """Electrical consumption of heat devices and flexible loads at every step [kW]."""
        total = np.zeros(len(self.pv_used_kw.index))
        for frame in (self.hp_elec_kw, self.boiler_elec_kw, self.process_kw, self.energy_load_kw, self.shiftable_kw):
            total += frame.sum(axis=1).to_numpy()
        if inputs.park.curtailable_loads:
            total += (inputs.curtailable_base_kw - self.shed_kw).sum(axis=1).to_numpy()
        return total


def make_schedule(inputs: DispatchInputs, flows: Flows) -> pd.DataFrame:
    """Assemble the contract table from per-device flows."""
    index = inputs.index
    unserved = np.asarray(flows.unserved_kw, dtype=float)
    demand = inputs.total_load_kw.to_numpy() + flows.flexible_kw(inputs)
    if flows.network_losses_kw is not None:      # a network-aware plan buys its planned losses at the PCC
        demand = demand + np.asarray(flows.network_losses_kw, dtype=float)
    columns: dict[str, np.ndarray] = {
        "pv_available_kw": inputs.total_pv_available_kw.to_numpy(),
        "pv_used_kw": flows.pv_used_kw.sum(axis=1).to_numpy(),
        "load_kw": demand - unserved,
        "battery_charge_kw": flows.battery_charge_kw.sum(axis=1).to_numpy(),
        "battery_discharge_kw": flows.battery_discharge_kw.sum(axis=1).to_numpy(),
        "battery_soc_kwh": flows.battery_soc_kwh.sum(axis=1).to_numpy(),
        "grid_import_kw": np.asarray(flows.grid_import_kw, dtype=float),
        "grid_export_kw": np.asarray(flows.grid_export_kw, dtype=float),
        "price_import_cny_per_kwh": inputs.price_import_cny_per_kwh.to_numpy(),
        "price_export_cny_per_kwh": inputs.price_export_cny_per_kwh.to_numpy(),
    }
    columns["curtailment_kw"] = columns["pv_available_kw"] - columns["pv_used_kw"]
    if inputs.park.wind_turbines:
        columns["wind_available_kw"] = inputs.total_wind_available_kw.to_numpy()
        columns["wind_used_kw"] = flows.wind_used_kw.sum(axis=1).to_numpy()
        columns["wind_curtailment_kw"] = columns["wind_available_kw"] - columns["wind_used_kw"]
    columns["unserved_load_kw"] = unserved
    schedule = pd.DataFrame(columns, index=index)
    if flows.network_losses_kw is not None:
        schedule["network_losses_kw"] = np.asarray(flows.network_losses_kw, dtype=float)
    schedule["tou_period"] = inputs.tou_period.to_numpy()
    schedule["co2_kg_per_kwh"] = inputs.co2_kg_per_kwh.to_numpy()
    device_columns: dict[str, np.ndarray] = {}
    for b, battery in inputs.park.batteries.items():
        device_columns[f"{b}.wear_cny_per_kwh"] = np.full(len(index), battery.throughput_cost_cny_per_kwh)
    for c, load in inputs.park.curtailable_loads.items():
        device_columns[f"{c}.shed_cny_per_kwh"] = np.full(len(index), load.shed_cost_cny_per_kwh)

    def put(frame: pd.DataFrame, quantity: str) -> None:
        for device in frame.columns:
            device_columns[f"{device}.{quantity}"] = frame[device].to_numpy()

    put(inputs.pv_available_kw, "available_kw")
    put(flows.pv_used_kw, "used_kw")
    if inputs.park.wind_turbines:
        put(inputs.wind_available_kw, "available_kw")
        put(flows.wind_used_kw, "used_kw")
    put(flows.battery_charge_kw, "charge_kw")
    put(flows.battery_discharge_kw, "discharge_kw")
    put(flows.battery_soc_kwh, "soc_kwh")
    put(inputs.load_kw, "load_kw")
    put(flows.hp_elec_kw, "elec_kw")
    put(flows.hp_heat_kw, "heat_th_kw")
    if not flows.hp_elec_kw.empty:
        for h in flows.hp_elec_kw.columns:
            device_columns[f"{h}.cop"] = inputs.cop(h)
    put(flows.boiler_elec_kw, "elec_kw")
    put(flows.boiler_heat_kw, "heat_th_kw")
    put(flows.ts_charge_kw, "charge_th_kw")
    put(flows.ts_discharge_kw, "discharge_th_kw")
    put(flows.ts_soc_kwh, "soc_th_kwh")
    for j in flows.ts_soc_kwh.columns:
        # Standing loss over each step [kW of heat], what the store's balance leaves:
        # soc_t = soc_{t-1} + (charge_t − discharge_t − loss_t) Δt.
        soc = flows.ts_soc_kwh[j].to_numpy()
        before = np.concatenate([[inputs.initial_thermal_soc_kwh(j)], soc[:-1]])
        net = flows.ts_charge_kw[j].to_numpy() - flows.ts_discharge_kw[j].to_numpy()
        device_columns[f"{j}.loss_th_kw"] = np.clip((before - soc) / inputs.dt_h + net, 0.0, None)
    put(inputs.heat_demand_kw, "demand_th_kw")
    put(flows.heat_dump_kw, "dumped_th_kw")
    put(flows.heat_unserved_kw, "unserved_th_kw")
    put(flows.process_kw, "load_kw")
    put(flows.energy_load_kw, "load_kw")
    put(inputs.curtailable_base_kw, "baseline_kw")
    put(flows.shed_kw, "shed_kw")
    if inputs.park.curtailable_loads:
        put(inputs.curtailable_base_kw - flows.shed_kw, "load_kw")
    put(inputs.shiftable_base_kw, "baseline_kw")
    put(flows.shiftable_kw, "load_kw")
    schedule = pd.concat([schedule, pd.DataFrame(device_columns, index=index)], axis=1)
    schedule.index.name = "timestamp"
    return schedule


def compute_kpis(schedule: pd.DataFrame, inputs: DispatchInputs) -> dict:
    """KPIs of a plan for one horizon (see the module docstring for every definition)."""
    return schedule_kpis(schedule, inputs.park, inputs.dt_h, inputs.state.month_to_date_peak_kw)


def schedule_kpis(schedule: pd.DataFrame, park: Park, dt_h: float, month_to_date_peak_kw: float | None) -> dict:
    """KPIs of any schedule table; the demand charge by :meth:`microgrid.tariff.Tariff.demand_charge`.

    ``month_to_date_peak_kw`` is the first month's peak before the schedule
    [kW], ``None`` when not known.
    """
    charge = park.tariff.demand_charge(schedule["grid_import_kw"], park.site.timezone, month_to_date_peak_kw, dt_h)
    demand_charge = charge.charge_cny
    imp = schedule["grid_import_kw"].to_numpy()
    exp = schedule["grid_export_kw"].to_numpy()
    energy_cost = float((imp * schedule["price_import_cny_per_kwh"].to_numpy()).sum() * dt_h)
    export_revenue = float((exp * schedule["price_export_cny_per_kwh"].to_numpy()).sum() * dt_h)
    peak = float(imp.max()) if len(imp) else 0.0
    wear = sum(float(((schedule[f"{b}.charge_kw"] + schedule[f"{b}.discharge_kw"])
                      * schedule[f"{b}.wear_cny_per_kwh"]).sum()) * dt_h for b in park.batteries)
    pv_generation = float(schedule["pv_available_kw"].sum() * dt_h)
    pv_used = float(schedule["pv_used_kw"].sum() * dt_h)
    pv_used_kw = schedule["pv_used_kw"].to_numpy()
    wind_used_kw = schedule["wind_used_kw"].to_numpy() if park.wind_turbines else np.zeros(len(schedule))
    renewable_kw = pv_used_kw + wind_used_kw
    onsite_kw = np.clip(renewable_kw - exp, 0, None)
    pv_share = np.divide(pv_used_kw, renewable_kw, out=np.zeros(len(schedule)), where=renewable_kw > 0)
    pv_on_site = float((onsite_kw * pv_share).sum() * dt_h)
    on_site = float(onsite_kw.sum() * dt_h)
    import_kwh = float(imp.sum() * dt_h)
    consumption = float(schedule["load_kw"].sum() * dt_h)
    shed_cost = sum(float((schedule[f"{c}.shed_kw"] * schedule[f"{c}.shed_cny_per_kwh"]).sum()) * dt_h
                    for c in park.curtailable_loads)
    kpis = {
        "total_cost_cny": energy_cost - export_revenue + demand_charge + wear + shed_cost,
        "energy_cost_cny": energy_cost,
        "export_revenue_cny": export_revenue,
        "export_rule": park.grid.export_rule,
        "demand_charge_cny": demand_charge,
        "demand_charge_basis": charge.basis,
        "peak_marginal_cost_cny_per_kw": charge.marginal_cny_per_kw,
        "month_to_date_peak_kw": month_to_date_peak_kw,
        "demand_charge_cny_per_kw_month": park.tariff.demand_charge_cny_per_kw_month,
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
        "co2_kg": float((imp * schedule["co2_kg_per_kwh"].to_numpy()).sum() * dt_h),
        "co2_avoided_kg": float((onsite_kw * schedule["co2_kg_per_kwh"].to_numpy()).sum() * dt_h),
        "pv_onsite_kwh": pv_on_site,
        "green_share_ratio": on_site / (on_site + import_kwh) if on_site + import_kwh > 0 else 0.0,
    }
    if park.wind_turbines:
        wind_generation = float(schedule["wind_available_kw"].sum() * dt_h)
        wind_used = float(wind_used_kw.sum() * dt_h)
        wind_on_site = on_site - pv_on_site
        renewable_generation = pv_generation + wind_generation
        kpis.update({
            "wind_generation_kwh": wind_generation,
            "wind_used_kwh": wind_used,
            "wind_curtailment_kwh": wind_generation - wind_used,
            "wind_onsite_kwh": wind_on_site,
            "wind_self_consumption_ratio": wind_on_site / wind_generation if wind_generation > 0 else 0.0,
            "renewable_generation_kwh": renewable_generation,
            "renewable_used_kwh": pv_used + wind_used,
            "renewable_curtailment_kwh": renewable_generation - pv_used - wind_used,
            "renewable_curtailment_ratio": ((renewable_generation - pv_used - wind_used) / renewable_generation
                                            if renewable_generation > 0 else 0.0),
            "renewable_onsite_kwh": on_site,
            "renewable_self_consumption_ratio": on_site / renewable_generation if renewable_generation > 0 else 0.0,
        })
    if park.curtailable_loads:
        kpis["shed_cost_cny"] = shed_cost
        kpis["shed_kwh"] = sum(float(schedule[f"{c}.shed_kw"].sum()) * dt_h for c in park.curtailable_loads)
    if park.heat_buses:
        def total(columns: list[str]) -> float:
            return float(sum(schedule[c].sum() for c in columns) * dt_h)

        kpis["heat_served_kwh"] = {k: total([f"{k}.heat_th_kw"]) for k in (*park.heat_pumps, *park.electric_boilers)}
        kpis["heat_demand_kwh"] = total([f"{b}.demand_th_kw" for b in park.heat_buses])
        kpis["heat_unserved_kwh"] = total([f"{b}.unserved_th_kw" for b in park.heat_buses])
        kpis["heat_dumped_kwh"] = total([f"{b}.dumped_th_kw" for b in park.heat_buses])
        kpis["heat_store_charge_kwh"] = total([f"{j}.charge_th_kw" for j in park.thermal_stores])
        kpis["heat_store_discharge_kwh"] = total([f"{j}.discharge_th_kw" for j in park.thermal_stores])
        kpis["heat_store_losses_kwh"] = total([f"{j}.loss_th_kw" for j in park.thermal_stores])
        kpis["heat_stored_kwh"] = (kpis["heat_store_charge_kwh"] - kpis["heat_store_discharge_kwh"]
                                   - kpis["heat_store_losses_kwh"])
        hp_elec = total([f"{h}.elec_kw" for h in park.heat_pumps])
        hp_heat = total([f"{h}.heat_th_kw" for h in park.heat_pumps])
        kpis["heat_pump_average_cop"] = hp_heat / hp_elec if hp_elec > 0 else None
    if park.energy_loads:
        kpis["energy_loads_kwh"] = {f: float(schedule[f"{f}.load_kw"].sum() * dt_h) for f in park.energy_loads}
    return kpis
