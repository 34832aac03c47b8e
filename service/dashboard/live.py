"""``/live?park=ID``: the park's stream for the dashboard's pages, signed in by the page's cookie.

A browser's ``EventSource`` cannot send ``X-API-Key``; it sends the page's
cookie, which :func:`~service.dashboard.pages.page_context` authenticates as
every page does. The events are those of ``GET /parks/{id}/stream``
(:func:`service.api.notify.stream.event_stream`); ``dashboard.js`` shows a
notice for each new plan or alert.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from service.api.deps import SessionDep, SettingsDep
from service.api.notify.stream import event_stream
from service.api.routes.stream import LastEventId
from service.dashboard.pages import PageDep, ParkNotAllowed

router = APIRouter(include_in_schema=False)


def live_park(page: PageDep, session: SessionDep) -> str:
    """The page's park (the signed-in key may use it); the request's session is closed (a stream is long)."""
    if page.park is None:
        raise ParkNotAllowed("")
    session.close()
    return page.park.id


@router.get("/live", response_class=EventSourceResponse)
async def live(park_id: Annotated[str, Depends(live_park)], request: Request, settings: SettingsDep,
               last_event_id: LastEventId = None) -> AsyncIterator[ServerSentEvent]:
    async for item in event_stream(request.app.state.notifier, park_id, last_event_id,
                                   settings.stream_backlog_events, settings.stream_max_s):
        yield item
