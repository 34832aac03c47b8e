"""``/parks/{id}/plans``: day-ahead plans in the worker pool, stored with their park version, and their errors."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pandas as pd
import pytest

import dispatch.day_ahead
from microgrid.errors import InvalidRequestError, SolverTimeoutError
from service.api.jobs import solver_time_limit_s
from tests.service.api.conftest import ADMIN, assert_problem, register, tiny_park


@pytest.fixture
def tiny(client, files) -> str:
    register(client, "tiny", files)
    return "tiny"


def test_plan_returns_the_schedule_and_kpis_and_is_stored(client, tiny) -> None:
    response = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    plan = response.json()
    assert response.headers["location"] == f"/parks/tiny/plans/{plan['id']}"
    assert plan["park_version"] == 1 and plan["kind"] == "day_ahead" and plan["strategy"] == "optimal"
    assert plan["status"] == "optimal" and plan["fallback"] is False and plan["mip_gap"] is not None
    assert plan["start"] == "2026-07-15T00:00:00+08:00" and plan["end"] == "2026-07-16T00:00:00+08:00"
    assert len(plan["schedule"]) == 96
    first = plan["schedule"][0]
    assert first["timestamp"] == "2026-07-15T00:00:00+08:00"
    for column in ("pv_used_kw", "grid_import_kw", "battery_soc_kwh", "b1.charge_kw", "price_import_cny_per_kwh"):
        assert column in first
    schedule = pd.DataFrame(plan["schedule"])
    balance = (schedule.pv_used_kw + schedule.grid_import_kw + schedule.battery_discharge_kw
               - schedule.load_kw - schedule.battery_charge_kw - schedule.grid_export_kw)
    assert balance.abs().max() < 1e-3
    kpis = plan["kpis"]
    assert kpis["total_cost_cny"] == pytest.approx(plan["total_cost_cny"]) and kpis["total_cost_cny"] > 0
    assert kpis["solver_status"] == "optimal"
    assert plan["time_limit_s"] == 20.0 and 0 < plan["wall_time_s"] < 20
    fetched = client.get(f"/parks/tiny/plans/{plan['id']}", headers=ADMIN)
    assert fetched.status_code == 200 and fetched.json() == plan
    listed = client.get("/parks/tiny/plans", headers=ADMIN).json()
    assert [p["id"] for p in listed] == [plan["id"]] and "schedule" not in listed[0]


def test_plans_record_the_park_version_they_used(client, tiny) -> None:
    first = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN).json()
    park = tiny_park()
    park["batteries"]["b1"]["capacity_kwh"] = 0
    assert client.put("/parks/tiny", json={"park": park}, headers=ADMIN).status_code == 200
    second = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN).json()
    assert (first["park_version"], second["park_version"]) == (1, 2)
    assert max(row["battery_charge_kw"] for row in second["schedule"]) == 0
    assert max(row["battery_charge_kw"] for row in first["schedule"]) > 0
    assert [p["park_version"] for p in client.get("/parks/tiny/plans", headers=ADMIN).json()] == [2, 1]


def test_strategies_objectives_and_state(client, tiny) -> None:
    rule = client.post("/parks/tiny/plans", json={"date": "2026-07-16", "strategy": "rule-based"}, headers=ADMIN)
    assert rule.status_code == 201, rule.text
    assert rule.json()["status"] == "not_optimized" and rule.json()["objective"] is None
    assert rule.json()["fallback"] is False
    green = client.post("/parks/tiny/plans", json={"date": "2026-07-15", "objective": "self_consumption",
                                                   "soc_kwh": {"b1": 300}, "month_to_date_peak_kw": 900},
                        headers=ADMIN).json()
    assert green["objective"] == "self_consumption" and green["kpis"]["month_to_date_peak_kw"] == 900
    assert green["schedule"][0]["battery_soc_kwh"] <= 300 + 1e-6
    dates = client.get("/parks/tiny/plans", params={"date": "2026-07-16"}, headers=ADMIN).json()
    assert [p["strategy"] for p in dates] == ["rule-based"]


def test_inline_weather_forecast_drives_pv(client, tiny) -> None:
    stamps = pd.date_range("2026-07-15", periods=25, freq="1h", tz="Asia/Shanghai")
    overcast = [{"timestamp": t.isoformat(), "ghi": 0.0, "temp_air": 25.0, "wind_speed": 1.0} for t in stamps]
    plan = client.post("/parks/tiny/plans", json={"date": "2026-07-15", "forecasts": {"weather": overcast}},
                       headers=ADMIN)
    assert plan.status_code == 201, plan.text
    assert plan.json()["kpis"]["pv_generation_kwh"] == pytest.approx(0.0, abs=1e-6)
    sunny = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN).json()
    assert sunny["kpis"]["pv_generation_kwh"] > 1000


def test_bad_forecast_rows_are_named(client, tiny) -> None:
    naive = [{"timestamp": "2026-07-15T00:00:00", "ghi": 0.0}, {"timestamp": "2026-07-15T01:00:00", "ghi": 0.0}]
    assert_problem(client.post("/parks/tiny/plans", json={"date": "2026-07-15", "forecasts": {"weather": naive}},
                               headers=ADMIN), 422, "forecasts.weather", "offset")
    no_time = [{"ghi": 0.0}]
    assert_problem(client.post("/parks/tiny/plans", json={"date": "2026-07-15", "forecasts": {"weather": no_time}},
                               headers=ADMIN), 422, "forecasts.weather", "timestamp")


def test_invalid_requests_are_422_with_the_field(client, tiny, settings) -> None:
    post = lambda body: client.post("/parks/tiny/plans", json=body, headers=ADMIN)  # noqa: E731
    assert_problem(post({"date": "2026-13-01"}), 422, "date")
    assert_problem(post({"date": "2026-07-15", "strategy": "magic"}), 422, "strategy")
    assert_problem(post({"date": "2026-07-15", "horizon_h": 0}), 422, "horizon_h")
    assert_problem(post({"date": "2026-07-15", "horizon_h": 72}), 422, "horizon_h", "at most 48 h")
    assert_problem(post({"date": "2026-07-15", "time_limit_s": 25}), 422, "time_limit_s", "at most 20 s")
    assert_problem(post({"date": "2026-07-15", "mip_gap": 1.5}), 422, "mip_gap")
    assert_problem(post({"date": "2026-08-01"}), 422, "data.loads", "outside the data")
    assert_problem(post({"date": "0001-01-01"}), 422, "date")
    assert_problem(post({"date": "9999-12-31"}), 422, "date")
    assert_problem(post({"date": "2026-07-15", "soc_kwh": {"b9": 10}}), 422, "state.soc_kwh", "b9")
    assert_problem(post({"date": "2026-07-15", "soc_kwh": {"b1": 1e6}}), 422, "state.soc_kwh.b1", "bounds")
    settings.max_forecast_rows = 3
    rows = [{"timestamp": f"2026-07-15T0{h}:00:00+08:00", "ghi": 0.0} for h in range(4)]
    assert_problem(post({"date": "2026-07-15", "forecasts": {"weather": rows}}), 422, "forecasts.weather",
                   "at most 3 rows")
    assert client.get("/parks/tiny/plans", headers=ADMIN).json() == []


def test_unknown_plans_and_parks(client, tiny, files) -> None:
    register(client, "other", files)
    plan = client.post("/parks/other/plans", json={"date": "2026-07-15", "strategy": "no-control"}, headers=ADMIN)
    assert_problem(client.get(f"/parks/tiny/plans/{plan.json()['id']}", headers=ADMIN), 404, None, "no plan")
    assert_problem(client.get("/parks/tiny/plans/999", headers=ADMIN), 404)
    assert_problem(client.get("/parks/tiny/plans/abc", headers=ADMIN), 404, None, "no resource at /parks/tiny/plans/abc")
    assert_problem(client.post("/parks/ghost/plans", json={"date": "2026-07-15"}, headers=ADMIN), 404)


def test_solver_time_limit_is_shared_among_the_solves() -> None:
    assert solver_time_limit_s(10.0, "cost", 1) == pytest.approx(8.0)
    assert solver_time_limit_s(10.0, "co2", 1) == pytest.approx(4.0)
    assert solver_time_limit_s(10.0, "cost", 9) == pytest.approx(8.0 / 9)
    assert solver_time_limit_s(0.1, "cost", 1) == 0.5


def test_the_request_time_limit_reaches_the_solver(client, tiny, monkeypatch) -> None:
    seen = []
    real = dispatch.day_ahead.plan_day_ahead

    def spy(case, day, strategy, config, **kwargs):
        seen.append(config)
        return real(case, day, strategy, config, **kwargs)

    monkeypatch.setattr(dispatch.day_ahead, "plan_day_ahead", spy)
    response = client.post("/parks/tiny/plans", json={"date": "2026-07-15", "time_limit_s": 5}, headers=ADMIN)
    assert response.status_code == 201
    assert response.json()["time_limit_s"] == 5
    assert 0 < seen[0].time_limit_s <= 0.8 * 5


def test_no_optimal_plan_in_time_returns_the_rule_based_plan_flagged(client, tiny, monkeypatch) -> None:
    real = dispatch.day_ahead.plan_day_ahead

    def no_plan_in_time(case, day, strategy, config, **kwargs):
        if strategy == "optimal":
            raise SolverTimeoutError(f"HiGHS found no plan within time_limit_s={config.time_limit_s:g} s")
        return real(case, day, strategy, config, **kwargs)

    monkeypatch.setattr(dispatch.day_ahead, "plan_day_ahead", no_plan_in_time)
    response = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["fallback"] is True and plan["strategy"] == "rule-based" and plan["status"] == "not_optimized"
    assert "no optimal plan in time" in plan["fallback_reason"]
    assert len(plan["schedule"]) == 96
    assert client.get(f"/parks/tiny/plans/{plan['id']}", headers=ADMIN).json()["fallback"] is True


def _slow_job(seconds: float):
    """A plan job that takes ``seconds`` and then finds the request invalid."""

    def job(*args):
        time.sleep(seconds)
        raise InvalidRequestError("date: slow test job")

    return job


def test_no_answer_in_time_is_504_and_others_are_served_meanwhile(client, tiny, settings, monkeypatch) -> None:
    import service.api.routes.plans as plans_routes

    settings.plan_time_limit_s = 0.5
    settings.http_timeout_s = 1.0
    job_s = 4.0  # far beyond the time limit: the answer comes while the job still runs
    monkeypatch.setattr(plans_routes, "plan_job", _slow_job(job_s))
    answers = {}

    def request_plan() -> None:
        answers["plan"] = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN)

    worker = threading.Thread(target=request_plan)
    started = time.perf_counter()
    worker.start()
    for _ in range(200):  # health answers while the plan is in progress (however slowly the thread starts)
        health = client.get("/health")
        assert health.status_code == 200
        if health.json()["plans_in_progress"] == 1:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the plan never showed as in progress")
    assert worker.is_alive()
    worker.join()
    assert_problem(answers["plan"], 504, None, "time limit of 0.5 s")
    assert time.perf_counter() - started < job_s  # the 504 did not wait for the job
    assert client.get("/parks/tiny/plans", headers=ADMIN).json() == []


def test_too_many_plans_in_progress_is_503(client, tiny, planner, monkeypatch) -> None:
    import service.api.routes.plans as plans_routes

    monkeypatch.setattr(plans_routes, "plan_job", _slow_job(0.5))
    planner.max_in_progress = 1
    answers = {}
    worker = threading.Thread(target=lambda: answers.setdefault(
        "first", client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN)))
    worker.start()
    deadline = time.monotonic() + 2
    while planner.in_progress == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    response = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN)
    body = assert_problem(response, 503, None, "retry")
    assert response.headers["retry-after"] == "5" and body["title"] == "Too many plans in progress"
    worker.join()
    assert_problem(answers["first"], 422, "date", "slow test job")
    assert planner.in_progress == 0


def _reference_app(tmp_path, planner):
    """An app with the default settings' reference park and the admin key ``k``."""
    from service.api.deps import get_planner, get_settings
    from service.api.main import create_app
    from service.api.settings import Settings

    app = create_app()
    settings = Settings(data_dir=tmp_path / "var", admin_key="k")
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_planner] = lambda: planner
    return app


def test_the_documented_examples_work_on_the_reference_park(tmp_path, planner) -> None:
    from fastapi.testclient import TestClient

    from service.api.routes.forecasts import FORECAST_EXAMPLES
    from service.api.routes.parks import CREATE_EXAMPLES
    from service.api.routes.plans import PLAN_EXAMPLES

    with TestClient(_reference_app(tmp_path, planner)) as client:
        for name, example in FORECAST_EXAMPLES.items():  # forecast 1 is the one the plan examples name
            response = client.post("/parks/zhengzhou_park/forecasts", json=example["value"], headers={"X-API-Key": "k"})
            assert response.status_code == 201, (name, response.text)
        for name, example in PLAN_EXAMPLES.items():
            response = client.post("/parks/zhengzhou_park/plans", json=example["value"], headers={"X-API-Key": "k"})
            assert response.status_code == 201, (name, response.text)
            if name == "uploaded forecast":
                assert response.json()["forecast_id"] == 1
                assert response.json()["forecast_sources"]["load.ws1_machining_kw"] == "load_kw"
        for name in ("reference case", "document from a case folder"):
            response = client.post("/parks", json=CREATE_EXAMPLES[name]["value"], headers={"X-API-Key": "k"})
            assert response.status_code == 201, (name, response.text)


def test_reference_park_is_registered_at_start_up(tmp_path, planner) -> None:
    from fastapi.testclient import TestClient

    app = _reference_app(tmp_path, planner)
    with TestClient(app) as client:
        parks = client.get("/parks", headers={"X-API-Key": "k"}).json()
        assert [p["id"] for p in parks] == ["zhengzhou_park"]
        plan = client.post("/parks/zhengzhou_park/plans", json={"date": "2026-07-15", "strategy": "rule-based"},
                           headers={"X-API-Key": "k"})
        assert plan.status_code == 201, plan.text
        assert dt.datetime.fromisoformat(plan.json()["schedule"][0]["timestamp"]).utcoffset() == dt.timedelta(hours=8)
    with TestClient(app) as client:  # a restart registers nothing twice
        assert len(client.get("/parks/zhengzhou_park/versions", headers={"X-API-Key": "k"}).json()) == 1


def test_listing_pages_newest_first(client, tiny) -> None:
    ids = [client.post("/parks/tiny/plans", json={"date": "2026-07-15", "strategy": "no-control"},
                       headers=ADMIN).json()["id"] for _ in range(3)]
    page = client.get("/parks/tiny/plans", params={"limit": 2, "offset": 1}, headers=ADMIN).json()
    assert [p["id"] for p in page] == [ids[1], ids[0]]
    assert_problem(client.get("/parks/tiny/plans", params={"limit": 0}, headers=ADMIN), 422, "query.limit")
    assert_problem(client.get("/parks/tiny/plans", params={"date": "July"}, headers=ADMIN), 422, "query.date")
