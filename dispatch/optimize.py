"""Solving the dispatch MILP with HiGHS through Pyomo's persistent interface.

:class:`DispatchModel` owns a built model and its persistent HiGHS solver:
build once per horizon shape, then :meth:`DispatchModel.solve` any number of
:class:`~dispatch.inputs.DispatchInputs` of that shape; only the mutable
parameters change between solves.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition

from dispatch.inputs import DispatchInputs
from dispatch.flexible import energy_sessions, process_days
from dispatch.heat import heat_pump_groups, split_group
from dispatch.kpis import Flows, compute_kpis, make_schedule
from dispatch.model import DispatchConfig, build_model, needs_exclusivity, set_inputs
from dispatch.results import DispatchResult, SlackEntry, SolverStatus
from microgrid.errors import InfeasibleError, SolverError, SolverTimeoutError

logger = logging.getLogger(__name__)

SLACK_TOLERANCE = 1e-4  # kW or kWh below which slack counts as zero


class DispatchModel:
    """A dispatch model of fixed shape with its persistent HiGHS solver.

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
        self.solver = SolverFactory("highs")
        if not self.solver.available():
            raise SolverError("HiGHS is not available; install highspy (pip install highspy)")
        self.build_time_s = time.perf_counter() - started
        self._instance_set = False
        self._highs_clock_s = 0.0   # HiGHS's run time is cumulative per instance

    def _run(self, objective: str) -> tuple[object, SolverStatus]:
        """Solve with one objective active; raise on failure, load the solution."""
        m = self.model
        for name in ("cost", "self_consumption", "co2"):
            getattr(m, f"objective_{name}").activate() if name == objective else getattr(m, f"objective_{name}").deactivate()
        # Forget the previous solve's basis and solution, so that a reused model
        # gives the same plan as a fresh one (where several plans cost the same,
        # a warm start would pick another, and a resumed study would differ).
        highs = getattr(self.solver, "_solver_model", None)
        if highs is not None and hasattr(highs, "clearSolver"):
            highs.clearSolver()
        results = self.solver.solve(
            m,
            time_limit=self.config.time_limit_s,
            rel_gap=self.config.mip_gap,
            solver_options=dict(self.config.solver_options),
            load_solutions=False,
            raise_exception_on_nonoptimal_result=False,
        )
        condition = results.termination_condition
        has_solution = results.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
        if not has_solution:
            self._highs_clock_s = float(results.timing_info.highs_time)
        if condition in (TerminationCondition.provenInfeasible, TerminationCondition.infeasibleOrUnbounded):
            raise InfeasibleError("the dispatch model is infeasible even with priced slack; check the device data")
        if condition == TerminationCondition.maxTimeLimit and not has_solution:
            raise SolverTimeoutError(
                f"HiGHS found no plan within time_limit_s={self.config.time_limit_s:g} s; raise the limit"
            )
        if not has_solution:
            raise SolverError(f"HiGHS stopped without a plan ({condition.name})")
        results.solution_loader.load_vars()
        status = SolverStatus.OPTIMAL if condition == TerminationCondition.convergenceCriteriaSatisfied else SolverStatus.TIME_LIMIT
        clock = float(results.timing_info.highs_time)
        results.timing_info.highs_time, self._highs_clock_s = clock - self._highs_clock_s, clock
        return results, status

    def solve(self, inputs: DispatchInputs, strategy: str = "optimal") -> DispatchResult:
        """Update the parameters from ``inputs``, solve, and return the typed result.

        With the ``self_consumption`` or ``co2`` objective, a second solve
        minimizes cost with the first objective held within
        ``config.lexicographic_tolerance`` of its optimum.

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
        first_solve = not self._instance_set
        m = self.model
        set_inputs(m, inputs, self.config)
        m.lex_pv_onsite_bound.deactivate()
        m.lex_grid_import_bound.deactivate()
        objective = self.config.objective
        if first_solve:
            self.solver.set_instance(m)
            self._instance_set = True
        else:
            # Only numbers change between horizons of one shape: parameters,
            # variable bounds and domains. Checking the whole model for new
            # or changed components would cost more than the update itself.
            # Lexicographic objectives switch objectives and bound constraints,
            # so they keep Pyomo's full checks.
            quick = objective == "cost"
            updates = self.solver.config.auto_updates
            for option in ("check_for_new_or_removed_constraints", "check_for_new_or_removed_vars",
                           "check_for_new_or_removed_params", "check_for_new_objective", "update_constraints",
                           "update_named_expressions", "update_objective"):
                setattr(updates, option, not quick)
        update_time = time.perf_counter() - started
        results, status = self._run(objective)
        highs_time = float(results.timing_info.highs_time)
        gap = _relative_gap(results.incumbent_objective, results.objective_bound, status)
        if objective != "cost":
            tol = self.config.lexicographic_tolerance
            if objective == "self_consumption":
                achieved = pyo.value(m.pv_onsite_kwh)
                m.lex_bound.set_value(achieved - tol * abs(achieved) - 1e-6)
                m.lex_pv_onsite_bound.activate()
            else:
                achieved = pyo.value(m.grid_import_kwh)
                m.lex_bound.set_value(achieved + tol * abs(achieved) + 1e-6)
                m.lex_grid_import_bound.activate()
            results, second_status = self._run("cost")
            highs_time += float(results.timing_info.highs_time)
            gap = max(gap, _relative_gap(results.incumbent_objective, results.objective_bound, second_status))
            if second_status is not SolverStatus.OPTIMAL:
                status = second_status
        flows = self._flows(inputs)
        schedule = make_schedule(inputs, flows)
        slack = self._slack(inputs)
        if slack:
            status = SolverStatus.INFEASIBLE_RELAXED
        kpis = compute_kpis(schedule, inputs)
        kpis.update(strategy=strategy, objective=objective, solver_status=status.value, mip_gap=gap,
                    solve_time_s=highs_time)
        return DispatchResult(
            strategy=strategy,
            schedule=schedule,
            kpis=kpis,
            status=status,
            mip_gap=gap,
            solve_time_s=highs_time,
            build_time_s=update_time + (self.build_time_s if first_solve else 0.0),
            objective_cny=float(pyo.value(m.cost_cny + m.slack_penalty)),
            slack=slack,
        )

    def _frame(self, component, keys, clip: bool = True) -> pd.DataFrame:
        """Values of a (device, step)-indexed component as a frame on step positions."""
        n = self.n_steps
        frame = pd.DataFrame({k: [pyo.value(component[k, t]) for t in range(n)] for k in keys},
                             columns=list(keys), index=range(n), dtype=float)
        return frame.clip(lower=0.0) if clip else frame

    def _heat_pump_frames(self, inputs: DispatchInputs) -> dict[str, pd.DataFrame]:
        """Per-unit electric and heat power of the heat pumps, from their groups."""
        m = self.model
        elec, heat = {}, {}
        for g, members in heat_pump_groups(self.park).items():
            total = np.array([pyo.value(m.hp_elec_kw[g, t]) for t in m.T]).clip(min=0)
            on = None
            if hasattr(m, "HP_GROUPS_MIN_LOAD") and g in m.HP_GROUPS_MIN_LOAD:
                on = np.array([pyo.value(m.hp_units_on[g, t]) for t in m.T])
            unit_elec = split_group(total, on, members, self.park.heat_pumps[g].max_elec_kw)
            cop = inputs.cop(g)
            for h in members:
                elec[h] = unit_elec[h]
                heat[h] = unit_elec[h] * cop
        columns = list(self.park.heat_pumps)
        return {"hp_elec_kw": pd.DataFrame(elec, columns=columns), "hp_heat_kw": pd.DataFrame(heat, columns=columns)}

    def _flows(self, inputs: DispatchInputs) -> Flows:
        m = self.model
        n = self.n_steps
        frames: dict[str, pd.DataFrame] = {"pv_used_kw": self._frame(m.pv_used_kw, m.PV)}
        frames["battery_charge_kw"] = self._frame(m.battery_charge_kw, m.BATTERIES) if m.BATTERIES else None
        frames["battery_discharge_kw"] = self._frame(m.battery_discharge_kw, m.BATTERIES) if m.BATTERIES else None
        frames["battery_soc_kwh"] = self._frame(m.battery_soc_kwh, m.BATTERIES) if m.BATTERIES else None
        if hasattr(m, "HEAT_BUSES"):
            frames.update(
                **self._heat_pump_frames(inputs),
                boiler_elec_kw=self._frame(m.boiler_elec_kw, m.BOILERS),
                boiler_heat_kw=self._frame(m.boiler_heat_kw, m.BOILERS),
                ts_charge_kw=self._frame(m.ts_charge_kw, m.THERMAL_STORES),
                ts_discharge_kw=self._frame(m.ts_discharge_kw, m.THERMAL_STORES),
                ts_soc_kwh=self._frame(m.ts_soc_kwh, m.THERMAL_STORES),
                heat_dump_kw=self._frame(m.heat_dump_kw, m.HEAT_BUSES),
                heat_unserved_kw=self._frame(m.heat_unserved_kw, m.HEAT_BUSES),
            )
        if hasattr(m, "PROCESSES"):
            frames["process_kw"] = self._frame(m.process_kw, m.PROCESSES).round(6)
        if hasattr(m, "ENERGY_LOADS"):
            frames["energy_load_kw"] = self._frame(m.energy_load_kw, m.ENERGY_LOADS)
        if hasattr(m, "CURTAILABLE"):
            frames["shed_kw"] = self._frame(m.shed_kw, m.CURTAILABLE)
        if hasattr(m, "SHIFTABLE"):
            frames["shiftable_kw"] = self._frame(m.shiftable_kw, m.SHIFTABLE)
        for frame in frames.values():
            if frame is not None:
                frame.index = inputs.index
        vector = {name: np.array([pyo.value(getattr(m, name)[t]) for t in range(n)]).clip(min=0)
                  for name in ("grid_import_kw", "grid_export_kw", "unserved_kw")}
        vector["unserved_kw"][vector["unserved_kw"] < SLACK_TOLERANCE] = 0.0
        empty = pd.DataFrame(index=inputs.index)
        return Flows(
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

        per_step("grid", "max_import_kw (load not served)", np.array([pyo.value(m.unserved_kw[t]) for t in m.T]))
        for b in m.BATTERIES:
            shortfall = pyo.value(m.battery_final_shortfall_kwh[b])
            if shortfall > SLACK_TOLERANCE:
                entries.append(SlackEntry(b, "final_soc_frac", [stamps[-1]], float(shortfall), "kWh"))
        if hasattr(m, "HEAT_BUSES"):
            for bus in m.HEAT_BUSES:
                per_step(bus, "heat_balance (heat demand not served)",
                         np.array([pyo.value(m.heat_unserved_kw[bus, t]) for t in m.T]), "kWh of heat")
            for j in m.THERMAL_STORES:
                shortfall = pyo.value(m.ts_final_shortfall_kwh[j])
                if shortfall > SLACK_TOLERANCE:
                    entries.append(SlackEntry(j, "final_soc_frac", [stamps[-1]], float(shortfall), "kWh of heat"))
        if hasattr(m, "PROCESS_DAYS"):
            for k, day in enumerate(process_days(inputs)):
                missed = pyo.value(m.process_missed_runs[k])
                if missed > 1e-6:
                    window = [stamps[t] for t in day.window] or [day.day.isoformat()]
                    entries.append(SlackEntry(day.process_id, f"runs_per_day on {day.day.isoformat()}", window,
                                              float(round(missed, 6)), "runs"))
        if hasattr(m, "SESSIONS"):
            for k, session in enumerate(energy_sessions(inputs, self.config.energy_delivered_default)):
                shortfall = pyo.value(m.session_shortfall_kwh[k])
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


def solve_optimal(inputs: DispatchInputs, config: DispatchConfig | None = None) -> DispatchResult:
    """Build the model for ``inputs``' shape and solve it once (the day-ahead path)."""
    config = config or DispatchConfig()
    exclusive = {"auto": needs_exclusivity(inputs), "always": True, "never": False}[config.exclusivity]
    model = DispatchModel(inputs, config, exclusive)
    result = model.solve(inputs)
    logger.info("optimal: %s, gap %.2e, build %.3f s, HiGHS %.3f s", result.status, result.mip_gap,
                result.build_time_s, result.solve_time_s)
    return result
