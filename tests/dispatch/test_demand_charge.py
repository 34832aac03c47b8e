"""One demand-charge rule for single plans and studies, given the same inputs."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from dispatch.day_ahead import plan_day_ahead
from dispatch.inputs import PlantState
from dispatch.rolling import RollingConfig, run_rolling_horizon
from microgrid.case import load_case
from tests.service.helpers import TINY_PARK, write_tiny_case

DAY = dt.date(2026, 7, 15)
START = pd.Timestamp(DAY).tz_localize("Asia/Shanghai")


@pytest.mark.parametrize("peak_kw", [None, 300.0, 5000.0])
def test_a_days_plan_and_a_days_study_are_charged_alike(tmp_path, peak_kw) -> None:
    """``no-control`` makes the same schedule either way; its demand charge and the rule must agree too."""
    case = load_case(write_tiny_case(tmp_path / "case", TINY_PARK))
    single = plan_day_ahead(case, DAY, "no-control", state=PlantState(month_to_date_peak_kw=peak_kw))
    study = run_rolling_horizon(case, START, START + pd.Timedelta(days=1), RollingConfig(strategy="no-control"),
                                state=PlantState(month_to_date_peak_kw=peak_kw))
    assert study.schedule["grid_import_kw"].to_numpy() == pytest.approx(single.schedule["grid_import_kw"].to_numpy())
    for key in ("demand_charge_cny", "demand_charge_basis", "peak_marginal_cost_cny_per_kw", "total_cost_cny"):
        assert study.kpis[key] == pytest.approx(single.kpis[key]) if not isinstance(single.kpis[key], str) \
            else study.kpis[key] == single.kpis[key]
    expected = {None: "pro_rata", 300.0: "month_to_date_peak", 5000.0: "month_to_date_peak"}[peak_kw]
    assert single.kpis["demand_charge_basis"] == expected


def test_the_optimizer_prices_new_peak_at_the_marginal_cost(tmp_path) -> None:
    """The plan's objective weight of the new peak is the KPI's marginal cost: the full rate when the peak
    is known, the day's share of the month when not (so a day's plan no longer shaves as if it paid the month)."""
    case = load_case(write_tiny_case(tmp_path / "case", TINY_PARK))
    known = plan_day_ahead(case, DAY, "optimal", state=PlantState(month_to_date_peak_kw=0.0))
    share = plan_day_ahead(case, DAY, "optimal")
    assert known.kpis["peak_marginal_cost_cny_per_kw"] == pytest.approx(38.4)
    assert share.kpis["peak_marginal_cost_cny_per_kw"] == pytest.approx(38.4 / 31)
    assert known.kpis["peak_import_kw"] <= share.kpis["peak_import_kw"] + 1e-6
