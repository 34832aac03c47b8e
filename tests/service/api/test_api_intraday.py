"""``POST /parks/{id}/plans/intraday``: re-plans from the latest measured state, stored as kind "intraday"."""

from __future__ import annotations

import pytest

from tests.service.api.conftest import ADMIN, assert_problem, register, tiny_park

MEASURED = {"measured_at": "2026-07-15T09:55:00+08:00", "soc_kwh": {"b1": 300}, "month_to_date_peak_kw": 1200}


@pytest.fixture
def tiny(client, files) -> str:
    register(client, "tiny", files)
    return "tiny"


def intraday(client, body: dict):
    return client.post("/parks/tiny/plans/intraday", json=body, headers=ADMIN)


def start_soc_kwh(row: dict) -> float:
    """The battery's content at the start of a step, from the row's end-of-step content and flows."""
    return row["battery_soc_kwh"] - (row["battery_charge_kw"] * 0.95 - row["battery_discharge_kw"] / 0.95) * 0.25


def test_by_default_from_the_latest_measurement_rounded_to_the_next_step(client, tiny) -> None:
    measured = client.post("/parks/tiny/measurements", json=MEASURED, headers=ADMIN).json()
    response = intraday(client, {})
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["kind"] == "intraday" and plan["measurement_id"] == measured["id"]
    assert plan["start"] == "2026-07-15T10:00:00+08:00" and plan["end"] == "2026-07-16T10:00:00+08:00"
    assert plan["date"] == "2026-07-15" and plan["status"] == "optimal" and plan["horizon_h"] == 24
    assert len(plan["schedule"]) == 96 and plan["schedule"][0]["timestamp"] == "2026-07-15T10:00:00+08:00"
    assert start_soc_kwh(plan["schedule"][0]) == pytest.approx(300, abs=1e-3)
    assert plan["kpis"]["month_to_date_peak_kw"] == 1200
    assert client.get(f"/parks/tiny/plans/{plan['id']}", headers=ADMIN).json() == plan
    assert client.get("/parks/tiny/plans", headers=ADMIN).json()[0]["kind"] == "intraday"


def test_from_a_given_time_with_the_newest_state_before_it(client, tiny) -> None:
    client.post("/parks/tiny/measurements", json=MEASURED, headers=ADMIN)
    later = client.post("/parks/tiny/measurements", headers=ADMIN,
                        json={**MEASURED, "measured_at": "2026-07-15T16:00:00+08:00", "soc_kwh": {"b1": 100}}).json()
    plan = intraday(client, {"start": "2026-07-15T14:07:00+08:00", "horizon_h": 10}).json()
    assert plan["start"] == "2026-07-15T14:15:00+08:00" and len(plan["schedule"]) == 40
    assert plan["measurement_id"] != later["id"]
    assert start_soc_kwh(plan["schedule"][0]) == pytest.approx(300, abs=1e-3)
    plan = intraday(client, {"start": "2026-07-15T17:00:00+08:00", "horizon_h": 4, "strategy": "no-control"}).json()
    assert plan["measurement_id"] == later["id"] and plan["strategy"] == "no-control"


def test_without_a_measurement_before_the_start_is_409(client, tiny) -> None:
    assert_problem(intraday(client, {}), 409, "start", "no measurement")
    client.post("/parks/tiny/measurements", json=MEASURED, headers=ADMIN)
    assert_problem(intraday(client, {"start": "2026-07-15T08:00:00+08:00"}), 409, "start", "at or before")


def test_bad_requests_are_422(client, tiny) -> None:
    client.post("/parks/tiny/measurements", json=MEASURED, headers=ADMIN)
    assert_problem(intraday(client, {"start": "2026-07-15T14:00:00"}), 422, "start")
    assert_problem(intraday(client, {"horizon_h": 0}), 422, "horizon_h")
    assert_problem(intraday(client, {"horizon_h": 49}), 422, "horizon_h", "at most 48")
    assert_problem(intraday(client, {"soc_kwh": {"b1": 10}}), 422, "soc_kwh")
    assert_problem(intraday(client, {"horizon_h": 40}), 422, None, "outside the data")
    assert_problem(intraday(client, {"start": "2026-08-01T00:00:00+08:00"}), 422, None, "after the park's data")
    client.post("/parks/tiny/measurements", json={**MEASURED, "measured_at": "2026-07-14T20:00:00+08:00"},
                headers=ADMIN)
    assert_problem(intraday(client, {"start": "2026-07-14T21:00:00+08:00"}), 422, None, "before the park's data")


def test_an_intraday_plan_starts_from_the_newest_stored_plan_that_covers_it(client, tiny) -> None:
    """The day-ahead plan's integer decisions, shifted by 40 steps, warm-start the 10:00 re-plan."""
    day_ahead = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN).json()
    client.post("/parks/tiny/measurements", json=MEASURED, headers=ADMIN)
    plan = intraday(client, {}).json()
    assert plan["status"] == "optimal" and plan["kpis"]["warm_start_plan_id"] == day_ahead["id"]
    later = intraday(client, {"start": "2026-07-15T11:00:00+08:00", "horizon_h": 12}).json()
    assert later["kpis"]["warm_start_plan_id"] == plan["id"]
    # a plan of another park version is not a start
    assert client.put("/parks/tiny", json={"park": tiny_park()}, headers=ADMIN).status_code == 200
    assert "warm_start_plan_id" not in intraday(client, {}).json()["kpis"]


def test_the_warm_start_moves_decisions_by_the_steps_between_the_starts() -> None:
    from service.api.jobs import previous_plan_start

    previous = {"start": "2026-07-15T00:00:00+08:00", "decisions": {"battery_charging": [["b1", 0, 1.0]]}}
    assert previous_plan_start(previous, "2026-07-15T10:00:00+08:00", 0.25)["shift_steps"] == 40
    assert previous_plan_start(previous, "2026-07-15T10:05:00+08:00", 0.25) is None      # off the grid
    assert previous_plan_start(previous, "2026-07-14T23:45:00+08:00", 0.25) is None      # before it
    assert previous_plan_start({**previous, "decisions": {}}, "2026-07-15T10:00:00+08:00", 0.25) is None
