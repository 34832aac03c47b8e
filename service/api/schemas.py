"""Request and response bodies (separate classes: what a client sends is not what it gets).

Units are in the field names; timestamps are ISO 8601 with UTC offset.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from microgrid.messages import Message
from service.api.forecast_schemas import (FORECAST_PARTS, ForecastCreate, ForecastOut, ForecastPeriod,  # noqa: F401
                                          ForecastsIn, ForecastSummary, Rows)
from service.api.measurement_schemas import (FLEXIBLE_KINDS, FLEXIBLE_STATE_FIELDS,  # noqa: F401
                                             MeasurementCreate, MeasurementOut)
from service.api.validation import MIN_HORIZON_H, Day, RequestModel, Timestamp, outbound_url_errors

PARK_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
FILE_NAME_PATTERN = r"^(?!.*\.\.)[A-Za-z0-9_.-]{1,100}(/[A-Za-z0-9_.-]{1,100}){0,3}$"

Strategy = Literal["optimal", "rule-based", "tou-arbitrage", "no-control"]
Objective = Literal["cost", "self_consumption", "co2"]


class _Request(RequestModel):
    """A request body: unknown fields and non-finite numbers are errors (:mod:`service.api.validation`)."""


# --- parks ---------------------------------------------------------------------------------------

class ParkDocumentIn(_Request):
    """The park in the case format, as a JSON object (``park``) or as YAML text (``park_yaml``)."""

    park: dict[str, Any] | None = Field(None, description="The case format (park.yaml) as a JSON object.")
    park_yaml: str | None = Field(None, description="The case format as YAML text.")


class ParkCreate(ParkDocumentIn):
    """Register a park.

    Its time series come either from a case folder the server holds
    (``case_folder``, relative to the server's case root, e.g.
    ``zhengzhou_park``; without ``park``/``park_yaml`` its ``park.yaml`` is the
    document too) or inline (``data_files``: file name → CSV text, the files
    the document's ``data`` section names, and a ``pandapower_json`` network
    file if it names one).
    """

    id: str = Field(pattern=PARK_ID_PATTERN, description="Park id: letters, digits, '_' and '-'.")
    case_folder: str | None = Field(None, description="A case folder under the server's case root.")
    data_files: dict[str, str] | None = Field(None, description="File name → content (CSV or JSON text).")
    comment: str | None = Field(None, max_length=500)

    @model_validator(mode="after")
    def _one_source(self) -> "ParkCreate":
        if self.park is not None and self.park_yaml is not None:
            raise ValueError(Message("give the park as 'park' (JSON) or as 'park_yaml' (YAML text), not both"))
        if self.case_folder is not None and self.data_files is not None:
            raise ValueError(Message("give the time series as 'case_folder' or as 'data_files', not both"))
        if self.case_folder is None and self.data_files is None:
            raise ValueError(Message("the park needs its time series: give 'data_files' (inline CSV) or "
                                     "'case_folder'"))
        if self.case_folder is None and self.park is None and self.park_yaml is None:
            raise ValueError(Message("give the park as 'park' (JSON) or 'park_yaml' (YAML text)"))
        return self


class ParkUpdate(ParkDocumentIn):
    """A new version of a park: a whole new document; data files or case folder kept unless given."""

    case_folder: str | None = None
    data_files: dict[str, str] | None = Field(
        None, description="Files replacing or adding to the previous version's (name → content).")
    expected_version: int | None = Field(
        None, ge=1, description="The version this update is based on; another current version is a 409 conflict.")
    comment: str | None = Field(None, max_length=500)

    @model_validator(mode="after")
    def _one_document(self) -> "ParkUpdate":
        if (self.park is None) == (self.park_yaml is None):
            raise ValueError(Message("give the new park document as 'park' (JSON) or as 'park_yaml' (YAML text)"))
        if self.case_folder is not None and self.data_files is not None:
            raise ValueError(Message("give the time series as 'case_folder' or as 'data_files', not both"))
        return self


class DataFileOut(BaseModel):
    name: str
    sha256: str
    size_bytes: int


class ParkDataOut(BaseModel):
    """Where a park version's time series come from."""

    case_folder: str | None = None
    files: list[DataFileOut] = []


class ParkSummary(BaseModel):
    id: str
    name: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ParkOut(ParkSummary):
    """A park at one version: its document (the case format) and its data."""

    version_created_at: dt.datetime
    comment: str | None
    document: dict[str, Any]
    data: ParkDataOut


class ParkVersionSummary(BaseModel):
    version: int
    created_at: dt.datetime
    comment: str | None


# --- plans ---------------------------------------------------------------------------------------

class PlanCreate(_Request):
    """Request a day-ahead plan."""

    date: Day = Field(description="Local date (park timezone) whose plan starts at 00:00.")
    strategy: Strategy = "optimal"
    objective: Objective | None = Field(None, description="Default: the park's dispatch.objective.")
    horizon_h: float = Field(24.0, ge=MIN_HORIZON_H, description="Plan length [h], at least 0.25; more than 24 adds a "
                                                                 "look-ahead.")
    time_limit_s: float | None = Field(
        None, gt=0, description="Time limit of this request [s] (default and upper bound: the server's).")
    mip_gap: float | None = Field(None, ge=0, lt=1, description="Relative MIP gap (default: the park's).")
    month_to_date_peak_kw: float | None = Field(
        None, ge=0, description="Highest 15-min import of the month so far [kW].")
    soc_kwh: dict[str, float] | None = Field(None, description="Battery id → stored energy at the start [kWh].")
    thermal_soc_kwh: dict[str, float] | None = Field(
        None, description="Thermal store id → stored heat at the start [kWh].")
    forecasts: ForecastsIn | None = None
    forecast_id: int | None = Field(
        None, ge=1, description="An uploaded forecast of the park to plan on (POST /parks/{id}/forecasts). Without "
                                "it and without forecasts: the newest one issued by now that covers the horizon.")

    @model_validator(mode="after")
    def _one_forecast(self) -> "PlanCreate":
        if self.forecast_id is not None and self.forecasts is not None:
            raise ValueError(Message("give an uploaded forecast ('forecast_id') or inline 'forecasts', not both"))
        return self

    @property
    def explicit_state(self) -> bool:
        """Whether the request gives the plant state; without it the latest measurement is used."""
        return any(v is not None for v in (self.month_to_date_peak_kw, self.soc_kwh, self.thermal_soc_kwh))


class IntradayPlanCreate(_Request):
    """Re-plan from a time of the day, from the latest measured state."""

    start: Timestamp | None = Field(
        None, description="Start of the plan (ISO 8601 with offset), rounded up to the next step of the park's "
                          "data. Default: the time of the newest measurement taken by now (server clock), rounded up.")
    horizon_h: float = Field(24.0, ge=MIN_HORIZON_H, description="Plan length [h], at least 0.25.")
    strategy: Strategy = "optimal"
    objective: Objective | None = Field(None, description="Default: the park's dispatch.objective.")
    time_limit_s: float | None = Field(
        None, gt=0, description="Time limit of this request [s] (default and upper bound: the server's).")
    mip_gap: float | None = Field(None, ge=0, lt=1, description="Relative MIP gap (default: the park's).")
    forecasts: ForecastsIn | None = None
    forecast_id: int | None = Field(
        None, ge=1, description="An uploaded forecast of the park to plan on (POST /parks/{id}/forecasts). Without "
                                "it and without forecasts: the newest one issued by now that covers the horizon.")

    @model_validator(mode="after")
    def _one_forecast(self) -> "IntradayPlanCreate":
        if self.forecast_id is not None and self.forecasts is not None:
            raise ValueError(Message("give an uploaded forecast ('forecast_id') or inline 'forecasts', not both"))
        return self


class PlanSummary(BaseModel):
    id: int
    park_id: str
    park_version: int
    kind: str
    date: dt.date
    start: dt.datetime
    end: dt.datetime
    strategy: str
    objective: str | None
    horizon_h: float
    status: str = Field(description="optimal, time_limit, infeasible_relaxed or not_optimized.")
    mip_gap: float | None
    fallback: bool = Field(description="True when the optimal plan was not available in time and this is the "
                                       "rule-based plan instead (see fallback_reason).")
    fallback_reason: str | None
    total_cost_cny: float | None
    measurement_id: int | None = Field(
        description="The measurement whose state the plan started from (None: the request's state or the "
                    "park's initial values).")
    forecast_id: int | None = Field(
        None, description="The uploaded forecast the plan used (None: inline forecasts or the park's own data). "
                          "Kept when that forecast is deleted.")
    created_at: dt.datetime


class PlanOut(PlanSummary):
    """A plan: the request, the schedule (one row per step, units in the column names) and its KPIs."""

    solve_time_s: float | None
    wall_time_s: float
    time_limit_s: float
    request: dict[str, Any]
    kpis: dict[str, Any] = Field(description=(
        "The plan's KPIs (dispatch.kpis.schedule_kpis, units in the names). A park with wind turbines adds "
        "wind_generation_kwh, wind_used_kwh, wind_curtailment_kwh, wind_onsite_kwh, wind_self_consumption_ratio "
        "and the renewable_* totals of PV and wind."))
    slack: list[dict[str, Any]]
    schedule: list[dict[str, Any]] = Field(description=(
        "One row per step: timestamp and the flows [kW] (pv_available_kw, pv_used_kw, grid_import_kw, ...) and "
        "per device (<id>.<quantity>). A park with wind turbines adds wind_available_kw, wind_used_kw and "
        "wind_curtailment_kw (all groups), and <group_id>.available_kw and <group_id>.used_kw."))
    forecast_sources: dict[str, str] = Field(
        default_factory=dict,
        description="The inputs that came from forecasts rather than the park's data files: pv.<array_id>, "
                    "wind.<group_id>, load.<profile>, heat.<profile>, temp_air → weather, pv_kw, wind_kw, load_kw, "
                    "heat_kw or load_history.")


# --- keys ----------------------------------------------------------------------------------------

class KeyCreate(_Request):
    name: str = Field(min_length=1, max_length=200)
    park_ids: list[str] = Field(default_factory=list, description="Parks the key may read, update and plan.")
    admin: bool = Field(False, description="May register parks and issue keys; sees every park.")

    @model_validator(mode="after")
    def _scope(self) -> "KeyCreate":
        if not self.admin and not self.park_ids:
            raise ValueError(Message("a key needs at least one park in 'park_ids', or 'admin': true"))
        return self


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to recognise it.")
    admin: bool
    park_ids: list[str]
    created_at: dt.datetime


class KeyCreated(KeyOut):
    token: str = Field(description="The API key; shown only once, stored hashed.")


class Health(BaseModel):
    status: Literal["ok"]
    database: str
    workers: int
    plans_in_progress: int
    time: dt.datetime


# --- demand-response events ----------------------------------------------------------------------

class EventIn(_Request):
    """A demand-response event: reduce (peak shaving) or increase (valley filling) the grid import over a window.

    Exactly one amount: ``max_import_kw`` (reduce: import at most this much),
    ``reduce_by_kw`` (reduce: this much below the baseline) or
    ``increase_by_kw`` (increase: at least this much above the baseline).
    """

    kind: Literal["reduce", "increase"]
    start: Timestamp = Field(description="Start of the window (ISO 8601 with offset), on the park's step grid.")
    end: Timestamp = Field(description="End of the window (exclusive), on the park's step grid.")
    max_import_kw: float | None = Field(None, ge=0, description="reduce: the grid import cap over the window [kW].")
    reduce_by_kw: float | None = Field(None, gt=0, description="reduce: this much below the baseline import [kW].")
    increase_by_kw: float | None = Field(None, gt=0, description="increase: this much above the baseline [kW].")
    incentive_cny_per_kwh: float = Field(ge=0, description="Paid per kWh of response [CNY/kWh].")
    notified_at: Timestamp = Field(description="When the park was notified (ISO 8601 with offset).")

    def errors(self) -> list[dict[str, str]]:
        """What is wrong with the event on its own, as problem ``errors`` (field, reason)."""
        errors = []
        if self.end <= self.start:
            errors.append({"field": "end", "reason": Message("must be after start")})
        given = [name for name in ("max_import_kw", "reduce_by_kw", "increase_by_kw")
                 if getattr(self, name) is not None]
        if len(given) != 1:
            reason = ("give exactly one of max_import_kw, reduce_by_kw, increase_by_kw; got "
                      + (", ".join(given) or "none"))
            errors.extend({"field": name, "reason": reason} for name in given or ["max_import_kw"])
        elif self.kind == "reduce" and given[0] == "increase_by_kw":
            errors.append({"field": "increase_by_kw", "reason": Message("a reduce event takes max_import_kw or "
                                                                        "reduce_by_kw")})
        elif self.kind == "increase" and given[0] != "increase_by_kw":
            errors.append({"field": given[0], "reason": Message("an increase event takes increase_by_kw")})
        if self.notified_at >= self.end:
            errors.append({"field": "notified_at", "reason": Message("must be before the window's end")})
        return errors


class EventStep(BaseModel):
    timestamp: dt.datetime
    baseline_import_kw: float
    planned_import_kw: float
    requested_kw: float
    response_kw: float


class EventBaseline(BaseModel):
    """The baseline an event's response is measured against (the park's ``demand_response.baseline``)."""

    method: Literal["optimal-plan", "similar-days"] = Field(
        description="optimal-plan: the park's optimal plan without events; similar-days: the average metered import "
                    "of the last similar days before the event (customer baseline load)")
    days: list[dt.date] = Field(default_factory=list, description="similar-days: the days averaged, newest first.")
    day_type: Literal["working", "day off"] | None = Field(
        None, description="similar-days: the kind of day averaged (the event day's).")
    adjustment: Literal["none", "scaling", "additive"] = "none"
    adjustment_basis: Literal["metered", "metered and planned", "planned", "unavailable"] | None = Field(
        None, description="What the same-day adjustment compared the baseline with: the metered import of the "
                          "adjustment window, the plan without events where it is not metered yet, or nothing "
                          "(no adjustment made).")
    adjustment_factor: float | None = Field(None, description="scaling: the factor applied (after the cap).")
    adjustment_kw: float | None = Field(None, description="additive: the offset added [kW] (after the cap).")
    adjustment_capped: bool = Field(False, description="The cap limited the adjustment.")


class EventOut(BaseModel):
    """An event, its state and the answer of its last re-plan."""

    id: str
    park_id: str
    version: int
    status: Literal["active", "cancelled"]
    event: EventIn
    created_at: dt.datetime
    updated_at: dt.datetime
    plan: PlanOut = Field(description="The plan with every active event overlapping its horizon (kind event).")
    steps: list[EventStep] = Field(description="The window's steps: baseline (see baseline), planned "
                                               "import, what the event asks and the park's response [kW].")
    baseline: EventBaseline = Field(
        default_factory=lambda: EventBaseline(method="optimal-plan"),
        description="The baseline the response is measured against (answers stored before it was kept were all "
                    "measured against the plan without events).")
    requested_kwh: float
    response_kwh: float
    delivery: Literal["full", "partial", "none"]
    delivered_share: float = Field(description="response_kwh / requested_kwh (1 when nothing is asked).")
    incentive_cny: float = Field(description="response_kwh × incentive_cny_per_kwh.")
    cost_increase_cny: float | None = Field(
        None, description="The event plan's total cost over its horizon less the baseline's, with every active "
                          "event together (None for answers stored before it was kept).")
    net_benefit_cny: float | None = Field(None, description="incentive_cny − cost_increase_cny.")


# --- OpenADR 2.0b VEN ----------------------------------------------------------------------------

FINGERPRINT_PATTERN = r"^([0-9A-Fa-f]{2}:){9}[0-9A-Fa-f]{2}$"


class OpenAdrConfigIn(_Request):
    """A park's OpenADR 2.0b VEN (virtual end node): which VTN it registers with, and how it maps events.

    Plain ``http`` is accepted only for a VTN on this machine (loopback: tests
    and local simulators); any other VTN needs ``https``. With ``cert_path`` and
    ``key_path`` the VEN signs its messages and presents the certificate to
    the VTN (``ca_file`` then verifies the VTN's certificate); with
    ``vtn_fingerprint`` it accepts only messages signed by that VTN.
    """

    enabled: bool = Field(False, description="Whether the VEN runs (registers, polls, reports). Off by default.")
    vtn_url: str = Field(min_length=1, max_length=500, description="The VTN's OpenADR 2.0b base URL, e.g. "
                         "https://vtn.example.com/OpenADR2/Simple/2.0b.")
    ven_name: str = Field(min_length=1, max_length=200, description="The name the VEN registers with.")
    ven_id: str | None = Field(None, min_length=1, max_length=200,
                               description="A venID agreed with the VTN beforehand (default: the one it assigns).")
    cert_path: str | None = Field(None, description="PEM certificate of the VEN, on the server's disk.")
    key_path: str | None = Field(None, description="PEM private key (unencrypted) of the VEN, on the server's disk.")
    ca_file: str | None = Field(None, description="PEM CA bundle that verifies the VTN's TLS certificate; needed "
                                                  "with cert_path (without a VEN certificate the system's CAs "
                                                  "verify the VTN).")
    vtn_fingerprint: str | None = Field(None, pattern=FINGERPRINT_PATTERN,
                                        description="The VTN's certificate fingerprint (10 hex pairs, "
                                                    "AA:BB:...): only messages it signed are accepted.")
    check_hostname: bool = Field(True, description="With cert_path: check that the VTN's TLS certificate names "
                                                   "its host.")
    report_interval_s: float = Field(60.0, ge=1, le=3600, description="The shortest interval the metered-demand "
                                     "report is offered at [s]; the VTN picks one from it up to 1 h.")
    incentive_cny_per_kwh: float = Field(0.0, ge=0, description="The incentive of the park's demand-response "
                                         "programme [CNY/kWh], given to the events the VEN creates.")
    positive_delta: Literal["reduce", "increase"] = Field(
        "reduce", description="What a positive LOAD_DISPATCH delta asks: a reduction of that many kW (the "
                              "load-shed convention, default) or an increase.")
    simple_levels_kw: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=list, max_length=3,
        description="Reduction [kW] of the SIMPLE signal's levels 1, 2, 3 (up to three); empty: SIMPLE events "
                    "are opted out of.")
    pcc_voltage_v: float = Field(10_000.0, gt=0, description="Nominal voltage of the point of common coupling "
                                 "[V], stated in the report's description.")

    def errors(self, vtn_hosts: list[str] | tuple[str, ...] = ()) -> list[dict[str, str]]:
        """What is wrong with the settings, as problem ``errors`` (field, reason); the files are looked for.

        ``vtn_hosts``: the hosts the server lets a VEN connect to
        (``MICROGRID_OPENADR_VTN_HOSTS``); empty: any.
        """
        from pathlib import Path

        errors = outbound_url_errors("vtn_url", self.vtn_url, "VTN", vtn_hosts, "MICROGRID_OPENADR_VTN_HOSTS")
        if (self.cert_path is None) != (self.key_path is None):
            missing = "key_path" if self.key_path is None else "cert_path"
            errors.append({"field": missing, "reason": Message("give cert_path and key_path together")})
        if self.cert_path is not None and self.ca_file is None:
            errors.append({"field": "ca_file", "reason": Message("with a VEN certificate, give the CA bundle "
                                                                 "that verifies the VTN's certificate")})
        for field in ("cert_path", "key_path", "ca_file"):
            value = getattr(self, field)
            if value is not None and not Path(value).is_file():
                errors.append({"field": field, "reason": Message("no file {value!r} on the server", value=value)})
        return errors


class OpenAdrReportValue(BaseModel):
    measured_at: dt.datetime
    demand_kw: float = Field(description="Net import at the point of common coupling (import − export) [kW].")


class OpenAdrReport(BaseModel):
    queued_at: dt.datetime
    sent_at: dt.datetime | None
    acknowledged_at: dt.datetime | None = Field(description="When the VTN answered oadrUpdatedReport.")
    measurement_id: int
    values: list[OpenAdrReportValue]


class OpenAdrStatus(BaseModel):
    """What the VEN is doing now (kept in memory: a restart begins anew)."""

    state: Literal["stopped", "registering", "registered", "retrying"]
    ven_id: str | None
    registration_id: str | None
    registered_at: dt.datetime | None
    poll_interval_s: float | None = Field(description="The polling interval the VTN asked for [s].")
    last_poll_at: dt.datetime | None
    last_poll_ok: bool | None
    last_error: str | None
    last_error_at: dt.datetime | None
    next_retry_at: dt.datetime | None
    report_requested: bool = Field(description="Whether the VTN asked for the metered-demand report.")
    last_report: OpenAdrReport | None


class OpenAdrEventOut(BaseModel):
    """An OpenADR event the VEN received, and its answer."""

    oadr_event_id: str
    modification_number: int
    status: str = Field(description="The event's status at the VTN when it was last received (far, near, active, "
                                    "completed, cancelled).")
    event_ids: list[str] = Field(description="The park's demand-response events it became (/parks/{id}/events).")
    opt: Literal["optIn", "optOut"] | None
    reason: str
    received_at: dt.datetime
    updated_at: dt.datetime


class OpenAdrOut(BaseModel):
    """A park's VEN: its settings, its state and the events it answered last (newest first)."""

    park_id: str
    config: OpenAdrConfigIn
    created_at: dt.datetime
    updated_at: dt.datetime
    status: OpenAdrStatus
    events: list[OpenAdrEventOut]
