"""Bounds of a sizing study: the ``sizing`` section of ``park.yaml``.

Data only: which technologies ``microgrid size`` may buy and between which
sizes. The sizing model is :mod:`dispatch.sizing`; the costs it weighs are
the case's ``economics`` section (:mod:`microgrid.economics`).

A technology the section does not name is not bought. Every size is of *new*
capacity, added to the park without its new assets
(:meth:`microgrid.park.Park.without_new_assets`, the investment baseline)::

    sizing:
      typical_days: 12
      pv: {max_kw: 8000}                       # kWp DC, shaped like the park's new PV arrays
      battery: {max_kwh: 12000, max_kw: 6000}  # energy and power sized apart
      heat_pump: {max_kw: 1200}                # kW electric, like the park's first heat pump
      thermal_store: {max_kwh: 20000, max_kw: 4000}

Sizes are on the basis :mod:`microgrid.economics` prices them: PV per kWp DC,
wind per kW of nameplate, heat pumps per kW of electric input, stores per kWh
of content and per kW of their larger power rating.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from microgrid.base import StrictModel


class PowerBounds(StrictModel):
    """Bounds of a capacity sized in kW: ``min_kw ≤ size ≤ max_kw``."""

    min_kw: float = Field(default=0.0, ge=0, description="least size [kW]")
    max_kw: float = Field(ge=0, description="largest size [kW]")

    @model_validator(mode="after")
    def _ordered(self) -> "PowerBounds":
        if self.min_kw > self.max_kw:
            raise ValueError(f"min_kw {self.min_kw:g} exceeds max_kw {self.max_kw:g}; lower min_kw or raise max_kw")
        return self


class StorageBounds(PowerBounds):
    """Bounds of a store, energy and power sized apart.

    ``min_duration_h`` / ``max_duration_h`` optionally bound the ratio
    ``energy / power`` [h] (e.g. 2 h for a 0.5C battery system).
    """

    min_kwh: float = Field(default=0.0, ge=0, description="least energy capacity [kWh]")
    max_kwh: float = Field(ge=0, description="largest energy capacity [kWh]")
    min_duration_h: float | None = Field(default=None, gt=0, description="least energy / power [h]")
    max_duration_h: float | None = Field(default=None, gt=0, description="largest energy / power [h]")

    @model_validator(mode="after")
    def _energy_ordered(self) -> "StorageBounds":
        if self.min_kwh > self.max_kwh:
            raise ValueError(f"min_kwh {self.min_kwh:g} exceeds max_kwh {self.max_kwh:g}; lower min_kwh or "
                             "raise max_kwh")
        low, high = self.min_duration_h, self.max_duration_h
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_duration_h {low:g} exceeds max_duration_h {high:g}; lower min_duration_h")
        if low is not None and self.max_kw > 0 and self.max_kwh < low * self.min_kw:
            raise ValueError(f"max_kwh {self.max_kwh:g} is below min_duration_h × min_kw "
                             f"({low:g} h × {self.min_kw:g} kW); raise max_kwh or lower min_kw")
        return self


TECHNOLOGIES: tuple[str, ...] = ("pv", "wind", "battery", "heat_pump", "thermal_store")
"""The technologies a sizing may buy (the names of their ``sizing`` and ``economics`` fields)."""


class Sizing(StrictModel):
    """What ``microgrid size`` may buy, with the bounds of each size.

    ``typical_days``: the number of typical days the year is clustered into
    (``--k`` overrides). ``battery_template``, ``heat_pump_template`` and
    ``thermal_store_template`` name the device whose data (efficiencies,
    state-of-charge limits, COP, losses, bus) a new one copies; default:
    the park's first new battery (else its first battery, else a default
    battery at the grid's bus), its first heat pump, its first thermal store.
    """

    typical_days: int = Field(default=12, ge=1, le=366, description="typical days of the year")
    pv: PowerBounds | None = None
    wind: PowerBounds | None = None
    battery: StorageBounds | None = None
    heat_pump: PowerBounds | None = None
    thermal_store: StorageBounds | None = None
    battery_template: str | None = None
    heat_pump_template: str | None = None
    thermal_store_template: str | None = None

    @property
    def candidates(self) -> list[str]:
        """The technologies given bounds, in :data:`TECHNOLOGIES` order."""
        return [t for t in TECHNOLOGIES if getattr(self, t) is not None]
