"""``/parks/{park_id}/studies``: case studies and sweeps as background jobs (on a thread here; the process
pool and a SIGKILL are covered by test_api_server).

A job can be held at a known point: :func:`hold` makes the worker wait, after the progress file of its
first finished strategy-day, until the test releases it.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.api import study_jobs
from service.api.db import StudyRow, make_engine, session_factory
from service.api.deps import get_planner, get_settings
from service.api.main import create_app
from dispatch.studies.report import KPI_ROWS, format_value
from tests.service.api.conftest import ADMIN, assert_problem, register, tiny_park

TWO_DAYS = {"start": "2026-07-15", "end": "2026-07-16", "strategies": ["no-control", "rule-based"],
            "baseline": "no-control"}
SWEEP = {"kind": "sweep", "start": "2026-07-15", "end": "2026-07-15", "strategies": ["no-control", "rule-based"],
         "baseline": "no-control",
         "axes": [{"parameter": "batteries.b1.capacity_kwh", "values": [0, 800]}]}
DAY_KWH = 12 * 900.0 + 12 * 400.0
"""The tiny park's consumption of a day: 900 kW from 08:00 to 20:00, 400 kW otherwise."""
WAIT_S = 60.0


def wait_for(check, what: str, timeout_s: float = WAIT_S):
    """Poll ``check()`` until it returns something truthy (a guard against hanging, not a timed assertion)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def get(client: TestClient, url: str) -> dict:
    response = client.get(url, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def until_state(client: TestClient, url: str, *states: str, seen: list | None = None) -> dict:
    def check():
        body = get(client, url)
        if seen is not None:
            seen.append(body)
        return body if body["state"] in states else None

    return wait_for(check, f"{url} to be {'/'.join(states)}")


def start(client: TestClient, body: dict, park_id: str = "a") -> dict:
    response = client.post(f"/parks/{park_id}/studies", json=body, headers=ADMIN)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/parks/{park_id}/studies/{response.json()['id']}"
    return response.json()


@pytest.fixture
def park(client, files) -> str:
    register(client, "a", files)
    return "a"


@pytest.fixture
def hold(monkeypatch):
    """A gate: the worker stops after writing the progress of its first finished strategy-day until ``set()``."""
    gate = threading.Event()
    held = threading.Event()
    original = study_jobs.Reporter.after_write

    def after_write(self) -> None:
        original(self)
        if self.done >= 1 and not held.is_set():
            held.set()
            gate.wait(WAIT_S)

    monkeypatch.setattr(study_jobs.Reporter, "after_write", after_write)
    yield gate
    gate.set()


def test_a_study_goes_queued_running_done_with_kpis_report_and_files(client, park, hold, settings) -> None:
    accepted = start(client, TWO_DAYS)
    assert accepted["state"] == "queued" and accepted["progress_frac"] == 0 and accepted["steps_total"] == 4
    assert accepted["request"]["replan_h"] == 1.0 and accepted["park_version"] == 1
    url = f"/parks/a/studies/{accepted['id']}"
    running = until_state(client, url, "running")
    running = wait_for(lambda: (b := get(client, url))["steps_done"] == 1 and b, "the first day")
    assert running["progress_frac"] == 0.25 and running["message"] == "no-control 2026-07-15"
    assert running["started_at"] is not None and running["kpis"] is None and running["report_url"] is None
    assert_problem(client.get(url + "/report", headers=ADMIN), 409, "state", "running (25%)")
    assert_problem(client.get(url + "/files/kpis.json", headers=ADMIN), 409, "state")
    hold.set()
    seen: list[dict] = []
    done = until_state(client, url, "done", "failed", seen=seen)
    assert done["state"] == "done", done
    fractions = [b["progress_frac"] for b in seen]
    assert fractions == sorted(fractions) and done["progress_frac"] == 1.0 and done["steps_done"] == 4
    assert done["finished_at"] >= done["started_at"] >= done["created_at"] and done["error"] is None
    kpis = {row["strategy"]: row for row in done["kpis"]}
    assert list(kpis) == ["no-control", "rule-based"]
    for row in kpis.values():
        assert row["consumption_kwh"] == pytest.approx(2 * DAY_KWH, rel=1e-9)
        assert row["windows"] == 48 and row["fallback_windows"] == 0 and row["days"] == 2.0
    assert kpis["no-control"]["savings_cny"] == 0.0
    assert kpis["rule-based"]["savings_cny"] == pytest.approx(
        kpis["no-control"]["total_cost_cny"] - kpis["rule-based"]["total_cost_cny"], abs=1e-6)
    assert kpis["rule-based"]["savings_cny"] > 0  # the battery shifts import from peak to valley hours

    assert done["report_url"] == url + "/report"
    report = client.get(done["report_url"], headers=ADMIN)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<h2>KPIs of the period</h2>" in report.text and "<th>rule-based</th>" in report.text
    fmt = next(f for key, _, f in KPI_ROWS if key == "total_cost_cny")
    for row in kpis.values():
        assert f'<td class="num">{format_value(row["total_cost_cny"], fmt)}</td>' in report.text

    assert {"kpis.json", "kpis_monthly.csv", "rule-based/schedule.parquet"} <= set(done["files"])
    # the investment KPIs, their cash flow and the schedules of the park without the new assets
    assert {"cash_flows.csv", "no-new-assets/rule-based/schedule.parquet"} <= set(done["files"])
    assert all(row["investment_baseline"].startswith("park without ") and row["npv_cny"] is not None
               for row in kpis.values())
    monthly = client.get(url + "/files/kpis_monthly.csv", headers=ADMIN)
    assert monthly.status_code == 200 and monthly.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(monthly.text)).set_index("strategy")
    for strategy, row in kpis.items():
        assert table.loc[strategy, "month"] == "2026-07"
        assert table.loc[strategy, "total_cost_cny"] == pytest.approx(row["total_cost_cny"], rel=1e-5)
    schedule = client.get(url + "/files/rule-based/schedule.parquet", headers=ADMIN)
    assert schedule.headers["content-type"] == "application/vnd.apache.parquet"
    rows = pd.read_parquet(io.BytesIO(schedule.content))
    assert len(rows) == 2 * 96 and str(rows.index[0]) == "2026-07-15 00:00:00+08:00"
    assert_problem(client.get(url + "/files/rule-based/days/2026-07-15.parquet", headers=ADMIN), 404, "name",
                   "kpis_monthly.csv")
    assert_problem(client.get(url + "/files/%2E%2E/%2E%2E/microgrid.db", headers=ADMIN), 404)
    assert (settings.data_dir / "studies" / str(done["id"]) / "case" / "park.yaml").is_file()


def test_a_tiny_sweep_runs_every_scenario(client, park) -> None:
    accepted = start(client, SWEEP)
    assert accepted["kind"] == "sweep" and accepted["steps_total"] == 2 * 2
    url = f"/parks/a/studies/{accepted['id']}"
    done = until_state(client, url, "done", "failed")
    assert done["state"] == "done", done
    assert done["steps_done"] == 4 and done["progress_frac"] == 1.0
    rows = {(row["batteries.b1.capacity_kwh"], row["strategy"]): row for row in done["kpis"]}
    assert sorted(rows) == [(0, "no-control"), (0, "rule-based"), (800, "no-control"), (800, "rule-based")]
    assert all(row["error"] == "" and row["consumption_kwh"] == pytest.approx(DAY_KWH) for row in rows.values())
    # without a battery the rule-based action is no control; the battery is idle without control
    assert rows[0, "rule-based"]["total_cost_cny"] == pytest.approx(rows[0, "no-control"]["total_cost_cny"])
    assert rows[800, "no-control"]["total_cost_cny"] == pytest.approx(rows[0, "no-control"]["total_cost_cny"])
    assert rows[800, "rule-based"]["savings_cny"] > 0
    report = client.get(done["report_url"], headers=ADMIN)
    assert report.status_code == 200 and "Sweep of" in report.text and "batteries.b1.capacity_kwh" in report.text
    assert "sweep.csv" in done["files"]
    table = pd.read_csv(io.StringIO(client.get(url + "/files/sweep.csv", headers=ADMIN).text))
    assert len(table) == 4 and set(table["scenario"]) == {1, 2}


def test_studies_are_listed_newest_first_and_belong_to_their_park(client, park, files) -> None:
    register(client, "b", files)
    first = start(client, {**TWO_DAYS, "strategies": ["no-control"], "replan_h": 24})
    second = start(client, {**TWO_DAYS, "strategies": ["no-control"], "replan_h": 24, "end": "2026-07-15"})
    other = start(client, {**TWO_DAYS, "strategies": ["no-control"], "replan_h": 24}, park_id="b")
    assert [s["id"] for s in get(client, "/parks/a/studies")] == [second["id"], first["id"]]
    assert [s["id"] for s in get(client, "/parks/b/studies")] == [other["id"]]
    assert [s["id"] for s in get(client, "/parks/a/studies?limit=1")] == [second["id"]]
    assert_problem(client.get(f"/parks/a/studies/{other['id']}", headers=ADMIN), 404, None, "no study")
    assert_problem(client.get("/parks/a/studies/999/report", headers=ADMIN), 404)
    assert_problem(client.delete("/parks/a/studies/999", headers=ADMIN), 404)
    assert_problem(client.get("/parks/ghost/studies", headers=ADMIN), 404, None, "no park 'ghost'")
    assert_problem(client.post("/parks/ghost/studies", json=TWO_DAYS, headers=ADMIN), 404)
    for study in (first, second, other):
        until_state(client, f"/parks/{study['park_id']}/studies/{study['id']}", "done")


def test_a_study_runs_on_the_park_version_it_was_accepted_with(client, park, hold) -> None:
    accepted = start(client, {**TWO_DAYS, "strategies": ["rule-based"], "end": "2026-07-15"})
    bigger = tiny_park()
    bigger["batteries"]["b1"]["capacity_kwh"] = 800
    assert client.put("/parks/a", json={"park": bigger}, headers=ADMIN).status_code == 200
    hold.set()
    done = until_state(client, f"/parks/a/studies/{accepted['id']}", "done")
    assert done["park_version"] == 1
    later = until_state(client, f"/parks/a/studies/{start(client, accepted['request'])['id']}", "done")
    assert later["park_version"] == 2
    assert later["kpis"][0]["total_cost_cny"] < done["kpis"][0]["total_cost_cny"]  # the bigger battery


@pytest.mark.parametrize(("change", "field", "fragment"), [
    ({"strategies": ["optimal"]}, "strategies.0", "no-control"),
    ({"strategies": ["mpc", "mpc"]}, "strategies", "once"),
    ({"strategies": []}, "strategies", ""),
    ({"end": "2026-07-14"}, "end", "before start"),
    ({"start": "2026-07-14", "end": "2026-07-15"}, "start", "outside the case's data"),
    ({"end": "2026-07-17"}, "end", "outside the case's data"),
    ({"start": "2026-07-15", "end": "2027-07-20"}, "end", "MICROGRID_MAX_STUDY_DAYS"),
    ({"replan_h": 5}, "replan_h", "does not divide a day"),
    ({"replan_h": 0}, "replan_h", ""),
    ({"horizon_h": 100}, "horizon_h", "at most 48 h"),
    ({"integer_horizon_h": 0.5}, "integer_horizon_h", "at least the re-plan interval"),
    ({"axes": [{"parameter": "batteries.b1.capacity_kwh", "values": [0]}]}, "axes", "only a sweep"),
    ({"kind": "sweep"}, "axes", "at least one axis"),
    ({"kind": "sweep", "axes": [{"parameter": "batteries.b1.capcity_kwh", "values": [0, 1]}]}, "axes",
     "did you mean 'capacity_kwh'"),
    ({"kind": "sweep", "axes": [{"parameter": "batteries.b9.capacity_kwh", "values": [0]}]}, "axes", "b9"),
    ({"kind": "sweep", "axes": [{"parameter": "batteries.b1.capacity_kwh", "values": [-5]}]}, "axes",
     "capacity_kwh"),
    ({"kind": "sweep", "axes": [{"parameter": "batteries.b1.capacity_kwh", "values": [0, 0]}]}, "axes.0.values",
     "repeated"),
    ({"kind": "sweep", "axes": [{"parameter": "grid.max_import_kw", "values": [1]},
                                {"parameter": "grid.max_import_kw", "values": [2]}]}, "axes.0.parameter", "twice"),
    ({"kind": "sweep", "axes": [{"parameter": "grid.max_import_kw", "values": list(range(1000, 1009))},
                                {"parameter": "grid.max_export_kw", "values": list(range(8))}]}, "axes",
     "72 scenarios; at most 64"),
    ({"kind": "sweep", "axes": [{"parameter": "batteries..capacity_kwh", "values": [0]}]}, "axes.0.parameter", ""),
    ({"seed": -1}, "seed", ""),
    ({"report": True}, "report", ""),
    ({"start": "15.07.2026"}, "start", ""),
])
def test_a_bad_request_is_422_naming_the_field_and_stores_nothing(client, park, settings, change, field,
                                                                  fragment) -> None:
    body = {**TWO_DAYS, **change}
    assert_problem(client.post("/parks/a/studies", json=body, headers=ADMIN), 422, field, fragment)
    assert get(client, "/parks/a/studies") == []
    studies = settings.data_dir / "studies"
    assert not studies.exists() or list(studies.iterdir()) == []


def test_a_failed_study_says_why(client, park, monkeypatch) -> None:
    from microgrid.errors import InfeasibleError
    from dispatch.studies import study

    def infeasible(*args, **kwargs):
        raise InfeasibleError("mpc 2026-07-15: the battery cannot meet the load (for this test)")

    monkeypatch.setattr(study, "run_study", infeasible)
    accepted = start(client, TWO_DAYS)
    url = f"/parks/a/studies/{accepted['id']}"
    failed = until_state(client, url, "failed", "done")
    assert failed["state"] == "failed" and "cannot meet the load" in failed["error"]
    assert failed["finished_at"] is not None and failed["kpis"] is None and failed["report_url"] is None
    assert_problem(client.get(url + "/report", headers=ADMIN), 409, "state", "cannot meet the load")
    assert_problem(client.delete(url, headers=ADMIN), 409, "state", "already failed")


def test_a_running_study_is_cancelled_and_a_queued_one_never_starts(client, park, hold, settings) -> None:
    running = start(client, TWO_DAYS)
    queued = start(client, TWO_DAYS)
    url = f"/parks/a/studies/{running['id']}"
    wait_for(lambda: get(client, url)["steps_done"] == 1, "the first day")
    response = client.delete(f"/parks/a/studies/{queued['id']}", headers=ADMIN)
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    response = client.delete(url, headers=ADMIN)
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["state"] == "cancelled" and cancelled["finished_at"] is not None
    hold.set()
    runner = client.app.state.study_runner
    wait_for(lambda: runner.in_progress == 0, "the worker to stop")
    after = get(client, url)
    assert after["state"] == "cancelled" and after["progress_frac"] == 0.25 and after["kpis"] is None
    folder = settings.data_dir / "studies" / str(running["id"]) / "out"
    assert not (folder / "kpis.json").exists()  # stopped before the end
    assert sorted(p.name for p in (folder / "no-control" / "days").glob("*.state.json")) == ["2026-07-15.state.json"]
    assert not (settings.data_dir / "studies" / str(queued["id"]) / study_jobs.PROGRESS_FILE).exists()
    assert get(client, f"/parks/a/studies/{queued['id']}")["started_at"] is None
    again = client.delete(url, headers=ADMIN)
    assert again.status_code == 200 and again.json() == after  # idempotent
    assert_problem(client.get(url + "/report", headers=ADMIN), 409, "state", "cancelled")


def test_a_study_stopped_by_a_shutdown_resumes_at_the_next_start(settings, planner, files, hold) -> None:
    def app():
        application = create_app()
        application.dependency_overrides[get_settings] = lambda: settings
        application.dependency_overrides[get_planner] = lambda: planner
        application.state.study_executor_factory = study_pool
        return application

    from concurrent.futures import ThreadPoolExecutor

    def study_pool():
        return ThreadPoolExecutor(max_workers=1)

    with TestClient(app()) as client:
        register(client, "a", files)
        accepted = start(client, TWO_DAYS)
        url = f"/parks/a/studies/{accepted['id']}"
        first_start = wait_for(lambda: (b := get(client, url))["steps_done"] == 1 and b, "the first day")["started_at"]
        stop_flag = settings.data_dir / "studies" / str(accepted["id"]) / study_jobs.STOP_FLAG
        # the shutdown raises the stop flag, then waits for the worker: let the held worker go on then
        threading.Thread(target=lambda: (wait_for(stop_flag.exists, "the stop flag"), hold.set()), daemon=True).start()
    engine = make_engine(settings.database_url)
    with session_factory(engine)() as session:
        row = session.scalars(select(StudyRow)).one()
        assert row.state == "queued" and "server shutdown" in row.message and row.steps_done == 1
    engine.dispose()
    with TestClient(app()) as client:
        seen: list[dict] = []
        done = until_state(client, url, "done", "failed", seen=seen)
        assert done["state"] == "done" and "1 day(s) resumed" in done["message"], done
        assert min(b["progress_frac"] for b in seen) >= 0.25  # the day done before the shutdown stays counted
        assert done["started_at"] == first_start  # when it first started
        assert not Path(stop_flag).exists()
        assert [row["consumption_kwh"] for row in done["kpis"]] == pytest.approx([2 * DAY_KWH] * 2)


class FakePool:
    """An executor whose futures the test completes by hand."""

    def __init__(self) -> None:
        self.futures: list = []
        self.shut_down = False

    def submit(self, fn, *args):
        from concurrent.futures import Future

        future = Future()
        self.futures.append((args, future))
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self.shut_down = True
        for _, future in self.futures:
            future.cancel()


def test_a_dead_worker_fails_its_job_and_the_jobs_behind_it_run_in_a_new_pool(tmp_path) -> None:
    from concurrent.futures.process import BrokenProcessPool

    from service.api.db import ParkRow, init_db
    from service.api.settings import Settings
    from service.api.studies import StudyRunner

    settings = Settings(data_dir=tmp_path / "var", reference_cases=[])
    engine = make_engine(settings.database_url)
    init_db(engine)
    factory = session_factory(engine)
    with factory() as session:
        session.add(ParkRow(id="a", name="a", current_version=1))
        for state in ("running", "queued", "done"):
            session.add(StudyRow(park_id="a", park_version=1, kind="study", state=state, steps_total=4,
                                 request=TWO_DAYS, message=""))
        session.commit()
    pools: list[FakePool] = []
    runner = StudyRunner(settings, factory, lambda: pools.append(FakePool()) or pools[-1], poll_s=0.01)
    runner.start()  # the running and the queued job are submitted again, the finished one not
    assert [args[0] for args, _ in pools[0].futures] == [str(settings.data_dir / "studies" / str(k)) for k in (1, 2)]

    def rows() -> dict[int, StudyRow]:
        with factory() as session:
            return {row.id: row for row in session.scalars(select(StudyRow))}

    assert [rows()[k].state for k in (1, 2, 3)] == ["queued", "queued", "done"]
    with factory() as session:  # study 1 had started in the worker that dies
        session.get(StudyRow, 1).state = "running"
        session.commit()
    for _, future in pools[0].futures:
        future.set_exception(BrokenProcessPool("a worker died"))
    wait_for(lambda: len(pools) == 2 and len(pools[1].futures) == 1, "study 2 in a new pool")
    assert pools[0].shut_down
    first = wait_for(lambda: (row := rows()[1]).state == "failed" and row, "study 1 to fail")
    assert "worker process running this job died" in first.error and first.finished_at is not None
    assert rows()[2].state == "queued"
    args, future = pools[1].futures[0]
    assert args[0].endswith("/studies/2")
    future.set_result({"outcome": "done", "kpis": [{"strategy": "no-control"}], "message": "finished"})
    second = wait_for(lambda: (row := rows()[2]).state == "done" and row, "study 2 to finish")
    assert second.progress_frac == 1.0 and second.steps_done == 4 and second.kpis == [{"strategy": "no-control"}]
    runner.shutdown()
    engine.dispose()
