"""What device builders contribute to the shared balance and objective."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

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
    """

    electric_demand: list[StepTerm] = field(default_factory=list)
    cost: list[ModelTerm] = field(default_factory=list)
    slack: list[ModelTerm] = field(default_factory=list)
