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
from dispatch.kpis import compute_kpis, make_schedule
from dispatch.model import DispatchConfig, build_model, needs_exclusivity, set_inputs
from dispatch.results import DispatchResult, SlackEntry, SolverStatus
from microgrid.errors import InfeasibleError, SolverError, SolverTimeoutError
from microgrid.park import Park

logger = logging.getLogger(__name__)

SLACK_TOLERANCE = 1e-4  # kW or kWh below which slack counts as zero


class DispatchModel:
    """A dispatch model of fixed shape with its persistent HiGHS solver.

    Parameters
    ----------
    park : Park
    n_steps : int
        Number of steps of the horizon.
    config : DispatchConfig
    exclusive : bool
        Whether to add the exclusivity binaries (see ``needs_exclusivity``).
    """

    def __init__(self, park: Park, n_steps: int, config: DispatchConfig, exclusive: bool) -> None:
        started = time.perf_counter()
        self.park = park
        self.n_steps = n_steps
        self.config = config
        self.exclusive = exclusive
        self.model = build_model(park, n_steps, config, exclusive)
        self.solver = SolverFactory("highs")
        if not self.solver.available():
            raise SolverError("HiGHS is not available; install highspy (pip install highspy)")
        self.build_time_s = time.perf_counter() - started
        self._instance_set = False

    def solve(self, inputs: DispatchInputs, strategy: str = "optimal") -> DispatchResult:
        """Update the parameters from ``inputs``, solve, and return the typed result.

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
        set_inputs(self.model, inputs, self.config)
        if first_solve:
            self.solver.set_instance(self.model)
            self._instance_set = True
        else:
            self.solver.update_parameters()
            if self.exclusive:
                self.solver.update_variables(self._binaries())
        update_time = time.perf_counter() - started
        results = self.solver.solve(
            self.model,
            time_limit=self.config.time_limit_s,
            rel_gap=self.config.mip_gap,
            load_solutions=False,
            raise_exception_on_nonoptimal_result=False,
        )
        condition = results.termination_condition
        has_solution = results.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
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
        gap = _relative_gap(results.incumbent_objective, results.objective_bound, status)
        schedule = self._schedule(inputs)
        slack = self._slack(inputs)
        if slack:
            status = SolverStatus.INFEASIBLE_RELAXED
        highs_time = float(results.timing_info.highs_time)
        kpis = compute_kpis(schedule, inputs)
        kpis.update(strategy=strategy, solver_status=status.value, mip_gap=gap, solve_time_s=highs_time)
        return DispatchResult(
            strategy=strategy,
            schedule=schedule,
            kpis=kpis,
            status=status,
            mip_gap=gap,
            solve_time_s=highs_time,
            build_time_s=update_time + (self.build_time_s if first_solve else 0.0),
            objective_cny=float(results.incumbent_objective),
            slack=slack,
        )

    def _binaries(self) -> list:
        m = self.model
        variables = list(m.grid_importing.values()) if hasattr(m, "grid_importing") else []
        if hasattr(m, "battery_charging"):
            variables += list(m.battery_charging.values())
        return variables

    def _values(self, var, keys_outer, n) -> pd.DataFrame:
        data = {k: [pyo.value(var[k, t]) for t in range(n)] for k in keys_outer}
        return pd.DataFrame(data, columns=list(keys_outer)).clip(lower=0.0)

    def _schedule(self, inputs: DispatchInputs) -> pd.DataFrame:
        m = self.model
        n = self.n_steps
        pv_used = self._values(m.pv_used_kw, list(m.PV), n)
        if m.BATTERIES:
            charge = self._values(m.battery_charge_kw, list(m.BATTERIES), n)
            discharge = self._values(m.battery_discharge_kw, list(m.BATTERIES), n)
            soc = pd.DataFrame({b: [pyo.value(m.battery_soc_kwh[b, t]) for t in range(n)] for b in m.BATTERIES})
        else:
            charge = discharge = soc = pd.DataFrame(index=range(n))
        for frame in (pv_used, charge, discharge, soc):
            frame.index = inputs.index
        grid_import = np.array([pyo.value(m.grid_import_kw[t]) for t in range(n)]).clip(min=0)
        grid_export = np.array([pyo.value(m.grid_export_kw[t]) for t in range(n)]).clip(min=0)
        unserved = np.array([pyo.value(m.unserved_kw[t]) for t in range(n)]).clip(min=0)
        unserved[unserved < SLACK_TOLERANCE] = 0.0
        return make_schedule(inputs, pv_used, charge, discharge, soc, grid_import, grid_export, unserved)

    def _slack(self, inputs: DispatchInputs) -> list[SlackEntry]:
        m = self.model
        entries: list[SlackEntry] = []
        unserved = np.array([pyo.value(m.unserved_kw[t]) for t in m.T])
        steps = [inputs.index[t].isoformat() for t in np.flatnonzero(unserved > SLACK_TOLERANCE)]
        if steps:
            entries.append(SlackEntry("park", "power_balance (load not served)", steps,
                                      float(unserved.sum() * inputs.dt_h), "kWh"))
        for b in m.BATTERIES:
            shortfall = pyo.value(m.battery_final_shortfall_kwh[b])
            if shortfall > SLACK_TOLERANCE:
                entries.append(SlackEntry(b, "final_soc_frac", [inputs.index[-1].isoformat()], float(shortfall), "kWh"))
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
    model = DispatchModel(inputs.park, inputs.n_steps, config, exclusive)
    result = model.solve(inputs)
    logger.info("optimal: %s, gap %.2e, build %.3f s, HiGHS %.3f s", result.status, result.mip_gap,
                result.build_time_s, result.solve_time_s)
    return result
