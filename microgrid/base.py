"""Base class of the park's data objects."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


class StrictModel(BaseModel):
    """Base of every data object: unknown fields are errors, values are validated, numbers are finite.

    ``inf`` and ``nan`` (YAML ``.inf``, ``.nan``) are refused in every number
    field: "no limit" is written by leaving an optional field out.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def clock_minutes(clock: str) -> int:
    """Minutes after midnight of a validated ``HH:MM`` clock time (``24:00`` → 1440)."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def validate_clock(value: str) -> str:
    """Check a local clock time ``HH:MM`` between 00:00 and 24:00."""
    if not isinstance(value, str) or not _CLOCK.match(value) or clock_minutes(value) > 24 * 60:
        raise ValueError(f"must be a clock time HH:MM between 00:00 and 24:00, got {value!r}")
    return value


Clock = Annotated[str, AfterValidator(validate_clock)]
"""A local clock time ``HH:MM`` (``24:00`` allowed), validated."""


class ElectricalLoad(StrictModel):
    """A consumer on a bus of the park's network, drawing reactive power at ``power_factor``.

    ``power_factor`` (lagging: the load absorbs reactive power,
    ``q_kvar = p_kw · tan(acos(power_factor))``) defaults to the network's
    ``load_power_factor``; it matters only for the AC power flow.
    """

    bus: str
    power_factor: float | None = Field(default=None, gt=0, le=1,
                                       description="lagging power factor (default: network.load_power_factor)")


ReactiveMode = Literal["absorb", "inject"]


class Inverter(StrictModel):
    """Reactive power of a converter-connected device (PV, wind, battery) in the AC power flow.

    The converter runs at a fixed ``power_factor`` (default: the network's
    ``pv_power_factor``, ``wind_power_factor`` or ``battery_power_factor``),
    absorbing reactive power (``absorb``: under-excited, inductive, lowers the
    voltage, the usual setting against voltage rise from PV and wind) or
    injecting it (``inject``: over-excited, capacitive, raises the voltage):
    ``q_kvar = |p_kw| · tan(acos(power_factor))``. With ``sn_kva`` (its
    apparent-power rating) that is its reactive capability:
    ``q_kvar ≤ sqrt(sn_kva² − p_kw²)``. The one place that turns these fields
    into reactive power is :func:`microgrid.network.injections.inverter_q_kvar`.
    """

    power_factor: float | None = Field(default=None, gt=0, le=1, description="fixed power factor")
    reactive_mode: ReactiveMode = Field(default="absorb", description="absorb or inject reactive power")
    sn_kva: float | None = Field(default=None, gt=0, description="apparent-power rating of the inverter [kVA]")


class Storage(StrictModel):
    """An energy store whose content limits are fractions of ``capacity_kwh``.

    Shared by batteries (kWh of electricity) and thermal stores (kWh of heat).
    """

    capacity_kwh: float = Field(ge=0)
    min_soc_frac: float = Field(default=0.0, ge=0, le=1)
    max_soc_frac: float = Field(default=1.0, ge=0, le=1)
    initial_soc_frac: float = Field(default=0.5, ge=0, le=1)
    final_soc_frac: float | None = Field(default=None, ge=0, le=1, description="content required at the end of the horizon")
    terminal_value_cny_per_kwh: float | None = Field(
        default=None, ge=0, description="value of each kWh left at the end (default: the plan's end-of-horizon rule)")

    @model_validator(mode="after")
    def _soc_bounds(self) -> "Storage":
        if self.min_soc_frac > self.max_soc_frac:
            raise ValueError(f"min_soc_frac {self.min_soc_frac} exceeds max_soc_frac {self.max_soc_frac}; lower it")
        for name in ("initial_soc_frac", "final_soc_frac"):
            value = getattr(self, name)
            if value is not None and not self.min_soc_frac <= value <= self.max_soc_frac:
                raise ValueError(
                    f"{name} {value} is outside [min_soc_frac {self.min_soc_frac}, "
                    f"max_soc_frac {self.max_soc_frac}]; move it inside"
                )
        return self

    @property
    def min_soc_kwh(self) -> float:
        return self.min_soc_frac * self.capacity_kwh

    @property
    def max_soc_kwh(self) -> float:
        return self.max_soc_frac * self.capacity_kwh

    @property
    def initial_soc_kwh(self) -> float:
        return self.initial_soc_frac * self.capacity_kwh
