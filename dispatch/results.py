"""Typed results of a dispatch: status, schedule, KPIs, slack report."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pandas as pd


class SolverStatus(StrEnum):
    """Outcome of a dispatch.

    ``optimal``: solved to the requested MIP gap. ``time_limit``: stopped at
    the time limit with a feasible plan (see ``mip_gap``).
    ``infeasible_relaxed``: a plan exists only with priced slack; see
    ``DispatchResult.slack``. ``not_optimized``: a rule-based or no-control
    plan, computed without a solver.
    """

    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    INFEASIBLE_RELAXED = "infeasible_relaxed"
    NOT_OPTIMIZED = "not_optimized"


@dataclass(frozen=True)
class SlackEntry:
    """One requirement the plan could not meet.

    Attributes
    ----------
    device : str
        Device id, or ``park`` for park-wide requirements.
    constraint : str
        What was not met, e.g. ``power_balance`` or ``final_soc``.
    steps : list of str
        ISO timestamps of the steps concerned.
    missing : float
        Total shortfall, in ``unit``.
    unit : str
    """

    device: str
    constraint: str
    steps: list[str]
    missing: float
    unit: str

    def describe(self) -> str:
        span = self.steps[0] if len(self.steps) == 1 else f"{self.steps[0]} … {self.steps[-1]} ({len(self.steps)} steps)"
        return f"{self.device}: {self.constraint} short by {self.missing:.1f} {self.unit} at {span}"


@dataclass
class DispatchResult:
    """A plan for one horizon.

    Attributes
    ----------
    strategy : str
    schedule : pandas.DataFrame
        One row per step, columns as in the output contract of ``schedule.csv``.
    kpis : dict
        As written to ``kpis.json``.
    status : SolverStatus
    mip_gap : float or None
        Relative gap between the plan's cost and the best bound (None without a solver).
    solve_time_s : float or None
        HiGHS's own solve time [s].
    build_time_s : float or None
        Time to build (or update) the model and hand it to HiGHS [s].
    objective_cny : float or None
        The solver's objective, slack penalties included [CNY].
    slack : list of SlackEntry
        Requirements not met; empty when the plan meets all.
    network_iterations : pandas.DataFrame or None
        A network-aware plan's rounds (``dispatch.network_aware.NetworkIteration``
        by iteration, 0 the network-unaware plan); None otherwise.
    integer_decisions : dict or None
        The optimal plan's integer decisions
        (``dispatch.optimize.DispatchModel.integer_decisions``): a warm start
        for a later plan. None without a solver.
    """

    strategy: str
    schedule: pd.DataFrame
    kpis: dict
    status: SolverStatus
    mip_gap: float | None = None
    solve_time_s: float | None = None
    build_time_s: float | None = None
    objective_cny: float | None = None
    slack: list[SlackEntry] = field(default_factory=list)
    network_iterations: pd.DataFrame | None = None
    integer_decisions: dict | None = None
