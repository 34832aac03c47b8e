"""Wind turbine groups in park.yaml: validation, the bundled turbine library, nameplate power."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from microgrid.case import park_from_dict
from microgrid.errors import InvalidParkError
from microgrid.wind import (
    DEFAULT_ROUGHNESS_LENGTH_M,
    PowerCurve,
    WindTurbineGroup,
    library_turbine,
    nearest_turbine_types,
    turbine_types,
)

OWN_CURVE = {"wind_speed_m_per_s": [3.0, 12.0, 25.0], "p_kw": [0.0, 100.0, 100.0]}


def park_with(**groups) -> dict:
    return {
        "site": {"name": "hand", "latitude_deg": 34.75, "longitude_deg": 113.63, "altitude_m": 110},
        "grid": {"bus": "main", "max_import_kw": 1000},
        "tariff": {"prices_cny_per_kwh": {"flat": 0.5}},
        "wind_turbines": groups,
    }


def test_the_library_is_the_one_bundled_with_windpowerlib() -> None:
    types = turbine_types()
    assert "E-82/2350" in types and len(types) > 50
    e82 = library_turbine("E-82/2350")
    assert e82.nominal_power_kw == 2350.0
    assert e82.rotor_diameter_m == 82.0
    assert e82.max_power_kw == 2350.0


def test_nameplate_of_a_library_type_is_number_times_nominal_power() -> None:
    group = WindTurbineGroup(bus="b", turbine_type="E-82/2350", hub_height_m=100, number_of_turbines=3)
    assert group.turbine_rated_kw == 2350.0
    assert group.nameplate_kw == 3 * 2350.0
    assert group.roughness_length_m == DEFAULT_ROUGHNESS_LENGTH_M == 0.1


def test_a_library_curve_above_its_nominal_power_bounds_the_output() -> None:
    """E-70/2000's curve reaches 2050 kW: the bound of a forecast is the curve's, not the nameplate's."""
    group = WindTurbineGroup(bus="b", turbine_type="E-70/2000", hub_height_m=100, number_of_turbines=2)
    assert group.nameplate_kw == 4000.0
    assert group.max_p_kw == pytest.approx(2 * 2050.0)


def test_nameplate_of_an_own_curve_is_its_largest_power() -> None:
    group = WindTurbineGroup(bus="b", power_curve=OWN_CURVE, hub_height_m=30, number_of_turbines=4)
    assert group.nameplate_kw == 400.0 == group.max_p_kw


def test_park_lists_wind_turbines_by_id_and_sums_their_nameplate() -> None:
    park = park_from_dict(park_with(
        wt1={"bus": "main", "turbine_type": "E-82/2350", "hub_height_m": 100, "number_of_turbines": 2},
        small={"bus": "main", "power_curve": OWN_CURVE, "hub_height_m": 30},
    ))
    assert list(park.wind_turbines) == ["wt1", "small"]
    assert park.wind_nameplate_kw == 2 * 2350.0 + 100.0
    assert park_from_dict(park_with()).wind_nameplate_kw == 0.0


def test_a_bad_turbine_type_names_the_field_and_the_nearest_types() -> None:
    with pytest.raises(InvalidParkError) as info:
        park_from_dict(park_with(wt1={"bus": "main", "turbine_type": "E-82/235", "hub_height_m": 100}))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("wind_turbines.wt1.turbine_type: unknown turbine type")
    assert "nearest known types: E-82/2350" in message
    assert set(nearest_turbine_types("E-82/235")) <= set(turbine_types())


def test_nearest_types_ignore_case() -> None:
    assert nearest_turbine_types("e-82/2350", n=1) == ["E-82/2350"]


def test_either_a_type_or_an_own_curve() -> None:
    with pytest.raises(ValidationError, match="exactly one of them"):
        WindTurbineGroup(bus="b", hub_height_m=100)
    with pytest.raises(ValidationError, match="exactly one of them"):
        WindTurbineGroup(bus="b", turbine_type="E-82/2350", power_curve=OWN_CURVE, hub_height_m=100)


@pytest.mark.parametrize(("curve", "match"), [
    ({"wind_speed_m_per_s": [3, 12, 12], "p_kw": [0, 100, 100]}, "increase strictly; 12 follows 12"),
    ({"wind_speed_m_per_s": [3, 12], "p_kw": [0, 100, 100]}, "one power per wind speed"),
    ({"wind_speed_m_per_s": [3, 12], "p_kw": [0, -1]}, "≥ 0 kW"),
    ({"wind_speed_m_per_s": [-1, 12], "p_kw": [0, 10]}, "wind speeds are ≥ 0"),
    ({"wind_speed_m_per_s": [3, 12], "p_kw": [0, 0]}, "0 at every wind speed"),
])
def test_an_own_power_curve_is_checked(curve, match) -> None:
    with pytest.raises(ValidationError, match=match):
        PowerCurve(**curve)


def test_hub_height_must_clear_the_rotor() -> None:
    with pytest.raises(InvalidParkError, match=r"wind_turbines.wt1: hub_height_m 40 m is not above half the rotor "
                                               r"diameter of E-82/2350 \(82 m\)"):
        park_from_dict(park_with(wt1={"bus": "main", "turbine_type": "E-82/2350", "hub_height_m": 40}))


def test_losses_are_a_constant_or_a_curve_not_both() -> None:
    with pytest.raises(ValidationError, match="not both"):
        WindTurbineGroup(bus="b", turbine_type="E-82/2350", hub_height_m=100, wind_farm_efficiency=0.9,
                         wind_efficiency_curve="dena_mean")
    with pytest.raises(ValidationError, match="wind_farm_efficiency"):
        WindTurbineGroup(bus="b", turbine_type="E-82/2350", hub_height_m=100, wind_farm_efficiency=1.2)


def test_every_efficiency_curve_name_is_one_windpowerlib_has() -> None:
    from typing import get_args

    from windpowerlib.wake_losses import get_wind_efficiency_curve

    from microgrid.wind import WindEfficiencyCurve

    for name in get_args(WindEfficiencyCurve):
        curve = get_wind_efficiency_curve(name)
        assert {"wind_speed", "efficiency"} <= set(curve.columns)


def test_hellman_exponent_only_with_the_hellman_model() -> None:
    with pytest.raises(ValidationError, match="wind_speed_model: hellman"):
        WindTurbineGroup(bus="b", turbine_type="E-82/2350", hub_height_m=100, hellman_exponent=0.14)
    group = WindTurbineGroup(bus="b", turbine_type="E-82/2350", hub_height_m=100, wind_speed_model="hellman",
                             hellman_exponent=0.14)
    assert group.hellman_exponent == 0.14


def test_wind_turbine_ids_are_unique_across_device_groups() -> None:
    config = park_with(pv1={"bus": "main", "turbine_type": "E-82/2350", "hub_height_m": 100})
    config["pv_arrays"] = {"pv1": {"bus": "main", "dc_capacity_kw": 100, "ac_capacity_kw": 90}}
    with pytest.raises(InvalidParkError, match="wind_turbines.pv1: id already used in pv_arrays"):
        park_from_dict(config)


def test_a_park_without_wind_does_not_import_windpowerlib() -> None:
    """Start-up time: windpowerlib is imported only to look a turbine type up."""
    code = ("import sys; from microgrid.case import load_case; load_case('cases/zhengzhou_park'); "
            "print('windpowerlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"


def test_a_case_with_wind_turbines_needs_the_wind_speed_in_its_weather(tmp_path: Path) -> None:
    import yaml

    from microgrid.case import load_case
    from microgrid.errors import DataError

    config = park_with(wt1={"bus": "main", "power_curve": OWN_CURVE, "hub_height_m": 30})
    (tmp_path / "park.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    rows = "".join(f"2026-07-15T00:{m:02d}:00+08:00,20.0,1.0\n" for m in (0, 15))
    (tmp_path / "weather.csv").write_text("timestamp,temp_air,l1_kw\n" + rows, encoding="utf-8")
    (tmp_path / "loads.csv").write_text("timestamp,temp_air,l1_kw\n" + rows, encoding="utf-8")
    with pytest.raises(DataError, match=r"data.weather \(weather.csv\): missing column wind_speed .* needed by "
                                        r"wind_turbines"):
        load_case(tmp_path)
    (tmp_path / "weather.csv").write_text("timestamp,temp_air,wind_speed\n" + rows, encoding="utf-8")
    assert load_case(tmp_path).park.wind_nameplate_kw == 100.0
