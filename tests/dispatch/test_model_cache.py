"""Built models kept by park, shape and build settings: reused with each request's solve settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from dispatch.inputs import day_ahead_inputs, horizon_inputs
from dispatch.model import DispatchConfig
from dispatch.optimize import ModelCache, solve_optimal
from forecasting.pv import case_pv_profiles
from microgrid.case import load_case

REFERENCE = Path(__file__).resolve().parents[2] / "cases" / "zhengzhou_park"
FAST = dict(integer_horizon_h=3.0)   # a rolling-horizon model: solves in tens of milliseconds


@pytest.fixture(scope="module")
def reference():
    case = load_case(REFERENCE)
    case_pv_profiles(case)   # PV of the year once
    return case


def _window(case, day: str):
    return horizon_inputs(case, pd.Timestamp(f"{day} 09:00", tz=case.park.site.timezone), 24.0)


def test_a_reused_model_takes_the_solve_settings_of_the_request(reference) -> None:
    cache = ModelCache(4)
    model, reused = cache.get(_window(reference, "2026-07-14"), DispatchConfig(mip_gap=1e-3, time_limit_s=30, **FAST))
    assert not reused
    model.plan(_window(reference, "2026-07-14"))
    again, reused = cache.get(_window(reference, "2026-07-15"), DispatchConfig(mip_gap=0.02, time_limit_s=7, **FAST))
    assert reused and again is model
    assert model.config.time_limit_s == 7 and model.config.mip_gap == 0.02
    highs = model.form.highs
    assert highs.getOptionValue("time_limit")[1] == 7.0
    assert highs.getOptionValue("mip_rel_gap")[1] == 0.02


def test_other_build_settings_or_another_park_get_their_own_model(reference) -> None:
    cache = ModelCache(4)
    inputs = _window(reference, "2026-07-14")
    first, _ = cache.get(inputs, DispatchConfig(**FAST))
    other_horizon, reused = cache.get(inputs, DispatchConfig(integer_horizon_h=6.0))
    assert not reused and other_horizon is not first
    twin = load_case(REFERENCE)           # the same data, another Park object
    twin_model, reused = cache.get(_window(twin, "2026-07-14"), DispatchConfig(**FAST))
    assert not reused and twin_model.park is twin.park
    assert len(cache.models) == 3


def test_the_cache_drops_the_least_recently_used_model(reference) -> None:
    cache = ModelCache(1)
    monday = _window(reference, "2026-07-13")
    first, _ = cache.get(monday, DispatchConfig(**FAST))
    cache.get(monday, DispatchConfig(integer_horizon_h=6.0))
    assert len(cache.models) == 1
    again, reused = cache.get(monday, DispatchConfig(**FAST))
    assert not reused and again is not first


def test_reconfigure_refuses_a_config_that_changes_the_model(reference) -> None:
    model, _ = ModelCache(1).get(_window(reference, "2026-07-14"), DispatchConfig(**FAST))
    with pytest.raises(ValueError, match="build a new model"):
        model.reconfigure(DispatchConfig(integer_horizon_h=6.0))


def test_day_ahead_plans_on_a_reused_model_equal_fresh_ones_and_a_warm_start_stays_within_the_gap(reference) -> None:
    """Two working days of one shape. Cold on a reused model: the fresh plan exactly. Warm: within the MIP gap."""
    config = DispatchConfig(mip_gap=1e-3)
    first, second = (day_ahead_inputs(reference, dt.date(2026, 4, d)) for d in (1, 2))
    fresh = solve_optimal(second, config)

    models = ModelCache(2)
    solve_optimal(first, config, models=models)
    cold = solve_optimal(second, config, models=models)
    assert cold.objective_cny == pytest.approx(fresh.objective_cny, rel=1e-9)
    pd.testing.assert_series_equal(cold.schedule["grid_import_kw"], fresh.schedule["grid_import_kw"])

    warm_models = ModelCache(2)
    solve_optimal(first, config, models=warm_models)
    warm = solve_optimal(second, config, models=warm_models, warm_start_from_last=True)
    assert warm.mip_gap <= config.mip_gap
    # both are within the gap of the same optimum
    assert abs(warm.objective_cny - fresh.objective_cny) <= 2 * config.mip_gap * abs(fresh.objective_cny)
