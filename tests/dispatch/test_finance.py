"""dispatch.finance: hand-computed cases and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch import finance


def test_npv_of_an_annuity_by_hand() -> None:
    # -100 then 5 × 30 at 10 %: 30 × (1 - 1.1^-5) / 0.1 = 113.7236 → 13.7236
    assert finance.npv(0.10, [-100, 30, 30, 30, 30, 30]) == pytest.approx(13.7236, abs=1e-4)
    assert finance.npv(0.0, [-100, 30, 30, 30, 30, 30]) == pytest.approx(50.0)


def test_irr_by_hand() -> None:
    # -100 + 60 x + 60 x² = 0 with x = 1/(1+r) → x = (-60 + sqrt(60² + 4·60·100)) / 120 → r = 13.066 %
    x = (-60 + np.sqrt(60**2 + 4 * 60 * 100)) / 120
    assert finance.irr([-100, 60, 60]) == pytest.approx(1 / x - 1, abs=1e-9)
    assert finance.irr([-100, 60, 60]) == pytest.approx(0.1307, abs=1e-4)
    assert finance.irr([-100, 110]) == pytest.approx(0.10)


def test_irr_is_none_without_a_sign_change() -> None:
    assert finance.irr([0, 0, 0]) is None
    assert finance.irr([-100, -5, -5]) is None
    assert finance.irr([0, 10, 10]) is None


def test_paybacks_by_hand() -> None:
    assert finance.simple_payback_years([-100, 60, 60]) == pytest.approx(1 + 40 / 60)
    assert finance.simple_payback_years([-100, 20, 20]) is None
    assert finance.simple_payback_years([0, 5]) == 0.0
    # at 10 %: 54.545 after year 1, 49.587 in year 2 → 1 + 45.455 / 49.587 = 1.9167
    assert finance.discounted_payback_years(0.10, [-100, 60, 60]) == pytest.approx(1 + (100 - 60 / 1.1) / (60 / 1.21))
    assert finance.discounted_payback_years(0.10, [-100, 55, 55]) is None


def test_annuity_and_capital_recovery_factors() -> None:
    assert finance.capital_recovery_factor(0.08, 20) == pytest.approx(0.101852, abs=1e-6)
    assert finance.annuity_factor(0.08, 20) == pytest.approx(9.818147, abs=1e-6)
    assert finance.capital_recovery_factor(0.0, 10) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        finance.annuity_factor(0.05, 0)


def test_levelised_cost_by_hand() -> None:
    # no discounting: (1000 + 10 × 20) / (10 × 100) = 1.2 CNY/kWh
    costs = [1000] + [20] * 10
    energy = [0] + [100] * 10
    assert finance.levelised_cost(0.0, costs, energy) == pytest.approx(1.2)
    assert finance.simple_lcoe(0.0, 10, 1000, 20, 100) == pytest.approx(1.2)
    assert finance.levelised_cost(0.05, [0, 0], [0, 0]) is None
    with pytest.raises(ValueError, match="one value per year"):
        finance.levelised_cost(0.05, [1, 2], [1])


@settings(max_examples=50, deadline=None, derandomize=True)
@given(rate=st.floats(0.0, 0.3), years=st.integers(1, 40), capex=st.floats(1.0, 1e6),
       om=st.floats(0.0, 1e4), energy=st.floats(1.0, 1e6))
def test_simple_lcoe_equals_the_discounted_sum(rate: float, years: int, capex: float, om: float,
                                               energy: float) -> None:
    flows = [capex] + [om] * years
    energies = [0.0] + [energy] * years
    assert finance.simple_lcoe(rate, years, capex, om, energy) == pytest.approx(
        finance.levelised_cost(rate, flows, energies), rel=1e-9)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(invest=st.floats(10.0, 1e6), saving=st.floats(1.0, 1e5), years=st.integers(2, 30))
def test_npv_is_zero_at_the_irr(invest: float, saving: float, years: int) -> None:
    flows = [-invest] + [saving] * years
    rate = finance.irr(flows)
    assert rate is not None
    assert finance.npv(rate, flows) == pytest.approx(0.0, abs=1e-6 * invest)
    assert (rate > 0) == (saving * years > invest)
