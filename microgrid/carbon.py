"""The park's carbon accounting data: the grid emission factor with its source, and the fuels burnt on site.

The ``carbon`` section of ``park.yaml``::

    carbon:
      grid:                              # scope 2, location-based
        preset: mee_2022_central_china   # or give every field below yourself
        # co2_kg_per_kwh: 0.5395         # the published average factor [kg CO2/kWh]
        # scope: regional                # national | regional | provincial | custom
        # region: Central China (华中)
        # year: 2022                     # the year the factor is of
        # source: "..."                  # who published it, where
        # hourly_co2_kg_per_kwh: [24 values, local hours 0-23]
        # hourly_source: "..."           # where the hourly profile comes from
      fuels:                             # scope 1: fuels burnt on site
        canteen_gas: {fuel: natural_gas, consumption_per_day: 3.5, unit: GJ}
        standby_diesel: {fuel: diesel, consumption_per_month: 0.4, unit: t}

A case without the section keeps its factor in ``tariff.co2_kg_per_kwh``
(what cases did before the section existed): :func:`legacy_grid_factor`
names its source when it is the ``henan_2024`` preset's. The hourly profile
can also come from a CSV file of the case (``hourly_csv: {file, column}``, 24
rows); the case loader reads it into ``hourly_co2_kg_per_kwh``
(:func:`microgrid.case.load_case`).

Data only: the figures computed from it are :mod:`dispatch.carbon`'s.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from microgrid.base import StrictModel
from microgrid.messages import Message

MEE_2022_SOURCE = ("Ministry of Ecology and Environment and National Bureau of Statistics of China, "
                   "2022 electricity CO2 emission factors (生态环境部、国家统计局 2022年电力二氧化碳排放因子, "
                   "announced 2024-12-20)")
"""The publication of China's 2022 national, regional and provincial grid average factors."""

GRID_FACTOR_PRESETS: dict[str, dict[str, Any]] = {
    "mee_2022_national": {
        "co2_kg_per_kwh": 0.5366, "scope": "national", "region": "China (全国)", "year": 2022,
        "source": f"national average grid emission factor for 2022, 0.5366 kg CO2/kWh: {MEE_2022_SOURCE}"},
    "mee_2022_central_china": {
        "co2_kg_per_kwh": 0.5395, "scope": "regional", "region": "Central China (华中)", "year": 2022,
        "source": f"Central China (华中) regional grid average emission factor for 2022, 0.5395 kg CO2/kWh: "
                  f"{MEE_2022_SOURCE}"},
}
"""Published grid average factors by name: ``carbon.grid.preset`` (each field can be overridden)."""

IPCC_2006_SOURCE = ("IPCC 2006 Guidelines for National Greenhouse Gas Inventories, Vol. 2 Energy, Ch. 1: default "
                    "CO2 emission factors of combustion (Table 1.4) and net calorific values (Table 1.2)")
"""Where the default fuel factors come from."""

IPCC_2006_CO2_KG_PER_GJ = {"natural_gas": 56.1, "diesel": 74.1, "lpg": 63.1}
"""IPCC 2006 default CO2 emission factors [kg CO2/GJ, net calorific basis]: natural gas 56 100, gas/diesel oil
74 100, liquefied petroleum gases 63 100 kg CO2/TJ."""

IPCC_2006_NCV_GJ_PER_T = {"natural_gas": 48.0, "diesel": 43.0, "lpg": 47.3}
"""IPCC 2006 default net calorific values [GJ/t] (TJ/Gg)."""

FUEL_UNITS = ("GJ", "t", "m3", "L")


class HourlyCsv(StrictModel):
    """A CSV file of the case with the hourly factor profile: 24 rows, ``hour`` 0-23 and the factor column."""

    file: str = Field(description="CSV file relative to the case folder")
    column: str = Field(default="co2_kg_per_kwh", description="column of the factor [kg CO2/kWh]")


class GridFactor(StrictModel):
    """The grid emission factor of imported electricity (scope 2, location-based) and where it comes from.

    Attributes
    ----------
    co2_kg_per_kwh : float
        The published average factor [kg CO2/kWh].
    scope : {'national', 'regional', 'provincial', 'custom'}
        Whose average it is: the country's, a regional grid's, a province's,
        or the case's own figure (``custom``).
    region : str
        The country, grid region or province.
    year : int or None
        The year the factor is of (not of its publication); required but for ``custom``.
    source : str
        Who published it and where.
    hourly_co2_kg_per_kwh : list of 24 floats, optional
        A factor for each local hour 0-23 [kg CO2/kWh]: each step of a plan
        takes its hour's value instead of ``co2_kg_per_kwh``.
    hourly_source : str, optional
        Where the hourly profile comes from (required with it).
    hourly_csv : HourlyCsv, optional
        The hourly profile as a CSV file of the case, read by the case loader.
    """

    preset: str | None = Field(default=None, description="a name of GRID_FACTOR_PRESETS")
    co2_kg_per_kwh: float = Field(ge=0, le=5)
    scope: Literal["national", "regional", "provincial", "custom"]
    region: str = ""
    year: int | None = Field(default=None, ge=1990, le=2100)
    source: str = Field(min_length=1)
    hourly_co2_kg_per_kwh: list[float] | None = None
    hourly_source: str | None = None
    hourly_csv: HourlyCsv | None = None

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") is not None:
            name = data["preset"]
            if name not in GRID_FACTOR_PRESETS:
                raise ValueError(Message("preset: unknown grid factor {name!r}; choose one of "
                                         "{presets} or give co2_kg_per_kwh, scope, year and source",
                                         name=name, presets=', '.join(GRID_FACTOR_PRESETS)))
            data = {**GRID_FACTOR_PRESETS[name], **data}
        return data

    @field_validator("hourly_co2_kg_per_kwh")
    @classmethod
    def _hourly(cls, value: list[float] | None) -> list[float] | None:
        if value is not None:
            if len(value) != 24:
                raise ValueError(Message("needs 24 values, one per local hour 0-23; got {count}",
                                         count=len(value)))
            bad = [v for v in value if not 0 <= v <= 5]
            if bad:
                raise ValueError(Message("each value is a factor in [0, 5] kg CO2/kWh; got {bad!r}", bad=bad[0]))
        return value

    @model_validator(mode="after")
    def _sourced(self) -> "GridFactor":
        if self.scope != "custom" and self.year is None:
            raise ValueError(Message("year: a {scope} factor is of a year; give the year it is of (e.g. 2022)",
                                     scope=self.scope))
        hourly = self.hourly_co2_kg_per_kwh is not None or self.hourly_csv is not None
        if hourly and not self.hourly_source:
            raise ValueError(Message("hourly_source: name where the hourly factor profile comes from"))
        if self.hourly_source and not hourly:
            raise ValueError(Message("hourly_source: there is no hourly profile; give hourly_co2_kg_per_kwh or "
                                     "hourly_csv, or remove hourly_source"))
        return self

    @property
    def hourly(self) -> bool:
        """Whether the steps take an hourly profile's factor."""
        return self.hourly_co2_kg_per_kwh is not None

    @property
    def lowest_co2_kg_per_kwh(self) -> float:
        """The lowest factor a step can take [kg CO2/kWh]: the profile's cleanest hour, or the average."""
        return min(self.hourly_co2_kg_per_kwh) if self.hourly else self.co2_kg_per_kwh

    def describe(self) -> str:
        """The factor and its source in one line, e.g. for a report."""
        text = self.source
        if self.scope != "custom":
            text += f"; {self.scope} factor" + (f" of {self.region}" if self.region else "") + f", {self.year}"
        if self.hourly:
            text += f"; by the hour of day: {self.hourly_source}"
        return text

    def factor(self, index: pd.DatetimeIndex, timezone: str) -> pd.Series:
        """The factor of every step [kg CO2/kWh], at the step's start in local time.

        Raises
        ------
        ValueError
            ``hourly_csv`` was given but not read (a park not loaded from its case folder).
        """
        if self.hourly_csv is not None and not self.hourly:
            raise ValueError(Message("carbon.grid.hourly_csv: {file} is not read; load the park with its case "
                                     "folder (microgrid.case.load_case)",
                                     file=self.hourly_csv.file))
        if not self.hourly:
            return pd.Series(self.co2_kg_per_kwh, index=index, name="co2_kg_per_kwh", dtype=float)
        hours = index.tz_convert(timezone).hour.to_numpy()
        values = np.asarray(self.hourly_co2_kg_per_kwh, dtype=float)[hours]
        return pd.Series(values, index=index, name="co2_kg_per_kwh")


class Fuel(StrictModel):
    """A fuel burnt on site (scope 1): its consumption per day or per month and its emission factor.

    Emissions [kg CO2] = consumption [unit] × ``ncv_gj_per_unit`` [GJ/unit] ×
    ``co2_kg_per_gj`` [kg CO2/GJ]. Without them the IPCC 2006 defaults of the
    fuel apply (:data:`IPCC_2006_CO2_KG_PER_GJ`; the net calorific value for
    ``unit: t``, :data:`IPCC_2006_NCV_GJ_PER_T`); a volume (``m3``, ``L``)
    needs the fuel's ``ncv_gj_per_unit`` from its supplier. A monthly
    consumption is spread evenly over the month's days.
    """

    fuel: Literal["natural_gas", "diesel", "lpg", "other"]
    consumption_per_day: float | None = Field(default=None, ge=0, description="consumption each day [unit]")
    consumption_per_month: float | None = Field(default=None, ge=0, description="consumption each month [unit]")
    unit: Literal["GJ", "t", "m3", "L"] = Field(description="unit of the consumption: GJ (energy, net calorific), "
                                                         "t, m3 or L")
    ncv_gj_per_unit: float | None = Field(default=None, gt=0, description="net calorific value [GJ per unit]")
    co2_kg_per_gj: float | None = Field(default=None, ge=0, description="emission factor [kg CO2/GJ]")
    source: str | None = Field(default=None, description="where the factors come from (required with your own)")

    @model_validator(mode="after")
    def _complete(self) -> "Fuel":
        if (self.consumption_per_day is None) == (self.consumption_per_month is None):
            raise ValueError(Message("give either consumption_per_day or consumption_per_month (in unit), one of "
                                     "them"))
        if self.unit == "GJ" and self.ncv_gj_per_unit not in (None, 1.0):
            raise ValueError(Message("ncv_gj_per_unit: a consumption in GJ is energy already; remove it (got "
                                     "{ncv_gj_per_unit:g})",
                                     ncv_gj_per_unit=self.ncv_gj_per_unit))
        if self.unit in ("m3", "L") and self.ncv_gj_per_unit is None:
            raise ValueError(Message("ncv_gj_per_unit: a consumption in {unit} needs the fuel's net calorific "
                                     "value [GJ/{unit}] (from its supplier) to convert it to energy; add it",
                                     unit=self.unit))
        if self.fuel == "other" and self.unit == "t" and self.ncv_gj_per_unit is None:
            raise ValueError(Message("ncv_gj_per_unit: fuel 'other' has no default net calorific value; add it "
                                     "[GJ/t]"))
        if self.fuel == "other" and self.co2_kg_per_gj is None:
            raise ValueError(Message("co2_kg_per_gj: fuel 'other' has no default emission factor; add it [kg "
                                     "CO2/GJ] with its source"))
        own = self.co2_kg_per_gj is not None or (self.ncv_gj_per_unit is not None and self.unit != "GJ")
        if own and not self.source:
            raise ValueError(Message("source: name where co2_kg_per_gj and ncv_gj_per_unit come from"))
        return self

    @property
    def gj_per_unit(self) -> float:
        """Net calorific value [GJ per unit of the consumption]."""
        if self.unit == "GJ":
            return 1.0
        if self.ncv_gj_per_unit is not None:
            return self.ncv_gj_per_unit
        return IPCC_2006_NCV_GJ_PER_T[self.fuel]

    @property
    def factor_co2_kg_per_gj(self) -> float:
        """Emission factor [kg CO2/GJ]: the case's, or the IPCC 2006 default."""
        return self.co2_kg_per_gj if self.co2_kg_per_gj is not None else IPCC_2006_CO2_KG_PER_GJ[self.fuel]

    @property
    def factor_source(self) -> str:
        return self.source or IPCC_2006_SOURCE

    def co2_kg_per_day(self, days_in_month: int) -> float:
        """CO2 of one day of consumption [kg]; a monthly consumption over the month's ``days_in_month`` days."""
        quantity = (self.consumption_per_day if self.consumption_per_day is not None
                    else self.consumption_per_month / days_in_month)
        return quantity * self.gj_per_unit * self.factor_co2_kg_per_gj


class Carbon(StrictModel):
    """The ``carbon`` section: the grid factor (scope 2) and the fuels burnt on site (scope 1)."""

    grid: GridFactor | None = Field(default=None, description="the grid factor; without it, tariff.co2_kg_per_kwh")
    fuels: dict[str, Fuel] = Field(default_factory=dict)

    @field_validator("fuels")
    @classmethod
    def _ids(cls, value: dict[str, Fuel]) -> dict[str, Fuel]:
        for name in value:
            if not re.match(r"^[A-Za-z][A-Za-z0-9_\-]*$", name):
                raise ValueError(Message("{name!r}: fuel ids start with a letter and use letters, digits, '_' or "
                                         "'-'",
                                         name=name))
        return value


def legacy_grid_factor(co2_kg_per_kwh: float, henan_2024_kg_per_kwh: float) -> GridFactor:
    """The grid factor of a case without ``carbon.grid``: its ``tariff.co2_kg_per_kwh``.

    The ``henan_2024`` tariff preset's factor is the Central China 2022 figure;
    any other is the case's own (``custom``).
    """
    if co2_kg_per_kwh == henan_2024_kg_per_kwh == GRID_FACTOR_PRESETS["mee_2022_central_china"]["co2_kg_per_kwh"]:
        return GridFactor(preset="mee_2022_central_china")
    return GridFactor(co2_kg_per_kwh=co2_kg_per_kwh, scope="custom",
                      source=f"{co2_kg_per_kwh:g} kg CO2/kWh set in the case's tariff.co2_kg_per_kwh (its source "
                             "is the case's; name it in carbon.grid)")
