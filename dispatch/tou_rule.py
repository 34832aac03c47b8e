"""The TOU-arbitrage rule of Chinese commercial & industrial storage (两充两放).

What a C&I storage controller runs by default, programmed from the park's
tariff: the batteries charge from the grid in every valley window and
discharge in every peak and critical-peak window; with two valley windows a
day followed by peaks (Henan in spring and autumn: 00–06 and 11–14) it makes
two cycles a day. The rule, step by step:

* **windows** are contiguous runs of steps of one kind, read from
  :meth:`microgrid.tariff.Tariff.periods` for the horizon's index (in the
  park's time zone) and continued past the horizon's end, so that a horizon
  ending inside a valley window knows how long the window still runs;
  *charge* steps are valley steps, *discharge* steps are peak or
  critical-peak steps, flat steps are idle;
* **charging in a valley window** is spread at constant power over the
  window's remaining steps, so that a battery reaches its ``max_soc_kwh`` at
  the window's end: at step ``t`` with ``k`` steps left in the window
  (``t`` included), a battery charges at
  ``min(max_charge_kw, (max_soc_kwh − soc) / (η_c · Δt · k))``. Re-computed
  every step, the power stays constant unless a limit cuts a step short,
  after which the remaining steps make up for it. Spreading the charge keeps
  the night's import flat, which is kinder to the demand charge than full
  power until full;
* the **grid import limit** binds the grid part of the charge: the import
  never exceeds ``grid.max_import_kw`` (nor an event's ``import_cap_kw``)
  because of charging; a shortfall is shared among the batteries in
  proportion to their charge powers;
* **discharging in a peak window** is at full power, limited by the park's
  net load (load − PV − wind, anti-backflow 防逆流: the battery never exports) and
  by what the battery holds above ``min_soc_kwh``; it starts with the
  window, so critical-peak steps later in the window get what is left;
* **PV and wind surplus** (PV + wind − load) charges the batteries at any
  time (as the self-consumption mode does; most C&I controllers do this
  too), up to their charge power;
  in a valley window the batteries charge at the larger of the surplus and
  the spread power;
* the batteries do not aim at their ``final_soc_frac``.

Heat devices and flexible loads run uncontrolled (:mod:`dispatch.baseline`),
as for the other heuristics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dispatch.inputs import DispatchInputs
from microgrid.tariff import TouPeriod

CHARGE_PERIODS = frozenset({TouPeriod.VALLEY.value})
DISCHARGE_PERIODS = frozenset({TouPeriod.PEAK.value, TouPeriod.CRITICAL_PEAK.value})


def steps_left_in_run(flags: np.ndarray) -> np.ndarray:
    """For every step in a run of ``True``: the steps left in its run, itself included (0 outside runs).

    Examples
    --------
    >>> steps_left_in_run(np.array([True, True, False, True]))
    array([2, 1, 0, 1])
    """
    flags = np.asarray(flags, dtype=bool)
    left = np.zeros(len(flags), dtype=int)
    count = 0
    for t in range(len(flags) - 1, -1, -1):
        count = count + 1 if flags[t] else 0
        left[t] = count
    return left


def tou_windows(inputs: DispatchInputs) -> tuple[np.ndarray, np.ndarray]:
    """Charge and discharge steps of the horizon, from the park's tariff.

    Returns
    -------
    valley_steps_left : ndarray of int
        At every valley step: the steps left in its valley window (itself
        included), judged on the tariff beyond the horizon's end too; 0 at
        other steps.
    discharge : ndarray of bool
        Peak or critical-peak step.
    """
    park = inputs.park
    n = inputs.n_steps
    step = pd.Timedelta(hours=inputs.dt_h)
    # Continue the tariff one day past the horizon, so a window cut by the horizon's end keeps its length.
    extended = pd.date_range(inputs.index[0], periods=n + int(round(24.0 / inputs.dt_h)) + 1, freq=step)
    periods = park.tariff.periods(extended, park.site.timezone).to_numpy()
    left = steps_left_in_run(np.isin(periods, list(CHARGE_PERIODS)))[:n]
    discharge = np.isin(periods[:n], list(DISCHARGE_PERIODS))
    return left, discharge


def spread_charge_kw(room_kwh: np.ndarray, max_charge_kw: np.ndarray, charge_efficiency: np.ndarray, dt_h: float,
                     steps_left: int) -> np.ndarray:
    """Constant charge power that fills ``room_kwh`` over ``steps_left`` steps, within ``max_charge_kw`` [kW].

    ``min(max_charge_kw, room_kwh / (η_c · Δt · steps_left))`` per battery; 0 when ``steps_left`` is 0.

    Examples
    --------
    >>> spread_charge_kw(np.array([90.0]), np.array([50.0]), np.array([0.9]), 1.0, 4)
    array([25.])
    """
    if steps_left <= 0:
        return np.zeros_like(room_kwh)
    return np.minimum(max_charge_kw, np.clip(room_kwh, 0, None) / (charge_efficiency * dt_h * steps_left))


__all__ = ["CHARGE_PERIODS", "DISCHARGE_PERIODS", "spread_charge_kw", "steps_left_in_run", "tou_windows"]
