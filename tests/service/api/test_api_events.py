"""``PUT/GET/DELETE /parks/{id}/events/{event_id}``: demand-response events answered with a re-plan and the response."""

from __future__ import annotations

import pytest

from tests.service.api.conftest import ADMIN, assert_problem, register

EVENING = {"kind": "reduce", "start": "2026-07-15T19:00:00+08:00", "end": "2026-07-15T20:00:00+08:00",
           "incentive_cny_per_kwh": 2.0, "notified_at": "2026-07-15T08:00:00+08:00"}


@pytest.fixture
def tiny(client, files) -> str:
    register(client, "tiny", files)
    return "tiny"


def put(client, event_id: str, body: dict):
    return client.put(f"/parks/tiny/events/{event_id}", json=body, headers=ADMIN)


def plan_count(client) -> int:
    return len(client.get("/parks/tiny/plans", headers=ADMIN).json())


def window(start: str, end: str, **amount) -> dict:
    return {**EVENING, "start": f"2026-07-15T{start}:00+08:00", "end": f"2026-07-15T{end}:00+08:00", **amount}


def test_a_reduction_the_battery_can_cover_is_delivered_fully(client, tiny) -> None:
    response = put(client, "noon", window("12:00", "13:00", reduce_by_kw=100))
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/parks/tiny/events/noon"
    answer = response.json()
    assert answer["id"] == "noon" and answer["version"] == 1 and answer["status"] == "active"
    assert answer["event"]["reduce_by_kw"] == 100
    assert [s["timestamp"] for s in answer["steps"]] == [f"2026-07-15T12:{m:02d}:00+08:00" for m in (0, 15, 30, 45)]
    for step in answer["steps"]:
        assert step["requested_kw"] == 100
        assert step["response_kw"] == pytest.approx(100, abs=0.5)
        assert step["baseline_import_kw"] - step["planned_import_kw"] == pytest.approx(step["response_kw"])
    assert answer["requested_kwh"] == pytest.approx(100) and answer["response_kwh"] == pytest.approx(100, abs=0.5)
    assert answer["delivery"] == "full" and answer["delivered_share"] == pytest.approx(1, abs=0.005)
    assert answer["incentive_cny"] == pytest.approx(answer["response_kwh"] * 2.0)
    plan = answer["plan"]
    assert plan["kind"] == "event" and plan["status"] == "optimal" and not plan["slack"]
    assert plan["start"] == "2026-07-15T00:00:00+08:00" and plan["horizon_h"] == 24 and plan["measurement_id"] is None
    assert client.get(f"/parks/tiny/plans/{plan['id']}", headers=ADMIN).json() == plan
    assert client.get("/parks/tiny/events/noon", headers=ADMIN).json() == answer


def test_a_cap_below_what_the_battery_can_cover_is_delivered_partly(client, tiny) -> None:
    answer = put(client, "evening", window("19:00", "20:00", max_import_kw=0)).json()
    assert answer["delivery"] == "partial"
    for step in answer["steps"]:
        assert step["requested_kw"] == pytest.approx(step["baseline_import_kw"])   # a cap of 0: all of it
        assert 0 < step["response_kw"] < step["requested_kw"]
    share = answer["response_kwh"] / answer["requested_kwh"]
    assert 0.01 < share < 1 and answer["delivered_share"] == pytest.approx(share)
    assert answer["requested_kwh"] == pytest.approx(sum(s["requested_kw"] for s in answer["steps"]) * 0.25)
    (missed,) = answer["plan"]["slack"]
    assert missed["constraint"] == "import_cap_kw (demand-response event)"


def test_an_increase_is_answered_above_the_baseline(client, tiny) -> None:
    body = {**window("02:00", "03:00", increase_by_kw=100), "kind": "increase",
            "notified_at": "2026-07-15T01:00:00+08:00"}
    answer = put(client, "night", body).json()
    assert answer["delivery"] == "full", answer
    for step in answer["steps"]:
        assert step["planned_import_kw"] >= step["baseline_import_kw"] + 99.5


def test_the_same_event_again_is_the_stored_answer_and_a_change_replans(client, tiny) -> None:
    body = window("12:00", "13:00", reduce_by_kw=100)
    first = put(client, "noon", body).json()
    plans = plan_count(client)
    again = put(client, "noon", body)
    assert again.status_code == 200 and again.json() == first
    assert plan_count(client) == plans
    changed = put(client, "noon", {**body, "reduce_by_kw": 50})
    assert changed.status_code == 200, changed.text
    answer = changed.json()
    assert answer["version"] == 2 and answer["plan"]["id"] != first["plan"]["id"]
    assert answer["requested_kwh"] == pytest.approx(50) and answer["created_at"] == first["created_at"]
    assert plan_count(client) == plans + 1


def test_overlapping_events_the_tighter_limit_wins(client, tiny) -> None:
    put(client, "wide", window("16:00", "17:00", max_import_kw=650))
    answer = put(client, "narrow", window("16:00", "16:30", max_import_kw=600)).json()
    imports = {row["timestamp"][11:16]: row["grid_import_kw"] for row in answer["plan"]["schedule"]}
    assert max(imports[t] for t in ("16:00", "16:15")) <= 600 + 1e-3
    assert max(imports[t] for t in ("16:30", "16:45")) <= 650 + 1e-3
    assert imports["16:45"] == pytest.approx(650, abs=1e-3)      # the baseline is above the wide cap there
    assert len(answer["steps"]) == 2 and answer["delivery"] == "full"
    listed = client.get("/parks/tiny/events", headers=ADMIN).json()
    assert sorted(e["id"] for e in listed) == ["narrow", "wide"]


def test_the_other_events_inside_the_new_plan_are_answered_from_it(client, tiny) -> None:
    wide = put(client, "wide", window("16:00", "17:00", max_import_kw=650)).json()
    narrow = put(client, "narrow", window("16:00", "16:30", max_import_kw=600)).json()
    again = client.get("/parks/tiny/events/wide", headers=ADMIN).json()
    assert again["plan"]["id"] == narrow["plan"]["id"] != wide["plan"]["id"]
    assert again["version"] == 1 and again["event"] == wide["event"]
    planned = {row["timestamp"]: row["grid_import_kw"] for row in narrow["plan"]["schedule"]}
    assert [s["planned_import_kw"] for s in again["steps"]] == [planned[s["timestamp"]] for s in again["steps"]]
    assert again["steps"][0]["planned_import_kw"] <= 600 + 1e-3          # the narrow cap shows in its answer
    # cancelling the narrow one answers the wide one from the plan without it
    cancelled = client.delete("/parks/tiny/events/narrow", headers=ADMIN).json()
    assert client.get("/parks/tiny/events/wide", headers=ADMIN).json()["plan"]["id"] == cancelled["plan"]["id"]


def test_the_answer_prices_the_response(client, tiny) -> None:
    """cost_increase: the event plan's total cost less the baseline's; net benefit: the incentive less that."""
    baseline = client.post("/parks/tiny/plans", json={"date": "2026-07-15", "mip_gap": 0}, headers=ADMIN).json()
    answer = put(client, "evening", window("19:00", "20:00", max_import_kw=0)).json()
    assert answer["cost_increase_cny"] > 0
    assert answer["net_benefit_cny"] == pytest.approx(answer["incentive_cny"] - answer["cost_increase_cny"])
    event_cost = answer["plan"]["kpis"]["total_cost_cny"]
    assert answer["cost_increase_cny"] == pytest.approx(event_cost - baseline["kpis"]["total_cost_cny"], rel=1e-3)
    # a second event is priced with the first (one plan holds both): the same cost increase for each
    loose = put(client, "loose", window("19:00", "20:00", max_import_kw=1900)).json()
    evening = client.get("/parks/tiny/events/evening", headers=ADMIN).json()
    assert loose["requested_kwh"] == 0 and loose["cost_increase_cny"] == pytest.approx(evening["cost_increase_cny"])


def test_a_cap_the_baseline_never_reaches_costs_nothing(client, tiny) -> None:
    loose = put(client, "loose", window("19:00", "20:00", max_import_kw=1900)).json()
    cost = loose["plan"]["kpis"]["total_cost_cny"]
    assert loose["requested_kwh"] == 0 and loose["delivery"] == "full"
    assert loose["cost_increase_cny"] == pytest.approx(0, abs=1e-3 * cost)     # within the MIP gap


def test_a_cancellation_replans_the_remaining_events(client, tiny) -> None:
    put(client, "wide", window("16:00", "17:00", max_import_kw=650))
    put(client, "narrow", window("16:00", "16:30", max_import_kw=600))
    response = client.delete("/parks/tiny/events/narrow", headers=ADMIN)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "cancelled" and answer["version"] == 2
    assert answer["requested_kwh"] == 0 and answer["response_kwh"] == 0 and answer["incentive_cny"] == 0
    assert all(s["planned_import_kw"] <= 650 + 1e-3 for s in answer["steps"])     # the wide event still holds
    assert any(s["planned_import_kw"] > 600 + 1e-3 for s in answer["steps"])      # the narrow one no longer
    assert client.get("/parks/tiny/events/narrow", headers=ADMIN).json() == answer
    plans = plan_count(client)
    assert client.delete("/parks/tiny/events/narrow", headers=ADMIN).json() == answer
    assert plan_count(client) == plans
    assert_problem(client.delete("/parks/tiny/events/nope", headers=ADMIN), 404, None, "no event 'nope'")
    assert_problem(client.get("/parks/tiny/events/nope", headers=ADMIN), 404)


def test_the_plan_starts_from_the_latest_measurement_before_the_window(client, tiny) -> None:
    measured = client.post("/parks/tiny/measurements", headers=ADMIN, json={
        "measured_at": "2026-07-15T09:55:00+08:00", "soc_kwh": {"b1": 300}, "month_to_date_peak_kw": 1200}).json()
    plan = put(client, "evening", window("19:00", "20:00", reduce_by_kw=50)).json()["plan"]
    assert plan["start"] == "2026-07-15T10:00:00+08:00" and plan["horizon_h"] == 24
    assert plan["measurement_id"] == measured["id"]


@pytest.mark.parametrize(("change", "field"), [
    ({"end": "2026-07-15T19:00:00+08:00"}, "end"),
    ({"start": "2026-07-15T19:00:00"}, "start"),
    ({"max_import_kw": 300}, "max_import_kw"),
    ({"reduce_by_kw": None}, "max_import_kw"),
    ({"increase_by_kw": 10, "reduce_by_kw": None}, "increase_by_kw"),
    ({"kind": "increase"}, "reduce_by_kw"),
    ({"kind": "shave"}, "kind"),
    ({"incentive_cny_per_kwh": -1}, "incentive_cny_per_kwh"),
    ({"notified_at": "2026-07-15T21:00:00+08:00"}, "notified_at"),
    ({"end": "2026-07-17T01:00:00+08:00", "start": "2026-07-15T00:00:00+08:00"}, "end"),
    ({"start": "2026-08-01T19:00:00+08:00", "end": "2026-08-01T20:00:00+08:00"}, "start"),
    ({"end": "2026-07-17T01:00:00+08:00", "start": "2026-07-16T23:00:00+08:00"}, "end"),
    ({"start": "2026-07-15T19:07:00+08:00"}, "start"),
])
def test_bad_events_are_422_naming_the_field(client, tiny, change, field) -> None:
    body = {**window("19:00", "20:00", reduce_by_kw=50), **change}
    assert_problem(put(client, "bad", body), 422, field)
    assert client.get("/parks/tiny/events", headers=ADMIN).json() == []


def test_limits_of_overlapping_events_combine_per_step_the_tightest_wins() -> None:
    import numpy as np
    import pandas as pd

    from service.api.event_jobs import event_limits

    index = pd.date_range("2026-07-15T19:00:00+08:00", periods=4, freq="15min")
    baseline = [800.0, 800.0, 300.0, 100.0]
    events = [{"kind": "reduce", "start": "2026-07-15T19:00:00+08:00", "end": "2026-07-15T19:30:00+08:00",
               "max_import_kw": 700.0},
              {"kind": "reduce", "start": "2026-07-15T19:15:00+08:00", "end": "2026-07-15T19:45:00+08:00",
               "reduce_by_kw": 400.0},
              {"kind": "increase", "start": "2026-07-15T19:45:00+08:00", "end": "2026-07-15T20:00:00+08:00",
               "increase_by_kw": 50.0},
              {"kind": "increase", "start": "2026-07-15T19:45:00+08:00", "end": "2026-07-15T20:00:00+08:00",
               "increase_by_kw": 80.0},
              {"kind": "reduce", "start": "2026-07-16T19:00:00+08:00", "end": "2026-07-16T20:00:00+08:00",
               "max_import_kw": 0.0}]
    cap, minimum = event_limits(index, baseline, events)
    assert cap.tolist() == [700.0, 400.0, 0.0, np.inf]
    assert minimum.tolist() == [0.0, 0.0, 0.0, 180.0]


def test_later_plans_keep_the_limits_of_the_active_events(client, tiny) -> None:
    """A cap of 600 kW from 16:00 to 17:00 (the baseline is above it there) binds the next day-ahead and intraday plans."""
    put(client, "cap", window("16:00", "17:00", max_import_kw=600))
    put(client, "more", window("12:00", "12:30", kind="increase", increase_by_kw=50))
    more = client.get("/parks/tiny/events/more", headers=ADMIN).json()
    plan = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN).json()
    assert plan["kpis"]["committed_events"] == ["cap", "more"]
    imports = {row["timestamp"][11:16]: row["grid_import_kw"] for row in plan["schedule"]}
    assert max(imports[t] for t in ("16:00", "16:15", "16:30", "16:45")) <= 600 + 1e-3
    for step in more["steps"]:      # at least the answer's baseline + 50 kW
        assert imports[step["timestamp"][11:16]] >= step["baseline_import_kw"] + 50 - 1e-3
    client.post("/parks/tiny/measurements", headers=ADMIN, json={
        "measured_at": "2026-07-15T14:00:00+08:00", "soc_kwh": {"b1": 100}, "month_to_date_peak_kw": 0})
    intraday = client.post("/parks/tiny/plans/intraday", json={"horizon_h": 6}, headers=ADMIN).json()
    assert intraday["kpis"]["committed_events"] == ["cap"]                  # the 12:00 event is past
    assert max(r["grid_import_kw"] for r in intraday["schedule"][8:12]) <= 600 + 1e-3
    client.delete("/parks/tiny/events/cap", headers=ADMIN)
    client.delete("/parks/tiny/events/more", headers=ADMIN)
    free = client.post("/parks/tiny/plans/intraday", json={"horizon_h": 6}, headers=ADMIN).json()
    assert "committed_events" not in free["kpis"]
    assert max(r["grid_import_kw"] for r in free["schedule"][8:12]) > 600 + 1e-3
