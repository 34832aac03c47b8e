"""Plan against measurement: how far the park's metered state was from the plan in force, and what it cost.

The plan in force at a time is the newest optimal plan of the park whose
horizon covers it (day-ahead, intraday or event), else the newest plan
covering it (:func:`plan_in_force`). A step is compared when it has a
measurement: its newest one taken in ``[step start, step end)``.

Definitions (each figure is defined here only; ``schedule.csv`` of the plan
and the measurements are enough to recompute them):

* deviation of a quantity = measured − planned, at the step. Powers [kW]
  against the step's planned power (``grid_import_kw``, ``grid_export_kw``,
  ``pv_used_kw`` for the metered PV, ``wind_used_kw`` for the metered wind, ``load_kw``, and
  ``<hp>.elec_kw``, a heat pump's electric input, for its metered ``heat_pump_kw``); a store's content [kWh]
  against the planned content at the measurement's time, linear between the
  ends of the steps (the end of the first step for a time in it);
* mean absolute heat-pump deviation of a day = ``Σ |Δ<hp>.elec_kw| / n`` [kW]
  over the ``n`` (step, heat pump) pairs measured. It is not priced: what a
  heat pump draws more or less than planned is already in the import
  deviation, whose cost follows, and pricing it again would count it twice;
* a batch process's run: ``<id>.running`` 1 when the measurement has a run
  in progress (``process_running_h`` names it), 0 when it names the process
  in ``process_runs_done`` only, against 1 when the plan's ``<id>.load_kw``
  is above 0 at the step;
* import deviation energy ``ΔE_k = Δimport_k · dt_h`` [kWh], the measured power
  taken as held over the step;
* energy cost of the deviation ``C_k = ΔE_k · price_import_cny_per_kwh_k``
  [CNY], the price of the plan's schedule at the step (negative: less bought
  than planned);
* reference peak ``P_ref`` = max(the plan's month-to-date peak
  ``kpis.month_to_date_peak_kw`` or 0, the plan's largest planned import)
  [kW]: what the plan expected the month's demand charge to be billed on;
* demand-charge exposure of a step ``X_k = rate · max(0, import_k − P_ref)``
  [CNY], ``rate`` the plan's ``demand_charge_cny_per_kw_month``: what the
  month's bill grows by if that import sets the month's peak. A month's peak
  is billed once, so a day's exposure is ``max_k X_k``, not a sum;
* deviation cost of a day = ``Σ_k C_k + max_k X_k`` [CNY];
* a step is within tolerance when ``|Δimport_k| ≤ tolerance_kw`` =
  ``alerts.adherence_tolerance_frac · grid.max_import_kw``; the day's plan
  adherence is the share of its measured steps within tolerance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import defer

from microgrid.park import Park
from service.api.db import MeasurementRow, PlanRow
from service.api.measurements import metered_demand_kw

POWER_QUANTITIES = {"grid_import_kw": "grid_import_kw", "grid_export_kw": "grid_export_kw",
                    "pv_kw": "pv_used_kw", "wind_kw": "wind_used_kw", "load_kw": "load_kw"}
"""Measured field → the schedule column it is compared with."""


@dataclass(frozen=True)
class PlanSteps:
    """A stored plan's schedule as step starts, ends and rows (tz-aware)."""

    plan: PlanRow
    starts: list[dt.datetime]
    ends: list[dt.datetime]

    @classmethod
    def of(cls, plan: PlanRow) -> "PlanSteps":
        starts = [dt.datetime.fromisoformat(row["timestamp"]) for row in plan.schedule]
        ends = starts[1:] + [dt.datetime.fromisoformat(plan.ends_at)]
        return cls(plan, starts, ends)

    def index_at(self, at: dt.datetime) -> int | None:
        """The step holding ``at`` (``start <= at < end``), or None."""
        for k, (start, end) in enumerate(zip(self.starts, self.ends)):
            if start <= at < end:
                return k
        return None

    def dt_h(self, k: int) -> float:
        return (self.ends[k] - self.starts[k]).total_seconds() / 3600

    def row(self, k: int) -> dict:
        return self.plan.schedule[k]

    def planned_content_kwh(self, column: str, at: dt.datetime, first_start_kwh: float | None = None) -> float | None:
        """A store's planned content at ``at`` [kWh]: linear between the ends of the steps around it.

        In the first step, from ``first_start_kwh`` (the plan's starting content) when given, else the
        first step's end.
        """
        k = self.index_at(at)
        if k is None or column not in self.row(k):
            return None
        end_value = float(self.row(k)[column])
        if k == 0 and first_start_kwh is None:
            return end_value
        before = first_start_kwh if k == 0 else float(self.row(k - 1)[column])
        share = (at - self.starts[k]).total_seconds() / (self.ends[k] - self.starts[k]).total_seconds()
        return before + share * (end_value - before)

    def reference_peak_kw(self) -> float:
        """``P_ref``: the plan's month-to-date peak or its largest planned import, whichever is larger [kW]."""
        planned = max((float(row.get("grid_import_kw", 0.0)) for row in self.plan.schedule), default=0.0)
        return max(float(self.plan.kpis.get("month_to_date_peak_kw") or 0.0), planned)


def battery_start_kwh(steps: PlanSteps, device: str, battery) -> float | None:
    """A battery's content at the plan's start [kWh], from its first step:
    ``soc_kwh − (charge_kw · charge_efficiency − discharge_kw / discharge_efficiency) · dt_h``."""
    first = steps.row(0) if steps.plan.schedule else {}
    names = [f"{device}.{q}" for q in ("soc_kwh", "charge_kw", "discharge_kw")]
    if not all(name in first for name in names):
        return None
    soc, charge, discharge = (float(first[name]) for name in names)
    return soc - (charge * battery.charge_efficiency - discharge / battery.discharge_efficiency) * steps.dt_h(0)


def planned_store_kwh(steps: PlanSteps, park: Park, device: str, at: dt.datetime) -> float | None:
    """The planned content of a battery (``soc_kwh``) or thermal store (``soc_th_kwh``) of ``park`` at ``at``."""
    if device in park.batteries:
        return steps.planned_content_kwh(f"{device}.soc_kwh", at,
                                         battery_start_kwh(steps, device, park.batteries[device]))
    if device in park.thermal_stores:
        return steps.planned_content_kwh(f"{device}.soc_th_kwh", at)
    return None


def plan_in_force(plans: list[PlanRow], at: dt.datetime) -> PlanRow | None:
    """The newest optimal plan of ``plans`` covering ``at``, else the newest covering it."""
    covering = [p for p in plans if dt.datetime.fromisoformat(p.starts_at) <= at < dt.datetime.fromisoformat(p.ends_at)]
    covering.sort(key=lambda p: p.id, reverse=True)
    optimal = [p for p in covering if p.strategy == "optimal"]
    return (optimal or covering or [None])[0]


LOOKBACK_DAYS = 3
"""Plans dated up to this many days before a time are looked at for covering it (horizons are at most 48 h)."""


def plans_overlapping(session, park_id: str, start: dt.datetime, end: dt.datetime) -> list[PlanRow]:
    """The park's plans whose horizon overlaps ``[start, end)`` (newest first)."""
    first, last = (start - dt.timedelta(days=LOOKBACK_DAYS)).date().isoformat(), end.date().isoformat()
    query = (select(PlanRow).where(PlanRow.park_id == park_id, PlanRow.plan_date >= first, PlanRow.plan_date <= last)
             .options(defer(PlanRow.schedule), defer(PlanRow.slack), defer(PlanRow.request))
             .order_by(PlanRow.id.desc()))
    rows = session.scalars(query)  # a schedule is loaded when it is read
    return [p for p in rows if dt.datetime.fromisoformat(p.starts_at) < end
            and dt.datetime.fromisoformat(p.ends_at) > start]


def measured_import_kw(row: MeasurementRow, has_storage: bool) -> float | None:
    """The measured import [kW]: the meter's ``grid_import_kw``, else the positive part of the metered demand."""
    if row.grid_import_kw is not None:
        return row.grid_import_kw
    demand = metered_demand_kw(row, has_storage)
    return None if demand is None else max(0.0, demand)


def _deviation(measured: float | None, planned: float | None) -> dict | None:
    if measured is None or planned is None:
        return None
    return {"planned": round(planned, 6), "measured": round(measured, 6), "deviation": round(measured - planned, 6)}


def step_adherence(steps: PlanSteps, k: int, row: MeasurementRow, park: Park, rate_cny_per_kw: float,
                   tolerance_kw: float) -> dict:
    """The deviations of one measured step and their cost (the definitions of the module)."""
    planned = steps.row(k)
    has_storage = bool(park.batteries)
    quantities: dict[str, dict] = {}
    for field, column in POWER_QUANTITIES.items():
        value = measured_import_kw(row, has_storage) if field == "grid_import_kw" else getattr(row, field)
        entry = _deviation(value, planned.get(column))
        if entry is not None:
            quantities[field] = entry
    for device, value in (row.heat_pump_kw or {}).items():
        entry = _deviation(value, planned.get(f"{device}.elec_kw")) if device in park.heat_pumps else None
        if entry is not None:
            quantities[f"{device}.elec_kw"] = entry
    for stores, suffix, measured in ((park.batteries, "soc_kwh", row.soc_kwh),
                                     (park.thermal_stores, "soc_th_kwh", row.thermal_soc_kwh)):
        for device, value in (measured or {}).items():
            if device in stores:
                entry = _deviation(value, planned_store_kwh(steps, park, device, row.measured_at))
                if entry is not None:
                    quantities[f"{device}.{suffix}"] = entry
    flexible = row.flexible_state or {}
    running = flexible.get("process_running_h") or {}
    for device in {*running, *(flexible.get("process_runs_done") or {})}:
        column = f"{device}.load_kw"
        if device in park.shiftable_processes and column in planned:
            quantities[f"{device}.running"] = _deviation(1.0 if device in running else 0.0,
                                                         1.0 if float(planned[column]) > 1e-6 else 0.0)
    dt_h = steps.dt_h(k)
    price = float(planned.get("price_import_cny_per_kwh", 0.0))
    result = {"timestamp": steps.starts[k], "dt_h": dt_h, "plan_id": steps.plan.id, "measurement_id": row.id,
              "measured_at": row.measured_at, "price_import_cny_per_kwh": price, "quantities": quantities,
              "import_deviation_kw": None, "import_deviation_kwh": None, "energy_cost_cny": None,
              "reference_peak_kw": steps.reference_peak_kw(), "demand_charge_exposure_cny": None,
              "within_tolerance": None}
    imported = quantities.get("grid_import_kw")
    if imported is not None:
        deviation_kw = imported["deviation"]
        result.update(import_deviation_kw=deviation_kw, import_deviation_kwh=round(deviation_kw * dt_h, 6),
                      energy_cost_cny=round(deviation_kw * dt_h * price, 6),
                      demand_charge_exposure_cny=round(
                          rate_cny_per_kw * max(0.0, imported["measured"] - result["reference_peak_kw"]), 6),
                      within_tolerance=abs(deviation_kw) <= tolerance_kw + 1e-9)
    return result


def summarize(steps: list[dict], tolerance_kw: float, heat_pump_ids: Collection[str] = ()) -> dict:
    """The day's plan adherence from its measured steps (the definitions of the module).

    ``heat_pump_ids`` are the park's heat pumps, whose ``<id>.elec_kw`` deviations are averaged.
    """
    judged = [s for s in steps if s["import_deviation_kw"] is not None]
    heat_pumps = [abs(q["deviation"]) for s in steps for name, q in s["quantities"].items()
                  if name.endswith(".elec_kw") and name.removesuffix(".elec_kw") in heat_pump_ids]
    energy_cost = sum(s["energy_cost_cny"] for s in judged)
    exposure = max((s["demand_charge_exposure_cny"] for s in judged), default=0.0)
    n = len(judged)
    return {
        "steps_measured": len(steps), "steps_with_import": n, "tolerance_kw": tolerance_kw,
        "mean_abs_import_deviation_kw": round(sum(abs(s["import_deviation_kw"]) for s in judged) / n, 6) if n else None,
        "import_deviation_kwh": round(sum(s["import_deviation_kwh"] for s in judged), 6),
        "abs_import_deviation_kwh": round(sum(abs(s["import_deviation_kwh"]) for s in judged), 6),
        "energy_cost_cny": round(energy_cost, 6), "demand_charge_exposure_cny": round(exposure, 6),
        "deviation_cost_cny": round(energy_cost + exposure, 6),
        "within_tolerance_share": round(sum(1 for s in judged if s["within_tolerance"]) / n, 6) if n else None,
        "heat_pump_steps_measured": len(heat_pumps),
        "mean_abs_heat_pump_deviation_kw": round(sum(heat_pumps) / len(heat_pumps), 6) if heat_pumps else None,
    }


def day_adherence(session, park_id: str, park: Park, day: dt.date, plan_id: int | None = None) -> dict:
    """Plan against measurement over a local day of the park: its steps and summary.

    Parameters
    ----------
    plan_id : int, optional
        Compare with this plan only (default: the plan in force at each step).
    """
    zone = ZoneInfo(park.site.timezone)
    start = dt.datetime.combine(day, dt.time(0), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
    plans = plans_overlapping(session, park_id, start, end)
    if plan_id is not None:
        plans = [p for p in plans if p.id == plan_id]
    by_plan = {p.id: PlanSteps.of(p) for p in plans}
    rows = session.scalars(select(MeasurementRow).where(
        MeasurementRow.park_id == park_id, MeasurementRow.measured_at >= start.astimezone(dt.timezone.utc),
        MeasurementRow.measured_at < end.astimezone(dt.timezone.utc))
        .order_by(MeasurementRow.measured_at, MeasurementRow.id))
    newest: dict[tuple[int, int], MeasurementRow] = {}
    for row in rows:  # the newest measurement of each step (a later arrival wins a tie)
        plan = plan_in_force(plans, row.measured_at)
        if plan is None:
            continue
        k = by_plan[plan.id].index_at(row.measured_at)
        newest[(plan.id, k)] = row
    tolerance_kw = park.alerts.adherence_tolerance_frac * park.grid.max_import_kw
    steps = []
    for (pid, k), row in newest.items():
        rate = by_plan[pid].plan.kpis.get("demand_charge_cny_per_kw_month")
        rate = park.tariff.demand_charge_cny_per_kw_month if rate is None else float(rate)
        steps.append(step_adherence(by_plan[pid], k, row, park, rate, tolerance_kw))
    steps.sort(key=lambda s: (s["timestamp"], s["measured_at"]))
    for step in steps:
        step["timestamp"] = step["timestamp"].astimezone(zone)
        step["measured_at"] = step["measured_at"].astimezone(zone)
    return {"park_id": park_id, "date": day, "plan_ids": sorted({s["plan_id"] for s in steps}),
            "summary": summarize(steps, tolerance_kw, park.heat_pumps), "steps": steps}
