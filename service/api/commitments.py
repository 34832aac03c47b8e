"""What a park has committed to: the import limits of its active demand-response events.

Kept apart from the events' routes so that the plans' routes can read the
commitments without importing the routes that answer the events.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from service.api.db import EventRow


def committed_limits(session, park_id: str, begins: dt.datetime) -> list[dict]:
    """The import limits the park's active events set, per step of their stored answers.

    What every later day-ahead and intraday plan of the park (from
    ``begins``: events that ended before are left out) keeps: a reduce
    event caps the import at ``max_import_kw``, or at the answer's baseline
    less ``reduce_by_kw``; an increase event asks at least the baseline plus
    ``increase_by_kw``. The baseline is the one of the event's answer, fixed
    when it was answered (as a settlement baseline is).
    """
    limits = []
    for row in active_rows(session, park_id):
        event = row.body
        if dt.datetime.fromisoformat(event["end"]) <= begins:
            continue
        for step in row.answer.get("steps", []):
            entry = {"event_id": row.id, "timestamp": step["timestamp"]}
            if event["kind"] == "reduce" and event.get("max_import_kw") is not None:
                entry["import_cap_kw"] = event["max_import_kw"]
            elif event["kind"] == "reduce":
                entry["import_cap_kw"] = max(0.0, step["baseline_import_kw"] - event["reduce_by_kw"])
            else:
                entry["min_import_kw"] = step["baseline_import_kw"] + event["increase_by_kw"]
            limits.append(entry)
    return limits


def active_rows(session, park_id: str, except_id: str | None = None) -> list[EventRow]:
    """The park's active events, but ``except_id``."""
    query = select(EventRow).where(EventRow.park_id == park_id, EventRow.status == "active")
    if except_id is not None:
        query = query.where(EventRow.id != except_id)
    return list(session.scalars(query))
