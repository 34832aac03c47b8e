"""OpenADR 2.0b: a park acting as a VEN (virtual end node) of a VTN, with openleadr.

A park whose VEN is configured and enabled (``PUT /parks/{id}/openadr``)
registers with its VTN, polls it, and

* turns each event it receives into demand-response events of the park
  through the same path as ``PUT /parks/{id}/events/{event_id}``
  (:func:`service.api.routes.events.apply_event`): :func:`map_event` reads
  the ``LOAD_DISPATCH`` signal (``setpoint`` → ``max_import_kw``; ``delta``
  → ``reduce_by_kw`` or ``increase_by_kw``, by its sign and the park's
  ``positive_delta``) or, when the park maps levels to kW, a ``SIMPLE``
  level; the power is converted from the signal's ``itemUnits`` and
  ``siScaleCode`` (kW without an ``itemBase``). Consecutive intervals with the
  same request make one window; windows are widened to the park's step grid.
* opts in when the re-plan delivers the event ``full`` or ``partial``, and out
  when it delivers ``none``, when planning fails or when the event cannot be
  mapped (the reason is logged and kept, see ``GET /parks/{id}/openadr``). An
  event the park opted out of does not bind its plans: the demand-response
  events it became are cancelled. A modified event (a new modification number)
  re-plans; a cancelled one cancels its demand-response events.
* offers a ``TELEMETRY_USAGE`` report of its metered demand on the grid
  (``powerReal``, kW), the net import of the newest measurement
  (:func:`service.api.measurements.metered_demand_kw`), stamped with the time it
  was metered; each measurement is reported once, and without a new one a
  report interval passes without a report: no value is made up.

The VEN clients run on the service's event loop (:class:`VenManager`, started
and stopped by the application's lifespan and by the configuration routes);
re-plans and database work run in threads, so the service keeps answering.
A VTN that cannot be reached or refuses the registration is retried with a
growing delay (:data:`RETRY_MIN_S` to :data:`RETRY_MAX_S`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import ValidationError
from sqlalchemy import select

from microgrid.case import park_from_dict
from microgrid.errors import MicrogridError
from microgrid.timeseries import read_timestamped_csv, step_hours
from service.api import measurements, store
from service.api.db import OpenAdrEventRow, OpenAdrVenRow, utc_now
from service.api.problems import ProblemError
from service.api.schemas import EventIn, OpenAdrConfigIn

logger = logging.getLogger(__name__)

SI_SCALE = {"p": 1e-12, "n": 1e-9, "micro": 1e-6, "m": 1e-3, "c": 1e-2, "d": 1e-1, "none": 1.0,
            "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
"""OpenADR ``siScaleCode`` → factor."""
POWER_UNITS_W = {"W": 1.0, "kW": 1e3, "MW": 1e6}
"""``itemUnits`` of a power → W (OpenADR's ``powerReal`` is in W with a scale code)."""
ENERGY_UNITS_WH = {"Wh": 1.0, "kWh": 1e3, "MWh": 1e6}
"""``itemUnits`` of an energy → Wh: an energy per interval is its mean power over the interval."""
DISPATCH_SIGNAL = "LOAD_DISPATCH"
SIMPLE_SIGNALS = ("SIMPLE", "simple")
MAX_WINDOWS = 8
"""Most windows (re-plans) one OpenADR event may become; more are opted out of."""
EVENT_ID_CHARS = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
RETRY_MIN_S = 5.0
RETRY_MAX_S = 300.0
WATCH_S = 5.0
"""How often a registered VEN checks that it is still registered."""
DEREGISTER_TIMEOUT_S = 5.0
GRID_FREQUENCY_HZ = 50
REPORT_MAX_INTERVAL = dt.timedelta(hours=1)
"""The longest report interval offered; the shortest is the park's ``report_interval_s``."""
RECENT_EVENTS = 20
"""OpenADR events listed in the status."""

Request = tuple[Literal["reduce", "increase"], str, float]
"""(kind, amount field of :class:`EventIn`, kW)."""


# --- events → demand-response events (pure functions) -------------------------------------------

@dataclasses.dataclass(frozen=True)
class StepGrid:
    """The park's step grid: its data's first step and step length."""

    anchor: pd.Timestamp
    step: pd.Timedelta
    timezone: str

    def floor(self, when: dt.datetime) -> pd.Timestamp:
        steps = (pd.Timestamp(when) - self.anchor) // self.step
        return (self.anchor + steps * self.step).tz_convert(self.timezone)

    def ceil(self, when: dt.datetime) -> pd.Timestamp:
        floor = self.floor(when)
        return floor if floor == pd.Timestamp(when) else floor + self.step


@dataclasses.dataclass
class Mapping:
    """What an OpenADR event asks of the park.

    ``action``: ``apply`` (``windows`` are the demand-response events, one per
    window still to come, ``window_numbers`` their place among the event's
    ``window_count`` windows),
    ``cancel`` or ``ignore`` (``reason`` says why; ``withdraw`` whether the
    demand-response events of an earlier version are cancelled).
    """

    action: Literal["apply", "cancel", "ignore"]
    reason: str
    signal: str = ""
    windows: list[EventIn] = dataclasses.field(default_factory=list)
    window_numbers: list[int] = dataclasses.field(default_factory=list)
    window_count: int = 0
    withdraw: bool = True

    def event_ids(self, oadr_event_id: str) -> list[str]:
        """The ids of the demand-response events of :attr:`windows`."""
        return [service_event_id(oadr_event_id, n, self.window_count) for n in self.window_numbers]


def service_event_id(oadr_event_id: str, number: int, windows: int) -> str:
    """The id of a demand-response event made from window ``number`` (1, 2, ...) of ``windows`` of an OpenADR event.

    ``oadr-<id>`` (``-<number>`` with several windows); an id with other
    characters than letters, digits, ``_`` and ``-``, or longer than 50, is
    shortened and made unique with a hash.

    Examples
    --------
    >>> service_event_id("evt-42", 1, 1)
    'oadr-evt-42'
    >>> service_event_id("evt-42", 2, 3)
    'oadr-evt-42-2'
    >>> service_event_id("urn:vtn/2026.07#7", 1, 1)
    'oadr-urn-vtn-2026-07-7-b4db8c7a0d'
    """
    if EVENT_ID_CHARS.match(oadr_event_id):
        base = f"oadr-{oadr_event_id}"
    else:
        digest = hashlib.sha256(oadr_event_id.encode("utf-8")).hexdigest()[:10]
        base = f"oadr-{re.sub(r'[^A-Za-z0-9_-]', '-', oadr_event_id)[:40]}-{digest}"
    return base if windows == 1 else f"{base}-{number}"


def _signals(event: dict) -> list[dict]:
    signals = event.get("event_signals") or []
    if isinstance(signals, dict):
        signals = signals.get("event_signals") or []
    return list(signals)


def _signal_label(signal: dict) -> str:
    return f"{signal.get('signal_name')}/{signal.get('signal_type')}"


def _is_mappable(signal: dict, config: OpenAdrConfigIn) -> bool:
    name, kind = signal.get("signal_name"), signal.get("signal_type")
    if name == DISPATCH_SIGNAL:
        return kind in ("setpoint", "delta")
    return name in SIMPLE_SIGNALS and kind == "level" and bool(config.simple_levels_kw)


def power_factor_kw(measurement: dict | None, duration: dt.timedelta) -> float:
    """kW per unit of a signal's payload, from its ``itemBase`` (kW without one).

    Raises
    ------
    ValueError
        Units that are neither a power nor an energy, or an unknown scale code.

    Examples
    --------
    >>> power_factor_kw({"name": "powerReal", "unit": "W", "scale": "k"}, dt.timedelta(minutes=15))
    1.0
    >>> power_factor_kw({"name": "powerReal", "unit": "W", "scale": "none"}, dt.timedelta(minutes=15))
    0.001
    >>> power_factor_kw({"name": "energyReal", "unit": "Wh", "scale": "k"}, dt.timedelta(minutes=15))
    4.0
    """
    if not measurement:
        return 1.0
    unit, scale = measurement.get("unit"), measurement.get("scale") or "none"
    if scale not in SI_SCALE:
        raise ValueError(f"siScaleCode {scale!r} is not an SI scale code ({', '.join(SI_SCALE)})")
    if unit in POWER_UNITS_W:
        return POWER_UNITS_W[unit] * SI_SCALE[scale] / 1000.0
    if unit in ENERGY_UNITS_WH:
        hours = duration.total_seconds() / 3600.0
        return ENERGY_UNITS_WH[unit] * SI_SCALE[scale] / 1000.0 / hours
    raise ValueError(f"itemUnits {unit!r} of {measurement.get('name')!r} is neither a power "
                     f"({', '.join(POWER_UNITS_W)}) nor an energy ({', '.join(ENERGY_UNITS_WH)})")


def _request(signal: dict, payload: float, factor_kw: float, config: OpenAdrConfigIn) -> Request | None:
    """What one interval asks (None: nothing). Raises ValueError for a payload the park cannot act on."""
    kind = signal.get("signal_type")
    if signal.get("signal_name") in SIMPLE_SIGNALS:
        level = int(round(payload))
        if abs(payload - level) > 1e-9 or not 0 <= level <= 3:
            raise ValueError(f"SIMPLE level {payload:g} is not 0, 1, 2 or 3")
        if level == 0:
            return None
        if level > len(config.simple_levels_kw):
            raise ValueError(f"SIMPLE level {level} has no reduction in the park's simple_levels_kw "
                             f"({len(config.simple_levels_kw)} levels given)")
        return "reduce", "reduce_by_kw", float(config.simple_levels_kw[level - 1])
    value_kw = payload * factor_kw
    if kind == "setpoint":
        if value_kw < 0:
            raise ValueError(f"a setpoint of {value_kw:g} kW is an export, which the park is not dispatched to")
        return "reduce", "max_import_kw", value_kw
    if abs(value_kw) < 1e-9:
        return None
    reduces = (value_kw > 0) == (config.positive_delta == "reduce")
    return ("reduce", "reduce_by_kw", abs(value_kw)) if reduces else ("increase", "increase_by_kw", abs(value_kw))


def map_event(event: dict, config: OpenAdrConfigIn, grid: StepGrid, now: dt.datetime) -> Mapping:
    """The demand-response events an OpenADR event (as openleadr parses it) asks of the park.

    Parameters
    ----------
    event : dict
        ``event_descriptor`` (``event_id``, ``modification_number``,
        ``event_status``, ``created_date_time``, ``test_event``),
        ``active_period`` (``dtstart``, ``duration``) and ``event_signals``
        (each ``signal_name``, ``signal_type``, ``intervals`` with
        ``dtstart``, ``duration`` and ``signal_payload``, optionally
        ``measurement``: the ``itemBase`` with ``unit`` and ``scale``).
    config : OpenAdrConfigIn
        The park's VEN settings (``positive_delta``, ``simple_levels_kw``,
        ``incentive_cny_per_kwh``).
    grid : StepGrid
        The park's step grid: each window is widened to it (start down, end up).
    now : datetime.datetime
        Windows that ended by then are left out.
    """
    descriptor = event.get("event_descriptor") or {}
    status = descriptor.get("event_status")
    if status == "cancelled":
        return Mapping("cancel", "cancelled by the VTN")
    test = descriptor.get("test_event")
    if test not in (None, False) and str(test).lower() != "false":
        return Mapping("ignore", "a test event: answered, not planned")
    signals = _signals(event)
    labels = ", ".join(_signal_label(s) for s in signals) or "none"
    usable = [s for s in signals if _is_mappable(s, config)]
    if not usable:
        simple = " and SIMPLE/level (with simple_levels_kw)" if not config.simple_levels_kw else " and SIMPLE/level"
        return Mapping("ignore", f"no signal the park can act on (got {labels}); it acts on LOAD_DISPATCH/setpoint, "
                                 f"LOAD_DISPATCH/delta{simple}")
    if len(usable) > 1:
        return Mapping("ignore", f"more than one dispatch signal ({', '.join(_signal_label(s) for s in usable)}); "
                                 "the park acts on one per event")
    signal = usable[0]
    label = _signal_label(signal)
    period = event.get("active_period") or {}
    cursor = period.get("dtstart")
    spans: list[tuple[pd.Timestamp, pd.Timestamp, Request | None]] = []
    try:
        for interval in signal.get("intervals") or []:
            start = interval.get("dtstart") or cursor
            duration = interval.get("duration")
            if start is None or duration is None or duration <= dt.timedelta(0):
                raise ValueError("an interval without a start or a positive duration (open-ended events are not "
                                 "planned)")
            if start.tzinfo is None:
                raise ValueError(f"interval start {start.isoformat()} has no UTC offset")
            factor = power_factor_kw(signal.get("measurement"), duration)
            request = _request(signal, float(interval["signal_payload"]), factor, config)
            spans.append((pd.Timestamp(start), pd.Timestamp(start + duration), request))
            cursor = start + duration
    except (ValueError, TypeError, KeyError) as exc:
        return Mapping("ignore", f"{label}: {exc}", label)
    if not spans:
        return Mapping("ignore", f"{label}: the signal has no intervals", label)
    if spans[-1][1] <= pd.Timestamp(now):
        return Mapping("ignore", "the event is over", label, withdraw=False)
    merged: list[list] = []
    for start, end, request in spans:
        if merged and merged[-1][2] == request and merged[-1][1] == start:
            merged[-1][1] = end
        else:
            merged.append([start, end, request])
    windows = [(start, end, request) for start, end, request in merged if request is not None]
    if len(windows) > MAX_WINDOWS:
        return Mapping("ignore", f"{label}: {len(windows)} different requests in one event, more than the "
                                 f"{MAX_WINDOWS} the park plans", label)
    created = descriptor.get("created_date_time") or now
    bodies, numbers = [], []
    for number, (start, end, (kind, field, amount_kw)) in enumerate(windows, start=1):
        if end <= pd.Timestamp(now):
            continue
        try:
            body = EventIn(kind=kind, start=grid.floor(start).to_pydatetime(), end=grid.ceil(end).to_pydatetime(),
                           incentive_cny_per_kwh=config.incentive_cny_per_kwh, notified_at=created,
                           **{field: amount_kw})
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return Mapping("ignore", f"{label}: {reasons}", label)
        errors = body.errors()
        if errors:
            return Mapping("ignore", f"{label}: " + "; ".join(f"{e['field']}: {e['reason']}" for e in errors), label)
        bodies.append(body)
        numbers.append(number)
    if not windows:
        return Mapping("apply", f"{label}: asks no change", label)
    return Mapping("apply", f"{label}: {len(bodies)} window(s) to come of {len(windows)}", label, bodies, numbers,
                   len(windows))


def jsonable(value: Any) -> Any:
    """An openleadr message as JSON: times in ISO 8601, durations in seconds."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# --- the park's step grid ------------------------------------------------------------------------

@lru_cache(maxsize=16)
def _grid_of_file(path: str, size: int, mtime_ns: int, timezone: str) -> StepGrid:
    index = read_timestamped_csv(Path(path), "data.loads").index
    dt_h = step_hours(index, "data.loads")
    return StepGrid(anchor=index[0], step=pd.Timedelta(hours=dt_h), timezone=timezone)


def step_grid(settings, session, version) -> StepGrid:
    """The step grid of a park version's data (its loads file's index)."""
    park = park_from_dict(version.document)
    path = store.version_folder(settings, session, version) / park.data.loads
    stat = path.stat()
    return _grid_of_file(str(path), stat.st_size, stat.st_mtime_ns, park.site.timezone)


# --- one event, handled in a thread --------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Answer:
    """The VEN's answer to one OpenADR event."""

    opt: Literal["optIn", "optOut"]
    reason: str
    event_ids: list[str]


def _withdraw(session, settings, planner, park_id: str, event_ids: list[str], now: dt.datetime) -> list[str]:
    """Cancel the active demand-response events among ``event_ids`` whose window has not ended; their ids."""
    from service.api.db import EventRow
    from service.api.routes.events import withdraw_event

    cancelled = []
    for event_id in event_ids:
        row = session.get(EventRow, (park_id, event_id))
        if row is None or row.status != "active" or pd.Timestamp(row.body["end"]) <= pd.Timestamp(now):
            continue
        try:
            withdraw_event(session, settings, planner, park_id, event_id, None)
            cancelled.append(event_id)
        except (ProblemError, MicrogridError) as exc:
            session.rollback()
            logger.error("OpenADR: park %s: cancelling %s failed: %s", park_id, event_id,
                         getattr(exc, "detail", str(exc)))
    return cancelled


def _describe(answer: dict) -> str:
    return (f"delivery {answer['delivery']} ({answer['response_kwh']:.1f} of {answer['requested_kwh']:.1f} kWh, "
            f"share {answer['delivered_share']:.3f})")


def answer_event(session, settings, planner, park_id: str, config: OpenAdrConfigIn, event: dict,
                 now: dt.datetime | None = None) -> Answer:
    """Map an OpenADR event, apply or cancel its demand-response events, decide the opt; record it (committed).

    An event is answered once per modification number: the same version
    again (openleadr after a restart) gets the recorded answer. Blocking
    (re-plans in the worker pool): run it in a thread.
    """
    from service.api.routes.events import apply_event

    now = now or utc_now()
    descriptor = event.get("event_descriptor") or {}
    oadr_id = str(descriptor.get("event_id"))
    modification = int(descriptor.get("modification_number") or 0)
    record = session.get(OpenAdrEventRow, (park_id, oadr_id))
    if record is not None and record.opt is not None and record.modification_number == modification:
        # the same version of the event again (e.g. after a restart): the same answer, no re-plan
        return Answer(record.opt, record.reason, list(record.event_ids))
    previous = list(record.event_ids) if record is not None else []
    try:
        grid = step_grid(settings, session, store.get_version(session, park_id))
    except (ProblemError, MicrogridError, OSError) as exc:
        mapping = Mapping("ignore", f"the park's data cannot be read: {getattr(exc, 'detail', None) or exc}",
                          withdraw=False)
    else:
        mapping = map_event(event, config, grid, now)
    event_ids = previous
    if mapping.action == "cancel":
        cancelled = _withdraw(session, settings, planner, park_id, previous, now)
        answer = Answer("optIn", f"cancelled by the VTN; demand-response events cancelled: "
                                 f"{', '.join(cancelled) or 'none'}", previous)
    elif mapping.action == "ignore":
        if mapping.withdraw:
            _withdraw(session, settings, planner, park_id, previous, now)
        answer = Answer("optOut", mapping.reason, previous)
    else:
        event_ids = mapping.event_ids(oadr_id)
        _withdraw(session, settings, planner, park_id, [i for i in previous if i not in event_ids], now)
        deliveries, failure = [], None
        for event_id, body in zip(event_ids, mapping.windows):
            try:
                row, _ = apply_event(session, settings, planner, park_id, event_id, body, None)
            except (ProblemError, MicrogridError) as exc:
                session.rollback()
                failure = f"planning {event_id} failed: {getattr(exc, 'detail', None) or exc}"
                break
            deliveries.append(f"{event_id}: {_describe(row.answer)}")
            if row.answer["delivery"] == "none":
                failure = f"{event_id} cannot be delivered: {_describe(row.answer)}"
                break
        if failure is None:
            answer = Answer("optIn", "; ".join([mapping.reason, *deliveries]), event_ids)
        else:
            _withdraw(session, settings, planner, park_id, event_ids, now)
            answer = Answer("optOut", f"{mapping.reason}; {failure}", event_ids)
    record = session.get(OpenAdrEventRow, (park_id, oadr_id))
    if record is None:
        record = OpenAdrEventRow(park_id=park_id, oadr_event_id=oadr_id, received_at=now)
        session.add(record)
    record.modification_number = modification
    record.status = str(descriptor.get("event_status") or "")
    record.event_ids, record.opt, record.reason = answer.event_ids, answer.opt, answer.reason
    record.received, record.updated_at = jsonable(event), utc_now()
    session.commit()
    log = logger.info if answer.opt == "optIn" else logger.warning
    log("OpenADR: park %s: event %s (modification %s, %s): %s, %s", park_id, oadr_id,
        record.modification_number, mapping.signal or record.status, answer.opt, answer.reason)
    return answer


def new_demand(session, park_id: str, after_id: int | None) -> tuple[int, dt.datetime, float] | None:
    """The newest measurement's (id, measured_at, net demand kW), unless it is ``after_id`` or has no demand."""
    row = measurements.latest(session, park_id)
    if row is None or row.id == after_id:
        return None
    park = park_from_dict(store.get_version(session, park_id).document)
    demand_kw = measurements.metered_demand_kw(row, has_storage=bool(park.batteries))
    if demand_kw is None:
        return None
    return row.id, row.measured_at, demand_kw


# --- the VEN clients on the event loop -----------------------------------------------------------

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


def recent_events(session, park_id: str, limit: int = RECENT_EVENTS) -> list[OpenAdrEventRow]:
    """The OpenADR events a park's VEN answered last, newest first."""
    query = (select(OpenAdrEventRow).where(OpenAdrEventRow.park_id == park_id)
             .order_by(OpenAdrEventRow.updated_at.desc()).limit(limit))
    return list(session.scalars(query))


__all__ = ["Answer", "Mapping", "ParkVen", "StepGrid", "VenManager", "VenStatus", "answer_event", "map_event",
           "new_demand", "power_factor_kw", "recent_events", "service_event_id", "step_grid"]
