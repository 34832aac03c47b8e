"""Network constraints in the dispatch MILP: linearized loading and voltage limits, and losses at the PCC.

The AC power flow is not linear, so the MILP carries its linearization around
an operating point (:class:`microgrid.network.Linearization`, forward
differences of pandapower/lightsim2grid power flows), and
:mod:`dispatch.network_aware` iterates: solve, AC-check, re-linearize,
tighten what was violated.

Every controlled device quantity is a schedule column ``c`` (``pv_ws1.used_kw``,
``wt1.used_kw``, ``b2.charge_kw``, ``trucks.load_kw``...) equal to ``offset_{c,t} + σ_c x_{c,t}``, with ``x`` a
model variable (or a linear expression of variables) and ``offset`` known
data (a curtailable load's baseline, of which ``x`` is the shed part,
``σ = −1``). For every constrained quantity ``q`` (a bus voltage [p.u.], a
line's or transformer's loading [%]) and step ``t``:

.. math::
    \\underline{y}_q + τ^{lo}_{q,t} ≤ b_{q,t} + Σ_c a_{q,c,t}\\, x_{c,t} + σ_q\\, s_{q,t} ≤ \\overline{y}_q − τ^{hi}_{q,t}

    a_{q,c,t} = σ_c\\, \\frac{∂y_q}{∂c}\\Big|_{t},\\qquad b_{q,t} = y^0_{q,t} − Σ_c a_{q,c,t}\\, x^0_{c,t}

and the losses enter the power balance at the point of common coupling as
a demand

.. math::
    loss_t = l_t + Σ_c λ_{c,t}\\, x_{c,t},\\qquad l_t = loss^0_t − Σ_c λ_{c,t}\\, x^0_{c,t}.

``a``, ``b``, ``λ``, ``l``, the bounds (limits less the tightening ``τ``)
are mutable parameters, so a re-linearization updates numbers only; which
quantities are constrained is structure (:class:`NetworkSpec`), and at steps
where a quantity cannot reach its limit (:func:`screen`) its row is
deactivated. A loading row is two-sided (``−max ≤ loading ≤ max``): the
linearization of ``|flow|`` at a point carries the flow's sign, so the lower
side bounds the same flow in the opposite direction. ``s ≥ 0`` is priced
slack (``σ_q = −1`` relaxes a loading limit, ``+1`` a lower voltage limit),
so that limits the devices cannot meet (a fixed load alone overloading a
transformer) give a plan with the shortfall reported, never an infeasible
model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from dispatch.heat import heat_pump_groups
from dispatch.inputs import DispatchInputs
from dispatch.terms import Terms, set_series
from microgrid.messages import Message
from microgrid.network import Linearization
from microgrid.park import Park

#: Margins of :func:`screen`: a row is kept where the linear model over the
#: devices' whole ranges comes this close to a limit [% of loading, p.u.].
SCREEN_MARGIN = {"loading_pct": 10.0, "vm_pu": 0.01}


@dataclass(frozen=True)
class Column:
    """A controlled schedule column: ``value = offset + sign · x`` with ``x`` a model variable (expression).

    ``var`` names the model component, ``key`` its index without the step;
    ``kind`` says how to read ``x`` (``var``: ``m.<var>[key, t]``;
    ``process``: the runs started, without a run already in progress).
    ``members`` are the schedule columns that ``x`` adds up (identical heat
    pumps modelled as one group); the column differentiated is the first.
    """

    name: str
    var: str
    key: str
    sign: float = 1.0
    kind: str = "var"
    members: tuple[str, ...] = ()


def controlled_columns(park: Park) -> list[Column]:
    """Every schedule column the optimizer moves, in a fixed order."""
    cols = [Column(f"{a}.used_kw", "pv_used_kw", a) for a in park.pv_arrays]
    cols += [Column(f"{w}.used_kw", "wind_used_kw", w) for w in park.wind_turbines]
    for b in park.batteries:
        cols += [Column(f"{b}.charge_kw", "battery_charge_kw", b), Column(f"{b}.discharge_kw", "battery_discharge_kw", b)]
    for g, members in heat_pump_groups(park).items():
        cols.append(Column(f"{g}.elec_kw", "hp_elec_kw", g, members=tuple(f"{h}.elec_kw" for h in members)))
    cols += [Column(f"{k}.elec_kw", "boiler_elec_kw", k) for k in park.electric_boilers]
    cols += [Column(f"{p}.load_kw", "process_start", p, kind="process") for p in park.shiftable_processes]
    cols += [Column(f"{f}.load_kw", "energy_load_kw", f) for f in park.energy_loads]
    cols += [Column(f"{c}.load_kw", "shed_kw", c, sign=-1.0) for c in park.curtailable_loads]
    cols += [Column(f"{e}.load_kw", "shiftable_kw", e) for e in park.shiftable_loads]
    return cols


def column_offsets_kw(columns: list[Column], inputs: DispatchInputs) -> np.ndarray:
    """``offset_{c,t}`` of every column ``(steps, C)`` [kW]: the data part of its value."""
    from dispatch.flexible import process_forced_kw

    out = np.zeros((inputs.n_steps, len(columns)))
    forced = process_forced_kw(inputs) if inputs.park.shiftable_processes else {}
    for k, c in enumerate(columns):
        if c.var == "shed_kw":
            out[:, k] = inputs.curtailable_base_kw[c.key].to_numpy()
        elif c.kind == "process":
            out[:, k] = forced[c.key]
    return out


def variable_values(columns: list[Column], schedule: pd.DataFrame, offsets_kw: np.ndarray) -> np.ndarray:
    """``x_{c,t}`` of a schedule ``(steps, C)``: its columns less their offsets, over their signs."""
    values = np.column_stack([
        schedule[list(c.members)].sum(axis=1).to_numpy(dtype=float) if c.members
        else schedule[c.name].to_numpy(dtype=float) for c in columns]) if columns else np.zeros((len(schedule), 0))
    return (values - offsets_kw) / np.array([c.sign for c in columns])


def variable_ranges(columns: list[Column], inputs: DispatchInputs) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest ``x_{c,t}`` the devices allow ``(steps, C)``, ignoring every coupling (for screening)."""
    park, n = inputs.park, inputs.n_steps
    groups = heat_pump_groups(park)
    low, high = np.zeros((n, len(columns))), np.zeros((n, len(columns)))
    for k, c in enumerate(columns):
        if c.var == "pv_used_kw":
            high[:, k] = inputs.pv_available_kw[c.key].to_numpy()
        elif c.var == "wind_used_kw":
            high[:, k] = inputs.wind_available_kw[c.key].to_numpy()
        elif c.var == "battery_charge_kw":
            high[:, k] = park.batteries[c.key].max_charge_kw
        elif c.var == "battery_discharge_kw":
            high[:, k] = park.batteries[c.key].max_discharge_kw
        elif c.var == "hp_elec_kw":
            high[:, k] = len(groups[c.key]) * park.heat_pumps[c.key].max_elec_kw
        elif c.var == "boiler_elec_kw":
            high[:, k] = park.electric_boilers[c.key].max_elec_kw
        elif c.kind == "process":
            high[:, k] = max(park.shiftable_processes[c.key].profile_on_steps(inputs.dt_h))
        elif c.var == "energy_load_kw":
            high[:, k] = park.energy_loads[c.key].max_kw
        elif c.var == "shed_kw":
            high[:, k] = np.minimum(inputs.curtailable_base_kw[c.key].to_numpy(), park.curtailable_loads[c.key].max_shed_kw)
        elif c.var == "shiftable_kw":
            high[:, k] = park.shiftable_loads[c.key].max_kw
    return low, np.clip(high, 0.0, None)


@dataclass(frozen=True)
class NetworkSpec:
    """The structure of a model's network constraints.

    Attributes
    ----------
    quantities : tuple
        ``(element, name, quantity)`` of every constrained quantity (see
        :class:`microgrid.network.Linearization`).
    lower, upper : tuple of float
        Their limits (loading: ``−max``, ``max``).
    slack_kw_per_unit : tuple of float
        The kW of the most effective device that moves each quantity by one
        unit (1 % of loading, 1 p.u.) at the linearization the model was
        built from: slack of one unit for one step is priced as that many kW
        over the step, at the model's ``slack_cost_cny_per_kwh``.
    losses : bool
        Whether the linearized losses enter the power balance.
    """

    quantities: tuple[tuple[str, str, str], ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    slack_kw_per_unit: tuple[float, ...]
    losses: bool = True


def coefficients(columns: list[Column], linearization: Linearization) -> tuple[np.ndarray, np.ndarray]:
    """``a = σ_c ∂y/∂c`` ``(steps, Q_all, C)`` and ``λ = σ_c ∂loss/∂c`` ``(steps, C)`` of a linearization."""
    if [c.name if not c.members else c.members[0] for c in columns] != linearization.columns:
        raise ValueError(Message("the linearization was taken against other columns than the model's"))
    sign = np.array([c.sign for c in columns])
    return linearization.sens * sign, linearization.loss_sens * sign


def linearization_columns(columns: list[Column]) -> list[str]:
    """The schedule column differentiated for each model column (a group's first member)."""
    return [c.members[0] if c.members else c.name for c in columns]


def make_spec(rows: "LinearRows", selected: list[int], losses: bool = True) -> NetworkSpec:
    """A :class:`NetworkSpec` for the quantities ``selected`` (indices into ``rows.quantities``)."""
    a, linearization = rows.a, rows
    weights = []
    for q in selected:
        strongest = float(np.abs(a[:, q, :]).max(initial=0.0))
        weights.append(1.0 / strongest if strongest > 1e-9 else 1.0)
    return NetworkSpec(quantities=tuple(linearization.quantities[q] for q in selected),
                       lower=tuple(float(linearization.lower[q]) for q in selected),
                       upper=tuple(float(linearization.upper[q]) for q in selected),
                       slack_kw_per_unit=tuple(weights), losses=losses)


@dataclass
class LinearRows:
    """The numbers of every monitored quantity's row at every step, in model variables.

    ``a`` ``(steps, Q, C)`` and ``base`` ``(steps, Q)`` of the rows
    ``base + Σ_c a_c x_c``; ``loss_coef`` ``(steps, C)`` and
    ``loss_base_kw`` ``(steps,)`` of the losses; ``converged`` ``(steps,)``;
    ``quantities``, ``lower`` and ``upper`` as in the linearization.
    """

    quantities: list[tuple[str, str, str]]
    lower: np.ndarray
    upper: np.ndarray
    a: np.ndarray
    base: np.ndarray
    loss_coef: np.ndarray
    loss_base_kw: np.ndarray
    converged: np.ndarray

    @classmethod
    def from_linearization(cls, columns: list[Column], linearization: Linearization, x0: np.ndarray) -> "LinearRows":
        """Rows of a linearization whose operating point has the model variables ``x0`` (:func:`variable_values`)."""
        a, lam = coefficients(columns, linearization)
        return cls(quantities=list(linearization.quantities), lower=linearization.lower, upper=linearization.upper,
                   a=a, base=linearization.value - np.einsum("tqc,tc->tq", a, x0), loss_coef=lam,
                   loss_base_kw=linearization.losses_kw - np.einsum("tc,tc->t", lam, x0),
                   converged=linearization.converged.copy())

    def update(self, other: "LinearRows", rows: np.ndarray) -> None:
        """Take ``other``'s rows where ``rows`` ``(steps, Q)``, and all of its losses."""
        self.a[rows] = other.a[rows]
        self.base[rows] = other.base[rows]
        self.loss_coef, self.loss_base_kw, self.converged = other.loss_coef, other.loss_base_kw, other.converged


def screen(columns: list[Column], inputs: DispatchInputs, rows: LinearRows,
           tighten_lower: np.ndarray | None = None, tighten_upper: np.ndarray | None = None) -> np.ndarray:
    """Which quantities could reach a limit at which step ``(steps, Q)`` under the linear model.

    Over the devices' whole ranges (:func:`variable_ranges`, every coupling
    ignored, so this keeps more than needed, never less under the linear
    model), the linearized quantity's range at each step is compared with its
    limits less the tightening and :data:`SCREEN_MARGIN`.
    """
    a = rows.a
    low, high = variable_ranges(columns, inputs)
    top = rows.base + np.einsum("tqc,tc->tq", np.clip(a, 0, None), high) + np.einsum("tqc,tc->tq", np.clip(a, None, 0), low)
    bottom = rows.base + np.einsum("tqc,tc->tq", np.clip(a, 0, None), low) + np.einsum("tqc,tc->tq", np.clip(a, None, 0), high)
    margin = np.array([SCREEN_MARGIN[q[2]] for q in rows.quantities])
    shape = rows.base.shape
    tl = np.zeros(shape) if tighten_lower is None else tighten_lower
    tu = np.zeros(shape) if tighten_upper is None else tighten_upper
    could = (top >= rows.upper - tu - margin) | (bottom <= rows.lower + tl + margin)
    return could & rows.converged[:, None]


def _x(m: pyo.ConcreteModel, column: Column, t: int, profiles: dict, starts: dict):
    if column.kind == "process":
        q = profiles[column.key]
        return sum(q[t - tau] * m.process_start[column.key, tau] for tau in starts.get(column.key, ())
                   if 0 <= t - tau < len(q))
    return getattr(m, column.var)[column.key, t]


def add_network(m: pyo.ConcreteModel, inputs: DispatchInputs, terms: Terms, spec: NetworkSpec) -> None:
    """Linearized loading and voltage limits of the constrained quantities, and losses at the PCC.

    See the module docstring for the equations. Every row starts
    deactivated and every parameter at zero: :func:`set_network_inputs`
    writes a linearization in.
    """
    park = inputs.park
    columns = controlled_columns(park)
    m.NET_COLUMNS = pyo.Set(initialize=range(len(columns)), ordered=True)
    m.NET_QUANTITIES = pyo.Set(initialize=range(len(spec.quantities)), ordered=True)
    profiles = {p: park.shiftable_processes[p].profile_on_steps(inputs.dt_h) for p in park.shiftable_processes}
    starts: dict[str, list[int]] = {}
    if hasattr(m, "PROCESS_STARTS"):
        for p, tau in m.PROCESS_STARTS:
            starts.setdefault(p, []).append(tau)
    m.net_x = pyo.Expression(m.NET_COLUMNS, m.T, rule=lambda m, c, t: _x(m, columns[c], t, profiles, starts))
    m.net_coef = pyo.Param(m.NET_QUANTITIES, m.NET_COLUMNS, m.T, mutable=True, initialize=0.0)
    m.net_base = pyo.Param(m.NET_QUANTITIES, m.T, mutable=True, initialize=0.0)
    m.net_lower = pyo.Param(m.NET_QUANTITIES, m.T, mutable=True, initialize=0.0)
    m.net_upper = pyo.Param(m.NET_QUANTITIES, m.T, mutable=True, initialize=0.0)
    m.net_slack = pyo.Var(m.NET_QUANTITIES, m.T, bounds=(0, None))
    slack_sign = [-1.0 if q[2] == "loading_pct" else 1.0 for q in spec.quantities]

    def limit(m, q, t):
        body = m.net_base[q, t] + sum(m.net_coef[q, c, t] * m.net_x[c, t] for c in m.NET_COLUMNS) \
            + slack_sign[q] * m.net_slack[q, t]
        return pyo.inequality(m.net_lower[q, t], body, m.net_upper[q, t])

    m.network_limit = pyo.Constraint(m.NET_QUANTITIES, m.T, rule=limit)
    m.network_limit.deactivate()
    weights = spec.slack_kw_per_unit
    terms.slack.append(lambda m: sum(weights[q] * m.net_slack[q, t] for q in m.NET_QUANTITIES for t in m.T) * m.dt_h)
    m.net_loss_base_kw = pyo.Param(m.T, mutable=True, initialize=0.0)
    m.net_loss_coef = pyo.Param(m.NET_COLUMNS, m.T, mutable=True, initialize=0.0)
    m.network_losses_kw = pyo.Expression(
        m.T, rule=lambda m, t: m.net_loss_base_kw[t] + sum(m.net_loss_coef[c, t] * m.net_x[c, t] for c in m.NET_COLUMNS))
    if spec.losses:
        terms.electric_demand.append(lambda m, t: m.network_losses_kw[t])


def set_network_inputs(m: pyo.ConcreteModel, inputs: DispatchInputs, spec: NetworkSpec, rows: LinearRows,
                       tighten_lower: np.ndarray, tighten_upper: np.ndarray,
                       force: np.ndarray | None = None) -> np.ndarray:
    """Write linearized rows and the tightening ``(steps, Q)`` into the network parameters.

    Rows are active where :func:`screen` says the quantity could reach a
    limit, where it was tightened (it was violated before) and where
    ``force`` ``(steps, Q)`` says so. Returns the active rows ``(steps, Q_spec)``.
    """
    columns = controlled_columns(inputs.park)
    index = {q: k for k, q in enumerate(rows.quantities)}
    selected = [index[q] for q in spec.quantities]
    could = screen(columns, inputs, rows, tighten_lower, tighten_upper)
    tightened = (tighten_lower > 0) | (tighten_upper > 0)
    if force is not None:
        tightened = tightened | force
    active = (could | tightened)[:, selected] & rows.converged[:, None]
    n = inputs.n_steps
    a = rows.a
    set_series(m.net_base, {k: rows.base[:, q] for k, q in enumerate(selected)})
    set_series(m.net_lower, {k: rows.lower[q] + tighten_lower[:, q] for k, q in enumerate(selected)})
    set_series(m.net_upper, {k: rows.upper[q] - tighten_upper[:, q] for k, q in enumerate(selected)})
    m.net_coef.store_values({(k, c, t): float(a[t, q, c]) for k, q in enumerate(selected)
                             for c in range(len(columns)) for t in range(n)}, check=False)
    set_series(m.net_loss_base_kw, rows.loss_base_kw)
    set_series(m.net_loss_coef, {c: rows.loss_coef[:, c] for c in range(len(columns))})
    for k in range(len(selected)):
        for t in range(n):
            row = m.network_limit[k, t]
            if active[t, k]:
                row.activate()
            else:
                row.deactivate()
    return active
