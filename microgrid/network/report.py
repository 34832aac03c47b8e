"""The AC check of a schedule: one power flow per step, its violations of the network's limits and KPIs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from microgrid.network.build import build_network
from microgrid.network.injections import injections_mw
from microgrid.network.power_flow import (ENGINES, PowerFlowResults, in_service_masks, lightsim2grid_supports,
                                          run_lightsim2grid, run_pandapower)
from microgrid.park import Park

logger = logging.getLogger(__name__)


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
    bus_on, line_on, trafo_on = in_service_masks(net)
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
