"""The dispatch MILP, assembled by one builder per device family.

:func:`build_model` creates the structure of a horizon of ``n_steps`` steps
for a park: sets → variables and device constraints → balance → objective.
Every time-varying number (PV and wind available, loads, prices, step length, initial
state, month-to-date peak) is a mutable ``Param`` that :func:`set_inputs`
fills, so a rolling horizon updates numbers instead of rebuilding.

Notation: ``t`` a step of length ``Δt`` [h]; powers are step means [kW];
``soc[b, t]`` is the energy stored at the **end** of step ``t`` [kWh].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyomo.environ as pyo

from dispatch.flexible import (
    add_curtailable_loads,
    add_energy_loads,
    add_shiftable_loads,
    add_shiftable_processes,
    set_flexible_inputs,
)
from dispatch.heat import add_heat, set_heat_inputs
from dispatch.inputs import DispatchInputs
from dispatch.terms import Terms, set_series
from microgrid.errors import InvalidRequestError
from microgrid.messages import Message
from microgrid.park import Park

Objective = Literal["cost", "self_consumption", "co2"]
OBJECTIVES: tuple[str, ...] = ("cost", "self_consumption", "co2")
END_OF_HORIZON_RULES: tuple[str, ...] = ("value", "cyclic", "minimum")


@dataclass(frozen=True)
class DispatchConfig:
    """How to build and solve a dispatch model.

    Attributes
    ----------
    objective : {'cost', 'self_consumption', 'co2'}
        ``cost``: energy + demand charge − export revenue + battery wear (+ the
        cost of shed load, − the value left in stores). ``self_consumption``:
        most PV and wind used on site, then the least cost among plans within
        ``lexicographic_tolerance`` of that; ``co2``: least grid CO2, then least
        cost likewise. Each is two solves, the second with the first
        objective bounded, not a weighted sum.
    lexicographic_tolerance : float
        Relative slack allowed on the first objective in the second solve.
    energy_delivered_default : {'none', 'uncontrolled'}
        What an energy load's session in progress at the start is assumed to
        have received when the state does not say (see ``energy_sessions``).
    mip_gap : float
        Relative MIP gap at which HiGHS stops.
    time_limit_s : float
        Wall-clock limit of one solve [s].
    exclusivity : {'auto', 'always', 'never'}
        Binaries that forbid simultaneous charge/discharge and import/export.
        ``auto`` adds them only when they could change the optimum, see
        :func:`needs_exclusivity`.
    integer_horizon_h : float or None
        Keep on/off, unit and start decisions integer only for the steps that
        begin within this many hours of the horizon start; later ones are
        relaxed to their continuous range. A rolling horizon commits only its
        first steps, so the far end of each plan can be an LP estimate (a
        common MPC practice); ``None`` (default) keeps every step integer.
    lp_first : bool
        Solve the LP relaxation first and take it when its integer decisions
        come out integral (then it is the MIP's exact optimum, gap 0); else
        solve the MIP. Pays where few decisions are integer (an integer
        horizon of an hour or two in a rolling horizon); costs one LP where
        the relaxation is fractional.
    network : dispatch.network.NetworkSpec or None
        Network constraints to build in (linearized loading and voltage
        limits, losses at the PCC; :mod:`dispatch.network`), their numbers
        written by ``dispatch.network.set_network_inputs``. ``None``
        (default): the plan ignores the network. Set by
        :func:`dispatch.network_aware.plan_network_aware`.
    end_of_horizon : {'value', 'cyclic', 'minimum'}
        What the energy left in batteries and thermal stores at the end of
        the horizon is worth (see :func:`end_of_horizon_values`). ``value``
        (default): each kWh left is worth the import it displaces at the
        cheapest price of the 24 h after the horizon, through the discharge
        efficiency (for heat, through the best COP or boiler efficiency on the
        store's heat bus), in the cost objective and, as CO2, in the ``co2``
        objective; so a plan neither drains the stores for nothing nor hoards. ``cyclic``: each store must end at least where it
        started (priced slack if it cannot). ``minimum``: no value and no
        requirement (a store may end at its minimum), what a rolling horizon
        uses, whose look-ahead beyond the committed steps does that job. A
        device's own ``final_soc_frac`` is always required, and its
        ``terminal_value_cny_per_kwh``, when set, replaces the rule's value.
    solver_options : dict
        HiGHS options. The defaults switch off HiGHS's RINS and RENS sub-MIP
        heuristics and its restarts: on the full reference park they cut the
        median solve time about threefold (``bench/day_ahead.py``,
        docs/benchmarks.md); pass ``{}`` for HiGHS's own defaults.
    slack_cost_cny_per_kwh : float
        Least price of every slack (load not served, a battery ending below
        its ``final_soc_frac``). :func:`set_inputs` raises it, if needed, to ten
        times the most a kWh can save in the horizon (the dearest import price
        plus the demand charge of one kW over the shortest step), so that slack
        is only ever used for what cannot be met, never to save money.
    """

    objective: Objective = "cost"
    lexicographic_tolerance: float = 1e-6
    energy_delivered_default: Literal["none", "uncontrolled"] = "none"
    mip_gap: float = 1e-3
    time_limit_s: float = 30.0
    exclusivity: Literal["auto", "always", "never"] = "auto"
    slack_cost_cny_per_kwh: float = 1000.0
    integer_horizon_h: float | None = None
    lp_first: bool = False
    network: Any = None
    end_of_horizon: Literal["value", "cyclic", "minimum"] = "value"
    solver_options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SOLVER_OPTIONS))


DEFAULT_SOLVER_OPTIONS: dict[str, Any] = {
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_allow_restart": False,
}


def exclusive_steps(inputs: DispatchInputs) -> tuple[np.ndarray, np.ndarray]:
    """Steps at which opposite flows must be kept apart by binaries: (grid, batteries).

    The rule. Importing while exporting at the same meter only pays the
    spread ``price_export − price_import``, so it never occurs in a least-cost
    plan at a step where ``price_export < price_import``; it would pay where
    the export price is at or above the import price (with Henan's tariff:
    valley hours, when PV surplus could be sold at 0.3779 while the load is
    bought at 0.2542). Charging and discharging a battery at once only burns
    energy in its losses (η < 1) and wear, which pays only when energy has a
    negative price (``price_import < 0``); curtailment of PV is free, so
    surplus never needs burning. Binaries are therefore needed only at those
    steps (and, when only PV may be exported, only where there is PV);
    everywhere else the linear model is exact. The grid needs none when
    nothing may be exported (``anti_backflow`` or no export limit), nor under
    ``full_export``, whose import and export are metered apart and do flow at
    once (see :func:`grid_exclusivity_applies`).
    """
    imp = inputs.price_import_cny_per_kwh.to_numpy()
    exp = inputs.price_export_cny_per_kwh.to_numpy()
    grid = exp >= imp
    if not grid_exclusivity_applies(inputs.park):
        grid = np.zeros_like(grid)
    elif inputs.park.grid.export_pv_only:
        # Only PV and wind are exported: without them at a step, nothing can be exported there.
        grid &= inputs.total_renewable_available_kw.to_numpy() > 0
    return grid, imp < 0


def grid_exclusivity_applies(park: Park) -> bool:
    """Whether import and export at one step are worth forbidding: the park may export at one meter.

    False under ``anti_backflow`` or with no export limit (nothing is ever
    exported) and under ``full_export`` (the renewables' export meter is not
    the park's import meter: selling all PV while buying the load is the rule).
    """
    grid = park.grid
    return grid.export_limit_kw > 0 and grid.export_rule != "full_export"


def needs_exclusivity(inputs: DispatchInputs) -> bool:
    """Whether any step of the horizon needs exclusivity binaries (see :func:`exclusive_steps`)."""
    grid, batteries = exclusive_steps(inputs)
    return bool(grid.any() or (batteries.any() and inputs.park.batteries))


def add_sets(m: pyo.ConcreteModel, park: Park, n_steps: int) -> None:
    """Named sets: steps ``T``, and one set per device family."""
    m.T = pyo.RangeSet(0, n_steps - 1)
    m.PV = pyo.Set(initialize=list(park.pv_arrays), ordered=True)
    m.BATTERIES = pyo.Set(initialize=list(park.batteries), ordered=True)
    m.LOADS = pyo.Set(initialize=list(park.loads), ordered=True)
    m.dt_h = pyo.Param(mutable=True, initialize=0.25, within=pyo.PositiveReals)


def add_grid(m: pyo.ConcreteModel, park: Park, exclusive: bool) -> None:
    """Grid import and export within the connection's limits, and the new peak.

    .. math::
        0 ≤ import_t ≤ P^{imp},\\quad 0 ≤ export_t ≤ P^{exp},\\quad
        peak^{new} ≥ import_t + margin_t − P^{mtd}

    ``P^{exp}`` is ``grid.export_limit_kw``: ``max_export_kw``, or 0 under
    ``anti_backflow`` (防逆流), which so fixes the export at 0 at every step.
    ``margin_t`` is the headroom a plan on forecasts keeps for their errors
    (``DispatchInputs.peak_margin_kw``; 0 by default). The import/export
    binaries are built only where :func:`grid_exclusivity_applies`.
    """
    grid = park.grid
    m.price_import = pyo.Param(m.T, mutable=True, initialize=0.0)
    m.price_export = pyo.Param(m.T, mutable=True, initialize=0.0)
    m.month_to_date_peak_kw = pyo.Param(mutable=True, initialize=0.0)
    m.demand_charge_cny_per_kw = pyo.Param(mutable=True, initialize=0.0)
    m.grid_import_kw = pyo.Var(m.T, bounds=(0, grid.max_import_kw))
    m.grid_export_kw = pyo.Var(m.T, bounds=(0, grid.export_limit_kw))
    m.peak_margin_kw = pyo.Param(m.T, mutable=True, initialize=0.0)
    m.new_peak_kw = pyo.Var(bounds=(0, None))
    m.new_peak_def = pyo.Constraint(
        m.T, rule=lambda m, t: m.new_peak_kw >= m.grid_import_kw[t] + m.peak_margin_kw[t] - m.month_to_date_peak_kw)
    if exclusive and grid_exclusivity_applies(park):
        m.grid_importing = pyo.Var(m.T, domain=pyo.Binary)
        m.grid_import_exclusive = pyo.Constraint(
            m.T, rule=lambda m, t: m.grid_import_kw[t] <= grid.max_import_kw * m.grid_importing[t])
        m.grid_export_exclusive = pyo.Constraint(
            m.T, rule=lambda m, t: m.grid_export_kw[t] <= grid.export_limit_kw * (1 - m.grid_importing[t]))


def add_grid_limits(m: pyo.ConcreteModel, inputs: DispatchInputs, terms: Terms) -> None:
    """Per-step limits on the grid import from demand-response events, with priced slack.

    .. math::
        import_t ≤ cap_t + excess_t,\\quad import_t + deficit_t ≥ min_t

    The slack is priced at half the model's slack price: still above
    anything a kWh can save (so the plan meets an event wherever the park
    can), below load not served (so it never sheds load for an event). Built
    only when the inputs have limits (``DispatchInputs.has_grid_limits``).
    """
    if not inputs.has_grid_limits:
        return
    grid = inputs.park.grid
    m.import_cap_kw = pyo.Param(m.T, mutable=True, initialize=grid.max_import_kw)
    m.min_import_kw = pyo.Param(m.T, mutable=True, initialize=0.0)
    m.import_cap_excess_kw = pyo.Var(m.T, bounds=(0, None))
    m.min_import_deficit_kw = pyo.Var(m.T, bounds=(0, None))
    m.import_cap = pyo.Constraint(m.T, rule=lambda m, t: m.grid_import_kw[t] <= m.import_cap_kw[t] + m.import_cap_excess_kw[t])
    m.min_import = pyo.Constraint(m.T, rule=lambda m, t: m.grid_import_kw[t] + m.min_import_deficit_kw[t] >= m.min_import_kw[t])
    terms.slack.append(lambda m: 0.5 * sum(m.import_cap_excess_kw[t] + m.min_import_deficit_kw[t] for t in m.T) * m.dt_h)


def add_pv(m: pyo.ConcreteModel, park: Park) -> None:
    """PV used up to what is available; the rest is curtailed: ``0 ≤ pv_used ≤ pv_available``."""
    m.pv_available_kw = pyo.Param(m.PV, m.T, mutable=True, initialize=0.0)
    m.pv_used_kw = pyo.Var(m.PV, m.T, bounds=(0, None))
    m.pv_limit = pyo.Constraint(m.PV, m.T, rule=lambda m, a, t: m.pv_used_kw[a, t] <= m.pv_available_kw[a, t])


def add_wind(m: pyo.ConcreteModel, park: Park) -> None:
    """Wind used up to what is available, the rest curtailed, as PV: ``0 ≤ wind_used ≤ wind_available``.

    Also the park's renewable generation used at every step,
    ``renewable_used_kw[t] = Σ_a pv_{a,t} + Σ_w wind_{w,t}``, which the balance,
    the export rule and the self-consumption objective take.
    """
    m.WIND = pyo.Set(initialize=list(park.wind_turbines), ordered=True)
    m.wind_available_kw = pyo.Param(m.WIND, m.T, mutable=True, initialize=0.0)
    m.wind_used_kw = pyo.Var(m.WIND, m.T, bounds=(0, None))
    m.wind_limit = pyo.Constraint(m.WIND, m.T, rule=lambda m, w, t: m.wind_used_kw[w, t] <= m.wind_available_kw[w, t])
    m.renewable_used_kw = pyo.Expression(
        m.T, rule=lambda m, t: sum(m.pv_used_kw[a, t] for a in m.PV) + sum(m.wind_used_kw[w, t] for w in m.WIND))


def add_batteries(m: pyo.ConcreteModel, park: Park, exclusive: bool) -> None:
    """Battery power limits, SoC bounds, SoC balance and end-of-horizon target.

    .. math::
        soc_{b,t} = soc_{b,t-1} + (η^{ch}_b\\,ch_{b,t} − dis_{b,t}/η^{dis}_b)\\,Δt

        soc_{b,T} + short_b ≥ soc^{final}_b

    The energy left at the end is credited at ``battery_terminal_value`` in the
    cost and ``battery_terminal_co2`` in the CO2 objective (see
    :func:`end_of_horizon_values`).
    """
    if not park.batteries:
        return
    bats = park.batteries
    m.soc_initial_kwh = pyo.Param(m.BATTERIES, mutable=True, initialize=0.0)
    m.soc_final_kwh = pyo.Param(m.BATTERIES, mutable=True, initialize=0.0)
    m.battery_terminal_value_cny_per_kwh = pyo.Param(m.BATTERIES, mutable=True, initialize=0.0)
    m.battery_terminal_co2_kg_per_kwh = pyo.Param(m.BATTERIES, mutable=True, initialize=0.0)
    m.battery_charge_kw = pyo.Var(m.BATTERIES, m.T, bounds=lambda m, b, t: (0, bats[b].max_charge_kw))
    m.battery_discharge_kw = pyo.Var(m.BATTERIES, m.T, bounds=lambda m, b, t: (0, bats[b].max_discharge_kw))
    m.battery_soc_kwh = pyo.Var(m.BATTERIES, m.T, bounds=lambda m, b, t: (bats[b].min_soc_kwh, bats[b].max_soc_kwh))
    m.battery_final_shortfall_kwh = pyo.Var(m.BATTERIES, bounds=(0, None))

    def soc_balance(m, b, t):
        previous = m.soc_initial_kwh[b] if t == m.T.first() else m.battery_soc_kwh[b, t - 1]
        flow = bats[b].charge_efficiency * m.battery_charge_kw[b, t] - m.battery_discharge_kw[b, t] / bats[b].discharge_efficiency
        return m.battery_soc_kwh[b, t] == previous + flow * m.dt_h

    m.battery_soc_balance = pyo.Constraint(m.BATTERIES, m.T, rule=soc_balance)
    m.battery_final_soc = pyo.Constraint(
        m.BATTERIES, rule=lambda m, b: m.battery_soc_kwh[b, m.T.last()] + m.battery_final_shortfall_kwh[b] >= m.soc_final_kwh[b])
    if exclusive:
        m.battery_charging = pyo.Var(m.BATTERIES, m.T, domain=pyo.Binary)
        m.battery_charge_exclusive = pyo.Constraint(
            m.BATTERIES, m.T, rule=lambda m, b, t: m.battery_charge_kw[b, t] <= bats[b].max_charge_kw * m.battery_charging[b, t])
        m.battery_discharge_exclusive = pyo.Constraint(
            m.BATTERIES, m.T,
            rule=lambda m, b, t: m.battery_discharge_kw[b, t] <= bats[b].max_discharge_kw * (1 - m.battery_charging[b, t]))


def add_fixed_loads(m: pyo.ConcreteModel, park: Park) -> None:
    """Fixed loads as parameters, and the priced slack that leaves part of them unserved."""
    m.load_kw = pyo.Param(m.LOADS, m.T, mutable=True, initialize=0.0)
    m.unserved_kw = pyo.Var(m.T, bounds=(0, None))


def add_balance(m: pyo.ConcreteModel, terms: Terms) -> None:
    """Power balance of the park at every step.

    .. math::
        Σ_a pv_{a,t} + Σ_w wind_{w,t} + import_t + Σ_b dis_{b,t} + unserved_t
        = Σ_l load_{l,t} + flex_t + Σ_b ch_{b,t} + export_t

    ``flex_t`` is what the heat and flexible-load builders consume (``terms``).
    """
    m.consumption_kw = pyo.Expression(
        m.T, rule=lambda m, t: sum(m.load_kw[l, t] for l in m.LOADS) + sum(f(m, t) for f in terms.electric_demand))

    def balance(m, t):
        supply = m.renewable_used_kw[t] + m.grid_import_kw[t] + m.unserved_kw[t]
        demand = m.consumption_kw[t] + m.grid_export_kw[t]
        if m.BATTERIES:
            supply += sum(m.battery_discharge_kw[b, t] for b in m.BATTERIES)
            demand += sum(m.battery_charge_kw[b, t] for b in m.BATTERIES)
        return supply == demand

    m.power_balance = pyo.Constraint(m.T, rule=balance)
    m.unserved_limit = pyo.Constraint(m.T, rule=lambda m, t: m.unserved_kw[t] <= m.consumption_kw[t])


def renewable_used_kw(m: pyo.ConcreteModel, t: int):
    """Renewable generation used (not curtailed) at step ``t`` [kW]: ``Σ_a pv_{a,t} + Σ_w wind_{w,t}``.

    The one sum the export rules are written on (:func:`add_export_rule`),
    the expression :func:`add_wind` builds.
    """
    return m.renewable_used_kw[t]


def add_export_rule(m: pyo.ConcreteModel, park: Park) -> None:
    """The export rule of the park (``grid.export_rule``), at every step, with ``R_t`` = :func:`renewable_used_kw`.

    .. math::
        surplus\\_to\\_grid:\\ export_t ≤ R_t \\ (\\text{with } export\\_pv\\_only),\\quad
        full\\_export:\\ export_t = R_t,\\quad
        anti\\_backflow:\\ export_t = 0

    ``surplus_to_grid`` (自发自用、余电上网): the balance serves the park
    first, and the export never exceeds the renewables used, so no battery
    sells to the grid (``export_pv_only: false`` drops the bound).
    ``full_export`` (全额上网): every kW of renewables used is exported, so by
    the power balance none serves the load or charges a battery, which the
    import does; what exceeds ``max_export_kw`` is curtailed.
    ``anti_backflow`` (防逆流): the export's bounds are (0, 0)
    (:func:`add_grid`); the surplus storage and flexible loads cannot take is
    curtailed.
    """
    rule = park.grid.export_rule
    if rule == "full_export":
        m.export_all_renewables = pyo.Constraint(m.T, rule=lambda m, t: m.grid_export_kw[t] == renewable_used_kw(m, t))
    elif rule == "surplus_to_grid" and park.grid.export_pv_only:
        m.export_from_renewables = pyo.Constraint(m.T, rule=lambda m, t: m.grid_export_kw[t] <= renewable_used_kw(m, t))


#: Objective credit for every kWh of PV and wind used, less what the batteries take in net [CNY/kWh]. Not a
#: price (the KPIs do not count it): a tie-break that makes the least-cost plan, of plans that cost the same,
#: the one that curtails least, e.g. an electric boiler rather than a heat pump on surplus that would
#: otherwise be curtailed. Net of the batteries' net charge, so that burning surplus in a battery's losses
#: (charging and discharging at once) earns nothing; below the heat-dump penalty
#: (``dispatch.heat.HEAT_DUMP_PENALTY_CNY_PER_KWH``), so heat made of surplus is never made to be vented.
RENEWABLE_USE_CREDIT_CNY_PER_KWH = 0.001


def add_objectives(m: pyo.ConcreteModel, park: Park, terms: Terms) -> None:
    """The three objectives and the bounds that make them lexicographic.

    ``cost_cny`` = energy cost − export revenue + battery wear + demand charge
    + device costs (shed load) − value left in stores − a tie-break credit of
    :data:`RENEWABLE_USE_CREDIT_CNY_PER_KWH` per kWh of PV and wind used net of
    the batteries' charge − discharge (parks with PV or wind); ``renewable_onsite_kwh``
    = PV and wind neither exported nor curtailed; ``co2_kg`` = Σ_t import_t × f_t × Δt (f_t the step's grid factor)
    − the CO2 credited to the energy left in stores. ``slack_kwh`` is every
    requirement not met, in kWh (a missed batch run counts its energy), and
    every objective adds it at ``slack_cost_cny_per_kwh``; ``objective_slack``
    minimizes it alone. One objective is active at a time; ``lex_*_bound``
    constraints (inactive by default) hold an earlier stage of a
    lexicographic solve near its optimum (see ``DispatchModel.plan``): the
    least slack first where slack is needed, then the objective, then, for
    ``self_consumption`` and ``co2``, the least cost.
    """
    bats = park.batteries
    m.slack_cost_cny_per_kwh = pyo.Param(mutable=True, initialize=1000.0)
    m.co2_kg_per_kwh = pyo.Param(m.T, mutable=True, initialize=park.tariff.co2_kg_per_kwh)

    def cost(m):
        energy = sum((m.price_import[t] * m.grid_import_kw[t] - m.price_export[t] * m.grid_export_kw[t]) * m.dt_h for t in m.T)
        wear = sum(
            bats[b].throughput_cost_cny_per_kwh * (m.battery_charge_kw[b, t] + m.battery_discharge_kw[b, t]) * m.dt_h
            for b in m.BATTERIES for t in m.T
        )
        stored = sum(m.battery_terminal_value_cny_per_kwh[b] * m.battery_soc_kwh[b, m.T.last()] for b in m.BATTERIES)
        used = 0.0
        if park.pv_arrays or park.wind_turbines:
            used = RENEWABLE_USE_CREDIT_CNY_PER_KWH * m.dt_h * sum(
                m.renewable_used_kw[t] - sum(m.battery_charge_kw[b, t] - m.battery_discharge_kw[b, t] for b in m.BATTERIES)
                for t in m.T)
        return (energy + wear - stored - used + m.demand_charge_cny_per_kw * m.new_peak_kw
                + sum(f(m) for f in terms.cost))

    def slack(m):
        quantity = sum(m.unserved_kw[t] for t in m.T) * m.dt_h + sum(f(m) for f in terms.slack)
        if m.BATTERIES:
            quantity += sum(m.battery_final_shortfall_kwh[b] for b in m.BATTERIES)
        return quantity

    def co2(m):
        credit = sum(m.battery_terminal_co2_kg_per_kwh[b] * m.battery_soc_kwh[b, m.T.last()] for b in m.BATTERIES)
        grid = sum(m.co2_kg_per_kwh[t] * m.grid_import_kw[t] for t in m.T) * m.dt_h
        return grid - credit + sum(f(m) for f in terms.co2)

    m.cost_cny = pyo.Expression(rule=cost)
    m.slack_kwh = pyo.Expression(rule=slack)
    m.slack_penalty = pyo.Expression(expr=m.slack_cost_cny_per_kwh * m.slack_kwh)
    m.renewable_onsite_kwh = pyo.Expression(
        rule=lambda m: sum(m.renewable_used_kw[t] - m.grid_export_kw[t] for t in m.T) * m.dt_h)
    m.grid_import_kwh = pyo.Expression(rule=lambda m: sum(m.grid_import_kw[t] for t in m.T) * m.dt_h)
    m.co2_kg = pyo.Expression(rule=co2)
    m.objective_cost = pyo.Objective(expr=m.cost_cny + m.slack_penalty, sense=pyo.minimize)
    m.objective_self_consumption = pyo.Objective(expr=-m.renewable_onsite_kwh + m.slack_penalty, sense=pyo.minimize)
    m.objective_co2 = pyo.Objective(expr=m.co2_kg + m.slack_penalty, sense=pyo.minimize)
    m.objective_slack = pyo.Objective(expr=m.slack_kwh, sense=pyo.minimize)
    m.objective_self_consumption.deactivate()
    m.objective_co2.deactivate()
    m.objective_slack.deactivate()
    m.lex_bound = pyo.Param(mutable=True, initialize=0.0)
    m.lex_renewable_onsite_bound = pyo.Constraint(expr=m.renewable_onsite_kwh >= m.lex_bound)
    m.lex_co2_bound = pyo.Constraint(expr=m.co2_kg <= m.lex_bound)
    m.lex_slack_bound_kwh = pyo.Param(mutable=True, initialize=0.0)
    m.lex_slack_bound = pyo.Constraint(expr=m.slack_kwh <= m.lex_slack_bound_kwh)
    m.lex_slack_bound.deactivate()
    m.lex_renewable_onsite_bound.deactivate()
    m.lex_co2_bound.deactivate()


def build_model(inputs: DispatchInputs, config: DispatchConfig, exclusive: bool) -> pyo.ConcreteModel:
    """Structure of the horizon of ``inputs``; numbers come from :func:`set_inputs`.

    The structure depends on the park, the number of steps and, for batch
    processes and energy-constrained loads, on where their daily windows fall
    in the horizon; everything else is a mutable parameter.
    """
    park = inputs.park
    terms = Terms()
    m = pyo.ConcreteModel(name="park_dispatch")
    add_sets(m, park, inputs.n_steps)
    add_grid(m, park, exclusive)
    add_grid_limits(m, inputs, terms)
    add_pv(m, park)
    add_wind(m, park)
    add_batteries(m, park, exclusive)
    add_fixed_loads(m, park)
    add_heat(m, inputs, terms)
    add_shiftable_processes(m, inputs, terms)
    add_energy_loads(m, inputs, terms, config.energy_delivered_default)
    add_curtailable_loads(m, inputs, terms)
    add_shiftable_loads(m, inputs, terms)
    if config.network is not None:
        from dispatch.network import add_network

        add_network(m, inputs, terms, config.network)
    add_balance(m, terms)
    add_export_rule(m, park)
    add_objectives(m, park, terms)
    return m


INTEGER_VARIABLES = ("hp_units_on", "process_start", "shedding", "grid_importing", "battery_charging")
"""Integer variables indexed by (…, step), in every model that has them."""


def relax_far_integers(m: pyo.ConcreteModel, first_relaxed_step: int) -> None:
    """Relax on/off, unit and start decisions of steps ≥ ``first_relaxed_step`` to their continuous range.

    Steps before keep their integer domain. (The exclusivity binaries are set
    window by window in :func:`set_inputs`.) Nothing is done when the model is
    already relaxed from that step.
    """
    if getattr(m, "_relaxed_from", None) == first_relaxed_step:
        return
    integer = {"hp_units_on": pyo.NonNegativeIntegers, "process_start": pyo.Binary, "shedding": pyo.Binary}
    relaxed = {"hp_units_on": pyo.NonNegativeReals, "process_start": pyo.UnitInterval, "shedding": pyo.UnitInterval}
    for name in integer:
        var = getattr(m, name, None)
        if var is None:
            continue
        for index, v in var.items():
            t = index[-1] if isinstance(index, tuple) else index
            v.domain = integer[name] if t < first_relaxed_step else relaxed[name]
    m._relaxed_from = first_relaxed_step


@dataclass(frozen=True)
class StoreEnd:
    """What a store must hold at the end of the horizon, and what each kWh left is worth.

    ``final_kwh`` [kWh] is required (priced slack below it); every kWh left at
    the end is credited ``value_cny_per_kwh`` [CNY/kWh] in the cost objective
    and ``co2_kg_per_kwh`` [kg/kWh] in the CO2 objective.
    """

    final_kwh: float
    value_cny_per_kwh: float
    co2_kg_per_kwh: float


def end_of_horizon_values(inputs: DispatchInputs, rule: str = "value") -> dict[str, StoreEnd]:
    """The end-of-horizon requirement and value of every battery and thermal store (see ``DispatchConfig.end_of_horizon``).

    With ``rule='value'`` a kWh left in a battery is worth the import it
    displaces when it is discharged at the next day's cheapest price:
    ``p_min · η_dis`` [CNY/kWh], ``p_min`` being the cheapest import price of
    the 24 h after the horizon ends (the tariff's,
    ``DispatchInputs.next_day_cheapest_price_cny_per_kwh``); a kWh bought at
    ``p_min`` is so worth ``p_min`` through the round-trip efficiency
    ``η_ch · η_dis``. CO2 likewise: ``f · η_dis`` [kg/kWh], ``f`` the grid
    factor (its cleanest hour under an hourly profile). A kWh of heat left in a thermal store is worth ``p_min / c`` and
    ``f / c``, ``c`` being the best heat per kWh of electricity on its heat
    bus: the highest COP of its heat pumps over the horizon's last 24 h, or a
    boiler's efficiency (no value where the bus has neither). So charging just
    to end fuller never pays (it costs ``p ≥ p_min`` per kWh bought and
    earns ``p_min`` through the losses), and a store is drained at the end
    only where its energy displaces imports dearer than tomorrow's cheapest.
    ``cyclic``: each store must end at least at its initial content (capped at
    its maximum), no value. ``minimum``: the store's minimum, no value. A
    device's ``final_soc_frac`` overrides the requirement, its
    ``terminal_value_cny_per_kwh`` the value in CNY (its CO2 credit is then 0).
    """
    if rule not in END_OF_HORIZON_RULES:
        raise InvalidRequestError(Message("end_of_horizon: unknown {rule!r}; choose one of {rules}",
                                          rule=rule, rules=', '.join(END_OF_HORIZON_RULES)))
    park = inputs.park
    price = inputs.next_day_cheapest_price_cny_per_kwh if rule == "value" else 0.0
    factor = park.carbon.grid.lowest_co2_kg_per_kwh if rule == "value" else 0.0
    out: dict[str, StoreEnd] = {}

    def end(store, initial_kwh: float, per_kwh_stored: float) -> StoreEnd:
        if store.final_soc_frac is not None:
            final = store.final_soc_frac * store.capacity_kwh
        elif rule == "cyclic":
            final = min(initial_kwh, store.max_soc_kwh)
        else:
            final = store.min_soc_kwh
        if store.terminal_value_cny_per_kwh is not None:
            return StoreEnd(final, store.terminal_value_cny_per_kwh, 0.0)
        return StoreEnd(final, price * per_kwh_stored, factor * per_kwh_stored)

    for b, battery in park.batteries.items():
        out[b] = end(battery, inputs.initial_soc_kwh(b), battery.discharge_efficiency)
    if park.thermal_stores:
        last_day = slice(max(0, inputs.n_steps - int(round(24.0 / inputs.dt_h))), inputs.n_steps)
        best: dict[str, float] = {}
        for h, hp in park.heat_pumps.items():
            best[hp.heat_bus] = max(best.get(hp.heat_bus, 0.0), float(np.max(inputs.cop(h)[last_day], initial=0.0)))
        for boiler in park.electric_boilers.values():
            best[boiler.heat_bus] = max(best.get(boiler.heat_bus, 0.0), boiler.efficiency)
        for j, store in park.thermal_stores.items():
            conversion = best.get(store.heat_bus, 0.0)
            out[j] = end(store, inputs.initial_thermal_soc_kwh(j), 1.0 / conversion if conversion > 0 else 0.0)
    return out


def set_inputs(m: pyo.ConcreteModel, inputs: DispatchInputs, config: DispatchConfig) -> None:
    """Write a horizon's numbers into the model's mutable parameters.

    Where the model has exclusivity binaries, they are binary only at the steps
    :func:`exclusive_steps` selects and relaxed to [0, 1] elsewhere (exact
    there, see its docstring), so the structure does not change between horizons.
    """
    if inputs.n_steps != len(m.T):
        raise ValueError(Message("model has {model_steps} steps, inputs have {n_steps}", model_steps=len(m.T),
                                 n_steps=inputs.n_steps))
    m.dt_h.set_value(inputs.dt_h)
    most_saved = float(np.abs(inputs.price_import_cny_per_kwh.to_numpy()).max(initial=0.0)
                       + np.abs(inputs.price_export_cny_per_kwh.to_numpy()).max(initial=0.0)
                       + inputs.demand_charge_cny_per_kw / inputs.dt_h)
    m.slack_cost_cny_per_kwh.set_value(max(config.slack_cost_cny_per_kwh, 10.0 * most_saved))
    grid_binary, battery_binary = exclusive_steps(inputs)
    if config.exclusivity == "always":
        grid_binary = np.ones_like(grid_binary)
        battery_binary = np.ones_like(battery_binary)
    n = inputs.n_steps
    first_relaxed = n if config.integer_horizon_h is None else int(np.ceil(config.integer_horizon_h / inputs.dt_h - 1e-9))
    integer_step = np.arange(n) < first_relaxed
    if hasattr(m, "grid_importing"):
        for t in m.T:
            m.grid_importing[t].domain = pyo.Binary if grid_binary[t] and integer_step[t] else pyo.UnitInterval
    if hasattr(m, "battery_charging"):
        for b in m.BATTERIES:
            for t in m.T:
                m.battery_charging[b, t].domain = pyo.Binary if battery_binary[t] and integer_step[t] else pyo.UnitInterval
    relax_far_integers(m, first_relaxed)
    set_series(m.price_import, inputs.price_import_cny_per_kwh.to_numpy())
    set_series(m.price_export, inputs.price_export_cny_per_kwh.to_numpy())
    set_series(m.co2_kg_per_kwh, inputs.co2_kg_per_kwh.to_numpy())
    m.month_to_date_peak_kw.set_value(inputs.month_to_date_peak_or_zero_kw)
    set_series(m.peak_margin_kw, inputs.peak_margin_kw)
    if hasattr(m, "import_cap_kw"):
        if not inputs.has_grid_limits:
            raise ValueError(Message("the model has demand-response limits; give import_cap_kw or min_import_kw"))
        cap = inputs.import_cap_kw if inputs.import_cap_kw is not None else np.full(inputs.n_steps, np.inf)
        set_series(m.import_cap_kw, np.minimum(cap, inputs.park.grid.max_import_kw))
        set_series(m.min_import_kw, inputs.min_import_kw if inputs.min_import_kw is not None
                   else np.zeros(inputs.n_steps))
    m.demand_charge_cny_per_kw.set_value(inputs.demand_charge_cny_per_kw)
    set_series(m.pv_available_kw, {a: inputs.pv_available_kw[a].to_numpy() for a in m.PV})
    set_series(m.wind_available_kw, {w: inputs.wind_available_kw[w].to_numpy() for w in m.WIND})
    set_series(m.load_kw, {l: inputs.load_kw[l].to_numpy() for l in m.LOADS})
    ends = end_of_horizon_values(inputs, config.end_of_horizon)
    for b in m.BATTERIES:
        m.soc_initial_kwh[b].set_value(inputs.initial_soc_kwh(b))
        m.soc_final_kwh[b].set_value(ends[b].final_kwh)
        m.battery_terminal_value_cny_per_kwh[b].set_value(ends[b].value_cny_per_kwh)
        m.battery_terminal_co2_kg_per_kwh[b].set_value(ends[b].co2_kg_per_kwh)
    set_heat_inputs(m, inputs, ends)
    set_flexible_inputs(m, inputs, config.energy_delivered_default)
