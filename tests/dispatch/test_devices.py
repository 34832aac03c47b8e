"""Each device family on a tiny case with its optimum computed by hand.

Tariff of ``two_price_park`` unless said otherwise: valley 00:00-01:00 at 0.2,
peak 01:00-02:00 at 1.0, flat 0.5 otherwise (CNY/kWh), no demand charge.
"""

from __future__ import annotations

import pytest

from dispatch.inputs import PlantState
from dispatch.model import DispatchConfig
from dispatch.results import SolverStatus
from dispatch.strategies import run_strategy
from tests.conftest import make_inputs, two_price_park


def heat_park(loss_frac_per_h: float = 0.0) -> dict:
    """One heat pump (100 kW electric, COP 3, min load 30 %) and a 400 kWh store; no battery."""
    park = two_price_park(capacity_kwh=0, initial_soc_frac=0.0)
    park["heat_buses"] = {"steam": {"demand_profile": "steam_kw"}}
    park["heat_pumps"] = {"hp1": {"bus": "main", "heat_bus": "steam", "max_elec_kw": 100, "min_load_frac": 0.3,
                                  "source": "fixed", "source_temp_c": 30,
                                  "cop": {"kind": "table", "source_temps_c": [0, 60], "cops": [3, 3]}}}
    park["thermal_stores"] = {"ts1": {"heat_bus": "steam", "capacity_kwh": 400, "max_charge_kw": 300,
                                      "max_discharge_kw": 300, "loss_frac_per_h": loss_frac_per_h,
                                      "initial_soc_frac": 0.0}}
    return park


def test_heat_pump_runs_in_the_valley_and_the_store_carries_heat_to_the_peak() -> None:
    """300 kWh of heat needed in the peak hour: make it in the valley (100 kW · COP 3),
    store it, discharge it at the peak. cost = 0.2 · 100 = 20 CNY."""
    inputs = make_inputs(heat_park(), [0.0, 0.0], heat_kw={"steam": [0.0, 300.0]})
    result = run_strategy(inputs, "optimal")
    s = result.schedule
    assert result.kpis["total_cost_cny"] == pytest.approx(20.0)
    assert s["hp1.elec_kw"].tolist() == pytest.approx([100.0, 0.0])
    assert s["hp1.heat_th_kw"].tolist() == pytest.approx([300.0, 0.0])
    assert s["ts1.discharge_th_kw"].tolist() == pytest.approx([0.0, 300.0])
    # The heat pump produced the heat; the store only moved it (stores are not producers).
    assert result.kpis["heat_served_kwh"] == pytest.approx({"hp1": 300.0})
    assert result.kpis["heat_store_discharge_kwh"] == pytest.approx(300.0)
    assert result.kpis["heat_store_losses_kwh"] == pytest.approx(0.0)
    assert result.kpis["heat_pump_average_cop"] == pytest.approx(3.0)
    # Without control the heat pump follows the demand, at the peak price: 100 CNY.
    assert run_strategy(inputs, "no-control").kpis["total_cost_cny"] == pytest.approx(100.0)


def test_store_losses_and_minimum_load() -> None:
    """With 10 %/h standing loss a stored kWh delivers 0.9 kWh. At the peak the heat
    pump can only run at ≥ 30 kW (90 kWh of heat) or not at all; the cheapest mix is
    30 kW at the peak (90 kWh heat) plus 210 / 0.9 = 233.3 kWh stored in the valley
    (77.8 kW): cost = 0.2 · 700/9 + 1.0 · 30 = 45.56 CNY."""
    inputs = make_inputs(heat_park(loss_frac_per_h=0.1), [0.0, 0.0], heat_kw={"steam": [0.0, 300.0]})
    result = run_strategy(inputs, "optimal")
    assert result.kpis["total_cost_cny"] == pytest.approx(0.2 * 700 / 9 + 30.0)
    assert result.schedule["hp1.elec_kw"].tolist() == pytest.approx([700 / 9, 30.0])


def test_heat_that_cannot_be_supplied_is_reported() -> None:
    """400 kWh of heat in one hour from a 300 kW heat pump and an empty store."""
    inputs = make_inputs(heat_park(), [0.0], heat_kw={"steam": [400.0]})
    result = run_strategy(inputs, "optimal")
    assert result.status is SolverStatus.INFEASIBLE_RELAXED
    [entry] = result.slack
    assert entry.device == "steam" and entry.constraint.startswith("heat_balance")
    assert entry.steps == ["2026-07-15T00:00:00+08:00"]
    assert entry.missing == pytest.approx(100.0)


def hourly_day_park(prices: dict, rules: list) -> dict:
    park = two_price_park(capacity_kwh=0, initial_soc_frac=0.0)
    park["tariff"] = {"prices_cny_per_kwh": prices, "period_rules": rules}
    return park


MIDDAY_VALLEY = hourly_day_park({"valley": 0.2, "flat": 0.6}, [{"period": "valley", "start": "11:00", "end": "14:00"}])


def test_batch_moves_into_the_midday_valley() -> None:
    """An 800 kW, 2-hour grinding batch allowed 06:00-22:00 runs inside 11:00-14:00.

    cost = 0.2 · 800 · 2 = 320 CNY (against 0.6 · 1,600 = 960 at its 06:00 baseline)."""
    park = dict(MIDDAY_VALLEY)
    park["shiftable_processes"] = {"grind": {"bus": "main", "power_kw": 800, "duration_h": 2,
                                             "earliest_start": "06:00", "latest_end": "22:00"}}
    inputs = make_inputs(park, [0.0] * 24)
    result = run_strategy(inputs, "optimal")
    assert result.kpis["total_cost_cny"] == pytest.approx(320.0)
    running = result.schedule["grind.load_kw"]
    assert running.sum() == pytest.approx(1600.0)
    assert set(running[running > 0].index.hour) <= {11, 12, 13}
    assert run_strategy(inputs, "no-control").kpis["total_cost_cny"] == pytest.approx(960.0)


def test_batch_follows_solar_surplus() -> None:
    """Flat price 0.6, export paid 0.3, PV 800 kW from 13:00 to 15:00 with no other load:
    the batch runs 13:00-15:00 on PV. cost = 0; anywhere else it would cost 960 − 0."""
    park = hourly_day_park({"flat": 0.6}, [])
    park["tariff"]["export_price_cny_per_kwh"] = 0.3
    park["grid"]["max_export_kw"] = 1000
    park["pv_arrays"] = {"pv1": {"bus": "main", "dc_capacity_kw": 900, "ac_capacity_kw": 800}}
    park["shiftable_processes"] = {"grind": {"bus": "main", "power_kw": 800, "duration_h": 2,
                                             "earliest_start": "06:00", "latest_end": "22:00"}}
    pv = [800.0 if h in (13, 14) else 0.0 for h in range(24)]
    result = run_strategy(make_inputs(park, [0.0] * 24, pv_kw=pv), "optimal")
    assert result.kpis["total_cost_cny"] == pytest.approx(0.0, abs=1e-6)
    assert result.schedule["grind.load_kw"].iloc[13:15].tolist() == pytest.approx([800.0, 800.0])


def test_two_runs_never_overlap_and_a_window_too_short_is_reported() -> None:
    park = dict(MIDDAY_VALLEY)
    park["shiftable_processes"] = {"plate": {"bus": "main", "power_kw": 400, "duration_h": 2, "runs_per_day": 2,
                                             "earliest_start": "10:00", "latest_end": "15:00"}}
    result = run_strategy(make_inputs(park, [0.0] * 24), "optimal")
    plate = result.schedule["plate.load_kw"]
    assert plate.max() == pytest.approx(400.0)        # never two runs at once
    assert plate.sum() == pytest.approx(1600.0)       # both runs, 4 hours at 400 kW
    park["shiftable_processes"]["plate"]["runs_per_day"] = 3   # 6 h of runs in a 5 h window
    result = run_strategy(make_inputs(park, [0.0] * 24), "optimal")
    assert result.status is SolverStatus.INFEASIBLE_RELAXED
    [entry] = result.slack
    assert entry.device == "plate" and entry.constraint == "runs_per_day on 2026-07-15"
    assert entry.missing == pytest.approx(1.0)
    assert entry.steps[0] == "2026-07-15T10:00:00+08:00" and entry.steps[-1] == "2026-07-15T14:00:00+08:00"


HENAN_DAY = {"preset": "henan_2024", "demand_charge_cny_per_kw_month": 0.0}


def fleet_park() -> dict:
    park = two_price_park(capacity_kwh=0, initial_soc_frac=0.0)
    park["tariff"] = dict(HENAN_DAY)
    park["energy_loads"] = {"fleet": {"bus": "main", "arrival": "18:00", "departure": "06:00",
                                      "energy_kwh": 2400, "max_kw": 1200}}
    return park


def test_fleet_charges_in_the_night_valley() -> None:
    """The session that arrived last evening needs 2,400 kWh by 06:00: it takes it in the
    valley (0.2542). The evening session can wait for tomorrow's valley. cost = 2,400 · 0.2542."""
    result = run_strategy(make_inputs(fleet_park(), [0.0] * 24), "optimal")
    fleet = result.schedule["fleet.load_kw"]
    assert fleet.sum() == pytest.approx(2400.0)
    assert set(fleet[fleet > 1e-6].index.hour) <= set(range(6))
    assert result.kpis["total_cost_cny"] == pytest.approx(2400 * 0.2542)
    assert result.kpis["energy_loads_kwh"]["fleet"] == pytest.approx(2400.0)


def test_fleet_with_look_ahead_and_measured_progress() -> None:
    """36 h from midnight: both sessions end inside; 900 kWh already delivered to the first.
    Both charge in valleys only: (1,500 + 2,400) · 0.2542."""
    state = PlantState(energy_delivered_kwh={"fleet": 900.0})
    result = run_strategy(make_inputs(fleet_park(), [0.0] * 36, state=state), "optimal")
    fleet = result.schedule["fleet.load_kw"]
    assert fleet.iloc[:24].sum() == pytest.approx(1500.0)
    assert fleet.iloc[24:].sum() == pytest.approx(2400.0)
    assert result.kpis["total_cost_cny"] == pytest.approx(3900 * 0.2542)


def test_fleet_requirement_beyond_power_is_reported() -> None:
    park = fleet_park()
    park["energy_loads"]["fleet"]["max_kw"] = 300   # 6 h · 300 kW = 1,800 kWh < 2,400
    result = run_strategy(make_inputs(park, [0.0] * 24), "optimal")
    [entry] = result.slack
    assert entry.device == "fleet" and entry.constraint.startswith("energy_kwh by departure 2026-07-15T06:00")
    assert entry.missing == pytest.approx(600.0)
    assert len(entry.steps) == 6


def curtail_park(**extra) -> dict:
    park = two_price_park(capacity_kwh=0, initial_soc_frac=0.0)
    park["curtailable_loads"] = {"hvac": {"bus": "main", "profile": "hvac_kw", "max_shed_kw": 50,
                                          "shed_cost_cny_per_kwh": 0.8, **extra}}
    return park


def test_shedding_only_when_cheaper_than_the_price() -> None:
    """100 kW of HVAC, 50 kW sheddable at 0.8: shed at the peak (1.0), not in the valley (0.2).
    cost = 0.2 · 100 + 1.0 · 50 + 0.8 · 50 = 110 CNY."""
    inputs = make_inputs(curtail_park(), [0.0, 0.0], curtailable_kw={"hvac": [100.0, 100.0]})
    result = run_strategy(inputs, "optimal")
    assert result.schedule["hvac.shed_kw"].tolist() == pytest.approx([0.0, 50.0])
    assert result.kpis["total_cost_cny"] == pytest.approx(110.0)
    assert result.kpis["shed_cost_cny"] == pytest.approx(40.0)


def test_shedding_within_the_daily_hour_limit() -> None:
    """Peak 01:00-03:00 (two hours), at most 1 hour of shedding a day:
    cost = 0.2 · 100 + 1.0 · 100 + 1.0 · 50 + 0.8 · 50 = 210 CNY."""
    park = curtail_park(max_shed_hours_per_day=1)
    park["tariff"]["period_rules"][1]["end"] = "03:00"
    result = run_strategy(make_inputs(park, [0.0] * 3, curtailable_kw={"hvac": [100.0] * 3}), "optimal")
    assert (result.schedule["hvac.shed_kw"] > 1e-6).sum() == 1
    assert result.kpis["total_cost_cny"] == pytest.approx(210.0)


def test_shiftable_energy_moves_within_its_delay() -> None:
    """A 100 kW cold store may shift 1 h: the peak hour's energy moves to the valley.
    Uncapped: [200, 0] → 40 CNY; capped at 150 kW: [150, 50] → 30 + 50 = 80 CNY."""
    park = two_price_park(capacity_kwh=0, initial_soc_frac=0.0)
    park["shiftable_loads"] = {"cold": {"bus": "main", "profile": "cold_kw", "max_shift_h": 1}}
    inputs = make_inputs(park, [0.0, 0.0], shiftable_kw={"cold": [100.0, 100.0]})
    result = run_strategy(inputs, "optimal")
    assert result.schedule["cold.load_kw"].tolist() == pytest.approx([200.0, 0.0])
    assert result.kpis["total_cost_cny"] == pytest.approx(40.0)
    park["shiftable_loads"]["cold"]["max_kw"] = 150
    result = run_strategy(make_inputs(park, [0.0, 0.0], shiftable_kw={"cold": [100.0, 100.0]}), "optimal")
    assert result.schedule["cold.load_kw"].tolist() == pytest.approx([150.0, 50.0])
    assert result.kpis["total_cost_cny"] == pytest.approx(80.0)


def test_energy_cannot_move_further_than_the_delay() -> None:
    """Valley at step 0, peak at step 2 (flat between): a 1-hour delay only reaches step 1."""
    park = two_price_park(capacity_kwh=0, initial_soc_frac=0.0)
    park["tariff"]["period_rules"][1] = {"period": "peak", "start": "02:00", "end": "03:00"}
    park["shiftable_loads"] = {"cold": {"bus": "main", "profile": "cold_kw", "max_shift_h": 1}}
    result = run_strategy(make_inputs(park, [0.0] * 3, shiftable_kw={"cold": [0.0, 0.0, 100.0]}), "optimal")
    assert result.schedule["cold.load_kw"].tolist() == pytest.approx([0.0, 100.0, 0.0])


def self_consumption_park() -> dict:
    """PV 100 kW in step 0 with no load then; export paid 0.5 = the flat price; a battery.

    Cost-optimal: export the PV (0.5 · 100 = −50 CNY) rather than store it (loses 19 %).
    Self-consumption: store it to serve the 100 kW load in step 1 instead."""
    park = two_price_park(capacity_kwh=200, initial_soc_frac=0.0)
    park["tariff"] = {"prices_cny_per_kwh": {"flat": 0.55}, "export_price_cny_per_kwh": 0.5}
    park["grid"]["max_export_kw"] = 500
    park["pv_arrays"] = {"pv1": {"bus": "main", "dc_capacity_kw": 120, "ac_capacity_kw": 100}}
    return park


def test_objectives_are_lexicographic() -> None:
    """(Energy left at the end has no value here: with the flat 0.55 tomorrow, a stored kWh would be
    worth 0.55 · 0.9 = 0.495 CNY, exactly what it saves today, and the plans would tie.)"""
    inputs = make_inputs(self_consumption_park(), [0.0, 100.0], pv_kw=[100.0, 0.0])
    end = {"end_of_horizon": "minimum"}
    cost = run_strategy(inputs, "optimal", DispatchConfig(objective="cost", **end))
    # cost: export 100 at 0.5, import 100 at 0.55: 55 − 50 = 5 CNY.
    assert cost.kpis["total_cost_cny"] == pytest.approx(5.0)
    assert cost.kpis["pv_onsite_kwh"] == pytest.approx(0.0)
    own = run_strategy(inputs, "optimal", DispatchConfig(objective="self_consumption", **end))
    # store 100 kWh (81 kWh back), import 19: 0.55 · 19 = 10.45 CNY. The second solve
    # holds PV on site within the lexicographic tolerance (1e-6 relative) of its optimum.
    assert own.kpis["pv_onsite_kwh"] == pytest.approx(100.0, rel=1e-5)
    assert own.kpis["total_cost_cny"] == pytest.approx(0.55 * 19, abs=1e-3)
    assert own.kpis["objective"] == "self_consumption"
    # co2: least import energy is the same plan here.
    co2 = run_strategy(inputs, "optimal", DispatchConfig(objective="co2", **end))
    assert co2.kpis["grid_import_kwh"] == pytest.approx(19.0, rel=1e-5)
    assert co2.kpis["co2_kg"] < cost.kpis["co2_kg"]


def test_plainly_impossible_heat_demand_is_refused_before_solving() -> None:
    """700 kW of heat against 300 kW of heat pump and 300 kW of store discharge."""
    from microgrid.errors import InfeasibleError

    inputs = make_inputs(heat_park(), [0.0, 0.0], heat_kw={"steam": [0.0, 700.0]})
    with pytest.raises(InfeasibleError, match=r"heat_buses.steam: heat demand 700 kW at 2026-07-15T01:00:00\+08:00 "
                                              r"exceeds all heat capacity on the bus \(600 kW"):
        run_strategy(inputs, "optimal")


def test_process_longer_than_its_window_is_refused() -> None:
    from microgrid.case import park_from_dict
    from microgrid.errors import InvalidParkError

    park = dict(MIDDAY_VALLEY)
    park["shiftable_processes"] = {"grind": {"bus": "main", "power_kw": 800, "duration_h": 4,
                                             "earliest_start": "11:00", "latest_end": "14:00"}}
    with pytest.raises(InvalidParkError, match=r"shiftable_processes.grind: one run lasts 4 h but the window "
                                               r"11:00–14:00 is only 3 h"):
        park_from_dict(park)


def test_fleet_energy_beyond_its_window_is_refused() -> None:
    from microgrid.case import park_from_dict
    from microgrid.errors import InvalidParkError

    park = fleet_park()
    park["energy_loads"]["fleet"]["max_kw"] = 100   # 12 h · 100 kW = 1,200 kWh < 2,400
    with pytest.raises(InvalidParkError, match=r"energy_loads.fleet: energy_kwh 2400 cannot be delivered"):
        park_from_dict(park)


def test_value_left_in_store_keeps_energy_in_the_battery() -> None:
    """One valley hour at 0.2, no load. Charging 100 kW stores 90 kWh; worth it only if a
    kWh left at the end is valued above 0.2 / 0.9 = 0.222 CNY. At 0.3 CNY/kWh:
    cost = 0.2 · 100 − 0.3 · 90 = −7 CNY; at 0.2 the battery stays empty (cost 0)."""
    park = two_price_park(terminal_value_cny_per_kwh=0.3)
    result = run_strategy(make_inputs(park, [0.0]), "optimal")
    assert result.schedule["b1.soc_kwh"].iloc[-1] == pytest.approx(90.0)
    assert result.objective_cny == pytest.approx(0.2 * 100 - 0.3 * 90)
    park = two_price_park(terminal_value_cny_per_kwh=0.2)
    result = run_strategy(make_inputs(park, [0.0]), "optimal")
    assert result.schedule["b1.soc_kwh"].iloc[-1] == pytest.approx(0.0)


def test_surplus_serves_heat_through_the_boiler_and_is_never_vented() -> None:
    """Wind 600 kW, load 100 kW, heat demand 90 kW for one hour, anti-backflow: every plan that imports
    nothing costs 0, so only the tie-breaks choose. The heat pump would take 30 kW (COP 3) and leave
    470 kWh curtailed; the boiler (η 0.9) takes 100 kW: 400 kWh curtailed, the plan that curtails least.
    Running the boiler at its 500 kW and venting the 360 kW of heat beyond the demand would curtail
    nothing more of value: the dump's penalty (0.01 CNY/kWh of heat) outweighs the credit for using wind
    (0.001 CNY/kWh), so nothing is vented."""
    park = heat_park()
    del park["thermal_stores"]
    park["grid"]["export_rule"] = "anti_backflow"
    park["electric_boilers"] = {"eb1": {"bus": "main", "heat_bus": "steam", "max_elec_kw": 500, "efficiency": 0.9}}
    park["wind_turbines"] = {"wt1": {"bus": "main", "hub_height_m": 30, "power_curve": {
        "wind_speed_m_per_s": [3.0, 12.0, 25.0], "p_kw": [0.0, 1000.0, 1000.0]}}}
    inputs = make_inputs(park, [100.0], heat_kw={"steam": [90.0]}, wind_kw=[600.0])
    result = run_strategy(inputs, "optimal")
    s, k = result.schedule, result.kpis
    assert k["total_cost_cny"] == pytest.approx(0.0, abs=1e-9)
    assert s["eb1.elec_kw"].tolist() == pytest.approx([100.0])
    assert s["hp1.elec_kw"].tolist() == pytest.approx([0.0], abs=1e-9)
    assert k["heat_dumped_kwh"] == pytest.approx(0.0, abs=1e-9)
    assert k["renewable_curtailment_kwh"] == pytest.approx(400.0)
    # Without control the heat pump follows the demand: 30 kW, 470 kWh curtailed.
    assert run_strategy(inputs, "no-control").kpis["renewable_curtailment_kwh"] == pytest.approx(470.0)
