"""Request and response bodies of the webhooks routes (the live stream's events are :func:`kinds.event_body`)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from service.api.notify.kinds import Kind, KindFilter
from service.api.validation import RequestModel

MAX_KINDS = 20
DeliveryState = Literal["pending", "delivered", "retrying", "failed"]


class WebhookCreate(RequestModel):
    """A webhook of the park: its events are POSTed to ``url``, signed with the secret the answer gives once.

    ``url`` is ``https`` (plain ``http`` only to this machine: 127.0.0.1,
    ::1, localhost), on a host ``MICROGRID_WEBHOOK_HOSTS`` allows if set.
    """

    url: str = Field(min_length=1, max_length=500, description="Where the events are POSTed, e.g. "
                     "https://ops.example.com/microgrid/events.")
    kinds: list[KindFilter] = Field(default_factory=list, max_length=MAX_KINDS,
                                    description="The kinds of event it gets (a kind, or `alert.*` for every "
                                                "alert event); empty: all.")
    active: bool = Field(True, description="Whether it gets events (an inactive one keeps its log).")
    description: str | None = Field(None, max_length=200, description="What or whom it is for.")


class WebhookOut(BaseModel):
    id: int
    park_id: str
    url: str
    kinds: list[KindFilter]
    active: bool
    description: str | None
    secret_prefix: str = Field(description="The secret's first characters, to recognise it (never the secret).")
    created_at: dt.datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signs every delivery (X-Microgrid-Signature); shown in this answer only, "
                                    "store it now.")


class DeliveryOut(BaseModel):
    """One attempt to deliver an event to a webhook."""

    id: int
    delivery_id: str = Field(description="X-Microgrid-Delivery: the same on every attempt of one event.")
    webhook_id: int
    event_id: int = Field(description="The event's id (the body's `id`, the stream's `id:`).")
    kind: Kind
    attempt: int = Field(description="1 for the first attempt, 2 for the first retry, ...")
    state: DeliveryState = Field(
        description="pending: not sent yet (due at next_attempt_at); delivered: a 2xx answer; retrying: failed, "
                    "the next attempt is the next row; failed: not tried again (a 3xx or 4xx answer other "
                    "than 408 and 429, or the last attempt).")
    status_code: int | None = Field(description="The receiver's HTTP status; null without an answer.")
    error: str | None = Field(description="Why there was no answer (connection, time-out).")
    response_time_s: float | None = Field(description="From sending to the answer's status line [s].")
    next_attempt_at: dt.datetime = Field(description="When the attempt was (or is) due.")
    attempted_at: dt.datetime | None = Field(description="When it was sent; null while pending.")


class EventOut(BaseModel):
    """A park's event as the stream's `data:` and a webhook's body carry it."""

    id: int
    kind: Kind
    park_id: str
    created_at: dt.datetime
    data: dict[str, Any]
