"""Wind through the service: plans on uploaded and inline wind forecasts, on weather, wind in results and KPIs.

The park: the tiny park without its battery and with two wind turbine groups
of their own power curves, wt1 (1000 kW from 12 m/s at its 30-m hub) and wt2
(half of it, 500 kW), in 15-minute data whose 10-m wind is 12 m/s from 20:00
to 08:00 and 2 m/s by day (below the cut-in: no wind). Without a battery a
plan is a balance per step, so each figure below is computed by hand:
load 900 kW from 08:00 to 20:00, 400 kW otherwise (15,600 kWh a day); at
most 500 kW exported, at a positive price, so wind beyond load + 500 kW is
curtailed.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from service.api import jobs
from tests.service.api.conftest import ADMIN, assert_problem, register, tiny_files
from tests.service.api.test_api_forecasts import rows
from tests.service.helpers import TINY_PARK, TINY_WIND_PARK, windy_nights, write_tiny_case

TZ = "Asia/Shanghai"
DAY_LOAD_KWH = 12 * 900.0 + 12 * 400.0


def wind_park() -> dict:
    park = copy.deepcopy(TINY_WIND_PARK)
    park.pop("batteries")
    wt2 = copy.deepcopy(park["wind_turbines"]["wt1"])
    wt2["power_curve"]["p_kw"] = [p / 2 for p in wt2["power_curve"]["p_kw"]]
    park["wind_turbines"]["wt2"] = wt2
    return park


@pytest.fixture
def windy(client, tmp_path: Path) -> str:
    register(client, "windy", tiny_files(tmp_path, wind_park(), wind=windy_nights), park=wind_park())
    return "windy"


def post_plan(client, body: dict | None = None, park_id: str = "windy"):
    return client.post(f"/parks/{park_id}/plans", json={"date": "2026-07-15", **(body or {})}, headers=ADMIN)


def plan(client, body: dict | None = None, park_id: str = "windy") -> dict:
    response = post_plan(client, body, park_id)
    assert response.status_code == 201, response.text
    return response.json()


def upload(client, body: dict, park_id: str = "windy"):
    return client.post(f"/parks/{park_id}/forecasts", json={"issued_at": "2026-07-14T18:00:00+08:00", **body},
                       headers=ADMIN)


def schedule(planned: dict) -> pd.DataFrame:
    frame = pd.DataFrame(planned["schedule"])
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp"))).tz_convert(TZ)
    return frame


def columns(*parts: tuple[str, list]) -> list[dict]:
    """Hourly rows of 2026-07-15 with several columns: (name, 24 values) each."""
    tables = [rows(name, values) for name, values in parts]
    return [{k: v for row in same for k, v in row.items()} for same in zip(*tables)]


NIGHT = [1.0 if h < 8 or h >= 20 else 0.0 for h in range(24)]
"""1 from 20:00 to 08:00, by the hour."""
ZERO_PV = rows("pv1_kw", [0.0] * 24)


def check_balance_and_kpis(planned: dict) -> pd.DataFrame:
    """The schedule balances at every step, and the wind KPIs are its sums (kWh = kW · 0.25 h)."""
    s, k = schedule(planned), planned["kpis"]
    supply = s["pv_used_kw"] + s["wind_used_kw"] + s["grid_import_kw"]
    assert np.abs(supply - s["load_kw"] - s["grid_export_kw"]).max() < 1e-3
    assert s["wind_available_kw"].to_numpy() == pytest.approx((s["wt1.available_kw"] + s["wt2.available_kw"]))
    assert s["wind_used_kw"].to_numpy() == pytest.approx((s["wt1.used_kw"] + s["wt2.used_kw"]).to_numpy(), abs=1e-6)
    assert s["wind_curtailment_kw"].to_numpy() == pytest.approx((s["wind_available_kw"] - s["wind_used_kw"]).to_numpy(),
                                                                abs=1e-6)
    assert k["wind_generation_kwh"] == pytest.approx(s["wind_available_kw"].sum() * 0.25, abs=1e-3)
    assert k["wind_used_kwh"] == pytest.approx(s["wind_used_kw"].sum() * 0.25, abs=1e-3)
    assert k["wind_curtailment_kwh"] == pytest.approx(s["wind_curtailment_kw"].sum() * 0.25, abs=1e-3)
    assert k["renewable_generation_kwh"] == pytest.approx(k["pv_generation_kwh"] + k["wind_generation_kwh"])
    return s


# --- wind from a forecast -------------------------------------------------------------------------------------

def test_an_inline_wind_total_is_split_over_the_groups_by_their_most_power(client, windy) -> None:
    """300 kW all day, split 2:1 (1000 and 500 kW groups); no PV: import = 15,600 − 24 h · 300 kW = 8,400 kWh."""
    planned = plan(client, {"forecasts": {"pv_kw": ZERO_PV, "wind_kw": rows("wind_kw", [300.0] * 24)}})
    assert planned["forecast_sources"] == {"pv.pv1": "pv_kw", "wind.wt1": "wind_kw", "wind.wt2": "wind_kw"}
    s = check_balance_and_kpis(planned)
    assert s["wt1.available_kw"].to_numpy() == pytest.approx(200.0)
    assert s["wt2.available_kw"].to_numpy() == pytest.approx(100.0)
    k = planned["kpis"]
    assert k["wind_generation_kwh"] == pytest.approx(7200.0)
    assert k["wind_used_kwh"] == pytest.approx(7200.0, abs=1e-3)
    assert k["wind_curtailment_kwh"] == pytest.approx(0.0, abs=1e-3)
    assert k["grid_import_kwh"] == pytest.approx(DAY_LOAD_KWH - 7200.0, abs=1e-3)
    assert k["wind_self_consumption_ratio"] == pytest.approx(1.0)


def test_an_uploaded_wind_forecast_is_used_by_the_next_plan(client, windy) -> None:
    """wt1 1000 kW and wt2 500 kW at night, nothing by day. At night: load 400 + export 500 = 900 kW of the
    1,500 used, 600 kW curtailed, 12 h: 18,000 kWh available, 10,800 used, 7,200 curtailed, 6,000 exported."""
    body = {"kind": "day_ahead", "pv_kw": ZERO_PV,
            "wind_kw": columns(("wt1_kw", [1000.0 * n for n in NIGHT]), ("wt2_kw", [500.0 * n for n in NIGHT]),
                               ("wind_kw", [1500.0 * n for n in NIGHT]))}
    response = upload(client, body)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["parts"]["wind_kw"] == {"start": "2026-07-15T00:00:00+08:00", "end": "2026-07-16T00:00:00+08:00",
                                          "rows": 24, "columns": ["wt1_kw", "wt2_kw", "wind_kw"]}
    assert stored["wind_kw"] == body["wind_kw"]
    assert client.get(f"/parks/windy/forecasts/{stored['id']}", headers=ADMIN).json()["wind_kw"] == body["wind_kw"]
    planned = plan(client)
    assert planned["forecast_id"] == stored["id"]
    assert planned["forecast_sources"] == {"pv.pv1": "pv_kw", "wind.wt1": "wind_kw", "wind.wt2": "wind_kw"}
    s = check_balance_and_kpis(planned)
    night = (s.index.hour < 8) | (s.index.hour >= 20)
    assert s.loc[night, "wind_used_kw"].to_numpy() == pytest.approx(900.0, abs=1e-3)
    assert s.loc[night, "wind_curtailment_kw"].to_numpy() == pytest.approx(600.0, abs=1e-3)
    assert s.loc[~night, "wind_available_kw"].to_numpy() == pytest.approx(0.0)
    k = planned["kpis"]
    assert (k["wind_generation_kwh"], k["wind_used_kwh"]) == (pytest.approx(18_000.0), pytest.approx(10_800.0))
    assert k["wind_curtailment_kwh"] == pytest.approx(7200.0, abs=1e-3)
    assert k["grid_export_kwh"] == pytest.approx(6000.0, abs=1e-3)
    assert k["wind_onsite_kwh"] == pytest.approx(12 * 400.0, abs=1e-3)  # the rest of the used wind is exported
    assert k["grid_import_kwh"] == pytest.approx(12 * 900.0, abs=1e-3)


def test_a_group_left_out_of_the_wind_forecast_comes_from_the_forecasts_weather(client, windy) -> None:
    """wt1 given (0 kW), wt2 from the uploaded weather: 12 m/s all day at 10 m, above its curve's 12 m/s at the
    hub, so its 500 kW, density-corrected (28 °C, the pressure given)."""
    weather = columns(("ghi", [0.0] * 24), ("temp_air", [28.0] * 24), ("wind_speed", [12.0] * 24),
                      ("pressure", [100_000.0] * 24))
    response = upload(client, {"weather": weather, "wind_kw": rows("wt1_kw", [0.0] * 24)})
    assert response.status_code == 201, response.text
    planned = plan(client)
    assert planned["forecast_sources"] == {"pv.pv1": "weather", "wind.wt1": "wind_kw", "wind.wt2": "weather"}
    s = check_balance_and_kpis(planned)
    assert s["wt1.available_kw"].to_numpy() == pytest.approx(0.0)
    assert s["wt2.available_kw"].to_numpy() == pytest.approx(500.0)
    assert planned["kpis"]["grid_import_kwh"] == pytest.approx(DAY_LOAD_KWH - 24 * 500.0 + 12 * 100.0, abs=1e-3)


def test_an_intraday_replan_takes_an_inline_wind_forecast(client, windy) -> None:
    """From 20:00 for 4 h, 1,500 kW of wind: load 400 + export 500 used, 600 kW curtailed: 2,400 kWh."""
    measured = client.post("/parks/windy/measurements", json={"measured_at": "2026-07-15T19:50:00+08:00",
                                                              "month_to_date_peak_kw": 0}, headers=ADMIN)
    assert measured.status_code == 201, measured.text
    wind = rows("wind_kw", [1500.0] * 4, start="2026-07-15 20:00")
    response = client.post("/parks/windy/plans/intraday", json={"horizon_h": 4, "forecasts": {"wind_kw": wind}},
                           headers=ADMIN)
    assert response.status_code == 201, response.text
    replan = response.json()
    assert replan["start"] == "2026-07-15T20:00:00+08:00" and replan["kind"] == "intraday"
    assert replan["forecast_sources"] == {"wind.wt1": "wind_kw", "wind.wt2": "wind_kw"}
    check_balance_and_kpis(replan)
    k = replan["kpis"]
    assert (k["wind_generation_kwh"], k["wind_curtailment_kwh"]) == (pytest.approx(6000.0),
                                                                     pytest.approx(2400.0, abs=1e-3))
    assert k["grid_export_kwh"] == pytest.approx(2000.0, abs=1e-3) and k["grid_import_kwh"] == pytest.approx(0.0,
                                                                                                              abs=1e-3)


# --- wind from weather --------------------------------------------------------------------------------------------

def test_without_a_wind_forecast_the_wind_comes_from_the_parks_weather(client, windy) -> None:
    """12 m/s at night gives both groups their most power, 1,500 kW for 12 h: 18,000 kWh; 2 m/s by day none.
    The night's hours without sun (00:00-06:00, 20:00-24:00) use 900 kW of it and curtail 600."""
    planned = plan(client)
    assert planned["forecast_id"] is None and planned["forecast_sources"] == {}
    s = check_balance_and_kpis(planned)
    night = (s.index.hour < 8) | (s.index.hour >= 20)
    assert s.loc[night, "wind_available_kw"].to_numpy() == pytest.approx(1500.0)
    assert s.loc[~night, "wind_available_kw"].to_numpy() == pytest.approx(0.0)
    dark = (s.index.hour < 6) | (s.index.hour >= 20)
    assert s.loc[dark, "wind_used_kw"].to_numpy() == pytest.approx(900.0, abs=1e-3)
    assert s.loc[dark, "wind_curtailment_kw"].to_numpy() == pytest.approx(600.0, abs=1e-3)
    assert planned["kpis"]["wind_generation_kwh"] == pytest.approx(18_000.0)


def test_an_inline_weather_forecast_gives_the_wind(client, windy) -> None:
    """Calm (1 m/s, below the cut-in) all day: no wind; the whole load less the PV is imported."""
    calm = columns(("ghi", [0.0] * 24), ("temp_air", [20.0] * 24), ("wind_speed", [1.0] * 24))
    planned = plan(client, {"forecasts": {"weather": calm}})
    assert planned["forecast_sources"] == {"pv.pv1": "weather", "wind.wt1": "weather", "wind.wt2": "weather"}
    check_balance_and_kpis(planned)
    assert planned["kpis"]["wind_generation_kwh"] == 0.0
    assert planned["kpis"]["grid_import_kwh"] == pytest.approx(DAY_LOAD_KWH, abs=1e-3)


# --- bad wind input -------------------------------------------------------------------------------------------------

WEATHER = {"ghi": [0.0] * 24, "temp_air": [20.0] * 24, "wind_speed": [8.0] * 24}


def weather_without(*names: str, **extra: list) -> list[dict]:
    table = {**{k: v for k, v in WEATHER.items() if k not in names}, **extra}
    return columns(*table.items())


@pytest.mark.parametrize(("forecasts", "field", "fragment"), [
    ({"wind_kw": rows("wt1_kw", [1200.0] * 24)}, "forecasts.wind_kw.wt1_kw",
     "1200 kW at 2026-07-15T00:00:00+08:00 exceeds the group's most power (max_p_kw) of 1000 kW"),
    ({"wind_kw": rows("wind_kw", [1600.0] * 24)}, "forecasts.wind_kw.wind_kw", "the groups' most power of 1500 kW"),
    ({"wind_kw": rows("wt9_kw", [1.0] * 24)}, "forecasts.wind_kw.wt9_kw",
     "the park has no wind turbine group column 'wt9_kw'; use wt1_kw, wt2_kw (and/or the total wind_kw)"),
    ({"wind_kw": columns(("wt1_kw", [10.0] * 24), ("wt2_kw", [10.0] * 24), ("wind_kw", [25.0] * 24))},
     "forecasts.wind_kw.wind_kw", "25 kW at 2026-07-15T00:00:00+08:00 is not the sum of the turbine group columns"),
    ({"wind_kw": rows("wind_kw", [100.0] * 20)}, "forecasts.wind_kw", "no value for 2026-07-15T20:00:00+08:00"),
    ({"wind_kw": rows("wind_kw", [-5.0] * 24)}, "forecasts.wind_kw", "-5"),
    ({"weather": weather_without("wind_speed")}, "forecasts.weather", "missing column wind_speed"),
])
def test_bad_wind_in_a_plan_request_is_422_naming_the_field(client, windy, forecasts, field, fragment) -> None:
    assert_problem(post_plan(client, {"forecasts": forecasts}), 422, field, fragment)
    assert client.get("/parks/windy/plans", headers=ADMIN).json() == []


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ({"weather": weather_without("wind_speed")}, "weather",
     "missing column wind_speed (wind speed at 10 m [m/s]); wind power needs it, for wind turbine group 'wt1'"),
    ({"weather": weather_without("wind_speed"), "wind_kw": rows("wt1_kw", [0.0] * 24)}, "weather",
     "for wind turbine group 'wt2' (or give its power in the wind_kw forecast)"),
    ({"weather": weather_without("temp_air")}, "weather", "missing column temp_air"),
    ({"weather": weather_without(pressure=[1013.0] * 24)}, "weather",
     "column 'pressure' has 1013 at 2026-07-15T00:00:00+08:00, outside the physical range 40000 … 110000"),
    ({"wind_kw": rows("wt2_kw", [501.0] * 24)}, "wind_kw.wt2_kw", "exceeds the group's most power (max_p_kw) of 500 kW"),
    ({"wind_kw": []}, "wind_kw", "no rows"),
])
def test_bad_wind_uploads_are_422_naming_the_field(client, windy, body, field, fragment) -> None:
    assert_problem(upload(client, body), 422, field, fragment)
    assert client.get("/parks/windy/forecasts", headers=ADMIN).json() == []


def test_a_weather_upload_needs_no_wind_where_the_wind_forecast_covers_every_group(client, windy) -> None:
    body = {"weather": weather_without("wind_speed", "temp_air"), "wind_kw": rows("wind_kw", [0.0] * 24)}
    assert upload(client, body).status_code == 201


def test_a_wind_forecast_for_a_park_without_wind_is_422(client, tmp_path) -> None:
    register(client, "calm", tiny_files(tmp_path))
    message = "the park has no wind turbines; leave out the wind forecast"
    assert_problem(post_plan(client, {"forecasts": {"wind_kw": rows("wind_kw", [1.0] * 24)}}, "calm"), 422,
                   "forecasts.wind_kw", message)
    assert_problem(upload(client, {"wind_kw": rows("wind_kw", [1.0] * 24)}, "calm"), 422, "wind_kw", message)


def test_the_wind_forecast_counts_against_the_row_limit(client, windy, settings) -> None:
    settings.max_forecast_rows = 23
    assert_problem(post_plan(client, {"forecasts": {"wind_kw": rows("wind_kw", [1.0] * 24)}}), 422,
                   "forecasts.wind_kw", "at most 23 rows, got 24")


# --- the worker's warm-up and the OpenAPI document ----------------------------------------------------------------

def test_the_warm_up_computes_the_wind_of_a_parks_weather_file(tmp_path) -> None:
    from forecasting.wind import cached_case_wind_profiles

    folder = write_tiny_case(tmp_path / "case", wind_park(), wind=windy_nights)
    jobs._case_cache.clear()
    assert jobs.warm_up_job([(wind_park(), str(folder)), (copy.deepcopy(TINY_PARK), str(folder))])
    wind, calm = jobs._case_cache.values()
    year = cached_case_wind_profiles(wind)
    assert list(year.columns) == ["wt1", "wt2"] and len(year) == 2 * 96   # the whole file, not one day
    assert year["wt1"].max() == pytest.approx(1000.0) and year["wt2"].max() == pytest.approx(500.0)
    assert cached_case_wind_profiles(calm) is None   # no wind turbines, nothing computed


def test_the_openapi_document_declares_the_wind_forecast(client) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for name in ("ForecastsIn", "ForecastCreate", "ForecastOut"):
        assert "wind_kw" in schemas[name]["properties"], name
    assert "max_p_kw" in schemas["ForecastsIn"]["properties"]["wind_kw"]["description"]
    assert "pressure" in schemas["ForecastCreate"]["properties"]["weather"]["description"]
    assert "wind_available_kw" in schemas["PlanOut"]["properties"]["schedule"]["description"]
    assert "wind_generation_kwh" in schemas["PlanOut"]["properties"]["kpis"]["description"]


# --- real data: the reference park with a turbine of windpowerlib's library ---------------------------------------

def test_the_reference_park_with_a_library_turbine_plans_its_wind(client) -> None:
    """Two Enercon E-82/2350 at 100 m on the reference park's 2026 weather: the plan's wind is windpowerlib's."""
    from forecasting.wind import park_wind_kw
    from microgrid.case import load_case, park_from_dict
    from service.api.store import read_case_document

    reference = Path(__file__).resolve().parents[3] / "cases" / "zhengzhou_park"
    document = read_case_document(reference)
    document["wind_turbines"] = {"wt1": {"bus": "ws1_lv", "turbine_type": "E-82/2350", "hub_height_m": 100,
                                         "number_of_turbines": 2}}
    response = client.post("/parks", json={"id": "zz_wind", "case_folder": "zhengzhou_park", "park": document},
                           headers=ADMIN)
    assert response.status_code == 201, response.text
    planned = plan(client, park_id="zz_wind")
    assert planned["status"] == "optimal"
    s, k = schedule(planned), planned["kpis"]
    weather = load_case(reference).weather
    day = weather.loc[(weather.index >= s.index[0]) & (weather.index <= s.index[-1])]
    park = park_from_dict(document)
    expected = park_wind_kw(day, park.site, park.wind_turbines)["wt1"].to_numpy()
    assert s["wt1.available_kw"].to_numpy() == pytest.approx(expected, abs=1e-6)
    assert 0 < expected.max() <= park.wind_turbines["wt1"].max_p_kw
    assert s["wind_curtailment_kw"].to_numpy() == pytest.approx((s["wind_available_kw"] - s["wind_used_kw"]).to_numpy(),
                                                                abs=1e-6)
    assert k["wind_generation_kwh"] == pytest.approx(expected.sum() * 0.25, rel=1e-9)
    assert k["wind_used_kwh"] == pytest.approx(s["wind_used_kw"].sum() * 0.25, abs=1e-3)
    # the park's load is far above its PV and wind: nothing is curtailed, all of it is used on site
    assert k["wind_curtailment_kwh"] == pytest.approx(0.0, abs=1e-3)
    assert k["wind_self_consumption_ratio"] == pytest.approx(1.0, abs=1e-6)
