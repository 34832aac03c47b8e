"""AC power flow of prepared injections, step by step: lightsim2grid or pandapower.

Both engines give the same answer (tested to 1e-6 p.u. and 1e-4 % of
loading); :func:`lightsim2grid_supports` says where the faster one models
the network exactly.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from microgrid.network.build import KW_PER_MW
from microgrid.network.injections import Injections

logger = logging.getLogger(__name__)

#: Elements lightsim2grid does not model exactly; a network with any of them runs on pandapower.
_NOT_IN_LIGHTSIM2GRID = ("switch", "trafo3w", "impedance", "dcline", "tcsc", "ssc", "svc", "vsc")

ENGINES = ("auto", "lightsim2grid", "pandapower")


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


def in_service_masks(net) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which buses, lines and transformers of ``net`` are in service: the rows every result keeps."""
    return (net.bus["in_service"].to_numpy(bool), net.line["in_service"].to_numpy(bool),
            net.trafo["in_service"].to_numpy(bool))


def run_pandapower(net, injections: Injections, recycle: bool = True) -> PowerFlowResults:
    """One ``pandapower.runpp`` per step; with ``recycle`` the admittance matrix is built once.

    The first step starts flat (1 p.u.; pandapower's DC start fails on a branch
    without reactance), each next one from the previous voltages. ``recycle=False`` is
    plain ``runpp``, the reference the fast engines are tested against.
    """
    import pandapower as pp

    bus_on, line_on, trafo_on = in_service_masks(net)
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
    bus_on, line_on, trafo_on = in_service_masks(net)
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


def run_power_flows(net, injections: Injections, engine: str = "auto") -> tuple[PowerFlowResults, str]:
    """The power flows of ``injections`` with ``engine`` and the engine used.

    ``auto``: lightsim2grid where it models the network exactly
    (:func:`lightsim2grid_supports`), else pandapower with ``recycle``.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "auto":
        engine = "lightsim2grid" if lightsim2grid_supports(net) else "pandapower"
    if engine == "lightsim2grid":
        return run_lightsim2grid(net, injections), engine
    return run_pandapower(net, injections), engine
