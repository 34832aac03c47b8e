"""The devices' powers of a schedule as pandapower wants them: the one kW → MW and sign conversion.

Signs: see :mod:`microgrid.network`. Reactive power is a magnitude from each
device's power factor (:func:`reactive_kvar`), signed for a converter-connected
device (PV, wind, battery) by its ``reactive_mode`` in :func:`inverter_q_kvar`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from microgrid.errors import InvalidParkError
from microgrid.base import Inverter, ReactiveMode
from microgrid.messages import Message
from microgrid.network.build import CONSUMERS, GENERATORS, KW_PER_MW
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


#: The network field whose power factor a converter-connected device family runs at without its own.
DEFAULT_POWER_FACTOR = {"pv_arrays": "pv_power_factor", "wind_turbines": "wind_power_factor",
                        "batteries": "battery_power_factor"}


def inverter_q_kvar(p_kw: np.ndarray, devices: list[Inverter], default_power_factors: list[float],
                    positive: ReactiveMode) -> np.ndarray:
    """Reactive power of converter-connected devices, signed as their pandapower element counts it [kvar].

    Each device ``k`` runs at its ``power_factor`` or else
    ``default_power_factors[k]``, within its ``sn_kva``
    (:func:`reactive_kvar`); the magnitude is positive where the device's
    ``reactive_mode`` is ``positive``: ``"inject"`` for an ``sgen``
    (generator convention: PV, wind), ``"absorb"`` for a ``storage`` (load
    convention: batteries).

    Parameters
    ----------
    p_kw : numpy.ndarray
        ``(steps, devices)`` active power [kW].
    devices : list of Inverter
        In the order of the columns of ``p_kw``.
    default_power_factors : list of float
        The network's power factor for each device.
    positive : {"absorb", "inject"}

    Returns
    -------
    numpy.ndarray
        ``(steps, devices)`` [kvar].

    Examples
    --------
    >>> from microgrid.base import Inverter
    >>> inverter_q_kvar(np.array([[400.0, 400.0]]), [Inverter(power_factor=0.8), Inverter(reactive_mode="inject")],
    ...                 [1.0, 0.8], positive="inject")
    array([[-300.,  300.]])
    """
    p_kw = np.asarray(p_kw, dtype=float)
    q_kvar = np.zeros_like(p_kw)
    for k, (device, default) in enumerate(zip(devices, default_power_factors)):
        q = reactive_kvar(p_kw[:, k], device.power_factor or default, device.sn_kva)
        q_kvar[:, k] = q if device.reactive_mode == positive else -q
    return q_kvar


def _converters(park: Park, groups) -> tuple[list[str], list[Inverter], list[float]]:
    """Ids, devices and default power factors of the converter-connected device families ``groups``, in order."""
    spec = park.network
    ids, devices, defaults = [], [], []
    for group in groups:
        for device_id, device in getattr(park, group).items():
            ids.append(device_id)
            devices.append(device)
            defaults.append(getattr(spec, DEFAULT_POWER_FACTOR[group]))
    return ids, devices, defaults


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
    generator_ids, generators, generator_pf = _converters(park, GENERATORS)
    battery_ids, batteries, battery_pf = _converters(park, ["batteries"])
    load_columns = list(net.load["name"])
    if set(load_columns) != set(consumers) or list(net.sgen["name"]) != generator_ids or \
            list(net.storage["name"]) != battery_ids:
        raise InvalidParkError(Message("network: the network's loads, PV, wind turbines and batteries are not "
                                       "this park's devices; build it with build_network(park)"))
    generator_columns = [f"{g}.used_kw" for g in generator_ids]
    needed = load_columns + generator_columns + [f"{b}.{q}" for b in battery_ids for q in ("charge_kw", "discharge_kw")]
    missing = [c for c in needed if c not in schedule.columns]
    if missing:
        raise InvalidParkError(Message("schedule: no column {missing!r} (and {more} more); check it against "
                                       "this case: its devices must match",
                                       missing=missing[0], more=len(missing) - 1))
    steps = len(schedule)

    def columns(names: list[str]) -> np.ndarray:
        return schedule[names].to_numpy(dtype=float).reshape(steps, len(names))

    load_kw = columns(load_columns)
    load_q_kvar = np.column_stack([
        reactive_kvar(load_kw[:, k], consumers[c].power_factor or spec.load_power_factor)
        for k, c in enumerate(load_columns)]) if load_columns else np.zeros((steps, 0))
    generator_kw = columns(generator_columns)                                       # PV, then wind
    generator_q_kvar = inverter_q_kvar(generator_kw, generators, generator_pf, positive="inject")
    battery_kw = columns([f"{b}.charge_kw" for b in battery_ids]) - \
        columns([f"{b}.discharge_kw" for b in battery_ids])                        # > 0 charges
    battery_q_kvar = inverter_q_kvar(battery_kw, batteries, battery_pf, positive="absorb")
    return Injections(load_p_mw=load_kw / KW_PER_MW, load_q_mvar=load_q_kvar / KW_PER_MW,
                      sgen_p_mw=generator_kw / KW_PER_MW, sgen_q_mvar=generator_q_kvar / KW_PER_MW,
                      storage_p_mw=battery_kw / KW_PER_MW, storage_q_mvar=battery_q_kvar / KW_PER_MW)
