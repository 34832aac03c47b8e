"""The park's pandapower network and the AC power flow of schedules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dispatch.day_ahead import plan_day_ahead
from microgrid.case import load_case, park_from_dict
from microgrid.errors import InvalidParkError
from microgrid.network import build_network, validate_schedule
from tests.service.helpers import one_line_error, run

CASE_DIR = Path(__file__).resolve().parents[2] / "cases" / "zhengzhou_park"


@pytest.fixture(scope="module")
def case():
    return load_case(CASE_DIR)


@pytest.fixture(scope="module")
def plan(case):
    return plan_day_ahead(case, dt.date(2026, 7, 15))


def test_reference_network_has_every_element(case) -> None:
    net = build_network(case.park)
    spec = case.park.network
    assert len(net.bus) == len(spec.buses) and len(net.line) == len(spec.lines)
    assert len(net.trafo) == len(spec.transformers) and len(net.ext_grid) == 1
    assert len(net.sgen) == len(case.park.pv_arrays) and len(net.storage) == len(case.park.batteries)
    # 2,500 kVA is 2.5 MVA: kW/kVA become MW/MVA at this boundary only; the case's type carries its data.
    t_ws1 = net.trafo.set_index("name").loc["t_ws1"]
    assert t_ws1["sn_mva"] == pytest.approx(2.5) and t_ws1["pfe_kw"] == pytest.approx(2.85)
    assert t_ws1["std_type"] == "cast-resin 2500 kVA 10/0.4 kV Dyn11"
    feeder = net.line.set_index("name").loc["feeder_office"]
    assert feeder["max_i_ka"] == pytest.approx(0.249) and feeder["df"] == pytest.approx(0.8)


def test_power_flow_of_the_reference_plan(case, plan) -> None:
    """Losses are positive and small, voltages within ±5 %, and the grid supplies plan + losses."""
    report = validate_schedule(case.park, plan.schedule)
    steps = report.steps
    assert steps["converged"].all() and len(steps) == 96
    consumption = plan.schedule["load_kw"] + plan.schedule["battery_charge_kw"]
    assert (steps["losses_kw"] > 0).all()
    assert (steps["losses_kw"] < 0.03 * consumption).all()
    assert 0.95 <= report.kpis["min_vm_pu"] <= report.kpis["max_vm_pu"] <= 1.05
    assert report.kpis["network_violations"] == 0
    assert report.kpis["network_losses_kwh"] == pytest.approx(steps["losses_kw"].sum() * 0.25)


def test_overloaded_transformer_is_reported_by_element_and_step(case, plan) -> None:
    park = case.park.model_copy(deep=True)
    park.network.transformers["t_ws1"].std_type = "cast-resin 1000 kVA 10/0.4 kV Dyn11"  # under a 1.9 MW workshop
    report = validate_schedule(park, plan.schedule)
    over = report.violations[report.violations["name"] == "t_ws1"]
    assert len(over) > 0
    assert set(over["element"]) == {"trafo"} and set(over["quantity"]) == {"loading_pct"}
    assert (over["value"] > 100).all()
    assert report.kpis["max_trafo_loading_pct"] > 100


def test_island_without_a_source_is_named(case) -> None:
    config = yaml.safe_load((CASE_DIR / "park.yaml").read_text())
    del config["network"]["transformers"]["t_depot"]
    park = park_from_dict(config)
    with pytest.raises(InvalidParkError, match=r"network: bus\(es\) depot_lv have no path to the grid bus 'pcc'"):
        build_network(park)


def test_line_without_impedance_is_refused() -> None:
    config = yaml.safe_load((CASE_DIR / "park.yaml").read_text())
    config["network"]["lines"]["feeder_ws1"] = {"from_bus": "pcc", "to_bus": "ws1_mv", "length_km": 0.3,
                                                "r_ohm_per_km": 0, "x_ohm_per_km": 0, "max_i_ka": 0.4}
    with pytest.raises(InvalidParkError, match=r"network.lines.feeder_ws1: .*a line with no impedance"):
        park_from_dict(config)


def test_unknown_line_type_is_named() -> None:
    config = yaml.safe_load((CASE_DIR / "park.yaml").read_text())
    config["network"]["lines"]["feeder_ws1"]["std_type"] = "NA2XS2Y 1x999"
    with pytest.raises(InvalidParkError, match=r"network.lines.feeder_ws1.std_type: 'NA2XS2Y 1x999' is not"):
        build_network(park_from_dict(config))


def test_schedule_writes_network_csv_and_check_command(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    result = run("schedule", str(CASE_DIR), "--date", "2026-07-15", "--out", str(out), "--no-plot")
    assert result.exit_code == 0, result.output
    network = pd.read_csv(out / "network.csv")
    assert list(network.columns[:4]) == ["timestamp", "converged", "min_vm_pu", "max_vm_pu"]
    for column in ("max_line", "max_line_loading_pct", "max_trafo", "max_trafo_loading_pct", "losses_kw"):
        assert column in network.columns
    check = run("network", "check", str(CASE_DIR), "--schedule", str(out / "schedule.csv"))
    assert check.exit_code == 0, check.output
    assert "network_violations" in check.output


def test_check_of_a_schedule_from_another_park(tmp_path: Path) -> None:
    schedule = tmp_path / "schedule.csv"
    schedule.write_text("timestamp,grid_import_kw\n2026-07-15T00:00:00+08:00,1\n2026-07-15T00:15:00+08:00,1\n")
    one_line_error(run("network", "check", str(CASE_DIR), "--schedule", str(schedule)), "schedule: no column")


# --------------------------------------------------------------------------- fast engines, reactive power

import math  # noqa: E402

import numpy as np  # noqa: E402
import pandapower as pp  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from microgrid.network import injections_mw, reactive_kvar, run_lightsim2grid, run_pandapower  # noqa: E402


def _reactive_park(case):
    """The reference park (Dyn11 transformers with iron losses and magnetising current), reactive power everywhere."""
    park = case.park.model_copy(deep=True)
    park.loads["ws1"].power_factor = 0.85
    park.pv_arrays["pv_ws1"].power_factor = 0.9
    park.pv_arrays["pv_ws2"].power_factor, park.pv_arrays["pv_ws2"].reactive_mode = 0.95, "inject"
    park.batteries["b1"].power_factor = 0.9
    park.batteries["b2"].power_factor, park.batteries["b2"].reactive_mode = 0.9, "inject"
    return park


def test_fast_engines_agree_with_plain_runpp(case, plan) -> None:
    """lightsim2grid and recycled runpp give plain runpp's voltages, loadings and losses on a real plan.

    Tolerances: 1e-6 p.u., 1e-4 % of loading, 1e-3 kW of losses (both agree to about 1e-9 in fact).
    """
    park = _reactive_park(case)
    net = build_network(park)
    assert (net.trafo["pfe_kw"] > 0).all() and (net.trafo["i0_percent"] > 0).all()
    assert (net.trafo["shift_degree"] == 330).all() and (net.line["df"] == 0.8).all()
    injections = injections_mw(park, net, plan.schedule)
    fast = {"lightsim2grid": run_lightsim2grid(net, injections), "pandapower": run_pandapower(net, injections)}
    for t in range(0, 96, 4):
        injections.apply(net, t)
        pp.runpp(net, numba=False)
        losses_kw = (net.res_line["pl_mw"].sum() + net.res_trafo["pl_mw"].sum()) * 1000
        for name, result in fast.items():
            assert result.converged[t], name
            np.testing.assert_allclose(result.vm_pu[t], net.res_bus["vm_pu"], atol=1e-6, err_msg=name)
            np.testing.assert_allclose(result.line_loading_pct[t], net.res_line["loading_percent"], atol=1e-4,
                                       err_msg=name)
            np.testing.assert_allclose(result.trafo_loading_pct[t], net.res_trafo["loading_percent"], atol=1e-4,
                                       err_msg=name)
            assert result.losses_kw[t] == pytest.approx(losses_kw, abs=1e-3), name


def test_reference_park_runs_on_lightsim2grid(case, plan) -> None:
    report = validate_schedule(case.park, plan.schedule)
    assert report.engine == "lightsim2grid"
    reference = validate_schedule(case.park, plan.schedule, engine="pandapower")
    assert reference.engine == "pandapower"
    for key, value in reference.kpis.items():
        assert report.kpis[key] == pytest.approx(value, rel=1e-7, abs=1e-9), key


def test_reactive_power_at_a_power_factor() -> None:
    # pf 0.8: tan(acos(0.8)) = 0.75 exactly; a 500 kVA inverter at 400 kW has 300 kvar left.
    assert reactive_kvar(np.array([300.0, -400.0, 0.0]), 0.8) == pytest.approx([225.0, 300.0, 0.0])
    assert reactive_kvar(np.array([400.0, 200.0, 600.0]), 0.8, sn_kva=500.0) == pytest.approx([300.0, 150.0, 0.0])
    assert reactive_kvar(np.array([123.0]), 1.0) == pytest.approx([0.0])


@settings(max_examples=60, deadline=None)
@given(p_kw=st.floats(-2000, 2000), pf=st.floats(0.5, 1.0), sn_kva=st.floats(1, 3000))
def test_reactive_power_stays_within_the_power_factor_and_the_rating(p_kw, pf, sn_kva) -> None:
    q = float(reactive_kvar(np.array([p_kw]), pf, sn_kva)[0])
    assert 0 <= q <= abs(p_kw) * math.tan(math.acos(pf)) + 1e-9
    if abs(p_kw) <= sn_kva:
        assert p_kw ** 2 + q ** 2 <= sn_kva ** 2 * (1 + 1e-9)


def test_signs_of_the_injections(case, plan) -> None:
    """pandapower's signs: loads and storage in load convention, PV in generator convention."""
    park = _reactive_park(case)
    net = build_network(park)
    injections = injections_mw(park, net, plan.schedule)
    schedule = plan.schedule
    t = int(np.argmax(schedule["pv_ws1.used_kw"].to_numpy()))
    sgen = list(net.sgen["name"])
    pv1, pv2 = schedule["pv_ws1.used_kw"].iloc[t] / 1000, schedule["pv_ws2.used_kw"].iloc[t] / 1000
    assert injections.sgen_p_mw[t, sgen.index("pv_ws1")] == pytest.approx(pv1)
    assert injections.sgen_q_mvar[t, sgen.index("pv_ws1")] == pytest.approx(-pv1 * math.tan(math.acos(0.9)))  # absorbs
    assert injections.sgen_q_mvar[t, sgen.index("pv_ws2")] == pytest.approx(pv2 * math.tan(math.acos(0.95)))  # injects
    loads = list(net.load["name"])
    ws1 = schedule["ws1.load_kw"].iloc[t] / 1000
    assert injections.load_q_mvar[t, loads.index("ws1.load_kw")] == pytest.approx(ws1 * math.tan(math.acos(0.85)))
    ws2 = schedule["ws2.load_kw"].iloc[t] / 1000       # the network's default 0.95
    assert injections.load_q_mvar[t, loads.index("ws2.load_kw")] == pytest.approx(ws2 * math.tan(math.acos(0.95)))
    b1 = (schedule["b1.charge_kw"] - schedule["b1.discharge_kw"]).to_numpy() / 1000
    storage = list(net.storage["name"])
    assert injections.storage_p_mw[:, storage.index("b1")] == pytest.approx(b1)
    tan_b = math.tan(math.acos(0.9))
    assert injections.storage_q_mvar[:, storage.index("b1")] == pytest.approx(np.abs(b1) * tan_b)   # absorbs
    b2 = (schedule["b2.charge_kw"] - schedule["b2.discharge_kw"]).to_numpy() / 1000
    assert injections.storage_q_mvar[:, storage.index("b2")] == pytest.approx(-np.abs(b2) * tan_b)  # injects


def _one_line_park(load_kw: float):
    """A 1 MW unity-power-factor load behind a 1 Ω resistive 10 kV line."""
    config = {
        "site": {"name": "one line", "latitude_deg": 34.75, "longitude_deg": 113.63},
        "grid": {"max_import_kw": 5000},
        "tariff": {"preset": "henan_2024"},
        "network": {"buses": {"pcc": {"vn_kv": 10}, "b": {"vn_kv": 10}},
                    "lines": {"l1": {"from_bus": "pcc", "to_bus": "b", "length_km": 1, "r_ohm_per_km": 1.0,
                                     "x_ohm_per_km": 0.0, "max_i_ka": 0.1}},
                    "load_power_factor": 1.0},
        "loads": {"l1": {"bus": "b", "profile": "l1_kw"}},
    }
    return park_from_dict(config)


@pytest.mark.parametrize("engine", ["lightsim2grid", "pandapower"])
def test_hand_computed_resistive_line(engine) -> None:
    """P = V2 (V1 - V2) / R: V2 = (10 + √96) / 2 kV, losses (V1 - V2)² / R, current P / (√3 V2)."""
    park = _one_line_park(1000.0)
    index = pd.date_range("2026-07-15", periods=2, freq="15min", tz="Asia/Shanghai")
    schedule = pd.DataFrame({"l1.load_kw": [1000.0, 0.0]}, index=index)
    report = validate_schedule(park, schedule, engine=engine)
    v2_kv = (10 + math.sqrt(96)) / 2
    first = report.steps.iloc[0]
    assert first["min_vm_pu"] == pytest.approx(v2_kv / 10, abs=1e-7)
    assert first["losses_kw"] == pytest.approx((10 - v2_kv) ** 2 * 1000, rel=1e-6)
    assert first["max_line_loading_pct"] == pytest.approx(1 / (math.sqrt(3) * v2_kv) / 0.1 * 100, rel=1e-6)
    second = report.steps.iloc[1]       # no load: no current, no loss, 1 p.u. everywhere
    assert second["min_vm_pu"] == pytest.approx(1.0) and second["losses_kw"] == pytest.approx(0.0, abs=1e-9)
    assert report.kpis["network_losses_kwh"] == pytest.approx(first["losses_kw"] * 0.25)


# --------------------------------------------------------------------------- pandapower JSON, CIGRE MV, errors

import pandapower.networks as pn  # noqa: E402

from microgrid.timeseries import write_timeseries_csv  # noqa: E402

#: The reference park's device buses on the CIGRE MV benchmark's 20 kV buses (the grid at its 110 kV bus).
CIGRE_BUS_NAMES = {"pcc": "Bus 1", "ws1_lv": "Bus 3", "ws2_lv": "Bus 4", "ws3_lv": "Bus 5", "ws4_lv": "Bus 6",
                   "office_lv": "Bus 8", "heat_lv": "Bus 9", "heat_mv": "Bus 10", "depot_lv": "Bus 13"}


def _json_config(folder: Path, net=None, **network) -> dict:
    """The reference park.yaml on a pandapower JSON network (CIGRE MV by default) written into ``folder``."""
    net = net if net is not None else pn.create_cigre_network_mv(with_der=False)
    pp.to_json(net, str(folder / "grid.json"))
    config = yaml.safe_load((CASE_DIR / "park.yaml").read_text())
    config["grid"]["bus"] = "Bus 0"
    config["network"] = {"pandapower_json": "grid.json", "bus_names": dict(CIGRE_BUS_NAMES), **network}
    for key in ("weather", "loads", "heat"):
        config["data"][key] = str(CASE_DIR / config["data"][key])
    return config


def test_cigre_mv_network_as_the_park_network(tmp_path: Path, plan) -> None:
    """The CIGRE MV benchmark from a pandapower JSON file: its loads replaced by the park's devices."""
    park = park_from_dict(_json_config(tmp_path))
    net = build_network(park, tmp_path)
    cigre = pn.create_cigre_network_mv(with_der=False)
    assert len(net.bus) == len(cigre.bus) and len(net.line) == len(cigre.line) and len(net.trafo) == 2
    assert len(net.ext_grid) == 1 and net.bus.at[net.ext_grid.at[0, "bus"], "name"] == "Bus 0"
    assert len(net.load) == 13 and len(net.sgen) == 4 and len(net.storage) == 2     # the park's, not CIGRE's 18
    bus_of = dict(zip(net.load["name"], net.bus.loc[net.load["bus"], "name"]))
    assert bus_of["ws1.load_kw"] == "Bus 3" and bus_of["eb1.elec_kw"] == "Bus 10" and bus_of["trucks.load_kw"] == "Bus 13"
    report = validate_schedule(park, plan.schedule, net)
    assert report.engine == "pandapower"       # CIGRE's switches: lightsim2grid would ignore them
    assert report.steps["converged"].all() and (report.steps["losses_kw"] > 0).all()
    assert set(report.steps["max_line"]) <= set(cigre.line["name"])
    # The busiest step once more by plain runpp: the same highest line loading.
    t = int(np.argmax(report.steps["max_line_loading_pct"].to_numpy()))
    injections_mw(park, net, plan.schedule).apply(net, t)
    pp.runpp(net, numba=False)
    assert net.res_line["loading_percent"].max() == pytest.approx(report.steps["max_line_loading_pct"].iloc[t], rel=1e-6)


def test_devices_may_name_the_json_buses_directly(tmp_path: Path) -> None:
    config = _json_config(tmp_path)
    config["network"]["bus_names"].pop("ws1_lv")
    config["loads"]["ws1"]["bus"] = config["pv_arrays"]["pv_ws1"]["bus"] = config["batteries"]["b2"]["bus"] = "Bus 7"
    net = build_network(park_from_dict(config), tmp_path)
    assert net.bus.at[net.load.set_index("name").at["ws1.load_kw", "bus"], "name"] == "Bus 7"


def _raises(config: dict, folder: Path, pattern: str) -> None:
    with pytest.raises(InvalidParkError, match=pattern) as error:
        build_network(park_from_dict(config), folder)
    assert "\n" not in str(error.value)


def test_device_on_a_missing_bus_is_named(tmp_path: Path) -> None:
    config = yaml.safe_load((CASE_DIR / "park.yaml").read_text())
    config["batteries"]["b2"]["bus"] = "ws9_lv"
    with pytest.raises(InvalidParkError, match=r"^batteries.b2.bus: bus 'ws9_lv' is not in network.buses; use one of pcc"):
        park_from_dict(config)
    config = _json_config(tmp_path)
    config["batteries"]["b2"]["bus"] = "ws9_lv"
    _raises(config, tmp_path, r"^batteries.b2.bus: bus 'ws9_lv' is not a bus of grid.json \(Bus 0, Bus 1, .*map it in "
                              r"network.bus_names")
    config["batteries"]["b2"]["bus"] = "ws1_lv"
    config["network"]["bus_names"]["ws1_lv"] = "Bus 99"
    _raises(config, tmp_path, r"^loads.ws1.bus: bus 'ws1_lv' \(network.bus_names maps it to 'Bus 99'\) is not")


def test_json_line_without_impedance_is_named(tmp_path: Path) -> None:
    net = pn.create_cigre_network_mv(with_der=False)
    net.line.loc[3, ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0
    _raises(_json_config(tmp_path, net), tmp_path,
            r"network.pandapower_json \(grid.json\): line 'Line 4-5' \(index 3\) has no impedance")


def test_json_island_without_a_source_is_named(tmp_path: Path) -> None:
    net = pn.create_cigre_network_mv(with_der=False)
    pp.create_bus(net, vn_kv=20.0, name="Bus lonely")
    _raises(_json_config(tmp_path, net), tmp_path, r"network: bus\(es\) Bus lonely have no path to the grid bus 'Bus 0'")


def test_unknown_or_mismatched_transformer_type_is_named() -> None:
    config = yaml.safe_load((CASE_DIR / "park.yaml").read_text())
    config["network"]["transformers"]["t_ws1"] = {"hv_bus": "ws1_mv", "lv_bus": "ws1_lv", "std_type": "9 MVA 10/0.4 kV"}
    with pytest.raises(InvalidParkError, match=r"network.transformers.t_ws1.std_type: '9 MVA 10/0.4 kV' is not a "
                                               r"pandapower standard transformer type nor one of network.std_types"):
        build_network(park_from_dict(config))
    config["network"]["transformers"]["t_ws1"]["std_type"] = "0.63 MVA 20/0.4 kV"
    with pytest.raises(InvalidParkError, match=r"'0.63 MVA 20/0.4 kV' is rated 20 kV on its hv side but hv_bus "
                                               r"'ws1_mv' is 10 kV"):
        build_network(park_from_dict(config))


def test_json_that_does_not_parse_is_named(tmp_path: Path) -> None:
    config = _json_config(tmp_path)
    (tmp_path / "grid.json").write_text("{this is not json")
    _raises(config, tmp_path, r"^network.pandapower_json \(grid.json\): not a pandapower network \(.*\); write the "
                              r"file with pandapower.to_json")
    (tmp_path / "grid.json").write_text("[1, 2, 3]")
    _raises(config, tmp_path, r"^network.pandapower_json \(grid.json\): (not|holds no) a? ?pandapower network")
    config["network"]["pandapower_json"] = "missing.json"
    _raises(config, tmp_path, r"^network.pandapower_json: no file '.*missing.json'; give the path")


def test_json_and_buses_together_are_refused(tmp_path: Path) -> None:
    config = _json_config(tmp_path)
    config["network"]["buses"] = {"pcc": {"vn_kv": 10}}
    with pytest.raises(InvalidParkError, match=r"^network: give either pandapower_json \(a network file\) or buses"):
        park_from_dict(config)


@pytest.fixture(scope="module")
def schedule_csv(plan, tmp_path_factory) -> Path:
    return write_timeseries_csv(plan.schedule, tmp_path_factory.mktemp("plan") / "schedule.csv")


def _break_missing_bus(config, folder):
    config["batteries"]["b2"]["bus"] = "ws9_lv"


def _break_line_impedance(config, folder):
    net = pn.create_cigre_network_mv(with_der=False)
    net.line.loc[3, ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0
    pp.to_json(net, str(folder / "grid.json"))


def _break_island(config, folder):
    net = pn.create_cigre_network_mv(with_der=False)
    pp.create_bus(net, vn_kv=20.0, name="Bus lonely")
    pp.to_json(net, str(folder / "grid.json"))


def _break_std_type(config, folder):
    config["network"] = yaml.safe_load((CASE_DIR / "park.yaml").read_text())["network"]
    config["grid"]["bus"] = "pcc"
    config["network"]["lines"]["feeder_ws1"]["std_type"] = "NA2XS2Y 1x999"


def _break_json(config, folder):
    (folder / "grid.json").write_text("{this is not json")


@pytest.mark.parametrize("breaker, fragments", [
    (_break_missing_bus, ("batteries.b2.bus: bus 'ws9_lv' is not a bus of grid.json",)),
    (_break_line_impedance, ("line 'Line 4-5' (index 3) has no impedance",)),
    (_break_island, ("bus(es) Bus lonely have no path to the grid bus",)),
    (_break_std_type, ("network.lines.feeder_ws1.std_type: 'NA2XS2Y 1x999' is not a pandapower standard line type",)),
    (_break_json, ("network.pandapower_json (grid.json): not a pandapower network",)),
])
def test_network_check_names_each_bad_network_on_one_line(tmp_path: Path, schedule_csv: Path, breaker, fragments) -> None:
    config = _json_config(tmp_path)
    breaker(config, tmp_path)
    (tmp_path / "park.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    one_line_error(run("network", "check", str(tmp_path), "--schedule", str(schedule_csv)), *fragments)


def test_network_check_of_the_cigre_park(tmp_path: Path, schedule_csv: Path) -> None:
    (tmp_path / "park.yaml").write_text(yaml.safe_dump(_json_config(tmp_path), sort_keys=False))
    result = run("network", "check", str(tmp_path), "--schedule", str(schedule_csv), "--out", str(tmp_path / "out"))
    assert result.exit_code in (0, 4), result.output          # 4: limits violated, listed
    assert "network_violations" in result.output and (tmp_path / "out" / "network.csv").is_file()
