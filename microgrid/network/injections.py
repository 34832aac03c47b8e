"""The devices' powers of a schedule as pandapower wants them: the one kW → MW and sign conversion.

Signs: see :mod:`microgrid.network`. Reactive power is a magnitude from each
device's power factor (:func:`reactive_kvar`), signed here by its
``reactive_mode``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from microgrid.errors import InvalidParkError
from microgrid.network.build import CONSUMERS, KW_PER_MW
from microgrid.park import Park


def reactive_kvar(p_kw: np.ndarray, power_factor: float, sn_kva: float | None = None) -> np.ndarray:
    """Magnitude of the reactive power at a fixed power factor, within an apparent-power rating.

    .. math:: q = |p| \\tan(\\arccos \\mathrm{pf}), \\qquad q \\le \\sqrt{\\max(0, s_n^2 - p^2)}

    Parameters
    ----------
    p_kw : numpy.ndarray
        Active power [kW], either sign.
    power_factor : float
        In (0, 1].
    sn_kva : float, optional
        Apparent-power rating [kVA]; none: no limit.

    Returns
    -------
    numpy.ndarray
        ``q_kvar`` ≥ 0.

    Examples
    --------
    >>> reactive_kvar(np.array([300.0, -400.0]), 0.8)
    array([225., 300.])
    >>> reactive_kvar(np.array([400.0]), 0.8, sn_kva=500.0)
    array([300.])
    """
    p_kw = np.asarray(p_kw, dtype=float)
    q_kvar = np.abs(p_kw) * math.tan(math.acos(power_factor))
    if sn_kva is not None:
        q_kvar = np.minimum(q_kvar, np.sqrt(np.clip(sn_kva ** 2 - p_kw ** 2, 0.0, None)))
    return q_kvar


@dataclass
class Injections:
    """Per step (rows) and element (columns, in the network's order) [MW, Mvar], pandapower's signs."""

    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray
    sgen_p_mw: np.ndarray
    sgen_q_mvar: np.ndarray
    storage_p_mw: np.ndarray
    storage_q_mvar: np.ndarray

    def apply(self, net, t: int) -> None:
        """Write step ``t`` into the network's ``load``, ``sgen`` and ``storage`` tables."""
        net.load["p_mw"] = self.load_p_mw[t]
        net.load["q_mvar"] = self.load_q_mvar[t]
        net.sgen["p_mw"] = self.sgen_p_mw[t]
        net.sgen["q_mvar"] = self.sgen_q_mvar[t]
        net.storage["p_mw"] = self.storage_p_mw[t]
        net.storage["q_mvar"] = self.storage_q_mvar[t]


def injections_mw(park: Park, net, schedule: pd.DataFrame) -> Injections:
    """The devices' powers of a schedule as pandapower wants them: the one kW → MW and sign conversion.

    Missing device columns are an error (a schedule of another park).
    """
    spec = park.network
    consumers = {f"{device_id}.{suffix}": device for group, suffix in CONSUMERS.items()
                 for device_id, device in getattr(park, group).items()}
    load_columns = list(net.load["name"])
    if set(load_columns) != set(consumers) or list(net.sgen["name"]) != list(park.pv_arrays) or \
            list(net.storage["name"]) != list(park.batteries):
        raise InvalidParkError("network: the network's loads, PV and batteries are not this park's devices; "
                               "build it with build_network(park)")
    needed = load_columns + [f"{a}.used_kw" for a in park.pv_arrays] + \
        [f"{b}.{q}" for b in park.batteries for q in ("charge_kw", "discharge_kw")]
    missing = [c for c in needed if c not in schedule.columns]
    if missing:
        raise InvalidParkError(f"schedule: no column {missing[0]!r} (and {len(missing) - 1} more); "
                               "check it against this case: its devices must match")
    steps = len(schedule)

    def columns(names: list[str]) -> np.ndarray:
        return schedule[names].to_numpy(dtype=float).reshape(steps, len(names))

    load_kw = columns(load_columns)
    load_q_kvar = np.column_stack([
        reactive_kvar(load_kw[:, k], consumers[c].power_factor or spec.load_power_factor)
        for k, c in enumerate(load_columns)]) if load_columns else np.zeros((steps, 0))
    pv_kw = columns([f"{a}.used_kw" for a in park.pv_arrays])
    pv_q_kvar = np.zeros_like(pv_kw)
    for k, array in enumerate(park.pv_arrays.values()):
        q = reactive_kvar(pv_kw[:, k], array.power_factor or spec.pv_power_factor, array.sn_kva)
        pv_q_kvar[:, k] = q if array.reactive_mode == "inject" else -q           # generator convention
    battery_kw = columns([f"{b}.charge_kw" for b in park.batteries]) - \
        columns([f"{b}.discharge_kw" for b in park.batteries])                     # > 0 charges
    battery_q_kvar = np.zeros_like(battery_kw)
    for k, battery in enumerate(park.batteries.values()):
        q = reactive_kvar(battery_kw[:, k], battery.power_factor or spec.battery_power_factor, battery.sn_kva)
        battery_q_kvar[:, k] = q if battery.reactive_mode == "absorb" else -q     # load convention
    return Injections(load_p_mw=load_kw / KW_PER_MW, load_q_mvar=load_q_kvar / KW_PER_MW,
                      sgen_p_mw=pv_kw / KW_PER_MW, sgen_q_mvar=pv_q_kvar / KW_PER_MW,
                      storage_p_mw=battery_kw / KW_PER_MW, storage_q_mvar=battery_q_kvar / KW_PER_MW)
