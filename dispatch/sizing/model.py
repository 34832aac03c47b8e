"""The sizing model: installed capacities and the operation of every typical day, in one Pyomo LP.

:func:`sizing_spec` checks the case's ``sizing`` section against the park
and gathers what the model needs; :func:`build_sizing_model` states it, one
builder per family (sizes → generation → batteries → heat → grid → balance
→ objective); :func:`solve_sizing` solves it with HiGHS.

Notation: ``k`` a typical day of weight ``w_k`` [d], ``t`` a step of length
``Δt`` [h]; powers are step means [kW]; ``soc[k, t]`` the content at the end
of step ``t`` [kWh]. Sizes (new capacity, bounded by ``sizing``): ``S_pv``
[kWp], ``S_wind`` [kW], ``E_b`` [kWh] and ``P_b`` [kW] of the new battery,
``S_hp`` [kW electric], ``E_ts`` [kWh] and ``P_ts`` [kW] of the new thermal
store. The park without its new assets keeps its own devices at their
sizes (existing heat pumps relaxed: no minimum load).

Objective (CNY/a)::

    Σ_tech (annualised capex + fixed O&M) · size                      (dispatch.sizing.costs)
  + cells ≥ max(c_y · E_b, c_cyc · Σ_k w_k Σ_t dis_new[k, t] Δt)       (battery cell replacement)
  + Σ_k w_k Σ_t Δt (p_imp[k,t] · imp[k,t] − p_exp[k,t] · exp[k,t] + energy costs of new assets)
  + Σ_month rate · peak_month,   peak_month ≥ imp[k, t] for every typical day k standing for a day of the month
  + priced slack (load or heat not served)

Storage is **cyclic per typical day**: every store ends each typical day
with the content it started it with (a free variable). Stores therefore
move energy within a day, never between days or seasons; that suits
batteries and the day-scale heat stores of a park (0.5 %/h loss), not a
seasonal store. Network limits are those of the grid connection only
(``grid.max_import_kw``, the export rule and ``max_export_kw``), not the
internal lines and transformers: run ``microgrid network`` or
``network.constrained`` studies on the sized park to check them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo

from dispatch.sizing.costs import UnitCosts, unit_costs
from dispatch.sizing.periods import TypicalDays
from microgrid.errors import InfeasibleError, InvalidParkError, SolverError
from microgrid.heat import HeatPump, ThermalStore
from microgrid.park import Battery, Park
from microgrid.sizing import TECHNOLOGIES, Sizing

logger = logging.getLogger(__name__)

SLACK_CNY_PER_KWH = 1000.0
"""Price of a kWh of electricity or heat not served (the model stays feasible; the result reports it)."""


@dataclass
class Store:
    """A store of the operation model: fixed sizes (the park's own) or ``None`` (sized)."""

    id: str
    energy_kwh: float | None
    power_kw: float | None
    charge_efficiency: float
    discharge_efficiency: float
    min_soc_frac: float
    max_soc_frac: float
    loss_frac_per_h: float = 0.0
    heat_bus: str | None = None


@dataclass
class SizingSpec:
    """What the sizing model is built from (no Pyomo objects).

    Attributes
    ----------
    park : Park
        The park with its new assets (its ``economics`` and ``sizing``).
    base : Park
        The park without its new assets: what is kept whatever the sizes.
    sizing : Sizing
    bounds : dict
        Size name → (min, max): ``pv_kw``, ``wind_kw``, ``battery_kwh``,
        ``battery_kw``, ``heat_pump_kw``, ``thermal_store_kwh``,
        ``thermal_store_kw`` (0, 0 for technologies not sized).
    battery, heat_pump, thermal_store :
        The templates a new device copies (``None`` when not sized).
    costs : UnitCosts
    """

    park: Park
    base: Park
    sizing: Sizing
    bounds: dict[str, tuple[float, float]]
    battery: Battery | None
    heat_pump: HeatPump | None
    heat_pump_id: str | None
    thermal_store: ThermalStore | None
    costs: UnitCosts
    templates: dict[str, str] = field(default_factory=dict)


SIZE_NAMES = ("pv_kw", "wind_kw", "battery_kwh", "battery_kw", "heat_pump_kw", "thermal_store_kwh",
              "thermal_store_kw")
"""The sizes of a sizing, in this order in ``sizes.csv``."""
SIZE_TECHNOLOGY = {"pv_kw": "pv", "wind_kw": "wind", "battery_kwh": "battery", "battery_kw": "battery",
                   "heat_pump_kw": "heat_pump", "thermal_store_kwh": "thermal_store",
                   "thermal_store_kw": "thermal_store"}


def _template(group: dict, named: str | None, field_name: str, preferred: list[str]) -> str | None:
    if named is not None:
        if named not in group:
            raise InvalidParkError(f"sizing.{field_name}: {named!r} is no device of that family; name one of "
                                   f"{', '.join(group) or 'none (add one to the park)'}")
        return named
    for candidate in [*preferred, *group]:
        return candidate
    return None


def sizing_spec(park: Park, sizing: Sizing | None = None) -> SizingSpec:
    """Check ``sizing`` (default: the park's ``sizing`` section) against the park; gather the model's data.

    Raises
    ------
    InvalidParkError
        No ``sizing`` section, nothing to size, or a technology the park
        cannot hold (PV without an array to shape it like, wind without a
        turbine group, a heat pump or a thermal store without a heat bus).
    """
    sizing = sizing if sizing is not None else park.sizing
    if sizing is None:
        raise InvalidParkError("sizing: the case has no sizing section; add one with the bounds of what may be "
                               "bought, e.g. sizing: {battery: {max_kwh: 10000, max_kw: 5000}} (docs/sizing.md)")
    if not sizing.candidates:
        raise InvalidParkError("sizing: no technology to size; give bounds for at least one of "
                               f"{', '.join(TECHNOLOGIES)}")
    if sizing.pv is not None and not park.pv_arrays:
        raise InvalidParkError("sizing.pv: new PV is shaped like the park's PV arrays, but the park has none; "
                               "add an array (its orientation and losses) to pv_arrays and list it in "
                               "economics.new_assets")
    if sizing.wind is not None and not park.wind_turbines:
        raise InvalidParkError("sizing.wind: new wind is shaped like the park's turbine groups, but the park has "
                               "none; add a group to wind_turbines and list it in economics.new_assets")
    if (sizing.heat_pump is not None or sizing.thermal_store is not None) and not park.heat_buses:
        raise InvalidParkError("sizing.heat_pump, sizing.thermal_store: the park has no heat bus to serve; "
                               "add heat_buses with their demand")
    bounds = {name: (0.0, 0.0) for name in SIZE_NAMES}
    for name in SIZE_NAMES:
        tech = SIZE_TECHNOLOGY[name]
        b = getattr(sizing, tech)
        if b is not None:
            unit = "kwh" if name.endswith("_kwh") else "kw"
            bounds[name] = (getattr(b, f"min_{unit}"), getattr(b, f"max_{unit}"))
    new_batteries = park.new_assets["batteries"]
    battery_id = _template(park.batteries, sizing.battery_template, "battery_template", new_batteries)
    battery = None
    if sizing.battery is not None:
        battery = (park.batteries[battery_id] if battery_id is not None
                   else Battery(bus=park.grid.bus, capacity_kwh=0.0, max_charge_kw=0.0, max_discharge_kw=0.0))
    hp_id = _template(park.heat_pumps, sizing.heat_pump_template, "heat_pump_template", [])
    if sizing.heat_pump is not None and hp_id is None:
        raise InvalidParkError("sizing.heat_pump: a new heat pump copies one of the park's (COP, heat bus, bus), "
                               "but the park has none; add one to heat_pumps or remove sizing.heat_pump")
    ts_id = _template(park.thermal_stores, sizing.thermal_store_template, "thermal_store_template", [])
    thermal_store = None
    if sizing.thermal_store is not None:
        thermal_store = (park.thermal_stores[ts_id] if ts_id is not None else
                         ThermalStore(heat_bus=next(iter(park.heat_buses)), capacity_kwh=0.0, max_charge_kw=0.0,
                                      max_discharge_kw=0.0))
    return SizingSpec(
        park=park, base=park.without_new_assets(), sizing=sizing, bounds=bounds, battery=battery,
        heat_pump=park.heat_pumps[hp_id] if sizing.heat_pump is not None else None, heat_pump_id=hp_id,
        thermal_store=thermal_store, costs=unit_costs(park.economics),
        templates={k: v for k, v in (("battery", battery_id), ("heat_pump", hp_id), ("thermal_store", ts_id))
                   if v is not None},
    )


def _stores(spec: SizingSpec) -> tuple[list[Store], list[Store]]:
    base = spec.base
    batteries = [Store(b, x.capacity_kwh, max(x.max_charge_kw, x.max_discharge_kw), x.charge_efficiency,
                       x.discharge_efficiency, x.min_soc_frac, x.max_soc_frac) for b, x in base.batteries.items()]
    if spec.battery is not None:
        t = spec.battery
        batteries.append(Store("new_battery", None, None, t.charge_efficiency, t.discharge_efficiency,
                               t.min_soc_frac, t.max_soc_frac))
    heat = [Store(j, x.capacity_kwh, max(x.max_charge_kw, x.max_discharge_kw), 1.0, 1.0, x.min_soc_frac,
                  x.max_soc_frac, x.loss_frac_per_h, x.heat_bus) for j, x in base.thermal_stores.items()]
    if spec.thermal_store is not None:
        t = spec.thermal_store
        heat.append(Store("new_thermal_store", None, None, 1.0, 1.0, t.min_soc_frac, t.max_soc_frac,
                          t.loss_frac_per_h, t.heat_bus))
    return batteries, heat


def add_sizes(m: pyo.ConcreteModel, spec: SizingSpec) -> None:
    """One variable per size, within its bounds; duration bounds ``d_min · P ≤ E ≤ d_max · P``."""
    m.SIZES = pyo.Set(initialize=list(SIZE_NAMES), ordered=True)
    m.size = pyo.Var(m.SIZES, bounds=lambda m, s: spec.bounds[s])
    m.duration_bounds = pyo.ConstraintList()
    for tech, energy, power in (("battery", "battery_kwh", "battery_kw"),
                                ("thermal_store", "thermal_store_kwh", "thermal_store_kw")):
        b = getattr(spec.sizing, tech)
        if b is None:
            continue
        if b.min_duration_h is not None:
            m.duration_bounds.add(m.size[energy] >= b.min_duration_h * m.size[power])
        if b.max_duration_h is not None:
            m.duration_bounds.add(m.size[energy] <= b.max_duration_h * m.size[power])


def add_generation(m: pyo.ConcreteModel, days: TypicalDays) -> None:
    """PV and wind used, each at most what is available: ``used ≤ own + S · shape`` (the rest curtailed)."""
    p = days.profiles
    m.pv_new_used_kw = pyo.Var(m.K, m.T, bounds=(0, None))
    m.pv_old_used_kw = pyo.Var(m.K, m.T, bounds=lambda m, k, t: (0, p["pv_kw"][k, t]))
    m.wind_new_used_kw = pyo.Var(m.K, m.T, bounds=(0, None))
    m.wind_old_used_kw = pyo.Var(m.K, m.T, bounds=lambda m, k, t: (0, p["wind_kw"][k, t]))
    m.pv_new_available = pyo.Constraint(
        m.K, m.T, rule=lambda m, k, t: m.pv_new_used_kw[k, t] <= p["pv_kw_per_kwp"][k, t] * m.size["pv_kw"])
    m.wind_new_available = pyo.Constraint(
        m.K, m.T, rule=lambda m, k, t: m.wind_new_used_kw[k, t] <= p["wind_kw_per_kw"][k, t] * m.size["wind_kw"])
    m.renewable_used_kw = pyo.Expression(m.K, m.T, rule=lambda m, k, t: m.pv_new_used_kw[k, t]
                                         + m.pv_old_used_kw[k, t] + m.wind_new_used_kw[k, t]
                                         + m.wind_old_used_kw[k, t])


def _add_store_family(m: pyo.ConcreteModel, name: str, stores: list[Store], energy_size: str, power_size: str,
                      dt_h: float) -> None:
    """Cyclic stores of one family (``bat`` or ``ts``).

    .. math::
        soc_{k,t} = ρ\\, soc_{k,t−1} + (η_c\\, ch_{k,t} − dis_{k,t} / η_d)\\, Δt,\\quad soc_{k,−1} = soc_{k,T−1}

        f_{min} E ≤ soc_{k,t} ≤ f_{max} E,\\quad ch_{k,t}, dis_{k,t} ≤ P
    """
    ids = [s.id for s in stores]
    by_id = {s.id: s for s in stores}
    S = pyo.Set(initialize=ids, ordered=True)
    setattr(m, f"{name.upper()}_STORES", S)
    ch = pyo.Var(S, m.K, m.T, bounds=(0, None))
    dis = pyo.Var(S, m.K, m.T, bounds=(0, None))
    soc = pyo.Var(S, m.K, m.T, bounds=(0, None))
    setattr(m, f"{name}_charge_kw", ch)
    setattr(m, f"{name}_discharge_kw", dis)
    setattr(m, f"{name}_soc_kwh", soc)
    last = m.T.last()

    def energy(s):
        return m.size[energy_size] if by_id[s].energy_kwh is None else by_id[s].energy_kwh

    def power(s):
        return m.size[power_size] if by_id[s].power_kw is None else by_id[s].power_kw

    def balance(m, s, k, t):
        x = by_id[s]
        retention = (1.0 - x.loss_frac_per_h) ** dt_h
        previous = soc[s, k, last] if t == m.T.first() else soc[s, k, t - 1]
        return soc[s, k, t] == retention * previous + (x.charge_efficiency * ch[s, k, t]
                                                       - dis[s, k, t] / x.discharge_efficiency) * dt_h

    setattr(m, f"{name}_soc_balance", pyo.Constraint(S, m.K, m.T, rule=balance))
    setattr(m, f"{name}_soc_max", pyo.Constraint(
        S, m.K, m.T, rule=lambda m, s, k, t: soc[s, k, t] <= by_id[s].max_soc_frac * energy(s)))
    setattr(m, f"{name}_soc_min", pyo.Constraint(
        S, m.K, m.T, rule=lambda m, s, k, t: soc[s, k, t] >= by_id[s].min_soc_frac * energy(s)))
    setattr(m, f"{name}_charge_max", pyo.Constraint(S, m.K, m.T, rule=lambda m, s, k, t: ch[s, k, t] <= power(s)))
    setattr(m, f"{name}_discharge_max", pyo.Constraint(
        S, m.K, m.T, rule=lambda m, s, k, t: dis[s, k, t] <= power(s)))


def add_batteries(m: pyo.ConcreteModel, spec: SizingSpec, days: TypicalDays, stores: list[Store]) -> None:
    """The park's batteries and the new one (cyclic per typical day, :func:`_add_store_family`), and its cells.

    .. math:: cells ≥ c_y E_b,\\quad cells ≥ c_{cyc} Σ_k w_k Σ_t dis_{new,k,t} Δt
    """
    _add_store_family(m, "bat", stores, "battery_kwh", "battery_kw", days.dt_h)
    m.battery_cells_cny = pyo.Var(bounds=(0, None))
    c = spec.costs
    m.cells_by_years = pyo.Constraint(expr=m.battery_cells_cny >= c.cells_cny_per_kwh_year * m.size["battery_kwh"])
    if "new_battery" in m.BAT_STORES:
        m.cells_by_cycles = pyo.Constraint(expr=m.battery_cells_cny >= c.cells_cny_per_kwh_discharged * sum(
            days.weights[k] * m.bat_discharge_kw["new_battery", k, t] * days.dt_h for k in m.K for t in m.T))


def add_heat(m: pyo.ConcreteModel, spec: SizingSpec, days: TypicalDays, stores: list[Store]) -> None:
    """Heat pumps (relaxed: ``0 ≤ e ≤ P``), boilers, thermal stores and the heat balance of every heat bus.

    .. math::
        Σ_h COP_{h,k,t} e_{h,k,t} + Σ_b η_b e_{b,k,t} + Σ_j (dis_{j,k,t} − ch_{j,k,t}) + u_{k,t} = demand_{k,t} + dump_{k,t}
    """
    base = spec.base
    _add_store_family(m, "ts", stores, "thermal_store_kwh", "thermal_store_kw", days.dt_h)
    pumps = dict(base.heat_pumps)
    if spec.heat_pump is not None:
        pumps["new_heat_pump"] = spec.heat_pump
    temp = days.profiles["temp_air"]
    cop = {h: np.vstack([hp.cop_series(temp[k]) for k in range(days.k)]) for h, hp in pumps.items()}
    m.HEAT_PUMPS = pyo.Set(initialize=list(pumps), ordered=True)
    m.hp_elec_kw = pyo.Var(m.HEAT_PUMPS, m.K, m.T, bounds=(0, None))
    m.hp_max = pyo.Constraint(m.HEAT_PUMPS, m.K, m.T, rule=lambda m, h, k, t: m.hp_elec_kw[h, k, t] <= (
        m.size["heat_pump_kw"] if h == "new_heat_pump" else pumps[h].max_elec_kw))
    m.hp_heat_kw = pyo.Expression(m.HEAT_PUMPS, m.K, m.T, rule=lambda m, h, k, t: cop[h][k, t] * m.hp_elec_kw[h, k, t])
    boilers = base.electric_boilers
    m.BOILERS = pyo.Set(initialize=list(boilers), ordered=True)
    m.boiler_elec_kw = pyo.Var(m.BOILERS, m.K, m.T, bounds=lambda m, b, k, t: (0, boilers[b].max_elec_kw))
    m.HEAT_BUSES = pyo.Set(initialize=list(base.heat_buses), ordered=True)
    m.heat_dump_kw = pyo.Var(m.HEAT_BUSES, m.K, m.T,
                             bounds=lambda m, b, k, t: (0, None if base.heat_buses[b].allow_dump else 0.0))
    m.heat_unserved_kw = pyo.Var(m.HEAT_BUSES, m.K, m.T, bounds=(0, None))
    ts_bus = {s.id: s.heat_bus for s in stores}

    def balance(m, b, k, t):
        supply = (sum(m.hp_heat_kw[h, k, t] for h in m.HEAT_PUMPS if pumps[h].heat_bus == b)
                  + sum(boilers[x].efficiency * m.boiler_elec_kw[x, k, t] for x in m.BOILERS
                        if boilers[x].heat_bus == b)
                  + sum(m.ts_discharge_kw[j, k, t] - m.ts_charge_kw[j, k, t] for j in m.TS_STORES if ts_bus[j] == b))
        demand = days.profiles[f"heat_{b}_kw"][k, t]
        return supply + m.heat_unserved_kw[b, k, t] == demand + m.heat_dump_kw[b, k, t]

    m.heat_balance = pyo.Constraint(m.HEAT_BUSES, m.K, m.T, rule=balance)


def add_grid(m: pyo.ConcreteModel, spec: SizingSpec, days: TypicalDays) -> None:
    """Import within ``grid.max_import_kw``, export by the park's rule, the monthly peaks.

    ``surplus_to_grid``: ``exp ≤ max_export_kw`` (and ``exp ≤`` renewables
    used with ``export_pv_only``); ``anti_backflow``: ``exp = 0``;
    ``full_export``: ``exp = `` renewables used (none serves the park).
    ``peak_m ≥ imp[k, t]`` for every typical day ``k`` of a day of month ``m``.
    """
    grid = spec.park.grid
    m.import_kw = pyo.Var(m.K, m.T, bounds=(0, grid.max_import_kw))
    m.export_kw = pyo.Var(m.K, m.T, bounds=(0, grid.export_limit_kw))
    if grid.export_rule == "full_export":
        m.export_rule = pyo.Constraint(m.K, m.T, rule=lambda m, k, t: m.export_kw[k, t] == m.renewable_used_kw[k, t])
    elif grid.export_pv_only:
        m.export_rule = pyo.Constraint(m.K, m.T, rule=lambda m, k, t: m.export_kw[k, t] <= m.renewable_used_kw[k, t])
    months = days.month_clusters()
    m.MONTHS = pyo.Set(initialize=list(months), ordered=True)
    m.peak_kw = pyo.Var(m.MONTHS, bounds=(0, None))
    m.month_peak = pyo.Constraint(
        [(mo, k, t) for mo, ks in months.items() for k in ks for t in m.T],
        rule=lambda m, mo, k, t: m.peak_kw[mo] >= m.import_kw[k, t])


def add_balance(m: pyo.ConcreteModel, spec: SizingSpec, days: TypicalDays) -> None:
    """Power balance of every step.

    .. math::
        R_{k,t} + imp_{k,t} + Σ dis + u_{k,t} = load_{k,t} + Σ ch + Σ e_{hp} + Σ e_{boiler} + exp_{k,t}

    (under ``full_export`` the renewables ``R`` are all exported and enter neither side).
    """
    full = spec.park.grid.export_rule == "full_export"
    m.unserved_kw = pyo.Var(m.K, m.T, bounds=(0, None))

    def balance(m, k, t):
        supply = (0 if full else m.renewable_used_kw[k, t]) + m.import_kw[k, t] + m.unserved_kw[k, t] + sum(
            m.bat_discharge_kw[b, k, t] for b in m.BAT_STORES)
        demand = (days.profiles["load_kw"][k, t] + sum(m.bat_charge_kw[b, k, t] for b in m.BAT_STORES)
                  + sum(m.hp_elec_kw[h, k, t] for h in m.HEAT_PUMPS)
                  + sum(m.boiler_elec_kw[x, k, t] for x in m.BOILERS) + (0 if full else m.export_kw[k, t]))
        return supply == demand

    m.power_balance = pyo.Constraint(m.K, m.T, rule=balance)


def add_objective(m: pyo.ConcreteModel, spec: SizingSpec, days: TypicalDays) -> None:
    """Annual cost [CNY/a]: the assets' annualised capex and fixed O&M, cells, operation, demand charge, slack."""
    c = spec.costs
    p = days.profiles
    dt_h = days.dt_h
    w = days.weights
    rate = spec.park.tariff.demand_charge_cny_per_kw_month

    def per_unit(size: str) -> float:
        tech = SIZE_TECHNOLOGY[size]
        if size.endswith("_kwh"):
            return c.capex_cny_per_kwh_year.get(tech, 0.0)
        return c.capex_cny_per_kw_year[tech] + c.fixed_om_cny_per_kw_year[tech]

    m.assets_cny = pyo.Expression(expr=sum(per_unit(s) * m.size[s] for s in m.SIZES) + m.battery_cells_cny)
    e = c.energy_cny_per_kwh
    new_bat = "new_battery" in m.BAT_STORES
    new_ts = "new_thermal_store" in m.TS_STORES
    new_hp = "new_heat_pump" in m.HEAT_PUMPS

    def day_cost(m, k):
        energy = sum(p["price_import_cny_per_kwh"][k, t] * m.import_kw[k, t]
                     - p["price_export_cny_per_kwh"][k, t] * m.export_kw[k, t] for t in m.T)
        assets = sum(e["pv"] * m.pv_new_used_kw[k, t] + e["wind"] * m.wind_new_used_kw[k, t]
                     + (e["battery"] * m.bat_discharge_kw["new_battery", k, t] if new_bat else 0)
                     + (e["thermal_store"] * m.ts_discharge_kw["new_thermal_store", k, t] if new_ts else 0)
                     + (e["heat_pump"] * m.hp_heat_kw["new_heat_pump", k, t] if new_hp else 0) for t in m.T)
        return (energy + assets) * dt_h

    m.day_cost_cny = pyo.Expression(m.K, rule=day_cost)
    m.demand_charge_cny = pyo.Expression(expr=rate * sum(m.peak_kw[mo] for mo in m.MONTHS))
    m.operation_cny = pyo.Expression(expr=sum(w[k] * m.day_cost_cny[k] for k in m.K) + m.demand_charge_cny)
    m.slack_cny = pyo.Expression(expr=SLACK_CNY_PER_KWH * dt_h * sum(
        w[k] * (m.unserved_kw[k, t] + sum(m.heat_unserved_kw[b, k, t] for b in m.HEAT_BUSES))
        for k in m.K for t in m.T))
    m.annual_cost = pyo.Objective(expr=m.assets_cny + m.operation_cny + m.slack_cny, sense=pyo.minimize)


def build_sizing_model(spec: SizingSpec, days: TypicalDays) -> pyo.ConcreteModel:
    """The sizing LP of the module docstring, on ``days``."""
    m = pyo.ConcreteModel(name="sizing")
    m.K = pyo.Set(initialize=range(days.k), ordered=True)
    m.T = pyo.Set(initialize=range(days.steps_per_day), ordered=True)
    batteries, heat_stores = _stores(spec)
    add_sizes(m, spec)
    add_generation(m, days)
    add_batteries(m, spec, days, batteries)
    add_heat(m, spec, days, heat_stores)
    add_grid(m, spec, days)
    add_balance(m, spec, days)
    add_objective(m, spec, days)
    return m


@dataclass
class SizingSolution:
    """One solve of the sizing model: the sizes and the annual figures of its operation.

    Costs [CNY/a] over the year the typical days stand for; energies [kWh/a].
    ``day_cost_cny``: the operating cost of each typical day (energy and the
    new assets' per-kWh costs, the demand charge aside) [CNY/d].
    """

    sizes: dict[str, float]
    status: str
    mip_gap: float
    solve_time_s: float
    build_time_s: float
    annual_cost_cny: float
    assets_cny: float
    operation_cny: float
    demand_charge_cny: float
    slack_cny: float
    day_cost_cny: np.ndarray
    figures: dict[str, float]
    per_day: dict[str, np.ndarray]
    month_peak_kw: dict[str, float]

    @property
    def grid_cost_cny(self) -> float:
        """Energy cost − export revenue + demand charge [CNY/a]: the operating cost of the investment KPIs."""
        return self.figures["energy_cost_cny"] - self.figures["export_revenue_cny"] + self.demand_charge_cny


def _value(x) -> float:
    v = pyo.value(x, exception=False)
    return 0.0 if v is None else float(v)


def _figures(m: pyo.ConcreteModel, days: TypicalDays) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    w, dt_h = days.weights, days.dt_h

    def annual(var_sum) -> float:
        return float(sum(w[k] * sum(var_sum(k, t) for t in m.T) for k in m.K) * dt_h)

    imp = annual(lambda k, t: _value(m.import_kw[k, t]))
    exp = annual(lambda k, t: _value(m.export_kw[k, t]))
    used = annual(lambda k, t: _value(m.renewable_used_kw[k, t]))
    p = days.profiles
    available = annual(lambda k, t: p["pv_kw"][k, t] + p["wind_kw"][k, t] + p["pv_kw_per_kwp"][k, t]
                       * _value(m.size["pv_kw"]) + p["wind_kw_per_kw"][k, t] * _value(m.size["wind_kw"]))
    energy = annual(lambda k, t: p["price_import_cny_per_kwh"][k, t] * _value(m.import_kw[k, t]))
    revenue = annual(lambda k, t: p["price_export_cny_per_kwh"][k, t] * _value(m.export_kw[k, t]))
    new_dis = (annual(lambda k, t: _value(m.bat_discharge_kw["new_battery", k, t]))
               if "new_battery" in m.BAT_STORES else 0.0)
    per_day = {
        "import_kwh": np.array([sum(_value(m.import_kw[k, t]) for t in m.T) * dt_h for k in m.K]),
        "export_kwh": np.array([sum(_value(m.export_kw[k, t]) for t in m.T) * dt_h for k in m.K]),
        "renewable_used_kwh": np.array([sum(_value(m.renewable_used_kw[k, t]) for t in m.T) * dt_h for k in m.K]),
        "renewable_kwh": np.array([sum(p["pv_kw"][k, t] + p["wind_kw"][k, t] + p["pv_kw_per_kwp"][k, t]
                                       * _value(m.size["pv_kw"]) + p["wind_kw_per_kw"][k, t]
                                       * _value(m.size["wind_kw"]) for t in m.T) * dt_h for k in m.K]),
        "grid_cost_cny": np.array([sum(p["price_import_cny_per_kwh"][k, t] * _value(m.import_kw[k, t])
                                       - p["price_export_cny_per_kwh"][k, t] * _value(m.export_kw[k, t])
                                       for t in m.T) * dt_h for k in m.K]),
    }
    return per_day, {
        "grid_import_kwh": imp, "grid_export_kwh": exp, "energy_cost_cny": energy, "export_revenue_cny": revenue,
        "renewable_generation_kwh": available, "renewable_used_kwh": used,
        "renewable_self_consumption_ratio": (used - exp) / available if available > 0 else float("nan"),
        "pv_new_used_kwh": annual(lambda k, t: _value(m.pv_new_used_kw[k, t])),
        "wind_new_used_kwh": annual(lambda k, t: _value(m.wind_new_used_kw[k, t])),
        "battery_new_discharge_kwh": new_dis,
        "heat_pump_new_heat_kwh": (annual(lambda k, t: _value(m.hp_heat_kw["new_heat_pump", k, t]))
                                   if "new_heat_pump" in m.HEAT_PUMPS else 0.0),
        "thermal_store_new_discharge_kwh": (annual(lambda k, t: _value(m.ts_discharge_kw["new_thermal_store", k, t]))
                                            if "new_thermal_store" in m.TS_STORES else 0.0),
        "peak_import_kw": max((_value(m.peak_kw[mo]) for mo in m.MONTHS), default=0.0),
        "unserved_kwh": annual(lambda k, t: _value(m.unserved_kw[k, t])),
    }


def solve_sizing(spec: SizingSpec, days: TypicalDays, fixed: dict[str, float] | None = None,
                 time_limit_s: float = 600.0, model: pyo.ConcreteModel | None = None) -> SizingSolution:
    """Solve the sizing model with HiGHS; ``fixed`` sizes (name → value) are held, the others chosen.

    ``model`` (from :func:`build_sizing_model` of the same ``spec`` and
    ``days``) is reused when given: a sweep fixes the sizes of each point
    and solves again.

    Raises
    ------
    InfeasibleError, SolverError
        HiGHS found the model infeasible (it cannot be: every requirement
        has priced slack) or stopped without a solution.
    """
    started = time.perf_counter()
    m = model if model is not None else build_sizing_model(spec, days)
    for name in SIZE_NAMES:
        m.size[name].unfix()
    for name, value in (fixed or {}).items():
        if name not in SIZE_NAMES:
            raise InvalidParkError(f"fixed size {name!r}: unknown; use one of {', '.join(SIZE_NAMES)}")
        m.size[name].fix(float(value))
    build_s = time.perf_counter() - started
    from pyomo.contrib.appsi.solvers import Highs

    solver = Highs()
    solver.config.time_limit = time_limit_s
    solver.config.load_solution = False
    started = time.perf_counter()
    result = solver.solve(m)
    solve_s = time.perf_counter() - started
    condition = result.termination_condition.name
    if condition in ("infeasible", "infeasibleOrUnbounded", "unbounded"):
        raise InfeasibleError("the sizing model is infeasible; check the bounds (min sizes) and the grid limits")
    if result.best_feasible_objective is None:
        raise SolverError(f"HiGHS stopped without a sizing ({condition}); raise the time limit")
    result.solution_loader.load_vars()
    status = "optimal" if condition == "optimal" else "time_limit"
    bound = result.best_objective_bound
    incumbent = result.best_feasible_objective
    gap = 0.0 if status == "optimal" else abs(incumbent - bound) / max(1e-9, abs(incumbent))
    sizes = {name: _value(m.size[name]) for name in SIZE_NAMES}
    per_day, figures = _figures(m, days)
    return SizingSolution(
        sizes=sizes, status=status, mip_gap=gap, solve_time_s=solve_s, build_time_s=build_s,
        annual_cost_cny=_value(m.annual_cost), assets_cny=_value(m.assets_cny), operation_cny=_value(m.operation_cny),
        demand_charge_cny=_value(m.demand_charge_cny), slack_cny=_value(m.slack_cny),
        day_cost_cny=np.array([_value(m.day_cost_cny[k]) for k in m.K]), figures=figures, per_day=per_day,
        month_peak_kw={mo: _value(m.peak_kw[mo]) for mo in m.MONTHS})
