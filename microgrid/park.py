"""The park: site, grid connection, devices and internal network, as validated data.

Data objects only: no Pyomo objects and no time series live here. Devices are
kept in mappings keyed by their id (``batteries: {b1: {...}}``), so that a
device quantity has one stable address such as ``batteries.b1.capacity_kwh``.

Sign conventions: every power is a non-negative magnitude in kW whose direction
is in its name (``charge_kw``/``discharge_kw``, ``import_kw``/``export_kw``).
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from microgrid.base import Storage, StrictModel
from microgrid.flexible import CurtailableLoad, EnergyLoad, ShiftableLoad, ShiftableProcess
from microgrid.heat import ElectricBoiler, HeatBus, HeatPump, ThermalStore
from microgrid.tariff import Tariff

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


class GridConnection(StrictModel):
    """Point of common coupling with the utility grid.

    ``export_pv_only`` (default true) follows the "self-use, surplus to grid"
    arrangement of distributed PV in China: only PV surplus may be exported
    (and is paid the export price); batteries may not discharge to the grid.
    """

    bus: str = "pcc"
    max_import_kw: float = Field(gt=0)
    max_export_kw: float = Field(default=0.0, ge=0)
    export_pv_only: bool = True


class PVArray(StrictModel):
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


class Battery(Storage):
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


class FixedLoad(StrictModel):
    """An inflexible load: ``scale`` × the column ``profile`` of the loads file [kW]."""

    bus: str
    profile: str = Field(description="column of the loads file, in kW")
    scale: float = Field(default=1.0, ge=0)


class Bus(StrictModel):
    """A node of the park's electrical network."""

    vn_kv: float = Field(gt=0, description="nominal voltage [kV]")


class Transformer(StrictModel):
    """A two-winding transformer between two buses."""

    hv_bus: str
    lv_bus: str
    sn_kva: float = Field(gt=0, description="rated apparent power [kVA]")
    vk_percent: float = Field(default=6.0, gt=0, description="short-circuit voltage [%]")
    vkr_percent: float = Field(default=1.0, ge=0, description="real part of short-circuit voltage [%]")
    pfe_kw: float = Field(default=0.0, ge=0, description="iron losses [kW]")
    i0_percent: float = Field(default=0.0, ge=0, description="open-loop current [%]")

    @model_validator(mode="after")
    def _impedance(self) -> "Transformer":
        if self.vkr_percent >= self.vk_percent:
            raise ValueError(f"vkr_percent {self.vkr_percent} must be below vk_percent {self.vk_percent}")
        return self


class Line(StrictModel):
    """A cable or overhead line between two buses: a pandapower standard type, or its own data."""

    from_bus: str
    to_bus: str
    length_km: float = Field(gt=0)
    std_type: str | None = Field(default=None, description="pandapower standard line type")
    r_ohm_per_km: float | None = Field(default=None, ge=0)
    x_ohm_per_km: float | None = Field(default=None, ge=0)
    c_nf_per_km: float = Field(default=0.0, ge=0)
    max_i_ka: float | None = Field(default=None, gt=0, description="thermal current limit [kA]")

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

    Reactive power: loads draw at ``load_power_factor`` (lagging); PV
    inverters and batteries run at ``pv_power_factor`` and
    ``battery_power_factor`` (1: active power only).
    """

    buses: dict[str, Bus] = Field(default_factory=dict)
    transformers: dict[str, Transformer] = Field(default_factory=dict)
    lines: dict[str, Line] = Field(default_factory=dict)
    load_power_factor: float = Field(default=0.95, gt=0, le=1)
    pv_power_factor: float = Field(default=1.0, gt=0, le=1)
    battery_power_factor: float = Field(default=1.0, gt=0, le=1)
    min_vm_pu: float = Field(default=0.95, gt=0)
    max_vm_pu: float = Field(default=1.05, gt=0)
    max_line_loading_pct: float = Field(default=100.0, gt=0)
    max_trafo_loading_pct: float = Field(default=100.0, gt=0)

    @model_validator(mode="after")
    def _branches_on_known_buses(self) -> "Network":
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


class DispatchSettings(StrictModel):
    """How the case is planned by default; the CLI can override each setting.

    ``objective``: ``cost`` (least cost), ``self_consumption`` (most on-site
    PV use, then least cost) or ``co2`` (least grid CO2, then least cost).
    """

    objective: Literal["cost", "self_consumption", "co2"] = "cost"
    mip_gap: float = Field(default=1e-3, ge=0, lt=1)
    time_limit_s: float = Field(default=30.0, gt=0)


class Park(StrictModel):
    """The whole park: the object a case file describes."""

    site: Site
    grid: GridConnection
    tariff: Tariff
    data: DataFiles = Field(default_factory=DataFiles)
    network: Network = Field(default_factory=Network)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    pv_arrays: dict[str, PVArray] = Field(default_factory=dict)
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

    def device_groups(self) -> dict[str, dict[str, StrictModel]]:
        """Every device family, by the name of its section in the case file."""
        return {
            "pv_arrays": self.pv_arrays,
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
