"""The parks' VEN clients on the service's event loop: openleadr, TLS, registration, polling and reports.

A :class:`ParkVen` registers with its VTN (retrying with a growing delay),
polls it through openleadr, hands each event to
:func:`service.api.openadr.answers.answer_event` in a thread and reports the
metered demand; :class:`VenManager` starts and stops them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from functools import lru_cache
from typing import Literal

from sqlalchemy import select

from service.api.db import OpenAdrVenRow, utc_now
from service.api.openadr.answers import Answer, answer_event, new_demand
from service.api.schemas import OpenAdrConfigIn

logger = logging.getLogger(__name__)

RETRY_MIN_S = 5.0
RETRY_MAX_S = 300.0
WATCH_S = 5.0
"""How often a registered VEN checks that it is still registered."""
DEREGISTER_TIMEOUT_S = 5.0
GRID_FREQUENCY_HZ = 50
REPORT_MAX_INTERVAL = dt.timedelta(hours=1)
"""The longest report interval offered; the shortest is the park's ``report_interval_s``."""


@dataclasses.dataclass
class VenStatus:
    """What a park's VEN is doing, for ``GET /parks/{id}/openadr``."""

    state: Literal["stopped", "registering", "registered", "retrying"] = "stopped"
    ven_id: str | None = None
    registration_id: str | None = None
    registered_at: dt.datetime | None = None
    poll_interval_s: float | None = None
    last_poll_at: dt.datetime | None = None
    last_poll_ok: bool | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    report_requested: bool = False
    last_report: dict | None = None
    next_retry_at: dt.datetime | None = None


@lru_cache(maxsize=1)
def client_class():
    """The openleadr client, with the hooks the VEN needs (imported on first use: openleadr is a heavy import)."""
    from openleadr import OpenADRClient

    class VenClient(OpenADRClient):
        """openleadr's client that tells its :class:`ParkVen` about polls and reports only when there is a value."""

        def __init__(self, ven: "ParkVen", **kwargs) -> None:
            super().__init__(**kwargs)
            self.park_ven = ven

        async def create_party_registration(self, *args, **kwargs):
            result = await super().create_party_registration(*args, **kwargs)
            if self.registration_id:
                self.park_ven.registered(self)
            return result

        async def poll(self):
            result = await super().poll()
            self.park_ven.polled(result[0] if result else None)
            return result

        async def create_report(self, response_payload):
            self.park_ven.status.report_requested = True
            return await super().create_report(response_payload)

        async def update_report(self, report_request_id):
            """Report only a new measurement: without one, nothing is sent this interval."""
            if not await self.park_ven.take_new_demand():
                return
            await super().update_report(report_request_id)

        async def stop(self):
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)
            if self.report_queue_task:
                self.report_queue_task.cancel()
            if self.client_session is not None:
                await self.client_session.close()

    return VenClient


class ParkVen:
    """One park's VEN: registers (retrying), polls through openleadr, answers events, reports demand."""

    def __init__(self, manager: "VenManager", park_id: str, config: OpenAdrConfigIn, ven_id: str | None) -> None:
        self.manager = manager
        self.park_id = park_id
        self.config = config
        self.ven_id = config.ven_id or ven_id
        self.status = VenStatus()
        self.client = None
        self._task: asyncio.Task | None = None
        self._reported_id: int | None = None
        self._values: list[tuple[dt.datetime, float]] = []

    # lifecycle

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"openadr-ven-{self.park_id}")

    async def stop(self, deregister: bool) -> None:
        """Stop polling and reporting; with ``deregister``, cancel the registration at the VTN first."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        client, self.client = self.client, None
        if client is not None:
            if deregister and client.registration_id:
                try:
                    await asyncio.wait_for(client.cancel_party_registration(), DEREGISTER_TIMEOUT_S)
                except Exception as exc:  # the VTN may be gone: stopping goes on
                    logger.warning("OpenADR: park %s: the registration could not be cancelled at the VTN: %s",
                                   self.park_id, exc)
            await client.stop()
        self.status.state = "stopped"

    def _new_client(self):
        config = self.config
        client = client_class()(
            self, ven_name=config.ven_name, vtn_url=config.vtn_url, ven_id=self.ven_id, cert=config.cert_path,
            key=config.key_path, ca_file=config.ca_file, vtn_fingerprint=config.vtn_fingerprint,
            check_hostname=config.check_hostname, show_fingerprint=False,
            disable_signature=not (config.cert_path and config.key_path))
        client.add_handler("on_event", self._on_event)
        client.add_handler("on_update_event", self._on_event)
        client.add_hook("before_send_xml", self._sending)
        client.add_hook("after_parse_xml", self._received)
        self._add_report(client)
        return client

    def _add_report(self, client) -> None:
        from openleadr import enums, objects

        interval = dt.timedelta(seconds=self.config.report_interval_s)
        offered = objects.SamplingRate(min_period=interval, max_period=max(interval, REPORT_MAX_INTERVAL),
                                       on_change=False)
        measurement = objects.Measurement(
            name="powerReal", description="RealPower", unit="W", scale="k",
            power_attributes=objects.PowerAttributes(hertz=GRID_FREQUENCY_HZ, voltage=self.config.pcc_voltage_v,
                                                     ac=True))
        client.add_report(callback=self._report_values, resource_id=self.park_id, measurement=measurement,
                          data_collection_mode="full", report_specifier_id=f"{self.park_id}-demand",
                          r_id=f"{self.park_id}-grid-net-import", report_name=enums.REPORT_NAME.TELEMETRY_USAGE,
                          reading_type=enums.READING_TYPE.DIRECT_READ, report_type=enums.REPORT_TYPE.READING,
                          report_duration=interval, sampling_rate=offered, scale="k", unit="W")

    async def _run(self) -> None:
        delay_s = RETRY_MIN_S
        while True:
            self.status.state = "registering"
            client, failure = None, None
            try:
                client = self.client = self._new_client()        # reads the certificate and key
                await client.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a file gone, or openleadr raising on a malformed answer
                logger.exception("OpenADR: park %s: registration with %s failed", self.park_id, self.config.vtn_url)
                failure = f"registration failed: {type(exc).__name__}: {exc}"
            if client is not None and client.registration_id and failure is None:
                delay_s = RETRY_MIN_S
                while client.registration_id:
                    await asyncio.sleep(WATCH_S)
                self._error("the VTN cancelled the registration; registering again")
            else:
                self._error(failure or f"the VTN at {self.config.vtn_url} did not register the VEN (unreachable, "
                                       "or it refused; see the service log)")
            if client is not None:
                await client.stop()
            self.client = None
            self.status.state = "retrying"
            self.status.next_retry_at = utc_now() + dt.timedelta(seconds=delay_s)
            await asyncio.sleep(delay_s)
            delay_s = min(2 * delay_s, RETRY_MAX_S)

    def registered(self, client) -> None:
        status = self.status
        status.state, status.ven_id, status.registration_id = "registered", client.ven_id, client.registration_id
        status.registered_at, status.next_retry_at = utc_now(), None
        status.poll_interval_s = client.poll_frequency.total_seconds() if client.poll_frequency else None
        logger.info("OpenADR: park %s registered with %s as ven_id %s (registration %s)", self.park_id,
                    self.config.vtn_url, client.ven_id, client.registration_id)
        if client.ven_id and client.ven_id != self.ven_id:
            self.ven_id = client.ven_id
            self.manager.remember_ven_id(self.park_id, client.ven_id)

    def _error(self, message: str) -> None:
        self.status.last_error, self.status.last_error_at = message, utc_now()
        logger.warning("OpenADR: park %s: %s", self.park_id, message)

    # what openleadr calls

    def polled(self, response_type: str | None) -> None:
        was_ok = self.status.last_poll_ok is not False
        self.status.last_poll_at, self.status.last_poll_ok = utc_now(), response_type is not None
        if response_type is None and was_ok:   # logged when it starts failing, not at every poll
            self._error(f"polling {self.config.vtn_url} failed (see the service log)")

    async def _on_event(self, event: dict) -> str:
        answer = await self.manager.in_thread(self._answer, event)
        return answer.opt

    def _answer(self, event: dict) -> Answer:
        manager = self.manager
        session = manager.session_factory()
        try:
            return answer_event(session, manager.settings, manager.planner, self.park_id, self.config, event)
        except Exception as exc:  # never an unanswered event: opt out, and say why
            session.rollback()
            event_id = (event.get("event_descriptor") or {}).get("event_id")
            logger.exception("OpenADR: park %s: event %s could not be handled; opting out", self.park_id, event_id)
            return Answer("optOut", f"internal error: {type(exc).__name__}", [])
        finally:
            session.close()

    async def take_new_demand(self) -> bool:
        """Read the newest measurement; True (and the value ready for the report) if it was not reported yet."""
        found = await self.manager.in_thread(self._read_demand)
        if found is None:
            return False
        measurement_id, measured_at, demand_kw = found
        self._reported_id = measurement_id
        self._values = [(measured_at, demand_kw)]
        self.status.last_report = {"queued_at": utc_now(), "sent_at": None, "acknowledged_at": None,
                                   "measurement_id": measurement_id, "values": [
                                       {"measured_at": measured_at, "demand_kw": demand_kw}]}
        return True

    def _read_demand(self):
        session = self.manager.session_factory()
        try:
            return new_demand(session, self.park_id, self._reported_id)
        finally:
            session.close()

    def _report_values(self, date_from, date_to, sampling_interval) -> list[tuple[dt.datetime, float]]:
        values, self._values = self._values, []
        return values

    def _sending(self, xml: str) -> None:
        if "oadrUpdateReport" in xml and self.status.last_report is not None:
            self.status.last_report["sent_at"] = utc_now()

    def _received(self, message_type: str, payload: dict) -> None:
        if message_type == "oadrUpdatedReport" and self.status.last_report is not None:
            self.status.last_report["acknowledged_at"] = utc_now()


class VenManager:
    """The VENs of the parks, on the service's event loop.

    Parameters
    ----------
    settings : Settings
    session_factory : sessionmaker
    planner : Planner
        The worker pool the re-plans go through (the routes' one).
    """

    def __init__(self, settings, session_factory, planner) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.planner = planner
        self.vens: dict[str, ParkVen] = {}
        self._lock = asyncio.Lock()
        self._in_flight: set[asyncio.Future] = set()

    async def in_thread(self, function, *args):
        """Run blocking ``function(*args)`` in a thread; shut-down waits for it."""
        future = asyncio.get_running_loop().run_in_executor(None, function, *args)
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)
        return await asyncio.shield(future)

    def _read(self, park_id: str | None):
        session = self.session_factory()
        try:
            if park_id is not None:
                row = session.get(OpenAdrVenRow, park_id)
                rows = [row] if row is not None else []
            else:
                rows = list(session.scalars(select(OpenAdrVenRow).where(OpenAdrVenRow.enabled.is_(True))))
            return [(r.park_id, r.enabled, OpenAdrConfigIn.model_validate(r.settings), r.registered_ven_id)
                    for r in rows]
        finally:
            session.close()

    async def start_enabled(self) -> None:
        """Start the VEN of every park whose VEN is enabled (at start-up)."""
        async with self._lock:
            for park_id, enabled, config, ven_id in await self.in_thread(self._read, None):
                self._start(park_id, config, ven_id)
        if self.vens:
            logger.info("OpenADR: started the VENs of %s", ", ".join(sorted(self.vens)))

    def _start(self, park_id: str, config: OpenAdrConfigIn, ven_id: str | None) -> None:
        ven = ParkVen(self, park_id, config, ven_id)
        self.vens[park_id] = ven
        ven.start()

    async def reload(self, park_id: str, deregister: bool) -> None:
        """Apply a park's stored configuration: stop its VEN (``deregister`` at the VTN), start it if enabled."""
        async with self._lock:
            ven = self.vens.pop(park_id, None)
            if ven is not None:
                await ven.stop(deregister=deregister)
            for _, enabled, config, ven_id in await self.in_thread(self._read, park_id):
                if enabled:
                    self._start(park_id, config, ven_id)

    def status(self, park_id: str) -> VenStatus:
        ven = self.vens.get(park_id)
        return dataclasses.replace(ven.status) if ven is not None else VenStatus()

    def remember_ven_id(self, park_id: str, ven_id: str) -> None:
        """Store the ven_id the VTN assigned, to register with it again after a restart."""
        def save() -> None:
            session = self.session_factory()
            try:
                row = session.get(OpenAdrVenRow, park_id)
                if row is not None:
                    row.registered_ven_id = ven_id
                    session.commit()
            finally:
                session.close()

        future = asyncio.get_running_loop().run_in_executor(None, save)
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)

    async def shutdown(self) -> None:
        """Stop every VEN (registrations kept at the VTNs) and wait for the events being answered."""
        async with self._lock:
            for ven in list(self.vens.values()):
                await ven.stop(deregister=False)
            self.vens.clear()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=self.settings.http_timeout_s)
