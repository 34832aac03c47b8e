"""A park's live stream as server-sent events: what :class:`~service.api.notify.hub.Hub` hands it, as it comes.

Each event is sent as ``event: <kind>``, ``id: <id>`` and ``data: <the event
as JSON>`` (:func:`~service.api.notify.kinds.event_body`); FastAPI's
``EventSourceResponse`` adds a ``: ping`` comment after 15 s without one, so
proxies keep the connection. A client that reconnects with ``Last-Event-ID``
first gets the park's events after that id that it missed (the newest
``MICROGRID_STREAM_BACKLOG_EVENTS`` of them, from the database), then the new
ones; an event may then come twice (ids only grow: drop one seen before).
A stream ends after ``MICROGRID_STREAM_MAX_S`` and when the server stops;
``EventSource`` reconnects by itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi.sse import ServerSentEvent

from service.api.notify.hub import Hub

RETRY_MS = 3000
"""How long a browser waits before it reconnects (the stream's ``retry:``) [ms]."""


def server_sent(body: dict) -> ServerSentEvent:
    """An event as a server-sent event: its kind, its id, its body as JSON."""
    return ServerSentEvent(event=body["kind"], id=str(body["id"]),
                           raw_data=json.dumps(body, ensure_ascii=False, separators=(",", ":")))


async def event_stream(hub: Hub, park_id: str, last_event_id: int | None, backlog_events: int,
                       max_s: float) -> AsyncIterator[ServerSentEvent]:
    """The park's events: a ``: connected`` comment, the missed ones after ``last_event_id``, then new ones.

    Parameters
    ----------
    hub : Hub
    park_id : str
    last_event_id : int or None
        The ``Last-Event-ID`` the client sent (None: only new events).
    backlog_events : int
        Most missed events replayed.
    max_s : float
        The stream ends after this long [s].
    """
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + max_s
    queue = hub.subscribe(park_id)  # before the backlog is read, so nothing falls between the two
    try:
        yield ServerSentEvent(comment="connected", retry=RETRY_MS)
        replayed: set[int] = set()
        if last_event_id is not None:
            for body in await asyncio.to_thread(hub.backlog, park_id, last_event_id, backlog_events):
                replayed.add(body["id"])
                yield server_sent(body)
        while True:
            try:
                body = await asyncio.wait_for(queue.get(), timeout=max(0.0, ends_at - loop.time()))
            except TimeoutError:
                return
            if body is None:
                return
            if body["id"] not in replayed:
                yield server_sent(body)
    finally:
        hub.unsubscribe(park_id, queue)
