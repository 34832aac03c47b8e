"""The real server: ``microgrid service serve`` (uvicorn) on a free loopback port, driven over HTTP.

Plans are solved in its process pool while it keeps answering; and what it
acknowledged survives SIGKILL and a restart.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.service.api.conftest import tiny_files, tiny_park
from tests.service.processes import descendants, wait_until_gone

ADMIN_KEY = "server-test-admin-key"
HEADERS = {"X-API-Key": ADMIN_KEY}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``microgrid service serve`` in its own process group, with its data under ``data_dir``."""

    def __init__(self, data_dir: Path, reference_cases: str = "[]", env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.reference_cases = reference_cases
        self.env = env or {}
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout_s: float = 60.0) -> "Server":
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "MICROGRID_DATA_DIR": str(self.data_dir), "MICROGRID_ADMIN_KEY": ADMIN_KEY,
               "MICROGRID_REFERENCE_CASES": self.reference_cases, "MICROGRID_WORKERS": "1", **self.env}
        log = open(self.data_dir.parent / f"server-{port}.log", "wb")  # noqa: SIM115 - kept for the process
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from service.cli import app; app()", "service", "serve", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {(self.data_dir.parent / f'server-{port}.log').read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError("the server did not answer /health in time")

    def kill(self, group: bool = True) -> None:
        """SIGKILL the server process, then (``group``) its worker processes (the same process group)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        if not group:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                pass
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def server_factory(tmp_path: Path):
    servers: list[Server] = []

    def make(reference_cases: str = "[]") -> Server:
        server = Server(tmp_path / "var", reference_cases)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


def test_the_reference_park_over_http_while_it_keeps_answering(server_factory) -> None:
    server = server_factory('["zhengzhou_park"]')
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
        assert http.get("/parks").json()[0]["id"] == "zhengzhou_park"
        assert http.get("/parks", headers={"X-API-Key": ""}).status_code == 401
        answers = {}
        solving = threading.Thread(target=lambda: answers.setdefault(
            "plan", http.post("/parks/zhengzhou_park/plans", json={"date": "2026-07-15"})))
        solving.start()
        latencies = []
        busy_seen = False
        while solving.is_alive():
            started = time.perf_counter()
            health = http.get("/health").json()
            latencies.append(time.perf_counter() - started)
            busy_seen |= health["plans_in_progress"] == 1
            time.sleep(0.05)
        solving.join()
        plan = answers["plan"]
        assert plan.status_code == 201, plan.text
        body = plan.json()
        assert body["status"] in ("optimal", "time_limit") and body["park_version"] == 1
        assert len(body["schedule"]) == 96 and body["schedule"][0]["timestamp"] == "2026-07-15T00:00:00+08:00"
        assert busy_seen and len(latencies) >= 5
        assert max(latencies) < 1.0, latencies
        assert http.get(f"/parks/zhengzhou_park/plans/{body['id']}").json()["kpis"] == body["kpis"]
        # A limit too short for the optimum: HiGHS's best plan with its gap, or the rule-based plan flagged.
        started = time.perf_counter()
        hurried = http.post("/parks/zhengzhou_park/plans", json={"date": "2026-07-16", "time_limit_s": 0.7,
                                                                 "mip_gap": 0.0})
        assert hurried.status_code == 201, hurried.text
        hurried = hurried.json()
        assert time.perf_counter() - started < 0.7 + 5
        if hurried["status"] == "optimal":  # the warm-started model may still prove the optimum in time
            assert hurried["fallback"] is False and hurried["strategy"] != "rule-based"
        elif hurried["status"] == "time_limit":
            assert hurried["fallback"] is False and hurried["mip_gap"] > 0
        else:
            assert hurried["fallback"] is True and hurried["status"] == "not_optimized"
            assert hurried["strategy"] == "rule-based" and "no optimal plan in time" in hurried["fallback_reason"]
        docs = http.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_acknowledged_plans_survive_sigkill_and_restart(server_factory, tmp_path) -> None:
    files = tiny_files(tmp_path)
    server = server_factory()
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
        assert http.post("/parks", json={"id": "tiny", "park": tiny_park(), "data_files": files}).status_code == 201
        bigger = tiny_park()
        bigger["batteries"]["b1"]["capacity_kwh"] = 800
        assert http.put("/parks/tiny", json={"park": bigger}).status_code == 200
        token = http.post("/keys", json={"name": "operator", "park_ids": ["tiny"]}).json()["token"]
        accepted = {}
        for strategy, date in [("rule-based", "2026-07-15"), ("no-control", "2026-07-16"), ("optimal", "2026-07-15"),
                               ("rule-based", "2026-07-16")]:
            response = http.post("/parks/tiny/plans", json={"date": date, "strategy": strategy},
                                 headers={"X-API-Key": token})
            assert response.status_code == 201, response.text
            accepted[response.json()["id"]] = response.json()
        event = http.put("/parks/tiny/events/dr1", headers={"X-API-Key": token}, json={
            "kind": "reduce", "start": "2026-07-15T12:00:00+08:00", "end": "2026-07-15T13:00:00+08:00",
            "reduce_by_kw": 100, "incentive_cny_per_kwh": 2.0, "notified_at": "2026-07-15T08:00:00+08:00"})
        assert event.status_code == 201, event.text      # both solves in one job of the process pool
        event = event.json()
        assert event["delivery"] == "full" and event["plan"]["kind"] == "event"
        accepted[event["plan"]["id"]] = event["plan"]
    server.kill()
    assert server.process.returncode == -signal.SIGKILL
    shutil.rmtree(server.data_dir / "files")  # only a cache: the restart unpacks the park's files from the database
    restarted = server_factory()
    with httpx.Client(base_url=restarted.url, timeout=30) as http:
        listed = http.get("/parks/tiny/plans", headers={"X-API-Key": token})
        assert listed.status_code == 200
        assert sorted(p["id"] for p in listed.json()) == sorted(accepted)
        for plan_id, plan in accepted.items():
            assert http.get(f"/parks/tiny/plans/{plan_id}", headers={"X-API-Key": token}).json() == plan
        assert http.get("/parks/tiny/events/dr1", headers={"X-API-Key": token}).json() == event
        park = http.get("/parks/tiny", headers=HEADERS).json()
        assert park["version"] == 2 and park["document"]["batteries"]["b1"]["capacity_kwh"] == 800
        new = http.post("/parks/tiny/plans", json={"date": "2026-07-15", "strategy": "no-control"},
                        headers={"X-API-Key": token})
        assert new.status_code == 201 and new.json()["park_version"] == 2


def test_accepted_studies_survive_sigkill_and_resume_at_restart(server_factory, tmp_path) -> None:
    """Two studies accepted, the server killed once the first has finished a day and the second waits; both
    finish after the restart, the first from its checkpoints, equal to each other (a resumed study computes what
    an uninterrupted one does)."""
    files = tiny_files(tmp_path)
    body = {"start": "2026-07-15", "end": "2026-07-16", "strategies": ["no-control", "rule-based", "mpc"],
            "baseline": "no-control"}  # the default baseline (tou-arbitrage) would add a fourth strategy
    server = server_factory()
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
        assert http.post("/parks", json={"id": "tiny", "park": tiny_park(), "data_files": files}).status_code == 201
        accepted = []
        for _ in range(2):
            response = http.post("/parks/tiny/studies", json=body)
            assert response.status_code == 202, response.text
            accepted.append(response.headers["location"])
        deadline = time.monotonic() + 60
        while http.get(accepted[0]).json()["steps_done"] < 1:  # killed once the first has checkpointed a day
            assert time.monotonic() < deadline, http.get(accepted[0]).json()
            time.sleep(0.05)
        states = [http.get(url).json()["state"] for url in accepted]
    server.kill()
    assert server.process.returncode == -signal.SIGKILL
    assert "done" not in states[1:], states  # the second waited behind the first: it runs after the restart
    restarted = server_factory()
    with httpx.Client(base_url=restarted.url, headers=HEADERS, timeout=30) as http:
        listed = http.get("/parks/tiny/studies").json()
        assert sorted(s["id"] for s in listed) == [1, 2]
        # the plan pool answers while the study pool resumes the studies
        plan = http.post("/parks/tiny/plans", json={"date": "2026-07-15", "strategy": "no-control"})
        assert plan.status_code == 201, plan.text
        finished = []
        for url in accepted:
            deadline = time.monotonic() + 120
            while (study := http.get(url).json())["state"] in ("queued", "running"):
                assert time.monotonic() < deadline, f"{url} did not finish: {study}"
                time.sleep(0.2)
            assert study["state"] == "done", study
            assert study["progress_frac"] == 1.0 and study["steps_done"] == study["steps_total"] == 6
            report = http.get(study["report_url"])
            assert report.status_code == 200 and "KPIs of the period" in report.text
            finished.append(study)
        assert "day(s) resumed" in finished[0]["message"], finished[0]["message"]
        for first, second in zip(finished[0]["kpis"], finished[1]["kpis"]):
            assert first["strategy"] == second["strategy"]
            assert first["total_cost_cny"] == pytest.approx(second["total_cost_cny"], rel=1e-9)
            assert first["windows"] == second["windows"] == 48


def test_no_worker_outlives_a_server_killed_with_sigkill(server_factory, tmp_path) -> None:
    """A plan solved and a study running: both pools have their worker; SIGKILL of the server alone ends them all."""
    server = server_factory()
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
        created = http.post("/parks", json={"id": "tiny", "park": tiny_park(), "data_files": tiny_files(tmp_path)})
        assert created.status_code == 201, created.text
        plan = http.post("/parks/tiny/plans", json={"date": "2026-07-15", "strategy": "optimal"})
        assert plan.status_code == 201, plan.text
        study = http.post("/parks/tiny/studies", json={"start": "2026-07-15", "end": "2026-07-16",
                                                       "strategies": ["mpc"], "baseline": "mpc"})
        assert study.status_code == 202, study.text
        deadline = time.monotonic() + 60
        while (state := http.get(study.headers["location"]).json()["state"]) == "queued":
            assert time.monotonic() < deadline, "the study never started"
            time.sleep(0.05)
        assert state in ("running", "done"), state
    below = descendants(server.process.pid)
    workers = [pid for pid, command in below.items() if "spawn_main" in command]
    assert len(workers) == 2, below  # MICROGRID_WORKERS=1 plan worker, the default one study worker
    server.kill(group=False)  # the server only: its workers are left to end on their own
    assert server.process.returncode == -signal.SIGKILL
    wait_until_gone(below)


def test_hostile_input_over_http_leaves_the_park_planning(server_factory, tmp_path) -> None:
    """A measurement in 2300, Infinity, a duplicate key, a 100k-deep body: 422 each; re-plans still work."""
    server = server_factory()
    json_headers = {**HEADERS, "content-type": "application/json"}
    measured = {"measured_at": "2026-07-15T09:55:00+08:00", "soc_kwh": {"b1": 300}, "month_to_date_peak_kw": 1200}
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
        created = http.post("/parks", json={"id": "tiny", "park": tiny_park(), "data_files": tiny_files(tmp_path)})
        assert created.status_code == 201, created.text
        assert http.post("/parks/tiny/measurements", json=measured).status_code == 201
        future = http.post("/parks/tiny/measurements", json={**measured, "measured_at": "2300-01-01T00:00:00+08:00"})
        assert future.status_code == 422 and future.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in future.json()["errors"]] == ["measured_at"]
        assert "2100-01-01T00:00:00Z" in future.json()["detail"]
        infinite = http.post("/parks/tiny/measurements", headers=json_headers,
                             content=json.dumps(measured).replace("1200", "Infinity"))
        assert infinite.status_code == 422 and infinite.json()["errors"][0]["field"] == "month_to_date_peak_kw"
        twice = http.post("/parks/tiny/measurements", headers=json_headers,
                          content=json.dumps(measured).replace('{"b1": 300}', '{"b1": 99999, "b1": 300}'))
        assert twice.status_code == 422 and twice.json()["errors"][0]["field"] == "soc_kwh.b1"
        deep = http.post("/parks/tiny/measurements", headers=json_headers, content="[" * 100_000 + "]" * 100_000)
        assert deep.status_code == 422 and "nested too deeply" in deep.json()["detail"]
        overflow = http.post("/parks/tiny/plans/intraday", json={"start": "9999-12-31T23:59:59-12:00"})
        assert overflow.status_code == 422 and overflow.json()["errors"][0]["field"] == "start"
        assert len(http.get("/parks/tiny/measurements").json()) == 1
        replan = http.post("/parks/tiny/plans/intraday", json={})
        assert replan.status_code == 201, replan.text
        assert replan.json()["start"] == "2026-07-15T10:00:00+08:00"


def test_what_schemathesis_found_is_answered_over_http(server_factory, tmp_path) -> None:
    """Each finding of the first schemathesis run: a 4xx problem naming the field, or the right Allow."""
    server = server_factory()
    json_headers = {**HEADERS, "content-type": "application/json"}
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
        assert http.post("/parks", json={"id": "tiny", "park": tiny_park(),
                                         "data_files": tiny_files(tmp_path)}).status_code == 201
        # 500 OverflowError before: ids, offsets and versions beyond SQL's 64-bit integers
        for path in ("/parks/tiny/forecasts/76014472129033581363619430", "/parks/tiny/studies/67858008463071042664",
                     "/parks/tiny/forecasts?offset=22950561103482839040", "/parks/tiny?version=99999999999999999999"):
            answer = http.get(path)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
        # 500 ReaderError before: a control character in park_yaml
        control = http.post("/parks", json={"id": "m2", "park_yaml": "+c\u0098\u00b3", "data_files": {}})
        assert control.status_code == 422 and control.json()["errors"][0]["field"] == "park_yaml"
        # 400 before: a body that is not UTF-8
        binary = http.post("/parks/tiny/forecasts", headers=json_headers, content=b"{\"kind\": \"\xc3\x28\"}")
        assert binary.status_code == 422 and "UTF-8" in binary.json()["detail"]
        # accepted before: 0 for false
        lax = http.post("/keys", json={"name": "x", "park_ids": ["tiny"], "admin": 0})
        assert lax.status_code == 422 and lax.json()["errors"][0]["field"] == "admin"
        # Allow named one route's methods only; OPTIONS was a 405
        options = http.options("/parks")
        assert options.status_code == 204 and options.headers["allow"] == "GET, HEAD, POST"
        wrong = http.delete("/parks")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD, POST"
        assert wrong.headers["content-type"] == "application/problem+json"
        intraday = http.get("/parks/tiny/plans/intraday")  # a literal segment, not a plan id
        assert intraday.status_code == 405 and intraday.headers["allow"] == "POST"
        assert http.options("/parks/tiny/measurements/1").headers["allow"] == "DELETE, GET, HEAD, PUT"
