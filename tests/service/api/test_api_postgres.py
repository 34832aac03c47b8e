"""The service on PostgreSQL (``MICROGRID_DATABASE_URL``): a real server, started for these tests.

A throwaway cluster of Debian's ``postgresql`` package (``initdb`` / ``pg_ctl``)
on a free loopback port, one database per test. Without PostgreSQL the tests
are skipped with how to install it; ``.ci/run`` installs it and sets
``MICROGRID_REQUIRE_POSTGRES`` so that there they run for sure.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from service.api.db import init_db, make_engine
from service.api.deps import get_planner, get_settings
from service.api.main import create_app
from service.api.settings import Settings
from tests.service.api.conftest import ADMIN, ADMIN_KEY, register

INSTALL_HINT = ("no PostgreSQL for these tests: install Debian's package with `apt-get install -y postgresql` "
                "(as root; .ci/run does it) and `pip install -e '.[dev]'` for psycopg")
_databases = itertools.count(1)


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or ([shutil.which("initdb")] if shutil.which(
        "initdb") else [])
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """``(base URL, admin connection URL)`` of a cluster that lives as long as this module's tests."""
    binaries = _binaries()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        binaries = None
    if binaries is None:
        if os.environ.get("MICROGRID_REQUIRE_POSTGRES"):
            pytest.fail(INSTALL_HINT + " (MICROGRID_REQUIRE_POSTGRES is set: .ci/run wants these tests to run)")
        pytest.skip(INSTALL_HINT)
    folder = Path(tempfile.mkdtemp(prefix="microgrid-pg-"))
    data = folder / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its own user owns the cluster
        owner = pwd.getpwnam("postgres")
        folder.chmod(0o755)
        data.mkdir()
        os.chown(data, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*run_as, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    subprocess.run([*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "server.log"),
                    "-o", f"-p {port} -h 127.0.0.1 -k {data} -c fsync=off", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def database_url(postgres) -> str:
    """A new, empty database of the cluster."""
    import psycopg

    name = f"microgrid_test_{next(_databases)}"
    with psycopg.connect(postgres.replace("postgresql+psycopg", "postgresql") + "/postgres",
                         autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return f"{postgres}/{name}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path / "var", admin_key=ADMIN_KEY, reference_cases=[])


def _app(settings: Settings, planner) -> TestClient:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_planner] = lambda: planner
    return TestClient(app)


def test_everything_acknowledged_is_there_after_a_restart(settings, planner, files) -> None:
    """Parks, measurements (with the flexible state), plans (with their decisions), events, forecasts, keys,
    alerts."""
    with _app(settings, planner) as client:
        assert client.get("/health").json()["database"] == "postgresql"
        register(client, "tiny", files)
        measured = client.post("/parks/tiny/measurements", headers=ADMIN, json={
            "measured_at": "2026-07-15T09:55:00+08:00", "soc_kwh": {"b1": 300},
            "month_to_date_peak_kw": 1200}).json()
        plan = client.post("/parks/tiny/plans", json={"date": "2026-07-15"}, headers=ADMIN).json()
        event = client.put("/parks/tiny/events/evening", headers=ADMIN, json={
            "kind": "reduce", "start": "2026-07-15T19:00:00+08:00", "end": "2026-07-15T20:00:00+08:00",
            "reduce_by_kw": 50, "incentive_cny_per_kwh": 2.0, "notified_at": "2026-07-15T08:00:00+08:00"})
        assert event.status_code == 201, event.text
        intraday = client.post("/parks/tiny/plans/intraday", json={}, headers=ADMIN).json()
        forecast = client.post("/parks/tiny/forecasts", headers=ADMIN, json={
            "issued_at": "2026-07-14T12:00:00+08:00",
            "pv_kw": [{"timestamp": f"2026-07-15T{h:02d}:00:00+08:00", "pv1_kw": 0.0} for h in range(24)]
                     + [{"timestamp": "2026-07-16T00:00:00+08:00", "pv1_kw": 0.0}]})
        assert forecast.status_code == 201, forecast.text
        key = client.post("/keys", json={"name": "operator", "park_ids": ["tiny"]}, headers=ADMIN).json()
        stale = next(a for a in client.get("/parks/tiny/alerts", headers=ADMIN).json()
                     if a["rule"] == "stale_measurements")
        client.post(f"/parks/tiny/alerts/{stale['id']}/acknowledge", headers=ADMIN)
        alerts = client.get("/parks/tiny/alerts", headers=ADMIN).json()
    with _app(settings, planner) as client:
        assert client.get("/parks/tiny/measurements/latest", headers=ADMIN).json() == measured
        assert client.get(f"/parks/tiny/plans/{plan['id']}", headers=ADMIN).json() == plan
        assert client.get("/parks/tiny/events/evening", headers=ADMIN).json() == event.json()
        assert client.get(f"/parks/tiny/forecasts/{forecast.json()['id']}", headers=ADMIN).json() == forecast.json()
        assert client.get("/parks/tiny/alerts", headers=ADMIN).json() == alerts
        assert client.get(f"/parks/tiny/alerts/{stale['id']}", headers=ADMIN).json()["status"] == "acknowledged"
        assert intraday["kpis"]["warm_start_plan_id"] == event.json()["plan"]["id"]   # decisions kept in JSON
        own = {"X-API-Key": key["token"]}
        assert client.get("/parks/tiny", headers=own).status_code == 200
        assert [p["id"] for p in client.get("/parks/tiny/plans", headers=own).json()][-1] == plan["id"]


def test_init_db_adds_the_later_columns_to_older_tables(database_url) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE plans (id INTEGER PRIMARY KEY, park_id VARCHAR(64))"))
        connection.execute(text("CREATE TABLE measurements (id INTEGER PRIMARY KEY, park_id VARCHAR(64))"))
        connection.execute(text("INSERT INTO plans (id, park_id) VALUES (1, 'a')"))
    init_db(engine)
    init_db(engine)  # a second start changes nothing
    plans = {c["name"] for c in inspect(engine).get_columns("plans")}
    measurements = {c["name"] for c in inspect(engine).get_columns("measurements")}
    assert {"measurement_id", "decisions", "forecast_id"} <= plans
    assert {"flexible_state", "grid_import_kw", "grid_export_kw", "wind_kw"} <= measurements
    with engine.connect() as connection:
        assert connection.execute(text("SELECT decisions FROM plans WHERE id = 1")).scalar() is None
    engine.dispose()
