"""Measurements of a park: checked against its current version, stored, and turned into a plan's start state.

A measurement is the metered state at one time: battery and thermal-store
contents [kWh], the month-to-date peak import [kW], optionally the metered PV
and load and the import and export at the point of common coupling [kW]
(:func:`metered_demand_kw`, what the OpenADR VEN reports). A plan request that gives no state starts from the newest
measurement taken at or before the plan's start (:func:`state_for_plan`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from microgrid.case import park_from_dict
from microgrid.park import Park
from service.api.db import MeasurementRow, ParkVersionRow, utc_now
from service.api.problems import InvalidInput, NotFound
from service.api.schemas import MeasurementCreate, MeasurementOut

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
    pv_rating_kw = sum(array.ac_capacity_kw for array in park.pv_arrays.values())
    if body.pv_kw is not None and body.pv_kw > pv_rating_kw + 1e-6:
        errors.append({"field": "pv_kw", "reason": f"{body.pv_kw:g} kW exceeds the PV arrays' AC rating "
                                                   f"{pv_rating_kw:g} kW"})
    if errors:
        raise InvalidInput("; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors=errors)


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
    demand charge's billing month); a plan in a later month starts from 0 kW.
    Devices a newer park version no longer has are left out.
    """
    zone = ZoneInfo(park.site.timezone)
    measured, begins = row.measured_at.astimezone(zone), start.astimezone(zone)
    same_month = (measured.year, measured.month) == (begins.year, begins.month)
    return {"soc_kwh": {k: v for k, v in row.soc_kwh.items() if k in park.batteries},
            "thermal_soc_kwh": {k: v for k, v in row.thermal_soc_kwh.items() if k in park.thermal_stores},
            "month_to_date_peak_kw": row.month_to_date_peak_kw if same_month else 0.0}


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
                          created_at=row.created_at)
