"""Builders of the flexible loads: batch processes, energy-constrained loads, curtailable and shiftable loads.

Each family has a pure function that lays its daily windows onto the
horizon (:func:`process_days`, :func:`energy_sessions`), a builder ``add_*``
that declares its variables and constraints and contributes to the balance
and the objective through :class:`~dispatch.terms.Terms`, and a setter for its
mutable parameters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from dispatch.inputs import DispatchInputs
from dispatch.terms import Terms, set_series
from microgrid.base import clock_minutes
from microgrid.workdays import is_workday


def _active(days: str, day: dt.date) -> bool:
    return days == "all" or is_workday(day)


def _local_days(inputs: DispatchInputs, before: int = 0) -> list[dt.date]:
    """Local dates touched by the horizon, starting ``before`` days earlier."""
    local = inputs.local_index
    first = local[0].date() - dt.timedelta(days=before)
    last = (local[-1]).date()
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


def _at(day: dt.date, clock: str, tz: str) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize(tz) + pd.Timedelta(minutes=clock_minutes(clock))


def _step_of(inputs: DispatchInputs, stamp: pd.Timestamp) -> float:
    """Position of a time in steps from the horizon start (fractional if between steps)."""
    return (stamp - inputs.index[0]) / pd.Timedelta(hours=inputs.dt_h)


@dataclass(frozen=True)
class ProcessDay:
    """One day's runs of a batch process, cut to the horizon.

    ``starts``: steps at which a run may start (the whole run inside the day's
    window and the horizon); ``window``: the
    steps of the day's window inside the horizon. Between ``min_runs`` and
    ``max_runs`` runs start in the horizon: all the runs still due when the
    window ends inside the horizon, otherwise none is required yet (the plan
    that sees the window's end requires them).
    """

    process_id: str
    day: dt.date
    starts: tuple[int, ...]
    window: tuple[int, ...]
    min_runs: int
    max_runs: int


def process_days(inputs: DispatchInputs) -> list[ProcessDay]:
    """Every active day whose window overlaps the horizon, with its possible starts.

    Runs already started on the horizon's first day (``state.process_runs_done``)
    are not due again; a run in progress (``state.process_running_steps``)
    continues at the start of the horizon, and :func:`busy_steps` says until
    when no new run may start (a bound, so the structure does not depend on it).
    """
    tz = inputs.park.site.timezone
    first_day = inputs.local_index[0].date()
    out = []
    for process_id, process in inputs.park.shiftable_processes.items():
        length = len(process.profile_on_steps(inputs.dt_h))
        for day in _local_days(inputs):
            if not _active(process.days, day):
                continue
            first = _step_of(inputs, _at(day, process.earliest_start, tz))
            end = _step_of(inputs, _at(day, process.latest_end, tz))
            if end <= 0 or first >= inputs.n_steps:
                continue
            first_step = max(0, int(np.ceil(first - 1e-9)))
            end_step = min(inputs.n_steps, int(np.floor(end + 1e-9)))
            starts = tuple(range(first_step, end_step - length + 1))
            done = inputs.state.process_runs_done.get(process_id, 0) if day == first_day else 0
            remaining = max(0, process.runs_per_day - done)
            ends_inside = end <= inputs.n_steps + 1e-9
            out.append(ProcessDay(process_id, day, starts, tuple(range(first_step, end_step)),
                                  remaining if ends_inside else 0, remaining))
    return out


def busy_steps(inputs: DispatchInputs) -> dict[str, int]:
    """Steps at the horizon start still taken by a run in progress, by process."""
    out = {}
    for process_id, process in inputs.park.shiftable_processes.items():
        done = inputs.state.process_running_steps.get(process_id)
        out[process_id] = 0 if done is None else max(0, len(process.profile_on_steps(inputs.dt_h)) - done)
    return out


def process_forced_kw(inputs: DispatchInputs) -> dict[str, np.ndarray]:
    """Power of runs in progress at the horizon start, step by step [kW]."""
    out = {}
    for process_id, process in inputs.park.shiftable_processes.items():
        forced = np.zeros(inputs.n_steps)
        done = inputs.state.process_running_steps.get(process_id)
        if done is not None:
            rest = process.profile_on_steps(inputs.dt_h)[done:][: inputs.n_steps]
            forced[: len(rest)] = rest
        out[process_id] = forced
    return out


@dataclass(frozen=True)
class EnergySession:
    """One session of an energy-constrained load, cut to the horizon.

    Energy delivered in the horizon must lie in [``min_kwh``, ``max_kwh``];
    ``ends_inside`` when the departure is inside the horizon (then the whole
    remaining energy is due: ``min_kwh == max_kwh``).
    """

    load_id: str
    arrival: pd.Timestamp
    departure: pd.Timestamp
    steps: tuple[int, ...]
    min_kwh: float
    max_kwh: float
    ends_inside: bool


def energy_sessions(inputs: DispatchInputs, delivered_default: str = "none") -> list[EnergySession]:
    """Sessions of every energy load that overlap the horizon.

    For a session in progress at the horizon start, ``state.energy_delivered_kwh``
    gives what it already received; without it, ``delivered_default`` decides:
    ``none`` (0 kWh, what a least-cost plan that deferred charging leaves) or
    ``uncontrolled`` (charged at full power from its arrival). A session that
    departs after the horizon end must receive inside the horizon at least
    what it could not receive after it at full power.
    """
    tz = inputs.park.site.timezone
    start, end = inputs.index[0], inputs.index[-1] + pd.Timedelta(hours=inputs.dt_h)
    out = []
    for load_id, load in inputs.park.energy_loads.items():
        for day in _local_days(inputs, before=1):
            if not _active(load.days, day):
                continue
            arrival = _at(day, load.arrival, tz)
            departure = arrival + pd.Timedelta(hours=load.window_h)
            if departure <= start or arrival >= end:
                continue
            first = max(0, int(np.ceil(_step_of(inputs, arrival) - 1e-9)))
            last = min(inputs.n_steps, int(np.floor(_step_of(inputs, departure) + 1e-9)))
            delivered = 0.0
            if arrival < start:
                if load_id in inputs.state.energy_delivered_kwh:
                    delivered = inputs.state.energy_delivered_kwh[load_id]
                elif delivered_default == "uncontrolled":
                    hours_before = (start - arrival) / pd.Timedelta(hours=1)
                    delivered = min(load.energy_kwh, load.max_kw * load.efficiency * hours_before)
            remaining = max(0.0, load.energy_kwh - delivered)
            ends_inside = departure <= end
            if ends_inside:
                minimum = remaining
            else:
                hours_after = (departure - end) / pd.Timedelta(hours=1)
                minimum = max(0.0, remaining - load.max_kw * load.efficiency * hours_after)
            out.append(EnergySession(load_id, arrival, departure, tuple(range(first, last)), minimum, remaining, ends_inside))
    return out


def add_shiftable_processes(m: pyo.ConcreteModel, inputs: DispatchInputs, terms: Terms) -> None:
    """Batch processes: one binary per possible start; uninterrupted runs in their windows.

    .. math::
        runs^{min}_{p,d} ≤ Σ_{τ ∈ S_{p,d}} start_{p,τ} + missed_{p,d},\\quad
        Σ_{τ ∈ S_{p,d}} start_{p,τ} ≤ runs^{max}_{p,d}

        p^{proc}_{p,t} = forced_{p,t} + Σ_{k} q_{p,k}\\, start_{p,t−k}

    and, where several runs may start in a day, at most one run in progress at
    any step. ``forced`` is a run already in progress at the horizon start.
    """
    processes = inputs.park.shiftable_processes
    if not processes:
        return
    days = process_days(inputs)
    profiles = {p: processes[p].profile_on_steps(inputs.dt_h) for p in processes}
    starts = sorted({(d.process_id, tau) for d in days for tau in d.starts})
    m.PROCESSES = pyo.Set(initialize=list(processes), ordered=True)
    m.PROCESS_STARTS = pyo.Set(dimen=2, initialize=starts, ordered=True)
    m.process_start = pyo.Var(m.PROCESS_STARTS, domain=pyo.Binary)
    m.PROCESS_DAYS = pyo.RangeSet(0, len(days) - 1) if days else pyo.Set(initialize=[])
    m.process_min_runs = pyo.Param(m.PROCESS_DAYS, mutable=True, initialize=0)
    m.process_max_runs = pyo.Param(m.PROCESS_DAYS, mutable=True, initialize=0)
    m.process_forced_kw = pyo.Param(m.PROCESSES, m.T, mutable=True, initialize=0.0)
    m.process_missed_runs = pyo.Var(m.PROCESS_DAYS, bounds=(0, None))

    def started(m, k):
        return sum(m.process_start[days[k].process_id, tau] for tau in days[k].starts)

    m.process_runs_min = pyo.Constraint(m.PROCESS_DAYS, rule=lambda m, k: started(m, k) + m.process_missed_runs[k]
                                        >= m.process_min_runs[k])
    m.process_runs_max = pyo.Constraint(
        m.PROCESS_DAYS, rule=lambda m, k: started(m, k) <= m.process_max_runs[k] if days[k].starts else pyo.Constraint.Skip)
    by_process: dict[str, list[int]] = {}
    for p, tau in starts:
        by_process.setdefault(p, []).append(tau)

    def power(m, p, t):
        q = profiles[p]
        return m.process_forced_kw[p, t] + sum(
            q[t - tau] * m.process_start[p, tau] for tau in by_process.get(p, []) if 0 <= t - tau < len(q))

    m.process_kw = pyo.Expression(m.PROCESSES, m.T, rule=power)
    overlap = [(k, t) for k, d in enumerate(days) if processes[d.process_id].runs_per_day > 1 for t in d.window]

    def one_at_a_time(m, k, t):
        length = len(profiles[days[k].process_id])
        running = [tau for tau in days[k].starts if tau <= t < tau + length]
        if len(running) <= 1:
            return pyo.Constraint.Skip
        return sum(m.process_start[days[k].process_id, tau] for tau in running) <= 1

    m.process_no_overlap = pyo.Constraint(pyo.Set(dimen=2, initialize=overlap), rule=one_at_a_time)
    terms.electric_demand.append(lambda m, t: sum(m.process_kw[p, t] for p in m.PROCESSES))
    # A missed run is slack worth its energy in kWh (and one step of its peak power): in every
    # objective it then costs more than the most its energy and its peak could save.
    run_kwh = {p: (sum(q) + max(q, default=0.0)) * inputs.dt_h for p, q in profiles.items()}
    terms.slack.append(lambda m: sum(run_kwh[days[k].process_id] * m.process_missed_runs[k] for k in m.PROCESS_DAYS))


def add_energy_loads(m: pyo.ConcreteModel, inputs: DispatchInputs, terms: Terms, delivered_default: str = "none") -> None:
    """Energy-constrained loads: power only while a session is present, energy due by departure.

    .. math::
        min_s ≤ Σ_{t∈s} η\\, p_{f,t}\\, Δt + short_s,\\quad Σ_{t∈s} η\\, p_{f,t}\\, Δt ≤ max_s
    """
    loads = inputs.park.energy_loads
    if not loads:
        return
    sessions = energy_sessions(inputs, delivered_default)
    present = {(s.load_id, t) for s in sessions for t in s.steps}
    m.ENERGY_LOADS = pyo.Set(initialize=list(loads), ordered=True)
    m.energy_load_kw = pyo.Var(
        m.ENERGY_LOADS, m.T, bounds=lambda m, f, t: (0, loads[f].max_kw if (f, t) in present else 0.0))
    m.SESSIONS = pyo.RangeSet(0, len(sessions) - 1) if sessions else pyo.Set(initialize=[])
    m.session_min_kwh = pyo.Param(m.SESSIONS, mutable=True, initialize=0.0)
    m.session_max_kwh = pyo.Param(m.SESSIONS, mutable=True, initialize=0.0)
    m.session_shortfall_kwh = pyo.Var(m.SESSIONS, bounds=(0, None))

    def delivered(m, k):
        s = sessions[k]
        return sum(loads[s.load_id].efficiency * m.energy_load_kw[s.load_id, t] for t in s.steps) * m.dt_h

    m.session_energy_min = pyo.Constraint(
        m.SESSIONS, rule=lambda m, k: delivered(m, k) + m.session_shortfall_kwh[k] >= m.session_min_kwh[k])
    m.session_energy_max = pyo.Constraint(m.SESSIONS, rule=lambda m, k: delivered(m, k) <= m.session_max_kwh[k])
    terms.electric_demand.append(lambda m, t: sum(m.energy_load_kw[f, t] for f in m.ENERGY_LOADS))
    terms.slack.append(lambda m: sum(m.session_shortfall_kwh[k] for k in m.SESSIONS))


def add_curtailable_loads(m: pyo.ConcreteModel, inputs: DispatchInputs, terms: Terms) -> None:
    """Curtailable loads: shed up to ``max_shed_kw`` at a price, within daily hour/energy limits.

    .. math::
        0 ≤ shed_{c,t} ≤ \\min(P^{shed}_c, base_{c,t}),\\quad
        shed_{c,t} ≤ P^{shed}_c\\, on_{c,t},\\quad Σ_{t∈d} on_{c,t} Δt ≤ H_c
    """
    loads = inputs.park.curtailable_loads
    if not loads:
        return
    m.CURTAILABLE = pyo.Set(initialize=list(loads), ordered=True)
    m.curtailable_base_kw = pyo.Param(m.CURTAILABLE, m.T, mutable=True, initialize=0.0)
    m.shed_cap_kw = pyo.Param(m.CURTAILABLE, m.T, mutable=True, initialize=0.0)  # min(max_shed_kw, base)
    m.shed_kw = pyo.Var(m.CURTAILABLE, m.T, bounds=lambda m, c, t: (0, loads[c].max_shed_kw))
    m.shed_within_base = pyo.Constraint(m.CURTAILABLE, m.T, rule=lambda m, c, t: m.shed_kw[c, t] <= m.shed_cap_kw[c, t])
    local_dates = [t.date() for t in inputs.local_index]
    day_steps: dict[dt.date, list[int]] = {}
    for t, day in enumerate(local_dates):
        day_steps.setdefault(day, []).append(t)
    days = list(day_steps)
    m.SHED_DAYS = pyo.RangeSet(0, len(days) - 1)
    hour_limited = [c for c in loads if loads[c].max_shed_hours_per_day is not None]
    m.shed_hours_left = pyo.Param(m.CURTAILABLE, m.SHED_DAYS, mutable=True, initialize=24.0)
    m.shed_kwh_left = pyo.Param(m.CURTAILABLE, m.SHED_DAYS, mutable=True, initialize=0.0)
    if hour_limited:
        m.SHED_HOUR_LIMITED = pyo.Set(initialize=hour_limited, ordered=True)
        m.shedding = pyo.Var(m.SHED_HOUR_LIMITED, m.T, domain=pyo.Binary)
        # The step's own cap as big-M keeps the LP relaxation tight where little can be shed.
        m.shed_on = pyo.Constraint(m.SHED_HOUR_LIMITED, m.T,
                                   rule=lambda m, c, t: m.shed_kw[c, t] <= m.shed_cap_kw[c, t] * m.shedding[c, t])
        m.shed_hours_per_day = pyo.Constraint(
            m.SHED_HOUR_LIMITED, m.SHED_DAYS,
            rule=lambda m, c, k: sum(m.shedding[c, t] for t in day_steps[days[k]]) * m.dt_h <= m.shed_hours_left[c, k])
    energy_limited = [c for c in loads if loads[c].max_shed_kwh_per_day is not None]
    if energy_limited:
        m.SHED_ENERGY_LIMITED = pyo.Set(initialize=energy_limited, ordered=True)
        m.shed_kwh_per_day = pyo.Constraint(
            m.SHED_ENERGY_LIMITED, m.SHED_DAYS,
            rule=lambda m, c, k: sum(m.shed_kw[c, t] for t in day_steps[days[k]]) * m.dt_h <= m.shed_kwh_left[c, k])
    terms.electric_demand.append(
        lambda m, t: sum(m.curtailable_base_kw[c, t] - m.shed_kw[c, t] for c in m.CURTAILABLE))
    terms.cost.append(
        lambda m: sum(loads[c].shed_cost_cny_per_kwh * m.shed_kw[c, t] for c in m.CURTAILABLE for t in m.T) * m.dt_h)


def add_shiftable_loads(m: pyo.ConcreteModel, inputs: DispatchInputs, terms: Terms) -> None:
    """Shiftable-energy loads: baseline energy consumed at most ``max_shift_h`` earlier or later.

    With ``E_t`` the energy consumed ahead of the baseline by the end of step
    ``t`` (negative: behind it) and ``K`` the delay in steps:

    .. math::
        E_t = E_{t−1} + (x_{e,t} − base_{e,t})\\, Δt,\\qquad E_{T} = 0

        E_t ≤ Σ_{τ=t+1}^{t+K} base_{e,τ}\\, Δt,\\qquad −E_t ≤ Σ_{τ=t−K+1}^{t} base_{e,τ}\\, Δt

    Energy is interchangeable, so it can be thought of as served first in,
    first out; then a kWh consumed ahead is one of the next ``K`` steps'
    baseline, and a kWh still owed is one of the last ``K`` steps': every
    kWh moves by at most the delay, and all of it is recovered within the
    horizon. (Equivalent to pairwise move variables between steps at most
    ``K`` apart, with ``2K`` times fewer variables.)
    """
    loads = inputs.park.shiftable_loads
    if not loads:
        return
    n = inputs.n_steps
    m.SHIFTABLE = pyo.Set(initialize=list(loads), ordered=True)
    m.shiftable_base_kw = pyo.Param(m.SHIFTABLE, m.T, mutable=True, initialize=0.0)
    m.shiftable_kw = pyo.Var(m.SHIFTABLE, m.T, bounds=lambda m, e, t: (0, loads[e].max_kw))
    m.shift_ahead_kwh = pyo.Var(m.SHIFTABLE, m.T)
    steps = {e: int(np.floor(load.max_shift_h / inputs.dt_h + 1e-9)) for e, load in loads.items()}

    m.shift_ahead_initial_kwh = pyo.Param(m.SHIFTABLE, mutable=True, initialize=0.0)
    # Baseline energy of the steps before the horizon that are still within the
    # delay of step t (energy owed at the start came from them).
    m.shift_past_base_kwh = pyo.Param(m.SHIFTABLE, m.T, mutable=True, initialize=0.0)

    def ahead(m, e, t):
        previous = m.shift_ahead_initial_kwh[e] if t == m.T.first() else m.shift_ahead_kwh[e, t - 1]
        return m.shift_ahead_kwh[e, t] == previous + (m.shiftable_kw[e, t] - m.shiftable_base_kw[e, t]) * m.dt_h

    m.shift_ahead_balance = pyo.Constraint(m.SHIFTABLE, m.T, rule=ahead)
    m.shift_ahead_limit = pyo.Constraint(
        m.SHIFTABLE, m.T,
        rule=lambda m, e, t: m.shift_ahead_kwh[e, t]
        <= sum(m.shiftable_base_kw[e, tau] for tau in range(t + 1, min(n, t + steps[e] + 1))) * m.dt_h)
    m.shift_behind_limit = pyo.Constraint(
        m.SHIFTABLE, m.T,
        rule=lambda m, e, t: -m.shift_ahead_kwh[e, t]
        <= sum(m.shiftable_base_kw[e, tau] for tau in range(max(0, t - steps[e] + 1), t + 1)) * m.dt_h
        + m.shift_past_base_kwh[e, t])
    for e in loads:
        m.shift_ahead_kwh[e, m.T.last()].fix(0.0)
    terms.electric_demand.append(lambda m, t: sum(m.shiftable_kw[e, t] for e in m.SHIFTABLE))


def set_flexible_inputs(m: pyo.ConcreteModel, inputs: DispatchInputs, delivered_default: str = "none") -> None:
    """Write the flexible loads' numbers: baselines, runs and energy due, limits left today, state."""
    if hasattr(m, "PROCESS_DAYS"):
        for k, day in enumerate(process_days(inputs)):
            m.process_min_runs[k].set_value(day.min_runs)
            m.process_max_runs[k].set_value(day.max_runs)
        set_series(m.process_forced_kw, process_forced_kw(inputs))
        busy = busy_steps(inputs)
        for p, tau in m.PROCESS_STARTS:
            # A bound, not a fixed value: the persistent solver updates bounds cheaply.
            m.process_start[p, tau].setub(0 if tau < busy[p] else 1)
    if hasattr(m, "SESSIONS"):
        for k, session in enumerate(energy_sessions(inputs, delivered_default)):
            m.session_min_kwh[k].set_value(session.min_kwh)
            m.session_max_kwh[k].set_value(session.max_kwh)
    if hasattr(m, "SHED_DAYS"):
        state = inputs.state
        for c in m.CURTAILABLE:
            load = inputs.park.curtailable_loads[c]
            for k in m.SHED_DAYS:
                used_h = state.shed_hours_used.get(c, 0.0) if k == m.SHED_DAYS.first() else 0.0
                used_kwh = state.shed_kwh_used.get(c, 0.0) if k == m.SHED_DAYS.first() else 0.0
                if load.max_shed_hours_per_day is not None:
                    m.shed_hours_left[c, k].set_value(max(0.0, load.max_shed_hours_per_day - used_h))
                if load.max_shed_kwh_per_day is not None:
                    m.shed_kwh_left[c, k].set_value(max(0.0, load.max_shed_kwh_per_day - used_kwh))
    if hasattr(m, "SHIFTABLE"):
        for e in m.SHIFTABLE:
            m.shift_ahead_initial_kwh[e].set_value(inputs.state.shift_ahead_kwh.get(e, 0.0))
            delay = int(np.floor(inputs.park.shiftable_loads[e].max_shift_h / inputs.dt_h + 1e-9))
            recent = list(inputs.state.shift_recent_base_kw.get(e, []))[-max(delay - 1, 0):] if delay > 1 else []
            past_kwh = np.zeros(inputs.n_steps)
            for t in range(min(inputs.n_steps, max(delay - 1, 0))):
                # steps before the start within the delay of t: the last (delay - 1 - t) of them
                count = delay - 1 - t
                past_kwh[t] = float(sum(recent[len(recent) - count:])) * inputs.dt_h
            set_series(m.shift_past_base_kwh, {e: past_kwh})
    if hasattr(m, "CURTAILABLE"):
        set_series(m.shed_cap_kw, {c: np.clip(np.minimum(inputs.curtailable_base_kw[c].to_numpy(),
                                                         inputs.park.curtailable_loads[c].max_shed_kw), 0.0, None)
                                   for c in m.CURTAILABLE})
    for name, frame in (("curtailable_base_kw", inputs.curtailable_base_kw), ("shiftable_base_kw", inputs.shiftable_base_kw)):
        if not hasattr(m, name):
            continue
        set_series(getattr(m, name), {device: frame[device].to_numpy() for device in frame.columns})
