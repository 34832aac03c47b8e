"""Dispatch strategies compared on the same inputs.

* ``optimal``: the least-cost MILP (:mod:`dispatch.optimize`);
* ``rule-based``: what an inverter's self-consumption mode does: batteries
  charge from PV and wind surplus (PV + wind − load) and discharge on deficit, greedily, step by step,
  ignoring prices; surplus beyond the batteries is exported as the export
  rule allows, then curtailed;
* ``tou-arbitrage``: Chinese C&I storage's default (两充两放): batteries
  charge from the grid in valley windows, spread to be full at the window's
  end, and discharge in peak and critical-peak windows up to the net load;
  PV and wind surplus charges them at any time (:mod:`dispatch.tou_rule`);
* ``no-control``: batteries stay idle; loads are served by PV and wind first, then the
  grid; surplus is exported as the export rule allows, then curtailed.

What is curtailed at a step is taken from the PV arrays and the wind turbine
groups in proportion to what each can give then.

Every heuristic obeys ``grid.export_rule`` at every step
(:mod:`dispatch.exports`): under ``anti_backflow`` nothing is exported and the
surplus the batteries cannot take is curtailed; under ``full_export`` the PV is
all sold (up to ``max_export_kw``) and the batteries see the whole load as net
load, so they charge from the grid only (``tou-arbitrage`` in valleys).
Neither heuristic aims at a battery's ``final_soc_frac``. Load the grid cannot
serve (import limit) is reported as unserved slack, as for ``optimal``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from dispatch.inputs import DispatchInputs
from dispatch.baseline import uncontrolled_devices
from dispatch.exports import onsite_renewable_kw, renewable_available_kw, settle_surplus
from dispatch.kpis import Flows, compute_kpis, make_schedule
from dispatch.model import DispatchConfig
from dispatch.optimize import SLACK_TOLERANCE, ModelCache, solve_optimal
from dispatch.results import DispatchResult, SlackEntry, SolverStatus
from dispatch.tou_rule import spread_charge_kw, tou_windows
from dispatch.validate import check_inputs
from microgrid.errors import InvalidRequestError
from microgrid.messages import Message

Strategy = Literal["optimal", "rule-based", "tou-arbitrage", "no-control"]
STRATEGIES: tuple[str, ...] = ("optimal", "rule-based", "tou-arbitrage", "no-control")
HEURISTICS: tuple[str, ...] = ("rule-based", "tou-arbitrage", "no-control")
"""The strategies simulated step by step by :func:`heuristic_flows` (no solver)."""


def _split(total: float, capacities: np.ndarray) -> np.ndarray:
    """Share ``total`` among devices in proportion to their capacities (never above them)."""
    available = capacities.sum()
    if total <= 0 or available <= 0:
        return np.zeros_like(capacities)
    return capacities * min(1.0, total / available)


def generation_available_kw(inputs: DispatchInputs) -> np.ndarray:
    """PV arrays' then wind turbine groups' available power, ``n_steps × devices`` [kW]."""
    frames = [frame.to_numpy(dtype=float) for frame in (inputs.pv_available_kw, inputs.wind_available_kw)
              if frame.shape[1]]
    return np.hstack(frames) if frames else np.zeros((inputs.n_steps, 0))


def curtail_generation(inputs: DispatchInputs, available: np.ndarray,
                       curtailed_kw: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PV and wind used when ``curtailed_kw`` is taken off at every step, from each device in proportion to its output.

    ``available`` is :func:`generation_available_kw` (for the first
    ``len(curtailed_kw)`` steps of ``inputs``); returns the PV and the wind
    used, one column per array and per turbine group.
    """
    index = inputs.index[:len(curtailed_kw)]
    total = available.sum(axis=1)
    share = np.divide(available, total[:, None], out=np.zeros_like(available), where=total[:, None] > 0)
    used = available - share * np.asarray(curtailed_kw, dtype=float)[:, None]
    n_pv = inputs.pv_available_kw.shape[1]
    return (pd.DataFrame(used[:, :n_pv], index=index, columns=inputs.pv_available_kw.columns),
            pd.DataFrame(used[:, n_pv:], index=index, columns=inputs.wind_available_kw.columns))


def simulate_heuristic(inputs: DispatchInputs, strategy: str) -> DispatchResult:
    """Step-by-step dispatch of a heuristic strategy (:data:`HEURISTICS`).

    Heat devices and flexible loads run uncontrolled (:mod:`dispatch.baseline`);
    the batteries then see the park's net load.
    """
    flows, slack = heuristic_flows(inputs, strategy)
    schedule = make_schedule(inputs, flows)
    kpis = compute_kpis(schedule, inputs)
    kpis.update(strategy=strategy, objective=None, solver_status=SolverStatus.NOT_OPTIMIZED.value, mip_gap=None,
                solve_time_s=None)
    return DispatchResult(strategy=strategy, schedule=schedule, kpis=kpis, status=SolverStatus.NOT_OPTIMIZED, slack=slack)


def heuristic_flows(inputs: DispatchInputs, strategy: str) -> tuple[Flows, list[SlackEntry]]:
    """The flows of :func:`simulate_heuristic`, and what they leave unmet, before any table is made.

    Every step: the batteries' charge and discharge are chosen by the
    strategy's rule; what remains of the net load (load − on-site PV and wind + charge
    − discharge; on-site renewables are 0 under ``full_export``) is imported up to
    ``grid.max_import_kw`` (the rest unserved), or settled by the export rule
    (:func:`dispatch.exports.settle_surplus`: exported within the limit, the
    rest curtailed).
    """
    if strategy not in HEURISTICS:
        raise InvalidRequestError(Message("strategy: {strategy!r} is not a heuristic; choose one of {heuristics}",
                                          strategy=strategy, heuristics=', '.join(HEURISTICS)))
    park = inputs.park
    device_frames, slack = uncontrolled_devices(inputs)
    dt_h = inputs.dt_h
    n = inputs.n_steps
    ids = list(park.batteries)
    bats = [park.batteries[b] for b in ids]
    soc = np.array([inputs.initial_soc_kwh(b) for b in ids], dtype=float)
    charge = np.zeros((n, len(ids)))
    discharge = np.zeros((n, len(ids)))
    soc_path = np.zeros((n, len(ids)))
    available = generation_available_kw(inputs)
    renewable = renewable_available_kw(inputs)
    onsite = onsite_renewable_kw(park.grid, renewable)
    empty = pd.DataFrame(index=inputs.index)
    probe = Flows(pv_used_kw=empty, battery_charge_kw=empty, battery_discharge_kw=empty, battery_soc_kwh=empty,
                  grid_import_kw=np.zeros(n), grid_export_kw=np.zeros(n), unserved_kw=np.zeros(n), **device_frames)
    load = inputs.total_load_kw.to_numpy() + probe.flexible_kw(inputs)
    grid_import = np.zeros(n)
    unserved = np.zeros(n)
    surplus = np.zeros(n)
    eta_c = np.array([b.charge_efficiency for b in bats])
    eta_d = np.array([b.discharge_efficiency for b in bats])
    max_ch = np.array([b.max_charge_kw for b in bats])
    max_dis = np.array([b.max_discharge_kw for b in bats])
    soc_min = np.array([b.min_soc_kwh for b in bats])
    soc_max = np.array([b.max_soc_kwh for b in bats])
    import_limit = np.full(n, park.grid.max_import_kw)
    if inputs.import_cap_kw is not None:
        import_limit = np.minimum(import_limit, inputs.import_cap_kw)
    valley_left, peak = tou_windows(inputs) if strategy == "tou-arbitrage" else (np.zeros(n, int), np.zeros(n, bool))
    use_batteries = strategy != "no-control" and bool(ids)
    for t in range(n):
        net = load[t] - onsite[t]
        if use_batteries:
            room_ch = np.minimum(max_ch, np.clip(soc_max - soc, 0, None) / (eta_c * dt_h))
            room_dis = np.minimum(max_dis, np.clip(soc - soc_min, 0, None) * eta_d / dt_h)
            if net < 0:                       # PV and wind surplus charges the batteries (every rule)
                charge[t] = _split(-net, room_ch)
            elif strategy == "rule-based" or peak[t]:
                discharge[t] = _split(net, room_dis)   # never more than the net load: no battery export
            if valley_left[t]:
                # The grid tops the surplus up to the spread power, within the import limit.
                target = spread_charge_kw(soc_max - soc, max_ch, eta_c, dt_h, int(valley_left[t]))
                extra = np.clip(target - charge[t], 0, None)
                headroom = max(0.0, import_limit[t] - max(net, 0.0))
                charge[t] += _split(min(extra.sum(), headroom), extra)
        residual = net + charge[t].sum() - discharge[t].sum()
        grid_import[t] = min(max(residual, 0.0), park.grid.max_import_kw)
        unserved[t] = max(residual, 0.0) - grid_import[t]
        surplus[t] = max(-residual, 0.0)
        if ids:
            soc = np.clip(soc + (eta_c * charge[t] - discharge[t] / eta_d) * dt_h, soc_min, soc_max)
            soc_path[t] = soc
    grid_export, curtailed = settle_surplus(park.grid, surplus, renewable)
    pv_used, wind_used = curtail_generation(inputs, available, curtailed)
    unserved[unserved < SLACK_TOLERANCE] = 0.0
    flows = Flows(
        pv_used_kw=pv_used,
        wind_used_kw=wind_used,
        battery_charge_kw=pd.DataFrame(charge, index=inputs.index, columns=ids),
        battery_discharge_kw=pd.DataFrame(discharge, index=inputs.index, columns=ids),
        battery_soc_kwh=pd.DataFrame(soc_path, index=inputs.index, columns=ids),
        grid_import_kw=grid_import,
        grid_export_kw=grid_export,
        unserved_kw=unserved,
        **device_frames,
    )
    if unserved.any():
        steps = [inputs.index[t].isoformat() for t in np.flatnonzero(unserved)]
        slack.insert(0, SlackEntry("grid", "max_import_kw (load not served)", steps, float(unserved.sum() * dt_h), "kWh"))
    return flows, slack


def run_strategy(inputs: DispatchInputs, strategy: str = "optimal", config: DispatchConfig | None = None,
                 models: ModelCache | None = None, warm_start_from_last: bool = False,
                 warm_start: dict | None = None) -> DispatchResult:
    """Plan ``inputs`` with the named strategy, after the checks of :mod:`dispatch.validate`.

    ``models``, ``warm_start_from_last`` and ``warm_start`` go to :func:`dispatch.optimize.solve_optimal`.
    """
    check_inputs(inputs)
    if strategy == "optimal":
        return solve_optimal(inputs, config, models=models, warm_start_from_last=warm_start_from_last,
                             warm_start=warm_start)
    if strategy in HEURISTICS:
        return simulate_heuristic(inputs, strategy)
    raise InvalidRequestError(Message("strategy: unknown {strategy!r}; choose one of {strategies}",
                                      strategy=strategy, strategies=', '.join(STRATEGIES)))
