"""Wind turbine groups in the park's pandapower network: a static generator each, with its converters' reactive power."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import math
import warnings
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid.case import Case, park_from_dict
from microgrid.errors import InvalidParkError
from microgrid.network import build_network, injections_mw, validate_schedule
from microgrid.timeseries import write_timeseries_csv
from tests.service.helpers import TINY_WIND_PARK, one_line_error, run, windy_nights, write_tiny_case

CASE_DIR = Path(__file__).resolve().parents[2] / "cases" / "zhengzhou_park"
TZ = "Asia/Shanghai"
CURVE = {"wind_speed_m_per_s": [3.0, 12.0, 25.0], "p_kw": [0.0, 2000.0, 2000.0]}
#: Power balances of a converged power flow hold to pandapower's convergence tolerance (1e-8 MVA of
#: mismatch at each bus), summed over the buses: 1e-3 kW (1e-3 kvar) is ample.
PF_TOL_KW = 1e-3


def _one_line_config(**wind) -> dict:
    """A unity-power-factor load and a 2-MW turbine group at the end of a 1 Ω resistive 10 kV line."""
    return {
        "site": {"name": "one line with wind", "latitude_deg": 34.75, "longitude_deg": 113.63},
        "grid": {"max_import_kw": 5000, "max_export_kw": 2000},
        "tariff": {"preset": "henan_2024"},
        "network": {"buses": {"pcc": {"vn_kv": 10}, "b": {"vn_kv": 10}},
                    "lines": {"l1": {"from_bus": "pcc", "to_bus": "b", "length_km": 1, "r_ohm_per_km": 1.0,
                                     "x_ohm_per_km": 0.0, "max_i_ka": 0.1}},
                    "load_power_factor": 1.0},
        "loads": {"l1": {"bus": "b", "profile": "l1_kw"}},
        "wind_turbines": {"wt1": {"bus": "b", "hub_height_m": 80, "power_curve": CURVE, **wind}},
    }


def _schedule(load_kw, wind_kw) -> pd.DataFrame:
    index = pd.date_range("2026-07-15", periods=len(load_kw), freq="15min", tz=TZ, name="timestamp")
    return pd.DataFrame({"l1.load_kw": load_kw, "wt1.used_kw": wind_kw}, index=index, dtype=float)


def _receiving_end_kv(p_mw: float, v1_kv: float = 10.0, r_ohm: float = 1.0) -> float:
    """V2 of P = V2 (V1 − V2) / R, the bus at the end of a resistive line consuming ``p_mw`` (< 0: producing)."""
    return (v1_kv + math.sqrt(v1_kv ** 2 - 4 * r_ohm * p_mw)) / 2


def _grid_import(net, injections, t: int, init: str = "flat") -> tuple[float, float, float]:
    """Active [kW] and reactive [kvar] power the ext_grid supplies at step ``t``, and the branch losses [kW].

    Plain ``pandapower.runpp``, from a flat start (its DC start fails on a line without reactance) or,
    across transformers with a phase shift, ``init="auto"``.
    """
    injections.apply(net, t)
    pp.runpp(net, numba=False, init=init)
    losses_kw = (net.res_line["pl_mw"].sum() + net.res_trafo["pl_mw"].sum()) * 1000
    return float(net.res_ext_grid["p_mw"].sum() * 1000), float(net.res_ext_grid["q_mvar"].sum() * 1000), losses_kw


# --------------------------------------------------------------------------- the element and its injections


def test_each_wind_group_is_a_static_generator_of_type_wp_at_its_bus() -> None:
    config = _one_line_config()
    config["pv_arrays"] = {"pv1": {"bus": "pcc", "dc_capacity_kw": 500, "ac_capacity_kw": 400}}
    config["wind_turbines"]["wt2"] = {"bus": "pcc", "hub_height_m": 80, "power_curve": CURVE}
    park = park_from_dict(config)
    net = build_network(park)
    sgen = net.sgen.set_index("name")
    assert list(net.sgen["name"]) == ["pv1", "wt1", "wt2"]          # PV first, then wind, in the park's order
    assert list(sgen["type"]) == ["PV", "WP", "WP"]
    bus_name = net.bus["name"]
    assert bus_name[sgen.at["wt1", "bus"]] == "b" and bus_name[sgen.at["wt2", "bus"]] == "pcc"
    assert (net.sgen["p_mw"] == 0).all() and len(net.gen) == 0


def test_injections_of_a_hand_checkable_schedule() -> None:
    """800 kW at power factor 0.8 absorbing: tan(acos 0.8) = 0.75, so 0.8 MW and −0.6 Mvar (generator convention).

    Injecting flips the sign; within a 2,000 kVA rating 1,500 kW keeps its 1,125 kvar (√(2000² − 1500²) =
    1,323 kvar are left) but 1,900 kW has only √(2000² − 1900²) = 624.5 kvar left.
    """
    schedule = _schedule([1000.0, 1000.0, 1000.0], [0.0, 800.0, 1500.0])
    park = park_from_dict(_one_line_config(power_factor=0.8))
    net = build_network(park)
    injections = injections_mw(park, net, schedule)
    assert injections.sgen_p_mw[:, 0] == pytest.approx([0.0, 0.8, 1.5])
    assert injections.sgen_q_mvar[:, 0] == pytest.approx([0.0, -0.6, -1.125])
    injections.apply(net, 1)
    assert net.sgen.at[0, "p_mw"] == pytest.approx(0.8) and net.sgen.at[0, "q_mvar"] == pytest.approx(-0.6)
    rated = park_from_dict(_one_line_config(power_factor=0.8, sn_kva=2000.0, reactive_mode="inject"))
    q = injections_mw(rated, build_network(rated), schedule).sgen_q_mvar[:, 0]
    assert q == pytest.approx([0.0, 0.6, 1.125])
    capped = park_from_dict(_one_line_config(power_factor=0.8, sn_kva=2000.0))
    q = injections_mw(capped, build_network(capped), _schedule([0.0], [1900.0])).sgen_q_mvar[:, 0]
    assert q == pytest.approx([-math.sqrt(2.0 ** 2 - 1.9 ** 2)])


def test_the_networks_wind_power_factor_is_the_default() -> None:
    config = _one_line_config()
    config["network"]["wind_power_factor"] = 0.8
    park = park_from_dict(config)
    schedule = _schedule([0.0], [400.0])
    assert injections_mw(park, build_network(park), schedule).sgen_q_mvar[0, 0] == pytest.approx(-0.3)
    config["wind_turbines"]["wt1"]["power_factor"] = 1.0           # its own power factor wins
    park = park_from_dict(config)
    assert injections_mw(park, build_network(park), schedule).sgen_q_mvar[0, 0] == pytest.approx(0.0)
    assert park_from_dict(_one_line_config()).network.wind_power_factor == 1.0


# --------------------------------------------------------------------------- power flow by hand


@pytest.mark.parametrize("engine", ["lightsim2grid", "pandapower"])
def test_power_flow_with_wind_by_hand(engine) -> None:
    """Load 1 MW at the line's end, wind 0, 0.8 and 1.5 MW: the bus takes P = 1, 0.2, −0.5 MW.

    V2 = (V1 + √(V1² − 4 R P)) / 2 and losses (V1 − V2)² / R: wind lowers the drop and then raises the
    voltage above the grid's; the current, and with it the loading, is |P| / (√3 V2).
    """
    park = park_from_dict(_one_line_config())
    report = validate_schedule(park, _schedule([1000.0, 1000.0, 1000.0], [0.0, 800.0, 1500.0]), engine=engine)
    for t, p_mw in enumerate([1.0, 0.2, -0.5]):
        v2_kv = _receiving_end_kv(p_mw)
        step = report.steps.iloc[t]
        vm = step["max_vm_pu"] if p_mw < 0 else step["min_vm_pu"]
        assert vm == pytest.approx(v2_kv / 10, abs=1e-7), t
        assert step["losses_kw"] == pytest.approx((10 - v2_kv) ** 2 * 1000, rel=1e-6), t
        assert step["max_line_loading_pct"] == pytest.approx(abs(p_mw) / (math.sqrt(3) * v2_kv) / 0.1 * 100, rel=1e-6)
    assert report.steps["max_vm_pu"].iloc[2] > 1.0


def test_wind_lowers_the_import_at_the_grid_by_its_output_less_the_loss_change() -> None:
    """At the ext_grid: 1 MW + losses without wind, 0.2 MW + losses with 800 kW of wind (hand-computed V2).

    The drop is the wind's 800 kW less the change of the losses (negative here: less current, lower
    losses, so the import falls by more than the wind gives); the 600 kvar it absorbs at
    power factor 0.8 come from the grid (the line has no reactance: no reactive losses).
    """
    park = park_from_dict(_one_line_config(power_factor=0.8))
    net = build_network(park)
    injections = injections_mw(park, net, _schedule([1000.0, 1000.0], [0.0, 800.0]))
    without_kw, without_kvar, loss_without_kw = _grid_import(net, injections, 0)
    with_kw, with_kvar, loss_with_kw = _grid_import(net, injections, 1)
    assert loss_without_kw == pytest.approx((10 - _receiving_end_kv(1.0)) ** 2 * 1000, rel=1e-6)
    assert without_kw == pytest.approx(1000.0 + loss_without_kw, abs=PF_TOL_KW)
    assert without_kvar == pytest.approx(0.0, abs=PF_TOL_KW)
    assert with_kw == pytest.approx(200.0 + loss_with_kw, abs=PF_TOL_KW)
    assert with_kvar == pytest.approx(600.0, abs=PF_TOL_KW)
    assert without_kw - with_kw == pytest.approx(800.0 - (loss_with_kw - loss_without_kw), abs=PF_TOL_KW)
    assert 0 < loss_with_kw < loss_without_kw


@functools.lru_cache(maxsize=1)
def _one_line_net():
    return build_network(park_from_dict(_one_line_config()))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(load_kw=st.floats(0, 2000), wind_kw=st.floats(0, 2000), pf=st.floats(0.8, 1.0),
       mode=st.sampled_from(["absorb", "inject"]))
def test_grid_supplies_load_less_wind_plus_losses(load_kw, wind_kw, pf, mode) -> None:
    """Any load and wind output: ext_grid P = load − wind + losses, Q = load's Q − the wind's Q (no reactance)."""
    park = park_from_dict(_one_line_config(power_factor=pf, reactive_mode=mode))
    net = _one_line_net()                      # the same buses and elements whatever the power factor
    injections = injections_mw(park, net, _schedule([load_kw, load_kw], [wind_kw, 0.0]))
    p_kw, q_kvar, losses_kw = _grid_import(net, injections, 0)
    q_wind_kvar = wind_kw * math.tan(math.acos(pf)) * (1 if mode == "inject" else -1)
    assert p_kw == pytest.approx(load_kw - wind_kw + losses_kw, abs=PF_TOL_KW)
    assert q_kvar == pytest.approx(-q_wind_kvar, abs=PF_TOL_KW)
    no_wind_kw, _, no_wind_losses_kw = _grid_import(net, injections, 1)
    assert no_wind_kw - p_kw == pytest.approx(wind_kw - (losses_kw - no_wind_losses_kw), abs=PF_TOL_KW)


# --------------------------------------------------------------------------- real data


def _reference_with_wind() -> Case:
    """The reference park with an Enercon E-82/2350 (windpowerlib's library) on workshop 4's 10 kV bus."""
    config = yaml.safe_load((CASE_DIR / "park.yaml").read_text())
    config["wind_turbines"] = {"wt1": {"bus": "ws4_mv", "turbine_type": "E-82/2350", "hub_height_m": 108}}
    return Case(park=park_from_dict(config), folder=CASE_DIR)


@pytest.fixture(scope="module")
def reference_plan():
    from dispatch.day_ahead import plan_day_ahead

    case = _reference_with_wind()
    return case, plan_day_ahead(case, dt.date(2026, 7, 15))


def test_reference_park_with_wind_in_its_power_flows(reference_plan) -> None:
    """The case's weather through windpowerlib: the plan's wind is injected at ws4_mv at every step."""
    case, plan = reference_plan
    park, schedule = case.park, plan.schedule
    assert schedule["wt1.used_kw"].sum() > 0
    net = build_network(park)
    assert list(net.sgen["name"]) == [*park.pv_arrays, "wt1"] and net.sgen["type"].iloc[-1] == "WP"
    assert net.bus.at[net.sgen["bus"].iloc[-1], "name"] == "ws4_mv"
    injections = injections_mw(park, net, schedule)
    assert injections.sgen_p_mw[:, -1] == pytest.approx(schedule["wt1.used_kw"].to_numpy() / 1000)
    report = validate_schedule(park, schedule, net)
    assert report.steps["converged"].all() and report.kpis["network_violations"] == 0
    # At the windiest steps, the grid supplies less than without the turbine by its output less the loss change.
    calm = schedule.copy()
    calm["wt1.used_kw"] = 0.0
    calm_injections = injections_mw(park, net, calm)
    for t in np.argsort(schedule["wt1.used_kw"].to_numpy())[-3:]:
        with_kw, _, loss_with_kw = _grid_import(net, injections, int(t))
        without_kw, _, loss_without_kw = _grid_import(net, calm_injections, int(t))
        wind_kw = schedule["wt1.used_kw"].iloc[t]
        assert without_kw - with_kw == pytest.approx(wind_kw - (loss_with_kw - loss_without_kw), abs=PF_TOL_KW)
        assert abs(loss_without_kw - loss_with_kw) < 0.05 * wind_kw


@pytest.fixture(scope="module")
def simbench_folder(tmp_path_factory) -> Path:
    """SimBench's rural MV grid (1-MV-rural--0-sw, from the simbench package) as a pandapower JSON file."""
    import simbench as sb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = sb.get_simbench_net("1-MV-rural--0-sw")
    folder = tmp_path_factory.mktemp("simbench")
    pp.to_json(net, str(folder / "grid.json"))
    wind_bus = net.bus.at[net.sgen.set_index("name").at["MV1.101 MV SGen 2", "bus"], "name"]
    (folder / "buses.yaml").write_text(yaml.safe_dump({"grid": str(net.bus.at[net.ext_grid.at[0, "bus"], "name"]),
                                                       "wind": str(wind_bus)}))
    return folder


def _simbench_config(folder: Path) -> dict:
    """A 2-MW turbine group where SimBench has its 2-MW wind park 'MV1.101 MV SGen 2', a 1-MW load on bus 4."""
    buses = yaml.safe_load((folder / "buses.yaml").read_text())
    return {
        "site": {"name": "rural MV", "latitude_deg": 34.75, "longitude_deg": 113.63},
        "grid": {"bus": buses["grid"], "max_import_kw": 5000},
        "tariff": {"preset": "henan_2024"},
        "network": {"pandapower_json": "grid.json", "bus_names": {"wind": buses["wind"], "plant": "MV1.101 Bus 4"},
                    "wind_power_factor": 0.95},
        "loads": {"l1": {"bus": "plant", "profile": "l1_kw"}},
        "wind_turbines": {"wt1": {"bus": "wind", "hub_height_m": 80, "power_curve": CURVE}},
    }


def test_wind_group_on_a_simbench_grid_replaces_its_generators(simbench_folder: Path) -> None:
    config = _simbench_config(simbench_folder)
    park = park_from_dict(config)
    net = build_network(park, simbench_folder)
    assert list(net.sgen["name"]) == ["wt1"] and net.sgen.at[0, "type"] == "WP"      # SimBench's 102 removed
    assert net.bus.at[net.sgen.at[0, "bus"], "name"] == config["network"]["bus_names"]["wind"]
    schedule = _schedule([1000.0, 1000.0], [1800.0, 0.0])
    injections = injections_mw(park, net, schedule)
    assert injections.sgen_q_mvar[0, 0] == pytest.approx(-1.8 * math.tan(math.acos(0.95)))
    with_kw, _, loss_with_kw = _grid_import(net, injections, 0, init="auto")      # Dyn5 (150°) transformers
    without_kw, _, loss_without_kw = _grid_import(net, injections, 1, init="auto")
    assert without_kw - with_kw == pytest.approx(1800.0 - (loss_with_kw - loss_without_kw), abs=PF_TOL_KW)
    report = validate_schedule(park, schedule, net)
    assert report.engine == "pandapower" and report.steps["converged"].all()     # SimBench's switches


# --------------------------------------------------------------------------- bad input, named


@pytest.mark.parametrize("change, message", [
    (lambda c: c["network"].update(wind_power_factor=1.2),
     "network.wind_power_factor: Input should be less than or equal to 1 (got 1.2)"),
    (lambda c: c["network"].update(wind_power_factor=0),
     "network.wind_power_factor: Input should be greater than 0 (got 0)"),
    (lambda c: c["network"].update(wind_power_factr=0.9),
     "network.wind_power_factr: unknown field; did you mean 'wind_power_factor'?"),
    (lambda c: c["wind_turbines"]["wt1"].update(power_factor=1.5),
     "wind_turbines.wt1.power_factor: Input should be less than or equal to 1 (got 1.5)"),
    (lambda c: c["wind_turbines"]["wt1"].update(reactive_mode="sideways"),
     "wind_turbines.wt1.reactive_mode: Input should be 'absorb' or 'inject' (got 'sideways')"),
    (lambda c: c["wind_turbines"]["wt1"].update(sn_kva=1500),
     "wind_turbines.wt1: sn_kva 1500 kVA is below the 2000 kW the group can give"),
    (lambda c: c["wind_turbines"]["wt1"].update(bus="hill"),
     "wind_turbines.wt1.bus: bus 'hill' is not in network.buses; use one of pcc, b"),
])
def test_bad_wind_network_fields_are_named(change, message) -> None:
    config = copy.deepcopy(_one_line_config())
    change(config)
    with pytest.raises(InvalidParkError) as error:
        park_from_dict(config)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_wind_group_on_a_bus_the_json_lacks_is_named(simbench_folder: Path) -> None:
    config = _simbench_config(simbench_folder)
    config["network"]["bus_names"]["wind"] = "MV1.101 Bus 999"
    with pytest.raises(InvalidParkError, match=r"^wind_turbines.wt1.bus: bus 'wind' \(network.bus_names maps it to "
                                               r"'MV1.101 Bus 999'\) is not a bus of grid.json"):
        build_network(park_from_dict(config), simbench_folder)


def test_schedule_without_the_wind_column_is_refused() -> None:
    park = park_from_dict(_one_line_config())
    schedule = _schedule([1000.0], [0.0]).drop(columns="wt1.used_kw")
    with pytest.raises(InvalidParkError, match=r"^schedule: no column 'wt1.used_kw' \(and 0 more\)"):
        injections_mw(park, build_network(park), schedule)


def _tiny_wind_case(folder: Path, **network) -> Path:
    park = copy.deepcopy(TINY_WIND_PARK)
    park["network"] = {"buses": {"pcc": {"vn_kv": 0.4}}, **network}
    return write_tiny_case(folder, park, wind=windy_nights)


def test_schedule_and_network_check_of_a_wind_park(tmp_path: Path) -> None:
    """``microgrid schedule`` checks the plan with its wind in AC; ``network check`` reads the wind column back."""
    case = _tiny_wind_case(tmp_path / "case", wind_power_factor=0.95)
    out = tmp_path / "out"
    result = run("schedule", str(case), "--date", "2026-07-15", "--out", str(out), "--no-plot")
    assert result.exit_code == 0, result.output
    schedule = pd.read_csv(out / "schedule.csv")
    assert schedule["wt1.used_kw"].max() > 0
    network = pd.read_csv(out / "network.csv")
    assert network["converged"].all()
    check = run("network", "check", str(case), "--schedule", str(out / "schedule.csv"))
    assert check.exit_code == 0, check.output
    assert "network_violations" in check.output
    schedule.drop(columns="wt1.used_kw").to_csv(tmp_path / "no_wind.csv", index=False)
    one_line_error(run("network", "check", str(case), "--schedule", str(tmp_path / "no_wind.csv")),
                   "schedule: no column 'wt1.used_kw'")


def test_bad_wind_power_factor_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    case = _tiny_wind_case(tmp_path / "case", wind_power_factor=1.2)
    schedule = write_timeseries_csv(_schedule([0.0], [0.0]), tmp_path / "schedule.csv")
    one_line_error(run("network", "check", str(case), "--schedule", str(schedule)),
                   "network.wind_power_factor: Input should be less than or equal to 1 (got 1.2)")
