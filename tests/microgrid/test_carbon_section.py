"""The ``carbon`` section of park.yaml: grid factor presets and sources, the hourly profile, scope-1 fuels, errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from microgrid.carbon import GRID_FACTOR_PRESETS, IPCC_2006_SOURCE
from microgrid.case import load_case, park_from_dict
from microgrid.errors import DataError, InvalidParkError
from tests.conftest import hourly_index, two_price_park

CASES = Path(__file__).parents[2] / "cases"


def with_carbon(carbon: dict) -> dict:
    config = two_price_park()
    config["carbon"] = carbon
    return config


def test_presets_name_the_published_factor_its_scope_and_year() -> None:
    national = park_from_dict(with_carbon({"grid": {"preset": "mee_2022_national"}})).carbon.grid
    assert (national.co2_kg_per_kwh, national.scope, national.year) == (0.5366, "national", 2022)
    assert "Ministry of Ecology and Environment" in national.source and "2022" in national.source
    central = park_from_dict(with_carbon({"grid": {"preset": "mee_2022_central_china"}})).carbon.grid
    assert (central.co2_kg_per_kwh, central.scope, central.region) == (0.5395, "regional", "Central China (华中)")
    # a field of the preset can be overridden, here the region's wording
    park = park_from_dict(with_carbon({"grid": {"preset": "mee_2022_central_china", "region": "华中"}}))
    assert park.carbon.grid.region == "华中" and park.carbon.grid.co2_kg_per_kwh == 0.5395


def test_the_bundled_cases_name_their_factor_in_the_carbon_section() -> None:
    for folder in ("zhengzhou_park", "zhengzhou_park_constrained"):
        park = load_case(CASES / folder).park
        assert park.carbon.grid.preset == "mee_2022_central_china"
        assert park.tariff.co2_kg_per_kwh == GRID_FACTOR_PRESETS["mee_2022_central_china"]["co2_kg_per_kwh"]
        assert park.carbon.fuels == {}


def test_a_case_without_the_section_keeps_its_tariff_factor() -> None:
    preset = park_from_dict({**two_price_park(), "tariff": {"preset": "henan_2024"}})
    assert preset.carbon.grid.preset == "mee_2022_central_china"           # the preset's 0.5395 is that figure
    own = two_price_park()
    own["tariff"]["co2_kg_per_kwh"] = 0.61
    grid = park_from_dict(own).carbon.grid
    assert (grid.co2_kg_per_kwh, grid.scope, grid.year) == (0.61, "custom", None)
    assert "tariff.co2_kg_per_kwh" in grid.source


def test_the_carbon_section_sets_the_factor_the_model_reads() -> None:
    park = park_from_dict(with_carbon({"grid": {"co2_kg_per_kwh": 0.7, "scope": "provincial", "region": "Henan",
                                                "year": 2022, "source": "the province's published figure"}}))
    assert park.tariff.co2_kg_per_kwh == 0.7
    assert park.grid_co2_kg_per_kwh(hourly_index(3)).tolist() == [0.7, 0.7, 0.7]
    assert park.carbon.grid.describe() == "the province's published figure; provincial factor of Henan, 2022"


def test_an_hourly_profile_by_local_hour() -> None:
    profile = [0.5] * 24
    profile[0], profile[13] = 0.9, 0.2
    park = park_from_dict(with_carbon({"grid": {"preset": "mee_2022_national", "hourly_co2_kg_per_kwh": profile,
                                                "hourly_source": "a test profile"}}))
    # 2026-07-15 00:00 and 13:00 local; 12:30 takes hour 12's value
    index = pd.DatetimeIndex(["2026-07-15 00:00", "2026-07-15 12:30", "2026-07-15 13:00"]).tz_localize(
        "Asia/Shanghai").tz_convert("UTC")
    assert park.grid_co2_kg_per_kwh(index).tolist() == [0.9, 0.5, 0.2]
    assert park.carbon.grid.lowest_co2_kg_per_kwh == 0.2
    assert "a test profile" in park.carbon.grid.describe()


def test_fuels_with_the_ipcc_defaults_or_their_own_factors() -> None:
    park = park_from_dict(with_carbon({"fuels": {
        "gas_gj": {"fuel": "natural_gas", "consumption_per_day": 2.0, "unit": "GJ"},
        "diesel_t": {"fuel": "diesel", "consumption_per_month": 3.0, "unit": "t"},
        "gas_m3": {"fuel": "natural_gas", "consumption_per_day": 100.0, "unit": "m3", "ncv_gj_per_unit": 0.0389,
                   "source": "the supplier's net calorific value"},
    }}))
    fuels = park.carbon.fuels
    assert fuels["gas_gj"].co2_kg_per_day(31) == pytest.approx(2.0 * 56.1)
    assert fuels["diesel_t"].co2_kg_per_day(30) == pytest.approx(3.0 / 30 * 43.0 * 74.1)
    assert fuels["gas_m3"].co2_kg_per_day(31) == pytest.approx(100.0 * 0.0389 * 56.1)
    assert fuels["gas_gj"].factor_source == IPCC_2006_SOURCE
    assert fuels["gas_m3"].factor_source == "the supplier's net calorific value"


@pytest.mark.parametrize("carbon, fragments", [
    ({"grid": {"preset": "mee_2021"}}, ("carbon.grid", "unknown grid factor 'mee_2021'", "mee_2022_national")),
    ({"grid": {"co2_kg_per_kwh": 0.6, "scope": "regional", "source": "x"}}, ("carbon.grid", "year")),
    ({"grid": {"co2_kg_per_kwh": 0.6, "scope": "regional", "year": 2022}}, ("carbon.grid.source", "missing")),
    ({"grid": {"co2_kg_per_kwh": 0.6, "scope": "county", "year": 2022, "source": "x"}}, ("carbon.grid.scope",)),
    ({"grid": {"co2_kg_per_kwh": -0.1, "scope": "custom", "source": "x"}}, ("carbon.grid.co2_kg_per_kwh",)),
    ({"grid": {"preset": "mee_2022_national", "hourly_co2_kg_per_kwh": [0.5] * 23, "hourly_source": "x"}},
     ("carbon.grid.hourly_co2_kg_per_kwh", "24 values")),
    ({"grid": {"preset": "mee_2022_national", "hourly_co2_kg_per_kwh": [0.5] * 24}}, ("hourly_source",)),
    ({"grdi": {}}, ("carbon.grdi", "did you mean 'grid'")),
    ({"fuels": {"gas": {"fuel": "natural_gas", "unit": "GJ"}}},
     ("carbon.fuels.gas", "consumption_per_day or consumption_per_month")),
    ({"fuels": {"gas": {"fuel": "natural_gas", "consumption_per_day": 5, "unit": "m3"}}},
     ("carbon.fuels.gas", "ncv_gj_per_unit", "net calorific value")),
    ({"fuels": {"gas": {"fuel": "natural_gas", "consumption_per_day": 5, "unit": "GJ", "co2_kg_per_gj": 50}}},
     ("carbon.fuels.gas", "source")),
    ({"fuels": {"coke": {"fuel": "other", "consumption_per_day": 5, "unit": "GJ"}}},
     ("carbon.fuels.coke", "co2_kg_per_gj")),
    ({"fuels": {"gas": {"fuel": "natural_gas", "consumption_per_day": -1, "unit": "GJ"}}},
     ("carbon.fuels.gas.consumption_per_day",)),
])
def test_errors_name_the_field_and_the_fix(carbon: dict, fragments: tuple[str, ...]) -> None:
    with pytest.raises(InvalidParkError) as error:
        park_from_dict(with_carbon(carbon))
    for fragment in fragments:
        assert fragment in str(error.value), str(error.value)


def test_the_factor_is_given_once() -> None:
    config = with_carbon({"grid": {"preset": "mee_2022_national"}})
    config["tariff"]["co2_kg_per_kwh"] = 0.5
    with pytest.raises(InvalidParkError, match=r"tariff.co2_kg_per_kwh: the grid factor is given in carbon.grid"):
        park_from_dict(config)


def write_case(folder: Path, grid: dict, csv_text: str | None) -> Path:
    from tests.service.helpers import TINY_PARK, write_tiny_case

    write_tiny_case(folder, {**TINY_PARK, "carbon": {"grid": grid}})
    if csv_text is not None:
        (folder / "grid_factor.csv").write_text(csv_text)
    return folder


def test_an_hourly_profile_from_a_csv_of_the_case(tmp_path: Path) -> None:
    rows = "\n".join(f"{h},{0.3 + 0.01 * h:.2f}" for h in reversed(range(24)))     # any row order
    grid = {"preset": "mee_2022_central_china", "hourly_csv": {"file": "grid_factor.csv", "column": "kg"},
            "hourly_source": "the grid's marginal factors of 2022"}
    case = load_case(write_case(tmp_path / "case", grid, "hour,kg\n" + rows + "\n"))
    profile = case.park.carbon.grid.hourly_co2_kg_per_kwh
    assert profile[0] == pytest.approx(0.3) and profile[23] == pytest.approx(0.53)
    # without the folder the park still validates, its profile unread; a schedule of it is refused
    document = yaml.safe_load((tmp_path / "case" / "park.yaml").read_text())
    unread = park_from_dict(document)
    with pytest.raises(ValueError, match="carbon.grid.hourly_csv: grid_factor.csv is not read"):
        unread.grid_co2_kg_per_kwh(hourly_index(2))


@pytest.mark.parametrize("csv_text, fragment", [
    (None, "no such file"),
    ("hour,factor\n" + "\n".join(f"{h},0.5" for h in range(24)), "no column kg"),
    ("hour,kg\n" + "\n".join(f"{h},0.5" for h in range(23)), "needs 24 rows"),
    ("hour,kg\n" + "\n".join(f"{h},{'x' if h == 5 else 0.5}" for h in range(24)), "non-numeric value at hour 5"),
])
def test_a_bad_hourly_csv_is_named(tmp_path: Path, csv_text: str | None, fragment: str) -> None:
    grid = {"preset": "mee_2022_national", "hourly_csv": {"file": "grid_factor.csv", "column": "kg"},
            "hourly_source": "x"}
    with pytest.raises(DataError) as error:
        load_case(write_case(tmp_path / "case", grid, csv_text))
    assert "carbon.grid.hourly_csv (grid_factor.csv)" in str(error.value) and fragment in str(error.value)
