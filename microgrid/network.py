"""The park's electrical network in pandapower, and AC power flow of a schedule.

The boundary with pandapower, written down once (the sign conventions of the
whole package: everywhere else a power is a non-negative magnitude whose
direction is in its name):

* the park model works in kW, kvar and kVA; pandapower in MW, Mvar and MVA:
  every conversion is in this module (:data:`KW_PER_MW`), the injections of a
  schedule in :func:`injections_mw` only;
* pandapower's signs: a ``load`` consumes ``p_mw > 0`` and ``q_mvar > 0``
  (load convention); PV is an ``sgen`` whose ``p_mw > 0`` and ``q_mvar > 0``
  are produced (generator convention); a battery is a ``storage`` whose
  ``p_mw > 0`` charges it and whose ``q_mvar > 0`` absorbs reactive power
  (load convention);
* reactive power, a magnitude ``q_kvar = |p_kw| · tan(acos(pf))``: loads
  absorb it (lagging power factor, their own or the network's
  ``load_power_factor``); PV inverters and batteries absorb or inject it by
  their ``reactive_mode`` at their ``power_factor`` (or the network's),
  within their ``sn_kva`` (see :class:`microgrid.park.Inverter`);
* the grid connection (``grid.bus``) is the slack bus (``ext_grid``, 1.0 p.u.).

Two power-flow engines give the same answer (tested to 1e-6 p.u. and 1e-4 %
of loading): lightsim2grid's Newton-Raphson in C++ on the pandapower model
(about 2 ms for a day of the reference park), and pandapower's ``runpp``
reusing its admittance matrix between steps (``recycle``), for networks
lightsim2grid does not model exactly (switches, three-winding transformers...).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

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

#: Elements of a pandapower JSON file that the park's grid connection and devices replace.
REPLACED_ELEMENTS = ("ext_grid", "gen", "load", "sgen", "storage", "ward", "xward", "motor",
                     "asymmetric_load", "asymmetric_sgen")

#: Elements lightsim2grid does not model exactly; a network with any of them runs on pandapower.
_NOT_IN_LIGHTSIM2GRID = ("switch", "trafo3w", "impedance", "dcline", "tcsc", "ssc", "svc", "vsc")

ENGINES = ("auto", "lightsim2grid", "pandapower")


# --------------------------------------------------------------------------- building the network


def build_network(park: Park, folder: Path | None = None):
    """A pandapower network of the park: buses, lines, transformers, the grid, one element per device.

    Parameters
    ----------
    park : Park
        With a ``network`` section: buses, lines and transformers, or a
        ``pandapower_json`` file.
    folder : pathlib.Path, optional
        Case folder against which a relative ``pandapower_json`` is resolved
        (default: the working directory).

    Returns
    -------
    pandapower.pandapowerNet
        One ``load`` per consuming device (named ``<id>.<schedule suffix>``),
        one ``sgen`` per PV array and one ``storage`` per battery (named by
        their ids), in the park's order; an ``ext_grid`` at ``grid.bus``.

    Raises
    ------
    InvalidParkError
        No network; a JSON file missing or not a pandapower network; a
        device or the grid on a bus the network does not have; an unknown
        standard type or one for other voltages; a branch without
        impedance; buses without a path to the grid connection.
    """
    import pandapower as pp

    spec = park.network
    if not spec.described:
        raise InvalidParkError("network: the case has no network.buses nor network.pandapower_json; "
                               "describe the network to check it")
    if spec.pandapower_json is not None:
        net, resolve = _network_from_json(park, folder)
    else:
        net, resolve = _network_from_spec(park)
    pp.create_ext_grid(net, resolve("grid.bus", park.grid.bus), vm_pu=1.0, name="grid")
    _check_islands(net, park)
    for group, suffix in CONSUMERS.items():
        for device_id, device in getattr(park, group).items():
            pp.create_load(net, resolve(f"{group}.{device_id}.bus", device.bus), p_mw=0.0,
                           name=f"{device_id}.{suffix}")
    for array_id, array in park.pv_arrays.items():
        pp.create_sgen(net, resolve(f"pv_arrays.{array_id}.bus", array.bus), p_mw=0.0, name=array_id)
    for battery_id, battery in park.batteries.items():
        pp.create_storage(net, resolve(f"batteries.{battery_id}.bus", battery.bus), p_mw=0.0,
                          max_e_mwh=battery.capacity_kwh / KW_PER_MW, name=battery_id)
    return net


def _network_from_spec(park: Park):
    """Buses, lines and transformers of the case file; a resolver of park bus names."""
    import pandapower as pp

    spec = park.network
    net = pp.create_empty_network(name=park.site.name)
    for name, line_type in spec.std_types.line.items():
        pp.create_std_type(net, line_type.model_dump(exclude_none=True), name, element="line", overwrite=True)
    for name, trafo_type in spec.std_types.trafo.items():
        data = trafo_type.model_dump()
        data["sn_mva"] = data.pop("sn_kva") / KW_PER_MW
        pp.create_std_type(net, data, name, element="trafo", overwrite=True)
    bus = {name: pp.create_bus(net, vn_kv=b.vn_kv, name=name) for name, b in spec.buses.items()}
    for name, line in spec.lines.items():
        common = dict(name=name, parallel=line.parallel, df=line.derating_factor)
        if line.std_type is not None:
            if not pp.std_type_exists(net, line.std_type, "line"):
                raise InvalidParkError(f"network.lines.{name}.std_type: {line.std_type!r} is not a pandapower "
                                       "standard line type nor one of network.std_types.line; use one of those "
                                       "or give r_ohm_per_km, x_ohm_per_km and max_i_ka")
            pp.create_line(net, bus[line.from_bus], bus[line.to_bus], line.length_km, line.std_type, **common)
        else:
            pp.create_line_from_parameters(
                net, bus[line.from_bus], bus[line.to_bus], line.length_km, r_ohm_per_km=line.r_ohm_per_km,
                x_ohm_per_km=line.x_ohm_per_km, c_nf_per_km=line.c_nf_per_km, max_i_ka=line.max_i_ka, **common)
    for name, trafo in spec.transformers.items():
        hv_kv, lv_kv = spec.buses[trafo.hv_bus].vn_kv, spec.buses[trafo.lv_bus].vn_kv
        if trafo.std_type is not None:
            if not pp.std_type_exists(net, trafo.std_type, "trafo"):
                raise InvalidParkError(f"network.transformers.{name}.std_type: {trafo.std_type!r} is not a "
                                       "pandapower standard transformer type nor one of network.std_types.trafo; "
                                       "use one of those or give sn_kva, vk_percent and vkr_percent")
            data = pp.load_std_type(net, trafo.std_type, "trafo")
            for side, type_kv, bus_kv, bus_name in (("hv", data["vn_hv_kv"], hv_kv, trafo.hv_bus),
                                                    ("lv", data["vn_lv_kv"], lv_kv, trafo.lv_bus)):
                if abs(type_kv - bus_kv) > 0.1 * bus_kv:
                    raise InvalidParkError(
                        f"network.transformers.{name}.std_type: {trafo.std_type!r} is rated {type_kv:g} kV on "
                        f"its {side} side but {side}_bus {bus_name!r} is {bus_kv:g} kV; choose a type for "
                        "these voltages")
            pp.create_transformer(net, bus[trafo.hv_bus], bus[trafo.lv_bus], trafo.std_type, name=name,
                                  parallel=trafo.parallel)
        else:
            pp.create_transformer_from_parameters(
                net, bus[trafo.hv_bus], bus[trafo.lv_bus], sn_mva=trafo.sn_kva / KW_PER_MW, vn_hv_kv=hv_kv,
                vn_lv_kv=lv_kv, vk_percent=trafo.vk_percent, vkr_percent=trafo.vkr_percent, pfe_kw=trafo.pfe_kw,
                i0_percent=trafo.i0_percent, name=name, parallel=trafo.parallel)

    def resolve(field: str, name: str) -> int:
        if name not in bus:   # the park's validation already refuses this; kept for parks built in code
            raise InvalidParkError(f"{field}: bus {name!r} is not in network.buses; use one of {', '.join(bus)}")
        return bus[name]

    return net, resolve


def _network_from_json(park: Park, folder: Path | None):
    """The network of a pandapower JSON file without its own injections; a resolver of bus names."""
    import pandapower as pp
    from pandapower.toolbox import drop_elements_simple

    spec = park.network
    path = Path(spec.pandapower_json)
    if not path.is_absolute():
        path = (folder if folder is not None else Path.cwd()) / path
    where = f"network.pandapower_json ({path.name})"
    if not path.is_file():
        raise InvalidParkError(f"network.pandapower_json: no file {str(path)!r}; give the path of a pandapower "
                               "JSON file relative to the case folder")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = pp.from_json(str(path))
    except Exception as exc:  # noqa: BLE001 - pandapower raises many kinds for a bad file
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise InvalidParkError(f"{where}: not a pandapower network ({reason}); write the file with "
                               "pandapower.to_json(net, path)") from None
    if not isinstance(net, pp.pandapowerNet) or "bus" not in net or net.bus.empty:
        raise InvalidParkError(f"{where}: holds no pandapower network with buses; write the file with "
                               "pandapower.to_json(net, path)")
    for element in REPLACED_ELEMENTS:
        if element in net and len(net[element]):
            drop_elements_simple(net, element, net[element].index)
    for table in ("controller", "poly_cost", "pwl_cost"):
        if table in net and len(net[table]):
            net[table] = net[table].iloc[0:0]
    lines = net.line[net.line["in_service"]]
    flat = lines[(lines["r_ohm_per_km"] == 0) & (lines["x_ohm_per_km"] == 0)]
    if len(flat):
        name = _element_name(net.line, flat.index[0])
        raise InvalidParkError(f"{where}: line {name} has no impedance (r_ohm_per_km and x_ohm_per_km both 0); "
                               "give it its data or join its buses with a bus-bus switch")
    trafos = net.trafo[net.trafo["in_service"]]
    flat = trafos[trafos["vk_percent"] <= 0]
    if len(flat):
        name = _element_name(net.trafo, flat.index[0])
        raise InvalidParkError(f"{where}: transformer {name} has no impedance (vk_percent 0); give its "
                               "short-circuit voltage")
    names = net.bus["name"].astype(str)
    index_of = {}
    for index, name in zip(net.bus.index, names):
        index_of[name] = None if name in index_of else index     # None: the name is not unique

    def resolve(field: str, name: str) -> int:
        json_name = spec.bus_names.get(name, name)
        if index_of.get(json_name) is not None:
            return int(index_of[json_name])
        via = f" (network.bus_names maps it to {json_name!r})" if name in spec.bus_names else ""
        if json_name in index_of:
            raise InvalidParkError(f"{field}: bus {json_name!r}{via} names more than one bus of {path.name}; "
                                   "give the buses unique names in the file")
        known = ", ".join(list(names[:8])) + (", ..." if len(names) > 8 else "")
        raise InvalidParkError(f"{field}: bus {name!r}{via} is not a bus of {path.name} ({known}); "
                               "map it in network.bus_names or use a bus name of the file")

    return net, resolve


def _element_name(table: pd.DataFrame, index) -> str:
    name = table.at[index, "name"] if "name" in table else None
    return f"{name!r} (index {index})" if isinstance(name, str) and name else f"with index {index}"


def _check_islands(net, park: Park) -> None:
    import pandapower.topology as top

    unsupplied = [b for b in top.unsupplied_buses(net) if net.bus.at[b, "in_service"]]
    if unsupplied:
        names = ", ".join(sorted(str(n) for n in net.bus.loc[unsupplied, "name"]))
        raise InvalidParkError(f"network: bus(es) {names} have no path to the grid bus {park.grid.bus!r} "
                               "(an island without a source); connect them with a line or transformer")


# --------------------------------------------------------------------------- injections of a schedule


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


# --------------------------------------------------------------------------- power-flow engines


@dataclass
class PowerFlowResults:
    """Per step (rows): voltages of the in-service buses, loadings of the in-service branches, losses."""

    converged: np.ndarray          # (steps,) bool
    vm_pu: np.ndarray              # (steps, buses)
    line_loading_pct: np.ndarray   # (steps, lines)
    trafo_loading_pct: np.ndarray  # (steps, trafos)
    losses_kw: np.ndarray          # (steps,) lines and transformers


def lightsim2grid_supports(net) -> bool:
    """Whether lightsim2grid models every element of ``net`` as pandapower does.

    Not: switches (lightsim2grid ignores them), three-winding transformers,
    impedances and the like, ``parallel`` lines or transformers, tap
    changers off their neutral position.
    """
    if any(element in net and len(net[element]) for element in _NOT_IN_LIGHTSIM2GRID):
        return False
    if (net.line["parallel"] != 1).any() or (net.trafo["parallel"] != 1).any():
        return False
    tap_pos = net.trafo["tap_pos"].fillna(0) if "tap_pos" in net.trafo else pd.Series(0.0, index=net.trafo.index)
    tap_neutral = net.trafo["tap_neutral"].fillna(0) if "tap_neutral" in net.trafo else 0.0
    return bool((tap_pos == tap_neutral).all() and (np.asarray(tap_neutral) == 0).all())


def _masks(net):
    return (net.bus["in_service"].to_numpy(bool), net.line["in_service"].to_numpy(bool),
            net.trafo["in_service"].to_numpy(bool))


def run_pandapower(net, injections: Injections, recycle: bool = True) -> PowerFlowResults:
    """One ``pandapower.runpp`` per step; with ``recycle`` the admittance matrix is built once.

    The first step starts flat (1 p.u.; pandapower's DC start fails on a branch
    without reactance), each next one from the previous voltages. ``recycle=False`` is
    plain ``runpp``, the reference the fast engines are tested against.
    """
    import pandapower as pp

    bus_on, line_on, trafo_on = _masks(net)
    steps = len(injections.load_p_mw)
    out = _empty_results(steps, bus_on.sum(), line_on.sum(), trafo_on.sum())
    options = dict(numba=False)
    if recycle:
        options["recycle"] = dict(bus_pq=True, trafo=False, gen=False)
    first = True
    for t in range(steps):
        injections.apply(net, t)
        try:
            pp.runpp(net, init="flat" if first else "results", **options)
        except pp.LoadflowNotConverged:
            first = True
            continue
        first = False
        out.converged[t] = True
        out.vm_pu[t] = net.res_bus["vm_pu"].to_numpy()[bus_on]
        out.line_loading_pct[t] = net.res_line["loading_percent"].to_numpy()[line_on]
        out.trafo_loading_pct[t] = net.res_trafo["loading_percent"].to_numpy()[trafo_on]
        out.losses_kw[t] = (net.res_line["pl_mw"].to_numpy()[line_on].sum()
                            + net.res_trafo["pl_mw"].to_numpy()[trafo_on].sum()) * KW_PER_MW
    return out


def run_lightsim2grid(net, injections: Injections, max_iter: int = 20, tol_mva: float = 1e-8) -> PowerFlowResults:
    """The same power flows with lightsim2grid's Newton-Raphson (KLU) on the pandapower model.

    Loadings follow pandapower's definitions: a line's current over
    ``max_i_ka · df · parallel``; a transformer's larger side current times
    its rated voltage and √3 over ``sn_mva · df · parallel``. Losses are the
    active power entering both ends of every branch.
    """
    from lightsim2grid.network import init_from_pandapower

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The default ("pandapower_v2") transformer conversion reproduces pandapower 3's runpp to 1e-10 p.u.
        # on the reference park, iron losses included; "pandapower_v3" differs by 2.5e-4 p.u.
        grid = init_from_pandapower(net)
    for warning in caught:
        logger.debug("lightsim2grid: %s", warning.message)
    bus_on, line_on, trafo_on = _masks(net)
    steps = len(injections.load_p_mw)
    out = _empty_results(steps, bus_on.sum(), line_on.sum(), trafo_on.sum())
    order = np.argsort(net.bus.index.to_numpy())          # lightsim2grid numbers buses by sorted index
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    line_i_max_ka = (net.line["max_i_ka"] * net.line["df"] * net.line["parallel"]).to_numpy()[line_on]
    trafo = net.trafo
    trafo_rated = (trafo["sn_mva"] * trafo["df"] * trafo["parallel"]).to_numpy()[trafo_on]
    vn_hv_kv, vn_lv_kv = trafo["vn_hv_kv"].to_numpy()[trafo_on], trafo["vn_lv_kv"].to_numpy()[trafo_on]
    flat = np.ones(grid.total_bus(), dtype=complex)
    v = flat.copy()
    for t in range(steps):
        for k, (p, q) in enumerate(zip(injections.load_p_mw[t], injections.load_q_mvar[t])):
            grid.change_p_load(k, p)
            grid.change_q_load(k, q)
        for k, (p, q) in enumerate(zip(injections.sgen_p_mw[t], injections.sgen_q_mvar[t])):
            grid.change_p_sgen(k, p)
            grid.change_q_sgen(k, q)
        for k, (p, q) in enumerate(zip(injections.storage_p_mw[t], injections.storage_q_mvar[t])):
            grid.change_p_storage(k, p)
            grid.change_q_storage(k, q)
        v = grid.ac_pf(v, max_iter, tol_mva)
        if v.size == 0:
            v = flat.copy()
            continue
        out.converged[t] = True
        out.vm_pu[t] = grid.get_Vm()[position][bus_on]
        p1, _, _, a1 = grid.get_line_res1()
        p2, _, _, a2 = grid.get_line_res2()
        tp1, _, _, ta1 = grid.get_trafo_res1()
        tp2, _, _, ta2 = grid.get_trafo_res2()
        out.line_loading_pct[t] = np.maximum(a1, a2)[line_on] / line_i_max_ka * 100.0
        out.trafo_loading_pct[t] = (np.maximum(ta1[trafo_on] * vn_hv_kv, ta2[trafo_on] * vn_lv_kv)
                                    * math.sqrt(3) / trafo_rated * 100.0)
        out.losses_kw[t] = ((p1 + p2)[line_on].sum() + (tp1 + tp2)[trafo_on].sum()) * KW_PER_MW
    return out


def _empty_results(steps: int, buses: int, lines: int, trafos: int) -> PowerFlowResults:
    return PowerFlowResults(converged=np.zeros(steps, bool), vm_pu=np.full((steps, buses), np.nan),
                            line_loading_pct=np.full((steps, lines), np.nan),
                            trafo_loading_pct=np.full((steps, trafos), np.nan), losses_kw=np.full(steps, np.nan))


# --------------------------------------------------------------------------- report


@dataclass
class NetworkReport:
    """AC power flow of a schedule, step by step.

    Attributes
    ----------
    steps : pandas.DataFrame
        Per step: ``converged``, ``min_vm_pu``, ``max_vm_pu``, ``max_line``, ``max_line_loading_pct``,
        ``max_trafo``, ``max_trafo_loading_pct``, ``losses_kw``.
    violations : pandas.DataFrame
        One row per element and step out of its limit: ``timestamp``,
        ``element`` (``bus``/``line``/``trafo``, ``network`` when the power flow
        did not converge), ``name``, ``quantity``, ``value``, ``limit``.
    kpis : dict
        ``min_vm_pu``, ``max_vm_pu``, ``max_line_loading_pct``,
        ``max_trafo_loading_pct``, ``network_losses_kwh``, ``network_violations``.
    engine : str
        ``lightsim2grid`` or ``pandapower``: which engine computed it.
    """

    steps: pd.DataFrame
    violations: pd.DataFrame
    kpis: dict
    engine: str = "pandapower"


def validate_schedule(park: Park, schedule: pd.DataFrame, net=None, *, folder: Path | None = None,
                      engine: str = "auto") -> NetworkReport:
    """One AC power flow per step of ``schedule`` (the ``schedule.csv`` contract, device columns).

    Parameters
    ----------
    park : Park
    schedule : pandas.DataFrame
        Indexed by tz-aware step starts, with the device columns of ``park``.
    net : pandapower.pandapowerNet, optional
        From :func:`build_network` (built when not given; ``folder`` resolves
        a relative ``pandapower_json``).
    engine : {"auto", "lightsim2grid", "pandapower"}
        ``auto``: lightsim2grid where it models the network exactly
        (:func:`lightsim2grid_supports`), else pandapower with ``recycle``.

    Returns
    -------
    NetworkReport
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    net = net if net is not None else build_network(park, folder)
    injections = injections_mw(park, net, schedule)
    if engine == "auto":
        engine = "lightsim2grid" if lightsim2grid_supports(net) else "pandapower"
        logger.debug("AC power flow engine: %s", engine)
    if engine == "lightsim2grid" and not lightsim2grid_supports(net):
        raise ValueError("engine 'lightsim2grid' does not model this network exactly (switches, parallel "
                         "branches, taps...); use engine 'auto' or 'pandapower'")
    results = run_lightsim2grid(net, injections) if engine == "lightsim2grid" else run_pandapower(net, injections)
    return network_report(park, net, schedule.index, results, engine)


def network_report(park: Park, net, index: pd.Index, results: PowerFlowResults, engine: str) -> NetworkReport:
    """Steps, violations and KPIs of power-flow results (``index``: the schedule's step starts)."""
    spec = park.network
    bus_on, line_on, trafo_on = _masks(net)
    bus_names = net.bus["name"].astype(str).to_numpy()[bus_on]
    line_names = net.line["name"].astype(str).to_numpy()[line_on]
    trafo_names = net.trafo["name"].astype(str).to_numpy()[trafo_on]
    rows, violations = [], []
    for t, stamp in enumerate(index):
        if not results.converged[t]:
            rows.append({"timestamp": stamp, "converged": False})
            violations.append({"timestamp": stamp, "element": "network", "name": "", "quantity": "power flow",
                               "value": np.nan, "limit": np.nan})
            continue
        vm, line_loading, trafo_loading = results.vm_pu[t], results.line_loading_pct[t], results.trafo_loading_pct[t]
        row = {"timestamp": stamp, "converged": True, "min_vm_pu": vm.min(), "max_vm_pu": vm.max(),
               "losses_kw": results.losses_kw[t]}
        if len(line_loading):
            k = int(np.argmax(line_loading))
            row.update(max_line=line_names[k], max_line_loading_pct=line_loading[k])
        if len(trafo_loading):
            k = int(np.argmax(trafo_loading))
            row.update(max_trafo=trafo_names[k], max_trafo_loading_pct=trafo_loading[k])
        rows.append(row)
        for element, names, values, quantity, limit, above in (
            ("bus", bus_names, vm, "vm_pu", spec.min_vm_pu, False),
            ("bus", bus_names, vm, "vm_pu", spec.max_vm_pu, True),
            ("line", line_names, line_loading, "loading_pct", spec.max_line_loading_pct, True),
            ("trafo", trafo_names, trafo_loading, "loading_pct", spec.max_trafo_loading_pct, True),
        ):
            for k in np.flatnonzero(values > limit if above else values < limit):
                violations.append({"timestamp": stamp, "element": element, "name": names[k], "quantity": quantity,
                                   "value": values[k], "limit": limit})
    steps = pd.DataFrame(rows).set_index("timestamp")
    violations_frame = pd.DataFrame(violations, columns=["timestamp", "element", "name", "quantity", "value", "limit"])
    dt_h = (index[1] - index[0]) / pd.Timedelta(hours=1) if len(index) > 1 else 0.25
    kpis = {
        "min_vm_pu": float(steps["min_vm_pu"].min()) if "min_vm_pu" in steps else float("nan"),
        "max_vm_pu": float(steps["max_vm_pu"].max()) if "max_vm_pu" in steps else float("nan"),
        "max_line_loading_pct": float(steps["max_line_loading_pct"].max()) if "max_line_loading_pct" in steps else 0.0,
        "max_trafo_loading_pct": float(steps["max_trafo_loading_pct"].max()) if "max_trafo_loading_pct" in steps else 0.0,
        "network_losses_kwh": float(steps["losses_kw"].sum() * dt_h) if "losses_kw" in steps else 0.0,
        "network_violations": int(len(violations_frame)),
    }
    return NetworkReport(steps=steps, violations=violations_frame, kpis=kpis, engine=engine)


# --------------------------------------------------------------------------- sensitivities around a schedule


@dataclass
class Linearization:
    """Network quantities of a schedule and their sensitivities to device powers, step by step.

    Around the operating point ``x⁰`` (the schedule's device columns), every
    monitored quantity ``y`` (a bus voltage [p.u.], a line's or transformer's
    loading [%]) and the losses are linearized per step ``t``:

    .. math::
        y_{q,t}(x) ≈ y^0_{q,t} + Σ_c s_{q,c,t}\\,(x_{c,t} − x^0_{c,t}),\\qquad
        loss_t(x) ≈ loss^0_t + Σ_c λ_{c,t}\\,(x_{c,t} − x^0_{c,t})

    with ``s`` and ``λ`` forward differences of the AC power flow: one power
    flow per step for the point and one per step and column with that
    column raised by ``delta_kw``. A column is a schedule column of a device
    (``pv_ws1.used_kw``, ``b1.charge_kw``, ``ws1.load_kw``...), so its reactive
    power follows it as :func:`injections_mw` sets it (power factor,
    ``reactive_mode``, ``sn_kva``) and the signs stay those of the schedule.

    Attributes
    ----------
    quantities : list of tuple
        ``(element, name, quantity)``: ``("bus", name, "vm_pu")``,
        ``("line", name, "loading_pct")``, ``("trafo", name, "loading_pct")``.
    lower, upper : numpy.ndarray
        Limits of each quantity, ``(Q,)`` (loading: ``−max`` and ``max``; the
        lower one bounds the flow in the opposite direction).
    columns : list of str
        Schedule columns the sensitivities are taken to.
    point_kw : numpy.ndarray
        ``(steps, C)``: the columns' values at the operating point [kW].
    value : numpy.ndarray
        ``(steps, Q)``: the quantities at the operating point.
    sens : numpy.ndarray
        ``(steps, Q, C)``: per kW of each column.
    losses_kw : numpy.ndarray
        ``(steps,)``: line and transformer losses at the operating point [kW].
    loss_sens : numpy.ndarray
        ``(steps, C)``: losses per kW of each column [kW/kW].
    converged : numpy.ndarray
        ``(steps,)``: whether the operating point's power flow converged.
    """

    quantities: list[tuple[str, str, str]]
    lower: np.ndarray
    upper: np.ndarray
    columns: list[str]
    point_kw: np.ndarray
    value: np.ndarray
    sens: np.ndarray
    losses_kw: np.ndarray
    loss_sens: np.ndarray
    converged: np.ndarray

    def predict(self, x_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The linear model at columns ``x_kw`` ``(steps, C)``: quantities ``(steps, Q)`` and losses ``(steps,)``."""
        dx = np.asarray(x_kw, dtype=float) - self.point_kw
        return self.value + np.einsum("tqc,tc->tq", self.sens, dx), self.losses_kw + np.einsum("tc,tc->t", self.loss_sens, dx)


def monitored_quantities(park: Park, net) -> tuple[list[tuple[str, str, str]], np.ndarray, np.ndarray]:
    """Every in-service bus voltage, line loading and transformer loading, with its limits."""
    spec = park.network
    bus_on, line_on, trafo_on = _masks(net)
    quantities, lower, upper = [], [], []
    for name in net.bus["name"].astype(str).to_numpy()[bus_on]:
        quantities.append(("bus", name, "vm_pu"))
        lower.append(spec.min_vm_pu)
        upper.append(spec.max_vm_pu)
    for element, table, limit in (("line", net.line[line_on], spec.max_line_loading_pct),
                                  ("trafo", net.trafo[trafo_on], spec.max_trafo_loading_pct)):
        for name in table["name"].astype(str):
            quantities.append((element, name, "loading_pct"))
            lower.append(-limit)
            upper.append(limit)
    return quantities, np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)


def _stack(parts: list[Injections]) -> Injections:
    return Injections(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in vars(parts[0])})


def run_power_flows(net, injections: Injections, engine: str = "auto") -> tuple[PowerFlowResults, str]:
    """The power flows of ``injections`` with ``engine`` (``auto``: as :func:`validate_schedule` chooses)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "auto":
        engine = "lightsim2grid" if lightsim2grid_supports(net) else "pandapower"
    if engine == "lightsim2grid":
        return run_lightsim2grid(net, injections), engine
    return run_pandapower(net, injections), engine


def linearize_schedule(park: Park, net, schedule: pd.DataFrame, columns: list[str], *, delta_kw: float = 10.0,
                       engine: str = "auto") -> Linearization:
    """Quantities, losses and their sensitivities to ``columns`` around ``schedule`` (see :class:`Linearization`).

    Parameters
    ----------
    park : Park
    net : pandapower.pandapowerNet
        From :func:`build_network`.
    schedule : pandas.DataFrame
        The operating point: a schedule with the park's device columns.
    columns : list of str
        Device columns of ``schedule`` to differentiate against (those the
        optimizer controls).
    delta_kw : float
        Step of the forward differences [kW]; the sensitivities are exact for
        changes much smaller than the curvature of the power flow allows,
        which at park scale is tens of kW (see the tests).
    engine : {"auto", "lightsim2grid", "pandapower"}

    Returns
    -------
    Linearization
    """
    if delta_kw <= 0:
        raise ValueError("delta_kw must be > 0")
    missing = [c for c in columns if c not in schedule.columns]
    if missing:
        raise InvalidParkError(f"schedule: no column {missing[0]!r} to linearize against; "
                               "check it against this case: its devices must match")
    steps = len(schedule)
    parts = [injections_mw(park, net, schedule)]
    for column in columns:
        moved = schedule.copy()
        moved[column] = moved[column].to_numpy(dtype=float) + delta_kw
        parts.append(injections_mw(park, net, moved))
    results, _ = run_power_flows(net, _stack(parts), engine)
    quantities, lower, upper = monitored_quantities(park, net)
    values = np.concatenate([results.vm_pu, results.line_loading_pct, results.trafo_loading_pct], axis=1)
    blocks = values.reshape(1 + len(columns), steps, len(quantities))
    losses = results.losses_kw.reshape(1 + len(columns), steps)
    converged = results.converged.reshape(1 + len(columns), steps).all(axis=0)
    sens = (blocks[1:] - blocks[0]).transpose(1, 2, 0) / delta_kw            # (steps, Q, C)
    loss_sens = (losses[1:] - losses[0]).T / delta_kw                        # (steps, C)
    sens[~converged] = 0.0
    loss_sens[~converged] = 0.0
    point = schedule[columns].to_numpy(dtype=float).reshape(steps, len(columns))
    return Linearization(quantities=quantities, lower=lower, upper=upper, columns=list(columns), point_kw=point,
                         value=np.nan_to_num(blocks[0]), sens=sens, losses_kw=np.nan_to_num(losses[0]),
                         loss_sens=loss_sens, converged=converged)
