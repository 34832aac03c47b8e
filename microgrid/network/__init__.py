"""The park's electrical network in pandapower, and AC power flow of a schedule.

The boundary with pandapower, written down once (the sign conventions of the
whole package: everywhere else a power is a non-negative magnitude whose
direction is in its name):

* the park model works in kW, kvar and kVA; pandapower in MW, Mvar and MVA:
  every conversion is in this package (:data:`KW_PER_MW`), the injections of
  a schedule in :func:`injections_mw` only;
* pandapower's signs: a ``load`` consumes ``p_mw > 0`` and ``q_mvar > 0``
  (load convention); a PV array and a wind turbine group are each an
  ``sgen`` (``type`` ``PV`` and ``WP``) whose ``p_mw > 0`` and ``q_mvar > 0``
  are produced (generator convention; ``p_mw`` is the schedule's
  ``<id>.used_kw``, what is not curtailed); a battery is a ``storage`` whose
  ``p_mw > 0`` charges it and whose ``q_mvar > 0`` absorbs reactive power
  (load convention);
* reactive power, a magnitude ``q_kvar = |p_kw| · tan(acos(pf))``: loads
  absorb it (lagging power factor, their own or the network's
  ``load_power_factor``); PV inverters, wind turbines' converters and
  batteries absorb or inject it by their ``reactive_mode`` at their
  ``power_factor`` (or the network's ``pv_power_factor``,
  ``wind_power_factor``, ``battery_power_factor``), within their ``sn_kva``
  (see :class:`microgrid.base.Inverter`; one function,
  :func:`inverter_q_kvar`, for all three);
* the grid connection (``grid.bus``) is the slack bus (``ext_grid``, 1.0 p.u.).

Two power-flow engines give the same answer (tested to 1e-6 p.u. and 1e-4 %
of loading): lightsim2grid's Newton-Raphson in C++ on the pandapower model
(about 2 ms for a day of the reference park), and pandapower's ``runpp``
reusing its admittance matrix between steps (``recycle``), for networks
lightsim2grid does not model exactly (switches, three-winding transformers...).

The package, one module per responsibility (the network's description is
:class:`microgrid.park.Network`, validated with the park):

* :mod:`~microgrid.network.build`: the pandapower network of the park
  (:func:`build_network`) and its checks (buses, impedances, islands);
* :mod:`~microgrid.network.injections`: a schedule's device powers in
  pandapower's units and signs (:func:`injections_mw`);
* :mod:`~microgrid.network.power_flow`: the two engines
  (:func:`run_power_flows`);
* :mod:`~microgrid.network.report`: the AC check of a schedule against the
  network's limits (:func:`validate_schedule`);
* :mod:`~microgrid.network.linearize`: sensitivities around a schedule
  (:func:`linearize_schedule`), for network-aware dispatch.
"""

from microgrid.network.build import CONSUMERS, GENERATORS, KW_PER_MW, REPLACED_ELEMENTS, build_network
from microgrid.network.injections import Injections, injections_mw, inverter_q_kvar, reactive_kvar
from microgrid.network.linearize import Linearization, linearize_schedule, monitored_quantities
from microgrid.network.power_flow import (ENGINES, PowerFlowResults, in_service_masks, lightsim2grid_supports,
                                          run_lightsim2grid, run_pandapower, run_power_flows)
from microgrid.network.report import NetworkReport, network_report, validate_schedule

__all__ = [
    "CONSUMERS", "ENGINES", "GENERATORS", "KW_PER_MW", "REPLACED_ELEMENTS", "Injections", "Linearization",
    "NetworkReport", "PowerFlowResults", "build_network", "in_service_masks", "injections_mw", "inverter_q_kvar",
    "lightsim2grid_supports", "linearize_schedule", "monitored_quantities", "network_report", "reactive_kvar",
    "run_lightsim2grid", "run_pandapower", "run_power_flows", "validate_schedule",
]
