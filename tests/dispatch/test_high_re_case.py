"""The high-renewable bundled case (cases/zhengzhou_park_high_re) under anti-backflow.

Sunday 2026-04-05, the last day of the Qingming holiday, is windy and sunny:
PV and wind give more than the idle park consumes at 52 of its 96 steps, two
hours before dawn included, so it tests what the case is for. Under
``anti_backflow`` no strategy exports at any step, and the optimizer, which
can also put the surplus into the electric boiler and the heat store and
keeps the batteries empty for it, curtails no more than any rule.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import yaml

from dispatch.day_ahead import plan_day_ahead
from dispatch.strategies import HEURISTICS, STRATEGIES
from microgrid.case import load_case

CASES = Path(__file__).resolve().parents[2] / "cases"
CASE_DIR = CASES / "zhengzhou_park_high_re"
SURPLUS_DAY = dt.date(2026, 4, 5)      # Qingming holiday, a Sunday: workshops idle, a windy night and day
#: The sections of park.yaml where the high-renewable case differs from the reference park (its README's table).
CHANGED = {"site", "grid", "data", "economics", "pv_arrays", "wind_turbines", "sizing"}
"""The sections that differ; `sizing` (the bounds of `microgrid size`) is the reference park's study only."""


@pytest.fixture(scope="module")
def case():
    return load_case(CASE_DIR)


@pytest.fixture(scope="module")
def plans(case):
    """The day-ahead plan of every strategy on the surplus day (module-wide: four solves, read by every test)."""
    return {strategy: plan_day_ahead(case, SURPLUS_DAY, strategy) for strategy in STRATEGIES}


def test_the_case_loads_with_wind_more_pv_and_anti_backflow(case) -> None:
    park = case.park
    assert park.grid.export_rule == "anti_backflow"
    assert park.grid.export_limit_kw == 0.0
    assert park.wind_turbines["wt1"].turbine_type == "N117/2400"
    assert park.wind_nameplate_kw == pytest.approx(4800.0)
    assert sum(a.dc_capacity_kw for a in park.pv_arrays.values()) == pytest.approx(8500.0)
    # The reference park's data files, read from there, not copied.
    for key in ("weather", "loads", "heat"):
        path = (case.folder / getattr(park.data, key)).resolve()
        assert path.parent == (CASES / "zhengzhou_park").resolve()
        assert not (CASE_DIR / path.name).exists()


def test_the_case_is_the_reference_park_but_for_the_documented_changes() -> None:
    """Every other section (tariff, network, batteries, heat, flexible loads) is the reference park's."""
    high_re = yaml.safe_load((CASE_DIR / "park.yaml").read_text(encoding="utf-8"))
    reference = yaml.safe_load((CASES / "zhengzhou_park" / "park.yaml").read_text(encoding="utf-8"))
    assert {k for k in high_re.keys() | reference.keys() if high_re.get(k) != reference.get(k)} == CHANGED
    assert {k: v for k, v in high_re["pv_arrays"].items() if k in reference["pv_arrays"]} == reference["pv_arrays"]
    assert {k: v for k, v in high_re["site"].items() if k != "name"} == \
        {k: v for k, v in reference["site"].items() if k != "name"}


def test_generation_exceeds_the_load_at_some_steps(plans) -> None:
    """The day has a surplus to deal with: PV + wind above the uncontrolled consumption, by day and by night."""
    s = plans["no-control"].schedule
    surplus = (s["pv_available_kw"] + s["wind_available_kw"] - s["load_kw"]).to_numpy()
    assert (surplus > 0).sum() >= 8
    night = np.asarray(s.index.tz_convert("Asia/Shanghai").hour < 6)
    assert (surplus[night] > 0).any(), "a windy night: wind alone above the load before dawn"
    assert plans["no-control"].kpis["renewable_curtailment_kwh"] > 0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_no_step_exports_under_anti_backflow(plans, strategy: str) -> None:
    s = plans[strategy].schedule
    assert np.abs(s["grid_export_kw"].to_numpy()).max() <= 1e-6
    assert plans[strategy].kpis["export_revenue_cny"] == pytest.approx(0.0, abs=1e-6)
    supply = s["pv_used_kw"] + s["wind_used_kw"] + s["grid_import_kw"] + s["battery_discharge_kw"]
    assert np.allclose(supply, s["load_kw"] + s["battery_charge_kw"] + s["grid_export_kw"], atol=1e-3)
    assert (s["curtailment_kw"] >= -1e-6).all() and (s["wind_curtailment_kw"] >= -1e-6).all()
    assert plans[strategy].slack == []


@pytest.mark.parametrize("rule", HEURISTICS)
def test_the_optimizer_curtails_no_more_than_a_rule(plans, rule: str) -> None:
    optimal = plans["optimal"].kpis["renewable_curtailment_kwh"]
    assert optimal <= plans[rule].kpis["renewable_curtailment_kwh"] + 1e-3


def test_the_optimizer_puts_surplus_into_heat_and_the_batteries(plans) -> None:
    """What the rules leave unused: the electric boiler runs on surplus into the heat store, the batteries cycle.

    The rules run heat by demand (heat pumps first, the store idle), so their
    boiler never runs and their batteries charge from the surplus at most once.
    """
    optimal, rule = plans["optimal"].schedule, plans["rule-based"].schedule
    assert rule["eb1.elec_kw"].sum() == pytest.approx(0.0, abs=1e-6)
    assert optimal["eb1.elec_kw"].sum() * 0.25 > 1000.0
    assert plans["optimal"].kpis["renewable_curtailment_kwh"] < 0.9 * plans["rule-based"].kpis["renewable_curtailment_kwh"]
