"""``/parks``: register, read, list and update parks; every update is a new version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status
from sqlalchemy import select

from microgrid.messages import Message
from service.api import store
from service.api.db import DataFileRow, ParkRow, ParkVersionRow
from service.api.deps import ParkIdDep, PlannerDep, PrincipalDep, SessionDep, SettingsDep
from service.api.jobs import validate_case_job
from service.api.openapi import WORKER_POOL
from service.api.parsing import StrictJsonRoute
from service.api.schemas import (DataFileOut, ParkCreate, ParkDataOut, ParkOut, ParkSummary, ParkUpdate,
                                 ParkVersionSummary)
from service.api.validation import MAX_ROW_ID

router = APIRouter(prefix="/parks", tags=["parks"], route_class=StrictJsonRoute)

TINY_PARK_YAML = """\
site: {name: demo park, latitude_deg: 34.75, longitude_deg: 113.63}
grid: {max_import_kw: 2000, max_export_kw: 500}
tariff: {preset: henan_2024}
pv_arrays:
  pv1: {bus: pcc, dc_capacity_kw: 600, ac_capacity_kw: 500}
batteries:
  b1: {bus: pcc, capacity_kwh: 400, max_charge_kw: 200, max_discharge_kw: 200}
loads:
  l1: {bus: pcc, profile: l1_kw}
"""

CREATE_EXAMPLES = {
    "reference case": {
        "summary": "A bundled case folder of the server",
        "value": {"id": "zhengzhou_copy", "case_folder": "zhengzhou_park"},
    },
    "inline data": {
        "summary": "The case format as YAML with its CSV files inline (shortened here: send whole files)",
        "value": {
            "id": "demo_park",
            "park_yaml": TINY_PARK_YAML,
            "data_files": {
                "weather.csv": "timestamp,ghi,dni,dhi,temp_air,wind_speed\n"
                               "2026-07-15T00:00:00+08:00,0,0,0,27,2\n...",
                "loads.csv": "timestamp,l1_kw\n2026-07-15T00:00:00+08:00,400\n...",
            },
        },
    },
    "document from a case folder": {
        "summary": "A changed document, reading the time series of a bundled case",
        "value": {"id": "zhengzhou_bigger_battery", "case_folder": "zhengzhou_park",
                  "park": {"site": {"name": "Zhengzhou park, 8 MWh", "latitude_deg": 34.75, "longitude_deg": 113.63},
                           "grid": {"max_import_kw": 9000}, "tariff": {"preset": "henan_2024"},
                           "loads": {"ws1": {"bus": "pcc", "profile": "ws1_machining_kw"}},
                           "batteries": {"b1": {"bus": "pcc", "capacity_kwh": 8000, "max_charge_kw": 4000,
                                                "max_discharge_kw": 4000}}}},
    },
}


def park_out(session, park: ParkRow, version: ParkVersionRow) -> ParkOut:
    files = []
    for name, sha in sorted(version.data_files.items()):
        row = session.get(DataFileRow, sha)
        files.append(DataFileOut(name=name, sha256=sha, size_bytes=row.size_bytes if row else 0))
    return ParkOut(id=park.id, name=park.name, version=version.version, created_at=park.created_at,
                   updated_at=park.updated_at, version_created_at=version.created_at, comment=version.comment,
                   document=version.document, data=ParkDataOut(case_folder=version.case_folder, files=files))


def _check_with_worker(settings, session, planner, prepared) -> None:
    """Read the data files and build the network in a worker: the case loader's checks, off the event loop."""
    folder = store.folder_for_check(settings, session, prepared)
    planner.run(validate_case_job, prepared.document, str(folder), timeout_s=settings.plan_time_limit_s)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ParkOut,
             summary="Register a park (admin key)",
             responses={403: {"description": "Not an admin key"}, 409: {"description": "The id is taken"},
                        422: {"description": "Invalid park or data"}, **WORKER_POOL})
def register_park(
    body: Annotated[ParkCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    response: Response, session: SessionDep, settings: SettingsDep, planner: PlannerDep, principal: PrincipalDep,
) -> ParkOut:
    """Register a park from the case format (``park`` as JSON or ``park_yaml``) and its data.

    The park is validated with the case loader (fields, data files, network)
    before anything is stored; its first version is 1.
    """
    principal.require_admin("registering a park")
    store.check_id_free(session, body.id)
    prepared = store.prepare_version(settings, session, store.parse_document(body.park, body.park_yaml),
                                     body.case_folder, body.data_files)
    _check_with_worker(settings, session, planner, prepared)
    park = store.new_park(session, body.id, prepared)
    version = store.add_version(session, park, prepared, body.comment, principal.key_id)
    response.headers["Location"] = f"/parks/{park.id}"
    return park_out(session, park, version)


@router.get("", response_model=list[ParkSummary], summary="List the parks this key may use")
def list_parks(session: SessionDep, principal: PrincipalDep) -> list[ParkSummary]:
    query = select(ParkRow).order_by(ParkRow.id)
    if not principal.is_admin:
        query = query.where(ParkRow.id.in_(sorted(principal.park_ids)))
    return [ParkSummary(id=p.id, name=p.name, version=p.current_version, created_at=p.created_at,
                        updated_at=p.updated_at) for p in session.scalars(query)]


@router.get("/{park_id}", response_model=ParkOut, summary="Read a park (its current or an older version)")
def read_park(park_id: ParkIdDep, session: SessionDep,
              version: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="A version number; default: the current.")] = None,
              ) -> ParkOut:
    park = store.get_park(session, park_id)
    return park_out(session, park, store.get_version(session, park_id, version))


@router.get("/{park_id}/versions", response_model=list[ParkVersionSummary], summary="A park's versions")
def list_versions(park_id: ParkIdDep, session: SessionDep) -> list[ParkVersionSummary]:
    park = store.get_park(session, park_id)
    return [ParkVersionSummary(version=v.version, created_at=v.created_at, comment=v.comment) for v in park.versions]


UPDATE_EXAMPLES = {
    "bigger battery": {
        "summary": "A changed document based on version 1; the data files (or case folder) are kept",
        "value": {"expected_version": 1, "comment": "b1 extended to 8 MWh",
                  "park": CREATE_EXAMPLES["document from a case folder"]["value"]["park"]},
    },
    "new load data": {
        "summary": "The document again with a new loads file (shortened here: send the whole file)",
        "value": {"park_yaml": TINY_PARK_YAML, "comment": "metered loads of 2026",
                  "data_files": {"loads.csv": "timestamp,l1_kw\n2026-07-15T00:00:00+08:00,400\n..."}},
    },
}


@router.put("/{park_id}", response_model=ParkOut, summary="Update a park: a new version",
            responses={409: {"description": "expected_version is not the current version"}, **WORKER_POOL})
def update_park(
    park_id: ParkIdDep, body: Annotated[ParkUpdate, Body(openapi_examples=UPDATE_EXAMPLES)], session: SessionDep,
    settings: SettingsDep, planner: PlannerDep, principal: PrincipalDep,
) -> ParkOut:
    """Replace the park's document; its data files (or case folder) carry over unless given.

    With ``expected_version``, the update is refused with 409 if someone else
    updated the park since that version was read.
    """
    park = store.get_park(session, park_id)
    if body.expected_version is not None and body.expected_version != park.current_version:
        raise store.Conflict(
            Message("expected_version: the park is at version {current_version}, not {expected_version}; read it "
                    "again and reapply the change",
                    current_version=park.current_version, expected_version=body.expected_version),
            errors=[{"field": "expected_version", "reason": Message("current version is {current_version}",
                                                                    current_version=park.current_version)}])
    previous = store.get_version(session, park_id)
    prepared = store.prepare_version(settings, session, store.parse_document(body.park, body.park_yaml),
                                     body.case_folder, body.data_files, previous=previous)
    _check_with_worker(settings, session, planner, prepared)
    version = store.add_version(session, park, prepared, body.comment, principal.key_id)
    return park_out(session, park, version)
