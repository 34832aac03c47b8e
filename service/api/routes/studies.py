"""``/parks/{park_id}/studies``: case studies and sweeps as background jobs (see :mod:`service.api.studies`).

``POST`` validates the request against the park's current version and data
(in the plan pool, like a park registration), stores the job and answers 202
with its ``Location``; the job then runs in the study pool. ``GET`` follows
its state and progress, ``.../report`` and ``.../files/{name}`` fetch its
outputs once done, ``DELETE`` cancels it.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse
from sqlalchemy import select, update

from microgrid.case import park_from_dict
from microgrid.errors import InvalidRequestError
from microgrid.messages import Message
from service.api import store, study_jobs
from service.api.db import StudyRow, utc_now
from service.api.deps import ParkIdDep, PlannerDep, PrincipalDep, SessionDep, SettingsDep
from service.api.openapi import WORKER_POOL
from service.api.parsing import StrictJsonRoute
from service.api.problems import Conflict, InvalidInput, NotFound, message_of, split_message
from service.api.studies import (ACTIVE_STATES, StudyCreate, StudyOut, StudyRunner, output_files, steps_total,
                                 study_folder, study_out, write_case)
from service.api.validation import RowId

router = APIRouter(prefix="/parks/{park_id}/studies", tags=["studies"], route_class=StrictJsonRoute)

MEDIA_TYPES = {".csv": "text/csv", ".json": "application/json", ".parquet": "application/vnd.apache.parquet"}

STUDY_EXAMPLES = {
    "study": {"summary": "A week of July, every strategy",
              "value": {"kind": "study", "start": "2026-07-01", "end": "2026-07-07"}},
    "cheap strategies": {"summary": "Two days, no-control against rule-based, re-planned every 15 min",
                         "value": {"kind": "study", "start": "2026-07-15", "end": "2026-07-16",
                                   "strategies": ["no-control", "rule-based"], "replan_h": 0.25}},
    "sweep": {"summary": "Battery sizes and the PCS power, mpc against no-control",
              "value": {"kind": "sweep", "start": "2026-07-15", "end": "2026-07-21",
                        "strategies": ["no-control", "mpc"],
                        "axes": [{"parameter": "batteries.b1.capacity_kwh", "values": [0, 2000, 4000]},
                                 {"parameter": "batteries.b1.max_charge_kw", "values": [500, 1000]}]}},
}


def get_study_runner(request: Request) -> StudyRunner:
    """The study pool and its monitor (started with the application)."""
    return request.app.state.study_runner


StudyRunnerDep = Annotated[StudyRunner, Depends(get_study_runner)]


def _invalid(errors: list[dict[str, str]]) -> InvalidInput:
    return InvalidInput("; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors=errors)


def check_request(body: StudyCreate, settings) -> list[dict[str, str]]:
    """The problems of a request that need no data: its shape, the server's limits, the study settings."""
    errors: list[dict[str, str]] = []
    if body.kind == "sweep" and not body.axes:
        errors.append({"field": "axes", "reason": Message("a sweep needs at least one axis {{parameter, values}}")})
    if body.kind == "study" and body.axes:
        errors.append({"field": "axes", "reason": Message("only a sweep has axes; send kind 'sweep' or drop them")})
    if len(set(body.strategies)) != len(body.strategies):
        errors.append({"field": "strategies", "reason": Message("each strategy may be given once")})
    days = (body.end - body.start).days + 1
    if days > settings.max_study_days:
        errors.append({"field": "end", "reason": Message("the period has {days} days; at most {max_study_days} "
                                                         "on this server (MICROGRID_MAX_STUDY_DAYS)",
                                                         days=days, max_study_days=settings.max_study_days)})
    if body.horizon_h > settings.max_horizon_h:
        errors.append({"field": "horizon_h",
                       "reason": Message("at most {max_horizon_h:g} h on this server, got {horizon_h:g}",
                                         max_horizon_h=settings.max_horizon_h, horizon_h=body.horizon_h)})
    if body.kind == "sweep" and body.axes:
        parameters = [axis.parameter for axis in body.axes]
        for k, axis in enumerate(body.axes):
            if parameters.count(axis.parameter) > 1 and parameters.index(axis.parameter) == k:
                errors.append({"field": f"axes.{k}.parameter",
                               "reason": Message("{parameter} is given twice; list all its values in one axis",
                                                 parameter=axis.parameter)})
            texts = [repr(v) for v in axis.values]
            if len(set(texts)) != len(texts):
                errors.append({"field": f"axes.{k}.values", "reason": Message("a value of {parameter} is repeated",
                                                                              parameter=axis.parameter)})
        scenarios = math.prod(len(axis.values) for axis in body.axes)
        if scenarios > settings.max_study_scenarios:
            errors.append({"field": "axes", "reason": Message("{scenarios} scenarios; at most "
                                                              "{max_study_scenarios} on this server "
                                                              "(MICROGRID_MAX_STUDY_SCENARIOS)",
                                                              scenarios=scenarios,
                                                              max_study_scenarios=settings.max_study_scenarios)})
    if not errors:
        try:
            study_jobs.study_settings(body.model_dump(mode="json"))
        except InvalidRequestError as exc:
            errors = split_message(message_of(exc))
    return errors


def _case_files(park, source: Path) -> list[str]:
    """The data files a job copies: those the park needs, and the others of its data section that exist."""
    names = store.required_files(park)
    for name in (park.data.weather, park.data.loads, park.data.heat):
        if name not in names and (source / name).is_file():
            names.append(name)
    return names


def _get(session, park_id: str, study_id: int) -> StudyRow:
    store.get_park(session, park_id)
    row = session.get(StudyRow, study_id)
    if row is None or row.park_id != park_id:
        raise NotFound(Message("park {park_id!r} has no study {study_id}; list its studies with GET "
                               "/parks/{park_id}/studies",
                               park_id=park_id, study_id=study_id))
    return row


def _done(row: StudyRow, what: str) -> None:
    if row.state != "done":
        detail = f"study {row.id} is {row.state}"
        if row.state in ACTIVE_STATES:
            detail += f" ({row.progress_frac:.0%}); its {what} is there once it is done"
        elif row.state == "failed":
            detail += f": {row.error}"
        raise Conflict(detail, errors=[{"field": "state", "reason": row.state}])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=StudyOut,
             summary="Start a case study or a sweep as a background job",
             responses={202: {"description": "Accepted: queued; follow it at Location"},
                        422: {"description": "Invalid request (the field named)"},
                        **WORKER_POOL})
def start_study(
    park_id: ParkIdDep, body: Annotated[StudyCreate, Body(openapi_examples=STUDY_EXAMPLES)], response: Response,
    session: SessionDep, settings: SettingsDep, planner: PlannerDep, runner: StudyRunnerDep, principal: PrincipalDep,
) -> StudyOut:
    """Check the request against the park's current version and its data, store the job, and queue it.

    A study operates the park day by day over ``start`` … ``end`` (local days,
    both included) with rolling re-planning, for every strategy; a sweep does
    so for every combination of its axes' values (dotted paths into the park
    document, as the CLI's ``--set``). The job is kept once this answers 202:
    a server restart resumes it from its last finished day.
    """
    errors = check_request(body, settings)
    if errors:
        raise _invalid(errors)
    request = body.model_dump(mode="json")
    version = store.get_version(session, park_id)
    source = store.version_folder(settings, session, version)
    park = park_from_dict(version.document)
    studies_dir = settings.data_dir / "studies"
    studies_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=studies_dir))
    try:
        write_case(staging / study_jobs.CASE_DIR, version.document, source, _case_files(park, source))
        session.commit()  # no database connection is held while the worker checks
        problems = planner.run(study_jobs.validate_study_job, str(staging / study_jobs.CASE_DIR), request,
                               timeout_s=settings.plan_time_limit_s)
        if problems:
            raise _invalid(problems)
        row = StudyRow(park_id=park_id, park_version=version.version, kind=body.kind, state="queued",
                       progress_frac=0.0, steps_done=0, steps_total=steps_total(body),
                       message="waiting for a study worker", request=request, created_at=utc_now(),
                       created_by_key_id=principal.key_id)
        session.add(row)
        session.flush()
        target = study_folder(settings, row.id)
        if target.exists():  # left by a job whose row was never committed (the server died in between)
            shutil.rmtree(target)
        os.rename(staging, target)
        session.commit()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    runner.submit(row.id, row.kind, row.request)
    response.headers["Location"] = f"/parks/{park_id}/studies/{row.id}"
    return study_out(settings, row)


@router.get("", response_model=list[StudyOut], summary="List a park's studies, newest first")
def list_studies(park_id: ParkIdDep, session: SessionDep, settings: SettingsDep,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[StudyOut]:
    store.get_park(session, park_id)
    query = select(StudyRow).where(StudyRow.park_id == park_id).order_by(StudyRow.id.desc()).limit(limit)
    return [study_out(settings, row) for row in session.scalars(query)]


@router.get("/{study_id}", response_model=StudyOut, summary="A study's state, progress and, when done, KPIs")
def read_study(park_id: ParkIdDep, study_id: RowId, session: SessionDep, settings: SettingsDep) -> StudyOut:
    return study_out(settings, _get(session, park_id, study_id))


@router.get("/{study_id}/report", response_class=FileResponse, summary="The HTML report of a finished study",
            responses={200: {"content": {"text/html": {}}, "description": "The self-contained report"},
                       409: {"description": "Not done (yet)"}})
def study_report(park_id: ParkIdDep, study_id: RowId, session: SessionDep, settings: SettingsDep) -> FileResponse:
    row = _get(session, park_id, study_id)
    _done(row, "report")
    path = study_folder(settings, study_id) / study_jobs.OUT_DIR / "report.html"
    if not path.is_file():
        raise NotFound(Message("study {study_id}: its report is missing from the server's data folder",
                               study_id=study_id))
    return FileResponse(path, media_type="text/html; charset=utf-8")


@router.get("/{study_id}/files/{name:path}", response_class=FileResponse,
            summary="An output table of a finished study (CSV, JSON or Parquet)",
            responses={200: {"content": {"text/csv": {}, "application/json": {}, "application/vnd.apache.parquet": {}},
                             "description": "The file"},
                       404: {"description": "No such output"}, 409: {"description": "Not done (yet)"}})
def study_file(park_id: ParkIdDep, study_id: RowId, name: str, session: SessionDep,
               settings: SettingsDep) -> FileResponse:
    """One of the study's ``files`` (e.g. ``kpis_monthly.csv``, ``mpc/schedule.parquet``, ``sweep.csv``)."""
    row = _get(session, park_id, study_id)
    _done(row, "output")
    available = output_files(settings, study_id)
    if name not in available:
        raise NotFound(Message("study {study_id} has no output {name!r}; it has {available}",
                               study_id=study_id, name=name, available=', '.join(available)),
                       errors=[{"field": "name", "reason": Message("no such output")}])
    path = study_folder(settings, study_id) / study_jobs.OUT_DIR / name
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], filename=path.name)


@router.delete("/{study_id}", response_model=StudyOut, summary="Cancel a queued or running study",
               responses={409: {"description": "Already done or failed"}})
def cancel_study(park_id: ParkIdDep, study_id: RowId, session: SessionDep, settings: SettingsDep,
                 runner: StudyRunnerDep) -> StudyOut:
    """A queued job never starts; a running one stops after its current re-plan window. Idempotent."""
    row = _get(session, park_id, study_id)
    if row.state in ACTIVE_STATES:
        session.execute(update(StudyRow).where(StudyRow.id == study_id, StudyRow.state.in_(ACTIVE_STATES))
                        .values(state="cancelled", finished_at=utc_now(), message="cancelled"))
        session.commit()
        runner.cancel(study_id)
        session.refresh(row)
    if row.state in ("done", "failed"):
        raise Conflict(Message("study {study_id} is already {state}; there is nothing to cancel",
                               study_id=study_id, state=row.state),
                       errors=[{"field": "state", "reason": row.state}])
    return study_out(settings, row)
