"""What the energy left in the stores at the end of a plan is worth (``DispatchConfig.end_of_horizon``).

The park of ``tests.conftest.two_price_park``: valley 0.2 CNY/kWh 00–01 h,
peak 1.0 01–02 h, flat 0.5 otherwise; one 100 kWh battery with η = 0.9 each way.
The 24 h after any short horizon on that day hold the next valley: p_min = 0.2.
"""

from __future__ import annotations

import pytest

from dispatch.model import DispatchConfig, end_of_horizon_values
from dispatch.strategies import run_strategy
from tests.conftest import make_inputs, two_price_park


def plan(park: dict, load_kw: list[float], rule: str):
    return run_strategy(make_inputs(park, load_kw), "optimal", DispatchConfig(end_of_horizon=rule))


def test_value_of_a_stored_kwh_is_tomorrows_cheapest_price_through_the_discharge() -> None:
    inputs = make_inputs(two_price_park(), [0.0, 0.0])
    assert inputs.next_day_cheapest_price_cny_per_kwh == pytest.approx(0.2)
    end = end_of_horizon_values(inputs, "value")["b1"]
    assert end.value_cny_per_kwh == pytest.approx(0.2 * 0.9)
    assert end.co2_kg_per_kwh == pytest.approx(inputs.park.tariff.co2_kg_per_kwh * 0.9)
    assert end.final_kwh == pytest.approx(0.0)
    for rule in ("cyclic", "minimum"):
        assert end_of_horizon_values(inputs, rule)["b1"].value_cny_per_kwh == 0.0


def test_a_full_battery_is_not_drained_in_the_valley_for_nothing() -> None:
    """One valley hour, 60 kW of load, a full battery with 0.01 CNY/kWh wear.

    No value on what is left (``minimum``): discharging saves 0.2 − 0.01 a kWh, so the
    battery serves the load and ends at 100 − 60 / 0.9 = 33.3 kWh (cost: wear 0.6 CNY).
    ``value``: each kWh delivered spends 1 / 0.9 stored kWh worth 0.2 · 0.9, i.e. 0.2,
    plus the wear: the battery keeps its energy and the load is bought at 0.2 (12 CNY)."""
    park = two_price_park(initial_soc_frac=1.0, throughput_cost_cny_per_kwh=0.01)
    drained = plan(park, [60.0], "minimum")
    assert drained.schedule["b1.discharge_kw"].tolist() == pytest.approx([60.0])
    assert drained.schedule["b1.soc_kwh"].iloc[-1] == pytest.approx(100 - 60 / 0.9)
    assert drained.kpis["total_cost_cny"] == pytest.approx(0.6)
    kept = plan(park, [60.0], "value")
    assert kept.schedule["b1.discharge_kw"].tolist() == pytest.approx([0.0])
    assert kept.schedule["b1.soc_kwh"].iloc[-1] == pytest.approx(100.0)
    assert kept.kpis["total_cost_cny"] == pytest.approx(12.0)


def test_the_value_never_makes_the_battery_hoard() -> None:
    """Nothing to serve: charging in the valley costs 0.2 a kWh and stores 0.9 kWh worth 0.18 each."""
    result = plan(two_price_park(), [0.0, 0.0], "value")
    assert result.schedule["b1.charge_kw"].tolist() == pytest.approx([0.0, 0.0])


def test_cyclic_ends_where_it_started() -> None:
    """Start at 50 kWh, 100 kW of load at the peak.

    Cyclic: 50 + 0.9 c − d / 0.9 ≥ 50 and SoC ≤ 100 → c = 55.6 kWh bought in the valley,
    d = 45 kWh delivered at the peak; cost = 0.2 · 55.6 + 1.0 · 55 = 66.11 CNY.
    Without the rule the battery fills and empties: d = 90, cost 0.2 · 55.6 + 10 = 21.11."""
    park = two_price_park(initial_soc_frac=0.5)
    cyclic = plan(park, [0.0, 100.0], "cyclic")
    assert cyclic.schedule["b1.charge_kw"].tolist() == pytest.approx([50 / 0.9, 0.0])
    assert cyclic.schedule["b1.discharge_kw"].tolist() == pytest.approx([0.0, 45.0])
    assert cyclic.schedule["b1.soc_kwh"].iloc[-1] == pytest.approx(50.0)
    assert cyclic.kpis["total_cost_cny"] == pytest.approx(0.2 * 50 / 0.9 + 55.0)
    free = plan(park, [0.0, 100.0], "minimum")
    assert free.schedule["b1.discharge_kw"].tolist() == pytest.approx([0.0, 90.0])
    assert free.kpis["total_cost_cny"] == pytest.approx(0.2 * 50 / 0.9 + 10.0)


def test_a_devices_own_end_requirement_and_value_win() -> None:
    park = two_price_park(initial_soc_frac=0.5, final_soc_frac=0.8, terminal_value_cny_per_kwh=0.05)
    end = end_of_horizon_values(make_inputs(park, [0.0, 0.0]), "value")["b1"]
    assert (end.final_kwh, end.value_cny_per_kwh, end.co2_kg_per_kwh) == pytest.approx((80.0, 0.05, 0.0))
    assert end_of_horizon_values(make_inputs(park, [0.0, 0.0]), "cyclic")["b1"].final_kwh == pytest.approx(80.0)


def test_heat_left_in_a_store_is_worth_tomorrows_cheapest_heat() -> None:
    """A heat pump of COP 3 on the store's bus: a kWh of heat costs 0.2 / 3 tomorrow at best."""
    park = two_price_park(capacity_kwh=0, initial_soc_frac=0.0)
    park["heat_buses"] = {"steam": {"demand_profile": "steam_kw"}}
    park["heat_pumps"] = {"hp1": {"bus": "main", "heat_bus": "steam", "max_elec_kw": 100, "source": "fixed",
                                  "source_temp_c": 30,
                                  "cop": {"kind": "table", "source_temps_c": [0, 60], "cops": [3, 3]}}}
    park["electric_boilers"] = {"eb1": {"bus": "main", "heat_bus": "steam", "max_elec_kw": 100, "efficiency": 0.95}}
    park["thermal_stores"] = {"ts1": {"heat_bus": "steam", "capacity_kwh": 400, "max_charge_kw": 300,
                                      "max_discharge_kw": 300, "initial_soc_frac": 0.5}}
    inputs = make_inputs(park, [0.0, 0.0], heat_kw={"steam": [0.0, 0.0]})
    end = end_of_horizon_values(inputs, "value")["ts1"]
    assert end.value_cny_per_kwh == pytest.approx(0.2 / 3)
    assert end.co2_kg_per_kwh == pytest.approx(inputs.park.tariff.co2_kg_per_kwh / 3)
    assert end_of_horizon_values(inputs, "cyclic")["ts1"].final_kwh == pytest.approx(200.0)
