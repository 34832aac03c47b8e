"""Sensitivities of the network's quantities and losses to device powers around a schedule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from microgrid.errors import InvalidParkError
from microgrid.network.injections import Injections, injections_mw
from microgrid.network.power_flow import in_service_masks, run_power_flows
from microgrid.park import Park


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
    (``pv_ws1.used_kw``, ``wt1.used_kw``, ``b1.charge_kw``, ``ws1.load_kw``...), so its reactive
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
    bus_on, line_on, trafo_on = in_service_masks(net)
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
