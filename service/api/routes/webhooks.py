"""``/parks/{park_id}/webhooks``: where a park's events are POSTed, and the log of every delivery attempt."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status
from sqlalchemy import delete, func, select

from microgrid.messages import Message
from service.api import store
from service.api.db import DeliveryRow, WebhookRow, utc_now
from service.api.deps import ParkIdDep, PrincipalDep, SessionDep, SettingsDep
from service.api.notify.schemas import DeliveryOut, DeliveryState, WebhookCreate, WebhookCreated, WebhookOut
from service.api.notify.webhooks import new_secret
from service.api.parsing import StrictJsonRoute
from service.api.problems import Conflict, InvalidInput, NotFound
from service.api.validation import Offset, RowId, outbound_url_errors

router = APIRouter(prefix="/parks/{park_id}/webhooks", tags=["notifications"], route_class=StrictJsonRoute)

MAX_WEBHOOKS = 20
"""Webhooks one park may have."""
SECRET_SHOWN_CHARS = 10

WEBHOOK_EXAMPLES = {
    "every event": {"summary": "Every event of the park to the control room's receiver",
                    "value": {"url": "https://ops.example.com/microgrid/events"}},
    "alerts only": {"summary": "Alerts only, to an on-call system",
                    "value": {"url": "https://oncall.example.com/hooks/microgrid", "kinds": ["alert.*"],
                              "description": "on-call"}},
    "a receiver on this machine": {"summary": "Plain http only to this machine",
                                   "value": {"url": "http://127.0.0.1:9000/hook", "kinds": ["plan.created"]}},
}


def webhook_out(row: WebhookRow) -> dict:
    return dict(id=row.id, park_id=row.park_id, url=row.url, kinds=row.kinds, active=row.active,
                description=row.description, secret_prefix=row.secret[:SECRET_SHOWN_CHARS], created_at=row.created_at)


def _webhook(session, park_id: str, webhook_id: int) -> WebhookRow:
    store.get_park(session, park_id)
    row = session.get(WebhookRow, webhook_id)
    if row is None or row.park_id != park_id:
        raise NotFound(Message("park {park_id!r} has no webhook {webhook_id}; list them with GET "
                               "/parks/{park_id}/webhooks",
                               park_id=park_id, webhook_id=webhook_id))
    return row


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated,
             summary="Add a webhook (its secret is in this answer only)",
             responses={409: {"description": "The park has the most webhooks it may have"}})
def create_webhook(park_id: ParkIdDep, body: Annotated[WebhookCreate, Body(openapi_examples=WEBHOOK_EXAMPLES)],
                   response: Response, session: SessionDep, settings: SettingsDep,
                   principal: PrincipalDep) -> WebhookCreated:
    """POST the park's events to ``url``, signed with a new secret.

    Each delivery carries ``X-Microgrid-Signature: sha256=<hex>``, the
    HMAC-SHA256 of ``"<X-Microgrid-Timestamp>.<body>"`` keyed with the
    secret; the README shows how a receiver checks it. Failed deliveries are
    tried again with a growing delay (connection errors, time-outs, 5xx, 408,
    429); every attempt is in ``GET .../deliveries``.
    """
    store.get_park(session, park_id)
    errors = outbound_url_errors("url", body.url, "webhook receiver", settings.webhook_hosts,
                                 "MICROGRID_WEBHOOK_HOSTS")
    if errors:
        raise InvalidInput("; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors=errors)
    count = session.scalar(select(func.count()).select_from(WebhookRow).where(WebhookRow.park_id == park_id))
    if count >= MAX_WEBHOOKS:
        raise Conflict(Message("park {park_id!r} has {count} webhooks, the most it may have; delete one first "
                               "(DELETE /parks/{park_id}/webhooks/{{webhook_id}})",
                               park_id=park_id, count=count))
    row = WebhookRow(park_id=park_id, url=body.url, secret=new_secret(), kinds=list(dict.fromkeys(body.kinds)),
                     active=body.active, description=body.description, created_at=utc_now(),
                     created_by_key_id=principal.key_id)
    session.add(row)
    session.commit()
    response.headers["Location"] = f"/parks/{park_id}/webhooks/{row.id}"
    return WebhookCreated(**webhook_out(row), secret=row.secret)


@router.get("", response_model=list[WebhookOut], summary="List the park's webhooks (without their secrets)")
def list_webhooks(park_id: ParkIdDep, session: SessionDep) -> list[WebhookOut]:
    store.get_park(session, park_id)
    rows = session.scalars(select(WebhookRow).where(WebhookRow.park_id == park_id).order_by(WebhookRow.id))
    return [WebhookOut(**webhook_out(row)) for row in rows]


@router.get("/{webhook_id:int}", response_model=WebhookOut, summary="Fetch a webhook (without its secret)")
def read_webhook(park_id: ParkIdDep, webhook_id: RowId, session: SessionDep) -> WebhookOut:
    return WebhookOut(**webhook_out(_webhook(session, park_id, webhook_id)))


@router.delete("/{webhook_id:int}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Delete a webhook, its pending deliveries and its log")
def delete_webhook(park_id: ParkIdDep, webhook_id: RowId, session: SessionDep) -> Response:
    row = _webhook(session, park_id, webhook_id)
    session.execute(delete(DeliveryRow).where(DeliveryRow.webhook_id == row.id))
    session.delete(row)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id:int}/deliveries", response_model=list[DeliveryOut],
            summary="The webhook's delivery log: every attempt, newest first")
def list_deliveries(
    park_id: ParkIdDep, webhook_id: RowId, session: SessionDep,
    state: Annotated[DeliveryState | None, Query(description="Only attempts in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[DeliveryOut]:
    """Each attempt with its answer (``status_code``) or ``error`` and ``response_time_s``; pending ones are due at
    ``next_attempt_at``."""
    row = _webhook(session, park_id, webhook_id)
    query = select(DeliveryRow).where(DeliveryRow.webhook_id == row.id)
    if state is not None:
        query = query.where(DeliveryRow.state == state)
    query = query.order_by(DeliveryRow.id.desc()).limit(limit).offset(offset)
    return [DeliveryOut(id=d.id, delivery_id=d.delivery_id, webhook_id=d.webhook_id, event_id=d.notification_id,
                        kind=d.kind, attempt=d.attempt, state=d.state, status_code=d.status_code, error=d.error,
                        response_time_s=d.response_time_s, next_attempt_at=d.next_attempt_at,
                        attempted_at=d.attempted_at) for d in session.scalars(query)]
