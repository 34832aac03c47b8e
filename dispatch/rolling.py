"""Rolling-horizon operation: re-plan every interval, commit the first steps, carry the state.

One engine serves real operation (intraday re-planning) and offline studies
over a year. At every re-plan the optimizer sees forecasts issued at that time
(``mpc``) or the actual data (``perfect-foresight``: the upper bound), or a
heuristic (``no-control``, ``rule-based``, ``tou-arbitrage``) acts step by
step on the actual data; what
really happens is then simulated with the actual data, and the measured state
(battery and heat-store contents, fleet energy, batch runs, shed hours used,
shifted energy owed, month-to-date peak) carries into the next window.

Models are built once per horizon shape and reused: a shape is the park, the
number of steps and where the daily windows of batch processes, fleets and
shed limits fall in the horizon (:func:`shape_key`); between windows only the
mutable parameters change, pushed to HiGHS through the model's compiled
matrix form (:mod:`dispatch.standard_form`). Each plan starts from the
previous plan's integer decisions moved to its start (a warm start kept in
:attr:`PlantState.previous_plan`, so a run continued from a saved state makes
the same plans as an uninterrupted one).

A window that fails (no plan from the solver, or any other error of the plan)
is never skipped: its committed steps follow the rule-based action instead,
the window is flagged in ``RollingResult.windows`` and counted in the KPIs.
"""

from __future__ import annotations

import calendar
import copy
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np
import pandas as pd

from dispatch.exports import onsite_renewable_kw, renewable_available_kw, settle_surplus
from dispatch.flexible import energy_sessions, process_days
from dispatch.inputs import DispatchInputs, PlantState, horizon_inputs
from dispatch.kpis import Flows, make_schedule, schedule_kpis
from dispatch.model import DispatchConfig, needs_exclusivity
from dispatch.optimize import DispatchModel, ModelCache, shape_key  # noqa: F401 - the cache lives with the model
from dispatch.results import SolverStatus
from dispatch.strategies import HEURISTICS, curtail_generation, generation_available_kw, heuristic_flows
from forecasting.pv import case_pv_profiles
from microgrid.case import Case
from microgrid.errors import InvalidRequestError, MicrogridError
from microgrid.messages import Message
from microgrid.park import Park
from microgrid.timeseries import step_hours

logger = logging.getLogger(__name__)

ROLLING_STRATEGIES: tuple[str, ...] = ("no-control", "rule-based", "tou-arbitrage", "mpc", "perfect-foresight")


@dataclass(frozen=True)
class ForecastErrorModel:
    """Forecast errors of a study without archived forecasts.

    Forecasts issued at a window start are the actual values plus errors drawn
    from an AR(1) process along the horizon (correlation ``autocorrelation``
    from one 15-minute step to the next), seeded by the study seed and the
    window start, so every run of a study sees the same forecasts.

    With ``from_measurement`` (default) the process starts from no error at
    the issue time, when the park's meters give the present, and its standard
    deviation grows with the lead time towards the day-ahead accuracy below:
    ``σ_k = σ √(1 − ρ^{2k})`` for the ``k``-th step ahead (with ρ = 0.95 a
    third of σ for the next 15 minutes, 58 % one hour ahead, 95 % six hours
    ahead). Without it every step has the day-ahead error, the next 15
    minutes included.

    * PV: ``actual + capacity × e``, ``e`` normal with standard deviation
      ``pv_nmae × √(π/2)`` (the normal distribution's MAE-to-σ ratio), one
      error path for all arrays (they see the same weather forecast), only
      where the sun is up (actual PV > 0), clipped to [0, AC capacity].
    * Loads (fixed loads and curtailable baselines): ``actual × (1 + e)``
      with ``σ = load_nmae × √(π/2)``, one error path shared by all loads.
      Shiftable loads' baselines are taken as known: their energy owed is
      accounted against the actual baseline, and a plan on another baseline
      could owe more than it can make up.
    * Wind: ``actual + max_p_kw × e`` for each turbine group, ``e`` with
      standard deviation ``wind_nmae × √(π/2)``, one error path of its own
      (independent of PV and loads) shared by all groups, at every step,
      clipped to [0, max_p_kw].

    A plan on forecasts keeps ``peak_margin_sigmas`` standard deviations of
    the net-load error, ``√(σ_load² + σ_PV² + σ_wind²)`` at each step, as headroom below
    the month-to-date peak (``DispatchInputs.peak_margin_kw``): the demand
    charge bills the month's single highest 15 minutes, so an error that
    lifts the import above the peak costs the whole month, while one that
    lowers it saves nothing (0: none).

    Defaults come from ``docs/forecasting.md``: PV 7.8 % nMAE of capacity
    (pvlib from NSRDB weather on NREL's SERF East, daylight steps) and load
    4.9 % nMAE of the mean (calendar and temperature regression on the
    reference loads). Wind 12 % nMAE of ``max_p_kw`` is not measured here:
    it is within the 10–15 % of capacity that reviews of day-ahead forecasts
    for single onshore wind farms report; set it from the park's own
    forecasts where they are archived. Heat demand, shiftable baselines and
    prices are taken as known.
    """

    pv_nmae: float = 0.078
    load_nmae: float = 0.049
    wind_nmae: float = 0.12
    autocorrelation: float = 0.95
    peak_margin_sigmas: float = 1.0
    from_measurement: bool = True

    def _path(self, rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
        rho = self.autocorrelation
        shocks = rng.normal(0.0, sigma * np.sqrt(1 - rho**2), n)
        path = np.empty(n)
        previous = 0.0 if self.from_measurement else rng.normal(0.0, sigma)
        for t in range(n):
            previous = rho * previous + shocks[t] if (t or self.from_measurement) else previous
            path[t] = previous
        return path

    def sigma_fraction(self, n: int) -> np.ndarray:
        """Standard deviation of the error at each of ``n`` steps ahead, as a fraction of the day-ahead σ."""
        if not self.from_measurement:
            return np.ones(n)
        return np.sqrt(1.0 - self.autocorrelation ** (2 * np.arange(1, n + 1)))

    def apply(self, inputs: DispatchInputs, seed: int) -> DispatchInputs:
        """Forecast inputs: ``inputs`` (actual) with errors; the state is shared."""
        rng = np.random.default_rng([seed, int(inputs.index[0].value // 10**9)])
        n = inputs.n_steps
        factor = np.sqrt(np.pi / 2)
        forecast = copy.copy(inputs)
        pv = inputs.pv_available_kw.copy()
        pv_error = self._path(rng, n, self.pv_nmae * factor)
        for array_id in pv.columns:
            capacity = inputs.park.pv_arrays[array_id].ac_capacity_kw
            sun = pv[array_id].to_numpy() > 0
            pv[array_id] = np.clip(pv[array_id].to_numpy() + np.where(sun, pv_error * capacity, 0.0), 0.0, capacity)
        forecast.pv_available_kw = pv
        load_error = 1.0 + self._path(rng, n, self.load_nmae * factor)
        load_error = np.clip(load_error, 0.0, None)
        forecast.load_kw = inputs.load_kw.mul(load_error, axis=0)
        forecast.curtailable_base_kw = inputs.curtailable_base_kw.mul(load_error, axis=0)
        sigma_load = self.load_nmae * factor * (forecast.load_kw.sum(axis=1).to_numpy()
                                                + forecast.curtailable_base_kw.sum(axis=1).to_numpy())
        pv_capacity_kw = sum(inputs.park.pv_arrays[a].ac_capacity_kw for a in pv.columns)
        sigma_pv = np.where(pv.sum(axis=1).to_numpy() > 0, self.pv_nmae * factor * pv_capacity_kw, 0.0)
        sigma_wind = np.zeros(n)
        if inputs.park.wind_turbines:
            # Drawn after the loads' path, so that a park without wind sees the same errors as before wind.
            wind = inputs.wind_available_kw.copy()
            wind_error = self._path(rng, n, self.wind_nmae * factor)
            most_kw = {g_id: g.max_p_kw for g_id, g in inputs.park.wind_turbines.items()}
            for group_id in wind.columns:
                wind[group_id] = np.clip(wind[group_id].to_numpy() + wind_error * most_kw[group_id], 0.0,
                                         most_kw[group_id])
            forecast.wind_available_kw = wind
            sigma_wind = np.full(n, self.wind_nmae * factor * sum(most_kw[g] for g in wind.columns))
        forecast.peak_margin_kw = self.peak_margin_sigmas * self.sigma_fraction(n) * np.sqrt(
            sigma_load**2 + sigma_pv**2 + sigma_wind**2)
        return forecast


@dataclass(frozen=True)
class RollingConfig:
    """How a rolling-horizon run re-plans.

    Attributes
    ----------
    strategy : {'no-control', 'rule-based', 'tou-arbitrage', 'mpc', 'perfect-foresight'}
    horizon_h : float
        Length of every plan [h] (shortened at the end of the case's data).
    replan_h : float
        Interval between re-plans [h]; the plan's first ``replan_h`` hours are
        committed.
    dispatch : DispatchConfig
        How each window is solved. The default keeps integer decisions over
        the first 3 hours (``integer_horizon_h``; the committed hour and two
        more), relaxes the rest, and tries relax-and-fix before the MIP
        (``lp_first``): docs/benchmarks.md measures both against plans
        integer over the whole horizon. Energy left in the stores at the
        end of each plan has no value (``end_of_horizon='minimum'``): the
        look-ahead beyond the committed steps keeps what the next hours need.
    errors : ForecastErrorModel
        Forecast errors of ``mpc``.
    seed : int
        Seed of the forecast errors.
    max_models : int
        Built models kept for reuse (one per horizon shape).
    """

    strategy: Literal["no-control", "rule-based", "tou-arbitrage", "mpc", "perfect-foresight"] = "mpc"
    horizon_h: float = 24.0
    replan_h: float = 1.0
    dispatch: DispatchConfig = field(
        default_factory=lambda: DispatchConfig(integer_horizon_h=3.0, lp_first=True, end_of_horizon="minimum"))
    errors: ForecastErrorModel = field(default_factory=ForecastErrorModel)
    seed: int = 0
    max_models: int = 128

    def __post_init__(self) -> None:
        if self.strategy not in ROLLING_STRATEGIES:
            raise InvalidRequestError(Message("strategy: unknown {strategy!r}; choose one of {strategies}",
                                              strategy=self.strategy,
                                              strategies=', '.join(ROLLING_STRATEGIES)))
        if self.replan_h <= 0 or self.horizon_h < self.replan_h:
            raise InvalidRequestError(
                Message("replan_h: must be > 0 and at most horizon_h ({horizon_h:g} h), got {replan_h:g}",
                        horizon_h=self.horizon_h, replan_h=self.replan_h))


@dataclass
class RollingResult:
    """What a rolling-horizon run did.

    Attributes
    ----------
    schedule : pandas.DataFrame
        The committed (realized) steps, in the output contract of ``schedule.csv``.
    windows : pandas.DataFrame
        One row per re-plan: ``window_start``, ``status``, ``fallback`` (the
        rule-based action was used), ``reason``, ``update_s`` (building or
        updating the model), ``solve_s`` (HiGHS), ``reused`` (model reused),
        ``method`` (how the plan was found, see ``dispatch.optimize.Plan``;
        empty for the heuristics and fallbacks).
    state : PlantState
        The state at the end, to continue from.
    kpis : dict
        :func:`period_kpis` of the schedule, with ``fallback_windows``.
    """

    schedule: pd.DataFrame
    windows: pd.DataFrame
    state: PlantState
    kpis: dict


def period_kpis(schedule: pd.DataFrame, park: Park, month_to_date_peak_kw: float | None = None) -> dict:
    """KPIs of a schedule over any period, with the demand charge billed per calendar month.

    The rule is that of a single plan (:class:`microgrid.tariff.DemandCharge`):
    with the first month's peak before the schedule known
    (``month_to_date_peak_kw``), that month is billed what the schedule adds
    to it; otherwise, and for every later month, each month is billed pro rata
    to the days covered (a whole month in full, so a study of a few days is
    not billed a whole month's charge).
    """
    if schedule.empty:
        raise InvalidRequestError(Message("period_kpis: the schedule is empty"))
    dt_h = step_hours(schedule.index, "schedule") if len(schedule) > 1 else 0.25
    return schedule_kpis(schedule, park, dt_h, month_to_date_peak_kw)


def _realize(actual: DispatchInputs, plan: Flows, steps: int,
             planned: DispatchInputs | None = None) -> tuple[Flows, DispatchInputs]:
    """What happens in the first ``steps`` steps when the plan meets the actual PV and loads.

    Heat devices, batch processes, fleets, shedding and shifting follow the
    plan (shed never above the actual baseline; a shiftable load moves its
    actual baseline by the planned shift, ``planned`` holding the forecast
    baseline the plan saw). The batteries follow their planned power, as a
    site controller does, and act on the difference between the actual and
    the planned net load only where it costs: they discharge more where the
    import would rise above the month's peak so far (or the planned import,
    if higher) — a new peak is billed for the whole month — and charge more
    where PV and wind surplus would be exported or curtailed beyond the plan; elsewhere the grid
    takes the difference, and the batteries keep the energy the plan set
    aside for later. All within their power and energy limits; a discharge
    the park does not need is never exported. The grid takes the rest: import
    up to its limit (beyond it load is unserved), PV and wind surplus exported as
    ``grid.export_rule`` allows (:func:`dispatch.exports.settle_surplus`:
    nothing under ``anti_backflow``; under ``full_export`` all PV is sold and
    none serves the park), then curtailed (PV and wind alike, in proportion to their output). Returns the realized flows and the
    inputs cut to the committed steps. A network-aware plan's planned losses
    are bought at the PCC as planned.
    """
    park = actual.park
    head = {name: getattr(plan, name).iloc[:steps].copy() for name in (
        "battery_charge_kw", "battery_discharge_kw", "hp_elec_kw", "hp_heat_kw", "boiler_elec_kw", "boiler_heat_kw",
        "ts_charge_kw", "ts_discharge_kw", "ts_soc_kwh", "heat_dump_kw", "heat_unserved_kw", "process_kw",
        "energy_load_kw", "shed_kw", "shiftable_kw")}
    index = actual.index[:steps]
    for frame in head.values():
        frame.index = index
    if park.curtailable_loads:
        head["shed_kw"] = np.minimum(head["shed_kw"], actual.curtailable_base_kw.iloc[:steps])
    if park.shiftable_loads and planned is not None:
        shift = head["shiftable_kw"].to_numpy() - planned.shiftable_base_kw.iloc[:steps].to_numpy()
        head["shiftable_kw"] = pd.DataFrame(np.clip(actual.shiftable_base_kw.iloc[:steps].to_numpy() + shift, 0, None),
                                            index=index, columns=head["shiftable_kw"].columns)
    window = copy.copy(actual)
    for name in ("load_kw", "pv_available_kw", "wind_available_kw", "curtailable_base_kw", "shiftable_base_kw",
                 "heat_demand_kw"):
        setattr(window, name, getattr(actual, name).iloc[:steps])
    window.index = index
    window.price_import_cny_per_kwh = actual.price_import_cny_per_kwh.iloc[:steps]
    window.price_export_cny_per_kwh = actual.price_export_cny_per_kwh.iloc[:steps]
    window.tou_period = actual.tou_period.iloc[:steps]
    window.temp_air_c = actual.temp_air_c.iloc[:steps]
    probe = Flows(pv_used_kw=pd.DataFrame(index=index), battery_charge_kw=head["battery_charge_kw"],
                  battery_discharge_kw=head["battery_discharge_kw"], battery_soc_kwh=pd.DataFrame(index=index),
                  grid_import_kw=np.zeros(steps), grid_export_kw=np.zeros(steps), unserved_kw=np.zeros(steps),
                  **{k: v for k, v in head.items() if k not in ("battery_charge_kw", "battery_discharge_kw")})
    losses = None if plan.network_losses_kw is None else np.asarray(plan.network_losses_kw[:steps], dtype=float)
    consumption = window.total_load_kw.to_numpy() + probe.flexible_kw(window) + (0.0 if losses is None else losses)
    available = generation_available_kw(window)
    renewable = renewable_available_kw(window)
    onsite = onsite_renewable_kw(park.grid, renewable)     # 0 under full_export: the renewables are all sold
    bats = list(park.batteries.values())
    planned_out = (head["battery_discharge_kw"] - head["battery_charge_kw"]).to_numpy()   # net output, kW
    planned_grid = np.asarray(plan.grid_import_kw[:steps]) - np.asarray(plan.grid_export_kw[:steps])
    if park.grid.export_rule == "full_export":     # the park's own meter only imports; the export is metered apart
        planned_grid = np.asarray(plan.grid_import_kw[:steps], dtype=float)
    else:
        # The surplus the plan curtailed is part of its exchange: only surplus beyond the plan's export and
        # curtailment is new to the batteries (a rule that curtails, e.g. no-control, is realized as planned).
        seen = renewable_available_kw(actual if planned is None else planned)[:steps]
        used = (plan.pv_used_kw.iloc[:steps].sum(axis=1) + plan.wind_used_kw.iloc[:steps].sum(axis=1)).to_numpy()
        planned_grid = planned_grid - np.clip(seen - used, 0, None)
    charge = np.zeros_like(planned_out)
    discharge = np.zeros_like(planned_out)
    soc = np.zeros_like(planned_out)
    level = np.array([actual.initial_soc_kwh(b) for b in park.batteries], dtype=float)
    dt_h = actual.dt_h
    net = np.zeros(steps)
    peak = actual.month_to_date_peak_or_zero_kw
    for t in range(steps):
        most_out = np.array([min(b.max_discharge_kw, max(level[k] - b.min_soc_kwh, 0) * b.discharge_efficiency / dt_h)
                             for k, b in enumerate(bats)])
        most_in = np.array([min(b.max_charge_kw, max(b.max_soc_kwh - level[k], 0) / (b.charge_efficiency * dt_h))
                            for k, b in enumerate(bats)])
        out = np.clip(planned_out[t], -most_in, most_out)
        exchange = consumption[t] - onsite[t] - out.sum()              # grid import (> 0) with planned batteries
        highest = max(peak, planned_grid[t])                            # no new peak beyond the plan's
        lowest = min(planned_grid[t], 0.0)                              # no export beyond the plan's
        extra = exchange - highest if exchange > highest else exchange - lowest if exchange < lowest else 0.0
        room = np.where(extra > 0, most_out - out, most_in + out)
        if room.sum() > 0 and extra != 0:
            out = out + np.sign(extra) * room * min(1.0, abs(extra) / room.sum())
        # Never discharge into export: only what the park consumes.
        surplus_out = max(0.0, out.clip(min=0).sum() - max(consumption[t] - onsite[t], 0.0))
        if surplus_out > 0:
            positive = out.clip(min=0)
            out = out - positive * (surplus_out / positive.sum())
        discharge[t], charge[t] = out.clip(min=0), (-out).clip(min=0)
        for k, b in enumerate(bats):
            level[k] += (b.charge_efficiency * charge[t, k] - discharge[t, k] / b.discharge_efficiency) * dt_h
            level[k] = min(max(level[k], b.min_soc_kwh), b.max_soc_kwh)
            soc[t, k] = level[k]
        net[t] = consumption[t] + charge[t].sum() - discharge[t].sum() - onsite[t]
        peak = max(peak, min(net[t], park.grid.max_import_kw))
    grid_import = np.minimum(np.clip(net, 0, None), park.grid.max_import_kw)
    unserved = np.clip(net, 0, None) - grid_import
    grid_export, curtailed = settle_surplus(park.grid, np.clip(-net, 0, None), renewable)
    pv_used, wind_used = curtail_generation(window, available, curtailed)
    ids = list(park.batteries)
    return Flows(
        pv_used_kw=pv_used,
        wind_used_kw=wind_used,
        battery_charge_kw=pd.DataFrame(charge, index=index, columns=ids),
        battery_discharge_kw=pd.DataFrame(discharge, index=index, columns=ids),
        battery_soc_kwh=pd.DataFrame(soc, index=index, columns=ids),
        grid_import_kw=grid_import, grid_export_kw=grid_export, unserved_kw=unserved, network_losses_kw=losses,
        **{k: v for k, v in head.items() if k not in ("battery_charge_kw", "battery_discharge_kw")},
    ), window


def _next_state(state: PlantState, actual: DispatchInputs, flows: Flows, steps: int,
                delivered_default: str) -> PlantState:
    """The state after the committed steps (the first ``steps`` of ``actual``)."""
    park = actual.park
    tz = park.site.timezone
    dt_h = actual.dt_h
    new = copy.deepcopy(dataclasses.replace(state, previous_plan=None))
    local = actual.local_index[:steps]
    start_local = local[0]
    end_local = (actual.index[steps - 1] + pd.Timedelta(hours=dt_h)).tz_convert(tz)
    next_day = end_local.date()          # the local day of the next window's start
    same_day = start_local.date() == next_day
    for b in park.batteries:
        new.soc_kwh[b] = float(flows.battery_soc_kwh[b].iloc[-1])
    for j in park.thermal_stores:
        new.thermal_soc_kwh[j] = float(flows.ts_soc_kwh[j].iloc[-1])
    # Month-to-date peak: the committed steps lie in the start's month.
    peak = float(np.max(flows.grid_import_kw)) if steps else 0.0
    new.month_to_date_peak_kw = max(state.month_to_date_peak_kw or 0.0, peak)
    if (end_local.year, end_local.month) != (start_local.year, start_local.month):
        new.month_to_date_peak_kw = 0.0
    # Fleet sessions: energy received so far by the session in progress at the end.
    end = actual.index[steps - 1] + pd.Timedelta(hours=dt_h)
    in_progress = [s for s in energy_sessions(actual, delivered_default) if s.arrival < end < s.departure]
    for load_id in park.energy_loads:
        new.energy_delivered_kwh.pop(load_id, None)
    for session in in_progress:
        load = park.energy_loads[session.load_id]
        here = flows.energy_load_kw[session.load_id].to_numpy()
        mask = np.array([session.arrival <= t for t in actual.index[:steps]])
        received = float(here[mask].sum() * dt_h * load.efficiency)
        before = 0.0
        if session.arrival < actual.index[0]:
            before = load.energy_kwh - session.max_kwh          # what the session had at the window start
        new.energy_delivered_kwh[session.load_id] = before + received
    # Batch runs: follow the committed power step by step to find the starts.
    for p, process in park.shiftable_processes.items():
        length = len(process.profile_on_steps(dt_h))
        power = flows.process_kw[p].to_numpy()
        running = state.process_running_steps.get(p)
        remaining = length - running if running is not None else 0
        done = state.process_runs_done.get(p, 0) if same_day else 0
        for t in range(steps):
            if remaining > 0:
                remaining -= 1
                continue
            if power[t] > 1e-6:
                remaining = length - 1
                if local[t].date() == next_day:
                    done += 1
        new.process_runs_done[p] = done
        if remaining > 0:
            new.process_running_steps[p] = length - remaining
        else:
            new.process_running_steps.pop(p, None)
    # Shedding used on the next window's day.
    for c in park.curtailable_loads:
        used_h = state.shed_hours_used.get(c, 0.0) if same_day else 0.0
        used_kwh = state.shed_kwh_used.get(c, 0.0) if same_day else 0.0
        today = np.array([d == next_day for d in local.date])
        shed = flows.shed_kw[c].to_numpy()[today]
        new.shed_hours_used[c] = used_h + float((shed > 1e-6).sum() * dt_h)
        new.shed_kwh_used[c] = used_kwh + float(shed.sum() * dt_h)
    for e in park.shiftable_loads:
        moved = (flows.shiftable_kw[e].to_numpy() - actual.shiftable_base_kw[e].to_numpy()[:steps]).sum() * dt_h
        new.shift_ahead_kwh[e] = state.shift_ahead_kwh.get(e, 0.0) + float(moved)
        delay = int(np.floor(park.shiftable_loads[e].max_shift_h / dt_h + 1e-9))
        recent = list(state.shift_recent_base_kw.get(e, [])) + actual.shiftable_base_kw[e].to_numpy()[:steps].tolist()
        new.shift_recent_base_kw[e] = recent[-delay:]
    return new


def _plan_network_aware(inputs: DispatchInputs, config: RollingConfig, net, warm_start: dict | None,
                        record: dict) -> tuple[DispatchModel, Flows]:
    """One window planned network-aware (:func:`dispatch.network_aware.plan_network_aware`), recorded."""
    from dispatch.network_aware import plan_network_aware

    aware = plan_network_aware(inputs, config.dispatch, net=net, warm_start=warm_start)
    result = aware.result
    record.update(status=result.status.value, method="network",
                  solve_s=float(sum(it.solve_time_s for it in aware.iterations)),
                  network_iterations=len(aware.iterations) - 1, network_converged=aware.converged,
                  network_violations=int(aware.report.kpis["network_violations"]))
    if not aware.converged:
        logger.warning("window %s: the network-aware plan keeps %d AC violation(s) after %d iterations",
                       inputs.index[0].isoformat(), aware.report.kpis["network_violations"], len(aware.iterations) - 1)
    return aware.model, aware.model.flows(inputs)


def _warm_start(state: PlantState, start: pd.Timestamp) -> dict | None:
    """The previous plan's integer decisions moved to a plan starting at ``start``, if any."""
    previous = state.previous_plan
    if not previous:
        return None
    shift = (start - pd.Timestamp(previous["start"])) / pd.Timedelta(hours=previous["dt_h"])
    if shift < 0 or abs(shift - round(shift)) > 1e-9:
        return None
    return {"decisions": previous["decisions"], "shift_steps": int(round(shift))}


def run_rolling_horizon(
    case: Case,
    start: pd.Timestamp,
    end: pd.Timestamp,
    config: RollingConfig | None = None,
    state: PlantState | None = None,
    progress: Callable[[int, int], None] | None = None,
    cache: ModelCache | None = None,
) -> RollingResult:
    """Operate the park from ``start`` to ``end`` (tz-aware) with re-planning.

    Parameters
    ----------
    case : Case
    start, end : pandas.Timestamp
        The period; ``end`` exclusive. Both tz-aware.
    config : RollingConfig
    state : PlantState, optional
        State at ``start`` (default: the devices' initial values).
    progress : callable, optional
        ``progress(done_windows, total_windows)`` after every window.
    cache : ModelCache, optional
        Built models to reuse across calls (e.g. day by day in a study).
    """
    config = config or RollingConfig()
    for name, stamp in (("start", start), ("end", end)):
        if stamp.tzinfo is None:
            raise InvalidRequestError(Message("{name}: {stamp} has no UTC offset; give a tz-aware time",
                                              name=name, stamp=stamp))
    if end <= start:
        raise InvalidRequestError(Message("end: {end} must be after start {start}",
                                          end=end.isoformat(), start=start.isoformat()))
    park = case.park
    if park.pv_arrays:
        case_pv_profiles(case)   # PV of the whole weather file once, sliced by every window
    if park.wind_turbines:
        from forecasting.wind import case_wind_profiles

        case_wind_profiles(case)   # wind likewise (windpowerlib imported only for a park with wind)
    state = copy.deepcopy(state) if state is not None else PlantState()
    initial_peak_kw = state.month_to_date_peak_kw
    if state.month_to_date_peak_kw is None:
        # Plans measure new peaks from what the run itself has imported so far this month;
        # the KPIs price the first month pro rata (``period_kpis``).
        state.month_to_date_peak_kw = 0.0
    cache = cache or ModelCache(config.max_models)
    net = None
    if park.network.constrained and config.strategy in ("mpc", "perfect-foresight"):
        from microgrid.network import build_network

        net = build_network(park, case.folder)
    data_end = case.load_profiles.index[-1] + pd.Timedelta(hours=step_hours(case.load_profiles.index, "loads"))
    replan = pd.Timedelta(hours=config.replan_h)
    total = int(np.ceil((end - start) / replan))
    rows: list[pd.DataFrame] = []
    windows = []
    t0 = start
    done = 0
    while t0 < end:
        horizon_h = min(config.horizon_h, (data_end - t0) / pd.Timedelta(hours=1))
        actual = horizon_inputs(case, t0, horizon_h, state)
        steps = int(round(min(replan, end - t0) / pd.Timedelta(hours=actual.dt_h)))
        steps = min(steps, actual.n_steps)
        record = {"window_start": t0.isoformat(), "status": "", "fallback": False, "reason": "",
                  "update_s": 0.0, "solve_s": 0.0, "reused": False, "method": ""}
        delivered_default = "none"
        if config.strategy in HEURISTICS:
            delivered_default = "uncontrolled"
            flows, _ = heuristic_flows(actual, config.strategy)
            realized, window = _realize(actual, flows, steps)
            record["status"] = SolverStatus.NOT_OPTIMIZED.value
        else:
            plan_inputs = actual if config.strategy == "perfect-foresight" else config.errors.apply(actual, config.seed)
            try:
                started = time.perf_counter()
                if net is not None:
                    model, flows = _plan_network_aware(plan_inputs, config, net, _warm_start(state, t0), record)
                else:
                    model, reused = cache.get(plan_inputs, config.dispatch)
                    record["reused"] = reused
                    plan = model.plan(plan_inputs, warm_start=_warm_start(state, t0))
                    record.update(status=plan.status.value, solve_s=plan.solve_time_s, method=plan.method)
                    flows = plan.flows
                record["update_s"] = time.perf_counter() - started - record["solve_s"]
            except MicrogridError as exc:
                logger.warning("window %s failed (%s); the rule-based action is used", t0.isoformat(), exc)
                record.update(status="failed", fallback=True, reason=str(exc))
                flows, _ = heuristic_flows(actual, "rule-based")
                plan_inputs = actual
            realized, window = _realize(actual, flows, steps, plan_inputs)
        rows.append(make_schedule(window, realized))
        previous_plan = None
        if config.strategy in ("mpc", "perfect-foresight") and not record["fallback"]:
            previous_plan = {"start": t0.isoformat(), "dt_h": actual.dt_h, "decisions": model.integer_decisions()}
        state = _next_state(state, actual, realized, steps, delivered_default)
        state.previous_plan = previous_plan
        windows.append(record)
        t0 = t0 + pd.Timedelta(hours=steps * actual.dt_h)
        done += 1
        if progress is not None:
            progress(done, total)
    schedule = pd.concat(rows)
    kpis = period_kpis(schedule, park, initial_peak_kw)
    windows_frame = pd.DataFrame(windows)
    kpis["fallback_windows"] = int(windows_frame["fallback"].sum())
    kpis["windows"] = len(windows_frame)
    kpis["strategy"] = config.strategy
    return RollingResult(schedule=schedule, windows=windows_frame, state=state, kpis=kpis)
