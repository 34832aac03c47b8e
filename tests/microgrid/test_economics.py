"""The ``economics`` section of park.yaml: defaults, partial overrides, errors that name the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from microgrid.case import load_case, park_from_dict
from microgrid.economics import Economics
from microgrid.errors import InvalidParkError
from tests.service.helpers import TINY_PARK

REFERENCE = "cases/zhengzhou_park"


def test_defaults_and_a_partial_override_keep_the_other_defaults() -> None:
    economics = Economics.model_validate({"battery": {"capex_cny_per_kwh": 800}, "discount_rate_frac": 0.08})
    assert economics.battery.capex_cny_per_kwh == 800
    assert economics.battery.capex_cny_per_kw == Economics().battery.capex_cny_per_kw == 300
    assert economics.battery.replacement_cycles == 6000
    assert economics.pv.capex_cny_per_kw == 3000 and economics.pv.lifetime_years == 25
    assert economics.discount_rate_frac == 0.08 and economics.analysis_years == 20


def test_default_new_assets_are_pv_wind_and_batteries() -> None:
    park = load_case(REFERENCE).park
    assert park.new_assets == {"pv_arrays": ["pv_ws1", "pv_ws2", "pv_ws3", "pv_ws4"], "wind_turbines": [],
                               "batteries": ["b1", "b2"], "heat_pumps": [], "thermal_stores": []}
    baseline = park.without_new_assets()
    assert not baseline.pv_arrays and not baseline.batteries
    assert list(baseline.heat_pumps) == ["hp1", "hp2"] and list(baseline.loads) == list(park.loads)
    assert all(not ids for ids in baseline.new_assets.values())
    assert list(park.batteries) == ["b1", "b2"]  # not mutated


def test_named_new_assets() -> None:
    config = copy.deepcopy(TINY_PARK)
    config["economics"] = {"new_assets": ["b1"]}
    park = park_from_dict(config)
    assert park.new_assets["batteries"] == ["b1"] and park.new_assets["pv_arrays"] == []
    assert list(park.without_new_assets().pv_arrays) == ["pv1"]


@pytest.mark.parametrize(("economics", "fragments"), [
    ({"new_assets": ["l1"]}, ("economics.new_assets: 'l1' is in loads", "pv1, b1")),
    ({"new_assets": ["b9"]}, ("economics.new_assets: 'b9' is no device of the park",)),
    ({"new_assets": ["b1", "b1"]}, ("economics: new_assets lists 'b1' twice",)),
    ({"battery": {"capex_cny_per_kwhh": 1}}, ("economics.battery.capex_cny_per_kwhh: unknown field",
                                              "did you mean 'capex_cny_per_kwh'?")),
    ({"discount_rate_frac": 8}, ("economics.discount_rate_frac", "less than 1")),
    ({"pv": {"subsidy_cny_per_kwh": 0.1}}, ("economics.pv: subsidy_cny_per_kwh is paid for subsidy_years",)),
    ({"pv": {"lifetime_years": 0}}, ("economics.pv.lifetime_years",)),
])
def test_errors_name_the_field(economics: dict, fragments: tuple) -> None:
    config = copy.deepcopy(TINY_PARK)
    config["economics"] = economics
    with pytest.raises(InvalidParkError) as info:
        park_from_dict(config)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_a_heat_bus_left_without_supply_is_refused() -> None:
    config = yaml.safe_load(Path(REFERENCE, "park.yaml").read_text(encoding="utf-8"))
    config["economics"] = {"new_assets": ["hp1", "hp2"]}
    assert park_from_dict(config).new_assets["heat_pumps"] == ["hp1", "hp2"]  # eb1 is left
    del config["electric_boilers"]
    with pytest.raises(InvalidParkError, match="without hp1, hp2 heat bus 'process_heat' has no heat supply"):
        park_from_dict(config)
