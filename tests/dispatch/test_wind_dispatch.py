"""Wind in the plan: a curtailable generator like PV, in the balance, the KPIs, the heuristics and the inputs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dispatch.inputs import Forecasts, PlantState, horizon_inputs
from dispatch.model import DispatchConfig
from dispatch.rolling import RollingConfig, run_rolling_horizon
from dispatch.strategies import STRATEGIES, run_strategy
from forecasting.wind import cached_case_wind_profiles, case_wind_profiles, park_wind_kw
from microgrid.case import load_case
from microgrid.errors import DataError
from tests.conftest import make_inputs, two_price_park
from tests.service.helpers import TINY_WIND_PARK, windy_nights, write_tiny_case

TZ = "Asia/Shanghai"
TURBINE = {"bus": "main", "hub_height_m": 30,
           "power_curve": {"wind_speed_m_per_s": [3.0, 12.0, 25.0], "p_kw": [0.0, 1000.0, 1000.0]}}


def wind_park(**battery) -> dict:
    """:func:`two_price_park` (battery 100 kWh, 100 kW, η 0.9 each way, empty) with a 1-MW turbine, export ≤ 200 kW."""
    park = two_price_park(**battery)
    park["grid"]["max_export_kw"] = 200
    park["tariff"]["export_price_cny_per_kwh"] = 0.3779
    park["wind_turbines"] = {"wt1": TURBINE}
    return park


def balance_kw(s: pd.DataFrame) -> np.ndarray:
    """Supply − demand at every step of a schedule [kW]."""
    supply = s["pv_used_kw"] + s["wind_used_kw"] + s["grid_import_kw"] + s["battery_discharge_kw"]
    return (supply - s["load_kw"] - s["battery_charge_kw"] - s["grid_export_kw"]).to_numpy()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_wind_beyond_load_storage_and_export_cap_is_curtailed_exactly(strategy: str) -> None:
    """Wind 600 kW for 2 h, load 100 kW, export ≤ 200 kW, an empty 100-kWh battery (η_ch 0.9).

    Surplus beyond load and export: 2 · (600 − 100 − 200) = 600 kWh. A strategy that charges the
    battery from it stores 100 kWh, taking 100 / 0.9 = 111.11 kWh: 488.89 kWh curtailed; no-control
    leaves the battery idle: 600 kWh. The export cap binds at both steps.
    """
    result = run_strategy(make_inputs(wind_park(), [100.0, 100.0], wind_kw=[600.0, 600.0]), strategy)
    s, k = result.schedule, result.kpis
    charged_kwh = 0.0 if strategy == "no-control" else 100.0 / 0.9
    assert k["wind_curtailment_kwh"] == pytest.approx(600.0 - charged_kwh, abs=1e-4)
    assert s["grid_export_kw"].tolist() == pytest.approx([200.0, 200.0], abs=1e-6)
    assert s["battery_charge_kw"].sum() == pytest.approx(charged_kwh, abs=1e-4)
    # At every step: curtailed = available − load − export − charge, and the balance closes.
    surplus = s["wind_available_kw"] - s["load_kw"] - s["grid_export_kw"] - s["battery_charge_kw"]
    assert s["wind_curtailment_kw"].to_numpy() == pytest.approx(surplus.to_numpy(), abs=1e-6)
    assert s["wt1.available_kw"].tolist() == [600.0, 600.0]
    assert s["wt1.used_kw"].to_numpy() == pytest.approx(s["wind_used_kw"].to_numpy())
    assert np.abs(balance_kw(s)).max() < 1e-6
    assert k["renewable_curtailment_kwh"] == pytest.approx(k["wind_curtailment_kwh"])
    assert k["curtailment_kwh"] == pytest.approx(0.0, abs=1e-9)          # PV's: the park has none
    assert k["export_revenue_cny"] == pytest.approx(400.0 * 0.3779)


def test_wind_kpis_by_hand() -> None:
    """The optimal plan above: used 311.11 then 400 kW, export 200 kW at both steps, no import.

    On site: (311.11 − 200) + (400 − 200) = 311.11 kWh of the 1,200 kWh; green share 1; CO2
    avoided 311.11 kWh × the grid factor.
    """
    result = run_strategy(make_inputs(wind_park(), [100.0, 100.0], wind_kw=[600.0, 600.0]), "optimal")
    k = result.kpis
    onsite = 1200.0 - 488.889 - 400.0
    assert k["wind_generation_kwh"] == pytest.approx(1200.0)
    assert k["wind_used_kwh"] == pytest.approx(1200.0 - 488.889, abs=1e-3)
    assert k["wind_onsite_kwh"] == pytest.approx(onsite, abs=1e-3)
    assert k["renewable_onsite_kwh"] == pytest.approx(onsite, abs=1e-3)
    assert k["wind_self_consumption_ratio"] == pytest.approx(onsite / 1200.0, abs=1e-6)
    assert k["renewable_self_consumption_ratio"] == pytest.approx(onsite / 1200.0, abs=1e-6)
    assert k["green_share_ratio"] == pytest.approx(1.0)
    factor = result.schedule["co2_kg_per_kwh"].iloc[0]
    assert k["co2_avoided_kg"] == pytest.approx(onsite * factor, abs=1e-3)
    assert k["pv_onsite_kwh"] == 0.0 and k["pv_self_consumption_ratio"] == 0.0


def test_pv_and_wind_are_curtailed_in_proportion_and_share_the_export() -> None:
    """PV 300 and wind 600 kW, load 100 kW, no battery, export ≤ 200 kW: 600 kW curtailed.

    The heuristics take it from each in proportion to its output (200 PV, 400 wind). On site
    100 kW, shared likewise: PV 100/3, wind 200/3 kW; self-consumption 1/9 of each; 600 of the
    900 kWh generated are curtailed: a curtailment ratio of 2/3.
    """
    park = wind_park()
    park["batteries"] = {}
    park["pv_arrays"] = {"pv1": {"bus": "main", "dc_capacity_kw": 400, "ac_capacity_kw": 300}}
    inputs = make_inputs(park, [100.0], pv_kw=[300.0], wind_kw=[600.0])
    for strategy in ("rule-based", "no-control", "tou-arbitrage"):
        k = run_strategy(inputs, strategy).kpis
        assert k["curtailment_kwh"] == pytest.approx(200.0)
        assert k["wind_curtailment_kwh"] == pytest.approx(400.0)
        assert k["renewable_curtailment_kwh"] == pytest.approx(600.0)
        assert k["renewable_curtailment_ratio"] == pytest.approx(2 / 3)
        assert k["pv_onsite_kwh"] == pytest.approx(100.0 / 3)
        assert k["wind_onsite_kwh"] == pytest.approx(200.0 / 3)
        assert k["pv_self_consumption_ratio"] == pytest.approx(1 / 9)
        assert k["wind_self_consumption_ratio"] == pytest.approx(1 / 9)
    k = run_strategy(inputs, "optimal").kpis
    assert k["renewable_curtailment_kwh"] == pytest.approx(600.0, abs=1e-6)
    assert k["renewable_onsite_kwh"] == pytest.approx(100.0, abs=1e-6)


def test_wind_surplus_may_be_exported_where_only_pv_may_be() -> None:
    """``export_pv_only`` (the default) keeps the battery from exporting, not the wind: 200 kW sold."""
    park = wind_park()
    park["batteries"] = {}
    assert park["grid"].get("export_pv_only", True)
    k = run_strategy(make_inputs(park, [100.0], wind_kw=[300.0]), "optimal").kpis
    assert k["grid_export_kwh"] == pytest.approx(200.0)
    assert k["wind_curtailment_kwh"] == pytest.approx(0.0, abs=1e-6)


def test_self_consumption_objective_counts_wind() -> None:
    """Wind 200 kW in the valley hour, load 100 kW both hours, export paid 0.9 CNY/kWh.

    At least cost the surplus is sold (90 CNY) rather than stored for the peak (81 kWh × 1.0 CNY);
    the self-consumption objective keeps it on site: the battery takes all 100 kW, nothing exported.
    """
    park = wind_park()
    park["tariff"]["export_price_cny_per_kwh"] = 0.9
    inputs = make_inputs(park, [100.0, 100.0], wind_kw=[200.0, 0.0])
    spend = {"end_of_horizon": "minimum"}
    cost = run_strategy(inputs, "optimal", DispatchConfig(**spend)).kpis
    assert cost["grid_export_kwh"] == pytest.approx(100.0, abs=1e-6)
    own = run_strategy(inputs, "optimal", DispatchConfig(objective="self_consumption", **spend))
    # (within the lexicographic tolerance, 1e-6 of the 200 kWh on site)
    assert own.kpis["grid_export_kwh"] == pytest.approx(0.0, abs=1e-3)
    assert own.schedule["battery_charge_kw"].iloc[0] == pytest.approx(100.0, abs=1e-3)
    assert own.kpis["wind_onsite_kwh"] == pytest.approx(200.0, abs=1e-3)


def test_inputs_check_the_wind_series() -> None:
    inputs = make_inputs(wind_park(), [100.0], wind_kw=[100.0])
    with pytest.raises(DataError, match="wind_available_kw: no series for wt1"):
        dataclasses.replace(inputs, wind_available_kw=pd.DataFrame(index=inputs.index))
    with pytest.raises(DataError, match="wind_available_kw: one value ≥ 0 kW"):
        make_inputs(wind_park(), [100.0], wind_kw=[-5.0])


# --- from a case: its weather, a weather forecast, a direct forecast ------------------------------------------------

START = pd.Timestamp("2026-07-15", tz=TZ)


@pytest.fixture(scope="module")
def wind_case(tmp_path_factory):
    return load_case(write_tiny_case(tmp_path_factory.mktemp("wind") / "case", TINY_WIND_PARK, wind=windy_nights))


def test_wind_comes_from_the_case_weather_through_windpowerlib(wind_case) -> None:
    inputs = horizon_inputs(wind_case, START, 24.0)
    weather = wind_case.weather.loc[(wind_case.weather.index >= START)
                                    & (wind_case.weather.index < START + pd.Timedelta(hours=24))]
    expected = park_wind_kw(weather, wind_case.park.site, wind_case.park.wind_turbines)
    assert list(inputs.wind_available_kw.columns) == ["wt1"]
    assert inputs.wind_available_kw["wt1"].to_numpy() == pytest.approx(expected["wt1"].to_numpy())
    assert inputs.wind_available_kw["wt1"].iloc[0] == pytest.approx(1000.0)      # 12 m/s at night
    assert inputs.wind_available_kw["wt1"].iloc[48] == 0.0                        # 2 m/s at noon
    assert inputs.forecast_sources == {}


def test_a_rolling_horizon_slices_the_wind_of_the_year(tmp_path) -> None:
    case = load_case(write_tiny_case(tmp_path / "case", TINY_WIND_PARK, wind=windy_nights))
    single = horizon_inputs(case, START, 6.0).wind_available_kw
    assert cached_case_wind_profiles(case) is None            # a single plan does not compute the year
    year = case_wind_profiles(case)
    assert cached_case_wind_profiles(case) is year and len(year) == 2 * 96
    sliced = horizon_inputs(case, START, 6.0).wind_available_kw
    pd.testing.assert_frame_equal(sliced, single)


def test_a_direct_wind_forecast_replaces_the_weather(wind_case) -> None:
    index = pd.date_range(START, periods=24, freq="1h", tz=TZ)
    total = pd.DataFrame({"wind_kw": np.linspace(0.0, 920.0, 24)}, index=index)
    inputs = horizon_inputs(wind_case, START, 24.0, forecasts=Forecasts(wind_kw=total))
    assert inputs.forecast_sources == {"wind.wt1": "wind_kw"}
    assert inputs.wind_available_kw["wt1"].iloc[4:8].tolist() == pytest.approx([total["wind_kw"].iloc[1]] * 4)
    with pytest.raises(DataError, match="exceeds the groups' most power of 1000 kW"):
        horizon_inputs(wind_case, START, 24.0, forecasts=Forecasts(wind_kw=total * 2, names={"wind_kw": "--wind"}))
    with pytest.raises(DataError, match="--wind.wt2_kw: the park has no wind turbine group column 'wt2_kw'; use wt1_kw"):
        horizon_inputs(wind_case, START, 24.0, forecasts=Forecasts(wind_kw=total.rename(columns={"wind_kw": "wt2_kw"}),
                                                                  names={"wind_kw": "--wind"}))


def test_a_weather_forecast_gives_the_wind_too(wind_case) -> None:
    index = pd.date_range(START, periods=24, freq="1h", tz=TZ)
    calm = pd.DataFrame({"ghi": 0.0, "dni": 0.0, "dhi": 0.0, "temp_air": 20.0, "wind_speed": 1.0}, index=index)
    inputs = horizon_inputs(wind_case, START, 24.0, forecasts=Forecasts(weather=calm))
    assert inputs.forecast_sources["wind.wt1"] == "weather"
    assert (inputs.wind_available_kw["wt1"] == 0.0).all()                         # below the curve's cut-in
    no_wind = calm.drop(columns="wind_speed")
    with pytest.raises(DataError, match="--weather: missing column wind_speed"):
        horizon_inputs(wind_case, START, 24.0, forecasts=Forecasts(weather=no_wind, names={"weather": "--weather"}))


def test_a_wind_forecast_for_a_park_without_wind_is_refused(tmp_path) -> None:
    park = {key: value for key, value in TINY_WIND_PARK.items() if key != "wind_turbines"}
    case = load_case(write_tiny_case(tmp_path / "case", park))
    index = pd.date_range(START, periods=24, freq="1h", tz=TZ)
    forecast = Forecasts(wind_kw=pd.DataFrame({"wind_kw": 1.0}, index=index), names={"wind_kw": "--wind-forecast"})
    with pytest.raises(DataError, match="--wind-forecast: the park has no wind turbines; leave out the wind forecast"):
        horizon_inputs(case, START, 24.0, forecasts=forecast)


@pytest.mark.parametrize("strategy", ["rule-based", "mpc"])
def test_a_rolling_horizon_carries_the_wind(wind_case, strategy: str) -> None:
    """Six hours of the windy night, re-planned every hour: all the wind the plans could use, in balance."""
    config = RollingConfig(strategy=strategy, horizon_h=6.0, replan_h=1.0)
    result = run_rolling_horizon(wind_case, START, START + pd.Timedelta(hours=6), config,
                                 state=PlantState(month_to_date_peak_kw=0.0))
    s, k = result.schedule, result.kpis
    assert len(s) == 24 and k["fallback_windows"] == 0
    assert s["wind_available_kw"].to_numpy() == pytest.approx(1000.0)
    assert np.abs(balance_kw(s)).max() < 1e-3
    assert k["wind_generation_kwh"] == pytest.approx(6000.0)
    # Load 400 kW: of the other 600 kW, what the battery and the export (≤ 500 kW) do not take is curtailed,
    # and wind is curtailed only where the export is at its cap.
    surplus = 600.0 - s["grid_export_kw"] - s["battery_charge_kw"] + s["battery_discharge_kw"]
    assert s["wind_curtailment_kw"].to_numpy() == pytest.approx(surplus.to_numpy(), abs=1e-3)
    assert (s["grid_export_kw"] <= 500.0 + 1e-6).all()
    assert s.loc[s["wind_curtailment_kw"] > 1e-3, "grid_export_kw"].to_numpy() == pytest.approx(500.0)
    assert k["wind_curtailment_kwh"] > 0


def test_a_study_reports_the_wind(wind_case, tmp_path: Path) -> None:
    import datetime as dt

    from dispatch.studies.study import StudySettings, run_study

    settings = StudySettings(dt.date(2026, 7, 15), dt.date(2026, 7, 15), ("no-control", "rule-based"),
                             baseline="no-control")
    result = run_study(wind_case, settings, tmp_path / "study", report=True)
    kpis = json.loads((tmp_path / "study" / "kpis.json").read_text())["strategies"]
    for strategy in ("no-control", "rule-based"):
        assert kpis[strategy]["wind_generation_kwh"] == pytest.approx(12_000.0, rel=1e-6)
        assert {"wind_used_kw", "wt1.used_kw"} <= set(result.runs[strategy].schedule.columns)
    assert kpis["rule-based"]["wind_curtailment_kwh"] < kpis["no-control"]["wind_curtailment_kwh"]
    assert "wind self-consumption" in (tmp_path / "study" / "report.html").read_text()
