"""Hostile request bodies and parameters: each is a 422 problem naming the field, never a 500 or a silent change.

Duplicate JSON and YAML keys, ``Infinity``/``NaN`` and overflowing numbers,
bodies nested too deeply, timestamps whose UTC offset overflows or that lie
outside the service's window (2000 to 2100), measurements far in the future,
and a study re-planning every 5e-324 h.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from service.api.parsing import StrictJsonRoute
from service.api.routes import events, forecasts, health, keys, measurements, openadr, parks, plans, studies
from tests.service.api.conftest import ADMIN, assert_problem, issue_key, register, tiny_park

JSON = {"content-type": "application/json", **ADMIN}
MEASURED = {"measured_at": "2026-07-15T09:55:00+08:00", "soc_kwh": {"b1": 300}, "month_to_date_peak_kw": 1200}
EVENT = {"kind": "reduce", "start": "2026-07-15T18:00:00+08:00", "end": "2026-07-15T19:00:00+08:00",
         "max_import_kw": 800, "incentive_cny_per_kwh": 1.5, "notified_at": "2026-07-15T09:00:00+08:00"}


@pytest.fixture
def tiny(client, files) -> str:
    register(client, "tiny", files)
    return "tiny"


def raw(client, method: str, url: str, text: str):
    """Send ``text`` as the JSON body, byte for byte (the client's encoder would refuse NaN or write it its way)."""
    return client.request(method, url, content=text.encode(), headers=JSON)


def no_measurement(client) -> None:
    assert_problem(client.get("/parks/tiny/measurements/latest", headers=ADMIN), 404, None, "no measurement")


# --- JSON parsing ------------------------------------------------------------------------------------

def test_every_route_of_the_service_parses_json_strictly() -> None:
    routers = (events, forecasts, health, keys, measurements, openadr, parks, plans, studies)
    routes = [route for module in routers for route in module.router.routes]
    assert len(routes) > 30
    assert all(isinstance(route, StrictJsonRoute) for route in routes)


def test_a_duplicate_key_is_refused_with_its_path(client, tiny) -> None:
    text = ('{"measured_at": "2026-07-15T09:55:00+08:00", "soc_kwh": {"b1": 99999, "b1": 200}, '
            '"month_to_date_peak_kw": 1200}')
    body = assert_problem(raw(client, "POST", "/parks/tiny/measurements", text), 422, "soc_kwh.b1", "duplicate key")
    assert body["errors"] == [{"field": "soc_kwh.b1", "reason": "duplicate key; give each key once"}]
    no_measurement(client)


def test_a_duplicate_key_deep_in_a_park_document_names_its_path(client, files) -> None:
    park = json.dumps(tiny_park())
    battery = '"b1": {"bus": "pcc", "capacity_kwh": 99999, "max_charge_kw": 200, "max_discharge_kw": 200}, '
    park = park.replace('"batteries": {', '"batteries": {' + battery, 1)
    text = json.dumps({"id": "dup", "data_files": files})[:-1] + ', "park": ' + park + "}"
    assert_problem(raw(client, "POST", "/parks", text), 422, "park.batteries.b1", "park.batteries.b1: duplicate key")
    assert_problem(client.get("/parks/dup", headers=ADMIN), 404)


def test_a_duplicate_key_in_park_yaml_names_its_path_and_line(client, files) -> None:
    park = tiny_park()
    del park["batteries"]
    text = yaml.safe_dump(park) + ("batteries:\n  b1: {bus: pcc, capacity_kwh: 400, max_charge_kw: 200, "
                                   "max_discharge_kw: 200}\n  b1: {bus: pcc, capacity_kwh: 99999, "
                                   "max_charge_kw: 200, max_discharge_kw: 200}\n")
    line = text.count("\n")
    response = client.post("/parks", json={"id": "dup", "park_yaml": text, "data_files": files}, headers=ADMIN)
    body = assert_problem(response, 422, "park_yaml.batteries.b1", "duplicate key", f"line {line}")
    assert len(body["errors"]) == 1


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN"])
def test_non_standard_json_constants_are_refused(client, tiny, constant) -> None:
    text = json.dumps(MEASURED).replace("1200", constant)
    body = assert_problem(raw(client, "POST", "/parks/tiny/measurements", text), 422, "month_to_date_peak_kw",
                          f"month_to_date_peak_kw: {constant} is not a number JSON allows")
    assert len(body["errors"]) == 1
    no_measurement(client)


@pytest.mark.parametrize(("field", "text"), [
    ("max_import_kw", '"max_import_kw": NaN'),
    ("incentive_cny_per_kwh", '"incentive_cny_per_kwh": Infinity'),
])
def test_an_event_with_a_non_finite_amount_is_refused(client, tiny, field, text) -> None:
    body = json.dumps(EVENT)
    body = body.replace(f'"{field}": {json.dumps(EVENT[field])}', text)
    assert text in body
    assert_problem(raw(client, "PUT", "/parks/tiny/events/e1", body), 422, field)
    assert client.get("/parks/tiny/events", headers=ADMIN).json() == []


@pytest.mark.parametrize(("field", "body"), [
    # 1e999 is valid JSON and overflows to inf when parsed: the request models refuse it
    ("month_to_date_peak_kw", {**MEASURED, "month_to_date_peak_kw": "1e999"}),
    ("soc_kwh.b1", {**MEASURED, "soc_kwh": {"b1": "-1e999"}}),
])
def test_numbers_that_overflow_to_infinity_are_refused(client, tiny, field, body) -> None:
    text = json.dumps(body).replace('"1e999"', "1e999").replace('"-1e999"', "-1e999")
    assert_problem(raw(client, "POST", "/parks/tiny/measurements", text), 422, field, "finite")
    no_measurement(client)


def test_a_park_document_needs_finite_numbers(client, files) -> None:
    text = json.dumps({"id": "inf", "park": tiny_park(), "data_files": files}).replace('"capacity_kwh": 400',
                                                                                       '"capacity_kwh": 1e999')
    assert_problem(raw(client, "POST", "/parks", text), 422, "batteries.b1.capacity_kwh", "finite")
    park = tiny_park()
    park["grid"]["max_import_kw"] = "__inf__"
    yaml_text = yaml.safe_dump(park).replace("__inf__", ".inf")
    response = client.post("/parks", json={"id": "inf", "park_yaml": yaml_text, "data_files": files}, headers=ADMIN)
    assert_problem(response, 422, "grid.max_import_kw", "finite")
    assert_problem(client.get("/parks/inf", headers=ADMIN), 404)


def test_a_body_nested_too_deeply_is_a_422_problem(client, tiny) -> None:
    depth = 100_000
    response = raw(client, "POST", "/parks/tiny/measurements", "[" * depth + "]" * depth)
    assert_problem(response, 422, None, "nested too deeply")
    response = raw(client, "POST", "/parks/tiny/measurements", '{"a": ' * depth + "1" + "}" * depth)
    assert_problem(response, 422, None, "nested too deeply")


def test_a_body_that_is_not_json_is_still_fastapis_422(client, tiny) -> None:
    assert_problem(raw(client, "POST", "/parks/tiny/measurements", '{"measured_at": '), 422)


# --- timestamps and dates -----------------------------------------------------------------------------

OVERFLOWING = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]
OUTSIDE = ["1999-12-31T23:59:59+00:00", "2100-01-01T08:00:00+08:00", "2300-01-01T00:00:00+08:00"]


@pytest.mark.parametrize("timestamp", OVERFLOWING + OUTSIDE)
def test_timestamps_outside_the_window_are_refused_everywhere(client, tiny, timestamp) -> None:
    window = "2000-01-01T00:00:00Z to 2100-01-01T00:00:00Z"
    assert_problem(client.post("/parks/tiny/plans/intraday", json={"start": timestamp}, headers=ADMIN),
                   422, "start", window)
    assert_problem(client.put("/parks/tiny/events/e1", json={**EVENT, "end": timestamp}, headers=ADMIN),
                   422, "end", window)
    assert_problem(client.put("/parks/tiny/events/e1", json={**EVENT, "notified_at": timestamp}, headers=ADMIN),
                   422, "notified_at", window)
    forecast = {"issued_at": timestamp, "load_kw": [{"timestamp": "2026-07-15T00:00:00+08:00", "l1_kw": 1}]}
    assert_problem(client.post("/parks/tiny/forecasts", json=forecast, headers=ADMIN), 422, "issued_at", window)
    for name in ("covers_from", "covers_to"):
        response = client.get("/parks/tiny/forecasts", params={name: timestamp}, headers=ADMIN)
        assert_problem(response, 422, f"query.{name}", window)
    for name in ("from", "to"):
        response = client.get("/parks/tiny/measurements", params={name: timestamp}, headers=ADMIN)
        assert_problem(response, 422, f"query.{name}", window)
    assert_problem(client.post("/parks/tiny/measurements", json={**MEASURED, "measured_at": timestamp},
                               headers=ADMIN), 422, "measured_at")
    no_measurement(client)


@pytest.mark.parametrize("day", ["1999-12-31", "2100-01-01", "9999-12-31"])
def test_dates_outside_the_window_are_refused(client, tiny, day) -> None:
    window = "2000-01-01 to 2099-12-31"
    assert_problem(client.post("/parks/tiny/plans", json={"date": day}, headers=ADMIN), 422, "date", window)
    assert_problem(client.get("/parks/tiny/plans", params={"date": day}, headers=ADMIN), 422, "query.date", window)
    study = {"start": "2026-07-15", "end": day, "strategies": ["no-control"]}
    assert_problem(client.post("/parks/tiny/studies", json=study, headers=ADMIN), 422, "end", window)


@pytest.mark.parametrize("replan_h", [5e-324, 0.1, 0.2499])
def test_a_study_replans_at_most_every_quarter_hour(client, tiny, replan_h) -> None:
    study = {"start": "2026-07-15", "end": "2026-07-15", "strategies": ["no-control"], "replan_h": replan_h}
    assert_problem(client.post("/parks/tiny/studies", json=study, headers=ADMIN), 422, "replan_h", "0.25")
    study = {**study, "replan_h": 1, "integer_horizon_h": 5e-324}
    assert_problem(client.post("/parks/tiny/studies", json=study, headers=ADMIN), 422, "integer_horizon_h", "0.25")


@pytest.mark.parametrize("horizon_h", [5e-324, 0.01, 0.2499])
def test_a_plan_is_at_least_a_quarter_hour_long(client, tiny, horizon_h) -> None:
    assert_problem(client.post("/parks/tiny/plans", json={"date": "2026-07-15", "horizon_h": horizon_h},
                               headers=ADMIN), 422, "horizon_h", "0.25")
    assert_problem(client.post("/parks/tiny/plans/intraday", json={"start": "2026-07-15T10:00:00+08:00",
                                                                   "horizon_h": horizon_h}, headers=ADMIN),
                   422, "horizon_h", "0.25")


# --- measurements: the clock window, the plan's start, the admin routes -----------------------------------

def test_a_measurement_at_most_a_day_ahead_of_the_clock(client, tiny) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    soon = (now + dt.timedelta(hours=23)).isoformat()
    assert client.post("/parks/tiny/measurements", json={**MEASURED, "measured_at": soon},
                       headers=ADMIN).status_code == 201
    late = (now + dt.timedelta(hours=25)).isoformat()
    body = assert_problem(client.post("/parks/tiny/measurements", json={**MEASURED, "measured_at": late},
                                      headers=ADMIN), 422, "measured_at", "24 h after the server's clock",
                          "MICROGRID_MAX_MEASUREMENT_AHEAD_H", "2000-01-01")
    assert len(body["errors"]) == 1
    assert client.get("/parks/tiny/measurements/latest", headers=ADMIN).json()["measured_at"] != late


def test_the_default_replan_starts_from_the_newest_measurement_taken_by_now(client, tiny) -> None:
    measured = client.post("/parks/tiny/measurements", json=MEASURED, headers=ADMIN).json()
    ahead = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)).isoformat()
    early = client.post("/parks/tiny/measurements", json={**MEASURED, "measured_at": ahead}, headers=ADMIN).json()
    response = client.post("/parks/tiny/plans/intraday", json={}, headers=ADMIN)
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["measurement_id"] == measured["id"] and plan["start"] == "2026-07-15T10:00:00+08:00"
    assert client.get("/parks/tiny/measurements/latest", headers=ADMIN).json()["id"] == early["id"]
    # deleting the measurement a plan started from keeps the plan, without its measurement
    assert client.delete(f"/parks/tiny/measurements/{measured['id']}", headers=ADMIN).status_code == 204
    assert client.get(f"/parks/tiny/plans/{plan['id']}", headers=ADMIN).json()["measurement_id"] is None
    assert_problem(client.post("/parks/tiny/plans/intraday", json={}, headers=ADMIN), 409, "start", "taken by now")


def test_an_admin_lists_corrects_and_deletes_measurements(client, tiny) -> None:
    ids = [client.post("/parks/tiny/measurements", headers=ADMIN,
                       json={**MEASURED, "measured_at": f"2026-07-15T{hour:02d}:00:00+08:00"}).json()["id"]
           for hour in (8, 9, 10)]
    listed = client.get("/parks/tiny/measurements", headers=ADMIN).json()
    assert [m["id"] for m in listed] == ids[::-1]
    within = client.get("/parks/tiny/measurements", headers=ADMIN,
                        params={"from": "2026-07-15T00:30:00Z", "to": "2026-07-15T09:00:00+08:00"}).json()
    assert [m["id"] for m in within] == [ids[1]]
    # a correction replaces every field, checked like a new measurement
    corrected = {**MEASURED, "measured_at": "2026-07-15T11:00:00+08:00", "soc_kwh": {"b1": 100}}
    response = client.put(f"/parks/tiny/measurements/{ids[0]}", json=corrected, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["soc_kwh"] == {"b1": 100} and response.json()["id"] == ids[0]
    assert client.get("/parks/tiny/measurements/latest", headers=ADMIN).json()["id"] == ids[0]
    assert client.get(f"/parks/tiny/measurements/{ids[0]}", headers=ADMIN).json() == response.json()
    assert_problem(client.put(f"/parks/tiny/measurements/{ids[0]}", json={**corrected, "soc_kwh": {"b1": 390}},
                              headers=ADMIN), 422, "soc_kwh.b1", "outside the bounds")
    late = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).isoformat()
    assert_problem(client.put(f"/parks/tiny/measurements/{ids[0]}", json={**corrected, "measured_at": late},
                              headers=ADMIN), 422, "measured_at")
    assert client.delete(f"/parks/tiny/measurements/{ids[0]}", headers=ADMIN).status_code == 204
    assert_problem(client.delete(f"/parks/tiny/measurements/{ids[0]}", headers=ADMIN), 404)
    assert_problem(client.put(f"/parks/tiny/measurements/{ids[0]}", json=corrected, headers=ADMIN), 404)
    assert [m["id"] for m in client.get("/parks/tiny/measurements", headers=ADMIN).json()] == ids[:0:-1]


def test_a_park_key_may_send_measurements_but_not_list_correct_or_delete_them(client, tiny, files) -> None:
    register(client, "other", files)
    own = issue_key(client, "tiny")
    first = client.post("/parks/tiny/measurements", json=MEASURED, headers=own)
    assert first.status_code == 201, first.text
    url = f"/parks/tiny/measurements/{first.json()['id']}"
    assert_problem(client.get("/parks/tiny/measurements", headers=own), 403, None, "admin")
    assert_problem(client.get(url, headers=own), 403, None, "admin")
    assert_problem(client.put(url, json=MEASURED, headers=own), 403, None, "admin")
    assert_problem(client.delete(url, headers=own), 403, None, "admin")
    # an admin addresses a measurement through its own park only
    assert_problem(client.delete(f"/parks/other/measurements/{first.json()['id']}", headers=ADMIN), 404)
    assert client.get("/parks/tiny/measurements/latest", headers=own).json() == first.json()
