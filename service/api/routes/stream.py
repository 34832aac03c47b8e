"""``/parks/{park_id}/stream``: the park's events as they happen, as server-sent events (``text/event-stream``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from service.api import store
from service.api.deps import ParkIdDep, SessionDep, SettingsDep
from service.api.notify.stream import event_stream
from service.api.validation import MAX_ROW_ID

router = APIRouter(prefix="/parks/{park_id}", tags=["notifications"])


def streamed_park(park_id: ParkIdDep, session: SessionDep) -> str:
    """The path's park if it exists and the key may use it; the request's session is closed (a stream is long)."""
    store.get_park(session, park_id)
    session.close()
    return park_id


LastEventId = Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=MAX_ROW_ID,
                                           description="The id of the last event received: the stream starts with "
                                                       "the park's events after it (EventSource sends it when it "
                                                       "reconnects).")]


@router.get("/stream", response_class=EventSourceResponse, summary="The park's events, live (server-sent events)",
            responses={200: {"description": "A stream of events: `event:` the kind, `id:` the event's id, `data:` "
                                            "the event as JSON (`id`, `kind`, `park_id`, `created_at`, `data`); "
                                            "a `: ping` comment after 15 s without an event."}})
async def stream(park_id: Annotated[str, Depends(streamed_park)], request: Request, settings: SettingsDep,
                 last_event_id: LastEventId = None) -> AsyncIterator[ServerSentEvent]:
    """New events of the park as they are published (``plan.created``, ``alert.opened``, ...).

    With ``Last-Event-ID`` the stream first replays the park's events after
    that id (the newest ``MICROGRID_STREAM_BACKLOG_EVENTS``), then continues
    live; an event may then come twice (drop ids already seen). The stream
    ends after ``MICROGRID_STREAM_MAX_S`` seconds and when the server stops:
    reconnect with ``Last-Event-ID`` (a browser's ``EventSource`` does both).
    """
    async for item in event_stream(request.app.state.notifier, park_id, last_event_id,
                                   settings.stream_backlog_events, settings.stream_max_s):
        yield item
