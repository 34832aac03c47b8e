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
    # A new billing month the measurements have not reached: its peak so far is not known,
    # so the day's demand charge is its share of the month.
    assert plan["kpis"]["month_to_date_peak_kw"] is None
    assert plan["kpis"]["demand_charge_basis"] == "pro_rata"


def test_a_newer_park_version_drops_devices_it_no_longer_has(client, tiny) -> None:
    post(client, STATE)
    park = tiny_park()
    del park["batteries"]
    assert client.put("/parks/tiny", json={"park": park}, headers=ADMIN).status_code == 200
    plan = client.post("/parks/tiny/plans", json={"date": "2026-07-15", "strategy": "no-control"}, headers=ADMIN)
    assert plan.status_code == 201, plan.text
    assert plan.json()["park_version"] == 2 and plan.json()["measurement_id"] is not None


# --- the flexible loads' state ---------------------------------------------------------------------

FLEX_PARK = tiny_park(
    shiftable_processes={"mill": {"bus": "pcc", "power_kw": 300, "duration_h": 2, "earliest_start": "08:00",
                                  "latest_end": "18:00"}},
    curtailable_loads={"hvac": {"bus": "pcc", "profile": "l1_kw", "scale": 0.1, "max_shed_kw": 40,
                                "shed_cost_cny_per_kwh": 0.5, "max_shed_hours_per_day": 2}},
)
"""The tiny park with a batch mill (one 2-h run at 300 kW a day, 08:00-18:00) and a curtailable HVAC."""
MORNING = {"measured_at": "2026-07-15T09:55:00+08:00", "soc_kwh": {"b1": 300}, "month_to_date_peak_kw": 1500}


@pytest.fixture
def flex(client, files) -> str:
    register(client, "flex", files, park=FLEX_PARK)
    return "flex"


def mill_kw(plan: dict) -> list[float]:
    return [row["mill.load_kw"] for row in plan["schedule"]]


@pytest.mark.parametrize(("change", "field", "fragment"), [
    ({"process_runs_done": {"press": 1}}, "process_runs_done.press", "no shiftable_processes device 'press'"),
    ({"process_runs_done": {"mill": 2}}, "process_runs_done.mill", "outside [0, 1]"),
    ({"process_running_h": {"mill": 2.0}, "process_runs_done": {"mill": 1}}, "process_running_h.mill",
     "outside (0, 2) h"),
    ({"process_running_h": {"mill": 0.5}}, "process_running_h.mill", "must count it"),
    ({"shed_hours_used": {"hvac": 3}}, "shed_hours_used.hvac", "outside [0, 2] h"),
    ({"shed_kwh_used": {"mill": 3}}, "shed_kwh_used.mill", "no curtailable_loads device 'mill'"),
    ({"energy_delivered_kwh": {"ev": 3}}, "energy_delivered_kwh.ev", "its ids: (none)"),
    ({"process_runs_done": {"mill": 0.5}}, "process_runs_done.mill", None),
])
def test_bad_flexible_state_is_422_naming_the_field(client, flex, change, field, fragment) -> None:
    response = post(client, {**MORNING, **change}, park_id="flex")
    assert_problem(response, 422, field, *([fragment] if fragment else []))


def test_the_flexible_state_is_stored_and_read_back(client, flex) -> None:
    body = {**MORNING, "process_runs_done": {"mill": 1}, "process_running_h": {"mill": 0.75},
            "shed_hours_used": {"hvac": 0.5}, "shed_kwh_used": {"hvac": 10.0}}
    stored = post(client, body, park_id="flex").json()
    latest = client.get("/parks/flex/measurements/latest", headers=ADMIN).json()
    assert latest == stored
    assert latest["process_runs_done"] == {"mill": 1} and latest["process_running_h"] == {"mill": 0.75}
    assert latest["shed_hours_used"] == {"hvac": 0.5} and latest["energy_delivered_kwh"] == {}


def test_a_run_in_progress_continues_in_the_intraday_plan_and_is_not_run_again(client, flex) -> None:
    """0.75 h run at 09:55; the plan starts at 10:00: 0.75 h + 5 min ≈ 3 steps done, 5 steps (1.25 h) left."""
    post(client, {**MORNING, "process_runs_done": {"mill": 1}, "process_running_h": {"mill": 0.75}}, park_id="flex")
    plan = client.post("/parks/flex/plans/intraday", json={}, headers=ADMIN).json()
    assert plan["start"] == "2026-07-15T10:00:00+08:00"
    today = mill_kw(plan)[:56]                         # 10:00 to midnight
    assert today[:5] == [pytest.approx(300.0)] * 5 and sum(today[5:]) == pytest.approx(0.0, abs=1e-6)


def test_a_run_done_today_is_not_planned_again_but_tomorrow_it_is(client, flex) -> None:
    post(client, {**MORNING, "process_runs_done": {"mill": 1}}, park_id="flex")
    plan = client.post("/parks/flex/plans/intraday", json={"horizon_h": 14}, headers=ADMIN).json()
    assert sum(mill_kw(plan)) == pytest.approx(0.0, abs=1e-6)
    # without the count, the mill's run of the day is planned from 10:00 on
    post(client, {**MORNING, "measured_at": "2026-07-15T09:56:00+08:00"}, park_id="flex")
    plan = client.post("/parks/flex/plans/intraday", json={"horizon_h": 14}, headers=ADMIN).json()
    assert sum(mill_kw(plan)) * 0.25 == pytest.approx(600.0)
    # a day-ahead plan of the next day does not carry the daily counter of the 15th
    post(client, {**MORNING, "measured_at": "2026-07-15T23:50:00+08:00", "process_runs_done": {"mill": 1}},
         park_id="flex")
    plan = client.post("/parks/flex/plans", json={"date": "2026-07-16"}, headers=ADMIN).json()
    assert plan["measurement_id"] is not None and sum(mill_kw(plan)) * 0.25 == pytest.approx(600.0)


def test_a_run_in_progress_carries_on_into_a_plan_that_starts_later(client, flex) -> None:
    """Measured at 09:55 after 0.75 h of the 2-h run; from 11:00 it has run 1.83 h: 7 steps done, 1 left."""
    post(client, {**MORNING, "process_runs_done": {"mill": 1}, "process_running_h": {"mill": 0.75}}, park_id="flex")
    plan = client.post("/parks/flex/plans/intraday", json={"start": "2026-07-15T11:00:00+08:00", "horizon_h": 13},
                       headers=ADMIN).json()
    assert mill_kw(plan)[0] == pytest.approx(300.0) and sum(mill_kw(plan)[1:]) == pytest.approx(0.0, abs=1e-6)
    # from 12:00 the run has ended (2.83 h): nothing left, and it is not run again
    plan = client.post("/parks/flex/plans/intraday", json={"start": "2026-07-15T12:00:00+08:00", "horizon_h": 12},
                       headers=ADMIN).json()
    assert sum(mill_kw(plan)) == pytest.approx(0.0, abs=1e-6)


def test_what_was_controlled_since_the_measurement_is_carried_only_within_one_step() -> None:
    from types import SimpleNamespace

    import pandas as pd

    from microgrid.case import park_from_dict
    from service.api.jobs import plant_state

    park = park_from_dict({**FLEX_PARK, "energy_loads": {"ev": {"bus": "pcc", "arrival": "18:00",
                                                                      "departure": "06:00", "energy_kwh": 200,
                                                                      "max_kw": 50}}})
    case = SimpleNamespace(park=park, load_profiles=pd.DataFrame(
        index=pd.date_range("2026-07-15", periods=96, freq="15min", tz="Asia/Shanghai")))
    request = {"measured_at": "2026-07-15T20:05:00+08:00", "energy_delivered_kwh": {"ev": 30.0},
               "process_runs_done": {"mill": 1}}
    within = plant_state(request, case, pd.Timestamp("2026-07-15T20:15:00+08:00"))
    later = plant_state(request, case, pd.Timestamp("2026-07-15T20:30:00+08:00"))
    assert within.energy_delivered_kwh == {"ev": 30.0} and later.energy_delivered_kwh == {}
    assert within.process_runs_done == later.process_runs_done == {"mill": 1}
