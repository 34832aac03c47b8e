"""Carbon metering (dispatch.carbon) on hand-made schedules with figures computed by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dispatch.carbon import CARBON_COLUMNS, carbon_by_day, factor_source
from microgrid.case import park_from_dict
from microgrid.errors import InvalidRequestError
from microgrid.tariff import GRID_CO2_SOURCE
from tests.conftest import hourly_index, two_price_park


def park(co2_kg_per_kwh: float = 0.5):
    config = two_price_park()
    config["tariff"]["co2_kg_per_kwh"] = co2_kg_per_kwh
    return park_from_dict(config)


def schedule(start: str, pv_used_kw, grid_import_kw, grid_export_kw, load_kw, charge_kw, discharge_kw,
             factor: float = 0.5) -> pd.DataFrame:
    """A schedule in the output contract, four 15-minute steps from ``start`` (only what the KPIs read)."""
    index = hourly_index(4, start=start, freq="15min")
    frame = pd.DataFrame({
        "pv_available_kw": pv_used_kw, "pv_used_kw": pv_used_kw, "load_kw": load_kw,
        "battery_charge_kw": charge_kw, "battery_discharge_kw": discharge_kw,
        "grid_import_kw": grid_import_kw, "grid_export_kw": grid_export_kw,
        "price_import_cny_per_kwh": 0.5, "price_export_cny_per_kwh": 0.0, "unserved_load_kw": 0.0,
        "co2_kg_per_kwh": factor, "b1.charge_kw": charge_kw, "b1.discharge_kw": discharge_kw,
        "b1.wear_cny_per_kwh": 0.0,
    }, index=index, dtype=float)
    balance = (frame["pv_used_kw"] + frame["grid_import_kw"] + frame["battery_discharge_kw"] - frame["load_kw"]
               - frame["battery_charge_kw"] - frame["grid_export_kw"])
    assert balance.abs().max() == 0.0, "the hand-made schedule must balance"
    return frame


def test_two_days_by_hand() -> None:
    # 15 July 23:30, 23:45 (no sun), 16 July 00:00, 00:15 (PV; 200 kW exported at 00:00)
    frame = schedule("2026-07-15 23:30", pv_used_kw=[0, 0, 800, 600], grid_import_kw=[400, 200, 0, 100],
                     grid_export_kw=[0, 0, 200, 0], load_kw=[400, 300, 400, 700], charge_kw=[0, 0, 200, 0],
                     discharge_kw=[0, 100, 0, 0])
    table = carbon_by_day(frame, park())
    assert list(table.columns) == list(CARBON_COLUMNS)
    assert list(table["period"]) == ["day", "day", "month"]
    assert list(table["date"]) == ["2026-07-15", "2026-07-16", "2026-07"]
    day1, day2, month = (table.iloc[k] for k in range(3))
    # day 1: import (400 + 200) × 0.25 = 150 kWh, 150 × 0.5 = 75 kg; load (400 + 300) × 0.25 = 175 kWh
    assert day1["import_kwh"] == pytest.approx(150.0)
    assert day1["consumption_kwh"] == pytest.approx(175.0)
    assert day1["scope2_co2_kg"] == pytest.approx(75.0)
    assert day1["renewable_onsite_kwh"] == 0.0 and day1["avoided_co2_kg"] == 0.0 and day1["renewable_share"] == 0.0
    assert day1["intensity_kg_per_kwh"] == pytest.approx(75.0 / 175.0)
    assert day1["gec_mwh"] == 0.0 and math.isnan(day1["gec_certificates"])
    # day 2: on site (800 − 200 exported) + 600 = 1200 kW × 0.25 = 300 kWh; the export is not credited
    assert day2["import_kwh"] == pytest.approx(25.0)
    assert day2["consumption_kwh"] == pytest.approx(275.0)
    assert day2["scope2_co2_kg"] == pytest.approx(12.5)
    assert day2["renewable_onsite_kwh"] == pytest.approx(300.0)
    assert day2["avoided_co2_kg"] == pytest.approx(150.0)
    assert day2["renewable_share"] == pytest.approx(300.0 / 325.0)
    assert day2["intensity_kg_per_kwh"] == pytest.approx(12.5 / 275.0)
    assert day2["gec_mwh"] == pytest.approx((800 + 600) * 0.25 / 1000)   # generation delivered, export included
    # the month: sums of the days, ratios of the sums
    assert month["import_kwh"] == pytest.approx(175.0)
    assert month["scope2_co2_kg"] == pytest.approx(87.5)
    assert month["avoided_co2_kg"] == pytest.approx(150.0)
    assert month["renewable_share"] == pytest.approx(300.0 / 475.0)
    assert month["intensity_kg_per_kwh"] == pytest.approx(87.5 / 450.0)
    assert month["gec_mwh"] == pytest.approx(0.35) and month["gec_certificates"] == 0.0
    assert (table["scope1_co2_kg"] == 0.0).all() and (table["co2_kg_per_kwh"] == 0.5).all()
    assert (table["total_co2_kg"] == table["scope2_co2_kg"]).all()


def test_months_split_and_whole_certificates() -> None:
    # 31 July 23:30, 23:45: 3000 kW of PV each (1.5 MWh), 1 August 00:00, 00:15: 4000 kW each (2 MWh)
    frame = schedule("2026-07-31 23:30", pv_used_kw=[3000, 3000, 4000, 4000], grid_import_kw=[0, 0, 0, 0],
                     grid_export_kw=[0, 0, 0, 0], load_kw=[3000, 3000, 4000, 4000], charge_kw=[0] * 4,
                     discharge_kw=[0] * 4)
    table = carbon_by_day(frame, park())
    assert list(table["date"]) == ["2026-07-31", "2026-07", "2026-08-01", "2026-08"]
    months = table.loc[table["period"] == "month"].set_index("date")
    assert months.loc["2026-07", "gec_mwh"] == pytest.approx(1.5)
    assert months.loc["2026-07", "gec_certificates"] == 1.0            # whole MWh only
    assert months.loc["2026-08", "gec_certificates"] == 2.0            # exactly 2 MWh is 2 certificates
    assert (table["renewable_share"] == 1.0).all() and (table["scope2_co2_kg"] == 0.0).all()
    assert months.loc["2026-08", "avoided_co2_kg"] == pytest.approx(2000 * 0.5)


def test_a_factor_per_step_and_the_sources() -> None:
    # 100 kW imported over four steps of 15 min (25 kWh each) at factors 0.5, 0.5, 0.6, 0.8
    frame = schedule("2026-07-15 12:00", [0] * 4, [100] * 4, [0] * 4, [100] * 4, [0] * 4, [0] * 4)
    frame["co2_kg_per_kwh"] = [0.5, 0.5, 0.6, 0.8]
    day = carbon_by_day(frame, park()).iloc[0]
    assert day["scope2_co2_kg"] == pytest.approx(25 * (0.5 + 0.5 + 0.6 + 0.8))      # 60 kg
    assert day["co2_kg_per_kwh"] == pytest.approx(0.6)                               # the steps' mean
    assert day["intensity_kg_per_kwh"] == pytest.approx(60.0 / 100.0)
    frame.iloc[1, frame.columns.get_loc("co2_kg_per_kwh")] = float("nan")
    with pytest.raises(InvalidRequestError, match="co2_kg_per_kwh"):
        carbon_by_day(frame, park())
    with pytest.raises(InvalidRequestError, match="schedule"):
        carbon_by_day(frame.iloc[:0], park())
    assert GRID_CO2_SOURCE in factor_source(park(0.5395))
    assert "regional factor of Central China" in factor_source(park(0.5395))
    assert "tariff.co2_kg_per_kwh" in factor_source(park(0.5))


def test_scope1_fuels_pro_rata_of_the_hours_covered() -> None:
    config = two_price_park()
    config["carbon"] = {"grid": {"preset": "mee_2022_national"}, "fuels": {
        # 10 GJ of natural gas a day at IPCC's 56.1 kg/GJ: 561 kg a day
        "canteen": {"fuel": "natural_gas", "consumption_per_day": 10, "unit": "GJ"},
        # 3.1 t of diesel in July (31 days): 0.1 t a day × 43.0 GJ/t × 74.1 kg/GJ = 318.63 kg a day
        "standby": {"fuel": "diesel", "consumption_per_month": 3.1, "unit": "t"}}}
    with_fuels = park_from_dict(config)
    # the same two days as test_two_days_by_hand: 30 min of 15 July, 30 min of 16 July
    frame = schedule("2026-07-15 23:30", pv_used_kw=[0, 0, 800, 600], grid_import_kw=[400, 200, 0, 100],
                     grid_export_kw=[0, 0, 200, 0], load_kw=[400, 300, 400, 700], charge_kw=[0, 0, 200, 0],
                     discharge_kw=[0, 100, 0, 0], factor=0.5366)
    table = carbon_by_day(frame, with_fuels)
    per_day = 561.0 + 318.63
    assert table["scope1_co2_kg"].tolist() == pytest.approx([per_day * 0.5 / 24, per_day * 0.5 / 24,
                                                             per_day * 1.0 / 24])
    assert table["scope2_co2_kg"].tolist() == pytest.approx([150 * 0.5366, 25 * 0.5366, 175 * 0.5366])
    assert (table["total_co2_kg"] == table["scope1_co2_kg"] + table["scope2_co2_kg"]).all()
    assert with_fuels.tariff.co2_kg_per_kwh == 0.5366               # the one factor the model reads


def test_the_co2_objective_runs_a_batch_in_the_cleaner_hour_of_an_hourly_profile() -> None:
    # a 100 kW load and a 100 kW, 1-h press to run once between 00:00 and 02:00, at a flat price; the grid
    # factor is 0.8 kg/kWh at hour 0 and 0.4 at hour 1: the press runs at 01:00, 100 × 0.8 + 200 × 0.4 = 160 kg
    from dispatch.model import DispatchConfig
    from dispatch.strategies import run_strategy
    from tests.conftest import make_inputs
    from tests.dispatch.test_objectives import co2_park

    config = co2_park()
    del config["tariff"]["co2_kg_per_kwh"]
    config["carbon"] = {"grid": {"co2_kg_per_kwh": 0.5, "scope": "custom", "source": "a test figure",
                                 "hourly_co2_kg_per_kwh": [0.8, 0.4] + [0.5] * 22, "hourly_source": "a test profile"}}
    inputs = make_inputs(config, [100.0, 100.0])
    result = run_strategy(inputs, "optimal", DispatchConfig(objective="co2"))
    assert result.schedule["press.load_kw"].tolist() == pytest.approx([0.0, 100.0])
    assert result.schedule["co2_kg_per_kwh"].tolist() == [0.8, 0.4]
    assert result.kpis["co2_kg"] == pytest.approx(160.0)
    table = carbon_by_day(result.schedule, inputs.park)
    assert table["scope2_co2_kg"].iloc[0] == pytest.approx(160.0)
    assert table["co2_kg_per_kwh"].iloc[0] == pytest.approx(0.6)
