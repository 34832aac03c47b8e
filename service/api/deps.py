"""Dependencies of the routes, as ``Annotated`` aliases (the FastAPI template's ``deps.py``).

Tests replace :func:`get_settings`, :func:`get_planner` or :func:`get_session`
with ``app.dependency_overrides``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.api.db import session_scope
from service.api.planner import Planner
from service.api.security import Principal, authenticate
from service.api.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="An API key (`microgrid service create-key`).")
bearer = HTTPBearer(auto_error=False, description="The API key as a bearer token (instead of X-API-Key).")


def get_session(request: Request) -> Iterator[Session]:
    """One database session per request."""
    yield from session_scope(request.app.state.session_factory)


SessionDep = Annotated[Session, Depends(get_session)]


def get_planner(request: Request) -> Planner:
    """The worker pool."""
    return request.app.state.planner


PlannerDep = Annotated[Planner, Depends(get_planner)]


def get_principal(
    session: SessionDep,
    settings: SettingsDep,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> Principal:
    """The caller, from ``X-API-Key`` or ``Authorization: Bearer``; 401 without a valid key."""
    token = api_key or (credentials.credentials if credentials is not None else None)
    return authenticate(session, token, settings.admin_key)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def park_access(park_id: str, principal: PrincipalDep) -> str:
    """The path's ``park_id`` if the caller's key may use it, else 403."""
    principal.require_park(park_id)
    return park_id


ParkIdDep = Annotated[str, Depends(park_access)]


def get_openadr(request: Request):
    """The parks' OpenADR VENs (:class:`service.api.openadr.VenManager`), started by the lifespan."""
    return request.app.state.openadr
