"""The park's export rule (``grid.export_rule``) applied step by step, for the simulated strategies.

The MILP states the same rules as constraints (:func:`dispatch.model.add_export_rule`);
the heuristic strategies and the realization of a rolling-horizon plan settle
their surplus with :func:`settle_surplus`:

* ``surplus_to_grid`` (自发自用、余电上网): the renewables serve the park; the
  surplus left after the batteries is exported up to ``max_export_kw`` (and,
  with ``export_pv_only``, never above the renewable generation of the step),
  the rest curtailed;
* ``full_export`` (全额上网): all renewable generation is exported up to
  ``max_export_kw``, the rest curtailed; the park sees none of it
  (:func:`onsite_renewable_kw` is 0), so its load and battery charging are
  imported;
* ``anti_backflow`` (防逆流): nothing is exported; the surplus left after the
  batteries is curtailed.

"Renewable" is the PV arrays and the wind turbine groups:
:func:`renewable_available_kw` is the one place that sums the renewable
generation of a step, so a new generator joins every rule by being added
there.
"""

from __future__ import annotations

import numpy as np

from dispatch.inputs import DispatchInputs
from microgrid.park import GridConnection


def renewable_available_kw(inputs: DispatchInputs) -> np.ndarray:
    """Renewable generation available at every step, before curtailment [kW]: the PV arrays and wind groups."""
    return (inputs.total_pv_available_kw + inputs.total_wind_available_kw).to_numpy(dtype=float)


def onsite_renewable_kw(grid: GridConnection, renewable_kw: np.ndarray) -> np.ndarray:
    """The renewable generation the park itself may use [kW]: all of it, none under ``full_export``."""
    renewable_kw = np.asarray(renewable_kw, dtype=float)
    return np.zeros_like(renewable_kw) if grid.export_rule == "full_export" else renewable_kw


def settle_surplus(grid: GridConnection, surplus_kw: np.ndarray, renewable_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Export and curtailment [kW] of every step under the park's export rule.

    Parameters
    ----------
    grid : GridConnection
        The connection, with its ``export_rule`` and export limit.
    surplus_kw : array
        What the park has left after its consumption and the batteries, ≥ 0
        [kW]: the on-site renewables (:func:`onsite_renewable_kw`) + battery
        discharge − consumption − battery charge, where positive. Always 0
        under ``full_export``.
    renewable_kw : array
        Renewable generation available [kW] (:func:`renewable_available_kw`).

    Returns
    -------
    export_kw, curtailed_kw : array
        ``full_export``: ``export = min(renewable, max_export_kw)``,
        ``curtailed = renewable − export``; otherwise ``export =
        min(surplus, limit)`` (and ``≤ renewable`` with ``export_pv_only``),
        ``curtailed = surplus − export``, the limit being 0 under
        ``anti_backflow``.

    Examples
    --------
    >>> grid = GridConnection(max_import_kw=100, max_export_kw=30)
    >>> settle_surplus(grid, np.array([50.0]), np.array([80.0]))
    (array([30.]), array([20.]))
    >>> settle_surplus(grid.model_copy(update={"export_rule": "anti_backflow"}), np.array([50.0]), np.array([80.0]))
    (array([0.]), array([50.]))
    """
    surplus_kw = np.clip(np.asarray(surplus_kw, dtype=float), 0, None)
    renewable_kw = np.asarray(renewable_kw, dtype=float)
    if grid.export_rule == "full_export":
        export = np.minimum(renewable_kw, grid.export_limit_kw)
        return export, renewable_kw - export
    export = np.minimum(surplus_kw, grid.export_limit_kw)
    if grid.export_pv_only:
        export = np.minimum(export, renewable_kw)
    return export, surplus_kw - export


__all__ = ["onsite_renewable_kw", "renewable_available_kw", "settle_surplus"]
