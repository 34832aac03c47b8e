"""Webhook deliveries: the signed request, the retry policy and the worker that sends them.

Each event goes to each active webhook of its park whose ``kinds`` match, as
``POST <url>`` with the JSON body ``{id, kind, park_id, created_at, data}``
and the headers

* ``X-Microgrid-Event``: the kind (``plan.created``),
* ``X-Microgrid-Delivery``: the delivery's id, the same on every attempt of
  one event to one webhook (a receiver drops the ones it has seen),
* ``X-Microgrid-Timestamp``: when the attempt was sent, in Unix seconds,
* ``X-Microgrid-Signature``: ``sha256=`` and the hex HMAC-SHA256 of
  ``"<timestamp>.<body>"`` with the webhook's secret (:func:`signature`).

A 2xx answer delivers it. A connection error, a time-out, a 5xx, 408 or 429
is tried again after ``MICROGRID_WEBHOOK_RETRY_S`` (1 s), then twice as long
each time (2, 4, 8 … s, at most ``MICROGRID_WEBHOOK_RETRY_MAX_S``; a longer
``Retry-After`` is kept within it), up to ``MICROGRID_WEBHOOK_MAX_ATTEMPTS``
attempts; any other answer (3xx, 4xx) fails it at once. Redirects are not
followed. Every attempt is a row of the delivery log
(:class:`~service.api.db.DeliveryRow`); the pending ones are sent by
:class:`DeliveryWorker`, also after a restart, so a receiver may get an
attempt twice if the server stopped during it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.api.db import DeliveryRow, NotificationRow, WebhookRow, utc_now
from service.api.notify.kinds import event_body, matches

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
RETRY_STATUSES = frozenset({408, 429})
"""Client-error answers that are tried again (besides every 5xx)."""
BATCH = 16
"""Attempts sent at once by the worker."""
USER_AGENT = "park-microgrid-webhooks/0.1"


def new_secret() -> str:
    """A webhook's signing secret: ``whsec_`` and 256 random bits, url-safe."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "timestamp.body" with secret>``, the ``X-Microgrid-Signature`` header.

    Examples
    --------
    >>> signature("whsec_test", "1784102400", b'{"id":1}')
    'sha256=c675a136e1e5a4a48077426e3a19edac61ee47dfe0cf316d98e578752a56f886'
    """
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def encode_body(body: dict) -> bytes:
    """The exact bytes sent (and signed): compact JSON, UTF-8."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def retried(status_code: int | None) -> bool:
    """Whether a failed attempt is tried again: no answer (connection, time-out), a 5xx, 408 or 429."""
    return status_code is None or status_code >= 500 or status_code in RETRY_STATUSES


def retry_delay_s(attempt: int, first_s: float, most_s: float, retry_after: str | None = None) -> float:
    """Wait after failed attempt number ``attempt`` (1, 2, ...) [s]: ``first_s × 2^(attempt-1)``, at most ``most_s``.

    A ``Retry-After`` (seconds or an HTTP date) longer than that is kept, up to ``most_s``.

    Examples
    --------
    >>> [retry_delay_s(n, 1.0, 300.0) for n in (1, 2, 3, 4)]
    [1.0, 2.0, 4.0, 8.0]
    >>> retry_delay_s(10, 1.0, 300.0), retry_delay_s(1, 1.0, 300.0, "30")
    (300.0, 30.0)
    """
    delay = min(first_s * 2 ** (attempt - 1), most_s)
    if retry_after:
        wanted: float | None = None
        if retry_after.strip().isdigit():
            wanted = float(retry_after.strip())
        else:
            try:
                wanted = (email.utils.parsedate_to_datetime(retry_after) - utc_now()).total_seconds()
            except (TypeError, ValueError):
                wanted = None
        if wanted is not None:
            delay = max(delay, min(wanted, most_s))
    return delay


def schedule_deliveries(session: Session, notification: NotificationRow) -> int:
    """Add the first attempt, due now, for each active webhook of the park that takes the notification's kind."""
    hooks = session.scalars(select(WebhookRow).where(WebhookRow.park_id == notification.park_id,
                                                     WebhookRow.active.is_(True)))
    count = 0
    for hook in hooks:
        if matches(hook.kinds, notification.kind):
            session.add(DeliveryRow(webhook_id=hook.id, notification_id=notification.id,
                                    delivery_id=str(uuid.uuid4()), kind=notification.kind, attempt=1,
                                    state="pending", next_attempt_at=notification.created_at))
            count += 1
    return count


@dataclass(frozen=True)
class Attempt:
    """One due attempt, read from the database."""

    row_id: int
    delivery_id: str
    attempt: int
    kind: str
    url: str
    secret: str
    body: bytes


class DeliveryWorker:
    """Sends the pending attempts of the delivery log, as they fall due, on the service's event loop.

    Parameters
    ----------
    settings : Settings
        ``webhook_*``: attempts, back-off, time limit, polling.
    session_factory : sessionmaker
    wake : asyncio.Event
        Set when an event is published (:class:`~service.api.notify.hub.Hub`): look at once.
    transport : httpx.AsyncBaseTransport, optional
        For tests; default: the network.
    """

    def __init__(self, settings, session_factory, wake: asyncio.Event,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.wake = wake
        self.transport = transport
        self._task: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.settings.webhook_timeout_s, follow_redirects=False,
                                         transport=self.transport, headers={"User-Agent": USER_AGENT})
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhook-deliveries")

    async def shutdown(self) -> None:
        """Stop; attempts in flight are cancelled and stay pending (sent again at the next start)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            self.wake.clear()
            try:
                due, next_at = await asyncio.to_thread(self._due)
                if due:
                    await asyncio.gather(*(self._send(attempt) for attempt in due))
                    if len(due) == BATCH:
                        continue
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not end the deliveries
                logger.exception("webhook deliveries: the worker's round failed; retrying")
                next_at = None
            wait_s = self.settings.webhook_poll_s
            if next_at is not None:
                wait_s = min(wait_s, max(0.0, (next_at - utc_now()).total_seconds()))
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=wait_s)
            except TimeoutError:
                pass

    def _due(self) -> tuple[list[Attempt], dt.datetime | None]:
        """The attempts due now (at most :data:`BATCH`, oldest first) and when the next one falls due."""
        now = utc_now()
        with self.session_factory() as session:
            query = (select(DeliveryRow, WebhookRow, NotificationRow)
                     .join(WebhookRow, WebhookRow.id == DeliveryRow.webhook_id)
                     .join(NotificationRow, NotificationRow.id == DeliveryRow.notification_id)
                     .where(DeliveryRow.state == "pending", DeliveryRow.next_attempt_at <= now)
                     .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id).limit(BATCH))
            due = [Attempt(row.id, row.delivery_id, row.attempt, row.kind, hook.url, hook.secret,
                           encode_body(event_body(notification)))
                   for row, hook, notification in session.execute(query)]
            next_at = session.scalar(select(func.min(DeliveryRow.next_attempt_at))
                                     .where(DeliveryRow.state == "pending", DeliveryRow.next_attempt_at > now))
        return due, next_at

    async def _send(self, attempt: Attempt) -> None:
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Microgrid-Event": attempt.kind,
                   "X-Microgrid-Delivery": attempt.delivery_id, "X-Microgrid-Timestamp": timestamp,
                   "X-Microgrid-Signature": signature(attempt.secret, timestamp, attempt.body)}
        status_code, error, retry_after = None, None, None
        started = time.perf_counter()
        try:
            async with self._client.stream("POST", attempt.url, content=attempt.body, headers=headers) as response:
                status_code, retry_after = response.status_code, response.headers.get("Retry-After")
        except httpx.TimeoutException as exc:
            error = f"no answer within {self.settings.webhook_timeout_s:g} s ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__
        elapsed_s = time.perf_counter() - started
        await asyncio.to_thread(self._record, attempt, status_code, error, elapsed_s, retry_after)

    def _record(self, attempt: Attempt, status_code: int | None, error: str | None, elapsed_s: float,
                retry_after: str | None) -> None:
        """Write the attempt's outcome, and the next attempt if it is to be tried again."""
        settings = self.settings
        with self.session_factory() as session:
            row = session.get(DeliveryRow, attempt.row_id)
            if row is None or row.state != "pending":  # its webhook was deleted meanwhile
                return
            now = utc_now()
            row.status_code, row.error, row.response_time_s, row.attempted_at = status_code, error, elapsed_s, now
            if status_code is not None and 200 <= status_code < 300:
                row.state = "delivered"
            elif retried(status_code) and row.attempt < settings.webhook_max_attempts:
                row.state = "retrying"
                delay_s = retry_delay_s(row.attempt, settings.webhook_retry_s, settings.webhook_retry_max_s,
                                        retry_after)
                session.add(DeliveryRow(webhook_id=row.webhook_id, notification_id=row.notification_id,
                                        delivery_id=row.delivery_id, kind=row.kind, attempt=row.attempt + 1,
                                        state="pending", next_attempt_at=now + dt.timedelta(seconds=delay_s)))
            else:
                row.state = "failed"
                logger.info("webhook %d: %s %s not delivered after %d attempts (%s)", row.webhook_id, row.kind,
                            row.delivery_id, row.attempt, error or f"HTTP {status_code}")
            session.commit()
