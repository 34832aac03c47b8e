"""The compiled matrix form: exact on a hand model, and an update equals a fresh compile."""

from __future__ import annotations

from pathlib import Path

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

from dispatch.inputs import PlantState, horizon_inputs
from dispatch.model import INTEGER_VARIABLES, DispatchConfig
from dispatch.optimize import DispatchModel
from dispatch.rolling import ModelCache
from dispatch.standard_form import NotAffineError, StandardForm
from forecasting.pv import case_pv_profiles
from microgrid.case import load_case

REFERENCE = Path(__file__).resolve().parents[2] / "cases" / "zhengzhou_park"


def _hand_model() -> pyo.ConcreteModel:
    """min p·x + 2y  s.t.  x + dt·y ≥ q + 1,  x ≤ 3,  y ∈ {0, 1, 2}."""
    m = pyo.ConcreteModel()
    m.p = pyo.Param(mutable=True, initialize=1.0)
    m.q = pyo.Param(mutable=True, initialize=2.0)
    m.dt = pyo.Param(mutable=True, initialize=0.5)
    m.x = pyo.Var(bounds=(0, 3))
    m.y = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(0, 2))
    m.need = pyo.Constraint(expr=m.x + m.dt * m.y >= m.q + 1)
    m.obj = pyo.Objective(expr=m.p * m.x + 2 * m.y)
    return m


def _lp(form: StandardForm) -> dict:
    lp = form.highs.getLp()
    return {"cost": np.array(lp.col_cost_), "col_lower": np.array(lp.col_lower_), "col_upper": np.array(lp.col_upper_),
            "row_lower": np.array(lp.row_lower_), "row_upper": np.array(lp.row_upper_),
            "start": np.array(lp.a_matrix_.start_), "index": np.array(lp.a_matrix_.index_),
            "value": np.array(lp.a_matrix_.value_), "offset": lp.offset_,
            # HiGHS drops the integrality list of a model without integer columns
            "integer": [v != highspy.HighsVarType.kContinuous for v in lp.integrality_] or [False] * lp.num_col_}


def test_hand_model_compiles_to_its_matrices_and_follows_its_parameters() -> None:
    m = _hand_model()
    form = StandardForm(m, frozen=[m.dt], watch=[m.y])
    form.update("obj")
    lp = _lp(form)
    x, y = form.columns(m.x)[None], form.columns(m.y)[None]
    assert lp["cost"][x] == 1.0 and lp["cost"][y] == 2.0
    assert lp["row_lower"][0] == 3.0 and lp["row_upper"][0] == highspy.kHighsInf
    assert lp["integer"][y] and not lp["integer"][x]
    form.highs.run()
    solution = np.array(form.highs.getSolution().col_value)
    # x costs 1 per unit of need, y 2 per 0.5 unit: x = 3 fills it.
    assert solution[x] == pytest.approx(3.0) and solution[y] == pytest.approx(0.0)
    m.p.set_value(5.0)
    m.q.set_value(3.0)          # need 4: x at most 3, so y ≥ 2 (y integer, dt·y = 1)
    m.y.domain = pyo.NonNegativeReals
    form.update("obj")
    lp = _lp(form)
    assert lp["cost"][x] == 5.0 and lp["row_lower"][0] == 4.0 and not lp["integer"][y]
    form.highs.clearSolver()
    form.highs.run()
    solution = np.array(form.highs.getSolution().col_value)
    # y (4 per unit of need) is now cheaper than x (5): y = 2 gives 1, x = 3 the rest.
    assert solution[y] == pytest.approx(2.0) and solution[x] == pytest.approx(3.0)
    assert form.expression_values(m.obj, solution)[None] == pytest.approx(5 * 3 + 2 * 2)


def test_a_frozen_parameter_that_changes_is_refused() -> None:
    m = _hand_model()
    form = StandardForm(m, frozen=[m.dt])
    m.dt.set_value(0.25)
    with pytest.raises(RuntimeError, match="frozen"):
        form.update("obj")


def test_a_product_of_two_parameters_must_be_frozen() -> None:
    m = _hand_model()
    m.need.deactivate()
    m.other = pyo.Constraint(expr=m.p * m.q * m.x <= 4)
    with pytest.raises(NotAffineError, match="product of two mutable parameters"):
        StandardForm(m)


@pytest.fixture(scope="module")
def reference():
    case = load_case(REFERENCE)
    case_pv_profiles(case)   # PV of the year once
    return case


def test_an_updated_model_equals_a_fresh_compile_of_the_new_window(reference) -> None:
    """Two windows of one shape (same hour, two working days): every number HiGHS sees agrees."""
    tz = reference.park.site.timezone
    config = DispatchConfig(integer_horizon_h=3)
    first = horizon_inputs(reference, pd.Timestamp("2026-07-14 09:00", tz=tz), 24.0,
                           PlantState(month_to_date_peak_kw=4000.0))
    second = horizon_inputs(reference, pd.Timestamp("2026-07-15 09:00", tz=tz), 24.0,
                            PlantState(month_to_date_peak_kw=3100.0, soc_kwh={"b1": 2500.0},
                                       process_runs_done={"grinding": 1}, process_running_steps={"grinding": 4},
                                       shed_hours_used={"office_hvac": 1.0}))
    cache = ModelCache(4)
    model, _ = cache.get(first, config)
    model.plan(first)
    reused, was_reused = cache.get(second, config)
    assert was_reused and reused is model
    reused.plan(second)
    fresh = DispatchModel(second, config, model.exclusive)
    fresh.plan(second)
    updated, compiled = _lp(reused.form), _lp(fresh.form)
    for key in updated:
        np.testing.assert_allclose(updated[key], compiled[key], rtol=0, atol=1e-12, err_msg=key)


def test_the_same_warm_start_gives_the_same_plan_on_a_reused_and_a_fresh_model(reference) -> None:
    tz = reference.park.site.timezone
    config = DispatchConfig(integer_horizon_h=3)
    start = pd.Timestamp("2026-07-14 09:00", tz=tz)
    earlier = horizon_inputs(reference, start - pd.Timedelta(hours=1), 24.0)
    now = horizon_inputs(reference, start, 24.0)
    previous = DispatchModel(earlier, config, True)
    previous.plan(earlier)
    warm = {"decisions": previous.integer_decisions(), "shift_steps": 4}
    assert set(warm["decisions"]) <= set(INTEGER_VARIABLES)
    reused = DispatchModel(now, config, True)
    reused.plan(horizon_inputs(reference, start + pd.Timedelta(days=1), 24.0))   # solve something else first
    a = reused.plan(now, warm_start=warm)
    b = DispatchModel(now, config, True).plan(now, warm_start=warm)
    assert a.objective_cny == b.objective_cny
    pd.testing.assert_frame_equal(a.flows.battery_soc_kwh, b.flows.battery_soc_kwh)


def test_rounding_keeps_every_row_or_gives_up() -> None:
    """need: x + 0.5·y ≥ 3 with x ≤ 3, y ∈ {0, 1, 2}."""
    m = _hand_model()
    form = StandardForm(m, frozen=[m.dt], watch=[m.y])
    form.update("obj")
    x, y = form.columns(m.x)[None], form.columns(m.y)[None]
    point = np.zeros(2)
    point[x], point[y] = 3.0, 0.4                      # nearest (0) still meets the need: 3 ≥ 3
    assert form.round_integers(point, np.array([y]))[y] == 0.0
    point[x] = 2.8                                     # 2.8 + 0.5·0 < 3: the one above, 1, meets it
    assert form.round_integers(point, np.array([y]))[y] == 1.0
    m.q.set_value(4.5)                                 # need 5.5: x = 2.8 would need y = 5.4 > 2
    form.update("obj")
    point[y] = 2.0
    assert form.round_integers(point, np.array([y])) is None


def test_relax_and_fix_is_within_the_mip_gap_of_the_mip(reference) -> None:
    tz = reference.park.site.timezone
    inputs = horizon_inputs(reference, pd.Timestamp("2026-07-14 13:00", tz=tz), 24.0,
                            PlantState(month_to_date_peak_kw=4500.0))
    mip = DispatchModel(inputs, DispatchConfig(integer_horizon_h=3), True).plan(inputs)
    fast = DispatchModel(inputs, DispatchConfig(integer_horizon_h=3, lp_first=True), True).plan(inputs)
    assert mip.method == "mip" and fast.method in ("lp_rounded", "lp_fixed", "mip")
    assert fast.mip_gap <= 1e-3
    # Both are within 0.1 % of the same optimum.
    assert fast.objective_cny == pytest.approx(mip.objective_cny, rel=2e-3)
    hp = fast.flows.hp_elec_kw.to_numpy()
    # Integer decisions are integral where they are kept integer: a heat pump on runs above its minimum load.
    first = hp[: 12]
    assert np.all((first < 1e-6) | (first >= 0.3 * 600 - 1e-6))


def test_an_expression_may_use_a_parameter_no_constraint_uses() -> None:
    m = _hand_model()
    m.price = pyo.Param(mutable=True, initialize=3.0)
    m.bill = pyo.Expression(expr=m.price * m.x)
    form = StandardForm(m, frozen=[m.dt], watch=[m.y])
    form.update("obj")
    form.highs.run()
    solution = np.array(form.highs.getSolution().col_value)
    assert form.expression_values(m.bill, solution)[None] == pytest.approx(3.0 * 3.0)
    m.price.set_value(4.0)
    form.update("obj")                                 # the model's numbers still update
    assert form.expression_values(m.bill, solution)[None] == pytest.approx(4.0 * 3.0)
