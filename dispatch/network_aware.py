"""Network-aware planning: solve, AC-check, re-linearize and tighten until the AC power flow shows no violation.

:func:`plan_network_aware` plans a horizon whose network limits hold in AC:

0. the network-unaware plan (the MILP without the network) and its AC check:
   the reference the cost increase is measured against, and the first
   operating point;
1. linearize the power flow around the last plan
   (:func:`microgrid.network.linearize_schedule`), keep the quantities that
   could reach a limit (:func:`dispatch.network.screen`) and the ones the AC
   check found violated, and solve the MILP with their linearized limits and
   the linearized losses at the PCC (:mod:`dispatch.network`);
2. AC-check the plan; stop if nothing is violated; else tighten every
   violated quantity at the violated step by a margin (doubled each time it
   is violated again) and go to 1, re-linearizing around the new plan.

It stops after ``max_iterations`` solves with the network and returns the
last plan and the violations that remain. The model is built once and
updated between iterations (only its parameters and which rows are active
change), unless a quantity outside its structure is violated: then it is
rebuilt with that quantity (counted in ``rebuilds``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dispatch.inputs import DispatchInputs
from dispatch.model import DispatchConfig, needs_exclusivity
from dispatch.network import (
    LinearRows,
    NetworkSpec,
    column_offsets_kw,
    controlled_columns,
    linearization_columns,
    make_spec,
    screen,
    set_network_inputs,
    variable_values,
)
from dispatch.optimize import DispatchModel
from dispatch.results import DispatchResult
from microgrid.errors import InvalidParkError
from microgrid.messages import Message
from microgrid.network import NetworkReport, build_network, linearize_schedule, validate_schedule

logger = logging.getLogger(__name__)

#: A quantity's row is re-linearized around a new plan only where the plan's AC value is within this
#: band of a limit (or beyond it) [% of loading, p.u.]: elsewhere the row keeps the linearization taken
#: nearer the limit, where it matters (loading is convex in the injections: a tangent taken far below
#: the limit underestimates it near the limit).
RELINEARIZE_BAND = {"loading_pct": 5.0, "vm_pu": 0.005}

#: First tightening of a violated quantity at a violated step [% of loading, p.u.]; doubled at each repeat.
TIGHTEN_MARGIN = {"loading_pct": 0.5, "vm_pu": 0.002}


@dataclass
class NetworkIteration:
    """One round: the plan's cost and what its AC power flow showed.

    ``iteration`` 0 is the network-unaware plan.
    """

    iteration: int
    total_cost_cny: float
    violations: int
    max_line_loading_pct: float
    max_trafo_loading_pct: float
    min_vm_pu: float
    max_vm_pu: float
    network_losses_kwh: float
    constrained_quantities: int
    active_rows: int
    solve_time_s: float
    linearize_time_s: float

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class NetworkAwarePlan:
    """A network-aware plan, its iterations and its comparison with the network-unaware plan.

    Attributes
    ----------
    result : DispatchResult
        The last plan (its schedule has ``network_losses_kw``, the planned
        losses, included in ``load_kw``); its KPIs include the AC check's
        (``min_vm_pu``... ``network_violations``) and the ``network_*``
        figures below.
    report : NetworkReport
        AC power flow of ``result``.
    unaware : DispatchResult
        The network-unaware plan of the same inputs.
    unaware_report : NetworkReport
    iterations : list of NetworkIteration
        Iteration 0 is the unaware plan.
    converged : bool
        Whether the last plan has no violation.
    rebuilds : int
        Times the model was rebuilt for a quantity outside its structure.
    model : DispatchModel
        The model that made ``result`` (its flows and integer decisions).
    """

    result: DispatchResult
    report: NetworkReport
    unaware: DispatchResult
    unaware_report: NetworkReport
    iterations: list[NetworkIteration] = field(default_factory=list)
    converged: bool = False
    rebuilds: int = 0
    model: DispatchModel | None = None

    @property
    def cost_increase_cny(self) -> float:
        """Total cost of the network-aware plan less that of the unaware plan [CNY]."""
        return float(self.result.kpis["total_cost_cny"] - self.unaware.kpis["total_cost_cny"])

    def iterations_frame(self) -> pd.DataFrame:
        return pd.DataFrame([it.as_dict() for it in self.iterations]).set_index("iteration")


def _record(k: int, result: DispatchResult, report: NetworkReport, spec: NetworkSpec | None, active: int,
            solve_s: float, linearize_s: float) -> NetworkIteration:
    kp = report.kpis
    return NetworkIteration(iteration=k, total_cost_cny=float(result.kpis["total_cost_cny"]),
                            violations=int(kp["network_violations"]),
                            max_line_loading_pct=float(kp["max_line_loading_pct"]),
                            max_trafo_loading_pct=float(kp["max_trafo_loading_pct"]),
                            min_vm_pu=float(kp["min_vm_pu"]), max_vm_pu=float(kp["max_vm_pu"]),
                            network_losses_kwh=float(kp["network_losses_kwh"]),
                            constrained_quantities=len(spec.quantities) if spec else 0, active_rows=int(active),
                            solve_time_s=float(solve_s), linearize_time_s=float(linearize_s))


def _result(model: DispatchModel, inputs: DispatchInputs, strategy: str = "optimal",
            warm_start: dict | None = None) -> DispatchResult:
    """:meth:`DispatchModel.solve` (the planned losses and the network slack come with it)."""
    return model.solve(inputs, strategy, warm_start)


def _violated(report: NetworkReport, quantities: list[tuple[str, str, str]], index: pd.Index):
    """Violations of a report as (step, quantity index, side, excess); side ``+1`` upper, ``−1`` lower."""
    where = {q: k for k, q in enumerate(quantities)}
    step = {stamp: t for t, stamp in enumerate(index)}
    out = []
    for row in report.violations.itertuples():
        if row.element == "network":
            continue
        side = 1 if row.value > row.limit else -1
        out.append((step[row.timestamp], where[(row.element, row.name, row.quantity)], side,
                    abs(row.value - row.limit)))
    return out


def plan_network_aware(
    inputs: DispatchInputs,
    config: DispatchConfig | None = None,
    *,
    net=None,
    folder: Path | None = None,
    max_iterations: int | None = None,
    losses: bool = True,
    engine: str = "auto",
    unaware: DispatchResult | None = None,
    warm_start: dict | None = None,
) -> NetworkAwarePlan:
    """Plan ``inputs`` so that the AC power flow of the plan keeps every network limit (see the module docstring).

    Parameters
    ----------
    inputs : DispatchInputs
        A horizon of a park with a network (``network.buses`` or
        ``network.pandapower_json``).
    config : DispatchConfig, optional
        As for the unaware plan (its ``network`` field is set here).
    net : pandapower.pandapowerNet, optional
        From :func:`microgrid.network.build_network` (built when not given;
        ``folder`` resolves a relative ``pandapower_json``).
    max_iterations : int, optional
        Solves with the network at most (default: the case's
        ``network.max_iterations``).
    losses : bool
        Whether the linearized losses enter the power balance at the PCC.
    engine : {"auto", "lightsim2grid", "pandapower"}
        AC power-flow engine of the checks and the linearizations.
    unaware : DispatchResult, optional
        The network-unaware plan of ``inputs`` if already made.
    warm_start : dict, optional
        Integer decisions to start the first solve from (see
        :meth:`DispatchModel.plan`); later solves start from the last plan.

    Returns
    -------
    NetworkAwarePlan

    Raises
    ------
    InvalidParkError
        The park has no network.
    """
    park = inputs.park
    if not park.network.described:
        raise InvalidParkError(Message("network: a network-aware plan needs the park's network; describe "
                                       "network.buses, lines and transformers or give network.pandapower_json"))
    config = config or DispatchConfig()
    max_iterations = max_iterations or park.network.max_iterations
    net = net if net is not None else build_network(park, folder)
    exclusive = {"auto": needs_exclusivity(inputs), "always": True, "never": False}[config.exclusivity]
    blind_model = None
    if unaware is None:
        blind_model = DispatchModel(inputs, dataclasses.replace(config, network=None), exclusive)
        unaware = blind_model.solve(inputs, warm_start=warm_start)
        warm = {"decisions": blind_model.integer_decisions(), "shift_steps": 0}
    else:
        warm = warm_start
    unaware_report = validate_schedule(park, unaware.schedule, net, engine=engine)
    iterations = [_record(0, unaware, unaware_report, None, 0, unaware.solve_time_s or 0.0, 0.0)]
    columns = controlled_columns(park)
    offsets = column_offsets_kw(columns, inputs)
    schedule, report = unaware.schedule, unaware_report
    rows = tighten_lower = tighten_upper = repeats = band = None
    model, spec, rebuilds = None, None, 0
    result = unaware
    for k in range(1, max_iterations + 1):
        started = time.perf_counter()
        lin = linearize_schedule(park, net, schedule, linearization_columns(columns), engine=engine)
        latest = LinearRows.from_linearization(columns, lin, variable_values(columns, schedule, offsets))
        if rows is None:
            rows = latest
            shape = rows.base.shape
            tighten_lower, tighten_upper, repeats = np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=int)
            band = np.array([RELINEARIZE_BAND[q[2]] for q in rows.quantities])
        else:
            rows.update(latest, (lin.value >= rows.upper - band) | (lin.value <= rows.lower + band))
        violations = _violated(report, rows.quantities, inputs.index)
        force = np.zeros(rows.base.shape, dtype=bool)
        for t, q, side, _excess in violations:
            force[t, q] = True           # a row violated in AC stays active whatever the screen says
            if k > 1:                    # (the unaware plan's are cut off by the linearization at it alone)
                margin = TIGHTEN_MARGIN[rows.quantities[q][2]] * 2.0 ** repeats[t, q]
                repeats[t, q] += 1
                (tighten_upper if side > 0 else tighten_lower)[t, q] += margin
        if k > 1:   # and every step of a violated quantity by one margin, on the side violated
            for q, side in {(q, side) for _, q, side, _ in violations}:
                (tighten_upper if side > 0 else tighten_lower)[:, q] += TIGHTEN_MARGIN[rows.quantities[q][2]]
        could = screen(columns, inputs, rows, tighten_lower, tighten_upper) | force
        wanted = set(np.flatnonzero(could.any(axis=0)))
        if spec is not None:
            wanted |= {i for i, q in enumerate(rows.quantities) if q in spec.quantities}
        wanted = sorted(wanted)
        if spec is None or [rows.quantities[q] for q in wanted] != list(spec.quantities):
            if spec is not None:
                rebuilds += 1
            spec = make_spec(rows, wanted, losses=losses)
            model = DispatchModel(inputs, dataclasses.replace(config, network=spec), exclusive)
        active = set_network_inputs(model.model, inputs, spec, rows, tighten_lower, tighten_upper, force)
        linearize_s = time.perf_counter() - started
        result = _result(model, inputs, warm_start=warm)
        warm = {"decisions": model.integer_decisions(), "shift_steps": 0}
        report = validate_schedule(park, result.schedule, net, engine=engine)
        iterations.append(_record(k, result, report, spec, active.sum(), result.solve_time_s, linearize_s))
        logger.info("network-aware iteration %d: %d violations, cost %.2f CNY, %d rows", k,
                    report.kpis["network_violations"], result.kpis["total_cost_cny"], active.sum())
        schedule = result.schedule
        if report.kpis["network_violations"] == 0:
            break
    plan = NetworkAwarePlan(result=result, report=report, unaware=unaware, unaware_report=unaware_report,
                            iterations=iterations, converged=report.kpis["network_violations"] == 0, rebuilds=rebuilds,
                            model=model if model is not None else blind_model)
    result.network_iterations = plan.iterations_frame()
    result.kpis.update(report.kpis)
    result.kpis.update(network_aware=True, network_iterations=len(iterations) - 1, network_converged=plan.converged,
                       network_cost_increase_cny=plan.cost_increase_cny,
                       network_unaware_total_cost_cny=float(unaware.kpis["total_cost_cny"]),
                       network_unaware_violations=int(unaware_report.kpis["network_violations"]))
    return plan
