"""Case studies and sweeps as jobs of the service's study pool (:mod:`service.api.studies`).

Module-level functions of plain arguments and plain results, like
:mod:`service.api.jobs`, so that they run in spawned worker processes. A job's
folder ``data_dir/studies/<id>/`` holds::

    case/            park.yaml (the park version's document) and copies of its data files
    out/             what run_study / the sweep writes: checkpoints, KPI tables, report.html
    progress.json    written by the worker after every re-plan window (atomically)
    cancel, stop     flags the server sets: cancel the job, or stop it for a shutdown
                     (it resumes at the next start-up)

The worker looks at the flags after every re-plan window, so a job stops
within one window of the request; the days it finished stay checkpointed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
from pathlib import Path
from typing import Any

CASE_DIR = "case"
OUT_DIR = "out"
PROGRESS_FILE = "progress.json"
CANCEL_FLAG = "cancel"
STOP_FLAG = "stop"
PROGRESS_EVERY_S = 0.5
"""Least time between two progress files of a job (the last window of a day is always written)."""


class StudyStopped(Exception):
    """The job was asked to stop: ``reason`` is ``cancelled`` or ``interrupted`` (the server shuts down).

    Not a :class:`microgrid.errors.MicrogridError`, which a sweep's scenario
    would catch and report as its own failure.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def ignore_interrupts() -> None:
    """Start of a study worker: Ctrl-C (SIGINT, sent to the terminal's whole process group) is the server's.

    The server then stops its jobs through the stop flag, after their current
    window, and they resume at the next start; an interrupt in the worker
    would end the job in the middle of a solve.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def study_settings(request: dict):
    """The :class:`dispatch.studies.study.StudySettings` of an accepted request (see ``StudyCreate``)."""
    from dispatch.studies.study import StudySettings

    return StudySettings(start=dt.date.fromisoformat(str(request["start"])),
                         end=dt.date.fromisoformat(str(request["end"])),
                         strategies=tuple(request["strategies"]), horizon_h=float(request["horizon_h"]),
                         replan_h=float(request["replan_h"]), seed=int(request["seed"]),
                         reuse_models=bool(request["reuse_models"]),
                         integer_horizon_h=request.get("integer_horizon_h"),
                         baseline=str(request.get("baseline", "tou-arbitrage")))


def sweep_axes(request: dict) -> list:
    """The :class:`dispatch.studies.sweep.SweepAxis` list of a sweep request (``axes``: parameter and JSON values)."""
    from dispatch.studies.sweep import SweepAxis

    return [SweepAxis(path=axis["parameter"], values=tuple(axis["values"]),
                      texts=tuple(json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
                                  for v in axis["values"]))
            for axis in request.get("axes") or []]


def validate_study_job(case_dir: str, request: dict) -> list[dict[str, str]]:
    """Check a request against the park's data before it is accepted; the problems as ``field``/``reason``.

    The period must lie inside the park's data; a sweep's every value and
    every scenario must make a valid park (:func:`dispatch.studies.sweep.validate_sweep`).
    An empty list: the request can run.
    """
    from microgrid.case import load_case
    from microgrid.errors import MicrogridError
    from microgrid.messages import Message, Reason
    from dispatch.studies.study import check_period
    from dispatch.studies.sweep import validate_sweep

    settings = study_settings(request)
    case = load_case(case_dir)
    try:
        check_period(case, settings)
    except MicrogridError as exc:
        import pandas as pd

        tz = case.park.site.timezone
        first = case.load_profiles.index[0]
        message = exc.args[0] if exc.args else str(exc)
        reason = (Reason(message, "start, end") if isinstance(message, Message)  # translatable in the dashboard
                  else str(exc).removeprefix("start, end: "))
        outside = "start" if pd.Timestamp(settings.start).tz_localize(tz) < first else "end"
        return [{"field": outside, "reason": reason}]
    if request["kind"] == "sweep":
        try:
            validate_sweep(case_dir, sweep_axes(request), settings)
        except MicrogridError as exc:
            return [{"field": "axes", "reason": str(exc).replace("--set ", "")}]
    return []


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)


def read_progress(folder: Path) -> dict | None:
    """The last progress file of a job, or None if there is none (yet)."""
    try:
        return json.loads((folder / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class Reporter:
    """The progress callback of a job: writes ``progress.json`` and stops the job when a flag is set.

    Parameters
    ----------
    folder : Path
        The job's folder.
    token : str
        The submission this run belongs to; the server ignores the progress
        files of earlier runs (before a restart).
    total : int
        Strategy-days to compute (times the scenarios of a sweep).
    per_scenario : int
        Strategy-days of one scenario (a sweep's), to name the scenario running.
    scenarios : list of str
        Descriptions of a sweep's scenarios, in order (empty for a study).
    """

    def __init__(self, folder: Path, token: str, total: int, per_scenario: int, scenarios: list[str]) -> None:
        self.folder = folder
        self.token = token
        self.total = total
        self.per_scenario = per_scenario
        self.scenarios = scenarios
        self.started_at = dt.datetime.now(dt.timezone.utc).isoformat()
        self.resumed = 0
        self._written_s = 0.0
        self.done = 0.0

    def check_flags(self) -> None:
        """Raise :class:`StudyStopped` if the server asked the job to stop."""
        if (self.folder / CANCEL_FLAG).exists():
            raise StudyStopped("cancelled")
        if (self.folder / STOP_FLAG).exists():
            raise StudyStopped("interrupted")

    def write(self, message: str, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._written_s < PROGRESS_EVERY_S:
            return
        self._written_s = now
        done = min(self.done, float(self.total))
        _write_json_atomic(self.folder / PROGRESS_FILE, {
            "token": self.token, "started_at": self.started_at, "done": done, "total": self.total,
            "steps_done": int(math.floor(done + 1e-9)), "message": message})
        self.after_write()

    def after_write(self) -> None:
        """Called after every progress file (a hook for tests that hold a job at a known point)."""

    def __call__(self, event) -> None:
        self.done = float(event.done)
        if event.resumed:
            self.resumed += 1
            message = f"resumed {self.resumed} finished day(s) from the checkpoints"
        else:
            message = f"{event.strategy} {event.day.isoformat()}"
            if event.day_finished and event.fallback_windows:
                message += f": {event.fallback_windows} window(s) fell back to rule-based ({event.reason})"
        if self.scenarios:
            number = min(len(self.scenarios), int(math.ceil(self.done / self.per_scenario - 1e-9))
                         if event.day_finished else int(self.done // self.per_scenario) + 1)
            number = max(number, 1)
            message = f"scenario {number} of {len(self.scenarios)} ({self.scenarios[number - 1]}): {message}"
        if self.done >= self.total:
            message = "writing the KPI tables and the report"
        self.write(message, force=event.day_finished)
        self.check_flags()


def records(table) -> list[dict[str, Any]]:
    """Rows of a KPI table as JSON-ready dicts (NaN as None)."""
    from service.api.jobs import plain

    return [plain(row) for row in table.to_dict(orient="records")]


def run_study_job(folder: str, kind: str, request: dict, token: str) -> dict[str, Any]:
    """Run (or resume) a study or a sweep in ``folder`` (see the module docstring).

    Returns
    -------
    dict
        ``outcome``: ``done`` (with ``kpis``, the summary table's records,
        and ``message``), ``failed`` (``error``: the reason), ``cancelled``
        or ``interrupted`` (the server shut down: the job resumes).
    """
    from microgrid.case import load_case
    from microgrid.errors import MicrogridError
    from dispatch.studies.study import run_study
    from dispatch.studies.sweep import quiet_rolling, run_sweep_in_process, scenario_grid

    path = Path(folder)
    started = time.perf_counter()
    try:
        settings = study_settings(request)
        per_scenario = len(settings.days) * len(settings.strategies)
        scenarios = [s.describe() for s in scenario_grid(sweep_axes(request))] if kind == "sweep" else []
        reporter = Reporter(path, token, per_scenario * max(1, len(scenarios)), per_scenario, scenarios)
        reporter.check_flags()
        reporter.write("loading the park and its data")
        with quiet_rolling():
            if kind == "study":
                result = run_study(load_case(path / CASE_DIR), settings, path / OUT_DIR, progress=reporter)
                return {"outcome": "done", "kpis": records(result.kpis),
                        "message": f"finished in {time.perf_counter() - started:.1f} s"
                                   + (f", {result.resumed_days} day(s) resumed" if result.resumed_days else "")}
            result = run_sweep_in_process(path / CASE_DIR, sweep_axes(request), settings, path / OUT_DIR,
                                          progress=reporter)
    except StudyStopped as exc:
        return {"outcome": exc.reason}
    except MicrogridError as exc:
        return {"outcome": "failed", "error": str(exc)}
    failed = result.failed
    if len(failed) and failed["scenario"].nunique() == len(result.scenarios):
        return {"outcome": "failed", "error": f"every scenario failed; the first: {failed['error'].iloc[0]}"}
    message = f"finished in {time.perf_counter() - started:.1f} s"
    if len(failed):
        message += (f"; {failed['scenario'].nunique()} of {len(result.scenarios)} scenario(s) failed, the first: "
                    f"{failed['error'].iloc[0]}")
    return {"outcome": "done", "kpis": records(result.table), "message": message}
