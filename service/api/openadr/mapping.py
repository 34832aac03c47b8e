"""An OpenADR event as the park's demand-response events: signals, units, windows on the park's step grid.

Pure functions of the event (as openleadr parses it), the park's VEN settings
and its step grid: :func:`map_event` says what to do (:class:`Mapping`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from typing import Literal

import pandas as pd
from pydantic import ValidationError

from service.api.schemas import EventIn, OpenAdrConfigIn

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

Request = tuple[Literal["reduce", "increase"], str, float]
"""(kind, amount field of :class:`EventIn`, kW)."""


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
