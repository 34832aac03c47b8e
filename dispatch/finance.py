"""Investment arithmetic: discounting, NPV, IRR, paybacks, annuities and levelised costs.

Pure functions over yearly cash flows. A cash flow is a sequence whose entry
``t`` falls at the end of year ``t`` (entry 0: today, undiscounted), in CNY;
rates are fractions per year (0.08 for 8 %). NPV and IRR come from
numpy-financial.

Examples
--------
>>> round(npv(0.10, [-100, 30, 30, 30, 30, 30]), 2)
13.72
>>> round(irr([-100, 60, 60]), 4)
0.1307
>>> round(simple_payback_years([-100, 60, 60]), 2)
1.67
>>> round(capital_recovery_factor(0.08, 20), 5)
0.10185
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import numpy_financial as npf
from microgrid.messages import Message


def discount_factors(rate: float, years: int) -> np.ndarray:
    """``1 / (1 + rate)^t`` for ``t = 0 … years`` [-]."""
    return (1.0 + rate) ** -np.arange(years + 1, dtype=float)


def npv(rate: float, cash_flows: Sequence[float]) -> float:
    """Net present value: ``Σ_t CF_t / (1 + rate)^t`` [CNY], entry 0 undiscounted."""
    return float(npf.npv(rate, np.asarray(cash_flows, dtype=float)))


def irr(cash_flows: Sequence[float]) -> float | None:
    """Internal rate of return: the rate at which the NPV is 0 [1/a].

    ``None`` when there is none (the flows never change sign, e.g. no
    investment or no savings).
    """
    flows = np.asarray(cash_flows, dtype=float)
    if not ((flows > 0).any() and (flows < 0).any()):
        return None
    value = float(npf.irr(flows))
    return value if math.isfinite(value) else None


def _payback(flows: np.ndarray) -> float | None:
    """The first time the cumulative flow reaches 0, linear within the year it does [a]."""
    cumulative = np.cumsum(flows)
    if cumulative[0] >= 0:
        return 0.0
    for t in range(1, len(flows)):
        if cumulative[t] >= 0:
            return (t - 1) + float(-cumulative[t - 1] / flows[t])
    return None


def simple_payback_years(cash_flows: Sequence[float]) -> float | None:
    """Years until the undiscounted cumulative cash flow turns non-negative [a].

    Linear within the year it does (``-100, 60, 60`` → 1 + 40/60 = 1.67);
    ``None`` if it never does within the flows given.
    """
    return _payback(np.asarray(cash_flows, dtype=float))


def discounted_payback_years(rate: float, cash_flows: Sequence[float]) -> float | None:
    """Years until the discounted cumulative cash flow turns non-negative [a]; ``None`` if never."""
    flows = np.asarray(cash_flows, dtype=float)
    return _payback(flows * discount_factors(rate, len(flows) - 1))


def annuity_factor(rate: float, years: int) -> float:
    """Present value of 1 CNY a year for ``years`` years: ``(1 − (1 + r)^−n) / r`` (``n`` at ``r = 0``) [a]."""
    if years < 1:
        raise ValueError(Message("years: must be ≥ 1, got {years}", years=years))
    if rate == 0:
        return float(years)
    return -math.expm1(-years * math.log1p(rate)) / rate  # exact for rates near 0 too


def capital_recovery_factor(rate: float, years: int) -> float:
    """The annuity that repays 1 CNY over ``years`` years: ``r (1 + r)^n / ((1 + r)^n − 1)`` [1/a].

    The inverse of :func:`annuity_factor`; ``1/n`` at ``r = 0``.
    """
    return 1.0 / annuity_factor(rate, years)


def levelised_cost(rate: float, costs_cny: Sequence[float], energy_kwh: Sequence[float]) -> float | None:
    """Levelised cost of energy: ``Σ_t C_t / (1 + r)^t  /  Σ_t E_t / (1 + r)^t`` [CNY/kWh].

    ``costs_cny`` and ``energy_kwh`` are yearly (entry 0: today, usually the
    investment and no energy). Used for the LCOE of PV and wind (energy
    generated) and the LCOS of storage (energy discharged). ``None`` when no
    energy is delivered.
    """
    costs = np.asarray(costs_cny, dtype=float)
    energy = np.asarray(energy_kwh, dtype=float)
    if costs.shape != energy.shape:
        raise ValueError(Message("costs_cny has {cost_years} years but energy_kwh {energy_years}; give one value per year",
                                 cost_years=costs.size, energy_years=energy.size))
    factors = discount_factors(rate, len(costs) - 1)
    delivered = float((energy * factors).sum())
    if delivered <= 0:
        return None
    return float((costs * factors).sum()) / delivered


def simple_lcoe(rate: float, years: int, capex_cny: float, fixed_om_cny_per_year: float, energy_kwh_per_year: float,
                variable_om_cny_per_kwh: float = 0.0) -> float | None:
    """LCOE of constant yearly output: ``(CRF · capex + fixed O&M) / E + variable O&M`` [CNY/kWh].

    Equal to :func:`levelised_cost` of the same flows (capex today, constant
    O&M and energy in years 1…n). ``None`` without energy.
    """
    if energy_kwh_per_year <= 0:
        return None
    crf = capital_recovery_factor(rate, years)
    return (crf * capex_cny + fixed_om_cny_per_year) / energy_kwh_per_year + variable_om_cny_per_kwh
