"""Solving the dispatch MILP with HiGHS.

:class:`DispatchModel` owns a built model: Pyomo states it once per horizon
shape, :class:`~dispatch.standard_form.StandardForm` compiles it once into
HiGHS's matrix form, and :meth:`DispatchModel.solve` then solves any number
of :class:`~dispatch.inputs.DispatchInputs` of that shape; only the mutable
parameters (and the bounds and domains the setters change) are pushed to
HiGHS between solves.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo

from dispatch.flexible import energy_sessions, process_days
from dispatch.heat import heat_pump_groups, split_group
from dispatch.inputs import DispatchInputs
from dispatch.kpis import Flows, compute_kpis, make_schedule
from dispatch.model import INTEGER_VARIABLES, DispatchConfig, build_model, needs_exclusivity, set_inputs
from dispatch.results import DispatchResult, SlackEntry, SolverStatus
from dispatch.standard_form import StandardForm
from microgrid.errors import InfeasibleError, SolverError, SolverTimeoutError
from microgrid.messages import Message

logger = logging.getLogger(__name__)

SLACK_TOLERANCE = 1e-4  # kW or kWh below which slack counts as zero

_FEASIBLE = 2   # HiGHS's kSolutionStatusFeasible


@dataclass
class Plan:
    """What one solve of a :class:`DispatchModel` gives, before any table is made.

    Attributes are those of :class:`~dispatch.results.DispatchResult` of the
    same names; ``flows`` holds every device's flows on the horizon's index;
    ``method`` says how the plan was found: ``lp`` (no integer decisions),
    ``lp_rounded`` or ``lp_fixed`` (relax-and-fix, see ``DispatchConfig.lp_first``)
    or ``mip``. (With a lexicographic objective, that of the second solve.)
    """

    flows: Flows
    status: SolverStatus
    mip_gap: float
    solve_time_s: float
    build_time_s: float
    objective_cny: float
    slack: list[SlackEntry]
    method: str = "mip"


SOLVE_SETTINGS = ("objective", "lexicographic_tolerance", "mip_gap", "time_limit_s", "lp_first")
"""Fields of :class:`DispatchConfig` read at each solve, not when the model is built."""


def shape_key(inputs: DispatchInputs, exclusive: bool) -> tuple:
    """What fixes the structure of a model: equal keys can share one built model."""
    local = inputs.local_index
    days = tuple((d.process_id, d.starts, d.window) for d in process_days(inputs))
    sessions = tuple((s.load_id, s.steps) for s in energy_sessions(inputs))
    day_breaks = tuple(np.flatnonzero(np.diff([t.toordinal() for t in local.date])).tolist())
    return inputs.n_steps, inputs.dt_h, exclusive, days, sessions, day_breaks, inputs.has_grid_limits


def _build_key(config: DispatchConfig) -> str:
    """The parts of ``config`` that the built model depends on (everything but :data:`SOLVE_SETTINGS`)."""
    defaults = DispatchConfig()
    return repr(dataclasses.replace(config, **{name: getattr(defaults, name) for name in SOLVE_SETTINGS}))


class ModelCache:
    """Built models by park, shape and build settings; the least recently used dropped beyond ``size``.

    A model found in the cache takes the solve settings (:data:`SOLVE_SETTINGS`:
    objective, MIP gap, time limit, ...) of the config it is asked for.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.models: OrderedDict[tuple, DispatchModel] = OrderedDict()

    def get(self, inputs: DispatchInputs, config: DispatchConfig) -> tuple[DispatchModel, bool]:
        # Exclusivity binaries exist whenever the tariff can ever need them, so
        # that windows of one shape share a model (their domains, binary or
        # relaxed, are set window by window).
        tariff = inputs.park.tariff
        could = tariff.export_price_cny_per_kwh >= min(tariff.prices_cny_per_kwh.values()) or \
            min(tariff.prices_cny_per_kwh.values()) < 0
        exclusive = {"auto": could or needs_exclusivity(inputs), "always": True, "never": False}[config.exclusivity]
        key = (id(inputs.park), shape_key(inputs, exclusive), _build_key(config))
        model = self.models.get(key)
        if model is not None and model.park is inputs.park:
            self.models.move_to_end(key)
            model.reconfigure(config)
            return model, True
        model = DispatchModel(inputs, config, exclusive)
        self.models[key] = model
        self.models.move_to_end(key)
        while len(self.models) > self.size:
            self.models.popitem(last=False)
        return model, False


class DispatchModel:
    """A dispatch model of fixed shape, compiled for HiGHS.

    Parameters
    ----------
    inputs : DispatchInputs
        A horizon of the shape to build (park, steps, daily windows).
    config : DispatchConfig
    exclusive : bool
        Whether to add the exclusivity binaries (see ``needs_exclusivity``).
    """

    def __init__(self, inputs: DispatchInputs, config: DispatchConfig, exclusive: bool) -> None:
        started = time.perf_counter()
        self.park = inputs.park
        self.n_steps = inputs.n_steps
        self.config = config
        self.exclusive = exclusive
        self.model = build_model(inputs, config, exclusive)
        self.form: StandardForm | None = None    # compiled at the first solve, once dt_h is known
        self.build_time_s = time.perf_counter() - started
        self.solution: np.ndarray | None = None

    def _compile(self) -> None:
        m = self.model
        frozen = [m.dt_h] + ([m.ts_retention] if hasattr(m, "ts_retention") else [])
        watch = [getattr(m, name) for name in INTEGER_VARIABLES if hasattr(m, name)]
        self.form = StandardForm(m, frozen=frozen, watch=watch)
        self._set_options({**self.config.solver_options})

    def _set_options(self, options: dict) -> None:
        h = self.form.highs
        options = {"mip_rel_gap": self.config.mip_gap, "time_limit": self.config.time_limit_s, **options}
        for name, value in options.items():
            if h.setOptionValue(name, value) == highspy.HighsStatus.kError:
                raise SolverError(Message("solver_options: HiGHS has no option {name!r} taking {value!r}",
                                          name=name, value=value))

    def reconfigure(self, config: DispatchConfig) -> None:
        """Take the solve settings (:data:`SOLVE_SETTINGS`) of ``config``; its build settings must be this model's."""
        if _build_key(config) != _build_key(self.config):
            raise ValueError(Message("reconfigure: config differs in more than its solve settings; build a new "
                                     "model"))
        self.config = config
        if self.form is not None:
            self._set_options({})

    def _run(self, objective: str, warm_start: dict | None = None) -> tuple[np.ndarray, SolverStatus, float, float]:
        """Solve with one objective; raise on failure. Returns (x, status, gap, HiGHS seconds)."""
        form = self.form
        form.update(f"objective_{objective}")
        h = form.highs
        integer = form.integer_columns()
        if len(integer) and self.config.lp_first:
            shortcut = self._relax_and_fix(integer, warm_start)
            if shortcut is not None:
                return shortcut
            lp_seconds = self._lp_seconds
        else:
            lp_seconds = 0.0
        self.method = "mip" if len(integer) else "lp"
        # Forget the previous solve's basis and solution, so that a reused model
        # gives the same plan as a fresh one given the same warm start.
        h.clearSolver()
        if warm_start:
            self._set_start(warm_start)
        started = time.perf_counter()
        h.run()
        seconds = time.perf_counter() - started
        status = h.getModelStatus()
        info = h.getInfo()
        has_solution = info.primal_solution_status == _FEASIBLE
        if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            raise InfeasibleError(Message("the dispatch model is infeasible even with priced slack; check the "
                                          "device data"))
        if status == highspy.HighsModelStatus.kTimeLimit and not has_solution:
            raise SolverTimeoutError(
                Message("HiGHS found no plan within time_limit_s={time_limit_s:g} s; raise the limit",
                        time_limit_s=self.config.time_limit_s)
            )
        if not has_solution or status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit,
                                              highspy.HighsModelStatus.kInterrupt):
            raise SolverError(Message("HiGHS stopped without a plan ({status})",
                                      status=h.modelStatusToString(status)))
        x = np.asarray(h.getSolution().col_value, dtype=float)
        ok = SolverStatus.OPTIMAL if status == highspy.HighsModelStatus.kOptimal else SolverStatus.TIME_LIMIT
        if not len(integer):
            gap = 0.0 if ok is SolverStatus.OPTIMAL else math.inf
        else:
            gap = _relative_gap(info.objective_function_value, info.mip_dual_bound, ok)
        return x, ok, gap, seconds + lp_seconds

    def _relax_and_fix(self, integer: np.ndarray, warm_start: dict | None) -> tuple[np.ndarray, SolverStatus, float, float] | None:
        """Solve the LP relaxation, then integer plans near it; take one that proves itself within the MIP gap.

        The relaxation's optimum is a bound on the MIP's. A plan that meets
        every constraint with integer decisions and costs at most ``mip_gap``
        more than that bound is one HiGHS's MIP would accept too, so the MIP
        is skipped. Tried in turn: the relaxation's own optimum with its
        integer decisions rounded (:meth:`StandardForm.round_integers`; free
        when it holds), then the LP with the integer decisions fixed at the
        nearest integers, then fixed at the warm start's. With an integer
        horizon of an hour or two only a dozen decisions are integer and one
        of these usually holds: one or two LPs (about 20 ms each on the
        reference park) instead of a MIP (50–100 ms). Otherwise ``None``.
        """
        form = self.form
        h = form.highs
        h.clearSolver()
        h.changeColsIntegrality(len(integer), integer, np.zeros(len(integer), dtype=np.uint8))
        seconds = 0.0
        try:
            started = time.perf_counter()
            h.run()
            seconds += time.perf_counter() - started
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                return None
            x = np.asarray(h.getSolution().col_value, dtype=float)
            bound = form.objective_value(x)
            rounded = form.round_integers(x, integer)
            if rounded is not None:
                gap = _relative_gap(form.objective_value(rounded), bound, SolverStatus.OPTIMAL)
                if gap <= self.config.mip_gap:
                    self.method = "lp_rounded"
                    return rounded, SolverStatus.OPTIMAL, gap, seconds
            lower, upper = form.column_bounds(integer)
            candidates = [np.clip(np.round(x[integer]), lower, upper)]
            if warm_start:
                index, values = self._start_entries(warm_start)
                if set(index) >= set(integer.tolist()):
                    start = dict(zip(index, values))
                    candidates.append(np.array([start[j] for j in integer]))
            for fixed in candidates:
                h.changeColsBounds(len(integer), integer, fixed, fixed)
                h.clearSolver()
                started = time.perf_counter()
                h.run()
                seconds += time.perf_counter() - started
                optimal = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
                y = np.asarray(h.getSolution().col_value, dtype=float)
                h.changeColsBounds(len(integer), integer, lower, upper)
                if optimal:
                    y[integer] = fixed
                    gap = _relative_gap(form.objective_value(y), bound, SolverStatus.OPTIMAL)
                    if gap <= self.config.mip_gap:
                        self.method = "lp_fixed"
                        return y, SolverStatus.OPTIMAL, gap, seconds
            return None
        finally:
            # (changing the model resets HiGHS's status: it is read before this)
            h.changeColsIntegrality(len(integer), integer, np.ones(len(integer), dtype=np.uint8))
            self._lp_seconds = seconds

    def _start_entries(self, warm_start: dict) -> tuple[list[int], list[float]]:
        """Columns and values of the integer decisions of ``warm_start`` that exist in this model."""
        form = self.form
        shift = int(warm_start.get("shift_steps", 0))
        index, values = [], []
        for name, entries in warm_start.get("decisions", {}).items():
            component = getattr(self.model, name, None)
            if component is None:
                continue
            columns = form.columns(component)
            for *key, value in entries:
                key[-1] -= shift
                j = columns.get(tuple(key) if len(key) > 1 else key[0])
                if j is not None and form.is_integer(j):
                    index.append(j)
                    values.append(value)
        return index, values

    def _set_start(self, warm_start: dict) -> None:
        """Hand HiGHS a partial MIP start: the integer decisions of ``warm_start`` that exist here.

        ``warm_start`` is :meth:`integer_decisions` of an earlier plan with
        ``shift_steps``, the steps from that plan's start to this one's.
        """
        index, values = self._start_entries(warm_start)
        if index:
            self.form.highs.setSolution(len(index), np.asarray(index, dtype=np.int32), np.asarray(values, dtype=float))

    def _decisions(self, x: np.ndarray) -> dict | None:
        """A warm start from solution ``x`` of this model (its integer decisions), for the next stage of a solve."""
        kept = self.solution
        self.solution = x
        try:
            decisions = self.integer_decisions()
        finally:
            self.solution = kept
        return {"decisions": decisions, "shift_steps": 0} if any(decisions.values()) else None

    def integer_decisions(self) -> dict[str, list]:
        """The last plan's integer decisions, ``{component: [[*index, value], ...]}`` (JSON-ready).

        The last element of every index is the step. A warm start for a later
        plan: ``solve(..., warm_start={"decisions": ..., "shift_steps": k})``.
        """
        if self.solution is None:
            return {}
        out: dict[str, list] = {}
        for name in INTEGER_VARIABLES:
            component = getattr(self.model, name, None)
            if component is None:
                continue
            out[name] = [[*(key if isinstance(key, tuple) else (key,)), float(round(self.solution[j]))]
                         for key, j in self.form.columns(component).items()]
        return out

    def plan(self, inputs: DispatchInputs, warm_start: dict | None = None) -> Plan:
        """Update the parameters from ``inputs``, solve, and return the plan's flows and status.

        The stages, each started from the plan of the one before:

        1. the objective, with every unmet requirement priced as slack;
        2. only where that plan uses slack: the least slack alone
           (``objective_slack``); when less is possible, the objective again
           with the slack held at that least (so the plan never leaves a
           requirement unmet to gain on its objective, whatever the units of
           the objective);
        3. with the ``self_consumption`` or ``co2`` objective: the least cost
           with the first objective held within
           ``config.lexicographic_tolerance`` of its optimum.

        Parameters
        ----------
        inputs : DispatchInputs
        warm_start : dict, optional
            ``{"decisions": integer_decisions(), "shift_steps": k}`` of an
            earlier plan that started ``k`` steps before this one: its integer
            decisions moved ``k`` steps earlier are handed to HiGHS, which
            completes them into a first plan. The plan found is the same for
            the same inputs and warm start, whatever was solved before.

        Raises
        ------
        SolverTimeoutError
            No feasible plan within ``config.time_limit_s``.
        InfeasibleError
            The model is infeasible even with its slack (should not happen: a bug
            or contradictory device data).
        SolverError
            Any other solver failure.
        """
        started = time.perf_counter()
        first_solve = self.form is None
        m = self.model
        set_inputs(m, inputs, self.config)
        m.lex_renewable_onsite_bound.deactivate()
        m.lex_co2_bound.deactivate()
        m.lex_slack_bound.deactivate()
        objective = self.config.objective
        if first_solve:
            self._compile()
        update_time = time.perf_counter() - started
        x, status, gap, highs_time = self._run(objective, warm_start)
        # Requirements first: where the plan needs slack, the least slack any plan can do with
        # is found alone and held, so that no requirement is ever traded against the objective.
        # Later stages hold it too (within the MIP gap a stage could otherwise buy a little slack).
        needed = self.form.expression_values(m.slack_kwh, x)[None]
        least_kwh = needed
        if needed > SLACK_TOLERANCE:
            least, _, _, seconds = self._run("slack", self._decisions(x))
            highs_time += seconds
            least_kwh = min(needed, self.form.expression_values(m.slack_kwh, least)[None])
        m.lex_slack_bound_kwh.set_value(max(least_kwh, 0.0) * (1.0 + 1e-6) + 1e-6)
        m.lex_slack_bound.activate()
        if least_kwh < needed - SLACK_TOLERANCE:
            x, status, gap, seconds = self._run(objective, self._decisions(least))
            highs_time += seconds
        if objective != "cost":
            tol = self.config.lexicographic_tolerance
            if objective == "self_consumption":
                achieved = self.form.expression_values(m.renewable_onsite_kwh, x)[None]
                m.lex_bound.set_value(achieved - tol * abs(achieved) - 1e-6)
                m.lex_renewable_onsite_bound.activate()
            else:
                achieved = self.form.expression_values(m.co2_kg, x)[None]
                m.lex_bound.set_value(achieved + tol * abs(achieved) + 1e-6)
                m.lex_co2_bound.activate()
            x, second_status, second_gap, seconds = self._run("cost", self._decisions(x))
            highs_time += seconds
            gap = max(gap, second_gap)
            if second_status is not SolverStatus.OPTIMAL:
                status = second_status
        self.solution = x
        slack = self._slack(inputs)
        return Plan(
            flows=self.flows(inputs),
            status=SolverStatus.INFEASIBLE_RELAXED if slack else status,
            mip_gap=gap,
            solve_time_s=highs_time,
            build_time_s=update_time + (self.build_time_s if first_solve else 0.0),
            objective_cny=self.form.objective_value(x, "objective_cost"),
            slack=slack,
            method=self.method,
        )

    def solve(self, inputs: DispatchInputs, strategy: str = "optimal", warm_start: dict | None = None) -> DispatchResult:
        """:meth:`plan`, with the schedule table and the KPIs of the result.

        ``strategy`` labels the result; see :meth:`plan` for the rest.
        """
        plan = self.plan(inputs, warm_start)
        schedule = make_schedule(inputs, plan.flows)
        kpis = compute_kpis(schedule, inputs)
        kpis.update(strategy=strategy, objective=self.config.objective, solver_status=plan.status.value,
                    mip_gap=plan.mip_gap, solve_time_s=plan.solve_time_s)
        if plan.flows.network_losses_kw is not None:
            kpis["planned_network_losses_kwh"] = float(np.sum(plan.flows.network_losses_kw) * inputs.dt_h)
        return DispatchResult(
            strategy=strategy,
            schedule=schedule,
            kpis=kpis,
            status=plan.status,
            mip_gap=plan.mip_gap,
            solve_time_s=plan.solve_time_s,
            build_time_s=plan.build_time_s,
            objective_cny=plan.objective_cny,
            slack=plan.slack,
            integer_decisions=self.integer_decisions(),
        )

    def _values(self, component, keys) -> np.ndarray:
        """Solution values of a (key, step)-indexed variable, ``len(keys) × n_steps``."""
        return self.form.values_of(component, list(keys), self.n_steps, self.solution)

    def _vector(self, component) -> np.ndarray:
        """Solution values of a step-indexed variable."""
        columns = self.form.columns(component)
        return self.solution[np.array([columns[t] for t in range(self.n_steps)], dtype=np.int64)]

    def _scalar(self, component, key) -> float:
        return float(self.solution[self.form.columns(component)[key]])

    def _frame(self, component, keys, index: pd.DatetimeIndex, clip: bool = True) -> pd.DataFrame:
        """Values of a (device, step)-indexed component as a frame on ``index``."""
        keys = list(keys)
        if component.ctype is pyo.Expression:
            values = self.form.expression_values(component, self.solution)
            data = np.array([[values[k, t] for k in keys] for t in range(self.n_steps)]).reshape(self.n_steps, len(keys))
        else:
            data = self._values(component, keys).T
        if clip:
            data = np.clip(data, 0.0, None)
        return pd.DataFrame(data, columns=keys, index=index, dtype=float)

    def _heat_pump_frames(self, inputs: DispatchInputs, index: pd.DatetimeIndex) -> dict[str, pd.DataFrame]:
        """Per-unit electric and heat power of the heat pumps, from their groups."""
        m = self.model
        elec, heat = {}, {}
        for g, members in heat_pump_groups(self.park).items():
            total = self._values(m.hp_elec_kw, [g])[0].clip(min=0)
            on = None
            if hasattr(m, "HP_GROUPS_MIN_LOAD") and g in m.HP_GROUPS_MIN_LOAD:
                on = self._values(m.hp_units_on, [g])[0]
            unit_elec = split_group(total, on, members, self.park.heat_pumps[g].max_elec_kw)
            cop = inputs.cop(g)
            for h in members:
                elec[h] = unit_elec[h]
                heat[h] = unit_elec[h] * cop
        columns = list(self.park.heat_pumps)
        return {"hp_elec_kw": pd.DataFrame(elec, columns=columns, index=index),
                "hp_heat_kw": pd.DataFrame(heat, columns=columns, index=index)}

    def flows(self, inputs: DispatchInputs) -> Flows:
        """Every device's flows in the last plan, on the index of ``inputs`` (those it was solved for)."""
        m = self.model
        index = inputs.index
        frames: dict[str, pd.DataFrame] = {"pv_used_kw": self._frame(m.pv_used_kw, m.PV, index),
                                           "wind_used_kw": self._frame(m.wind_used_kw, m.WIND, index)}
        frames["battery_charge_kw"] = self._frame(m.battery_charge_kw, m.BATTERIES, index) if m.BATTERIES else None
        frames["battery_discharge_kw"] = self._frame(m.battery_discharge_kw, m.BATTERIES, index) if m.BATTERIES else None
        frames["battery_soc_kwh"] = self._frame(m.battery_soc_kwh, m.BATTERIES, index) if m.BATTERIES else None
        if hasattr(m, "HEAT_BUSES"):
            frames.update(
                **self._heat_pump_frames(inputs, index),
                boiler_elec_kw=self._frame(m.boiler_elec_kw, m.BOILERS, index),
                boiler_heat_kw=pd.DataFrame(
                    {k: self._values(m.boiler_elec_kw, [k])[0].clip(min=0) * self.park.electric_boilers[k].efficiency
                     for k in m.BOILERS}, index=index, columns=list(m.BOILERS)),
                ts_charge_kw=self._frame(m.ts_charge_kw, m.THERMAL_STORES, index),
                ts_discharge_kw=self._frame(m.ts_discharge_kw, m.THERMAL_STORES, index),
                ts_soc_kwh=self._frame(m.ts_soc_kwh, m.THERMAL_STORES, index),
                heat_dump_kw=self._frame(m.heat_dump_kw, m.HEAT_BUSES, index),
                heat_unserved_kw=self._frame(m.heat_unserved_kw, m.HEAT_BUSES, index),
            )
        if hasattr(m, "PROCESSES"):
            frames["process_kw"] = self._frame(m.process_kw, m.PROCESSES, index).round(6)
        if hasattr(m, "ENERGY_LOADS"):
            frames["energy_load_kw"] = self._frame(m.energy_load_kw, m.ENERGY_LOADS, index)
        if hasattr(m, "CURTAILABLE"):
            frames["shed_kw"] = self._frame(m.shed_kw, m.CURTAILABLE, index)
        if hasattr(m, "SHIFTABLE"):
            frames["shiftable_kw"] = self._frame(m.shiftable_kw, m.SHIFTABLE, index)
        vector = {name: self._vector(getattr(m, name)).clip(min=0)
                  for name in ("grid_import_kw", "grid_export_kw", "unserved_kw")}
        vector["unserved_kw"][vector["unserved_kw"] < SLACK_TOLERANCE] = 0.0
        empty = pd.DataFrame(index=inputs.index)
        losses = None
        if hasattr(m, "network_losses_kw") and self.config.network is not None and self.config.network.losses:
            values = self.form.expression_values(m.network_losses_kw, self.solution)
            losses = np.array([values[t] for t in range(self.n_steps)])
        return Flows(
            network_losses_kw=losses,
            pv_used_kw=frames.pop("pv_used_kw"),
            battery_charge_kw=frames.pop("battery_charge_kw") if m.BATTERIES else empty,
            battery_discharge_kw=frames.pop("battery_discharge_kw") if m.BATTERIES else empty,
            battery_soc_kwh=frames.pop("battery_soc_kwh") if m.BATTERIES else empty,
            grid_import_kw=vector["grid_import_kw"],
            grid_export_kw=vector["grid_export_kw"],
            unserved_kw=vector["unserved_kw"],
            **{k: v for k, v in frames.items() if v is not None},
        )

    def _slack(self, inputs: DispatchInputs) -> list[SlackEntry]:
        """Every requirement the plan missed, by device, constraint and steps."""
        m = self.model
        stamps = [t.isoformat() for t in inputs.index]
        entries: list[SlackEntry] = []

        def per_step(device: str, constraint: str, values: np.ndarray, unit: str = "kWh") -> None:
            steps = np.flatnonzero(values > SLACK_TOLERANCE)
            if len(steps):
                entries.append(SlackEntry(device, constraint, [stamps[t] for t in steps],
                                          float(values.sum() * inputs.dt_h), unit))

        per_step("grid", "max_import_kw (load not served)", self._vector(m.unserved_kw))
        for b in m.BATTERIES:
            shortfall = self._scalar(m.battery_final_shortfall_kwh, b)
            if shortfall > SLACK_TOLERANCE:
                entries.append(SlackEntry(b, "final_soc_frac", [stamps[-1]], float(shortfall), "kWh"))
        if hasattr(m, "HEAT_BUSES"):
            for bus in m.HEAT_BUSES:
                per_step(bus, "heat_balance (heat demand not served)", self._values(m.heat_unserved_kw, [bus])[0],
                         "kWh of heat")
            for j in m.THERMAL_STORES:
                shortfall = self._scalar(m.ts_final_shortfall_kwh, j)
                if shortfall > SLACK_TOLERANCE:
                    entries.append(SlackEntry(j, "final_soc_frac", [stamps[-1]], float(shortfall), "kWh of heat"))
        if hasattr(m, "PROCESS_DAYS"):
            for k, day in enumerate(process_days(inputs)):
                missed = self._scalar(m.process_missed_runs, k)
                if missed > 1e-6:
                    window = [stamps[t] for t in day.window] or [day.day.isoformat()]
                    entries.append(SlackEntry(day.process_id, f"runs_per_day on {day.day.isoformat()}", window,
                                              float(round(missed, 6)), "runs"))
        if hasattr(m, "import_cap_kw"):
            per_step("grid", "import_cap_kw (demand-response event)", self._vector(m.import_cap_excess_kw))
            per_step("grid", "min_import_kw (demand-response event)", self._vector(m.min_import_deficit_kw))
        if hasattr(m, "net_slack"):
            for q, (element, name, quantity) in enumerate(self.config.network.quantities):
                values = self._values(m.net_slack, [q])[0]
                steps = np.flatnonzero(values > 1e-6)
                if len(steps):
                    unit = "% of loading" if quantity == "loading_pct" else "p.u."
                    entries.append(SlackEntry(name, f"{element} {quantity} limit (linearized network)",
                                              [stamps[t] for t in steps], float(values.max()), unit))
        if hasattr(m, "SESSIONS"):
            for k, session in enumerate(energy_sessions(inputs, self.config.energy_delivered_default)):
                shortfall = self._scalar(m.session_shortfall_kwh, k)
                if shortfall > SLACK_TOLERANCE:
                    entries.append(SlackEntry(
                        session.load_id, f"energy_kwh by departure {session.departure.isoformat()}",
                        [stamps[t] for t in session.steps], float(shortfall), "kWh"))
        return entries


def _relative_gap(incumbent: float | None, bound: float | None, status: SolverStatus) -> float:
    """Relative MIP gap; 0 for an optimal LP (HiGHS reports no bound for those)."""
    if incumbent is not None and bound is not None and math.isfinite(incumbent) and math.isfinite(bound):
        return abs(incumbent - bound) / max(abs(incumbent), 1e-9)
    return 0.0 if status is SolverStatus.OPTIMAL else math.inf


def solve_optimal(inputs: DispatchInputs, config: DispatchConfig | None = None, models: ModelCache | None = None,
                  warm_start_from_last: bool = False, warm_start: dict | None = None) -> DispatchResult:
    """Solve ``inputs`` once (the day-ahead path): a new model, or one of ``models`` of the same shape.

    Parameters
    ----------
    inputs : DispatchInputs
    config : DispatchConfig, optional
    models : ModelCache, optional
        Built models to reuse (a server keeps one per worker). A reused model
        gives the same plan as a new one for the same inputs.
    warm_start_from_last : bool
        With ``models``: hand HiGHS the integer decisions of the last plan the
        reused model solved (another day of the same shape) as a MIP start.
        About twice as fast on the reference park; the plan is optimal within
        ``config.mip_gap`` as always, but which of the near-optimal plans
        comes out can then depend on what the model solved before.
    warm_start : dict, optional
        ``{"decisions": ..., "shift_steps": k}`` of an earlier plan (see
        :meth:`DispatchModel.plan`); it takes the place of the last plan's.
    """
    config = config or DispatchConfig()
    if models is None:
        exclusive = {"auto": needs_exclusivity(inputs), "always": True, "never": False}[config.exclusivity]
        model = DispatchModel(inputs, config, exclusive)
    else:
        model, reused = models.get(inputs, config)
        if warm_start is None and reused and warm_start_from_last and model.solution is not None:
            warm_start = {"decisions": model.integer_decisions(), "shift_steps": 0}
    result = model.solve(inputs, warm_start=warm_start)
    logger.info("optimal: %s, gap %.2e, build %.3f s, HiGHS %.3f s", result.status, result.mip_gap,
                result.build_time_s, result.solve_time_s)
    return result
