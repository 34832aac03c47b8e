"""Heat devices: heat buses with their demand, heat pumps, electric boilers, thermal stores.

Heat quantities are kW (or kWh) of heat; field names say ``_th`` where a heat
quantity could be mistaken for an electrical one. Every heat device sits on a
heat bus, and heat balances on every heat bus at every step.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from microgrid.base import ElectricalLoad, Storage, StrictModel

KELVIN = 273.15


class HeatBus(StrictModel):
    """A heat network (steam, hot water) with its demand.

    ``demand_profile`` is a column of the case's heat file [kW of heat];
    ``allow_dump`` lets surplus heat be vented (a cooling tower, a blow-off).
    """

    demand_profile: str
    scale: float = Field(default=1.0, ge=0)
    allow_dump: bool = True


class CopTable(StrictModel):
    """COP interpolated linearly in a table of source temperatures (held flat outside it)."""

    kind: Literal["table"] = "table"
    source_temps_c: list[float] = Field(min_length=1)
    cops: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _table(self) -> "CopTable":
        if len(self.source_temps_c) != len(self.cops):
            raise ValueError(f"source_temps_c has {len(self.source_temps_c)} values but cops has {len(self.cops)}; give one COP per temperature")
        if any(b <= a for a, b in zip(self.source_temps_c, self.source_temps_c[1:])):
            raise ValueError("source_temps_c must increase strictly")
        if any(c <= 0 for c in self.cops):
            raise ValueError("cops must all be > 0")
        return self

    def cop(self, source_temp_c: np.ndarray) -> np.ndarray:
        return np.interp(source_temp_c, self.source_temps_c, self.cops)


class CopCarnot(StrictModel):
    """COP as a fraction of the Carnot COP: ``η · T_sink / (T_sink − T_source)`` (kelvin).

    The temperature lift is held at ``min_lift_k`` or more, so the COP stays
    finite when the source approaches the sink.
    """

    kind: Literal["carnot"] = "carnot"
    sink_temp_c: float = Field(gt=-50, le=250, description="supply (sink) temperature [°C]")
    carnot_efficiency: float = Field(gt=0, le=1)
    min_lift_k: float = Field(default=10.0, gt=0)

    def cop(self, source_temp_c: np.ndarray) -> np.ndarray:
        lift = np.maximum(self.sink_temp_c - np.asarray(source_temp_c, dtype=float), self.min_lift_k)
        return self.carnot_efficiency * (self.sink_temp_c + KELVIN) / lift


CopModel = Annotated[CopTable | CopCarnot, Field(discriminator="kind")]


class HeatPump(ElectricalLoad):
    """An electric heat pump (air-source or on a fixed-temperature source, e.g. waste heat).

    Runs between ``min_load_frac × max_elec_kw`` and ``max_elec_kw`` when on
    (an on/off binary), or is off. Heat out = COP(source temperature) × electric in.
    """

    heat_bus: str
    max_elec_kw: float = Field(gt=0)
    min_load_frac: float = Field(default=0.0, ge=0, lt=1)
    cop: CopModel
    source: Literal["ambient", "fixed"] = "ambient"
    source_temp_c: float | None = Field(default=None, description="source temperature when source is 'fixed' [°C]")

    @model_validator(mode="after")
    def _source(self) -> "HeatPump":
        if self.source == "fixed" and self.source_temp_c is None:
            raise ValueError("source 'fixed' needs source_temp_c; give the source temperature in °C")
        return self

    def cop_series(self, temp_air_c: np.ndarray) -> np.ndarray:
        """COP at every step, from ambient air temperature or the fixed source."""
        if self.source == "fixed":
            return self.cop.cop(np.full(len(temp_air_c), self.source_temp_c, dtype=float))
        return self.cop.cop(np.asarray(temp_air_c, dtype=float))


class ElectricBoiler(ElectricalLoad):
    """An electric (resistance or electrode) boiler: heat = efficiency × electric in."""

    heat_bus: str
    max_elec_kw: float = Field(gt=0)
    efficiency: float = Field(default=0.98, gt=0, le=1)


class ThermalStore(Storage):
    """A heat store on a heat bus (hot water tank, steam accumulator, molten salt...).

    ``capacity_kwh`` is kWh of heat. Standing loss: the store loses
    ``loss_frac_per_h`` of its content every hour.
    """

    heat_bus: str
    max_charge_kw: float = Field(ge=0)
    max_discharge_kw: float = Field(ge=0)
    loss_frac_per_h: float = Field(default=0.005, ge=0, lt=1)
