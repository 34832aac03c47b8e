"""``/parks/{id}/alerts`` and ``/parks/{id}/adherence``: rules raised by measurements, their lifecycle, the response
re-plan, and plan against measurement checked by hand."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from service.api import alerts as alert_module
from tests.service.api.conftest import ADMIN, assert_problem, issue_key, register, tiny_files, tiny_park
from tests.service.helpers import TINY_WIND_PARK, windy_nights

DAY = "2026-07-15"
RATE = 38.4
"""The Henan 2024 demand charge [CNY per kW and month]."""


def at(clock: str) -> str:
    return f"{DAY}T{clock}:00+08:00"


def measure(client, clock: str | None = None, park_id: str = "tiny", headers=ADMIN, **fields):
    body = {"measured_at": at(clock) if clock else fields.pop("measured_at"), "month_to_date_peak_kw": 1500,
            **fields}
    response = client.post(f"/parks/{park_id}/measurements", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def of_rule(client, rule: str, park_id: str = "tiny", status: str | None = None, headers=ADMIN) -> list[dict]:
    query = f"?status={status}" if status else ""
    response = client.get(f"/parks/{park_id}/alerts{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [a for a in response.json() if a["rule"] == rule]


def no_control_plan(client, park_id: str = "tiny") -> dict:
    """The day with the battery idle: import = load − PV at every step, the battery at 200 kWh (half of 400)."""
    response = client.post(f"/parks/{park_id}/plans", json={"date": DAY, "strategy": "no-control",
                                                            "month_to_date_peak_kw": 1500}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


def row_at(plan: dict, clock: str) -> dict:
    return next(r for r in plan["schedule"] if r["timestamp"] == at(clock))


@pytest.fixture
def tiny(client, files) -> str:
    register(client, "tiny", files)
    return "tiny"


def test_import_near_the_contract_limit_and_the_month_peak_raise_one_alert_each_until_it_clears(client, tiny) -> None:
    no_control_plan(client)
    for _ in range(2):  # the same breach twice: still one alert per cause
        measure(client, "10:00", grid_import_kw=1950, soc_kwh={"b1": 200})
    contract = [a for a in of_rule(client, "import_limit") if a["subject"] == "contract_limit"]
    peak = [a for a in of_rule(client, "import_limit") if a["subject"] == "month_peak"]
    assert len(contract) == 1 and len(peak) == 1
    assert contract[0]["status"] == "open" and contract[0]["value"] == 1950 and contract[0]["threshold"] == 1900
    assert peak[0]["threshold"] == pytest.approx(0.95 * 1500)
    assert peak[0]["cny_at_stake"] == pytest.approx((1950 - 1500) * RATE)   # 17,280 CNY
    measure(client, "10:15", grid_import_kw=1000, soc_kwh={"b1": 200})
    for alert in of_rule(client, "import_limit"):
        assert alert["status"] == "resolved" and alert["resolution"] == "auto" and alert["resolved_at"]
    assert of_rule(client, "import_limit", status="open") == []


def test_a_battery_outside_the_planned_band_raises_one_alert(client, tiny) -> None:
    plan = no_control_plan(client)
    assert row_at(plan, "10:00")["b1.soc_kwh"] == pytest.approx(200)
    measure(client, "10:00", soc_kwh={"b1": 300})
    measure(client, "10:05", soc_kwh={"b1": 310})
    [alert] = of_rule(client, "soc_band")
    assert alert["subject"] == "b1" and alert["threshold"] == pytest.approx(0.05 * 400)
    assert alert["value"] == 310 and alert["details"]["planned_kwh"] == pytest.approx(200)   # follows the newest
    assert alert["plan_id"] == plan["id"]
    corrected = measure(client, "10:06", soc_kwh={"b1": 330})
    assert of_rule(client, "soc_band")[0]["value"] == 330
    response = client.put(f"/parks/tiny/measurements/{corrected['id']}", headers=ADMIN, json={
        "measured_at": at("10:06"), "month_to_date_peak_kw": 1500, "soc_kwh": {"b1": 205}})   # a correction
    assert response.status_code == 200, response.text
    assert of_rule(client, "soc_band")[0]["status"] == "resolved"
    measure(client, "10:06", soc_kwh={"b1": 310})
    [alert] = of_rule(client, "soc_band", status="open")
    measure(client, "10:07")   # without the battery's content: not judged, still open
    assert of_rule(client, "soc_band")[0]["status"] == "open"
    measure(client, "10:10", soc_kwh={"b1": 215})   # within 200 ± 20 kWh: cleared
    assert client.get(f"/parks/tiny/alerts/{alert['id']}", headers=ADMIN).json()["status"] == "resolved"


def test_pv_under_performing_the_plan_raises_one_alert(client, tiny) -> None:
    plan = no_control_plan(client)
    planned_kw = row_at(plan, "12:00")["pv_available_kw"]
    assert planned_kw > 0.2 * 500
    measure(client, "12:00", pv_kw=0.5 * planned_kw, soc_kwh={"b1": 200})
    measure(client, "12:00", pv_kw=0.5 * planned_kw, soc_kwh={"b1": 200})
    [alert] = of_rule(client, "renewables")
    assert alert["subject"] == "pv" and alert["value"] == pytest.approx(0.5) and alert["threshold"] == 0.7
    price = row_at(plan, "12:00")["price_import_cny_per_kwh"]
    assert alert["cny_at_stake"] == pytest.approx(0.5 * planned_kw * 0.25 * price, abs=1e-4)
    measure(client, "12:01", pv_kw=0.9 * planned_kw, soc_kwh={"b1": 200})
    assert of_rule(client, "renewables")[0]["status"] == "resolved"


def test_wind_under_performing_the_plan_raises_one_alert(client, tmp_path) -> None:
    register(client, "tiny", tiny_files(tmp_path, TINY_WIND_PARK, wind=windy_nights), TINY_WIND_PARK)
    plan = no_control_plan(client)
    planned_kw = row_at(plan, "22:00")["wind_available_kw"]
    assert planned_kw == pytest.approx(1000, rel=0.05)   # 12 m/s at night: the turbine's rating
    for _ in range(2):
        measure(client, "22:00", wind_kw=300, soc_kwh={"b1": 200})
    [alert] = of_rule(client, "renewables")
    assert alert["subject"] == "wind" and alert["value"] == pytest.approx(300 / planned_kw)
    measure(client, "22:05", wind_kw=0.95 * planned_kw, soc_kwh={"b1": 200})
    assert of_rule(client, "renewables")[0]["status"] == "resolved"
    assert_problem(client.post("/parks/tiny/measurements", json={
        "measured_at": at("22:10"), "month_to_date_peak_kw": 0, "wind_kw": 1500}, headers=ADMIN), 422, "wind_kw",
        "nameplate 1000")


def test_stale_measurements_raise_an_alert_on_evaluation_and_a_fresh_one_clears_it(client, files) -> None:
    register(client, "tiny", files, tiny_park(alerts={"stale_measurements": {"max_age_min": 5}}))
    now = dt.datetime.now(dt.timezone.utc)
    assert client.post("/parks/tiny/alerts/evaluate", headers=ADMIN).json()["opened"] == []   # just registered
    measure(client, measured_at=(now - dt.timedelta(minutes=10)).isoformat())
    evaluation = client.post("/parks/tiny/alerts/evaluate", headers=ADMIN)
    assert evaluation.status_code == 200, evaluation.text
    [alert] = [a for a in evaluation.json()["active"] if a["rule"] == "stale_measurements"]
    assert alert["threshold"] == 5 and 10 <= alert["value"] < 60
    assert len(of_rule(client, "stale_measurements")) == 1
    measure(client, measured_at=dt.datetime.now(dt.timezone.utc).isoformat())
    assert of_rule(client, "stale_measurements")[0]["status"] == "resolved"


def test_the_periodic_evaluation_finds_a_stream_gone_quiet(client, files, settings, planner) -> None:
    """What the lifespan's task runs every MICROGRID_ALERT_INTERVAL_S, with the clock 10 minutes on."""
    register(client, "tiny", files, tiny_park(alerts={"stale_measurements": {"max_age_min": 5}}))
    now = dt.datetime.now(dt.timezone.utc)
    measure(client, measured_at=now.isoformat())
    assert of_rule(client, "stale_measurements") == []
    factory = client.app.state.session_factory
    assert alert_module.evaluate_all(factory, settings, planner, now=now + dt.timedelta(minutes=10)) == 1
    [alert] = of_rule(client, "stale_measurements")
    assert alert["value"] == pytest.approx(10) and alert["status"] == "open"
    assert alert_module.evaluate_all(factory, settings, planner, now=now + dt.timedelta(minutes=11)) == 0
    assert of_rule(client, "stale_measurements")[0]["value"] == pytest.approx(11)   # the same alert, followed
    assert settings.alert_interval_s == 60


def test_a_demand_response_commitment_missed_by_the_meter_raises_one_alert(client, tiny) -> None:
    answer = client.put("/parks/tiny/events/noon", json={
        "kind": "reduce", "start": at("12:00"), "end": at("13:00"), "reduce_by_kw": 100,
        "incentive_cny_per_kwh": 2.0, "notified_at": at("08:00")}, headers=ADMIN).json()
    committed_kw = answer["steps"][0]["baseline_import_kw"] - 100
    for _ in range(2):
        measure(client, "12:00", grid_import_kw=committed_kw + 50, soc_kwh={"b1": 200})
    [alert] = of_rule(client, "demand_response")
    assert alert["subject"] == "noon" and alert["details"]["source"] == "measured"
    assert alert["threshold"] == pytest.approx(committed_kw) and alert["details"]["shortfall_kw"] == pytest.approx(50)
    measure(client, "12:15", grid_import_kw=answer["steps"][1]["planned_import_kw"], soc_kwh={"b1": 200})
    assert of_rule(client, "demand_response")[0]["status"] == "resolved"


def test_acknowledging_and_resolving_are_recorded_and_only_for_the_parks_keys(client, files) -> None:
    register(client, "a", files)
    register(client, "b", files)
    key_a, key_b = issue_key(client, "a"), issue_key(client, "b")
    measure(client, "10:00", park_id="a", headers=key_a, grid_import_kw=1990)
    [alert] = [a for a in of_rule(client, "import_limit", "a", headers=key_a) if a["subject"] == "contract_limit"]
    base = f"/parks/a/alerts/{alert['id']}"
    assert_problem(client.get("/parks/a/alerts", headers=key_b), 403)
    assert_problem(client.post(f"{base}/acknowledge", headers=key_b), 403)
    assert_problem(client.get(f"/parks/b/alerts/{alert['id']}", headers=key_b), 404, None, "no alert")
    assert_problem(client.post(f"/parks/b/alerts/{alert['id']}/resolve", headers=key_b), 404)
    acknowledged = client.post(f"{base}/acknowledge", headers=key_a).json()
    assert acknowledged["status"] == "acknowledged" and acknowledged["acknowledged_by"] == "test"
    assert acknowledged["acknowledged_at"] is not None
    measure(client, "10:05", park_id="a", headers=key_a, grid_import_kw=1995)   # the cause persists: no new alert
    assert [a["id"] for a in of_rule(client, "import_limit", "a") if a["subject"] == "contract_limit"] == [alert["id"]]
    resolved = client.post(f"{base}/resolve", headers=key_a).json()
    assert resolved["status"] == "resolved" and resolved["resolution"] == "manual"
    assert_problem(client.post(f"{base}/resolve", headers=key_a), 409, "alert_id", "already resolved")
    assert_problem(client.post(f"{base}/acknowledge", headers=key_a), 409, "alert_id")
    assert [a["id"] for a in of_rule(client, "import_limit", "a", status="resolved")] == [alert["id"]]
    assert_problem(client.get("/parks/a/alerts/999", headers=key_a), 404)


def test_every_change_passes_on_alert_change(client, tiny, monkeypatch) -> None:
    changes = []
    monkeypatch.setattr(alert_module, "LISTENERS", [lambda session, row, change: changes.append((row.rule, change))])
    measure(client, "10:00", grid_import_kw=1990)
    alert = [a for a in of_rule(client, "import_limit") if a["subject"] == "contract_limit"][0]
    client.post(f"/parks/tiny/alerts/{alert['id']}/acknowledge", headers=ADMIN)
    measure(client, "10:15", grid_import_kw=100)
    import_changes = [c for c in changes if c[0] == "import_limit"]
    assert ("import_limit", "opened") in import_changes and ("import_limit", "acknowledged") in import_changes
    assert import_changes[-1] == ("import_limit", "resolved")
    measure(client, "10:30", grid_import_kw=1990)
    again = [a for a in of_rule(client, "import_limit", status="open") if a["subject"] == "contract_limit"][0]
    changes.clear()
    client.post(f"/parks/tiny/alerts/{again['id']}/resolve", headers=ADMIN)
    assert changes == [("import_limit", "resolved")]


def test_a_replan_rule_re_plans_from_the_measurement_and_records_the_plan(client, files) -> None:
    register(client, "tiny", files, tiny_park(alerts={"soc_band": {"replan": True}}))
    no_control_plan(client)
    measured = measure(client, "10:00", soc_kwh={"b1": 300})
    [alert] = of_rule(client, "soc_band")
    assert alert["replan"] is True and alert["replan_error"] is None
    plan = client.get(f"/parks/tiny/plans/{alert['replan_plan_id']}", headers=ADMIN).json()
    assert plan["kind"] == "intraday" and plan["measurement_id"] == measured["id"]
    assert plan["start"] == at("10:00")
    measure(client, "10:00", soc_kwh={"b1": 300})   # the re-plan starts from 300 kWh: in its band
    assert of_rule(client, "soc_band")[0]["status"] == "resolved"


def test_a_failed_replan_records_why(client, files) -> None:
    park = tiny_park(alerts={"import_limit": {"replan": True}})
    register(client, "tiny", files, park)
    # a measurement after the data the park has: the re-plan cannot be made, the alert says why
    measure(client, measured_at="2026-07-20T10:00:00+08:00", grid_import_kw=1990)
    alert = [a for a in of_rule(client, "import_limit") if a["subject"] == "contract_limit"][0]
    assert alert["replan_plan_id"] is None and alert["replan_error"]


def test_the_alerts_section_is_validated_naming_the_field(client, files) -> None:
    response = client.post("/parks", json={"id": "bad", "park": tiny_park(alerts={"soc_band": {"tolerance_frac": 2}}),
                                           "data_files": files}, headers=ADMIN)
    assert_problem(response, 422, None, "alerts.soc_band.tolerance_frac")
    response = client.post("/parks", json={"id": "bad", "park": tiny_park(alerts={"soc_bnad": {}}),
                                           "data_files": files}, headers=ADMIN)
    assert_problem(response, 422, None, "soc_bnad")


def test_network_limits_close_to_their_bounds_in_the_latest_plan() -> None:
    from microgrid.alerts import AlertSettings

    network = SimpleNamespace(described=True, min_vm_pu=0.95, max_vm_pu=1.05, max_line_loading_pct=100.0,
                              max_trafo_loading_pct=100.0)
    plan = SimpleNamespace(id=7, kpis={"min_vm_pu": 0.955, "max_vm_pu": 1.02, "max_line_loading_pct": 96.0,
                                       "max_trafo_loading_pct": 80.0})
    ctx = SimpleNamespace(latest_plan=plan, park=SimpleNamespace(network=network, alerts=AlertSettings()))
    found = alert_module.rule_network_limits(ctx)
    assert {f.subject for f in found} == {"min_vm_pu", "max_line_loading_pct"}   # within 0.01 pu and 5 %
    assert alert_module.rule_network_limits(SimpleNamespace(latest_plan=SimpleNamespace(id=8, kpis={}),
                                                            park=ctx.park)) is None


# --------------------------------------------------------------------------- plan against measurement


def test_adherence_against_a_hand_computation(client, tiny) -> None:
    plan = no_control_plan(client)
    night, noon, evening = row_at(plan, "02:00"), row_at(plan, "12:00"), row_at(plan, "22:00")
    assert night["grid_import_kw"] == pytest.approx(400) and evening["grid_import_kw"] == pytest.approx(400)
    measure(client, "02:00", grid_import_kw=500, soc_kwh={"b1": 200})
    measure(client, "02:10", grid_import_kw=430, soc_kwh={"b1": 190})   # the step's newest: +30 kW
    measure(client, "12:00", grid_import_kw=1600)                       # above the 1500-kW reference peak
    measure(client, "22:00", grid_import_kw=350)                        # −50 kW
    response = client.get(f"/parks/tiny/adherence?date={DAY}", headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["plan_ids"] == [plan["id"]]
    steps = {s["timestamp"]: s for s in body["steps"]}
    assert list(steps) == [at("02:00"), at("12:00"), at("22:00")]
    deviations = [30.0, 1600 - noon["grid_import_kw"], -50.0]
    prices = [night["price_import_cny_per_kwh"], noon["price_import_cny_per_kwh"],
              evening["price_import_cny_per_kwh"]]
    for step, deviation, price in zip(steps.values(), deviations, prices):
        assert step["import_deviation_kw"] == pytest.approx(deviation, abs=1e-5)
        assert step["energy_cost_cny"] == pytest.approx(deviation * 0.25 * price, abs=1e-5)
        assert step["reference_peak_kw"] == pytest.approx(1500)
    night_step = steps[at("02:00")]
    assert night_step["quantities"]["b1.soc_kwh"] == {"planned": pytest.approx(200), "measured": 190,
                                                      "deviation": pytest.approx(-10)}
    assert steps[at("12:00")]["demand_charge_exposure_cny"] == pytest.approx(100 * RATE)   # (1600 − 1500) × 38.4
    summary = body["summary"]
    assert summary["steps_measured"] == 3 and summary["tolerance_kw"] == pytest.approx(0.02 * 2000)
    assert summary["within_tolerance_share"] == pytest.approx(1 / 3)   # only the night step (30 ≤ 40 kW)
    assert summary["mean_abs_import_deviation_kw"] == pytest.approx(sum(map(abs, deviations)) / 3, abs=1e-5)
    assert summary["import_deviation_kwh"] == pytest.approx(sum(deviations) * 0.25, abs=1e-5)
    energy = sum(d * 0.25 * p for d, p in zip(deviations, prices))
    assert summary["energy_cost_cny"] == pytest.approx(energy, abs=1e-4)
    assert summary["demand_charge_exposure_cny"] == pytest.approx(3840)
    assert summary["deviation_cost_cny"] == pytest.approx(energy + 3840, abs=1e-4)


def test_adherence_of_a_day_without_measurements_and_bad_input(client, tiny) -> None:
    body = client.get(f"/parks/tiny/adherence?date={DAY}", headers=ADMIN).json()
    assert body["steps"] == [] and body["summary"]["steps_measured"] == 0
    assert body["summary"]["within_tolerance_share"] is None
    assert_problem(client.get("/parks/tiny/adherence?date=2026-13-01", headers=ADMIN), 422, "query.date")
    assert_problem(client.get("/parks/tiny/adherence", headers=ADMIN), 422, "query.date")


def test_adherence_of_a_batch_processs_run(client, files) -> None:
    park = tiny_park(shiftable_processes={"mill": {"bus": "pcc", "power_kw": 300, "duration_h": 2,
                                                   "earliest_start": "08:00", "latest_end": "18:00"}})
    register(client, "tiny", files, park)
    plan = no_control_plan(client)
    planned = {clock: 1.0 if row_at(plan, clock)["mill.load_kw"] > 0 else 0.0 for clock in ("08:30", "14:00")}
    assert planned == {"08:30": 1.0, "14:00": 0.0}   # without optimization the run starts at 08:00
    measure(client, "08:30", process_runs_done={"mill": 0})   # not started
    measure(client, "14:00", process_runs_done={"mill": 1}, process_running_h={"mill": 0.5})  # running late
    steps = client.get(f"/parks/tiny/adherence?date={DAY}", headers=ADMIN).json()["steps"]
    assert [s["quantities"]["mill.running"] for s in steps] == [
        {"planned": 1.0, "measured": 0.0, "deviation": -1.0}, {"planned": 0.0, "measured": 1.0, "deviation": 1.0}]
