"""The worker pool on its own: real processes, the in-progress limit, a dead worker replaced."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from service.api.deps import get_settings
from service.api.jobs import plain, warm_up_job
from service.api.planner import Planner
from service.api.problems import WorkerFailed


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _pid() -> int:
    return os.getpid()


def test_jobs_run_in_another_process_and_a_dead_worker_is_replaced() -> None:
    planner = Planner.process_pool(workers=1, max_in_progress=2, warm_up=False)
    try:
        first = planner.run(_pid, timeout_s=60)
        assert first != os.getpid()
        with pytest.raises(WorkerFailed, match="retry"):
            planner.run(_die, timeout_s=60)
        assert planner.in_progress == 0
        second = planner.run(_pid, timeout_s=60)
        assert second not in (first, os.getpid())
        assert planner.run(warm_up_job, timeout_s=120) is True
    finally:
        planner.shutdown()


def test_plain_makes_json_values() -> None:
    import numpy as np
    import pandas as pd

    value = {"a": np.float64(1.5), "b": [np.int64(2), float("nan")], "c": pd.Timestamp("2026-07-15", tz="UTC"),
             3: float("inf")}
    assert plain(value) == {"a": 1.5, "b": [2, None], "c": "2026-07-15T00:00:00+00:00", "3": None}


def test_a_worker_reuses_an_opened_case_until_its_files_change(tmp_path) -> None:
    import os

    from service.api.jobs import open_case
    from tests.service.helpers import TINY_PARK, write_tiny_case

    folder = write_tiny_case(tmp_path / "case", TINY_PARK)
    first = open_case(TINY_PARK, str(folder))
    assert open_case(TINY_PARK, str(folder)) is first
    other = {**TINY_PARK, "grid": {"max_import_kw": 3000, "max_export_kw": 500}}
    assert open_case(other, str(folder)) is not first
    loads = folder / "loads.csv"
    stat = loads.stat()
    os.utime(loads, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert open_case(TINY_PARK, str(folder)) is not first


def test_workers_open_the_parks_planned_last_first_then_the_newest_registered(client, files) -> None:
    from service.api.main import recent_cases
    from tests.service.api.conftest import ADMIN, register, tiny_park

    for park_id in ("first", "second", "third"):
        register(client, park_id, files, park=tiny_park(site={**tiny_park()["site"], "name": park_id}))
    assert client.post("/parks/first/plans", json={"date": "2026-07-15", "strategy": "no-control"},
                       headers=ADMIN).status_code == 201
    app = client.app
    settings = app.dependency_overrides[get_settings]()
    names = [document["site"]["name"] for document, _ in recent_cases(settings, app.state.session_factory, most=2)]
    assert names == ["first", "third"]
    cases = recent_cases(settings, app.state.session_factory)
    assert [document["site"]["name"] for document, _ in cases] == ["first", "third", "second"]
    assert all(Path(folder, "loads.csv").is_file() for _, folder in cases)


def test_the_warm_up_opens_cases_and_skips_one_that_does_not_open(tmp_path, caplog) -> None:
    from forecasting.pv import cached_case_pv_profiles
    from service.api import jobs
    from service.api.store import read_case_document

    reference = Path(__file__).resolve().parents[3] / "cases" / "zhengzhou_park"
    document = read_case_document(reference)
    jobs._case_cache.clear()
    assert jobs.warm_up_job([(document, str(tmp_path)), (document, str(reference))])
    assert "does not open" in caplog.text
    (case,) = jobs._case_cache.values()
    assert cached_case_pv_profiles(case) is not None   # the year's PV is computed once, at the warm-up
