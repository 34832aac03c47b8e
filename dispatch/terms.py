"""What device builders contribute to the shared balance and objective."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pyomo.environ as pyo

StepTerm = Callable[[pyo.ConcreteModel, int], Any]
ModelTerm = Callable[[pyo.ConcreteModel], Any]


@dataclass
class Terms:
    """Contributions collected while building, consumed by the balance and the objective.

    Attributes
    ----------
    electric_demand : list
        ``f(m, t)`` → electrical consumption at step ``t`` [kW], added to the
        demand side of the park's power balance.
    cost : list
        ``f(m)`` → money [CNY] added to the cost (a value left in store enters
        with a negative sign).
    slack : list
        ``f(m)`` → slack quantity (kWh, or kWh-equivalents), priced at the
        model's ``slack_cost_cny_per_kwh`` in every objective.
    co2 : list
        ``f(m)`` → CO2 [kg] added to the CO2 objective (a credit for heat left
        in store enters with a negative sign).
    """

    electric_demand: list[StepTerm] = field(default_factory=list)
    cost: list[ModelTerm] = field(default_factory=list)
    slack: list[ModelTerm] = field(default_factory=list)
    co2: list[ModelTerm] = field(default_factory=list)


def set_series(param: pyo.Param, series) -> None:
    """Write time series into a mutable ``Param`` in one call.

    ``series`` is an array over the steps for a step-indexed ``Param``, or a
    mapping ``key → array over the steps`` for a (key, step)-indexed one.
    The values are finite numbers computed by the setters, so Pyomo's
    per-value checks are skipped (``store_values(check=False)``).
    """
    if isinstance(series, dict):
        values = {(key, t): v for key, array in series.items()
                  for t, v in enumerate(np.asarray(array, dtype=float).tolist())}
    else:
        values = dict(enumerate(np.asarray(series, dtype=float).tolist()))
    param.store_values(values, check=False)
