"""The kinds of event a park publishes, the shape they are sent in, and which a webhook's ``kinds`` lets through."""

from __future__ import annotations

from typing import Any, Literal, get_args

from service.api.db import NotificationRow

Kind = Literal["plan.created", "alert.opened", "alert.acknowledged", "alert.resolved"]
KINDS: tuple[str, ...] = get_args(Kind)
"""The kinds of event (``X-Microgrid-Event``, the stream's ``event:``); a new kind is added here."""
KindFilter = Literal[Kind, "plan.*", "alert.*"]
"""What a webhook's ``kinds`` may list: a kind, or every kind of a family."""


def matches(filters: list[str], kind: str) -> bool:
    """Whether a webhook with ``kinds`` ``filters`` gets ``kind``: empty gets all, ``alert.*`` every ``alert.`` kind.

    Examples
    --------
    >>> matches([], "plan.created"), matches(["alert.*"], "alert.resolved"), matches(["alert.opened"], "plan.created")
    (True, True, False)
    """
    return not filters or any(f == kind or (f.endswith(".*") and kind.startswith(f[:-1])) for f in filters)


def event_body(row: NotificationRow) -> dict[str, Any]:
    """The event as streams and webhooks send it: ``id``, ``kind``, ``park_id``, ``created_at`` (UTC), ``data``."""
    return {"id": row.id, "kind": row.kind, "park_id": row.park_id, "created_at": row.created_at.isoformat(),
            "data": row.data}
