"""One OpenADR event answered: its demand-response events applied or cancelled, the opt decided and recorded.

Also what the VEN reports (:func:`new_demand`) and lists
(:func:`recent_events`). Blocking (database, re-plans in the worker pool):
the VEN runs these in threads.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from sqlalchemy import select

from microgrid.case import park_from_dict
from microgrid.errors import MicrogridError
from microgrid.timeseries import read_timestamped_csv, step_hours
from service.api import measurements, store
from service.api.db import OpenAdrEventRow, utc_now
from service.api.openadr.mapping import Mapping, StepGrid, map_event
from service.api.problems import ProblemError
from service.api.schemas import OpenAdrConfigIn

logger = logging.getLogger(__name__)

RECENT_EVENTS = 20
"""OpenADR events listed in the status."""


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


def recent_events(session, park_id: str, limit: int = RECENT_EVENTS) -> list[OpenAdrEventRow]:
    """The OpenADR events a park's VEN answered last, newest first."""
    query = (select(OpenAdrEventRow).where(OpenAdrEventRow.park_id == park_id)
             .order_by(OpenAdrEventRow.updated_at.desc()).limit(limit))
    return list(session.scalars(query))
