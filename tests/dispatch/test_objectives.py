"""Every objective keeps every requirement the cost objective can meet.

Slack (load not served, missed batch runs, fleets not charged, heat not
served, ...) is solved for first, alone, wherever a plan needs it
(``DispatchModel.plan``), so no objective can trade a requirement for its own
gain, whatever its unit (CNY, kWh of PV, kg of CO2).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dispatch.day_ahead import plan_day_ahead
from dispatch.model import OBJECTIVES, DispatchConfig
from dispatch.results import SolverStatus
from microgrid.case import load_case
from microgrid.errors import InvalidRequestError
from tests.conftest import make_inputs, two_price_park

CASES = sorted(p.parent for p in (Path(__file__).parents[2] / "cases").glob("*/park.yaml"))
DAYS = {
    "working day": dt.date(2026, 7, 15),          # batch processes and fleet run, critical peak 20-23 h
    "weekend": dt.date(2026, 7, 18),              # a Saturday: no batch runs
    "holiday": dt.date(2026, 10, 1),              # National Day
    "spring working day": dt.date(2026, 4, 15),   # midday valley 11-14 h
}


@pytest.mark.parametrize("day", list(DAYS.values()), ids=list(DAYS))
@pytest.mark.parametrize("case_dir", CASES, ids=lambda p: p.name)
def test_no_objective_leaves_a_requirement_unmet(case_dir: Path, day: dt.date) -> None:
    case = load_case(case_dir)
    cost = plan_day_ahead(case, day, "optimal", DispatchConfig(objective="cost"))
    assert cost.slack == [], "the cost objective meets every requirement of the bundled cases"
    for objective in OBJECTIVES:
        result = plan_day_ahead(case, day, "optimal", DispatchConfig(objective=objective))
        assert result.slack == [], f"{objective}: {[entry.describe() for entry in result.slack]}"
        assert result.status in (SolverStatus.OPTIMAL, SolverStatus.TIME_LIMIT)
        assert result.kpis["unserved_load_kwh"] == pytest.approx(0.0, abs=1e-3)


def co2_park() -> dict:
    """Flat 1 CNY/kWh, import limit 250 kW, a 100 kW fixed load and a batch process of 100 kW for 1 h.

    Over two hours the process must run once: 2 · 100 + 100 = 300 kWh, never
    more than 200 kW at once. Skipping the run would save 100 kWh · 0.5 kg =
    50 kg of CO2; the plan must not."""
    park = two_price_park(capacity_kwh=0, initial_soc_frac=0.0)
    park["grid"]["max_import_kw"] = 250
    park["tariff"] = {"prices_cny_per_kwh": {"flat": 1.0}, "co2_kg_per_kwh": 0.5}
    park["shiftable_processes"] = {"press": {"bus": "main", "power_kw": 100, "duration_h": 1,
                                             "earliest_start": "00:00", "latest_end": "02:00", "days": "all"}}
    return park


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_a_batch_run_is_never_skipped_for_the_objective(objective: str) -> None:
    inputs = make_inputs(co2_park(), [100.0, 100.0])
    result = plan_day_ahead_inputs(inputs, objective)
    assert result.slack == []
    assert result.schedule["press.load_kw"].sum() == pytest.approx(100.0)
    assert result.kpis["co2_kg"] == pytest.approx(0.5 * 300)
    assert result.kpis["total_cost_cny"] == pytest.approx(300.0)


def test_slack_that_cannot_be_avoided_is_the_least_possible() -> None:
    """Import limited to 150 kW against 100 kW of load and a 100 kW run in a two-hour window.

    The run cannot fit (it needs 200 kW in its hour). Missing it counts as its
    energy plus one step of its power, 200 kWh; running it and leaving 50 kWh
    of load unserved is less slack, so every objective does that."""
    park = co2_park()
    park["grid"]["max_import_kw"] = 150
    for objective in OBJECTIVES:
        result = plan_day_ahead_inputs(make_inputs(park, [100.0, 100.0]), objective)
        assert result.status is SolverStatus.INFEASIBLE_RELAXED
        assert [(e.device, e.unit) for e in result.slack] == [("grid", "kWh")]
        assert result.kpis["unserved_load_kwh"] == pytest.approx(50.0, abs=1e-6)
        assert result.schedule["press.load_kw"].sum() == pytest.approx(100.0)


def test_an_unknown_end_of_horizon_rule_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="end_of_horizon: unknown 'full'"):
        plan_day_ahead_inputs(make_inputs(co2_park(), [100.0, 100.0]), "cost", end_of_horizon="full")


def plan_day_ahead_inputs(inputs, objective: str, **config):
    from dispatch.strategies import run_strategy

    return run_strategy(inputs, "optimal", DispatchConfig(objective=objective, **config))
