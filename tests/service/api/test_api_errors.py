"""One problem-details shape for every error; the project's exceptions mapped in one place."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from microgrid import errors as mg
from service.api.deps import get_session
from service.api.main import create_app
from service.api.problems import install_handlers, split_message
from tests.service.api.conftest import ADMIN, assert_problem


@pytest.mark.parametrize(("exc", "status", "slug", "field"), [
    (mg.InvalidParkError("batteries.b1.capacity_kwh: must be ≥ 0"), 422, "invalid-park", "batteries.b1.capacity_kwh"),
    (mg.DataError("data.loads (loads.csv): column 'l1_kw' has a missing value"), 422, "invalid-data", "data.loads"),
    (mg.InvalidRequestError("strategy: unknown 'x'"), 422, "invalid-request", "strategy"),
    (mg.ForecastError("forecasts.weather: too short"), 422, "forecast-failed", "forecasts.weather"),
    (mg.InfeasibleError("shiftable_processes.p1: longer than its window"), 422, "infeasible", "shiftable_processes.p1"),
    (mg.SolverTimeoutError("HiGHS found no plan within time_limit_s=1 s; raise the limit"), 504, "plan-timeout", ""),
    (mg.SolverError("HiGHS stopped without a plan (error)"), 503, "solver-failed", ""),
    (mg.MicrogridError("something: off"), 422, "invalid-request", "something"),
])
def test_each_project_exception_has_one_status(exc, status, slug, field) -> None:
    app = FastAPI()
    install_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    response = TestClient(app).get("/boom")
    body = assert_problem(response, status)
    assert body["type"].endswith("/" + slug)
    assert body["detail"] == str(exc)
    assert body["errors"][0]["field"] == field


def test_split_message_keeps_reasons_with_semicolons() -> None:
    assert split_message("a.b: bad; add it; c: missing") == [
        {"field": "a.b", "reason": "bad; add it"}, {"field": "c", "reason": "missing"}]
    assert split_message("no field here") == [{"field": "", "reason": "no field here"}]


def test_unknown_route_and_method(client) -> None:
    assert_problem(client.get("/nowhere", headers=ADMIN), 404)
    assert_problem(client.delete("/parks", headers=ADMIN), 405)


def test_malformed_json_is_422(client) -> None:
    response = client.post("/parks", content=b"{not json", headers={**ADMIN, "content-type": "application/json"})
    assert_problem(response, 422)
    assert_problem(client.post("/keys", json=["a list"], headers=ADMIN), 422)


def test_oversized_bodies_are_413(client, settings) -> None:
    settings.max_request_bytes = 2048
    client.app.state.max_request_bytes = 2048
    big = {"id": "x", "case_folder": "zhengzhou_park", "comment": "x" * 4000}
    assert_problem(client.post("/parks", json=big, headers=ADMIN), 413, None, "2048 bytes")

    def chunks():
        for _ in range(5):
            yield b" " * 1000

    streamed = client.post("/parks", content=chunks(), headers={**ADMIN, "content-type": "application/json"})
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413)
    assert client.post("/keys", json={"name": "small", "admin": True}, headers=ADMIN).status_code == 201


def test_an_unexpected_failure_is_a_500_problem_without_internals(settings, planner) -> None:
    from service.api.deps import get_planner, get_settings

    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_planner] = lambda: planner

    def broken_session():
        raise RuntimeError("database password is hunter2")

    app.dependency_overrides[get_session] = broken_session
    with TestClient(app, raise_server_exceptions=False) as client:
        body = assert_problem(client.get("/parks", headers=ADMIN), 500, None, "RuntimeError")
    assert "hunter2" not in str(body)


def test_openapi_documents_examples_and_problem_responses(client) -> None:
    spec = client.get("/openapi.json").json()
    create_plan = spec["paths"]["/parks/{park_id}/plans"]["post"]
    examples = create_plan["requestBody"]["content"]["application/json"]["examples"]
    assert "least cost" in examples and examples["least cost"]["value"] == {"date": "2026-07-15"}
    assert {"422", "503", "504"} <= set(create_plan["responses"])
    assert "reference case" in spec["paths"]["/parks"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert client.get("/docs").status_code == 200
