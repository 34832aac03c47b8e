"""What the heat plant and the flexible loads do without optimization.

The heuristic strategies (``rule-based``, ``no-control``) run these devices the
way a park does without a dispatch optimizer:

* heat is led by demand: heat pumps first (in id order, each off when the
  remaining demand is below its minimum load), then boilers; thermal stores
  stay idle (they only lose heat);
* batch processes start at their ``baseline_start`` (default: the earliest
  start), runs back to back;
* energy-constrained loads charge at full power from arrival until done;
* nothing is shed and shiftable loads follow their baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dispatch.flexible import busy_steps, energy_sessions, process_days, process_forced_kw
from dispatch.inputs import DispatchInputs
from dispatch.results import SlackEntry
from microgrid.base import clock_minutes

TOLERANCE = 1e-4


def uncontrolled_devices(inputs: DispatchInputs) -> tuple[dict[str, pd.DataFrame], list[SlackEntry]]:
    """Flows of heat devices and flexible loads without control, and what they leave unmet.

    Returns the frames for :class:`~dispatch.kpis.Flows` (keyed by its field
    names) and the slack entries.
    """
    park = inputs.park
    index = inputs.index
    n, dt_h = inputs.n_steps, inputs.dt_h
    stamps = [t.isoformat() for t in index]
    frames: dict[str, pd.DataFrame] = {}
    slack: list[SlackEntry] = []

    if park.heat_buses:
        hp_elec = pd.DataFrame(0.0, index=index, columns=list(park.heat_pumps))
        hp_heat = hp_elec.copy()
        boiler_elec = pd.DataFrame(0.0, index=index, columns=list(park.electric_boilers))
        boiler_heat = boiler_elec.copy()
        unserved = pd.DataFrame(0.0, index=index, columns=list(park.heat_buses))
        for bus_id in park.heat_buses:
            remaining = inputs.heat_demand_kw[bus_id].to_numpy().copy()
            for h, hp in park.heat_pumps.items():
                if hp.heat_bus != bus_id:
                    continue
                cop = inputs.cop(h)
                max_heat = cop * hp.max_elec_kw
                min_heat = cop * hp.min_load_frac * hp.max_elec_kw
                heat = np.where(remaining >= min_heat, np.minimum(remaining, max_heat), 0.0)
                hp_heat[h] = heat
                hp_elec[h] = heat / cop
                remaining = remaining - heat
            for k, boiler in park.electric_boilers.items():
                if boiler.heat_bus != bus_id:
                    continue
                heat = np.minimum(remaining, boiler.efficiency * boiler.max_elec_kw)
                boiler_heat[k] = heat
                boiler_elec[k] = heat / boiler.efficiency
                remaining = remaining - heat
            remaining[remaining < TOLERANCE] = 0.0
            unserved[bus_id] = remaining
            if remaining.any():
                steps = np.flatnonzero(remaining)
                slack.append(SlackEntry(bus_id, "heat_balance (heat demand not served)", [stamps[t] for t in steps],
                                        float(remaining.sum() * dt_h), "kWh of heat"))
        soc = pd.DataFrame(index=index)
        for j, store in park.thermal_stores.items():
            retention = (1.0 - store.loss_frac_per_h) ** dt_h
            soc[j] = np.maximum(inputs.initial_thermal_soc_kwh(j) * retention ** np.arange(1, n + 1), store.min_soc_kwh)
        zeros = pd.DataFrame(0.0, index=index, columns=list(park.thermal_stores))
        frames.update(hp_elec_kw=hp_elec, hp_heat_kw=hp_heat, boiler_elec_kw=boiler_elec, boiler_heat_kw=boiler_heat,
                      ts_charge_kw=zeros, ts_discharge_kw=zeros.copy(), ts_soc_kwh=soc,
                      heat_dump_kw=pd.DataFrame(0.0, index=index, columns=list(park.heat_buses)),
                      heat_unserved_kw=unserved)

    if park.shiftable_processes:
        tz = park.site.timezone
        forced = process_forced_kw(inputs)
        busy = busy_steps(inputs)
        ids = list(park.shiftable_processes)
        process_kw = np.column_stack([forced[p] for p in ids]) if ids else np.zeros((n, 0))
        for day in process_days(inputs):
            process = park.shiftable_processes[day.process_id]
            profile = np.array(process.profile_on_steps(dt_h))
            begin = pd.Timestamp(day.day).tz_localize(tz) + pd.Timedelta(
                minutes=clock_minutes(process.baseline_start or process.earliest_start))
            start = int(np.ceil((begin - index[0]) / pd.Timedelta(hours=dt_h) - 1e-9))
            allowed = {tau for tau in day.starts if tau >= busy[day.process_id]}
            done = 0
            for _ in range(day.max_runs):
                while start not in allowed and day.starts and start < day.starts[-1]:
                    start += 1          # later than the baseline when it has passed or is busy
                if start not in allowed:
                    break
                process_kw[start:start + len(profile), ids.index(day.process_id)] += profile
                start += len(profile)
                done += 1
            if done < day.min_runs:
                slack.append(SlackEntry(day.process_id, f"runs_per_day on {day.day.isoformat()}",
                                        [stamps[t] for t in day.window] or [day.day.isoformat()],
                                        float(day.min_runs - done), "runs"))
        frames["process_kw"] = pd.DataFrame(process_kw, index=index, columns=ids)

    if park.energy_loads:
        ids = list(park.energy_loads)
        energy_kw = np.zeros((n, len(ids)))
        for session in energy_sessions(inputs, delivered_default="uncontrolled"):
            load = park.energy_loads[session.load_id]
            column = ids.index(session.load_id)
            need = session.max_kwh
            for t in session.steps:
                if need <= TOLERANCE:
                    break
                p = min(load.max_kw, need / (load.efficiency * dt_h))
                energy_kw[t, column] = p
                need -= p * load.efficiency * dt_h
            short = max(0.0, session.min_kwh - (session.max_kwh - need))
            if short > TOLERANCE:
                slack.append(SlackEntry(session.load_id, f"energy_kwh by departure {session.departure.isoformat()}",
                                        [stamps[t] for t in session.steps], short, "kWh"))
        frames["energy_load_kw"] = pd.DataFrame(energy_kw, index=index, columns=ids)

    if park.curtailable_loads:
        frames["shed_kw"] = pd.DataFrame(0.0, index=index, columns=list(park.curtailable_loads))
    if park.shiftable_loads:
        frames["shiftable_kw"] = inputs.shiftable_base_kw.copy()
    return frames, slack
