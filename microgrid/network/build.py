"""The pandapower network of a park: from the case's buses, lines and transformers, or a pandapower JSON file.

One element per device, in the park's order (see :func:`build_network`);
the park's kW become pandapower's MW here and in
:mod:`microgrid.network.injections` only (:data:`KW_PER_MW`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from microgrid.errors import InvalidParkError
from microgrid.messages import Message
from microgrid.park import Park

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

#: Generating device families, each an ``sgen`` per device of this pandapower ``type``, in this order.
GENERATORS = {"pv_arrays": "PV", "wind_turbines": "WP"}

#: Elements of a pandapower JSON file that the park's grid connection and devices replace.
REPLACED_ELEMENTS = ("ext_grid", "gen", "load", "sgen", "storage", "ward", "xward", "motor",
                     "asymmetric_load", "asymmetric_sgen")


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
        one ``sgen`` per PV array (type ``PV``) and then per wind turbine
        group (type ``WP``), and one ``storage`` per battery (named by their
        ids), in the park's order; an ``ext_grid`` at ``grid.bus``.

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
        raise InvalidParkError(Message("network: the case has no network.buses nor network.pandapower_json; "
                                       "describe the network to check it"))
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
    for group, sgen_type in GENERATORS.items():
        for device_id, device in getattr(park, group).items():
            pp.create_sgen(net, resolve(f"{group}.{device_id}.bus", device.bus), p_mw=0.0, name=device_id,
                           type=sgen_type)
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
                raise InvalidParkError(Message("network.lines.{name}.std_type: {std_type!r} is not a pandapower "
                                               "standard line type nor one of network.std_types.line; use one of "
                                               "those or give r_ohm_per_km, x_ohm_per_km and max_i_ka",
                                               name=name, std_type=line.std_type))
            pp.create_line(net, bus[line.from_bus], bus[line.to_bus], line.length_km, line.std_type, **common)
        else:
            pp.create_line_from_parameters(
                net, bus[line.from_bus], bus[line.to_bus], line.length_km, r_ohm_per_km=line.r_ohm_per_km,
                x_ohm_per_km=line.x_ohm_per_km, c_nf_per_km=line.c_nf_per_km, max_i_ka=line.max_i_ka, **common)
    for name, trafo in spec.transformers.items():
        hv_kv, lv_kv = spec.buses[trafo.hv_bus].vn_kv, spec.buses[trafo.lv_bus].vn_kv
        if trafo.std_type is not None:
            if not pp.std_type_exists(net, trafo.std_type, "trafo"):
                raise InvalidParkError(Message("network.transformers.{name}.std_type: {std_type!r} is not a "
                                               "pandapower standard transformer type nor one of "
                                               "network.std_types.trafo; use one of those or give sn_kva, "
                                               "vk_percent and vkr_percent",
                                               name=name, std_type=trafo.std_type))
            data = pp.load_std_type(net, trafo.std_type, "trafo")
            for side, type_kv, bus_kv, bus_name in (("hv", data["vn_hv_kv"], hv_kv, trafo.hv_bus),
                                                    ("lv", data["vn_lv_kv"], lv_kv, trafo.lv_bus)):
                if abs(type_kv - bus_kv) > 0.1 * bus_kv:
                    raise InvalidParkError(
                        Message("network.transformers.{name}.std_type: {std_type!r} is rated {type_kv:g} kV on "
                                "its {side} side but {side}_bus {bus_name!r} is {bus_kv:g} kV; choose a type for "
                                "these voltages",
                                name=name, std_type=trafo.std_type, type_kv=type_kv, side=side, bus_name=bus_name,
                                bus_kv=bus_kv))
            pp.create_transformer(net, bus[trafo.hv_bus], bus[trafo.lv_bus], trafo.std_type, name=name,
                                  parallel=trafo.parallel)
        else:
            pp.create_transformer_from_parameters(
                net, bus[trafo.hv_bus], bus[trafo.lv_bus], sn_mva=trafo.sn_kva / KW_PER_MW, vn_hv_kv=hv_kv,
                vn_lv_kv=lv_kv, vk_percent=trafo.vk_percent, vkr_percent=trafo.vkr_percent, pfe_kw=trafo.pfe_kw,
                i0_percent=trafo.i0_percent, name=name, parallel=trafo.parallel)

    def resolve(field: str, name: str) -> int:
        if name not in bus:   # the park's validation already refuses this; kept for parks built in code
            raise InvalidParkError(Message("{field}: bus {name!r} is not in network.buses; use one of {buses}",
                                           field=field, name=name, buses=', '.join(bus)))
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
        raise InvalidParkError(Message("network.pandapower_json: no file {path!r}; give the path of a pandapower "
                                       "JSON file relative to the case folder",
                                       path=str(path)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = pp.from_json(str(path))
    except Exception as exc:  # noqa: BLE001 - pandapower raises many kinds for a bad file
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise InvalidParkError(Message("{where}: not a pandapower network ({reason}); write the file with "
                                       "pandapower.to_json(net, path)",
                                       where=where, reason=reason)) from None
    if not isinstance(net, pp.pandapowerNet) or "bus" not in net or net.bus.empty:
        raise InvalidParkError(Message("{where}: holds no pandapower network with buses; write the file with "
                                       "pandapower.to_json(net, path)",
                                       where=where))
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
        raise InvalidParkError(Message("{where}: line {name} has no impedance (r_ohm_per_km and x_ohm_per_km "
                                       "both 0); give it its data or join its buses with a bus-bus switch",
                                       where=where, name=name))
    trafos = net.trafo[net.trafo["in_service"]]
    flat = trafos[trafos["vk_percent"] <= 0]
    if len(flat):
        name = _element_name(net.trafo, flat.index[0])
        raise InvalidParkError(Message("{where}: transformer {name} has no impedance (vk_percent 0); give its "
                                       "short-circuit voltage",
                                       where=where, name=name))
    names = net.bus["name"].astype(str)
    index_of = {}
    for index, name in zip(net.bus.index, names):
        index_of[name] = None if name in index_of else index     # None: the name is not unique

    def resolve(field: str, name: str) -> int:
        json_name = spec.bus_names.get(name, name)
        if index_of.get(json_name) is not None:
            return int(index_of[json_name])
        via = (Message(" (network.bus_names maps it to {json_name!r})", json_name=json_name)
               if name in spec.bus_names else "")
        if json_name in index_of:
            raise InvalidParkError(Message("{field}: bus {json_name!r}{via} names more than one bus of {name}; "
                                           "give the buses unique names in the file",
                                           field=field, json_name=json_name, via=via, name=path.name))
        known = ", ".join(list(names[:8])) + (", ..." if len(names) > 8 else "")
        raise InvalidParkError(Message("{field}: bus {name!r}{via} is not a bus of {file} ({known}); map it in "
                                       "network.bus_names or use a bus name of the file",
                                       field=field, name=name, via=via, file=path.name, known=known))

    return net, resolve


def _element_name(table: pd.DataFrame, index) -> str:
    name = table.at[index, "name"] if "name" in table else None
    return f"{name!r} (index {index})" if isinstance(name, str) and name else f"with index {index}"


def _check_islands(net, park: Park) -> None:
    import pandapower.topology as top

    unsupplied = [b for b in top.unsupplied_buses(net) if net.bus.at[b, "in_service"]]
    if unsupplied:
        names = ", ".join(sorted(str(n) for n in net.bus.loc[unsupplied, "name"]))
        raise InvalidParkError(Message("network: bus(es) {names} have no path to the grid bus {bus!r} (an island "
                                       "without a source); connect them with a line or transformer",
                                       names=names, bus=park.grid.bus))
