"""Fixtures of the HTTP service tests: an app on a temporary database, keys, a tiny park inline."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.deps import get_planner, get_settings
from service.api.main import create_app
from service.api.planner import Planner
from service.api.settings import Settings
from tests.service.helpers import TINY_PARK, write_tiny_case

ADMIN_KEY = "admin-key-for-tests"
ADMIN = {"X-API-Key": ADMIN_KEY}


def tiny_files(tmp_path: Path, park: dict | None = None, **kwargs) -> dict[str, str]:
    """The tiny park's data files (two days at 15 min from 2026-07-15) as name → CSV text."""
    folder = write_tiny_case(tmp_path / "tiny_case_files", park or TINY_PARK, **kwargs)
    return {name: (folder / name).read_text() for name in ("weather.csv", "loads.csv")}


def tiny_park(**changes) -> dict:
    park = copy.deepcopy(TINY_PARK)
    park.update(changes)
    return park


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No reference case (fast start), the admin key above, a database in ``tmp_path``."""
    return Settings(data_dir=tmp_path / "var", admin_key=ADMIN_KEY, reference_cases=[])


@pytest.fixture
def planner() -> Planner:
    """Jobs on a thread of the test process (the process pool is covered by test_api_server)."""
    planner = Planner.thread_pool(workers=1, max_in_progress=4)
    yield planner
    planner.shutdown()


@pytest.fixture
def client(settings: Settings, planner: Planner) -> TestClient:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_planner] = lambda: planner
    app.state.study_executor_factory = lambda: ThreadPoolExecutor(max_workers=1)  # studies on a thread too
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    return tiny_files(tmp_path)


def register(client: TestClient, park_id: str, files: dict[str, str], park: dict | None = None) -> dict:
    response = client.post("/parks", json={"id": park_id, "park": park or tiny_park(), "data_files": files},
                           headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


def issue_key(client: TestClient, *park_ids: str, admin: bool = False) -> dict[str, str]:
    """Headers with a new key for ``park_ids``."""
    response = client.post("/keys", json={"name": "test", "park_ids": list(park_ids), "admin": admin}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return {"X-API-Key": response.json()["token"]}


def assert_problem(response, status: int, field: str | None = None, *fragments: str) -> dict:
    """A problem document (RFC 9457) with ``status``, naming ``field`` among its errors, holding ``fragments``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body), body
    assert body["status"] == status
    assert body["type"].startswith("https://")
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    for fragment in fragments:
        assert fragment in body["detail"], body
    return body
