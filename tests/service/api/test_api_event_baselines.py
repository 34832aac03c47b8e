"""Events measured against a customer baseline of similar days (``demand_response.baseline: similar-days``).

The tiny park's data start on Monday 2026-07-13; its metered import
(``data.grid_meter``) covers 2026-07-01 to 07-14 at one level per day, so the
baselines are readable: an event on Wednesday 07-15 averages the working days
14, 13 and 10 (07-11/12 are a weekend), unless 07-13 had an event itself.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.service.api.conftest import ADMIN, assert_problem, register, tiny_files, tiny_park

LEVEL_KW = {14: 1000.0, 13: 600.0, 10: 900.0, 9: 800.0, 8: 700.0}
"""Metered import on the working days before the event [kW]; 300 kW on every other day."""


def meter_csv(days: dict[int, float], first: str = "2026-07-01", last: str = "2026-07-14") -> str:
    index = pd.date_range(first, pd.Timestamp(last) + pd.Timedelta(days=1), freq="15min", tz="Asia/Shanghai",
                          inclusive="left")
    frame = pd.DataFrame({"timestamp": [t.isoformat() for t in index],
                          "grid_import_kw": [days.get(t.day, 300.0) for t in index]})
    return frame.to_csv(index=False)


def similar_days_park(**settings) -> dict:
    park = tiny_park(demand_response={"baseline": "similar-days", "similar_days": 3, "min_similar_days": 3,
                                      **settings})
    park["data"] = {"grid_meter": "grid_meter.csv"}
    return park


@pytest.fixture
def metered(client, tmp_path) -> str:
    files = {**tiny_files(tmp_path, start="2026-07-13", days=4), "grid_meter.csv": meter_csv(LEVEL_KW)}
    register(client, "tiny", files, park=similar_days_park())
    return "tiny"


def put(client, event_id: str, day: str, **amount):
    body = {"kind": "reduce", "start": f"{day}T19:00:00+08:00", "end": f"{day}T20:00:00+08:00",
            "incentive_cny_per_kwh": 2.0, "notified_at": f"{day}T08:00:00+08:00", **amount}
    return client.put(f"/parks/tiny/events/{event_id}", json=body, headers=ADMIN)


def test_the_response_is_measured_against_the_average_of_the_last_similar_days(client, metered) -> None:
    response = put(client, "wed", "2026-07-15", reduce_by_kw=100)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["baseline"] == {"method": "similar-days", "days": ["2026-07-14", "2026-07-13", "2026-07-10"],
                                  "day_type": "working", "adjustment": "none", "adjustment_basis": None,
                                  "adjustment_factor": None, "adjustment_kw": None, "adjustment_capped": False}
    for step in answer["steps"]:
        assert step["baseline_import_kw"] == pytest.approx((1000 + 600 + 900) / 3)
        assert step["requested_kw"] == 100
        assert step["response_kw"] == pytest.approx(max(0.0, step["baseline_import_kw"] - step["planned_import_kw"]))
        assert step["planned_import_kw"] <= step["baseline_import_kw"] - 100 + 1e-3   # the cap from the CBL
    assert answer["delivery"] == "full"
    assert answer["response_kwh"] == pytest.approx(sum(s["response_kw"] for s in answer["steps"]) * 0.25)
    # the limit kept for later plans is the one of the answer's baseline
    plan = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN).json()
    imports = {row["timestamp"]: row["grid_import_kw"] for row in plan["schedule"]}
    for step in answer["steps"]:
        assert imports[step["timestamp"]] <= step["baseline_import_kw"] - 100 + 1e-3


def test_a_day_with_an_event_is_left_out_of_the_next_events_baseline(client, metered) -> None:
    monday = put(client, "mon", "2026-07-13", reduce_by_kw=50).json()
    assert monday["baseline"]["days"] == ["2026-07-10", "2026-07-09", "2026-07-08"]
    assert monday["steps"][0]["baseline_import_kw"] == pytest.approx(800.0)
    wednesday = put(client, "wed", "2026-07-15", reduce_by_kw=50).json()
    assert wednesday["baseline"]["days"] == ["2026-07-14", "2026-07-10", "2026-07-09"]
    assert wednesday["steps"][0]["baseline_import_kw"] == pytest.approx(900.0)
    # once Monday's event is withdrawn, Monday is a similar day again
    assert client.delete("/parks/tiny/events/mon", headers=ADMIN).status_code == 200
    again = put(client, "wed", "2026-07-15", reduce_by_kw=60).json()
    assert again["baseline"]["days"] == ["2026-07-14", "2026-07-13", "2026-07-10"]


def test_a_cap_asks_the_baseline_less_the_cap(client, metered) -> None:
    answer = put(client, "cap", "2026-07-15", max_import_kw=700).json()
    for step in answer["steps"]:
        assert step["requested_kw"] == pytest.approx(2500 / 3 - 700)


def test_the_scaling_adjustment_uses_the_posted_measurements_of_the_event_day(client, tmp_path) -> None:
    files = {**tiny_files(tmp_path, start="2026-07-13", days=4), "grid_meter.csv": meter_csv(LEVEL_KW)}
    register(client, "tiny", files, park=similar_days_park(adjustment="scaling", adjustment_cap_frac=0.1))
    # the adjustment window: 16:00-18:00 of the event day (2 h ending 1 h before 19:00); the similar days hold 2500/3
    for minute in range(0, 120, 15):
        stamp = pd.Timestamp("2026-07-15T16:00:00+08:00") + pd.Timedelta(minutes=minute)
        posted = client.post("/parks/tiny/measurements", headers=ADMIN, json={
            "measured_at": stamp.isoformat(), "soc_kwh": {"b1": 200}, "month_to_date_peak_kw": 1000,
            "grid_import_kw": 875.0})
        assert posted.status_code == 201, posted.text
    answer = put(client, "wed", "2026-07-15", reduce_by_kw=100).json()
    assert answer["baseline"]["adjustment"] == "scaling" and answer["baseline"]["adjustment_basis"] == "metered"
    assert answer["baseline"]["adjustment_factor"] == pytest.approx(875 / (2500 / 3))   # 1.05, within the cap
    assert answer["steps"][0]["baseline_import_kw"] == pytest.approx(875.0)
    assert answer["plan"]["start"] == "2026-07-15T17:45:00+08:00"     # from the latest measurement


def test_the_similar_days_can_come_from_posted_measurements_alone(client, tmp_path) -> None:
    park = similar_days_park(similar_days=2, min_similar_days=2)
    del park["data"]
    register(client, "tiny", tiny_files(tmp_path, start="2026-07-13", days=4), park=park)
    for day, kw in (("2026-07-13", 500.0), ("2026-07-14", 700.0)):
        for minute in (0, 15, 30, 45):
            posted = client.post("/parks/tiny/measurements", headers=ADMIN, json={
                "measured_at": f"{day}T19:{minute:02d}:00+08:00", "soc_kwh": {"b1": 200},
                "month_to_date_peak_kw": 1000, "grid_import_kw": kw})
            assert posted.status_code == 201, posted.text
    answer = put(client, "wed", "2026-07-15", reduce_by_kw=100).json()
    assert answer["baseline"]["days"] == ["2026-07-14", "2026-07-13"]
    assert [s["baseline_import_kw"] for s in answer["steps"]] == pytest.approx([600.0] * 4)


def test_without_enough_metered_days_the_event_is_refused_naming_the_setting(client, tmp_path) -> None:
    files = {**tiny_files(tmp_path, start="2026-07-13", days=4),
             "grid_meter.csv": meter_csv(LEVEL_KW, first="2026-07-13")}
    register(client, "tiny", files, park=similar_days_park())
    problem = assert_problem(put(client, "wed", "2026-07-15", reduce_by_kw=100), 422, None,
                             "demand_response.baseline", "found 2")
    assert "grid_import_kw" in problem["detail"]
    assert client.get("/parks/tiny/events", headers=ADMIN).json() == []


def test_a_park_without_the_setting_keeps_the_plan_without_events_and_says_so(client, files) -> None:
    register(client, "tiny", files)
    answer = put(client, "wed", "2026-07-15", reduce_by_kw=100).json()
    assert answer["baseline"]["method"] == "optimal-plan" and answer["baseline"]["days"] == []


@pytest.mark.parametrize(("section", "field"), [
    ({"baseline": "ten-of-ten"}, "demand_response.baseline"),
    ({"similar_days": 0}, "demand_response.similar_days"),
    ({"min_similar_days": 9}, "demand_response"),
    ({"adjustment": "ratio"}, "demand_response.adjustment"),
])
def test_bad_settings_are_422_naming_the_field(client, files, section, field) -> None:
    park = tiny_park(demand_response=section)
    response = client.post("/parks", json={"id": "bad", "park": park, "data_files": files}, headers=ADMIN)
    body = assert_problem(response, 422)
    assert any(field in e["field"] for e in body["errors"]) or field in body["detail"], body
