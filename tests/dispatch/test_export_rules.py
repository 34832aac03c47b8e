"""The export rules of ``grid.export_rule`` on a tiny case computed by hand.

Two hours, PV 300 kW, load 100 kW: a surplus of 200 kW at each step. Flat import
price 0.5 CNY/kWh, export 0.3779 (the coal-fired benchmark). One battery, empty,
charging at most 50 kW (η 0.9 each way, 100 kWh): it can take 50 kW of the
surplus at each step. With the end-of-horizon value (a kWh stored is worth
0.5 · 0.9 = 0.45, so a kWh charged 0.405 > 0.3779) the optimum charges the
battery before it exports; the heuristics charge it from surplus first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dispatch.exports import onsite_renewable_kw, settle_surplus
from dispatch.inputs import horizon_inputs
from dispatch.model import DispatchConfig, needs_exclusivity
from dispatch.rolling import RollingConfig, run_rolling_horizon
from dispatch.strategies import STRATEGIES, run_strategy
from microgrid.case import load_case, park_from_dict
from microgrid.errors import InvalidParkError
from microgrid.park import GridConnection
from tests.conftest import make_inputs, two_price_park

PRICE_EXPORT = 0.3779
PV_KW, LOAD_KW = 300.0, 100.0
SURPLUS_KWH = 2 * (PV_KW - LOAD_KW)            # 400 kWh over the two hours
ABSORBED_KWH = 2 * 50.0                        # what the battery takes, at its AC terminals


def surplus_park(rule: str | None, max_export_kw: float, **battery) -> dict:
    park = two_price_park(max_charge_kw=50, **battery)
    park["tariff"] = {"prices_cny_per_kwh": {"flat": 0.5}, "export_price_cny_per_kwh": PRICE_EXPORT}
    park["grid"]["max_export_kw"] = max_export_kw
    if rule is not None:
        park["grid"]["export_rule"] = rule
    park["pv_arrays"] = {"pv1": {"bus": "main", "dc_capacity_kw": 360, "ac_capacity_kw": PV_KW}}
    return park


def plan(rule: str | None, strategy: str, max_export_kw: float = 120.0, **battery):
    return run_strategy(make_inputs(surplus_park(rule, max_export_kw, **battery), [LOAD_KW] * 2,
                                    pv_kw=[PV_KW] * 2), strategy)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_anti_backflow_exports_nothing_and_curtails_what_storage_cannot_take(strategy: str) -> None:
    """Export 0 at every step; curtailed = surplus 400 − what the battery absorbs (100, none without control)."""
    result = plan("anti_backflow", strategy)
    s, kpis = result.schedule, result.kpis
    assert (s["grid_export_kw"] == 0).all()
    assert kpis["export_revenue_cny"] == 0.0
    absorbed = 0.0 if strategy == "no-control" else ABSORBED_KWH
    assert s["battery_charge_kw"].sum() == pytest.approx(absorbed)
    assert kpis["curtailment_kwh"] == pytest.approx(SURPLUS_KWH - absorbed)
    assert kpis["grid_import_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert kpis["export_rule"] == "anti_backflow"


def test_anti_backflow_ignores_max_export_kw() -> None:
    """The rule sets the export limit to 0 whatever ``max_export_kw`` says (so a case switches rules in one line)."""
    grid = GridConnection(max_import_kw=100, max_export_kw=3000, export_rule="anti_backflow")
    assert grid.export_limit_kw == 0.0
    inputs = make_inputs(surplus_park("anti_backflow", 3000.0), [LOAD_KW] * 2, pv_kw=[PV_KW] * 2)
    assert not needs_exclusivity(inputs)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_surplus_to_grid_exports_the_surplus_up_to_the_limit(strategy: str) -> None:
    """Export = min(surplus − battery charge, 120 kW) at each step, paid 0.3779; the rest curtailed.

    With the battery: 200 − 50 = 150 → 120 exported, 30 curtailed a step; without
    (no-control): 120 exported, 80 curtailed.
    """
    kpis = plan("surplus_to_grid", strategy).kpis
    absorbed = 0.0 if strategy == "no-control" else ABSORBED_KWH
    assert kpis["grid_export_kwh"] == pytest.approx(240.0)
    assert kpis["export_revenue_cny"] == pytest.approx(240.0 * PRICE_EXPORT)
    assert kpis["curtailment_kwh"] == pytest.approx(SURPLUS_KWH - absorbed - 240.0)
    assert kpis["export_rule"] == "surplus_to_grid"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_surplus_to_grid_is_the_default(strategy: str) -> None:
    """A grid section without ``export_rule`` plans exactly as ``surplus_to_grid``."""
    default, explicit = plan(None, strategy), plan("surplus_to_grid", strategy)
    assert default.kpis["export_rule"] == "surplus_to_grid"
    assert default.schedule["grid_export_kw"].tolist() == pytest.approx(explicit.schedule["grid_export_kw"].tolist())
    assert default.kpis["total_cost_cny"] == pytest.approx(explicit.kpis["total_cost_cny"])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_full_export_sells_all_pv_and_buys_the_load(strategy: str) -> None:
    """All 600 kWh of PV sold at 0.3779 = 226.74 CNY; the 200 kWh of load bought at 0.5: total −126.74 CNY.

    The battery (empty) gets no PV; charging it from the grid at 0.5 is worth
    only 0.405, so the optimum leaves it idle too.
    """
    result = plan("full_export", strategy, max_export_kw=500.0)
    s, kpis = result.schedule, result.kpis
    assert s["grid_export_kw"].tolist() == pytest.approx([PV_KW, PV_KW])
    assert kpis["export_revenue_cny"] == pytest.approx(2 * PV_KW * PRICE_EXPORT)
    assert s["grid_import_kw"].tolist() == pytest.approx([LOAD_KW, LOAD_KW])
    assert kpis["total_cost_cny"] == pytest.approx(2 * LOAD_KW * 0.5 - 2 * PV_KW * PRICE_EXPORT)
    assert kpis["pv_onsite_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert kpis["curtailment_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert kpis["export_rule"] == "full_export"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_full_export_curtails_above_the_export_limit(strategy: str) -> None:
    """Export limit 250 kW: 250 kW sold and 50 kW curtailed a step; the load is still all imported."""
    kpis = plan("full_export", strategy, max_export_kw=250.0).kpis
    assert kpis["grid_export_kwh"] == pytest.approx(500.0)
    assert kpis["curtailment_kwh"] == pytest.approx(100.0)
    assert kpis["grid_import_kwh"] == pytest.approx(2 * LOAD_KW)


def test_full_export_imports_and_exports_at_once_even_where_export_pays_more() -> None:
    """Import 0.2 < export 0.3779 (a valley): binaries that keep import and export apart would forbid the rule.

    Under full export they are two meters, so even with ``exclusivity='always'``
    the plan sells the 600 kWh of PV and buys the 200 kWh of load:
    cost = 0.2 · 200 − 0.3779 · 600.
    """
    park = surplus_park("full_export", 500.0)
    park["tariff"]["prices_cny_per_kwh"] = {"flat": 0.2}
    inputs = make_inputs(park, [LOAD_KW] * 2, pv_kw=[PV_KW] * 2)
    assert not needs_exclusivity(inputs)
    result = run_strategy(inputs, "optimal", DispatchConfig(exclusivity="always", end_of_horizon="minimum"))
    assert result.schedule["grid_import_kw"].tolist() == pytest.approx([LOAD_KW, LOAD_KW])
    assert result.kpis["total_cost_cny"] == pytest.approx(0.2 * 200 - PRICE_EXPORT * 600)


def test_full_export_battery_serves_the_load_from_its_charge_not_from_pv() -> None:
    """A battery holding 90 kWh (η_dis 0.9 → 81 kWh out) lowers the import under rule-based control, never the export.

    Rule-based discharges on the net load, which under full export is the whole
    load: 81 kWh of the 200 kWh come from the battery, 119 kWh are imported.
    """
    kpis = plan("full_export", "rule-based", max_export_kw=500.0, initial_soc_frac=0.9).kpis
    assert kpis["grid_export_kwh"] == pytest.approx(2 * PV_KW)
    assert kpis["grid_import_kwh"] == pytest.approx(2 * LOAD_KW - 81.0)


def test_settle_surplus_by_hand() -> None:
    grid = GridConnection(max_import_kw=100, max_export_kw=30)
    surplus, renewable = np.array([50.0, 0.0]), np.array([80.0, 10.0])
    assert [a.tolist() for a in settle_surplus(grid, surplus, renewable)] == [[30.0, 0.0], [20.0, 0.0]]
    none = GridConnection(max_import_kw=100, max_export_kw=30, export_rule="anti_backflow")
    assert [a.tolist() for a in settle_surplus(none, surplus, renewable)] == [[0.0, 0.0], [50.0, 0.0]]
    full = GridConnection(max_import_kw=100, max_export_kw=30, export_rule="full_export")
    assert [a.tolist() for a in settle_surplus(full, np.zeros(2), renewable)] == [[30.0, 10.0], [50.0, 0.0]]
    assert onsite_renewable_kw(full, renewable).tolist() == [0.0, 0.0]
    assert onsite_renewable_kw(grid, renewable).tolist() == [80.0, 10.0]


@pytest.mark.parametrize(("grid", "fragments"), [
    ({"export_rule": "net_metering"}, ["grid.export_rule:", "'surplus_to_grid', 'full_export' or 'anti_backflow'",
                                       "'net_metering'"]),
    ({"export_rule": "full_export", "max_export_kw": 0},
     ["grid.export_rule:", "grid.max_export_kw is 0", "give grid.max_export_kw"]),
    ({"export_rule": "anti_backflow", "export_pv_only": False},
     ["grid.export_pv_only:", "'anti_backflow'", "remove export_pv_only"]),
    ({"export_rule": "full_export", "max_export_kw": 100, "export_pv_only": False},
     ["grid.export_pv_only:", "'full_export'"]),
])
def test_bad_export_rules_are_one_line_errors(grid: dict, fragments: list[str]) -> None:
    park = surplus_park(None, 120.0)
    park["grid"].update(grid)
    with pytest.raises(InvalidParkError) as caught:
        park_from_dict(park)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


ROLLING_PARK = {
    "site": {"name": "sunny park", "latitude_deg": 34.75, "longitude_deg": 113.63},
    "grid": {"max_import_kw": 2000, "max_export_kw": 300},
    "tariff": {"preset": "henan_2024"},
    "pv_arrays": {"pv1": {"bus": "pcc", "dc_capacity_kw": 900, "ac_capacity_kw": 750}},
    "batteries": {"b1": {"bus": "pcc", "capacity_kwh": 400, "max_charge_kw": 100, "max_discharge_kw": 100}},
    "loads": {"l1": {"bus": "pcc", "profile": "l1_kw"}},
}
"""PV 750 kW against a 200 kW load: hours of surplus more than the battery can take."""


def sunny_case(folder: Path, rule: str):
    park = {**ROLLING_PARK, "grid": {**ROLLING_PARK["grid"], "export_rule": rule}}
    folder.mkdir()
    (folder / "park.yaml").write_text(yaml.safe_dump(park, sort_keys=False))
    index = pd.date_range("2026-07-15", periods=2 * 96, freq="15min", tz="Asia/Shanghai")
    hours = index.hour + index.minute / 60
    sun = np.clip(np.sin((hours - 6) / 13 * np.pi), 0, None)
    stamps = [t.isoformat() for t in index]
    pd.DataFrame({"timestamp": stamps, "ghi": 900 * sun, "dni": 700 * sun, "dhi": 150 * sun,
                  "temp_air": 28.0, "wind_speed": 2.0}).to_csv(folder / "weather.csv", index=False)
    pd.DataFrame({"timestamp": stamps, "l1_kw": 200.0}).to_csv(folder / "loads.csv", index=False)
    return load_case(folder)


@pytest.mark.parametrize("rule", ["anti_backflow", "full_export"])
def test_rolling_horizon_realizes_the_export_rule(rule: str, tmp_path: Path) -> None:
    """MPC on forecasts with errors: what happens (not only the plan) obeys the rule at every step."""
    case = sunny_case(tmp_path / "case", rule)
    start = pd.Timestamp("2026-07-15 08:00", tz="Asia/Shanghai")
    result = run_rolling_horizon(case, start, start + pd.Timedelta(hours=8),
                                 RollingConfig(strategy="mpc", horizon_h=8, replan_h=2, seed=3))
    s = result.schedule
    assert result.kpis["export_rule"] == rule
    if rule == "anti_backflow":
        assert (s["grid_export_kw"] == 0).all()
        assert s["curtailment_kw"].sum() > 0          # the battery cannot take a 500 kW surplus
    else:
        assert np.allclose(s["grid_export_kw"], np.minimum(s["pv_available_kw"], 300.0), atol=1e-6)
        served = s["load_kw"] + s["battery_charge_kw"] - s["battery_discharge_kw"]
        assert np.allclose(s["grid_import_kw"], served, atol=1e-6)


@pytest.mark.parametrize("strategy", ["no-control", "rule-based", "tou-arbitrage"])
def test_rolling_horizon_realizes_a_rule_that_curtails_as_simulated(strategy: str, tmp_path: Path) -> None:
    """Under anti-backflow the surplus a rule curtails is not news to its batteries: hour by hour, the
    realized steps are the rule's own simulation of the same data (no-control's batteries stay idle)."""
    case = sunny_case(tmp_path / "case", "anti_backflow")
    start = pd.Timestamp("2026-07-15 00:00", tz="Asia/Shanghai")
    rolling = run_rolling_horizon(case, start, start + pd.Timedelta(hours=24),
                                  RollingConfig(strategy=strategy, horizon_h=24, replan_h=1)).schedule
    alone = run_strategy(horizon_inputs(case, start, 24.0), strategy).schedule
    for column in ("battery_charge_kw", "battery_discharge_kw", "curtailment_kw", "grid_import_kw"):
        assert rolling[column].to_numpy() == pytest.approx(alone[column].to_numpy(), abs=1e-6), column
    if strategy == "no-control":
        assert (rolling["battery_charge_kw"] == 0).all()
