"""Measurements of a park: checked against its current version, stored, and turned into a plan's start state.

A measurement is the metered state at one time: battery and thermal-store
contents [kWh], the month-to-date peak import [kW], optionally the metered PV,
wind and load, each heat pump's electric input and the import and export at
the point of common coupling [kW]
(:func:`metered_demand_kw`, what the OpenADR VEN reports) and the state of
the flexible loads (batch runs done and in progress, energy delivered to
sessions, shedding used, energy shifted). A plan request that gives no state starts from the newest
measurement taken at or before the plan's start (:func:`state_for_plan`).

``measured_at`` lies in the service's window (:mod:`service.api.validation`,
from 2000) and at most ``MICROGRID_MAX_MEASUREMENT_AHEAD_H`` after the
server's clock (:func:`check_measured_at`). An admin key lists, corrects
(:func:`replace_measurement`) and deletes (:func:`delete_measurement`) them.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from microgrid.case import park_from_dict
from microgrid.messages import Message
from microgrid.park import Park
from service.api.db import MeasurementRow, ParkVersionRow, PlanRow, utc_now
from service.api.problems import InvalidInput, NotFound
from service.api.measurement_schemas import FLEXIBLE_KINDS, FLEXIBLE_STATE_FIELDS, MeasurementCreate, MeasurementOut
from service.api.validation import EARLIEST_UTC, to_utc

TOLERANCE_KWH = 1e-6


def check_measurement(document: dict, body: MeasurementCreate) -> None:
    """422 naming every field whose device id is not the park's or whose value is outside the device's bounds.

    Bounds: a store's content within ``[min_soc_kwh, max_soc_kwh]`` (the range
    a plan may start from); metered PV at most the arrays' AC rating; a heat
    pump's metered electric input within ``[0, max_elec_kw]``.
    """
    park = park_from_dict(document)
    errors: list[dict[str, str]] = []
    for field, devices, values in (("soc_kwh", park.batteries, body.soc_kwh),
                                   ("thermal_soc_kwh", park.thermal_stores, body.thermal_soc_kwh)):
        for device_id, value in values.items():
            device = devices.get(device_id)
            if device is None:
                known = ", ".join(sorted(devices)) or "(none)"
                errors.append({"field": f"{field}.{device_id}",
                               "reason": Message("the park has no device {device_id!r} here; its ids: {known}",
                                                 device_id=device_id, known=known)})
            elif not device.min_soc_kwh - TOLERANCE_KWH <= value <= device.max_soc_kwh + TOLERANCE_KWH:
                errors.append({"field": f"{field}.{device_id}",
                               "reason": Message("{value:g} kWh is outside the bounds [{min_soc_kwh:g}, "
                                                 "{max_soc_kwh:g}] kWh",
                                                 value=value, min_soc_kwh=device.min_soc_kwh,
                                                 max_soc_kwh=device.max_soc_kwh)})
    for device_id, value in body.heat_pump_kw.items():
        heat_pump = park.heat_pumps.get(device_id)
        if heat_pump is None:
            known = ", ".join(sorted(park.heat_pumps)) or "(none)"
            errors.append({"field": f"heat_pump_kw.{device_id}",
                           "reason": Message("the park has no device {device_id!r} here; its ids: {known}",
                                             device_id=device_id, known=known)})
        elif not 0.0 <= value <= heat_pump.max_elec_kw + 1e-6:   # also false for a non-finite value
            errors.append({"field": f"heat_pump_kw.{device_id}",
                           "reason": Message("{value:g} kW is outside [0, {max_elec_kw:g}] kW, the heat pump's "
                                             "rated electric input (max_elec_kw)",
                                             value=value, max_elec_kw=heat_pump.max_elec_kw)})
    errors += _flexible_errors(park, body)
    pv_rating_kw = sum(array.ac_capacity_kw for array in park.pv_arrays.values())
    if body.pv_kw is not None and body.pv_kw > pv_rating_kw + 1e-6:
        errors.append({"field": "pv_kw", "reason": Message("{pv_kw:g} kW exceeds the PV arrays' AC rating "
                                                           "{pv_rating_kw:g} kW",
                                                           pv_kw=body.pv_kw, pv_rating_kw=pv_rating_kw)})
    if body.wind_kw is not None and body.wind_kw > park.wind_nameplate_kw + 1e-6:
        errors.append({"field": "wind_kw", "reason": Message("{wind_kw:g} kW exceeds the wind turbines' "
                                                             "nameplate {wind_nameplate_kw:g} kW",
                                                             wind_kw=body.wind_kw,
                                                             wind_nameplate_kw=park.wind_nameplate_kw)})
    if errors:
        raise InvalidInput("; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors=errors)


def _flexible_errors(park: Park, body: MeasurementCreate) -> list[dict[str, str]]:
    """The flexible loads' state: ids of the right kind, values within each device's daily limits."""
    errors: list[dict[str, str]] = []

    def bad(field: str, device_id: str, reason: str) -> None:
        errors.append({"field": f"{field}.{device_id}", "reason": reason})

    for field, kind in FLEXIBLE_KINDS.items():
        devices = getattr(park, kind)
        for device_id, value in getattr(body, field).items():
            device = devices.get(device_id)
            if device is None:
                known = ", ".join(sorted(devices)) or "(none)"
                bad(field, device_id, f"the park has no {kind} device {device_id!r}; its ids: {known}")
                continue
            if not math.isfinite(value):
                bad(field, device_id, "must be a finite number")
            elif field == "process_runs_done" and not 0 <= value <= device.runs_per_day:
                bad(field, device_id, f"{value} runs is outside [0, {device.runs_per_day}] (runs_per_day)")
            elif field == "process_running_h":
                if not 0 < value < device.run_h:
                    bad(field, device_id, f"{value:g} h is outside (0, {device.run_h:g}) h, the length of one run; "
                                          "leave the process out when no run is in progress")
                elif body.process_runs_done.get(device_id, 0) < 1:
                    bad(field, device_id, "a run is in progress, so process_runs_done must count it (at least 1)")
            elif field == "energy_delivered_kwh" and not 0 <= value <= device.energy_kwh + TOLERANCE_KWH:
                bad(field, device_id, f"{value:g} kWh is outside [0, {device.energy_kwh:g}] kWh (energy_kwh)")
            elif field == "shed_hours_used":
                most = device.max_shed_hours_per_day if device.max_shed_hours_per_day is not None else 24.0
                if not 0 <= value <= most + 1e-9:
                    bad(field, device_id, f"{value:g} h is outside [0, {most:g}] h a day")
            elif field == "shed_kwh_used":
                most = device.max_shed_kwh_per_day
                if value < 0 or (most is not None and value > most + TOLERANCE_KWH):
                    bad(field, device_id, f"{value:g} kWh is outside [0, {most if most is not None else 'inf'}] "
                                          "kWh a day")
    return errors


def check_measured_at(measured_at: dt.datetime, now: dt.datetime, ahead_h: float) -> None:
    """422 naming ``measured_at`` when it lies more than ``ahead_h`` hours [h] after ``now``.

    Its floor (2000-01-01T00:00Z) is checked with the request body (:data:`service.api.validation.Timestamp`).

    Examples
    --------
    >>> now = dt.datetime(2026, 7, 15, 12, tzinfo=dt.timezone.utc)
    >>> check_measured_at(now + dt.timedelta(hours=24), now, 24.0)
    >>> check_measured_at(now + dt.timedelta(hours=25), now, 24.0)
    Traceback (most recent call last):
    ...
    service.api.problems.InvalidInput: measured_at: must lie from 2000-01-01T00:00:00+00:00 to 24 h after the server's clock (MICROGRID_MAX_MEASUREMENT_AHEAD_H), now up to 2026-07-16T12:00:00+00:00; got 2026-07-16T13:00:00+00:00
    """
    latest_utc = now.astimezone(dt.timezone.utc) + dt.timedelta(hours=ahead_h)
    if to_utc(measured_at) > latest_utc:
        reason = (f"must lie from {EARLIEST_UTC.isoformat()} to {ahead_h:g} h after the server's clock "
                  f"(MICROGRID_MAX_MEASUREMENT_AHEAD_H), now up to {latest_utc.isoformat()}; "
                  f"got {measured_at.isoformat()}")
        raise InvalidInput(Message("measured_at: {reason}", reason=reason),
                           errors=[{"field": "measured_at", "reason": reason}])


def _fill(row: MeasurementRow, version: ParkVersionRow, body: MeasurementCreate) -> MeasurementRow:
    """Set every measured field of ``row`` from ``body``, checked against ``version``."""
    offset = body.measured_at.utcoffset() or dt.timedelta(0)
    row.park_id, row.park_version = version.park_id, version.version
    row.measured_at = body.measured_at.astimezone(dt.timezone.utc)
    row.measured_offset_min = round(offset.total_seconds() / 60)
    row.soc_kwh, row.thermal_soc_kwh = body.soc_kwh, body.thermal_soc_kwh
    row.month_to_date_peak_kw, row.pv_kw, row.load_kw = body.month_to_date_peak_kw, body.pv_kw, body.load_kw
    row.grid_import_kw, row.grid_export_kw = body.grid_import_kw, body.grid_export_kw
    row.wind_kw, row.heat_pump_kw = body.wind_kw, dict(body.heat_pump_kw)
    row.flexible_state = {name: getattr(body, name) for name in FLEXIBLE_STATE_FIELDS}
    return row


def add_measurement(session: Session, version: ParkVersionRow, body: MeasurementCreate,
                    key_id: int | None, ahead_h: float = 24.0) -> MeasurementRow:
    """Check ``body`` against ``version`` and the clock (at most ``ahead_h`` [h] ahead) and store it; committed."""
    check_measured_at(body.measured_at, utc_now(), ahead_h)
    check_measurement(version.document, body)
    row = _fill(MeasurementRow(created_at=utc_now(), created_by_key_id=key_id), version, body)
    session.add(row)
    session.commit()
    return row


def get_measurement(session: Session, park_id: str, measurement_id: int) -> MeasurementRow:
    """A measurement of the park, or 404."""
    row = session.get(MeasurementRow, measurement_id)
    if row is None or row.park_id != park_id:
        raise NotFound(Message("park {park_id!r} has no measurement {measurement_id}; list them with GET "
                               "/parks/{park_id}/measurements",
                               park_id=park_id, measurement_id=measurement_id))
    return row


def list_measurements(session: Session, park_id: str, measured_from: dt.datetime | None,
                      measured_to: dt.datetime | None, limit: int, offset: int) -> list[MeasurementRow]:
    """The park's measurements with ``measured_from <= measured_at <= measured_to``, newest first."""
    query = select(MeasurementRow).where(MeasurementRow.park_id == park_id)
    if measured_from is not None:
        query = query.where(MeasurementRow.measured_at >= measured_from.astimezone(dt.timezone.utc))
    if measured_to is not None:
        query = query.where(MeasurementRow.measured_at <= measured_to.astimezone(dt.timezone.utc))
    query = query.order_by(MeasurementRow.measured_at.desc(), MeasurementRow.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def replace_measurement(session: Session, row: MeasurementRow, version: ParkVersionRow, body: MeasurementCreate,
                        ahead_h: float = 24.0) -> MeasurementRow:
    """Correct a measurement: every field from ``body``, checked as a new one against ``version``; committed.

    Its id, ``created_at`` and sender stay; ``park_version`` becomes the one it was checked against.
    """
    check_measured_at(body.measured_at, utc_now(), ahead_h)
    check_measurement(version.document, body)
    _fill(row, version, body)
    session.commit()
    return row


def delete_measurement(session: Session, row: MeasurementRow) -> None:
    """Delete a measurement; the plans that started from it keep their schedule, their ``measurement_id`` is cleared."""
    session.execute(update(PlanRow).where(PlanRow.measurement_id == row.id).values(measurement_id=None))
    session.delete(row)
    session.commit()


def latest(session: Session, park_id: str, at_or_before: dt.datetime | None = None) -> MeasurementRow | None:
    """The newest measurement of a park (by ``measured_at``, then by arrival), optionally not after a time."""
    query = select(MeasurementRow).where(MeasurementRow.park_id == park_id)
    if at_or_before is not None:
        query = query.where(MeasurementRow.measured_at <= at_or_before.astimezone(dt.timezone.utc))
    return session.scalars(query.order_by(MeasurementRow.measured_at.desc(), MeasurementRow.id.desc())
                           .limit(1)).first()


def latest_or_404(session: Session, park_id: str) -> MeasurementRow:
    row = latest(session, park_id)
    if row is None:
        raise NotFound(Message("park {park_id!r} has no measurement yet; send one with POST "
                               "/parks/{park_id}/measurements",
                               park_id=park_id))
    return row


def state_for_plan(row: MeasurementRow, start: dt.datetime, park: Park) -> dict[str, Any]:
    """The plan-request state fields from a measurement, for a plan of ``park`` starting at ``start``.

    The month-to-date peak is carried only within the same local month (the
    demand charge's billing month). A plan in a later month starts from 0 kW
    when it starts at the first of its month at midnight; any later start of
    a month the measurements have not reached has no known peak (``None``:
    the plan's demand charge is then priced pro rata, see
    :class:`microgrid.tariff.DemandCharge`).
    The flexible loads' daily counters (runs done, shedding used) only within
    the same local day. What is in progress (a batch run, an energy session's
    delivery, energy shifted) is passed with ``measured_at``, and the worker
    carries it forward to the plan's start (:func:`service.api.jobs.plant_state`).
    Devices a newer park version no longer has are left out.
    """
    zone = ZoneInfo(park.site.timezone)
    measured, begins = row.measured_at.astimezone(zone), start.astimezone(zone)
    same_month = (measured.year, measured.month) == (begins.year, begins.month)
    state: dict[str, Any] = {
        "soc_kwh": {k: v for k, v in row.soc_kwh.items() if k in park.batteries},
        "thermal_soc_kwh": {k: v for k, v in row.thermal_soc_kwh.items() if k in park.thermal_stores},
        "month_to_date_peak_kw": row.month_to_date_peak_kw if same_month else (
            0.0 if (begins.day, begins.hour, begins.minute, begins.second) == (1, 0, 0, 0) else None)}
    flexible = row.flexible_state or {}
    if not any(flexible.values()):
        return state
    daily = ("process_runs_done", "shed_hours_used", "shed_kwh_used")
    for name, kind in FLEXIBLE_KINDS.items():
        if name in daily and measured.date() != begins.date():
            continue
        known = getattr(park, kind)
        values = {k: v for k, v in (flexible.get(name) or {}).items() if k in known}
        if values:
            state[name] = values
    state["measured_at"] = row.measured_at.isoformat()
    return state


def metered_demand_kw(row: MeasurementRow, has_storage: bool) -> float | None:
    """The park's net demand on the grid in a measurement [kW]: import − export (negative while exporting).

    From the meter at the point of common coupling when the measurement has
    it (``grid_import_kw`` and ``grid_export_kw``, the one not given taken as
    0); otherwise ``load_kw − pv_kw``, which is the grid exchange only
    while nothing is stored: with batteries (``has_storage``) that difference
    misses their charge and discharge, and the demand is unknown (None).
    None too without the meters it needs.

    Examples
    --------
    >>> row = MeasurementRow(grid_import_kw=612.5, grid_export_kw=None, load_kw=900.0, pv_kw=250.0)
    >>> metered_demand_kw(row, has_storage=True)
    612.5
    >>> metered_demand_kw(MeasurementRow(load_kw=900.0, pv_kw=250.0), has_storage=False)
    650.0
    >>> metered_demand_kw(MeasurementRow(load_kw=900.0, pv_kw=250.0), has_storage=True) is None
    True
    """
    if row.grid_import_kw is not None or row.grid_export_kw is not None:
        return (row.grid_import_kw or 0.0) - (row.grid_export_kw or 0.0)
    if row.load_kw is not None and row.pv_kw is not None and not has_storage:
        return row.load_kw - row.pv_kw
    return None


def measurement_out(row: MeasurementRow) -> MeasurementOut:
    return MeasurementOut(id=row.id, park_id=row.park_id, park_version=row.park_version,
                          measured_at=row.measured_at_local, soc_kwh=row.soc_kwh, thermal_soc_kwh=row.thermal_soc_kwh,
                          month_to_date_peak_kw=row.month_to_date_peak_kw, pv_kw=row.pv_kw, wind_kw=row.wind_kw, load_kw=row.load_kw,
                          grid_import_kw=row.grid_import_kw, grid_export_kw=row.grid_export_kw,
                          heat_pump_kw=row.heat_pump_kw or {},
                          **{name: (row.flexible_state or {}).get(name) or {} for name in FLEXIBLE_STATE_FIELDS},
                          created_at=row.created_at)
