"""``/parks/{id}/measurements``: metered state checked against the park, stored, and the start of the next plan."""

from __future__ import annotations

import pytest

from tests.service.api.conftest import ADMIN, assert_problem, register, tiny_park

STATE = {"measured_at": "2026-07-14T22:00:00+08:00", "soc_kwh": {"b1": 300}, "month_to_date_peak_kw": 1500}


@pytest.fixture
def tiny(client, files) -> str:
    register(client, "tiny", files)
    return "tiny"


def post(client, body: dict, park_id: str = "tiny"):
    return client.post(f"/parks/{park_id}/measurements", json=body, headers=ADMIN)


def test_a_measurement_is_stored_and_is_the_latest(client, tiny) -> None:
    assert_problem(client.get("/parks/tiny/measurements/latest", headers=ADMIN), 404, None, "no measurement")
    response = post(client, {**STATE, "pv_kw": 0.0, "load_kw": 410.5})
    assert response.status_code == 201, response.text
    stored = response.json()
    assert response.headers["location"] == "/parks/tiny/measurements/latest"
    assert stored["measured_at"] == "2026-07-14T22:00:00+08:00" and stored["park_version"] == 1
    assert stored["soc_kwh"] == {"b1": 300} and stored["thermal_soc_kwh"] == {}
    assert stored["month_to_date_peak_kw"] == 1500 and stored["load_kw"] == 410.5
    # an older measurement sent later is not the latest; the offset sent is kept
    assert post(client, {**STATE, "measured_at": "2026-07-14T13:00:00+00:00"}).status_code == 201
    latest = client.get("/parks/tiny/measurements/latest", headers=ADMIN).json()
    assert latest == stored
    newer = post(client, {**STATE, "measured_at": "2026-07-14T15:00:00+00:00", "soc_kwh": {"b1": 200}}).json()
    latest = client.get("/parks/tiny/measurements/latest", headers=ADMIN).json()
    assert latest["id"] == newer["id"] and latest["measured_at"] == "2026-07-14T15:00:00Z"


@pytest.mark.parametrize(("change", "field", "fragment"), [
    ({"soc_kwh": {"b9": 10}}, "soc_kwh.b9", "no device 'b9'"),
    ({"soc_kwh": {"b1": 390}}, "soc_kwh.b1", "outside the bounds [40, 360]"),
    ({"thermal_soc_kwh": {"ts1": 5}}, "thermal_soc_kwh.ts1", "no device 'ts1'"),
    ({"pv_kw": 900}, "pv_kw", "AC rating 500"),
    ({"month_to_date_peak_kw": -1}, "month_to_date_peak_kw", None),
    ({"load_kw": -3}, "load_kw", None),
    ({"measured_at": "2026-07-14T22:00:00"}, "measured_at", None),
    ({"soc_kwh": {"b1": "full"}}, "soc_kwh.b1", None),
    ({"voltage_v": 400}, "voltage_v", None),
])
def test_bad_measurements_are_422_naming_the_field(client, tiny, change, field, fragment) -> None:
    response = post(client, {**STATE, **change})
    assert_problem(response, 422, field, *([fragment] if fragment else []))
    assert_problem(client.get("/parks/tiny/measurements/latest", headers=ADMIN), 404)


def test_a_measurement_needs_its_time_and_peak(client, tiny) -> None:
    body = assert_problem(post(client, {"soc_kwh": {"b1": 300}}), 422)
    assert {"measured_at", "month_to_date_peak_kw"} <= {e["field"] for e in body["errors"]}


def test_unknown_park_is_404(client, tiny) -> None:
    assert_problem(post(client, STATE, park_id="ghost"), 404, None, "ghost")


def test_a_plan_without_state_starts_from_the_latest_measurement(client, tiny) -> None:
    measured = post(client, STATE).json()
    plan = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN).json()
    assert plan["measurement_id"] == measured["id"]
    assert plan["kpis"]["month_to_date_peak_kw"] == 1500
    first = plan["schedule"][0]
    start_kwh = first["battery_soc_kwh"] - (first["battery_charge_kw"] * 0.95
                                            - first["battery_discharge_kw"] / 0.95) * 0.25
    assert start_kwh == pytest.approx(300, abs=1e-3)
    listed = client.get("/parks/tiny/plans", headers=ADMIN).json()
    assert listed[0]["measurement_id"] == measured["id"]


def test_an_explicit_state_wins_and_records_no_measurement(client, tiny) -> None:
    post(client, STATE)
    plan = client.post("/parks/tiny/plans", json={"date": "2026-07-15", "month_to_date_peak_kw": 0},
                       headers=ADMIN).json()
    assert plan["measurement_id"] is None and plan["kpis"]["month_to_date_peak_kw"] == 0


def test_a_measurement_after_the_plans_start_or_from_last_month(client, tiny) -> None:
    post(client, {**STATE, "measured_at": "2026-07-15T10:00:00+08:00"})
    plan = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN).json()
    assert plan["measurement_id"] is None  # measured after 00:00 of the plan: not its start state
    june = post(client, {**STATE, "measured_at": "2026-06-30T23:00:00+08:00"}).json()
    plan = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN).json()
    assert plan["measurement_id"] == june["id"]
    assert plan["kpis"]["month_to_date_peak_kw"] == 0  # a new billing month


def test_a_newer_park_version_drops_devices_it_no_longer_has(client, tiny) -> None:
    post(client, STATE)
    park = tiny_park()
    del park["batteries"]
    assert client.put("/parks/tiny", json={"park": park}, headers=ADMIN).status_code == 200
    plan = client.post("/parks/tiny/plans", json={"date": "2026-07-15", "strategy": "no-control"}, headers=ADMIN)
    assert plan.status_code == 201, plan.text
    assert plan.json()["park_version"] == 2 and plan.json()["measurement_id"] is not None
