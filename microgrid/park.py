"""The park: site, grid connection, devices and internal network, as validated data.

Data objects only: no Pyomo objects and no time series live here. Devices are
kept in mappings keyed by their id (``batteries: {b1: {...}}``), so that a
device quantity has one stable address such as ``batteries.b1.capacity_kwh``.

Sign conventions: every power is a non-negative magnitude in kW whose direction
is in its name (``charge_kw``/``discharge_kw``, ``import_kw``/``export_kw``).
Reactive power is a magnitude too, with its direction named by
``reactive_mode`` (``absorb``/``inject``); the signs pandapower wants are set
in one place, :mod:`microgrid.network`.
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from microgrid.alerts import AlertSettings
from microgrid.base import ElectricalLoad, Inverter, ReactiveMode, Storage, StrictModel  # noqa: F401 (re-exported)
from microgrid.carbon import Carbon, legacy_grid_factor
from microgrid.economics import DEFAULT_NEW_ASSET_GROUPS, NEW_ASSET_GROUPS, Economics
from microgrid.flexible import CurtailableLoad, EnergyLoad, ShiftableLoad, ShiftableProcess
from microgrid.heat import ElectricBoiler, HeatBus, HeatPump, ThermalStore
from microgrid.sizing import Sizing
from microgrid.tariff import PRESETS, Tariff
from microgrid.wind import WindTurbineGroup

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


class Site(StrictModel):
    """Where the park is."""

    name: str
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    altitude_m: float = Field(default=0.0, ge=-500, le=9000)
    timezone: str = Field(default="Asia/Shanghai", description="IANA timezone name")

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}; use a name such as 'Asia/Shanghai'") from None
        return value


ExportRule = Literal["surplus_to_grid", "full_export", "anti_backflow"]
EXPORT_RULES: tuple[str, ...] = ("surplus_to_grid", "full_export", "anti_backflow")


class GridConnection(StrictModel):
    """Point of common coupling with the utility grid, and the rule the park's exports live under.

    ``export_rule`` is the grid-connection arrangement of the park's
    renewables (distributed PV in China; wind likewise), each settled at the
    tariff's ``export_price_cny_per_kwh`` (the coal-fired benchmark price,
    燃煤基准价, for new distributed PV):

    * ``surplus_to_grid`` (default; 自发自用、余电上网, "self-consumption,
      surplus to grid"): the renewables serve the park first; what is left
      may be exported, up to ``max_export_kw``. With ``export_pv_only``
      (default true) the export at a step never exceeds the renewable
      generation used at that step, so batteries do not sell to the grid;
      ``export_pv_only: false`` lifts that bound (any surplus may be sold);
    * ``full_export`` (全额上网): all renewable generation is sold to the
      grid through its own meter, up to ``max_export_kw`` (the rest is
      curtailed), and none of it serves the park: the load and the battery
      charging are bought from the grid at the import tariff. Import and
      export are metered apart, so both may flow at one step;
    * ``anti_backflow`` (防逆流): no export at the point of common coupling
      at any step; surplus renewables go to storage and flexible loads, the
      rest is curtailed. ``max_export_kw`` is not used (the export limit is
      0), so a case can switch rules without editing it.
    """

    bus: str = "pcc"
    max_import_kw: float = Field(gt=0)
    max_export_kw: float = Field(default=0.0, ge=0)
    export_rule: ExportRule = "surplus_to_grid"
    export_pv_only: bool = True

    @field_validator("export_rule")
    @classmethod
    def _export_capacity(cls, value: str, info) -> str:
        if value == "full_export" and info.data.get("max_export_kw") == 0:
            raise ValueError("full_export sells all renewable generation, but grid.max_export_kw is 0; "
                             "give grid.max_export_kw (the export capacity agreed with the grid, e.g. the PV's AC rating)")
        return value

    @field_validator("export_pv_only")
    @classmethod
    def _pv_only_applies(cls, value: bool, info) -> bool:
        rule = info.data.get("export_rule", "surplus_to_grid")
        if not value and rule != "surplus_to_grid":
            raise ValueError(f"false lets batteries sell to the grid, which export_rule {rule!r} does not allow; "
                             "remove export_pv_only or use export_rule surplus_to_grid")
        return value

    @property
    def export_limit_kw(self) -> float:
        """Most the park may export at a step [kW]: ``max_export_kw``, 0 under ``anti_backflow``."""
        return 0.0 if self.export_rule == "anti_backflow" else self.max_export_kw


class PVArray(Inverter):
    """A rooftop PV array with its inverters, modelled with PVWatts through pvlib.

    ``azimuth_deg`` follows pvlib: 180 faces south. ``system_losses_pct`` covers
    soiling, wiring, mismatch... (PVWatts ``losses``). The inverters clip AC
    output at ``ac_capacity_kw``.
    """

    bus: str
    dc_capacity_kw: float = Field(ge=0, description="STC DC rating [kWp]")
    ac_capacity_kw: float = Field(ge=0, description="inverter AC rating [kW]")
    tilt_deg: float = Field(default=20.0, ge=0, le=90)
    azimuth_deg: float = Field(default=180.0, ge=0, lt=360)
    temp_coeff_per_c: float = Field(default=-0.0037, ge=-0.01, le=0, description="power temperature coefficient [1/°C]")
    system_losses_pct: float = Field(default=14.0, ge=0, lt=100)
    inverter_efficiency: float = Field(default=0.96, gt=0, le=1)
    mounting: str = Field(default="close_mount_glass_glass", description="pvlib SAPM temperature model")

    @field_validator("mounting")
    @classmethod
    def _mounting(cls, value: str) -> str:
        allowed = ("open_rack_glass_glass", "close_mount_glass_glass", "open_rack_glass_polymer", "insulated_back_glass_polymer")
        if value not in allowed:
            raise ValueError(f"unknown mounting {value!r}; choose one of {', '.join(allowed)}")
        return value


class Battery(Storage, Inverter):
    """A stationary battery. SoC bounds are fractions of ``capacity_kwh``.

    ``throughput_cost_cny_per_kwh`` is a wear cost charged on every kWh charged
    and every kWh discharged (at the AC terminals).
    """

    bus: str
    max_charge_kw: float = Field(ge=0)
    max_discharge_kw: float = Field(ge=0)
    charge_efficiency: float = Field(default=0.95, gt=0, le=1)
    discharge_efficiency: float = Field(default=0.95, gt=0, le=1)
    min_soc_frac: float = Field(default=0.1, ge=0, le=1)
    max_soc_frac: float = Field(default=0.9, ge=0, le=1)
    throughput_cost_cny_per_kwh: float = Field(default=0.0, ge=0)


class FixedLoad(ElectricalLoad):
    """An inflexible load: ``scale`` × the column ``profile`` of the loads file [kW]."""

    profile: str = Field(description="column of the loads file, in kW")
    scale: float = Field(default=1.0, ge=0)


class Bus(StrictModel):
    """A node of the park's electrical network."""

    vn_kv: float = Field(gt=0, description="nominal voltage [kV]")


class TrafoType(StrictModel):
    """A two-winding transformer type: rating and test data from its datasheet."""

    sn_kva: float = Field(gt=0, description="rated apparent power [kVA]")
    vn_hv_kv: float = Field(gt=0, description="rated voltage of the high-voltage side [kV]")
    vn_lv_kv: float = Field(gt=0, description="rated voltage of the low-voltage side [kV]")
    vk_percent: float = Field(gt=0, description="short-circuit voltage [%]")
    vkr_percent: float = Field(ge=0, description="real part of the short-circuit voltage, load losses / sn [%]")
    pfe_kw: float = Field(default=0.0, ge=0, description="no-load (iron) losses [kW]")
    i0_percent: float = Field(default=0.0, ge=0, description="no-load current [%]")
    shift_degree: float = Field(default=0.0, description="phase shift of the vector group [°]")

    @model_validator(mode="after")
    def _impedance(self) -> "TrafoType":
        if self.vkr_percent >= self.vk_percent:
            raise ValueError(f"vkr_percent {self.vkr_percent} must be below vk_percent {self.vk_percent}")
        return self


class LineType(StrictModel):
    """A cable or overhead-line type: per-km data and ampacity from its datasheet."""

    r_ohm_per_km: float = Field(ge=0)
    x_ohm_per_km: float = Field(ge=0)
    c_nf_per_km: float = Field(default=0.0, ge=0)
    max_i_ka: float = Field(gt=0, description="ampacity, thermal current limit [kA]")
    type: Literal["cs", "ol"] = Field(default="cs", description="cs: cable, ol: overhead line")
    q_mm2: float | None = Field(default=None, gt=0, description="conductor cross-section [mm²]")

    @model_validator(mode="after")
    def _impedance(self) -> "LineType":
        if self.r_ohm_per_km == 0 and self.x_ohm_per_km == 0:
            raise ValueError("a line type with no impedance (r_ohm_per_km and x_ohm_per_km both 0); give its data")
        return self


class StdTypes(StrictModel):
    """Standard types the case defines, next to pandapower's own (a case's type of the same name wins)."""

    line: dict[str, LineType] = Field(default_factory=dict)
    trafo: dict[str, TrafoType] = Field(default_factory=dict)


class Transformer(StrictModel):
    """A two-winding transformer between two buses: a standard type, or its own data.

    A standard type is one of pandapower's or one the case defines in
    ``network.std_types.trafo``; otherwise give ``sn_kva`` and the test data
    (``vk_percent`` 6, ``vkr_percent`` 1, ``pfe_kw`` 0, ``i0_percent`` 0 unless given).
    """

    hv_bus: str
    lv_bus: str
    std_type: str | None = Field(default=None, description="standard transformer type")
    sn_kva: float | None = Field(default=None, gt=0, description="rated apparent power [kVA]")
    vk_percent: float = Field(default=6.0, gt=0, description="short-circuit voltage [%]")
    vkr_percent: float = Field(default=1.0, ge=0, description="real part of short-circuit voltage [%]")
    pfe_kw: float = Field(default=0.0, ge=0, description="iron losses [kW]")
    i0_percent: float = Field(default=0.0, ge=0, description="open-loop current [%]")
    parallel: int = Field(default=1, ge=1, description="identical units in parallel")

    @model_validator(mode="after")
    def _data(self) -> "Transformer":
        own = {"sn_kva", "vk_percent", "vkr_percent", "pfe_kw", "i0_percent"} & self.model_fields_set
        if self.std_type is not None and own:
            raise ValueError(f"give either std_type or the transformer's own data ({', '.join(sorted(own))}), "
                             "not both")
        if self.std_type is None and self.sn_kva is None:
            raise ValueError("give std_type (a standard transformer type) or sn_kva with vk_percent and vkr_percent")
        if self.std_type is None and self.vkr_percent >= self.vk_percent:
            raise ValueError(f"vkr_percent {self.vkr_percent} must be below vk_percent {self.vk_percent}")
        return self


class Line(StrictModel):
    """A cable or overhead line between two buses: a standard type, or its own data.

    A standard type is one of pandapower's or one the case defines in
    ``network.std_types.line``. Loading is the current over
    ``max_i_ka × derating_factor × parallel``.
    """

    from_bus: str
    to_bus: str
    length_km: float = Field(gt=0)
    std_type: str | None = Field(default=None, description="pandapower standard line type")
    r_ohm_per_km: float | None = Field(default=None, ge=0)
    x_ohm_per_km: float | None = Field(default=None, ge=0)
    c_nf_per_km: float = Field(default=0.0, ge=0)
    max_i_ka: float | None = Field(default=None, gt=0, description="thermal current limit [kA]")
    parallel: int = Field(default=1, ge=1, description="identical cables in parallel")
    derating_factor: float = Field(default=1.0, gt=0, le=1,
                                   description="of the ampacity, for laying conditions (grouping, soil, depth)")

    @model_validator(mode="after")
    def _data(self) -> "Line":
        own = (self.r_ohm_per_km, self.x_ohm_per_km, self.max_i_ka)
        if self.std_type is None and any(v is None for v in own):
            raise ValueError("give std_type (a pandapower standard type) or r_ohm_per_km, x_ohm_per_km and max_i_ka")
        if self.std_type is None and self.r_ohm_per_km == 0 and self.x_ohm_per_km == 0:
            raise ValueError("a line with no impedance (r_ohm_per_km and x_ohm_per_km both 0); give its data "
                             "or join the buses")
        if self.std_type is not None and any(v is not None for v in own):
            raise ValueError("give either std_type or r_ohm_per_km/x_ohm_per_km/max_i_ka, not both")
        return self


class Network(StrictModel):
    """The park's internal network: buses, transformers and lines, and its limits.

    Either described here (``buses``, ``lines``, ``transformers``) or read
    from a pandapower JSON file (``pandapower_json``, relative to the case
    folder), whose buses the devices name directly or through ``bus_names``
    (park bus → bus name in the JSON).

    Reactive power: every load draws at its own ``power_factor`` or else at
    ``load_power_factor`` (lagging); PV inverters, wind turbine groups and
    batteries run at their own ``power_factor`` or else ``pv_power_factor``,
    ``wind_power_factor`` and ``battery_power_factor`` (1: active power
    only), see :class:`Inverter`.
    """

    buses: dict[str, Bus] = Field(default_factory=dict)
    transformers: dict[str, Transformer] = Field(default_factory=dict)
    lines: dict[str, Line] = Field(default_factory=dict)
    std_types: StdTypes = Field(default_factory=StdTypes)
    pandapower_json: str | None = Field(default=None, description="pandapower JSON file of the network")
    bus_names: dict[str, str] = Field(default_factory=dict, description="park bus -> bus name in pandapower_json")
    load_power_factor: float = Field(default=0.95, gt=0, le=1)
    pv_power_factor: float = Field(default=1.0, gt=0, le=1)
    wind_power_factor: float = Field(default=1.0, gt=0, le=1,
                                     description="of the wind turbine groups without their own power_factor")
    battery_power_factor: float = Field(default=1.0, gt=0, le=1)
    min_vm_pu: float = Field(default=0.95, gt=0)
    max_vm_pu: float = Field(default=1.05, gt=0)
    max_line_loading_pct: float = Field(default=100.0, gt=0)
    max_trafo_loading_pct: float = Field(default=100.0, gt=0)
    constrained: bool = Field(default=False, description="network-aware dispatch: loading and voltage limits "
                              "inside the MILP, iterated with AC power flow (dispatch.network)")
    max_iterations: int = Field(default=8, ge=1, le=50, description="solve / AC-check rounds of a network-aware plan")

    @property
    def described(self) -> bool:
        """Whether the case has a network to run power flows on."""
        return bool(self.buses) or self.pandapower_json is not None

    @model_validator(mode="after")
    def _branches_on_known_buses(self) -> "Network":
        if self.pandapower_json is not None and (self.buses or self.lines or self.transformers):
            raise ValueError("give either pandapower_json (a network file) or buses, lines and transformers, "
                             "not both")
        if self.constrained and not self.described:
            raise ValueError("constrained: true needs a network; describe buses, lines and transformers or give "
                             "pandapower_json")
        if self.bus_names and self.pandapower_json is None:
            raise ValueError("bus_names maps park buses to the buses of pandapower_json; give pandapower_json "
                             "or remove bus_names")
        for kind, branches, ends in (
            ("transformers", self.transformers, ("hv_bus", "lv_bus")),
            ("lines", self.lines, ("from_bus", "to_bus")),
        ):
            for name, branch in branches.items():
                for end in ends:
                    bus = getattr(branch, end)
                    if bus not in self.buses:
                        raise ValueError(f"{kind}.{name}.{end}: bus {bus!r} is not in network.buses; add it there")
        return self


class DataFiles(StrictModel):
    """Time-series files of the case, relative to the case folder."""

    weather: str = "weather.csv"
    loads: str = "loads.csv"
    heat: str = Field(default="heat.csv", description="heat demand profiles [kW of heat]; needed with heat_buses")
    grid_meter: str | None = Field(
        default=None, description="metered import at the point of common coupling: a grid_import_kw column of mean "
                                  "power over each step [kW]; the demand charge's month-to-date peak comes from it")


class DispatchSettings(StrictModel):
    """How the case is planned by default; the CLI can override each setting.

    ``objective``: ``cost`` (least cost), ``self_consumption`` (most on-site
    PV use, then least cost) or ``co2`` (least grid CO2, then least cost).
    ``end_of_horizon``: ``value`` (energy left is worth tomorrow's cheapest
    import through the losses), ``cyclic`` (stores end where they started) or
    ``minimum`` (no value).
    """

    objective: Literal["cost", "self_consumption", "co2"] = "cost"
    end_of_horizon: Literal["value", "cyclic", "minimum"] = Field(
        default="value", description="what energy left in the stores at the end of a day-ahead or intraday plan is "
                                     "worth (dispatch.model.DispatchConfig.end_of_horizon)")
    mip_gap: float = Field(default=1e-3, ge=0, lt=1)
    time_limit_s: float = Field(default=30.0, gt=0)


class DemandResponseSettings(StrictModel):
    """How the response to a demand-response event is measured: the customer baseline load (CBL).

    ``baseline``: ``optimal-plan`` (the park's own optimal plan without the
    event, over the event's horizon) or ``similar-days`` (the average metered
    grid import, at the same clock times, of the last ``similar_days`` days of
    the event day's type before it, as DR programmes settle: working days for
    an event on a working day, weekends and holidays for one on a day off;
    days with another demand-response event and days the meter does not cover
    whole are skipped, looking back at most ``lookback_days``).

    ``adjustment`` (similar days only): ``none``, ``scaling`` (the baseline
    times the event day's metered import over the ``adjustment_window_h``
    hours ending ``adjustment_gap_h`` before the event's start, divided by the
    baseline's over the same hours, limited to 1 ± ``adjustment_cap_frac``) or
    ``additive`` (the difference instead of the ratio, limited to ±
    ``adjustment_cap_frac`` of the baseline's mean over those hours).
    """

    baseline: Literal["optimal-plan", "similar-days"] = Field(
        default="optimal-plan", description="the customer baseline an event's response is measured against")
    similar_days: int = Field(default=5, ge=1, le=30, description="days averaged (N of the last similar days)")
    min_similar_days: int = Field(default=3, ge=1, le=30,
                                  description="fewest similar days with metered import for a baseline")
    lookback_days: int = Field(default=30, ge=1, le=120, description="calendar days searched before the event")
    adjustment: Literal["none", "scaling", "additive"] = "none"
    adjustment_window_h: float = Field(default=2.0, gt=0, le=12,
                                       description="length of the same-day adjustment window [h]")
    adjustment_gap_h: float = Field(default=1.0, ge=0, le=12,
                                    description="hours between the adjustment window's end and the event's start [h]")
    adjustment_cap_frac: float = Field(default=0.2, ge=0, le=1,
                                       description="largest adjustment, as a share of the baseline")

    @model_validator(mode="after")
    def _days(self) -> "DemandResponseSettings":
        if self.min_similar_days > self.similar_days:
            raise ValueError(f"min_similar_days: {self.min_similar_days} is more than similar_days "
                             f"({self.similar_days}); at most as many as are averaged")
        if self.similar_days > self.lookback_days:
            raise ValueError(f"similar_days: {self.similar_days} days cannot be found in lookback_days "
                             f"({self.lookback_days}); look back further or average fewer")
        return self


class Park(StrictModel):
    """The whole park: the object a case file describes."""

    site: Site
    grid: GridConnection
    tariff: Tariff
    data: DataFiles = Field(default_factory=DataFiles)
    network: Network = Field(default_factory=Network)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    demand_response: DemandResponseSettings = Field(default_factory=DemandResponseSettings)
    economics: Economics = Field(default_factory=Economics)
    carbon: Carbon = Field(default_factory=Carbon)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    sizing: Sizing | None = Field(default=None, description="what `microgrid size` may buy (microgrid.sizing)")
    pv_arrays: dict[str, PVArray] = Field(default_factory=dict)
    wind_turbines: dict[str, WindTurbineGroup] = Field(default_factory=dict)
    batteries: dict[str, Battery] = Field(default_factory=dict)
    loads: dict[str, FixedLoad] = Field(default_factory=dict)
    heat_buses: dict[str, HeatBus] = Field(default_factory=dict)
    heat_pumps: dict[str, HeatPump] = Field(default_factory=dict)
    electric_boilers: dict[str, ElectricBoiler] = Field(default_factory=dict)
    thermal_stores: dict[str, ThermalStore] = Field(default_factory=dict)
    shiftable_processes: dict[str, ShiftableProcess] = Field(default_factory=dict)
    energy_loads: dict[str, EnergyLoad] = Field(default_factory=dict)
    curtailable_loads: dict[str, CurtailableLoad] = Field(default_factory=dict)
    shiftable_loads: dict[str, ShiftableLoad] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ids_and_buses(self) -> "Park":
        groups = self.device_groups()
        seen: dict[str, str] = {}
        for group, devices in {**groups, "heat_buses": self.heat_buses}.items():
            for device_id in devices:
                if not _ID.match(device_id):
                    raise ValueError(
                        f"{group}.{device_id}: device ids must start with a letter and use "
                        "letters, digits, '_' or '-'"
                    )
                if device_id in seen:
                    raise ValueError(f"{group}.{device_id}: id already used in {seen[device_id]}; ids must be unique")
                seen[device_id] = group
        for group in ("heat_pumps", "electric_boilers", "thermal_stores"):
            for device_id, device in groups[group].items():
                if device.heat_bus not in self.heat_buses:
                    known = ", ".join(self.heat_buses) or "none defined"
                    raise ValueError(
                        f"{group}.{device_id}.heat_bus: heat bus {device.heat_bus!r} is not in heat_buses "
                        f"({known}); add it there"
                    )
        if self.network.buses:
            buses = self.network.buses
            if self.grid.bus not in buses:
                raise ValueError(f"grid.bus: bus {self.grid.bus!r} is not in network.buses; add it there")
            for group, devices in groups.items():
                for device_id, device in devices.items():
                    if hasattr(device, "bus") and device.bus not in buses:
                        raise ValueError(
                            f"{group}.{device_id}.bus: bus {device.bus!r} is not in network.buses; "
                            f"use one of {', '.join(buses)}"
                        )
        return self

    @model_validator(mode="after")
    def _new_assets(self) -> "Park":
        named = self.economics.new_assets
        if named is None:
            return self
        groups = self.device_groups()
        investable = {d: g for g in NEW_ASSET_GROUPS for d in groups[g]}
        for device_id in named:
            if device_id not in investable:
                other = next((g for g, devices in groups.items() if device_id in devices), None)
                why = (f"is in {other}, which an investment does not buy" if other
                       else "is no device of the park")
                raise ValueError(f"economics.new_assets: {device_id!r} {why}; name PV arrays, wind turbine groups, "
                                 f"batteries, heat pumps or thermal stores ({', '.join(investable) or 'none'})")
        for bus_id in self.heat_buses:
            suppliers = [h for h, pump in self.heat_pumps.items() if pump.heat_bus == bus_id]
            suppliers += [b for b, boiler in self.electric_boilers.items() if boiler.heat_bus == bus_id]
            if suppliers and all(s in named for s in suppliers):
                raise ValueError(f"economics.new_assets: without {', '.join(suppliers)} heat bus {bus_id!r} has no "
                                 "heat supply, so the park without its new assets cannot be operated; keep one of "
                                 "them out of new_assets or add an electric boiler to the bus")
        return self

    @property
    def new_assets(self) -> dict[str, list[str]]:
        """The devices the investment buys (``economics.new_assets``), by family (every family listed)."""
        named = self.economics.new_assets
        groups = self.device_groups()
        return {g: [d for d in groups[g] if (d in named if named is not None else g in DEFAULT_NEW_ASSET_GROUPS)]
                for g in NEW_ASSET_GROUPS}

    def without_new_assets(self) -> "Park":
        """The park without its new assets: the investment baseline (its own ``new_assets`` empty)."""
        groups = self.device_groups()
        update: dict = {group: {d: device for d, device in groups[group].items() if d not in ids}
                        for group, ids in self.new_assets.items()}
        update["economics"] = self.economics.model_copy(update={"new_assets": []})
        return self.model_copy(update=update)

    @model_validator(mode="after")
    def _one_grid_factor(self) -> "Park":
        # One grid factor: carbon.grid's, written into tariff.co2_kg_per_kwh (which the model reads); a case
        # without carbon.grid keeps its tariff's, its source named by legacy_grid_factor.
        # Copies are assigned (validated again, which ends here), so that no shared object is changed.
        if self.carbon.grid is None:
            grid = legacy_grid_factor(self.tariff.co2_kg_per_kwh, PRESETS["henan_2024"]["co2_kg_per_kwh"])
            self.carbon = self.carbon.model_copy(update={"grid": grid})
        elif self.tariff.co2_kg_per_kwh != self.carbon.grid.co2_kg_per_kwh:
            self.tariff = self.tariff.model_copy(update={"co2_kg_per_kwh": self.carbon.grid.co2_kg_per_kwh})
        return self

    def grid_co2_kg_per_kwh(self, index) -> "pd.Series":
        """The grid factor of every step of ``index`` [kg CO2/kWh]: ``carbon.grid``'s, hourly where it has a profile."""
        return self.carbon.grid.factor(index, self.site.timezone)

    @property
    def wind_nameplate_kw(self) -> float:
        """Nameplate power of all the park's wind turbines [kW] (0 without any)."""
        return sum(group.nameplate_kw for group in self.wind_turbines.values())

    def device_groups(self) -> dict[str, dict[str, StrictModel]]:
        """Every device family, by the name of its section in the case file."""
        return {
            "pv_arrays": self.pv_arrays,
            "wind_turbines": self.wind_turbines,
            "batteries": self.batteries,
            "loads": self.loads,
            "heat_pumps": self.heat_pumps,
            "electric_boilers": self.electric_boilers,
            "thermal_stores": self.thermal_stores,
            "shiftable_processes": self.shiftable_processes,
            "energy_loads": self.energy_loads,
            "curtailable_loads": self.curtailable_loads,
            "shiftable_loads": self.shiftable_loads,
        }
