"""``microgrid forecast wind``: the case's wind turbines over its weather, written as a power forecast file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from forecasting.sources import read_power_forecast_csv
from tests.service.helpers import one_line_error, run

CASE = Path(__file__).resolve().parents[2] / "cases" / "zhengzhou_park"


def wind_case(tmp_path: Path, wind_turbines: dict) -> Path:
    """The reference case with ``wind_turbines`` added, reading the reference case's own data files."""
    config = yaml.safe_load((CASE / "park.yaml").read_text(encoding="utf-8"))
    config["data"] = {key: str(CASE / name) for key, name in config["data"].items()}
    config["wind_turbines"] = wind_turbines
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "park.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def test_forecast_wind_writes_a_power_forecast_file_with_its_assumptions(tmp_path: Path) -> None:
    case = wind_case(tmp_path, {
        "wt1": {"bus": "ws1_lv", "turbine_type": "E-82/2350", "hub_height_m": 100, "number_of_turbines": 2},
        "small": {"bus": "pcc", "hub_height_m": 30, "roughness_length_m": 0.3, "wind_farm_efficiency": 0.9,
                  "power_curve": {"wind_speed_m_per_s": [3, 12, 25], "p_kw": [0, 100, 100]}},
    })
    out = tmp_path / "wind.csv"
    result = run("forecast", "wind", str(case), "--out", str(out))
    assert result.exit_code == 0, result.output
    head = out.read_text(encoding="utf-8").splitlines()[:8]
    notes = [line for line in head if line.startswith("# ")]
    text = " ".join(notes)
    assert "wind_speed measured at 10 m above ground" in text
    assert "roughness length 0.1 m" in text and "roughness length 0.3 m" in text
    assert "air density at hub height: barometric height equation" in text
    assert head[len(notes)] == "timestamp,wt1_kw,small_kw,wind_kw"
    # The reader of schedule --pv-forecast reads it as it is.
    forecast = read_power_forecast_csv(out, what="--wind-forecast")
    assert list(forecast.columns) == ["wt1_kw", "small_kw", "wind_kw"]
    assert len(forecast) == 35040
    assert forecast.index[0].isoformat() == "2026-01-01T00:00:00+08:00"
    assert (forecast["wind_kw"] - forecast["wt1_kw"] - forecast["small_kw"]).abs().max() < 0.002
    assert forecast["wt1_kw"].max() <= 2 * 2350.0 and forecast["small_kw"].max() <= 0.9 * 100.0 + 1e-9
    assert 0.05 < forecast["wt1_kw"].mean() / 4700.0 < 0.5
    assert "wind_kw" in result.output and f"wrote {out}" in " ".join(result.output.split())


def test_no_density_correction_reads_the_curves_at_standard_density(tmp_path: Path) -> None:
    case = wind_case(tmp_path, {"wt1": {"bus": "ws1_lv", "turbine_type": "E-82/2350", "hub_height_m": 100}})
    out = tmp_path / "wind.csv"
    result = run("forecast", "wind", str(case), "--no-density-correction", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "no density correction" in out.read_text(encoding="utf-8").split("timestamp,")[0]


def test_a_case_without_wind_turbines_is_one_line() -> None:
    one_line_error(run("forecast", "wind", str(CASE)), "wind_turbines:", "has none", "park.yaml")


@pytest.mark.parametrize(("turbine", "fragments"), [
    ({"bus": "ws1_lv", "turbine_type": "E-82/235", "hub_height_m": 100},
     ("wind_turbines.wt1.turbine_type: unknown turbine type", "nearest known types: E-82/2350")),
    ({"bus": "nowhere", "turbine_type": "E-82/2350", "hub_height_m": 100},
     ("wind_turbines.wt1.bus: bus 'nowhere' is not in network.buses",)),
])
def test_a_bad_wind_turbine_is_one_line(tmp_path: Path, turbine, fragments) -> None:
    one_line_error(run("forecast", "wind", str(wind_case(tmp_path, {"wt1": turbine}))), *fragments)
