"""Publishing a park's events: stored, then fanned out to the live streams and the webhook delivery worker.

:func:`publish` stores a :class:`~service.api.db.NotificationRow` and one
pending delivery per matching webhook in the caller's transaction; when
that transaction commits, :class:`Hub` hands the event to every stream of
the park that is open and wakes the delivery worker. A rolled-back
transaction publishes nothing, and an event whose transaction committed is
delivered to the webhooks even if the server stops right after (the worker
resumes the pending deliveries at start-up).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from microgrid.messages import Message
from service.api.db import NotificationRow, PlanRow, utc_now
from service.api.notify.kinds import KINDS, event_body
from service.api.notify.webhooks import schedule_deliveries

logger = logging.getLogger(__name__)

MAX_QUEUED = 1000
"""Events waiting for one stream; a client that falls this far behind is disconnected (it resumes by id)."""

_PENDING = "notify.pending"
_LISTENING = "notify.listening"
_running: "Hub | None" = None
"""The hub of the running application (set by :meth:`Hub.start`)."""


def publish(park_id: str, kind: str, payload: dict, *, session: Session | None = None) -> dict[str, Any]:
    """Publish an event of park ``park_id``: to its open streams and its webhooks of that kind.

    Parameters
    ----------
    park_id : str
    kind : str
        One of :data:`~service.api.notify.kinds.KINDS` (``"plan.created"``, ``"alert.opened"``, ...).
    payload : dict
        The event's ``data``; datetimes become ISO 8601 strings.
    session : sqlalchemy.orm.Session, optional
        The caller's transaction: the event is stored in it and sent once it
        commits (nothing is sent if it rolls back). Without one, the event
        is stored and sent at once through the running application's own
        session.

    Returns
    -------
    dict
        The event as sent (:func:`event_body`), with its ``id``.

    Raises
    ------
    ValueError
        ``kind`` is not one of the kinds.
    RuntimeError
        No ``session`` and no application running.
    """
    if kind not in KINDS:
        raise ValueError(Message("kind: {kind!r} is not an event kind; use one of {kinds} (a new kind is added "
                                 "to service.api.notify.kinds.Kind)",
                                 kind=kind, kinds=', '.join(KINDS)))
    if session is None:
        hub = _running
        if hub is None:
            raise RuntimeError("publish without a session needs the running service (its lifespan starts the hub)")
        with hub.session_factory() as own:
            body = publish(park_id, kind, payload, session=own)
            own.commit()
        return body
    row = NotificationRow(park_id=park_id, kind=kind, data=jsonable_encoder(payload), created_at=utc_now())
    session.add(row)
    session.flush()
    schedule_deliveries(session, row)
    body = event_body(row)
    session.info.setdefault(_PENDING, []).append(body)
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_rollback", _rolled_back)
    return body


def plan_created(session: Session, row: PlanRow) -> dict[str, Any]:
    """Publish ``plan.created`` for a plan just added to ``session`` (flushed, not yet committed)."""
    return publish(row.park_id, "plan.created", {
        "plan_id": row.id, "kind": row.kind, "date": row.plan_date, "start": row.starts_at, "end": row.ends_at,
        "strategy": row.strategy, "objective": row.objective, "status": row.status,
        "fallback": row.fallback_reason is not None, "total_cost_cny": row.kpis.get("total_cost_cny"),
        "href": f"/parks/{row.park_id}/plans/{row.id}"}, session=session)


def _committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    hub = session.info.get("notifier") or _running
    if pending and hub is not None:
        hub.announce(pending)


def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


class Hub:
    """The application's fan-out of committed events: the open streams of each park, the delivery worker's wake-up.

    Parameters
    ----------
    session_factory : sessionmaker
        The application's sessions (for :func:`publish` without a session and
        for the streams' backlog).
    """

    def __init__(self, session_factory) -> None:
        self.session_factory = session_factory
        self.loop: asyncio.AbstractEventLoop | None = None
        self.wake = asyncio.Event()
        self._streams: dict[str, set[asyncio.Queue]] = {}

    def start(self) -> None:
        """Start on the running event loop; sessions of ``session_factory`` find the hub in their ``info``."""
        global _running
        self.loop = asyncio.get_running_loop()
        self.wake = asyncio.Event()
        self.session_factory.configure(info={"notifier": self})
        _running = self

    def stop(self) -> None:
        """End every open stream (clients reconnect to the next server) and stop taking events."""
        global _running
        for queues in self._streams.values():
            for queue in queues:
                queue.put_nowait(None)
        self._streams.clear()
        if _running is self:
            _running = None
        self.loop = None

    def announce(self, events: list[dict[str, Any]]) -> None:
        """Hand committed ``events`` to the streams and wake the delivery worker; from any thread."""
        loop = self.loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._fan_out, events)
        except RuntimeError:  # the loop closed meanwhile (shut-down): the webhooks still get them at the next start
            logger.debug("event loop closed; %d events not streamed", len(events))

    def _fan_out(self, events: list[dict[str, Any]]) -> None:
        for body in events:
            for queue in list(self._streams.get(body["park_id"], ())):
                if queue.qsize() >= MAX_QUEUED:
                    self.unsubscribe(body["park_id"], queue)
                    queue.put_nowait(None)
                else:
                    queue.put_nowait(body)
        self.wake.set()

    def subscribe(self, park_id: str) -> asyncio.Queue:
        """A queue of the park's events from now on (``None``: the stream must end); on the event loop."""
        queue: asyncio.Queue = asyncio.Queue()
        self._streams.setdefault(park_id, set()).add(queue)
        return queue

    def unsubscribe(self, park_id: str, queue: asyncio.Queue) -> None:
        queues = self._streams.get(park_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._streams[park_id]

    def streams(self, park_id: str) -> int:
        """How many streams of the park are open."""
        return len(self._streams.get(park_id, ()))

    def backlog(self, park_id: str, after_id: int, most: int) -> list[dict[str, Any]]:
        """The park's events after id ``after_id``, oldest first, at most the ``most`` newest; blocking."""
        if most <= 0:
            return []
        with self.session_factory() as session:
            query = (select(NotificationRow).where(NotificationRow.park_id == park_id, NotificationRow.id > after_id)
                     .order_by(NotificationRow.id.desc()).limit(most))
            return [event_body(row) for row in reversed(list(session.scalars(query)))]
