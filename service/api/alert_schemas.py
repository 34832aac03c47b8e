"""Response bodies of the alerts and plan-adherence routes (units in the field names, timestamps with offset)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

AlertStatus = Literal["open", "acknowledged", "resolved"]
AlertRule = Literal["import_limit", "demand_response", "soc_band", "stale_measurements", "renewables",
                    "network_limits"]


class AlertOut(BaseModel):
    """An operator alert: one rule's finding about one subject, from open to resolved."""

    id: int
    park_id: str
    rule: AlertRule
    subject: str = Field(description="What the alert is about: a device id, an event id, contract_limit, ...")
    status: AlertStatus
    message: str
    value: float | None = Field(description="The measured or planned value that broke the rule (in ``unit``).")
    threshold: float | None = Field(description="The rule's threshold (in ``unit``).")
    unit: str
    cny_at_stake: float | None = Field(description="What the cause may cost [CNY] (rule by rule: README, Alerts).")
    details: dict
    measurement_id: int | None = Field(description="The measurement the rule judged when the alert opened.")
    plan_id: int | None = Field(description="The plan in force at that measurement.")
    opened_at: dt.datetime
    last_seen_at: dt.datetime = Field(description="The last evaluation that still found the cause.")
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None = Field(description="The name of the key that acknowledged it.")
    resolved_at: dt.datetime | None
    resolution: Literal["auto", "manual"] | None = Field(
        description="auto: the cause cleared at an evaluation; manual: resolved by a key.")
    replan: bool = Field(description="The rule re-plans when an alert opens (the park's alerts.<rule>.replan).")
    replan_plan_id: int | None = Field(description="The intraday plan this alert's opening made.")
    replan_error: str | None = Field(description="Why that re-plan failed.")


class EvaluationOut(BaseModel):
    opened: list[AlertOut] = Field(description="Alerts this evaluation opened.")
    active: list[AlertOut] = Field(description="The park's open and acknowledged alerts after it.")


class QuantityDeviation(BaseModel):
    planned: float
    measured: float
    deviation: float = Field(description="measured − planned")


class AdherenceStep(BaseModel):
    timestamp: dt.datetime = Field(description="Start of the plan's step.")
    dt_h: float
    plan_id: int = Field(description="The plan in force at the step.")
    measurement_id: int = Field(description="The step's newest measurement.")
    measured_at: dt.datetime
    price_import_cny_per_kwh: float = Field(description="The plan's import price at the step.")
    quantities: dict[str, QuantityDeviation] = Field(
        description="grid_import_kw, grid_export_kw, pv_kw (against pv_used_kw), wind_kw (against wind_used_kw), "
                    "load_kw, <heat pump>.elec_kw (metered heat_pump_kw), <battery>.soc_kwh, <store>.soc_th_kwh, "
                    "<process>.running (1 or 0): those measured.")
    import_deviation_kw: float | None
    import_deviation_kwh: float | None
    energy_cost_cny: float | None = Field(description="import_deviation_kwh × price_import_cny_per_kwh.")
    reference_peak_kw: float = Field(description="max(the plan's month-to-date peak, its largest planned import).")
    demand_charge_exposure_cny: float | None = Field(
        description="demand charge rate × max(0, measured import − reference_peak_kw).")
    within_tolerance: bool | None


class AdherenceSummary(BaseModel):
    steps_measured: int
    steps_with_import: int = Field(description="Measured steps whose import is known (metered).")
    tolerance_kw: float = Field(description="alerts.adherence_tolerance_frac × grid.max_import_kw.")
    mean_abs_import_deviation_kw: float | None
    import_deviation_kwh: float = Field(description="Σ import deviation × dt_h (signed).")
    abs_import_deviation_kwh: float
    energy_cost_cny: float = Field(description="Σ energy_cost_cny of the steps (negative: less bought than planned).")
    demand_charge_exposure_cny: float = Field(description="The largest step exposure (a month's peak is billed once).")
    deviation_cost_cny: float = Field(description="energy_cost_cny + demand_charge_exposure_cny.")
    within_tolerance_share: float | None = Field(description="Plan adherence: share of steps within tolerance_kw.")
    heat_pump_steps_measured: int = Field(description="(Step, heat pump) pairs with a metered heat_pump_kw.")
    mean_abs_heat_pump_deviation_kw: float | None = Field(
        description="Σ |metered − planned <hp>.elec_kw| / heat_pump_steps_measured; not priced (the import "
                    "deviation holds it).")


class AdherenceOut(BaseModel):
    """Plan against measurement over a local day of the park."""

    park_id: str
    date: dt.date
    plan_ids: list[int]
    summary: AdherenceSummary
    steps: list[AdherenceStep]
