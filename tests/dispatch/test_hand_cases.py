"""Tiny cases whose optimal plans are computed by hand."""

from __future__ import annotations

import pytest

from dispatch.inputs import PlantState
from dispatch.model import DispatchConfig, needs_exclusivity
from dispatch.results import SolverStatus
from dispatch.strategies import run_strategy
from tests.conftest import make_inputs, two_price_park


def test_arbitrage_two_prices_with_losses() -> None:
    """Charge 100 kW in the valley (0.2), deliver 0.9·0.9·100 = 81 kW at the peak (1.0).

    cost = 0.2·(100 + 100) + 1.0·(100 − 81) = 40 + 19 = 59 CNY.
    """
    result = run_strategy(make_inputs(two_price_park(), [100.0, 100.0]), "optimal")
    assert result.status is SolverStatus.OPTIMAL
    assert result.kpis["total_cost_cny"] == pytest.approx(59.0, abs=1e-6)
    s = result.schedule
    assert s["b1.charge_kw"].tolist() == pytest.approx([100.0, 0.0])
    assert s["b1.discharge_kw"].tolist() == pytest.approx([0.0, 81.0])
    assert s["b1.soc_kwh"].tolist() == pytest.approx([90.0, 0.0])
    assert result.mip_gap == 0.0
    assert result.solve_time_s is not None and result.solve_time_s >= 0


def test_no_arbitrage_when_losses_eat_the_spread() -> None:
    """0.2 → 1.0 needs a round trip ≥ 0.2; with η = 0.4·0.4 = 0.16 the battery stays idle."""
    park = two_price_park(charge_efficiency=0.4, discharge_efficiency=0.4)
    result = run_strategy(make_inputs(park, [100.0, 100.0]), "optimal")
    assert result.kpis["total_cost_cny"] == pytest.approx(0.2 * 100 + 1.0 * 100)
    assert result.schedule["b1.charge_kw"].sum() == pytest.approx(0.0, abs=1e-6)


def test_step_length_comes_from_the_index() -> None:
    """The same problem on 15-minute steps: four valley steps then four peak steps.

    Energy per step is a quarter: cost = 0.2·200·1 h + 1.0·19·1 h = 59 CNY again.
    """
    park = two_price_park()
    inputs = make_inputs(park, [100.0] * 8, freq="15min")
    assert inputs.dt_h == 0.25
    result = run_strategy(inputs, "optimal")
    assert result.kpis["total_cost_cny"] == pytest.approx(59.0, abs=1e-6)


def test_demand_charge_is_shaved_to_the_flat_optimum() -> None:
    """Flat 0.5 CNY/kWh, loads 100 then 300 kW, demand charge 10 CNY/kW, η = 1.

    The battery (100 kWh stored, must end at 100 kWh) moves 100 kWh from step 2
    to step 1: peak 200 kW. cost = 0.5·400 + 10·200 = 2,200 CNY.
    """
    park = two_price_park(capacity_kwh=200, initial_soc_frac=0.5, final_soc_frac=0.5,
                          charge_efficiency=1.0, discharge_efficiency=1.0)
    park["tariff"] = {"prices_cny_per_kwh": {"flat": 0.5}, "demand_charge_cny_per_kw_month": 10.0}
    # The month-to-date peak is known (0 kW): each kW of peak adds 10 CNY to the month's bill.
    result = run_strategy(make_inputs(park, [100.0, 300.0], state=PlantState(month_to_date_peak_kw=0.0)), "optimal")
    assert result.kpis["peak_import_kw"] == pytest.approx(200.0)
    assert result.kpis["demand_charge_cny"] == pytest.approx(2000.0)
    assert result.kpis["total_cost_cny"] == pytest.approx(2200.0)
    assert result.kpis["demand_charge_basis"] == "month_to_date_peak"
    assert result.kpis["peak_marginal_cost_cny_per_kw"] == pytest.approx(10.0)
    # Only the rise above the month-to-date peak is charged.
    state = PlantState(month_to_date_peak_kw=250.0)
    result = run_strategy(make_inputs(park, [100.0, 300.0], state=state), "optimal")
    assert result.kpis["demand_charge_cny"] == pytest.approx(0.0, abs=1e-6)
    assert result.kpis["total_cost_cny"] == pytest.approx(200.0)


def test_surplus_pv_is_exported_up_to_the_limit_then_curtailed() -> None:
    """PV 500 kW, load 100 kW, export limit 200 kW at 0.3779: 200 kW curtailed."""
    park = two_price_park(capacity_kwh=0, initial_soc_frac=0.0)
    park["grid"]["max_export_kw"] = 200
    park["tariff"]["export_price_cny_per_kwh"] = 0.3779
    park["pv_arrays"] = {"pv1": {"bus": "main", "dc_capacity_kw": 600, "ac_capacity_kw": 500}}
    inputs = make_inputs(park, [100.0, 100.0], pv_kw=[500.0, 500.0])
    for strategy in ("optimal", "rule-based", "no-control"):
        kpis = run_strategy(inputs, strategy).kpis
        assert kpis["grid_export_kwh"] == pytest.approx(400.0)
        assert kpis["curtailment_kwh"] == pytest.approx(400.0)
        assert kpis["export_revenue_cny"] == pytest.approx(400 * 0.3779)
        assert kpis["pv_self_consumption_ratio"] == pytest.approx(200 / 1000)


def test_export_above_import_price_adds_exclusivity() -> None:
    """Export paid 0.3 > import 0.2, PV 50 kW, load 100 kW, two hours.

    With binaries the park uses its PV and imports the other 50 kW:
    cost = 2 · 50 · 0.2 = 20 CNY. The LP alone would sell all PV at 0.3 while
    buying the whole load at 0.2: 2 · (100 · 0.2 − 50 · 0.3) = 10 CNY.
    """
    park = two_price_park(capacity_kwh=0, initial_soc_frac=0.0)
    park["grid"]["max_export_kw"] = 200
    park["tariff"] = {"prices_cny_per_kwh": {"flat": 0.2}, "export_price_cny_per_kwh": 0.3}
    park["pv_arrays"] = {"pv1": {"bus": "main", "dc_capacity_kw": 60, "ac_capacity_kw": 50}}
    inputs = make_inputs(park, [100.0, 100.0], pv_kw=[50.0, 50.0])
    assert needs_exclusivity(inputs)
    result = run_strategy(inputs, "optimal")
    assert result.kpis["total_cost_cny"] == pytest.approx(20.0)
    assert (result.schedule["grid_import_kw"] * result.schedule["grid_export_kw"]).max() == pytest.approx(0.0)
    relaxed = run_strategy(inputs, "optimal", DispatchConfig(exclusivity="never"))
    assert relaxed.kpis["total_cost_cny"] == pytest.approx(10.0)


def test_only_pv_surplus_is_exported_by_default() -> None:
    """A full battery, no PV, no load, export paid 0.9: nothing may be sold from the battery.

    With ``export_pv_only: false`` it sells what the battery can deliver,
    90 kWh · η 0.9 = 81 kWh, for 81 · 0.9 = 72.9 CNY.
    """
    park = two_price_park(initial_soc_frac=0.9, max_discharge_kw=100)
    park["grid"]["max_export_kw"] = 500
    park["tariff"] = {"prices_cny_per_kwh": {"flat": 1.0}, "export_price_cny_per_kwh": 0.9}
    inputs = make_inputs(park, [0.0, 0.0])
    # (No value on what is left at the end: else keeping it, worth 1.0 · η 0.9 a kWh, beats selling it.)
    spend = DispatchConfig(end_of_horizon="minimum")
    assert run_strategy(inputs, "optimal", spend).kpis["grid_export_kwh"] == pytest.approx(0.0)
    park["grid"]["export_pv_only"] = False
    kpis = run_strategy(make_inputs(park, [0.0, 0.0]), "optimal", spend).kpis
    assert kpis["grid_export_kwh"] == pytest.approx(81.0)
    assert kpis["export_revenue_cny"] == pytest.approx(72.9)


def test_normal_prices_need_no_binaries(two_price_inputs) -> None:
    assert not needs_exclusivity(two_price_inputs)


def test_import_limit_below_load_is_reported_not_raised() -> None:
    park = two_price_park(capacity_kwh=0, initial_soc_frac=0.0)
    park["grid"]["max_import_kw"] = 60
    result = run_strategy(make_inputs(park, [100.0, 100.0]), "optimal")
    assert result.status is SolverStatus.INFEASIBLE_RELAXED
    [entry] = result.slack
    assert entry.device == "grid"
    assert entry.constraint.startswith("max_import_kw")
    assert entry.missing == pytest.approx(80.0)
    assert entry.steps == ["2026-07-15T00:00:00+08:00", "2026-07-15T01:00:00+08:00"]
    assert result.schedule["unserved_load_kw"].tolist() == pytest.approx([40.0, 40.0])


def test_unreachable_final_soc_is_reported() -> None:
    """10 kW for 2 h at η 0.9 stores 18 kWh: 82 kWh short of the 100 kWh target."""
    park = two_price_park(max_charge_kw=10, final_soc_frac=1.0)
    result = run_strategy(make_inputs(park, [100.0, 100.0]), "optimal")
    assert result.status is SolverStatus.INFEASIBLE_RELAXED
    [entry] = result.slack
    assert (entry.device, entry.constraint) == ("b1", "final_soc_frac")
    assert entry.missing == pytest.approx(82.0)


def test_rule_based_charges_from_surplus_and_discharges_on_deficit() -> None:
    """Step 1: PV 300 kW, load 100 → charge 100 kW (limit), export 0 → curtail 100.
    Step 2: no PV, load 100 → discharge min(100, 90 kWh · 0.9 / 1 h = 81) = 81."""
    park = two_price_park()
    park["pv_arrays"] = {"pv1": {"bus": "main", "dc_capacity_kw": 400, "ac_capacity_kw": 300}}
    result = run_strategy(make_inputs(park, [100.0, 100.0], pv_kw=[300.0, 0.0]), "rule-based")
    s = result.schedule
    assert s["b1.charge_kw"].tolist() == pytest.approx([100.0, 0.0])
    assert s["b1.discharge_kw"].tolist() == pytest.approx([0.0, 81.0])
    assert s["curtailment_kw"].tolist() == pytest.approx([100.0, 0.0])
    assert s["grid_import_kw"].tolist() == pytest.approx([0.0, 19.0])
    assert result.status is SolverStatus.NOT_OPTIMIZED
