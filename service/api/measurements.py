"""Measurements of a park: checked against its current version, stored, and turned into a plan's start state.

A measurement is the metered state at one time: battery and thermal-store
contents [kWh], the month-to-date peak import [kW], optionally the metered PV
and load and the import and export at the point of common coupling [kW]
(:func:`metered_demand_kw`, what the OpenADR VEN reports) and the state of
the flexible loads (batch runs done and in progress, energy delivered to
sessions, shedding used, energy shifted). A plan request that gives no state starts from the newest
measurement taken at or before the plan's start (:func:`state_for_plan`).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from microgrid.case import park_from_dict
from microgrid.park import Park
from service.api.db import MeasurementRow, ParkVersionRow, utc_now
from service.api.problems import InvalidInput, NotFound
from service.api.schemas import FLEXIBLE_KINDS, FLEXIBLE_STATE_FIELDS, MeasurementCreate, MeasurementOut

TOLERANCE_KWH = 1e-6


def check_measurement(document: dict, body: MeasurementCreate) -> None:
    """422 naming every field whose device id is not the park's or whose value is outside the device's bounds.

    Bounds: a store's content within ``[min_soc_kwh, max_soc_kwh]`` (the range
    a plan may start from); metered PV at most the arrays' AC rating.
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
                               "reason": f"the park has no device {device_id!r} here; its ids: {known}"})
            elif not device.min_soc_kwh - TOLERANCE_KWH <= value <= device.max_soc_kwh + TOLERANCE_KWH:
                errors.append({"field": f"{field}.{device_id}",
                               "reason": f"{value:g} kWh is outside the bounds [{device.min_soc_kwh:g}, "
                                         f"{device.max_soc_kwh:g}] kWh"})
    errors += _flexible_errors(park, body)
    pv_rating_kw = sum(array.ac_capacity_kw for array in park.pv_arrays.values())
    if body.pv_kw is not None and body.pv_kw > pv_rating_kw + 1e-6:
        errors.append({"field": "pv_kw", "reason": f"{body.pv_kw:g} kW exceeds the PV arrays' AC rating "
                                                   f"{pv_rating_kw:g} kW"})
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


def add_measurement(session: Session, version: ParkVersionRow, body: MeasurementCreate,
                    key_id: int | None) -> MeasurementRow:
    """Check ``body`` against ``version`` and store it; committed."""
    check_measurement(version.document, body)
    offset = body.measured_at.utcoffset() or dt.timedelta(0)
    row = MeasurementRow(park_id=version.park_id, park_version=version.version,
                         measured_at=body.measured_at.astimezone(dt.timezone.utc),
                         measured_offset_min=round(offset.total_seconds() / 60),
                         soc_kwh=body.soc_kwh, thermal_soc_kwh=body.thermal_soc_kwh,
                         month_to_date_peak_kw=body.month_to_date_peak_kw, pv_kw=body.pv_kw, load_kw=body.load_kw,
                         grid_import_kw=body.grid_import_kw, grid_export_kw=body.grid_export_kw,
                         flexible_state={name: getattr(body, name) for name in FLEXIBLE_STATE_FIELDS},
                         created_at=utc_now(), created_by_key_id=key_id)
    session.add(row)
    session.commit()
    return row


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
        raise NotFound(f"park {park_id!r} has no measurement yet; send one with POST /parks/{park_id}/measurements")
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
                          month_to_date_peak_kw=row.month_to_date_peak_kw, pv_kw=row.pv_kw, load_kw=row.load_kw,
                          grid_import_kw=row.grid_import_kw, grid_export_kw=row.grid_export_kw,
                          **{name: (row.flexible_state or {}).get(name) or {} for name in FLEXIBLE_STATE_FIELDS},
                          created_at=row.created_at)
