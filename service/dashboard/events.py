"""Demand-response events (``/events``): the park's events, the answer to one, and the form to announce or cancel one.

The forms go through the events routes (``put_event``, ``cancel_event``):
the same validation and re-plan; a problem's errors are shown next to their
fields.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select

from microgrid import errors as mg
from microgrid.messages import Message
from service.api.db import EventRow, PlanRow
from service.api.deps import PlannerDep, SessionDep, SettingsDep
from service.api.problems import ProblemError
from service.api.routes.events import cancel_event, put_event
from service.api.schemas import PARK_ID_PATTERN, EventIn
from service.dashboard import charts
from service.dashboard.pages import Page, PageDep, figure_json, fmt, place_errors, plan_dt_h, problem_errors, render

router = APIRouter(include_in_schema=False)

AMOUNT_KINDS = ("max_import_kw", "reduce_by_kw", "increase_by_kw")
FORM_FIELDS = {"kind": "kind", "start": "start", "end": "end", "incentive_cny_per_kwh": "incentive",
               "notified_at": "notified_at", "event_id": "event_id", **{k: "amount" for k in AMOUNT_KINDS}}
"""The service's field names → the form's fields."""


def _local_input(stamp: dt.datetime, timezone: str) -> str:
    return stamp.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")


def _form_defaults(page: Page) -> dict[str, str]:
    """Tomorrow 19:00-21:00 at most 80 % of today's peak import (an evening peak-shaving request), notified now."""
    now = dt.datetime.now(ZoneInfo(page.timezone)).replace(second=0, microsecond=0)
    start = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(19), tzinfo=ZoneInfo(page.timezone))
    return {"event_id": "", "kind": "reduce", "start": _local_input(start, page.timezone),
            "end": _local_input(start + dt.timedelta(hours=2), page.timezone), "amount_kind": "max_import_kw",
            "amount": "", "incentive": "3.0", "notified_at": _local_input(now, page.timezone)}


def _events_context(page: Page, session, selected: str | None) -> dict[str, Any]:
    rows = list(session.scalars(select(EventRow).where(EventRow.park_id == page.park.id)
                                .order_by(EventRow.created_at.desc())))
    chosen = next((r for r in rows if r.id == selected), None) if selected else (rows[0] if rows else None)
    context: dict[str, Any] = {"events": rows, "chosen": chosen, "answer_figure": None,
                               "window": lambda body: (charts.local_time(body["start"], page.timezone) + " – "
                                                       + charts.local_time(body["end"], page.timezone)[11:]),
                               "amount": _amount_text}
    if chosen is not None and chosen.answer.get("steps"):
        plan = session.get(PlanRow, chosen.plan_id)
        figure = charts.event_figure(chosen.answer["steps"], chosen.body["kind"], page.timezone, plan_dt_h(plan),
                                     page.t, page.t("answer_title", event=chosen.id))
        context["answer_figure"] = figure_json(figure)
    return context


def _amount_text(body: dict) -> tuple[str, str]:
    """(catalogue key, value) of an event's amount."""
    for name in AMOUNT_KINDS:
        if body.get(name) is not None:
            return name, fmt(body[name])
    return "event_amount", "—"


@router.get("/events")
def events_page(page: PageDep, session: SessionDep, event: str | None = None) -> HTMLResponse:
    if page.park is None:
        return render(page, "empty.html", message="no_parks")
    return render(page, "events.html", form=_form_defaults(page), errors={}, general=None,
                  **_events_context(page, session, event))


def _parse_local(value: str, timezone: str) -> dt.datetime:
    stamp = dt.datetime.fromisoformat(value.strip())
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=ZoneInfo(timezone))
    return stamp


@router.post("/events")
def create_event(
    page: PageDep, session: SessionDep, settings: SettingsDep, planner: PlannerDep,
    kind: Annotated[str, Form()] = "", start: Annotated[str, Form()] = "", end: Annotated[str, Form()] = "",
    amount_kind: Annotated[str, Form()] = "", amount: Annotated[str, Form()] = "",
    incentive: Annotated[str, Form()] = "", notified_at: Annotated[str, Form()] = "",
    event_id: Annotated[str, Form()] = "",
) -> Response:
    """Announce a demand-response event through ``put_event``; field errors shown next to their fields."""
    if page.park is None:
        return RedirectResponse("/events", status_code=303)
    form = {"event_id": event_id, "kind": kind, "start": start, "end": end, "amount_kind": amount_kind,
            "amount": amount, "incentive": incentive, "notified_at": notified_at}
    t = page.t
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"kind": kind}
    for name, value in (("start", start), ("end", end), ("notified_at", notified_at)):
        if not value.strip():
            errors[name] = t("field_value_missing")
            continue
        try:
            body[name] = _parse_local(value, page.timezone).isoformat()
        except ValueError:
            errors[name] = t("field_not_a_time")
    for name, value, target in (("amount", amount, amount_kind if amount_kind in AMOUNT_KINDS else "max_import_kw"),
                                ("incentive", incentive, "incentive_cny_per_kwh")):
        if not value.strip():
            errors[name] = t("field_value_missing")
            continue
        try:
            body[target] = float(value)
        except ValueError:
            errors[name] = t("field_not_a_number")
    general = None
    if not errors:
        stamp = body["start"][:16].replace("-", "").replace(":", "").replace("T", "-")
        identifier = event_id.strip() or f"dash-{stamp}-{secrets.token_hex(2)}"
        try:
            answer = put_event(page.park.id, _event_id(identifier), EventIn.model_validate(body), Response(), session,
                               settings, planner, page.principal)
        except (ProblemError, mg.MicrogridError, ValidationError) as exc:
            session.rollback()
            general = place_errors(exc, FORM_FIELDS, errors, page.lang)
        else:
            return RedirectResponse(page.url("/events", event=answer.id), status_code=303)
    return render(page, "events.html", status_code=422, form=form, errors=errors,
                  general=general or t("form_invalid"), **_events_context(page, session, None))


def _event_id(identifier: str) -> str:
    """The event id as typed, checked against the service's path pattern (a field error otherwise)."""
    if not re.match(PARK_ID_PATTERN, identifier):
        raise ProblemError(Message("event_id: {identifier!r} is not an id; use 1-64 letters, digits, '_' and '-'",
                                   identifier=identifier),
                           errors=[{"field": "event_id", "reason": Message("use 1-64 letters, digits, '_' and '-'")}])
    return identifier


@router.post("/events/cancel")
def cancel(page: PageDep, session: SessionDep, settings: SettingsDep, planner: PlannerDep,
           event: Annotated[str, Form()]) -> Response:
    if page.park is None:
        return RedirectResponse("/events", status_code=303)
    try:
        cancel_event(page.park.id, event, session, settings, planner, page.principal)
    except (ProblemError, mg.MicrogridError) as exc:
        session.rollback()
        return render(page, "events.html", status_code=422, form=_form_defaults(page), errors={},
                      general=problem_errors(exc, page.lang)[0], **_events_context(page, session, event))
    return RedirectResponse(page.url("/events", event=event), status_code=303)
