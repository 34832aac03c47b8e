"""The park's alerts (``/alerts``): open and recent ones, and the Acknowledge button.

Acknowledging goes through :func:`service.api.alerts.acknowledge`, the function
``POST /parks/{id}/alerts/{alert_id}/acknowledge`` calls: the same state
check and the same :func:`service.api.alerts.on_alert_change`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from service.api import alerts
from service.api.deps import SessionDep
from service.api.problems import ProblemError
from service.dashboard.pages import PageDep, problem_errors, render

router = APIRouter(include_in_schema=False)

RECENT_ALERTS = 50
"""Resolved alerts the page lists below the open ones."""


@router.get("/alerts")
def alerts_page(page: PageDep, session: SessionDep, error: str | None = None) -> HTMLResponse:
    if page.park is None:
        return render(page, "empty.html", message="no_parks")
    active = alerts.active_alerts(session, page.park.id)
    active.sort(key=lambda row: row.id, reverse=True)
    resolved = alerts.list_alerts(session, page.park.id, "resolved", limit=RECENT_ALERTS)
    return render(page, "alerts.html", active=active, resolved=resolved, error=error,
                  replans={name: page.model.alerts.rule(name).replan for name in alerts.RULES})


@router.post("/alerts/acknowledge")
def acknowledge(page: PageDep, session: SessionDep, alert: Annotated[str, Form(max_length=20)] = "") -> Response:
    """Acknowledge alert ``alert`` of the page's park by the signed-in key."""
    if page.park is None:
        return RedirectResponse("/alerts", status_code=303)
    try:
        row = alerts.get_alert(session, page.park.id, int(alert) if alert.isdigit() else 0)
        alerts.acknowledge(session, row, page.principal)
    except ProblemError as exc:
        session.rollback()
        return RedirectResponse(page.url("/alerts", error=problem_errors(exc)[0]), status_code=303)
    return RedirectResponse(page.url("/alerts"), status_code=303)
