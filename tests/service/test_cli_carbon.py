"""``microgrid carbon``: carbon.csv against a hand computation from the study's schedule, the report, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microgrid.tariff import GRID_CO2_SOURCE
from tests.service.helpers import TINY_PARK, one_line_error, run, write_tiny_case

FACTOR = 0.5395  # the henan_2024 preset's grid factor


@pytest.fixture(scope="module")
def metered(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny case (2026-07-15 and 16) metered for July with rule-based operation, in English."""
    root = tmp_path_factory.mktemp("carbon")
    case = write_tiny_case(root / "case", TINY_PARK)
    out = root / "out"
    result = run("carbon", str(case), "--month", "2026-07", "--strategy", "rule-based", "--out", str(out))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "cover 2 of the 31 days of 2026-07" in text
    assert GRID_CO2_SOURCE in text
    return case, out


def test_carbon_csv_is_the_hand_computation_from_the_schedule(metered) -> None:
    _, out = metered
    table = pd.read_csv(out / "carbon.csv")
    schedule = pd.read_parquet(out / "study" / "rule-based" / "schedule.parquet")
    dt_h = 0.25
    assert list(table["date"]) == ["2026-07-15", "2026-07-16", "2026-07"]
    local = schedule.index.tz_convert("Asia/Shanghai")
    hand_rows = []
    for day in ("2026-07-15", "2026-07-16", None):
        part = schedule if day is None else schedule.loc[local.strftime("%Y-%m-%d") == day]
        assert day is None or len(part) == 96
        import_kwh = part["grid_import_kw"].sum() * dt_h
        onsite_kwh = np.clip(part["pv_used_kw"] - part["grid_export_kw"], 0, None).sum() * dt_h
        consumption_kwh = part["load_kw"].sum() * dt_h
        hand_rows.append({
            "import_kwh": import_kwh, "consumption_kwh": consumption_kwh, "renewable_onsite_kwh": onsite_kwh,
            "scope2_co2_kg": import_kwh * FACTOR, "avoided_co2_kg": onsite_kwh * FACTOR,
            "renewable_share": onsite_kwh / (onsite_kwh + import_kwh),
            "intensity_kg_per_kwh": import_kwh * FACTOR / consumption_kwh,
            "gec_mwh": part["pv_used_kw"].sum() * dt_h / 1000,
        })
    for row, hand in zip(table.to_dict(orient="records"), hand_rows):
        for key, value in hand.items():
            assert row[key] == pytest.approx(value, rel=1e-9), (row["date"], key)
        assert row["scope1_co2_kg"] == 0.0 and row["co2_kg_per_kwh"] == FACTOR
    assert table["scope2_co2_kg"].iloc[2] > 0 and table["avoided_co2_kg"].iloc[2] > 0   # the day has sun and load
    assert math.isnan(table["gec_certificates"].iloc[0]) and math.isnan(table["gec_certificates"].iloc[1])
    assert table["gec_certificates"].iloc[2] == math.floor(hand_rows[2]["gec_mwh"])


def test_report_has_the_chart_and_labels_in_both_languages(metered) -> None:
    case, out = metered
    page = (out / "carbon.html").read_text(encoding="utf-8")
    assert 'id="carbon-daily-chart"' in page and "Plotly.newPlot" in page
    assert "<script src=" not in page                                  # plotly.js inline: opens offline
    for label in ("scope 2 CO2 [kg]", "avoided CO2 [kg]", "renewable share", "GECs [certificates]",
                  "month total 2026-07", GRID_CO2_SOURCE, "2 of the month&#x27;s 31"):
        assert label in page, label
    zh_out = out.parent / "zh"
    result = run("carbon", str(case), "--month", "2026-07", "--strategy", "rule-based", "--lang", "zh",
                 "--out", str(zh_out))
    assert result.exit_code == 0, result.output
    zh = (zh_out / "carbon.html").read_text(encoding="utf-8")
    assert '<html lang="zh">' in zh
    for label in ("范围二排放 [kg]", "减排量 [kg]", "可再生能源占比", "绿证 [张]", "月合计 2026-07"):
        assert label in zh, label
    assert "scope 2 CO2 [kg]" not in zh
    pd.testing.assert_frame_equal(pd.read_csv(zh_out / "carbon.csv"), pd.read_csv(out / "carbon.csv"))


@pytest.mark.parametrize("month", ["2026-13", "2026-7", "July", "2026-07-01"])
def test_a_bad_month_is_one_line_naming_the_option(tmp_path: Path, month: str) -> None:
    case = write_tiny_case(tmp_path / "case", TINY_PARK)
    one_line_error(run("carbon", str(case), "--month", month, "--out", str(tmp_path / "out")), "--month", "YYYY-MM")


def test_a_month_outside_the_data_and_an_unknown_language(tmp_path: Path) -> None:
    case = write_tiny_case(tmp_path / "case", TINY_PARK)
    one_line_error(run("carbon", str(case), "--month", "2026-08", "--out", str(tmp_path / "out")),
                   "--month", "2026-07-15")
    one_line_error(run("carbon", str(case), "--month", "2026-07", "--lang", "fr", "--out", str(tmp_path / "out")),
                   "--lang", "en, zh")
    assert not (tmp_path / "out").exists()


def test_scope1_fuels_and_the_national_factor(tmp_path: Path) -> None:
    # 24 GJ of natural gas a day (IPCC 2006: 56.1 kg CO2/GJ): 1346.4 kg a day, scope 2 at the national 0.5366
    park = {**TINY_PARK, "carbon": {"grid": {"preset": "mee_2022_national"}, "fuels": {
        "boiler_gas": {"fuel": "natural_gas", "consumption_per_day": 24, "unit": "GJ"}}}}
    case = write_tiny_case(tmp_path / "case", park)
    out = tmp_path / "out"
    result = run("carbon", str(case), "--month", "2026-07", "--strategy", "rule-based", "--out", str(out))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "scope 1 2,693 kg" in text and "grid factor 0.5366 kg CO2/kWh" in text and "national factor" in text
    table = pd.read_csv(out / "carbon.csv")
    schedule = pd.read_parquet(out / "study" / "rule-based" / "schedule.parquet")
    assert table["scope1_co2_kg"].tolist() == pytest.approx([24 * 56.1, 24 * 56.1, 2 * 24 * 56.1])
    assert table["scope2_co2_kg"].iloc[2] == pytest.approx(schedule["grid_import_kw"].sum() * 0.25 * 0.5366)
    assert (schedule["co2_kg_per_kwh"] == 0.5366).all()
    assert (table["total_co2_kg"] == table["scope1_co2_kg"] + table["scope2_co2_kg"]).all()
    page = (out / "carbon.html").read_text(encoding="utf-8")
    assert "boiler_gas (natural_gas, 56.1 kg CO2/GJ: IPCC 2006 Guidelines" in page
    assert "Scope 1 is zero" not in page


def test_a_bad_carbon_section_is_one_line_naming_the_field(tmp_path: Path) -> None:
    park = {**TINY_PARK, "carbon": {"fuels": {"diesel": {"fuel": "diesel", "consumption_per_day": 5, "unit": "L"}}}}
    case = write_tiny_case(tmp_path / "case", park)
    one_line_error(run("carbon", str(case), "--month", "2026-07", "--out", str(tmp_path / "out")),
                   "carbon.fuels.diesel", "ncv_gj_per_unit")
