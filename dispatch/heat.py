"""Builders of the heat side: heat pumps, electric boilers, thermal stores and the heat balance.

Heat flows are kW of heat; the heat balance closes on every heat bus at every step.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from dispatch.inputs import DispatchInputs
from dispatch.terms import Terms, set_series

#: Objective weight of heat vented on a heat bus [CNY per kWh of heat]. Not a price (the KPIs do not bill it):
#: a preference that keeps least-cost plans from making heat of free surplus PV and wind only to vent it,
#: which would cost the same as curtailing the surplus and pass for self-consumption. About what the fans
#: and pumps of a cooling tower draw to reject the heat (~1 % of it, at ~0.6 CNY/kWh), and far below any
#: energy price, so dumping that a heat pump's minimum load forces stays possible.
HEAT_DUMP_PENALTY_CNY_PER_KWH = 0.01


def heat_pump_groups(park) -> dict[str, list[str]]:
    """Identical heat pumps (every field equal), keyed by the first unit's id."""
    groups: dict[str, list[str]] = {}
    for h, hp in park.heat_pumps.items():
        for members in groups.values():
            if park.heat_pumps[members[0]] == hp:
                members.append(h)
                break
        else:
            groups[h] = [h]
    return groups


def split_group(total_kw: np.ndarray, units_on: np.ndarray | None, members: list[str], max_kw: float) -> dict[str, np.ndarray]:
    """Share a group's power among its units: ``k`` units on, each ``total / k``.

    ``units_on`` comes from the model when the units have a minimum load;
    otherwise as few units as can carry the total are on.
    """
    if units_on is None:
        units_on = np.ceil(np.round(total_kw / max_kw, 9))
    k = np.clip(np.round(units_on), 0, len(members))
    share = np.divide(total_kw, k, out=np.zeros_like(total_kw), where=k > 0)
    return {h: np.where(i < k, share, 0.0) for i, h in enumerate(members)}


def add_heat(m: pyo.ConcreteModel, inputs: DispatchInputs, terms: Terms) -> None:
    """Heat pumps, electric boilers, thermal stores and the heat balance of every heat bus.

    Identical heat pumps form a group ``g`` of ``N_g`` units (see
    :func:`heat_pump_groups`) modelled by their total power and an integer
    number of units on: exact for identical units, and free of the mirror-image
    solutions that separate binaries would give the solver.

    .. math::
        m_g P_g\\, n_{g,t} ≤ e_{g,t} ≤ P_g\\, n_{g,t},\\quad n_{g,t} ∈ \\{0, …, N_g\\},\\quad q_{g,t} = COP_{g,t}\\, e_{g,t}

        q_{k,t} = η_k\\, e_{k,t}

        s_{j,t} = ρ_j\\, s_{j,t−1} + (ch_{j,t} − dis_{j,t})\\, Δt,\\quad ρ_j = (1 − λ_j)^{Δt}

        Σ_h q_{h,t} + Σ_k q_{k,t} + Σ_j (dis_{j,t} − ch_{j,t}) + unserved_{b,t} = demand_{b,t} + dump_{b,t}

    Dumped heat adds :data:`HEAT_DUMP_PENALTY_CNY_PER_KWH` × Σ dump × Δt to the
    cost objective (not to the KPIs' costs).
    """
    park = inputs.park
    if not park.heat_buses:
        return
    hps, boilers, stores = park.heat_pumps, park.electric_boilers, park.thermal_stores
    m.HEAT_BUSES = pyo.Set(initialize=list(park.heat_buses), ordered=True)
    m.heat_demand_kw = pyo.Param(m.HEAT_BUSES, m.T, mutable=True, initialize=0.0)

    groups = heat_pump_groups(park)
    m.HP_GROUPS = pyo.Set(initialize=list(groups), ordered=True)
    m.hp_cop = pyo.Param(m.HP_GROUPS, m.T, mutable=True, initialize=1.0)
    unit = {g: hps[ids[0]] for g, ids in groups.items()}
    m.hp_elec_kw = pyo.Var(m.HP_GROUPS, m.T, bounds=lambda m, g, t: (0, len(groups[g]) * unit[g].max_elec_kw))
    with_min = [g for g in groups if unit[g].min_load_frac > 0]
    if with_min:
        m.HP_GROUPS_MIN_LOAD = pyo.Set(initialize=with_min, ordered=True)
        m.hp_units_on = pyo.Var(m.HP_GROUPS_MIN_LOAD, m.T, domain=pyo.NonNegativeIntegers,
                                bounds=lambda m, g, t: (0, len(groups[g])))
        m.hp_max_when_on = pyo.Constraint(
            m.HP_GROUPS_MIN_LOAD, m.T, rule=lambda m, g, t: m.hp_elec_kw[g, t] <= unit[g].max_elec_kw * m.hp_units_on[g, t])
        m.hp_min_when_on = pyo.Constraint(
            m.HP_GROUPS_MIN_LOAD, m.T,
            rule=lambda m, g, t: m.hp_elec_kw[g, t] >= unit[g].min_load_frac * unit[g].max_elec_kw * m.hp_units_on[g, t])
    m.hp_heat_kw = pyo.Expression(m.HP_GROUPS, m.T, rule=lambda m, g, t: m.hp_cop[g, t] * m.hp_elec_kw[g, t])

    m.BOILERS = pyo.Set(initialize=list(boilers), ordered=True)
    m.boiler_elec_kw = pyo.Var(m.BOILERS, m.T, bounds=lambda m, k, t: (0, boilers[k].max_elec_kw))
    m.boiler_heat_kw = pyo.Expression(m.BOILERS, m.T, rule=lambda m, k, t: boilers[k].efficiency * m.boiler_elec_kw[k, t])

    m.THERMAL_STORES = pyo.Set(initialize=list(stores), ordered=True)
    m.ts_retention = pyo.Param(m.THERMAL_STORES, mutable=True, initialize=1.0)
    m.ts_initial_kwh = pyo.Param(m.THERMAL_STORES, mutable=True, initialize=0.0)
    m.ts_final_kwh = pyo.Param(m.THERMAL_STORES, mutable=True, initialize=0.0)
    m.ts_charge_kw = pyo.Var(m.THERMAL_STORES, m.T, bounds=lambda m, j, t: (0, stores[j].max_charge_kw))
    m.ts_discharge_kw = pyo.Var(m.THERMAL_STORES, m.T, bounds=lambda m, j, t: (0, stores[j].max_discharge_kw))
    m.ts_soc_kwh = pyo.Var(m.THERMAL_STORES, m.T, bounds=lambda m, j, t: (stores[j].min_soc_kwh, stores[j].max_soc_kwh))
    m.ts_final_shortfall_kwh = pyo.Var(m.THERMAL_STORES, bounds=(0, None))

    def store_balance(m, j, t):
        previous = m.ts_initial_kwh[j] if t == m.T.first() else m.ts_soc_kwh[j, t - 1]
        return m.ts_soc_kwh[j, t] == m.ts_retention[j] * previous + (m.ts_charge_kw[j, t] - m.ts_discharge_kw[j, t]) * m.dt_h

    m.ts_soc_balance = pyo.Constraint(m.THERMAL_STORES, m.T, rule=store_balance)
    m.ts_final_soc = pyo.Constraint(
        m.THERMAL_STORES, rule=lambda m, j: m.ts_soc_kwh[j, m.T.last()] + m.ts_final_shortfall_kwh[j] >= m.ts_final_kwh[j])

    dump_buses = [b for b, bus in park.heat_buses.items() if bus.allow_dump]
    m.heat_dump_kw = pyo.Var(m.HEAT_BUSES, m.T, bounds=lambda m, b, t: (0, None if b in dump_buses else 0.0))
    m.heat_unserved_kw = pyo.Var(m.HEAT_BUSES, m.T, bounds=(0, None))

    def heat_balance(m, b, t):
        supply = (sum(m.hp_heat_kw[g, t] for g in m.HP_GROUPS if unit[g].heat_bus == b)
                  + sum(m.boiler_heat_kw[k, t] for k in m.BOILERS if boilers[k].heat_bus == b)
                  + sum(m.ts_discharge_kw[j, t] - m.ts_charge_kw[j, t] for j in m.THERMAL_STORES if stores[j].heat_bus == b))
        return supply + m.heat_unserved_kw[b, t] == m.heat_demand_kw[b, t] + m.heat_dump_kw[b, t]

    m.heat_balance = pyo.Constraint(m.HEAT_BUSES, m.T, rule=heat_balance)
    terms.electric_demand.append(
        lambda m, t: sum(m.hp_elec_kw[g, t] for g in m.HP_GROUPS) + sum(m.boiler_elec_kw[k, t] for k in m.BOILERS))
    terms.slack.append(lambda m: sum(m.heat_unserved_kw[b, t] for b in m.HEAT_BUSES for t in m.T) * m.dt_h
                       + sum(m.ts_final_shortfall_kwh[j] for j in m.THERMAL_STORES))
    if dump_buses:
        terms.cost.append(lambda m: HEAT_DUMP_PENALTY_CNY_PER_KWH * m.dt_h
                          * sum(m.heat_dump_kw[b, t] for b in dump_buses for t in m.T))
    m.ts_terminal_value_cny_per_kwh = pyo.Param(m.THERMAL_STORES, mutable=True, initialize=0.0)
    m.ts_terminal_co2_kg_per_kwh = pyo.Param(m.THERMAL_STORES, mutable=True, initialize=0.0)
    terms.cost.append(lambda m: -sum(m.ts_terminal_value_cny_per_kwh[j] * m.ts_soc_kwh[j, m.T.last()]
                                     for j in m.THERMAL_STORES))
    terms.co2.append(lambda m: -sum(m.ts_terminal_co2_kg_per_kwh[j] * m.ts_soc_kwh[j, m.T.last()]
                                    for j in m.THERMAL_STORES))


def set_heat_inputs(m: pyo.ConcreteModel, inputs: DispatchInputs, ends: dict) -> None:
    """Write heat demand, COPs, store retention and store states into the model.

    ``ends`` holds each store's end-of-horizon requirement and value
    (:func:`dispatch.model.end_of_horizon_values`).
    """
    if not hasattr(m, "HEAT_BUSES"):
        return
    set_series(m.heat_demand_kw, {b: inputs.heat_demand_kw[b].to_numpy() for b in m.HEAT_BUSES})
    set_series(m.hp_cop, {g: inputs.cop(g) for g in m.HP_GROUPS})
    for j in m.THERMAL_STORES:
        store = inputs.park.thermal_stores[j]
        m.ts_retention[j].set_value((1.0 - store.loss_frac_per_h) ** inputs.dt_h)
        m.ts_initial_kwh[j].set_value(inputs.initial_thermal_soc_kwh(j))
        m.ts_final_kwh[j].set_value(ends[j].final_kwh)
        m.ts_terminal_value_cny_per_kwh[j].set_value(ends[j].value_cny_per_kwh)
        m.ts_terminal_co2_kg_per_kwh[j].set_value(ends[j].co2_kg_per_kwh)
