"""The park's electrical network in pandapower, and AC power flow of a schedule.

The boundary with pandapower, written down once:

* the park model works in kW; pandapower in MW: every conversion is here;
* pandapower's load convention: a ``load`` consumes ``p_mw > 0``; PV is a
  ``sgen`` producing ``p_mw > 0``; a battery is a ``storage`` whose
  ``p_mw > 0`` charges it (consumes);
* reactive power from the network's power factors: loads draw
  ``q = p · tan(acos(pf))`` (lagging), PV and batteries run at their own
  power factor (1: none);
* the grid connection (``grid.bus``) is the slack bus (``ext_grid``, 1.0 p.u.).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from microgrid.errors import InvalidParkError
from microgrid.park import Park

logger = logging.getLogger(__name__)

KW_PER_MW = 1000.0

#: Schedule column suffix of each consuming device family (kW at its bus).
CONSUMERS = {
    "loads": "load_kw",
    "heat_pumps": "elec_kw",
    "electric_boilers": "elec_kw",
    "shiftable_processes": "load_kw",
    "energy_loads": "load_kw",
    "curtailable_loads": "load_kw",
    "shiftable_loads": "load_kw",
}


def build_network(park: Park):
    """A pandapower network of the park: buses, lines, transformers, the grid, one element per device.

    Raises :class:`InvalidParkError` when the park has no network, a line's
    standard type is unknown, or a bus has no path to the grid connection.
    """
    import pandapower as pp
    import pandapower.topology as top

    spec = park.network
    if not spec.buses:
        raise InvalidParkError("network: the case has no network.buses; describe the network to check it")
    net = pp.create_empty_network(name=park.site.name)
    bus = {name: pp.create_bus(net, vn_kv=b.vn_kv, name=name) for name, b in spec.buses.items()}
    pp.create_ext_grid(net, bus[park.grid.bus], vm_pu=1.0, name="grid")
    for name, line in spec.lines.items():
        if line.std_type is not None:
            if not pp.std_type_exists(net, line.std_type, "line"):
                raise InvalidParkError(f"network.lines.{name}.std_type: {line.std_type!r} is not a pandapower "
                                       "standard line type; use one of pandapower's or give r/x/max_i")
            pp.create_line(net, bus[line.from_bus], bus[line.to_bus], line.length_km, line.std_type, name=name)
        else:
            pp.create_line_from_parameters(
                net, bus[line.from_bus], bus[line.to_bus], line.length_km, r_ohm_per_km=line.r_ohm_per_km,
                x_ohm_per_km=line.x_ohm_per_km, c_nf_per_km=line.c_nf_per_km, max_i_ka=line.max_i_ka, name=name)
    for name, trafo in spec.transformers.items():
        pp.create_transformer_from_parameters(
            net, bus[trafo.hv_bus], bus[trafo.lv_bus], sn_mva=trafo.sn_kva / KW_PER_MW,
            vn_hv_kv=spec.buses[trafo.hv_bus].vn_kv, vn_lv_kv=spec.buses[trafo.lv_bus].vn_kv,
            vk_percent=trafo.vk_percent, vkr_percent=trafo.vkr_percent, pfe_kw=trafo.pfe_kw,
            i0_percent=trafo.i0_percent, name=name)
    unsupplied = top.unsupplied_buses(net)
    if len(unsupplied):
        names = ", ".join(sorted(net.bus.loc[list(unsupplied), "name"]))
        raise InvalidParkError(f"network: bus(es) {names} have no path to the grid bus {park.grid.bus!r} "
                               "(an island without a source); connect them with a line or transformer")
    for group, suffix in CONSUMERS.items():
        for device_id, device in getattr(park, group).items():
            pp.create_load(net, bus[device.bus], p_mw=0.0, name=f"{device_id}.{suffix}")
    for array_id, array in park.pv_arrays.items():
        pp.create_sgen(net, bus[array.bus], p_mw=0.0, name=array_id)
    for battery_id, battery in park.batteries.items():
        pp.create_storage(net, bus[battery.bus], p_mw=0.0, max_e_mwh=battery.capacity_kwh / KW_PER_MW,
                          name=battery_id)
    return net


@dataclass
class NetworkReport:
    """AC power flow of a schedule, step by step.

    Attributes
    ----------
    steps : pandas.DataFrame
        Per step: ``min_vm_pu``, ``max_vm_pu``, ``max_line``, ``max_line_loading_pct``,
        ``max_trafo``, ``max_trafo_loading_pct``, ``losses_kw``, ``converged``.
    violations : pandas.DataFrame
        One row per element and step out of its limit: ``timestamp``,
        ``element`` (``bus``/``line``/``trafo``), ``name``, ``quantity``, ``value``, ``limit``.
    kpis : dict
        ``min_vm_pu``, ``max_vm_pu``, ``max_line_loading_pct``,
        ``max_trafo_loading_pct``, ``network_losses_kwh``, ``network_violations``.
    """

    steps: pd.DataFrame
    violations: pd.DataFrame
    kpis: dict


def _tan(pf: float) -> float:
    return math.tan(math.acos(pf))


def validate_schedule(park: Park, schedule: pd.DataFrame, net=None) -> NetworkReport:
    """One AC power flow per step of ``schedule`` (the ``schedule.csv`` contract, device columns).

    Missing device columns are an error (a schedule of another park).
    """
    import pandapower as pp

    net = net if net is not None else build_network(park)
    spec = park.network
    needed = list(net.load["name"]) + [f"{a}.used_kw" for a in park.pv_arrays] + \
        [f"{b}.{q}" for b in park.batteries for q in ("charge_kw", "discharge_kw")]
    missing = [c for c in needed if c not in schedule.columns]
    if missing:
        raise InvalidParkError(f"schedule: no column {missing[0]!r} (and {len(missing) - 1} more); "
                               "check it against this case: its devices must match")
    load_mw = schedule[list(net.load["name"])].to_numpy() / KW_PER_MW
    pv_mw = schedule[[f"{a}.used_kw" for a in park.pv_arrays]].to_numpy() / KW_PER_MW
    storage_mw = (schedule[[f"{b}.charge_kw" for b in park.batteries]].to_numpy()
                  - schedule[[f"{b}.discharge_kw" for b in park.batteries]].to_numpy()) / KW_PER_MW
    tan_load, tan_pv, tan_bat = _tan(spec.load_power_factor), _tan(spec.pv_power_factor), _tan(spec.battery_power_factor)
    rows, violations = [], []
    line_names = net.line["name"].to_numpy()
    trafo_names = net.trafo["name"].to_numpy()
    bus_names = net.bus["name"].to_numpy()
    for t, stamp in enumerate(schedule.index):
        net.load["p_mw"] = load_mw[t]
        net.load["q_mvar"] = load_mw[t] * tan_load
        if len(net.sgen):
            net.sgen["p_mw"] = pv_mw[t]
            net.sgen["q_mvar"] = -pv_mw[t] * tan_pv
        if len(net.storage):
            net.storage["p_mw"] = storage_mw[t]
            net.storage["q_mvar"] = np.abs(storage_mw[t]) * tan_bat
        try:
            pp.runpp(net, init="results" if t else "auto", numba=False)
        except pp.LoadflowNotConverged:
            rows.append({"timestamp": stamp, "converged": False})
            violations.append({"timestamp": stamp, "element": "network", "name": "", "quantity": "power flow",
                               "value": np.nan, "limit": np.nan})
            continue
        vm = net.res_bus["vm_pu"].to_numpy()
        line_loading = net.res_line["loading_percent"].to_numpy() if len(net.line) else np.zeros(0)
        trafo_loading = net.res_trafo["loading_percent"].to_numpy() if len(net.trafo) else np.zeros(0)
        losses_kw = (net.res_line["pl_mw"].sum() + net.res_trafo["pl_mw"].sum()) * KW_PER_MW
        row = {"timestamp": stamp, "converged": True, "min_vm_pu": vm.min(), "max_vm_pu": vm.max(),
               "losses_kw": losses_kw}
        if len(line_loading):
            k = int(np.argmax(line_loading))
            row.update(max_line=line_names[k], max_line_loading_pct=line_loading[k])
        if len(trafo_loading):
            k = int(np.argmax(trafo_loading))
            row.update(max_trafo=trafo_names[k], max_trafo_loading_pct=trafo_loading[k])
        rows.append(row)
        for k in np.flatnonzero(vm < spec.min_vm_pu):
            violations.append({"timestamp": stamp, "element": "bus", "name": bus_names[k], "quantity": "vm_pu",
                               "value": vm[k], "limit": spec.min_vm_pu})
        for k in np.flatnonzero(vm > spec.max_vm_pu):
            violations.append({"timestamp": stamp, "element": "bus", "name": bus_names[k], "quantity": "vm_pu",
                               "value": vm[k], "limit": spec.max_vm_pu})
        for k in np.flatnonzero(line_loading > spec.max_line_loading_pct):
            violations.append({"timestamp": stamp, "element": "line", "name": line_names[k],
                               "quantity": "loading_pct", "value": line_loading[k], "limit": spec.max_line_loading_pct})
        for k in np.flatnonzero(trafo_loading > spec.max_trafo_loading_pct):
            violations.append({"timestamp": stamp, "element": "trafo", "name": trafo_names[k],
                               "quantity": "loading_pct", "value": trafo_loading[k], "limit": spec.max_trafo_loading_pct})
    steps = pd.DataFrame(rows).set_index("timestamp")
    violations_frame = pd.DataFrame(violations, columns=["timestamp", "element", "name", "quantity", "value", "limit"])
    dt_h = (schedule.index[1] - schedule.index[0]) / pd.Timedelta(hours=1) if len(schedule) > 1 else 0.25
    kpis = {
        "min_vm_pu": float(steps["min_vm_pu"].min()),
        "max_vm_pu": float(steps["max_vm_pu"].max()),
        "max_line_loading_pct": float(steps["max_line_loading_pct"].max()) if "max_line_loading_pct" in steps else 0.0,
        "max_trafo_loading_pct": float(steps["max_trafo_loading_pct"].max()) if "max_trafo_loading_pct" in steps else 0.0,
        "network_losses_kwh": float(steps["losses_kw"].sum() * dt_h),
        "network_violations": int(len(violations_frame)),
    }
    return NetworkReport(steps=steps, violations=violations_frame, kpis=kpis)
