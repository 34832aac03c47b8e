"""``/keys``: API keys, issued by an admin key (or ``microgrid service create-key``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, status
from sqlalchemy import select

from service.api.db import ApiKeyRow
from service.api.deps import PrincipalDep, SessionDep
from service.api.parsing import StrictJsonRoute
from service.api.schemas import KeyCreate, KeyCreated, KeyOut
from service.api.security import create_key

router = APIRouter(prefix="/keys", tags=["keys"], route_class=StrictJsonRoute)


def key_out(row: ApiKeyRow) -> dict:
    return dict(id=row.id, name=row.name, prefix=row.prefix, admin=row.is_admin, park_ids=row.park_ids,
                created_at=row.created_at)


KEY_EXAMPLES = {
    "operator": {"summary": "A key for the operators of one park",
                 "value": {"name": "zhengzhou control room", "park_ids": ["zhengzhou_park"]}},
    "aggregator": {"summary": "A key for an aggregator that sends events to two parks",
                   "value": {"name": "aggregator", "park_ids": ["zhengzhou_park", "zhengzhou_park_constrained"]}},
    "admin": {"summary": "Another admin key", "value": {"name": "second admin", "admin": True}},
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated, summary="Issue an API key (admin key)",
             responses={403: {"description": "Not an admin key"}})
def issue_key(body: Annotated[KeyCreate, Body(openapi_examples=KEY_EXAMPLES)], session: SessionDep,
              principal: PrincipalDep) -> KeyCreated:
    """A new key for some parks (or an admin key); the token is in this answer only."""
    principal.require_admin("issuing keys")
    row, token = create_key(session, body.name, body.park_ids, admin=body.admin)
    return KeyCreated(**key_out(row), token=token)


@router.get("", response_model=list[KeyOut], summary="List the API keys (admin key)",
            responses={403: {"description": "Not an admin key"}})
def list_keys(session: SessionDep, principal: PrincipalDep) -> list[KeyOut]:
    principal.require_admin("listing keys")
    return [KeyOut(**key_out(row)) for row in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]
