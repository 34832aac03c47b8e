"""Operator alerts: the rules of a park's ``alerts:`` section, evaluated on its measurements and plans.

An alert is one rule's finding about one subject (a battery, an event, the
contract limit, ...). It is kept in the ``alerts`` table through its life::

    open ──acknowledge──▶ acknowledged ──┐
      │                                  ├──▶ resolved (auto: the cause cleared; manual)
      └──────────────────────────────────┘

While an alert of a rule and subject is open or acknowledged (its
``dedup_key``, ``rule:subject``), the same cause raises no other: the alert's
``value``, ``cny_at_stake`` and ``last_seen_at`` follow the newest evaluation.
A rule that is evaluated and no longer finds its subject resolves the alert
(``resolution`` ``auto``); a rule that cannot be evaluated (no plan covering
the measurement, no meter) leaves its alerts as they are.

Every change (``opened``, ``acknowledged``, ``resolved``) goes through
:func:`on_alert_change`, once it is committed: it logs the change and calls
the functions in :data:`LISTENERS`.

The rules (thresholds and defaults: :mod:`microgrid.alerts`) see the park's
newest measurement taken by the evaluation's clock and the plan in force at
its time (:func:`service.api.adherence.plan_in_force`). An alert opened by a
rule with ``replan: true`` makes one intraday re-plan of the park from its
newest measurement (the ``POST /parks/{id}/plans/intraday`` route's function),
recorded in ``replan_plan_id``, or why it failed in ``replan_error``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from microgrid import errors as mg
from microgrid.alerts import ALERT_RULES
from microgrid.case import park_from_dict
from microgrid.messages import Message
from microgrid.park import Park
from service.api import measurements, notify, store
from service.api.adherence import (PlanSteps, measured_import_kw, plan_in_force, planned_store_kwh,
                                   plans_overlapping)
from service.api.commitments import active_rows
from service.api.db import AlertRow, MeasurementRow, ParkRow, PlanRow, utc_now
from service.api.problems import Conflict, NotFound, ProblemError
from service.api.routes.plans import create_intraday_plan
from service.api.schemas import IntradayPlanCreate
from service.api.security import Principal

logger = logging.getLogger(__name__)

ACTIVE = ("open", "acknowledged")
STATUSES = ("open", "acknowledged", "resolved")

LISTENERS: list[Callable[[Session, AlertRow, str], None]] = []
"""Called with (session, alert, change) after every change of an alert, after it is published."""

RESPONSE_PRINCIPAL = Principal(key_id=None, name="alert response", is_admin=True)
"""Who makes the re-plans of alerts with ``replan: true``."""


def publish_change(session: Session, alert_row: AlertRow, change: str) -> None:
    """Publish the change as the park's event ``alert.<change>`` (its webhooks and live streams), committed."""
    notify.publish(alert_row.park_id, f"alert.{change}", {
        "alert_id": alert_row.id, "rule": alert_row.rule, "subject": alert_row.subject, "status": alert_row.status,
        "message": alert_row.message, "value": alert_row.value, "threshold": alert_row.threshold,
        "unit": alert_row.unit, "cny_at_stake": alert_row.cny_at_stake, "opened_at": alert_row.opened_at,
        "acknowledged_at": alert_row.acknowledged_at, "acknowledged_by": alert_row.acknowledged_by,
        "resolved_at": alert_row.resolved_at, "resolution": alert_row.resolution,
        "href": f"/parks/{alert_row.park_id}/alerts/{alert_row.id}"}, session=session)
    session.commit()


def on_alert_change(session: Session, alert_row: AlertRow, change: str) -> None:
    """The one place an alert's change passes: ``opened``, ``acknowledged`` or ``resolved``, after its commit.

    Logs it, publishes it (:func:`publish_change`: webhooks and live streams)
    and calls each of :data:`LISTENERS`; a listener that fails is logged and
    does not stop the others or the change.
    """
    logger.info("alert %s of park %s %s: %s %s (%s)", alert_row.id, alert_row.park_id, change, alert_row.rule,
                alert_row.subject, alert_row.message)
    try:
        publish_change(session, alert_row, change)
    except Exception:  # a notification must not undo or stop the change
        session.rollback()
        logger.exception("alert %s: publishing %s failed", alert_row.id, change)
    for listener in LISTENERS:
        try:
            listener(session, alert_row, change)
        except Exception:  # a subscriber's failure is its own
            logger.exception("alert listener %r failed on alert %s", listener, alert_row.id)


@dataclass
class Finding:
    """What a rule found about one subject."""

    rule: str
    subject: str
    message: str
    value: float | None
    threshold: float | None
    unit: str
    cny_at_stake: float | None = None
    details: dict = field(default_factory=dict)


@dataclass
class Judged:
    """A rule's findings when it judged only some subjects: the alerts of the others stay as they are."""

    findings: list[Finding]
    subjects: set[str]


@dataclass
class Context:
    """What the rules look at: the park, the clock, its newest measurement and the plan in force then."""

    session: Session
    park_id: str
    park: Park
    now: dt.datetime
    measurement: MeasurementRow | None
    registered_at: dt.datetime
    plan: PlanSteps | None = None
    latest_plan: PlanRow | None = None

    @property
    def step(self) -> int | None:
        if self.plan is None or self.measurement is None:
            return None
        return self.plan.index_at(self.measurement.measured_at)


# --------------------------------------------------------------------------- the rules
# Each returns None when it cannot be evaluated (its alerts then stay as they are), else its findings (every
# subject judged: an alert whose subject is not found is resolved) or Judged (only those subjects judged).


def rule_import_limit(ctx: Context) -> list[Finding] | None:
    """Import near the contract limit or the month-to-date peak; at stake: rate × max(0, import − peak)."""
    rule, row = ctx.park.alerts.import_limit, ctx.measurement
    imported = None if row is None else measured_import_kw(row, bool(ctx.park.batteries))
    if imported is None:
        return None
    rate = ctx.park.tariff.demand_charge_cny_per_kw_month
    found = []
    limit_kw = ctx.park.grid.max_import_kw
    if imported >= (1 - rule.margin_frac) * limit_kw:
        found.append(Finding("import_limit", "contract_limit",
                             f"import {imported:g} kW is within {rule.margin_frac:.0%} of the contract limit "
                             f"grid.max_import_kw {limit_kw:g} kW", imported, (1 - rule.margin_frac) * limit_kw,
                             "kW", None, {"limit_kw": limit_kw}))
    peak_kw = row.month_to_date_peak_kw
    if peak_kw > 0 and imported >= (1 - rule.margin_frac) * peak_kw:
        excess_kw = max(0.0, imported - peak_kw)
        found.append(Finding("import_limit", "month_peak",
                             f"import {imported:g} kW is within {rule.margin_frac:.0%} of the month-to-date peak "
                             f"{peak_kw:g} kW: each kW above it adds {rate:g} CNY to the month's demand charge",
                             imported, (1 - rule.margin_frac) * peak_kw, "kW", round(excess_kw * rate, 6),
                             {"month_to_date_peak_kw": peak_kw, "excess_kw": excess_kw,
                              "demand_charge_cny_per_kw_month": rate}))
    return found


def _answer_steps(event_row) -> tuple[list[dt.datetime], list[dt.datetime], list[dict]]:
    steps = event_row.answer.get("steps", [])
    starts = [dt.datetime.fromisoformat(s["timestamp"]) for s in steps]
    ends = starts[1:] + [dt.datetime.fromisoformat(event_row.body["end"])]
    return starts, ends, steps


def _shortfall_kw(event: dict, step: dict, import_kw: float) -> tuple[float, float]:
    """How far ``import_kw`` misses the event's commitment at ``step`` [kW], and the committed limit."""
    if event["kind"] == "reduce":
        cap = event["max_import_kw"] if event.get("max_import_kw") is not None else max(
            0.0, step["baseline_import_kw"] - event["reduce_by_kw"])
        return import_kw - cap, cap
    floor = step["baseline_import_kw"] + event["increase_by_kw"]
    return floor - import_kw, floor


def rule_demand_response(ctx: Context) -> list[Finding] | None:
    """An active event's commitment missed by the measured import now, or by the plan's import still to come."""
    tolerance_kw = ctx.park.alerts.demand_response.tolerance_kw
    row = ctx.measurement
    t0 = row.measured_at if row is not None else ctx.now
    imported = None if row is None else measured_import_kw(row, bool(ctx.park.batteries))
    found = []
    for event_row in active_rows(ctx.session, ctx.park_id):
        event = event_row.body
        starts, ends, steps = _answer_steps(event_row)
        worst: tuple[float, float, str, dt.datetime, float] | None = None
        for start, end, step in zip(starts, ends, steps):
            candidates = []
            if imported is not None and start <= t0 < end:
                candidates.append(("measured", imported))
            if ctx.plan is not None and start >= t0:
                k = ctx.plan.index_at(start)
                if k is not None:
                    candidates.append(("planned", float(ctx.plan.row(k).get("grid_import_kw", 0.0))))
            for source, value in candidates:
                short, limit = _shortfall_kw(event, step, value)
                if short > tolerance_kw and (worst is None or short > worst[0]):
                    worst = (short, limit, source, start, value)
        if worst is not None:
            short, limit, source, start, value = worst
            found.append(Finding("demand_response", event_row.id,
                                 f"event {event_row.id!r}: the {source} import {value:g} kW at {start.isoformat()} "
                                 f"misses the committed {limit:g} kW by {short:g} kW", value, limit, "kW", None,
                                 {"source": source, "step": start.isoformat(), "shortfall_kw": short,
                                  "kind": event["kind"]}))
    return found


def rule_soc_band(ctx: Context) -> Judged | None:
    """A store's measured content outside the plan's ± ``tolerance_frac`` × capacity at the measurement's time."""
    if ctx.step is None:
        return None
    tolerance = ctx.park.alerts.soc_band.tolerance_frac
    row, found, judged = ctx.measurement, [], set()
    for stores, suffix, measured in ((ctx.park.batteries, "soc_kwh", row.soc_kwh),
                                     (ctx.park.thermal_stores, "soc_th_kwh", row.thermal_soc_kwh)):
        for device, value in (measured or {}).items():
            if device not in stores:
                continue
            planned = planned_store_kwh(ctx.plan, ctx.park, device, row.measured_at)
            band_kwh = tolerance * stores[device].capacity_kwh
            if planned is not None:
                judged.add(device)
            if planned is not None and abs(value - planned) > band_kwh + 1e-9:
                found.append(Finding("soc_band", device,
                                     f"{device}: measured {value:g} kWh, the plan has {planned:.1f} kWh "
                                     f"± {band_kwh:g} kWh at {row.measured_at_local.isoformat()}", value, band_kwh,
                                     "kWh", None, {"planned_kwh": round(planned, 6),
                                                   "deviation_kwh": round(value - planned, 6)}))
    return Judged(found, judged)


def rule_stale_measurements(ctx: Context) -> list[Finding] | None:
    """No measurement for ``max_age_min`` (counted from the park's registration before the first one)."""
    max_age = ctx.park.alerts.stale_measurements.max_age_min
    since = ctx.measurement.measured_at if ctx.measurement is not None else ctx.registered_at
    age_min = (ctx.now - since).total_seconds() / 60
    if age_min <= max_age:
        return []
    what = "no measurement yet" if ctx.measurement is None else f"the newest measurement is {age_min:.0f} min old"
    return [Finding("stale_measurements", "measurements", f"{what} (more than {max_age:g} min)",
                    round(age_min, 3), max_age, "min", None, {"since": since.isoformat()})]


def rule_renewables(ctx: Context) -> Judged | None:
    """Measured PV (wind) below ``min_ratio`` of the plan's available PV (wind) while the plan expected at least
    ``min_expected_frac`` of the arrays' AC rating (the turbines' nameplate); at stake: the missing energy over
    the step at the step's import price."""
    if ctx.step is None:
        return None
    rule, planned_row, row = ctx.park.alerts.renewables, ctx.plan.row(ctx.step), ctx.measurement
    sources = (("pv", row.pv_kw, "pv_available_kw", sum(a.ac_capacity_kw for a in ctx.park.pv_arrays.values())),
               ("wind", row.wind_kw, "wind_available_kw", ctx.park.wind_nameplate_kw))
    judged = [(name, measured, column, rating_kw) for name, measured, column, rating_kw in sources
              if measured is not None and rating_kw > 0 and column in planned_row]
    if not judged:
        return None
    dt_h = ctx.plan.dt_h(ctx.step)
    price = float(planned_row.get("price_import_cny_per_kwh", 0.0))
    found = []
    for name, measured, column, rating_kw in judged:
        planned = float(planned_row[column])
        if planned <= 0 or planned < rule.min_expected_frac * rating_kw:
            continue
        ratio = measured / planned
        if ratio < rule.min_ratio:
            found.append(Finding("renewables", name, f"{name.upper() if name == 'pv' else 'wind'} {measured:g} kW is "
                                 f"{ratio:.0%} of the {planned:.1f} kW the plan expected (alert below "
                                 f"{rule.min_ratio:.0%})", round(ratio, 6), rule.min_ratio, "ratio",
                                 round((planned - measured) * dt_h * price, 6),
                                 {"planned_kw": planned, "measured_kw": measured, "dt_h": dt_h}))
    return Judged(found, {name for name, *_ in judged})


NETWORK_CHECKS = (("min_vm_pu", "min_vm_pu", -1), ("max_vm_pu", "max_vm_pu", 1),
                  ("max_line_loading_pct", "max_line_loading_pct", 1),
                  ("max_trafo_loading_pct", "max_trafo_loading_pct", 1))
"""Plan KPI, the network's limit of the same name, and the side the limit is on (-1: a lower bound)."""


def rule_network_limits(ctx: Context) -> list[Finding] | None:
    """The latest plan's AC check within the margins of the network's voltage and loading limits."""
    plan = ctx.latest_plan
    if plan is None or not ctx.park.network.described or "max_vm_pu" not in plan.kpis:
        return None
    rule, network, found = ctx.park.alerts.network_limits, ctx.park.network, []
    for kpi, limit_name, side in NETWORK_CHECKS:
        value, limit = plan.kpis.get(kpi), getattr(network, limit_name)
        if value is None:
            continue
        margin = rule.voltage_margin_pu if kpi.endswith("vm_pu") else rule.loading_margin_pct
        gap = (limit - value) * side
        if gap <= margin:
            found.append(Finding("network_limits", kpi, f"plan {plan.id}: {kpi} {value:g} is within {margin:g} of "
                                 f"network.{limit_name} {limit:g}", float(value), float(limit),
                                 "pu" if kpi.endswith("vm_pu") else "%", None, {"plan_id": plan.id}))
    return found


RULES: dict[str, Callable[[Context], list[Finding] | Judged | None]] = {
    "import_limit": rule_import_limit, "demand_response": rule_demand_response, "soc_band": rule_soc_band,
    "stale_measurements": rule_stale_measurements, "renewables": rule_renewables,
    "network_limits": rule_network_limits}
RULES = {name: RULES[name] for name in ALERT_RULES}  # the order of microgrid.alerts


# --------------------------------------------------------------------------- the lifecycle


def active_alerts(session: Session, park_id: str, rule: str | None = None) -> list[AlertRow]:
    query = select(AlertRow).where(AlertRow.park_id == park_id, AlertRow.status.in_(ACTIVE))
    if rule is not None:
        query = query.where(AlertRow.rule == rule)
    return list(session.scalars(query.order_by(AlertRow.id)))


def open_alert(session: Session, park_id: str, finding: Finding, now: dt.datetime,
               measurement_id: int | None, plan_id: int | None) -> AlertRow:
    row = AlertRow(park_id=park_id, rule=finding.rule, subject=finding.subject,
                   dedup_key=f"{finding.rule}:{finding.subject}", status="open", opened_at=now, last_seen_at=now,
                   measurement_id=measurement_id, plan_id=plan_id)
    _update(row, finding, now)
    session.add(row)
    session.flush()
    return row


def _update(row: AlertRow, finding: Finding, now: dt.datetime) -> None:
    row.message, row.value, row.threshold, row.unit = finding.message, finding.value, finding.threshold, finding.unit
    row.cny_at_stake, row.details, row.last_seen_at = finding.cny_at_stake, finding.details, now


def acknowledge(session: Session, row: AlertRow, principal: Principal) -> AlertRow:
    """open → acknowledged, by the caller's key (again: unchanged); a resolved alert: 409. Committed."""
    if row.status == "resolved":
        raise Conflict(Message("alert {id} was resolved at {resolved_at}; only an open alert can be acknowledged",
                               id=row.id, resolved_at=row.resolved_at.isoformat()),
                       errors=[{"field": "alert_id", "reason": Message("already resolved")}])
    changed = row.status == "open"
    if changed:
        row.status, row.acknowledged_at = "acknowledged", utc_now()
        row.acknowledged_by_key_id, row.acknowledged_by = principal.key_id, principal.name
    session.commit()
    if changed:
        on_alert_change(session, row, "acknowledged")
    return row


def resolve_by_hand(session: Session, row: AlertRow, principal: Principal) -> AlertRow:
    """open or acknowledged → resolved (``manual``) by the caller's key; a resolved alert: 409. Committed."""
    resolve(session, row, principal)
    session.commit()
    on_alert_change(session, row, "resolved")
    return row


def resolve(session: Session, row: AlertRow, principal: Principal | None, now: dt.datetime | None = None) -> AlertRow:
    """open or acknowledged → resolved: by a key (``manual``) or by an evaluation (``auto``, no principal).

    Not committed, and not yet passed to :func:`on_alert_change` (the caller does both).
    """
    if row.status == "resolved":
        raise Conflict(Message("alert {id} is already resolved (at {resolved_at})",
                               id=row.id, resolved_at=row.resolved_at.isoformat()),
                       errors=[{"field": "alert_id", "reason": Message("already resolved")}])
    row.status, row.resolved_at = "resolved", now or utc_now()
    row.resolution = "auto" if principal is None else "manual"
    row.resolved_by_key_id = None if principal is None else principal.key_id
    return row


def get_alert(session: Session, park_id: str, alert_id: int) -> AlertRow:
    row = session.get(AlertRow, alert_id)
    if row is None or row.park_id != park_id:
        raise NotFound(Message("park {park_id!r} has no alert {alert_id}; list them with GET "
                               "/parks/{park_id}/alerts",
                               park_id=park_id, alert_id=alert_id))
    return row


def list_alerts(session: Session, park_id: str, status: str | None, limit: int = 100, offset: int = 0) -> list[AlertRow]:
    """The park's alerts, newest first, optionally of one status."""
    query = select(AlertRow).where(AlertRow.park_id == park_id)
    if status is not None:
        query = query.where(AlertRow.status == status)
    return list(session.scalars(query.order_by(AlertRow.id.desc()).limit(limit).offset(offset)))


# --------------------------------------------------------------------------- evaluation


def context(session: Session, park_id: str, park: Park, now: dt.datetime) -> Context:
    measured = measurements.latest(session, park_id, at_or_before=now)
    park_row = session.get(ParkRow, park_id)
    ctx = Context(session, park_id, park, now, measured, park_row.created_at)
    if measured is not None:
        at = measured.measured_at
        plan = plan_in_force(plans_overlapping(session, park_id, at, at + dt.timedelta(seconds=1)), at)
        ctx.plan = PlanSteps.of(plan) if plan is not None else None
    ctx.latest_plan = session.scalars(select(PlanRow).where(PlanRow.park_id == park_id)
                                      .options(defer(PlanRow.schedule), defer(PlanRow.slack))
                                      .order_by(PlanRow.id.desc()).limit(1)).first()
    return ctx


def apply_findings(session: Session, ctx: Context) -> list[tuple[AlertRow, str]]:
    """Open, refresh and auto-resolve the park's alerts from every enabled rule (not committed).

    Returns the changes: (alert, ``opened`` or ``resolved``).
    """
    changes = []
    measurement_id = ctx.measurement.id if ctx.measurement is not None else None
    plan_id = ctx.plan.plan.id if ctx.plan is not None else None
    for name, evaluate_rule in RULES.items():
        active = {row.dedup_key: row for row in active_alerts(session, ctx.park_id, name)}
        result = evaluate_rule(ctx) if ctx.park.alerts.rule(name).enabled else []
        if result is None:
            continue
        findings, judged = (result.findings, result.subjects) if isinstance(result, Judged) else (result, None)
        for finding in findings:
            key = f"{finding.rule}:{finding.subject}"
            if key in active:
                _update(active.pop(key), finding, ctx.now)
            else:
                changes.append((open_alert(session, ctx.park_id, finding, ctx.now, measurement_id, plan_id),
                                "opened"))
        for row in active.values():
            if judged is None or row.subject in judged:
                changes.append((resolve(session, row, None, ctx.now), "resolved"))
    return changes


def evaluate_park(session: Session, settings, planner, park_id: str, now: dt.datetime | None = None) -> list[AlertRow]:
    """Evaluate the park's rules now (or at ``now``), committed; re-plan once if an opened alert asks for it.

    Returns the alerts opened by this evaluation.
    """
    now = now or utc_now()
    version = store.get_version(session, park_id)
    park = park_from_dict(version.document)
    changes = apply_findings(session, context(session, park_id, park, now))
    session.commit()
    for row, change in changes:
        on_alert_change(session, row, change)
    opened = [row for row, change in changes if change == "opened"]
    responding = [row for row in opened if park.alerts.rule(row.rule).replan]
    if responding:
        plan_id, error = replan(session, settings, planner, park_id)
        for row in responding:
            row.replan_plan_id, row.replan_error = plan_id, error
        session.commit()
    return opened


def replan(session: Session, settings, planner, park_id: str) -> tuple[int | None, str | None]:
    """An intraday re-plan of the park from its newest measurement: (plan id, None) or (None, why it failed)."""
    try:
        plan = create_intraday_plan(park_id, IntradayPlanCreate(), Response(), session, settings, planner,
                                    RESPONSE_PRINCIPAL)
    except (ProblemError, mg.MicrogridError) as exc:
        session.rollback()
        reason = exc.detail if isinstance(exc, ProblemError) else str(exc)
        logger.warning("the response re-plan of park %s failed: %s", park_id, reason)
        return None, reason
    return plan.id, None


def evaluate_all(factory, settings, planner, now: dt.datetime | None = None) -> int:
    """Evaluate every park (the periodic task); a park that fails is logged and skipped. Alerts opened."""
    session = factory()
    opened = 0
    try:
        for park_id in list(session.scalars(select(ParkRow.id))):
            try:
                opened += len(evaluate_park(session, settings, planner, park_id, now))
            except Exception:
                session.rollback()
                logger.exception("evaluating the alerts of park %s failed", park_id)
    finally:
        session.close()
    return opened
