"""Network constraints in the MILP: sensitivities, the stress case, binding voltage and loading limits (wind too)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from dispatch.day_ahead import plan_day_ahead, write_outputs
from dispatch.network import controlled_columns, linearization_columns
from dispatch.network_aware import plan_network_aware
from microgrid.case import load_case, park_from_dict
from microgrid.errors import InvalidParkError
from microgrid.network import build_network, linearize_schedule, validate_schedule
from tests.conftest import make_inputs, two_price_park

CASES = Path(__file__).resolve().parents[2] / "cases"


@pytest.fixture(scope="module")
def reference():
    case = load_case(CASES / "zhengzhou_park")
    return case, plan_day_ahead(case, dt.date(2026, 7, 15))


def test_sensitivities_agree_with_ac_power_flow_for_small_changes(reference) -> None:
    """Every controlled column moved at once by a seeded ±30 kW (kept ≥ 0): the linear model tracks AC.

    Tolerances: 0.05 % of loading, 5e-5 p.u., 0.05 kW of losses, against AC changes
    of up to 3 % of loading, 9e-4 p.u. and 1 kW (checked, so that a zero
    sensitivity would fail).
    """
    case, plan = reference
    park = case.park
    net = build_network(park)
    columns = linearization_columns(controlled_columns(park))
    lin = linearize_schedule(park, net, plan.schedule, columns)
    rng = np.random.default_rng(7)
    moved = plan.schedule.copy()
    dx = rng.uniform(-30.0, 30.0, size=(len(moved), len(columns)))
    for k, column in enumerate(columns):      # powers stay ≥ 0: |p| has a kink at 0 (reactive power)
        moved[column] = (moved[column] + dx[:, k]).clip(lower=0.0)
        dx[:, k] = moved[column] - plan.schedule[column]
    predicted, predicted_losses = lin.predict(lin.point_kw + dx)
    report = validate_schedule(park, moved, net)
    from microgrid.network import injections_mw, run_lightsim2grid

    ac = run_lightsim2grid(net, injections_mw(park, net, moved))
    actual = np.concatenate([ac.vm_pu, ac.line_loading_pct, ac.trafo_loading_pct], axis=1)
    is_vm = np.array([q[2] == "vm_pu" for q in lin.quantities])
    change = np.abs(actual - lin.value)
    assert change[:, ~is_vm].max() > 1.0 and change[:, is_vm].max() > 5e-4
    assert np.abs(ac.losses_kw - lin.losses_kw).max() > 0.5
    # Loading is |S| = √(P² + Q²): where P is small against Q (a transformer whose PV balances its load,
    # 14 % loaded) it curves sharply and 30 kW moves it 0.2 % off its tangent. The limits are at 100 %:
    # the test holds the linear model to the branches loaded above 30 %.
    loaded = ~is_vm & (lin.value > 30.0)
    assert loaded[:, ~is_vm].mean() > 0.2
    error = np.where(loaded, np.abs(predicted - actual), 0.0)
    t, q = np.unravel_index(np.argmax(error), error.shape)
    assert error.max() < 0.05, (lin.quantities[q], t, lin.value[t, q], actual[t, q], predicted[t, q])
    assert np.abs(predicted - actual)[:, is_vm].max() < 5e-5
    assert np.abs(predicted_losses - ac.losses_kw).max() < 0.05
    assert report.steps["converged"].all()


def test_loss_sensitivity_of_one_cable_by_hand() -> None:
    """One cable, one load at power factor 1: losses 3 I² R and their derivative by hand."""
    config = voltage_park(max_charge_kw=0.0)
    config["network"]["load_power_factor"] = 1.0
    inputs = make_inputs(config, [100.0, 100.0])
    plan = plan_network_aware(inputs, losses=False, max_iterations=1).unaware
    park = inputs.park
    net = build_network(park)
    lin = linearize_schedule(park, net, plan.schedule, ["l1.load_kw"], delta_kw=0.01)
    vm = lin.value[0, lin.quantities.index(("bus", "main", "vm_pu"))]
    r_ohm = 0.208 * 0.3
    current_ka = 0.1 / (np.sqrt(3) * 0.4 * vm)
    assert lin.losses_kw[0] == pytest.approx(3 * current_ka ** 2 * r_ohm * 1000, rel=1e-3)
    # L = R p² / V² with V falling by R p / V: ∂L/∂p = (2 R p / V²)(1 + R p / V²) [MW/MW]
    v_kv, p_mw = 0.4 * vm, 0.1
    assert lin.loss_sens[0, 0] == pytest.approx(2 * r_ohm * p_mw / v_kv ** 2 * (1 + r_ohm * p_mw / v_kv ** 2),
                                                rel=5e-3)


@pytest.fixture(scope="module")
def stress():
    case = load_case(CASES / "zhengzhou_park_constrained")
    inputs_day = dt.date(2026, 7, 15)
    from dispatch.inputs import day_ahead_inputs

    return case, plan_network_aware(day_ahead_inputs(case, inputs_day), folder=case.folder)


def test_stress_case_unaware_plan_overloads_workshop_1_and_aware_plan_passes(stress) -> None:
    case, plan = stress
    over = plan.unaware_report.violations
    assert len(over) > 0 and set(over["name"]) == {"t_ws1"} and (over["value"] > 100.0).all()
    assert plan.converged and plan.report.kpis["network_violations"] == 0
    assert plan.report.steps["converged"].all()
    assert (plan.report.steps["max_trafo_loading_pct"] <= case.park.network.max_trafo_loading_pct).all()
    assert 1 <= len(plan.iterations) - 1 <= case.park.network.max_iterations
    assert plan.iterations[0].violations == len(over) and plan.iterations[-1].violations == 0
    # Limits and losses cost money: more than the unaware plan, by less than 2 %.
    assert 0 < plan.cost_increase_cny < 0.02 * plan.unaware.kpis["total_cost_cny"]
    assert plan.result.kpis["network_cost_increase_cny"] == pytest.approx(plan.cost_increase_cny)
    assert not plan.result.slack


def test_aware_schedule_balances_with_the_planned_losses(stress) -> None:
    _, plan = stress
    s = plan.result.schedule
    supply = s["pv_used_kw"] + s["grid_import_kw"] + s["battery_discharge_kw"]
    demand = s["load_kw"] + s["battery_charge_kw"] + s["grid_export_kw"]
    assert np.abs(supply - demand).max() < 1e-3
    # The planned losses, linearized around the previous plan, are the AC losses of the plan to 15 % over
    # the day (9 % here: losses are convex, so a tangent taken where the plan moved from underestimates them).
    assert s["network_losses_kw"].sum() == pytest.approx(plan.report.steps["losses_kw"].sum(), rel=0.15)


def test_day_ahead_plan_of_a_constrained_case_is_network_aware(tmp_path: Path) -> None:
    case = load_case(CASES / "zhengzhou_park_constrained")
    result = plan_day_ahead(case, dt.date(2026, 7, 15))
    assert result.kpis["network_aware"] and result.kpis["network_converged"]
    assert result.kpis["network_violations"] == 0 and result.kpis["network_unaware_violations"] > 0
    paths = write_outputs(result, tmp_path, plot=False)
    rounds = paths["network_iterations"].read_text().splitlines()
    assert rounds[0].startswith("iteration,total_cost_cny,violations")
    assert len(rounds) == 1 + 1 + result.kpis["network_iterations"]


def voltage_park(**battery) -> dict:
    """A battery and a 100 kW load at the end of 300 m of NAYY 4x150 SE cable on 0.4 kV."""
    config = two_price_park(**battery)
    config["grid"]["bus"] = "pcc"
    config["network"] = {
        "buses": {"pcc": {"vn_kv": 0.4}, "main": {"vn_kv": 0.4}},
        "lines": {"cable": {"from_bus": "pcc", "to_bus": "main", "length_km": 0.3, "std_type": "NAYY 4x150 SE"}},
        "load_power_factor": 0.95,
        "max_line_loading_pct": 400.0,      # the voltage alone limits this case
        "constrained": True,
    }
    return config


def test_voltage_limit_binds_in_a_case_built_for_it() -> None:
    """The valley's cheap charging would pull the far bus below 0.95 p.u.; the aware plan charges up to it."""
    inputs = make_inputs(voltage_park(), [100.0, 100.0])
    plan = plan_network_aware(inputs)
    assert plan.unaware_report.kpis["min_vm_pu"] < 0.94
    assert plan.converged
    assert 0.95 <= plan.report.kpis["min_vm_pu"] <= 0.955            # binding, within its margin
    charged = plan.result.schedule["b1.charge_kw"]
    assert 0 < charged.iloc[0] < plan.unaware.schedule["b1.charge_kw"].iloc[0]
    assert plan.cost_increase_cny > 0


#: A 400-kW turbine of its own power curve (the wind given directly in the inputs).
SMALL_TURBINE = {"bus": "main", "hub_height_m": 30,
                 "power_curve": {"wind_speed_m_per_s": [3.0, 12.0, 25.0], "p_kw": [0.0, 400.0, 400.0]}}


def wind_voltage_park(**network) -> dict:
    """:func:`voltage_park` without its battery and with a turbine at the far bus, exporting ≤ 500 kW at 0.3779."""
    config = voltage_park()
    config["batteries"] = {}
    config["grid"]["max_export_kw"] = 500
    config["tariff"]["export_price_cny_per_kwh"] = 0.3779
    config["wind_turbines"] = {"wt1": SMALL_TURBINE}
    config["network"].update(network)
    return config


def _wind_plan(**network):
    """300 kW of wind and a 20-kW load at the far bus for two hours: 280 kW exported over 300 m of cable."""
    return plan_network_aware(make_inputs(wind_voltage_park(**network), [20.0, 20.0], wind_kw=[300.0, 300.0]))


def test_wind_sensitivities_are_those_of_the_load_at_its_bus_reversed() -> None:
    """At unity power factor a kW of wind at the far bus is a kW less of its load: the opposite sensitivities.

    Forward differences of 0.01 kW around 150 kW of wind and a 20-kW load: equal and opposite to 1e-4
    relative (the curvature over 0.01 kW). Wind raises the far bus's voltage, then (as an export) loads the
    cable and its losses more.
    """
    config = wind_voltage_park()
    config["network"]["load_power_factor"] = 1.0
    inputs = make_inputs(config, [20.0, 20.0], wind_kw=[150.0, 150.0])
    plan = plan_network_aware(inputs, losses=False, max_iterations=1).unaware
    park = inputs.park
    lin = linearize_schedule(park, build_network(park), plan.schedule, ["wt1.used_kw", "l1.load_kw"], delta_kw=0.01)
    wind, load = lin.sens[:, :, 0], lin.sens[:, :, 1]
    np.testing.assert_allclose(wind, -load, rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(lin.loss_sens[:, 0], -lin.loss_sens[:, 1], rtol=1e-4)
    far = lin.quantities.index(("bus", "main", "vm_pu"))
    cable = lin.quantities.index(("line", "cable", "loading_pct"))
    assert (wind[:, far] > 0).all() and (wind[:, cable] > 0).all() and (lin.loss_sens[:, 0] > 0).all()


def test_voltage_rise_from_wind_is_kept_by_curtailing_it() -> None:
    """Exporting 280 kW raises the far bus to 1.098 p.u.; the aware plan curtails wind down to 1.05 p.u.

    The cost of the limit is the export revenue lost, by hand: the kWh no longer exported × 0.3779 CNY/kWh
    (nothing is imported in either plan).
    """
    assert [c.name for c in controlled_columns(park_from_dict(wind_voltage_park()))] == ["wt1.used_kw"]
    plan = _wind_plan()
    assert plan.unaware_report.kpis["max_vm_pu"] > 1.09
    assert plan.unaware.schedule["wt1.used_kw"].tolist() == pytest.approx([300.0, 300.0])
    assert plan.converged and plan.report.steps["converged"].all()
    assert 1.04 <= plan.report.kpis["max_vm_pu"] <= 1.05                      # binding, within its margin
    aware, unaware = plan.result.schedule, plan.unaware.schedule
    assert (aware["wind_curtailment_kw"] > 100.0).all()
    assert aware["grid_import_kw"].sum() == pytest.approx(0.0, abs=1e-6)
    lost_kwh = (unaware["grid_export_kw"] - aware["grid_export_kw"]).sum() * 1.0       # 1-h steps
    assert plan.cost_increase_cny == pytest.approx(lost_kwh * 0.3779, abs=1e-4)
    assert not plan.result.slack


def test_wind_absorbing_reactive_power_may_export_more_within_the_voltage_band() -> None:
    """At power factor 0.95 (under-excited) the turbine lowers its own voltage rise: less is curtailed."""
    unity, absorbing = _wind_plan(), _wind_plan(wind_power_factor=0.95)
    assert absorbing.converged and absorbing.report.kpis["max_vm_pu"] <= 1.05
    assert absorbing.unaware_report.kpis["max_vm_pu"] < unity.unaware_report.kpis["max_vm_pu"]
    assert (absorbing.result.schedule["wt1.used_kw"] > unity.result.schedule["wt1.used_kw"] + 10.0).all()
    assert absorbing.cost_increase_cny < unity.cost_increase_cny


def test_line_loading_from_wind_is_kept_by_curtailing_it() -> None:
    """With a wide voltage band the cable's ampacity binds: 136 % loaded unaware, at most 100 % aware."""
    plan = _wind_plan(max_vm_pu=1.2, max_line_loading_pct=100.0)
    assert plan.unaware_report.kpis["max_line_loading_pct"] > 130.0
    assert set(plan.unaware_report.violations["name"]) == {"cable"}
    assert plan.converged and plan.report.kpis["network_violations"] == 0
    assert 95.0 <= plan.report.kpis["max_line_loading_pct"] <= 100.0
    assert plan.report.kpis["max_vm_pu"] > 1.05                              # the band no longer binds
    assert (plan.result.schedule["wind_curtailment_kw"] > 50.0).all()


def test_day_ahead_plan_of_the_stress_case_with_wind_keeps_the_limits_in_ac() -> None:
    """The stress case with an E-82/2350 on workshop 1's 10 kV bus, its wind from the case's weather.

    The wind enters the MILP's linearized rows and every AC check: the plan is AC-clean, and its
    power flow sees the planned wind at the turbine's bus.
    """
    import yaml

    from microgrid.case import Case
    from microgrid.network import injections_mw

    folder = CASES / "zhengzhou_park_constrained"
    config = yaml.safe_load((folder / "park.yaml").read_text())
    config["wind_turbines"] = {"wt1": {"bus": "ws1_mv", "turbine_type": "E-82/2350", "hub_height_m": 108}}
    case = Case(park=park_from_dict(config), folder=folder)
    result = plan_day_ahead(case, dt.date(2026, 7, 15))
    assert result.kpis["network_aware"] and result.kpis["network_converged"]
    assert result.kpis["network_violations"] == 0 and result.kpis["network_unaware_violations"] > 0
    schedule = result.schedule
    assert schedule["wt1.used_kw"].sum() > 0
    net = build_network(case.park, folder)
    sgen = list(net.sgen["name"]).index("wt1")
    assert injections_mw(case.park, net, schedule).sgen_p_mw[:, sgen] == pytest.approx(
        schedule["wt1.used_kw"].to_numpy() / 1000)
    report = validate_schedule(case.park, schedule, net)
    assert report.kpis["network_violations"] == 0
    assert (report.steps["max_trafo_loading_pct"] <= case.park.network.max_trafo_loading_pct).all()


def test_constrained_without_a_network_is_refused() -> None:
    config = two_price_park()
    config["network"] = {"constrained": True}
    with pytest.raises(InvalidParkError, match="constrained: true needs a network"):
        park_from_dict(config)


def test_rolling_horizon_plans_network_aware_when_the_case_enables_it() -> None:
    """Two re-plans in the stress case's overload hours: each window iterates to an AC-clean plan."""
    import pandas as pd

    from dispatch.rolling import RollingConfig, run_rolling_horizon

    case = load_case(CASES / "zhengzhou_park_constrained")
    tz = case.park.site.timezone
    start = pd.Timestamp("2026-07-15 09:00", tz=tz)
    config = RollingConfig(strategy="perfect-foresight", horizon_h=6, replan_h=1)
    aware = run_rolling_horizon(case, start, start + pd.Timedelta(hours=2), config)
    windows = aware.windows
    assert (windows["method"] == "network").all() and windows["network_converged"].all()
    net = build_network(case.park, case.folder)
    assert validate_schedule(case.park, aware.schedule, net).kpis["network_violations"] == 0
    assert (aware.schedule["network_losses_kw"] > 0).all()
    assert (windows["network_iterations"] >= 1).all() and (windows["network_violations"] == 0).all()
