"""``/parks/{park_id}/openadr``: the park's OpenADR 2.0b VEN, its settings and what it is doing.

Off by default. An admin key sets it (``PUT``) and removes it (``DELETE``);
the park's key may read it. A change takes effect at once: the VEN is
stopped and, if enabled, started with the new settings (registering with the
VTN in the background); the service starts the enabled VENs at start-up.
How events are mapped and reported: :mod:`service.api.openadr`.
"""

from __future__ import annotations

from typing import Annotated

import anyio.from_thread
from fastapi import APIRouter, Body, Depends, Path, Response, status

from microgrid.messages import Message
from service.api import openadr, store
from service.api.db import OpenAdrVenRow, utc_now
from service.api.deps import ParkIdDep, PrincipalDep, SessionDep, SettingsDep, get_openadr
from service.api.parsing import StrictJsonRoute
from service.api.problems import InvalidInput, NotFound
from service.api.schemas import PARK_ID_PATTERN, OpenAdrConfigIn, OpenAdrEventOut, OpenAdrOut, OpenAdrStatus

router = APIRouter(prefix="/parks/{park_id}/openadr", tags=["openadr"], route_class=StrictJsonRoute)

ManagerDep = Annotated[openadr.VenManager, Depends(get_openadr)]
ParkIdPath = Annotated[str, Path(pattern=PARK_ID_PATTERN, description="The park's id.")]

CONFIG_EXAMPLES = {
    "production VTN": {"summary": "A VTN over TLS, signed messages, 3 CNY/kWh programme",
                       "value": {"enabled": True, "vtn_url": "https://vtn.example.com/OpenADR2/Simple/2.0b",
                                 "ven_name": "zhengzhou_park", "cert_path": "/etc/microgrid/ven.crt",
                                 "key_path": "/etc/microgrid/ven.key", "ca_file": "/etc/microgrid/vtn-ca.pem",
                                 "vtn_fingerprint": "C6:D7:0E:45:1C:E7:9D:8D:4A:E2", "report_interval_s": 60,
                                 "incentive_cny_per_kwh": 3.0}},
    "local simulator": {"summary": "A VTN on this machine over plain http (tests only)",
                        "value": {"enabled": True, "vtn_url": "http://127.0.0.1:8080/OpenADR2/Simple/2.0b",
                                  "ven_name": "zhengzhou_park", "report_interval_s": 10}},
}


def _missing(park_id: str) -> NotFound:
    return NotFound(Message("park {park_id!r} has no OpenADR VEN; configure one with PUT /parks/{park_id}/openadr",
                            park_id=park_id))


def openadr_out(session, manager: openadr.VenManager, row: OpenAdrVenRow) -> OpenAdrOut:
    ven = manager.status(row.park_id)
    events = [OpenAdrEventOut(oadr_event_id=e.oadr_event_id, modification_number=e.modification_number,
                              status=e.status, event_ids=e.event_ids, opt=e.opt, reason=e.reason,
                              received_at=e.received_at, updated_at=e.updated_at)
              for e in openadr.recent_events(session, row.park_id)]
    return OpenAdrOut(park_id=row.park_id, config=OpenAdrConfigIn.model_validate(row.settings),
                      created_at=row.created_at, updated_at=row.updated_at,
                      status=OpenAdrStatus(**vars(ven)), events=events)


@router.put("", response_model=OpenAdrOut, summary="Configure the park's OpenADR 2.0b VEN (admin)",
            responses={200: {"description": "Changed; the VEN restarted with it (stopped if disabled)"},
                       201: {"description": "Configured; the VEN started if enabled"},
                       422: {"description": "Invalid settings (the field named)"}})
def put_openadr(
    park_id: ParkIdPath, body: Annotated[OpenAdrConfigIn, Body(openapi_examples=CONFIG_EXAMPLES)],
    response: Response, session: SessionDep, settings: SettingsDep, principal: PrincipalDep, manager: ManagerDep,
) -> OpenAdrOut:
    """Store the VEN's settings and apply them: the VEN (re)starts if ``enabled``, else stops.

    The same settings again change nothing (the VEN is not restarted).

    Changing the VTN (``vtn_url``) or the ``ven_name``, or disabling the VEN,
    cancels its registration at the VTN it had. Plain ``http`` is accepted only
    for a VTN on this machine; a server may limit the VTN hosts
    (``MICROGRID_OPENADR_VTN_HOSTS``).
    """
    principal.require_admin("configuring a park's OpenADR VEN")
    store.get_park(session, park_id)
    errors = body.errors(settings.openadr_vtn_hosts)
    if errors:
        raise InvalidInput("; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors=errors)
    now = utc_now()
    row = session.get(OpenAdrVenRow, park_id)
    deregister = False
    if row is None:
        row = OpenAdrVenRow(park_id=park_id, created_at=now, registered_ven_id=None)
        session.add(row)
        response.status_code = status.HTTP_201_CREATED
    else:
        before = OpenAdrConfigIn.model_validate(row.settings)
        if before == body:                          # the same settings again: the VEN goes on as it is
            response.headers["Location"] = f"/parks/{park_id}/openadr"
            return openadr_out(session, manager, row)
        moved = (before.vtn_url, before.ven_name, before.ven_id) != (body.vtn_url, body.ven_name, body.ven_id)
        if moved:
            row.registered_ven_id = None
        deregister = moved or not body.enabled
    row.enabled, row.settings, row.updated_at = body.enabled, body.model_dump(mode="json"), now
    session.commit()
    anyio.from_thread.run(manager.reload, park_id, deregister)
    response.headers["Location"] = f"/parks/{park_id}/openadr"
    return openadr_out(session, manager, row)


@router.get("", response_model=OpenAdrOut, summary="The park's OpenADR VEN: settings, state, last events",
            responses={404: {"description": "No VEN configured"}})
def read_openadr(park_id: ParkIdDep, session: SessionDep, manager: ManagerDep) -> OpenAdrOut:
    """Whether the VEN is registered (``ven_id``, ``registration_id``), its last poll, its last report and the
    OpenADR events it answered last, with their opt and the reason."""
    store.get_park(session, park_id)
    row = session.get(OpenAdrVenRow, park_id)
    if row is None:
        raise _missing(park_id)
    return openadr_out(session, manager, row)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, summary="Remove the park's OpenADR VEN (admin)",
               responses={404: {"description": "No VEN configured"}})
def delete_openadr(park_id: ParkIdPath, session: SessionDep, principal: PrincipalDep, manager: ManagerDep) -> Response:
    """Stop the VEN, cancel its registration at the VTN and forget its settings.

    The demand-response events it created stay (cancel them under
    ``/parks/{id}/events`` if they no longer hold).
    """
    principal.require_admin("removing a park's OpenADR VEN")
    store.get_park(session, park_id)
    row = session.get(OpenAdrVenRow, park_id)
    if row is None:
        raise _missing(park_id)
    session.delete(row)
    session.commit()
    anyio.from_thread.run(manager.reload, park_id, True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
