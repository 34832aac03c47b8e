"""``/parks/{id}/forecasts``: uploads checked against the park, stored durably, listed, and used by the next plans."""

from __future__ import annotations

import copy
import datetime as dt

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from service.api.db import init_db, make_engine
from service.api.deps import get_planner, get_settings
from service.api.main import create_app
from tests.service.api.conftest import ADMIN, assert_problem, register, tiny_park

TZ = "Asia/Shanghai"
EVENT = {"kind": "reduce", "start": "2026-07-15T12:00:00+08:00", "end": "2026-07-15T12:30:00+08:00",
         "reduce_by_kw": 50, "incentive_cny_per_kwh": 1.0, "notified_at": "2026-07-15T08:00:00+08:00"}


def rows(column: str, values, start: str = "2026-07-15", freq: str = "1h") -> list[dict]:
    """Rows ``timestamp`` (+08:00) and ``column``, one per value."""
    stamps = pd.date_range(start, periods=len(values), freq=freq, tz=TZ)
    return [{"timestamp": t.isoformat(), column: v} for t, v in zip(stamps, values)]


ZERO_PV = {"issued_at": "2026-07-14T18:00:00+08:00", "kind": "day_ahead", "source": "test",
           "pv_kw": rows("pv1_kw", [0.0] * 24)}
"""No PV on 2026-07-15 (24 hourly rows: 00:00 to 24:00)."""


def no_battery() -> dict:
    park = copy.deepcopy(tiny_park())
    park.pop("batteries")
    return park


@pytest.fixture
def tiny(client, files) -> str:
    """The tiny park without its battery: a plan imports exactly the load less the PV (the day: 900 kW 08-20 h,
    400 kW otherwise)."""
    register(client, "tiny", files, park=no_battery())
    return "tiny"


def upload(client, body: dict, park_id: str = "tiny", headers=ADMIN):
    return client.post(f"/parks/{park_id}/forecasts", json=body, headers=headers)


def plan(client, body: dict | None = None, park_id: str = "tiny") -> dict:
    response = client.post(f"/parks/{park_id}/plans", json={"date": "2026-07-15", **(body or {})}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


# --- the resource --------------------------------------------------------------------------------

def test_upload_read_list_and_delete(client, tiny) -> None:
    body = {**ZERO_PV, "issued_at": "2026-07-14T10:00:00Z",
            "load_kw": rows("l1_kw", [500.0] * 96, freq="15min")}
    response = upload(client, body)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert response.headers["location"] == f"/parks/tiny/forecasts/{stored['id']}"
    assert stored["issued_at"] == "2026-07-14T10:00:00Z" and stored["park_version"] == 1
    assert (stored["kind"], stored["source"]) == ("day_ahead", "test")
    assert stored["parts"] == {
        "pv_kw": {"start": "2026-07-15T00:00:00+08:00", "end": "2026-07-16T00:00:00+08:00", "rows": 24,
                  "columns": ["pv1_kw"]},
        "load_kw": {"start": "2026-07-15T00:00:00+08:00", "end": "2026-07-16T00:00:00+08:00", "rows": 96,
                    "columns": ["l1_kw"]}}
    assert stored["start"] == "2026-07-14T16:00:00Z" and stored["end"] == "2026-07-15T16:00:00Z"
    assert stored["pv_kw"] == body["pv_kw"] and stored["load_kw"] == body["load_kw"] and stored["weather"] is None
    fetched = client.get(response.headers["location"], headers=ADMIN)
    assert fetched.status_code == 200 and fetched.json() == stored
    listed = client.get("/parks/tiny/forecasts", headers=ADMIN).json()
    assert [f["id"] for f in listed] == [stored["id"]] and "pv_kw" not in listed[0]
    assert listed[0]["parts"] == stored["parts"]
    deleted = client.delete(f"/parks/tiny/forecasts/{stored['id']}", headers=ADMIN)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_problem(client.get(f"/parks/tiny/forecasts/{stored['id']}", headers=ADMIN), 404, None, "no forecast")
    assert_problem(client.delete(f"/parks/tiny/forecasts/{stored['id']}", headers=ADMIN), 404)
    assert client.get("/parks/tiny/forecasts", headers=ADMIN).json() == []
    again = upload(client, body).json()
    assert again["id"] == stored["id"] + 1  # a deleted id is never given again


def test_the_list_is_newest_first_and_filters_by_period_and_kind(client, tiny) -> None:
    day = upload(client, ZERO_PV).json()
    morning = upload(client, {"issued_at": "2026-07-15T06:00:00+08:00", "kind": "intraday",
                              "pv_kw": rows("pv1_kw", [0.0] * 6, start="2026-07-15 06:00")}).json()
    older = upload(client, {**ZERO_PV, "issued_at": "2026-07-13T18:00:00+08:00", "kind": None}).json()
    listed = lambda **params: [f["id"] for f in client.get("/parks/tiny/forecasts", params=params,  # noqa: E731
                                                           headers=ADMIN).json()]
    assert listed() == [morning["id"], day["id"], older["id"]]
    assert listed(covers_from="2026-07-15T07:00:00+08:00", covers_to="2026-07-15T12:00:00+08:00") == [
        morning["id"], day["id"], older["id"]]
    assert listed(covers_from="2026-07-15T00:00:00+08:00", covers_to="2026-07-16T00:00:00+08:00") == [
        day["id"], older["id"]]
    assert listed(covers_to="2026-07-15T13:00:00+08:00") == [day["id"], older["id"]]
    assert listed(covers_from="2026-07-14T23:00:00+08:00") == []
    assert listed(kind="intraday") == [morning["id"]]
    assert listed(limit=1, offset=1) == [day["id"]]
    assert_problem(client.get("/parks/tiny/forecasts", params={"covers_from": "2026-07-15T07:00:00"},
                              headers=ADMIN), 422, "query.covers_from")


@pytest.mark.parametrize(("change", "field", "fragment"), [
    ({"issued_at": "2026-07-14T18:00:00"}, "issued_at", None),
    ({"pv_kw": [{"timestamp": "2026-07-15T00:00:00", "pv1_kw": 0}, {"timestamp": "2026-07-15T01:00:00",
                                                                     "pv1_kw": 0}]}, "pv_kw", "UTC offset"),
    ({"pv_kw": rows("pv9_kw", [0.0] * 24)}, "pv_kw.pv9_kw", "the park has no PV array column 'pv9_kw'; use pv1_kw"),
    ({"pv_kw": rows("pv1_kw", [0.0] * 12 + [600.0] * 12)}, "pv_kw.pv1_kw",
     "600 kW at 2026-07-15T12:00:00+08:00 exceeds the array's AC rating of 500 kW"),
    ({"pv_kw": rows("pv_kw", [501.0] * 24)}, "pv_kw.pv_kw", "the arrays' AC rating of 500 kW"),
    ({"pv_kw": [{**a, **b} for a, b in zip(rows("pv1_kw", [10.0] * 24), rows("pv_kw", [12.0] * 24))]},
     "pv_kw.pv_kw", "12 kW at 2026-07-15T00:00:00+08:00 is not the sum of the array columns, 10 kW"),
    ({"load_kw": rows("l9_kw", [1.0] * 24)}, "load_kw.l9_kw", "no load profile 'l9_kw'; use l1_kw"),
    ({"load_kw": rows("l1_kw", [1.0] * 5 + [-2.0])}, "load_kw", "column 'l1_kw' has -2"),
    ({"load_kw": rows("l1_kw", [1.0, None, 1.0])}, "load_kw",
     "no value at 2026-07-15T01:00:00+08:00 (column 'l1_kw')"),
    ({"heat_kw": rows("steam_kw", [1.0] * 24)}, "heat_kw", "the park has no heat buses"),
    ({"pv_kw": rows("pv1_kw", ["sunny"] * 2)}, "pv_kw", "non-numeric"),
    ({"pv_kw": [{"pv1_kw": 0.0}]}, "pv_kw", "every row needs a 'timestamp'"),
    ({"pv_kw": rows("pv1_kw", [0.0])}, "pv_kw", "at least two timestamps"),
    ({"pv_kw": []}, "pv_kw", "no rows"),
    ({"pv_kw": None}, None, "at least one of weather, pv_kw, load_kw, heat_kw"),
    ({"weather": rows("sun", [1.0] * 24)}, "weather", "unknown column 'sun'"),
    ({"weather": rows("ghi", [0.0] * 24, start="2026-07-20")}, "forecast", "cover no common period"),
    ({"rain_mm": 3}, "rain_mm", None),
])
def test_bad_uploads_are_422_naming_the_field(client, tiny, change, field, fragment) -> None:
    response = upload(client, {**ZERO_PV, **change})
    assert_problem(response, 422, field, *([fragment] if fragment else []))
    assert client.get("/parks/tiny/forecasts", headers=ADMIN).json() == []


def test_too_many_rows_is_422(client, tiny, settings) -> None:
    settings.max_forecast_rows = 23
    assert_problem(upload(client, ZERO_PV), 422, "pv_kw", "at most 23 rows, got 24")
    assert_problem(client.post("/parks/tiny/plans", json={"date": "2026-07-15", "forecasts": {
        "load_kw": rows("l1_kw", [1.0] * 24)}}, headers=ADMIN), 422, "forecasts.load_kw", "at most 23 rows")
    assert client.get("/parks/tiny/forecasts", headers=ADMIN).json() == []


def test_another_parks_or_an_unknown_forecast_is_404(client, tiny, files) -> None:
    register(client, "other", files)
    theirs = upload(client, ZERO_PV, park_id="other").json()
    assert_problem(client.get(f"/parks/tiny/forecasts/{theirs['id']}", headers=ADMIN), 404, None, "no forecast")
    assert_problem(client.delete(f"/parks/tiny/forecasts/{theirs['id']}", headers=ADMIN), 404)
    assert client.get(f"/parks/other/forecasts/{theirs['id']}", headers=ADMIN).status_code == 200
    assert_problem(client.get("/parks/tiny/forecasts/999", headers=ADMIN), 404)
    assert_problem(client.get("/parks/tiny/forecasts/abc", headers=ADMIN), 422, "path.forecast_id")
    assert_problem(client.get("/parks/ghost/forecasts", headers=ADMIN), 404, None, "ghost")
    assert_problem(upload(client, ZERO_PV, park_id="ghost"), 404)


# --- plans use them ------------------------------------------------------------------------------

def test_a_plan_uses_the_uploaded_pv_forecast_and_records_it(client, tiny) -> None:
    """PV forecast of zero: the whole load is imported, 12 h · 900 kW + 12 h · 400 kW = 15,600 kWh."""
    before = plan(client)
    assert before["forecast_id"] is None and before["forecast_sources"] == {}
    assert before["kpis"]["pv_generation_kwh"] > 1000
    forecast = upload(client, ZERO_PV).json()
    after = plan(client)
    assert after["forecast_id"] == forecast["id"]
    assert after["forecast_sources"] == {"pv.pv1": "pv_kw"}
    assert after["kpis"]["pv_generation_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert after["kpis"]["grid_import_kwh"] == pytest.approx(15_600.0, abs=1e-6)
    # the same load, none of it from PV now: the import grows by exactly the PV used on site before
    assert after["kpis"]["grid_import_kwh"] - before["kpis"]["grid_import_kwh"] == pytest.approx(
        before["kpis"]["pv_onsite_kwh"], abs=1e-3)
    assert after["request"]["forecasts"] is None and after["request"]["forecast_id"] is None
    listed = client.get("/parks/tiny/plans", headers=ADMIN).json()
    assert [p["forecast_id"] for p in listed] == [forecast["id"], None]
    assert client.delete(f"/parks/tiny/forecasts/{forecast['id']}", headers=ADMIN).status_code == 204
    assert client.get(f"/parks/tiny/plans/{after['id']}", headers=ADMIN).json()["forecast_id"] == forecast["id"]
    assert plan(client)["forecast_id"] is None


def test_which_forecast_a_plan_uses(client, tiny, files) -> None:
    covering = upload(client, ZERO_PV).json()
    # newer, but covering only the morning: not used for the day
    upload(client, {"issued_at": "2026-07-15T06:00:00+08:00", "pv_kw": rows("pv1_kw", [0.0] * 6, "2026-07-15 06:00")})
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()
    later = upload(client, {**ZERO_PV, "issued_at": future, "pv_kw": rows("pv1_kw", [100.0] * 24)}).json()
    assert plan(client)["forecast_id"] == covering["id"]  # the one issued in the future is not yet issued
    named = plan(client, {"forecast_id": later["id"]})
    assert named["forecast_id"] == later["id"] and named["kpis"]["pv_generation_kwh"] == pytest.approx(2400.0)
    own_data = plan(client, {"forecasts": {}})
    assert own_data["forecast_id"] is None and own_data["kpis"]["pv_generation_kwh"] > 1000
    inline = plan(client, {"forecasts": {"pv_kw": rows("pv_kw", [50.0] * 24)}})
    assert inline["forecast_id"] is None and inline["forecast_sources"] == {"pv.pv1": "pv_kw"}
    assert inline["kpis"]["pv_generation_kwh"] == pytest.approx(1200.0)
    longer = plan(client, {"horizon_h": 30})  # no forecast covers 30 h: the park's data
    assert longer["forecast_id"] is None and longer["kpis"]["pv_generation_kwh"] > 1000
    register(client, "other", files)
    theirs = upload(client, ZERO_PV, park_id="other").json()
    post = lambda body: client.post("/parks/tiny/plans", json={"date": "2026-07-15", **body},  # noqa: E731
                                    headers=ADMIN)
    assert_problem(post({"forecast_id": theirs["id"]}), 422, "forecast_id", f"no forecast {theirs['id']}")
    assert_problem(post({"forecast_id": 999}), 422, "forecast_id", "no forecast 999")
    assert_problem(post({"forecast_id": covering["id"], "horizon_h": 30}), 422, "forecast_id",
                   "covers 2026-07-15T00:00:00+08:00 – 2026-07-16T00:00:00+08:00, not the plan's")
    assert_problem(post({"forecast_id": covering["id"], "forecasts": {}}), 422, None, "not both")


def test_inline_direct_forecasts_in_a_plan_request(client, tiny) -> None:
    """Load 500 kW all day given inline, PV zero: import 24 h · 500 kW = 12,000 kWh."""
    planned = plan(client, {"forecasts": {"pv_kw": rows("pv1_kw", [0.0] * 96, freq="15min"),
                                          "load_kw": rows("l1_kw", [500.0] * 24)}})
    assert planned["kpis"]["grid_import_kwh"] == pytest.approx(12_000.0, abs=1e-6)
    assert planned["forecast_sources"] == {"load.l1_kw": "load_kw", "pv.pv1": "pv_kw"}
    short = {"forecasts": {"load_kw": rows("l1_kw", [500.0] * 20)}}
    assert_problem(client.post("/parks/tiny/plans", json={"date": "2026-07-15", **short}, headers=ADMIN), 422,
                   "forecasts.load_kw", "no value for 2026-07-15T20:00:00+08:00")


def test_an_intraday_replan_uses_a_forecast_from_its_rounded_start(client, tiny) -> None:
    """Measured at 09:55, the re-plan starts at 10:00: a forecast from 10:00 covers it."""
    client.post("/parks/tiny/measurements", json={"measured_at": "2026-07-15T09:55:00+08:00",
                                                  "month_to_date_peak_kw": 0}, headers=ADMIN)
    forecast = upload(client, {"issued_at": "2026-07-15T09:00:00+08:00", "kind": "intraday",
                               "pv_kw": rows("pv1_kw", [0.0] * 4, start="2026-07-15 10:00", freq="1h")}).json()
    response = client.post("/parks/tiny/plans/intraday", json={"horizon_h": 4}, headers=ADMIN)
    assert response.status_code == 201, response.text
    replan = response.json()
    assert replan["start"] == "2026-07-15T10:00:00+08:00" and replan["forecast_id"] == forecast["id"]
    # 10:00-14:00 at 900 kW, no PV: 3,600 kWh
    assert replan["kpis"]["grid_import_kwh"] == pytest.approx(3600.0, abs=1e-6)
    longer = client.post("/parks/tiny/plans/intraday", json={"horizon_h": 5}, headers=ADMIN).json()
    assert longer["forecast_id"] is None


def test_an_event_replan_uses_the_covering_forecast(client, tiny) -> None:
    forecast = upload(client, ZERO_PV).json()
    response = client.put("/parks/tiny/events/e1", json=EVENT, headers=ADMIN)
    assert response.status_code == 201, response.text
    event_plan = response.json()["plan"]
    assert event_plan["forecast_id"] == forecast["id"]
    assert event_plan["forecast_sources"] == {"pv.pv1": "pv_kw"}
    assert event_plan["kpis"]["pv_generation_kwh"] == pytest.approx(0.0, abs=1e-6)


# --- durability ----------------------------------------------------------------------------------

def test_an_uploaded_forecast_survives_a_restart(settings, planner, files) -> None:
    def app():
        application = create_app()
        application.dependency_overrides[get_settings] = lambda: settings
        application.dependency_overrides[get_planner] = lambda: planner
        return application

    with TestClient(app()) as first:
        register(first, "tiny", files, park=no_battery())
        stored = upload(first, ZERO_PV).json()
    with TestClient(app()) as second:
        assert second.get(f"/parks/tiny/forecasts/{stored['id']}", headers=ADMIN).json() == stored
        assert plan(second)["forecast_id"] == stored["id"]


def test_init_db_adds_the_forecast_column_to_an_older_plans_table(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE plans (id INTEGER PRIMARY KEY, park_id VARCHAR(64))"))
        connection.execute(text("INSERT INTO plans (id, park_id) VALUES (1, 'a')"))
    init_db(engine)
    assert "forecast_id" in {c["name"] for c in inspect(engine).get_columns("plans")}
    assert "forecasts" in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT forecast_id FROM plans WHERE id = 1")).scalar() is None
    engine.dispose()


def test_a_forecast_the_park_no_longer_fits_is_named_when_planned(client, tiny) -> None:
    """Checked against version 1; version 2 renames the array: a plan on the forecast is a 422 naming it."""
    forecast = upload(client, ZERO_PV).json()
    park = no_battery()
    park["pv_arrays"] = {"roof": park["pv_arrays"].pop("pv1")}
    assert client.put("/parks/tiny", json={"park": park}, headers=ADMIN).status_code == 200
    field = f"forecast_{forecast['id']}.pv_kw.pv1_kw"
    assert_problem(client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN), 422, field,
                   "the park has no PV array column 'pv1_kw'; use roof_kw")
    assert plan(client, {"forecasts": {}})["park_version"] == 2
