"""Case studies and sweeps as background jobs: their own process pool, progress into the database, resumption.

A job is accepted (202) once its row is committed in state ``queued`` and its
folder ``data_dir/studies/<id>/`` holds the park version's case (see
:mod:`service.api.study_jobs`). The :class:`StudyRunner` submits it to the
study pool (``MICROGRID_STUDY_WORKERS`` spawned processes, apart from the
plan workers, so that plans stay fast), and a monitor thread copies the
worker's progress file into the row (``running``, ``progress_frac``,
``message``) and the outcome when the job ends (``done`` with the KPI table,
``failed`` with the reason). Rows are only ever changed while ``queued`` or
``running``: a cancelled job stays cancelled whatever its worker answers last.

One server process per ``data_dir`` (``microgrid service serve`` runs one).
Durability: at start-up every job found ``queued`` or ``running`` (the server
was killed, or stopped) is submitted again; :func:`dispatch.studies.study.run_study`
and the sweep resume from the days they checkpointed. On a clean shutdown the
running jobs are asked to stop after their current window and stay queued.

A sweep runs its scenarios one after another inside its study worker, not on
a Dask cluster: with the two cores of the reference server, one core is the
study worker's and one is left to the API and the plan worker; a local
cluster would start a process per core beside them. More study workers run
more jobs side by side.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import shutil
import threading
import uuid
from concurrent.futures import BrokenExecutor, CancelledError, Executor, Future
from pathlib import Path
from typing import Any, Callable, Literal

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from service.api import study_jobs
from service.api.db import StudyRow, utc_now
from service.api.settings import Settings
from service.api.validation import Day, RequestModel
from service.api.worker_pool import process_pool
from dispatch.studies.study import MIN_REPLAN_H

logger = logging.getLogger(__name__)

ACTIVE_STATES = ("queued", "running")
MESSAGE_CHARS = 500
RollingStrategy = Literal["no-control", "rule-based", "tou-arbitrage", "mpc", "perfect-foresight"]
ALL_STRATEGIES: list[str] = ["no-control", "rule-based", "tou-arbitrage", "mpc", "perfect-foresight"]


# --- request and response bodies ----------------------------------------------------------------

class SweepAxisIn(RequestModel):
    """One axis of a sweep: a dotted path into the park document and the values it takes (the CLI's ``--set``)."""

    parameter: str = Field(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$", max_length=200,
                           description="Dotted path into the park document, e.g. batteries.b1.capacity_kwh.")
    values: list[Any] = Field(min_length=1, max_length=100, description="Its values (JSON: 0, 2000, true, ...).")


class StudyCreate(RequestModel):
    """Start a case study (every strategy operated day by day over the period) or a sweep of it."""

    kind: Literal["study", "sweep"] = "study"
    start: Day = Field(description="First local day of the period.")
    end: Day = Field(description="Last local day of the period (included).")
    strategies: list[RollingStrategy] = Field(default_factory=lambda: list(ALL_STRATEGIES), min_length=1,
                                              description="Rolling strategies, in the order of the outputs.")
    horizon_h: float = Field(24.0, gt=0, description="Length of every plan [h].")
    replan_h: float = Field(1.0, ge=MIN_REPLAN_H, description="Interval between re-plans [h], at least 0.25 h "
                                                             "and a whole number of the data's steps; divides a day.")
    seed: int = Field(0, ge=0, description="Seed of the mpc forecast errors.")
    reuse_models: bool = Field(True, description="Reuse the models of earlier days (same plans, faster).")
    integer_horizon_h: float | None = Field(
        None, ge=MIN_REPLAN_H,
        description="Hours of every plan with integer decisions (at least replan_h); default 3 h.")
    axes: list[SweepAxisIn] | None = Field(None, description="A sweep's axes: the grid of their values is run.")
    baseline: RollingStrategy = Field(
        "tou-arbitrage", description="Strategy the savings are stated against (the kpis' baseline field); added to "
                                     "the strategies (last) when they do not name it.")


class StudyOut(BaseModel):
    id: int
    park_id: str
    park_version: int
    kind: Literal["study", "sweep"]
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    progress_frac: float = Field(description="Share of the strategy-days computed, 0 to 1.")
    steps_done: int = Field(description="Strategy-days finished (over all scenarios of a sweep).")
    steps_total: int
    message: str = Field(description="What the job is doing, or how it ended.")
    request: dict[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error: str | None = Field(description="Why the job failed.")
    kpis: list[dict[str, Any]] | None = Field(
        description="When done: the summary table, one record per strategy (per scenario and strategy for a "
                    "sweep), units in the names.")
    report_url: str | None = Field(description="When done: the HTML report.")
    files: list[str] = Field(description="When done: the output tables, under .../files/{name}.")


def study_folder(settings: Settings, study_id: int) -> Path:
    return settings.data_dir / "studies" / str(study_id)


OUTPUT_PATTERNS = ("*.csv", "*.json", "*/schedule.parquet", "*/windows.parquet",
                   "no-new-assets/*/schedule.parquet")  # a study's investment baseline (dispatch.studies.investment)


def output_files(settings: Settings, study_id: int) -> list[str]:
    """The outputs a finished job offers for download (KPI tables, schedules), relative to its ``out/``."""
    out = study_folder(settings, study_id) / study_jobs.OUT_DIR
    names = {p.relative_to(out).as_posix() for pattern in OUTPUT_PATTERNS for p in out.glob(pattern) if p.is_file()}
    return sorted(names)


def study_out(settings: Settings, row: StudyRow) -> StudyOut:
    done = row.state == "done"
    return StudyOut(id=row.id, park_id=row.park_id, park_version=row.park_version, kind=row.kind, state=row.state,
                    progress_frac=row.progress_frac, steps_done=row.steps_done, steps_total=row.steps_total,
                    message=row.message, request=row.request, created_at=row.created_at, started_at=row.started_at,
                    finished_at=row.finished_at, error=row.error, kpis=row.kpis if done else None,
                    report_url=f"/parks/{row.park_id}/studies/{row.id}/report" if done else None,
                    files=output_files(settings, row.id) if done else [])


def steps_total(body: StudyCreate) -> int:
    """Strategy-days of a request: days × strategies (× scenarios of a sweep)."""
    days = (body.end - body.start).days + 1
    scenarios = math.prod(len(axis.values) for axis in body.axes) if body.kind == "sweep" and body.axes else 1
    strategies = set(body.strategies) | {body.baseline}
    return max(days, 0) * len(strategies) * scenarios


def write_case(folder: Path, document: dict, source: Path, files: list[str]) -> None:
    """A case folder for a job: ``park.yaml`` from the version's document and copies of its data files.

    Copies, so that the job (and its resumption) reads the data it was
    accepted with, whatever happens to the server's case folders.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "park.yaml").write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True),
                                      encoding="utf-8")
    for name in files:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target)


# --- the runner ---------------------------------------------------------------------------------

def _process_pool(workers: int) -> Callable[[], Executor]:
    def start() -> Executor:
        return process_pool(workers, initializer=study_jobs.ignore_interrupts)  # workers end with the server

    return start


class StudyRunner:
    """Runs accepted jobs in the study pool and keeps their rows up to date.

    Parameters
    ----------
    settings : Settings
    session_factory : sessionmaker
    executor_factory : callable, optional
        Makes the pool (started at the first job); default: ``settings.study_workers``
        spawned processes. Tests pass a thread pool.
    poll_s : float
        How often the monitor reads the progress files [s].
    """

    def __init__(self, settings: Settings, session_factory, executor_factory: Callable[[], Executor] | None = None,
                 poll_s: float = 0.25) -> None:
        self.settings = settings
        self.factory = session_factory
        self._make_executor = executor_factory or _process_pool(settings.study_workers)
        self._executor: Executor | None = None
        self._jobs: dict[int, tuple[Future, str, Executor]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.poll_s = poll_s
        self._thread = threading.Thread(target=self._monitor, name="study-monitor", daemon=True)

    # -- life cycle

    def start(self) -> None:
        """Submit again every job left queued or running by the previous process; start the monitor."""
        with self.factory() as session:
            rows = list(session.scalars(select(StudyRow).where(StudyRow.state.in_(ACTIVE_STATES))
                                        .order_by(StudyRow.id)))
            for row in rows:
                (study_folder(self.settings, row.id) / study_jobs.STOP_FLAG).unlink(missing_ok=True)
                if row.state == "running":
                    row.state = "queued"
                    row.message = "resumes from its checkpoints after a restart; waiting for a worker"
            session.commit()
            resumed = [(row.id, row.kind, row.request) for row in rows]
        for study_id, kind, request in resumed:
            logger.info("resuming study %d", study_id)
            self.submit(study_id, kind, request)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop the running jobs after their current window (they stay queued and resume at the next start)."""
        self._stopping.set()
        with self._lock:
            for study_id in self._jobs:
                try:
                    (study_folder(self.settings, study_id) / study_jobs.STOP_FLAG).touch()
                except OSError:  # its folder is gone: the job fails on its own
                    logger.warning("study %d: cannot write its stop flag", study_id)
            executor = self._executor
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        self._poll()

    # -- jobs

    def submit(self, study_id: int, kind: str, request: dict) -> None:
        """Queue a committed job in the pool."""
        token = uuid.uuid4().hex
        with self._lock:
            if self._executor is None:
                self._executor = self._make_executor()
            executor = self._executor
            future = executor.submit(study_jobs.run_study_job, str(study_folder(self.settings, study_id)),
                                     kind, request, token)
            self._jobs[study_id] = (future, token, executor)
        future.add_done_callback(lambda _: self._wake.set())

    def cancel(self, study_id: int) -> None:
        """Ask the job to stop: a queued one never starts, a running one stops after its current window."""
        folder = study_folder(self.settings, study_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / study_jobs.CANCEL_FLAG).touch()
        with self._lock:
            job = self._jobs.get(study_id)
        if job is not None and job[0].cancel():
            with self._lock:
                self._jobs.pop(study_id, None)

    @property
    def in_progress(self) -> int:
        with self._lock:
            return len(self._jobs)

    # -- the monitor

    def _monitor(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                self._poll()
            except Exception:  # noqa: BLE001 - the monitor must outlive a failed update
                logger.exception("updating the studies' progress failed")

    def _update(self, study_id: int, **values: Any) -> None:
        """Change a row that is still queued or running (never a cancelled or finished one)."""
        if isinstance(values.get("message"), str):
            values["message"] = values["message"][:MESSAGE_CHARS]
        with self.factory() as session:
            session.execute(update(StudyRow).where(StudyRow.id == study_id, StudyRow.state.in_(ACTIVE_STATES))
                            .values(**values))
            session.commit()

    def _poll(self) -> None:
        with self._lock:
            jobs = list(self._jobs.items())
        for study_id, (future, token, executor) in jobs:
            progress = study_jobs.read_progress(study_folder(self.settings, study_id))
            if progress is not None and progress.get("token") == token:
                self._record_progress(study_id, progress)
            if future.done():
                with self._lock:  # the monitor and a shutdown may both poll: one of them finishes the job
                    if self._jobs.get(study_id, (None,))[0] is not future:
                        continue
                    del self._jobs[study_id]
                self._finish(study_id, future, executor)

    def _record_progress(self, study_id: int, progress: dict) -> None:
        total = max(int(progress["total"]), 1)
        started = dt.datetime.fromisoformat(progress["started_at"])
        with self.factory() as session:
            row = session.get(StudyRow, study_id)
            if row is None or row.state not in ACTIVE_STATES:
                return
            first_start = row.started_at or started
            # a resumed job starts its file from 0 and reads its checkpoints back: the row keeps what was done
            frac = max(row.progress_frac, min(1.0, float(progress["done"]) / total))
            steps = max(row.steps_done, int(progress["steps_done"]))
        self._update(study_id, state="running", started_at=first_start, progress_frac=frac, steps_done=steps,
                     message=progress["message"])

    def _finish(self, study_id: int, future: Future, executor: Executor) -> None:
        try:
            answer = future.result()
        except CancelledError:
            return  # cancelled while queued (the row says so), or dropped by a shutdown (stays queued)
        except BrokenExecutor:
            self._replace_broken_pool(executor)
            with self.factory() as session:
                row = session.get(StudyRow, study_id)
                never_started = row is not None and row.state == "queued"
                kind, request = (row.kind, row.request) if row is not None else ("", {})
            if never_started and not self._stopping.is_set():
                self.submit(study_id, kind, request)  # it waited behind the job that killed the worker
                return
            self._update(study_id, state="failed", finished_at=utc_now(), message="failed",
                         error="the worker process running this job died (out of memory or killed); "
                               "start the job again, with a shorter period or fewer scenarios if it was memory")
            return
        except Exception as exc:  # noqa: BLE001 - reported in the row, logged with its traceback
            logger.error("study %d failed unexpectedly", study_id, exc_info=exc)
            self._update(study_id, state="failed", finished_at=utc_now(), message="failed",
                         error=f"internal error ({type(exc).__name__}); the error is logged on the server, "
                               "please report it")
            return
        outcome = answer["outcome"]
        if outcome == "done":
            with self.factory() as session:
                row = session.get(StudyRow, study_id)
                total = row.steps_total if row is not None else 0
            self._update(study_id, state="done", finished_at=utc_now(), progress_frac=1.0, steps_done=total,
                         message=answer["message"], kpis=answer["kpis"])
        elif outcome == "failed":
            self._update(study_id, state="failed", finished_at=utc_now(), message="failed", error=answer["error"])
        elif outcome == "cancelled":
            self._update(study_id, state="cancelled", finished_at=utc_now(), message="cancelled")
        else:  # interrupted by a shutdown
            self._update(study_id, state="queued",
                         message="stopped by a server shutdown; resumes from its checkpoints at the next start")

    def _replace_broken_pool(self, broken: Executor) -> None:
        """Drop the pool a job died in (once, however many of its jobs report it); the next job starts a new one."""
        with self._lock:
            if self._executor is not broken:
                return
            self._executor = None
        logger.error("a study worker process died; a new pool starts with the next job")
        broken.shutdown(wait=False, cancel_futures=True)
