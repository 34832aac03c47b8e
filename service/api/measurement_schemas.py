"""Request and response bodies of measurements: the metered state of a park at one time.

Units are in the field names; timestamps are ISO 8601 with UTC offset. A
metered power is the meter's reading at ``measured_at`` (instantaneous);
plan adherence takes it as held over the plan's step
(:mod:`service.api.adherence`). :mod:`service.api.schemas` imports these
names, so both modules give them.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from service.api.validation import RequestModel, Timestamp


class MeasurementCreate(RequestModel):
    """Metered state of the park at one time.

    Battery and thermal-store contents must lie within each device's
    ``[min_soc_frac, max_soc_frac] × capacity_kwh``; ids must be the park's.
    """

    measured_at: Timestamp = Field(description="When the values were metered (ISO 8601 with UTC offset).")
    soc_kwh: dict[str, float] = Field(default_factory=dict, description="Battery id → stored energy [kWh].")
    thermal_soc_kwh: dict[str, float] = Field(default_factory=dict,
                                              description="Thermal store id → stored heat [kWh].")
    month_to_date_peak_kw: float = Field(ge=0, description="Highest 15-min import of the month so far [kW].")
    pv_kw: float | None = Field(None, ge=0, description="Metered PV output, all arrays [kW].")
    wind_kw: float | None = Field(None, ge=0, description="Metered wind output, all turbine groups [kW].")
    load_kw: float | None = Field(None, ge=0, description="Metered consumption, all loads [kW].")
    grid_import_kw: float | None = Field(
        None, ge=0, description="Metered import at the point of common coupling [kW] (the park's demand on the grid).")
    grid_export_kw: float | None = Field(None, ge=0, description="Metered export at the point of common coupling [kW].")
    heat_pump_kw: dict[str, float] = Field(
        default_factory=dict, description="Heat pump id → metered electric input [kW] at measured_at, within "
                                          "[0, max_elec_kw].")
    process_runs_done: dict[str, int] = Field(
        default_factory=dict, description="Batch process id → runs started so far on the local day (a run in "
                                          "progress included).")
    process_running_h: dict[str, float] = Field(
        default_factory=dict, description="Batch process id → hours already run by the run in progress [h].")
    energy_delivered_kwh: dict[str, float] = Field(
        default_factory=dict, description="Energy load id → energy delivered to its session in progress [kWh].")
    shed_hours_used: dict[str, float] = Field(
        default_factory=dict, description="Curtailable load id → hours with shedding so far on the local day [h].")
    shed_kwh_used: dict[str, float] = Field(
        default_factory=dict, description="Curtailable load id → energy shed so far on the local day [kWh].")
    shift_ahead_kwh: dict[str, float] = Field(
        default_factory=dict, description="Shiftable load id → energy consumed ahead of its baseline [kWh] "
                                          "(negative: still owed).")


FLEXIBLE_KINDS = {"process_runs_done": "shiftable_processes", "process_running_h": "shiftable_processes",
                  "energy_delivered_kwh": "energy_loads", "shed_hours_used": "curtailable_loads",
                  "shed_kwh_used": "curtailable_loads", "shift_ahead_kwh": "shiftable_loads"}
"""Each measurement field of the flexible loads' state → the park's devices (a ``Park`` attribute) it is about."""
FLEXIBLE_STATE_FIELDS = tuple(FLEXIBLE_KINDS)
"""The measurement fields of the flexible loads' state, stored together (``MeasurementRow.flexible_state``)."""


class MeasurementOut(BaseModel):
    id: int
    park_id: str
    park_version: int = Field(description="The park version the values were checked against.")
    measured_at: dt.datetime
    soc_kwh: dict[str, float]
    thermal_soc_kwh: dict[str, float]
    month_to_date_peak_kw: float
    pv_kw: float | None
    wind_kw: float | None = None
    load_kw: float | None
    grid_import_kw: float | None
    grid_export_kw: float | None
    heat_pump_kw: dict[str, float] = Field(description="Heat pump id → metered electric input [kW] at measured_at.")
    process_runs_done: dict[str, int]
    process_running_h: dict[str, float]
    energy_delivered_kwh: dict[str, float]
    shed_hours_used: dict[str, float]
    shed_kwh_used: dict[str, float]
    shift_ahead_kwh: dict[str, float]
    created_at: dt.datetime
