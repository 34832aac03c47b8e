"""Wind turbines (distributed wind, 分散式风电) of the park, as validated data.

A wind turbine group is ``number_of_turbines`` identical turbines on one bus:
a type of windpowerlib's turbine library (the oedb data shipped inside the
windpowerlib package, read from its own files: nothing is downloaded) or a
power curve of the case's own. Their power is computed in
:mod:`forecasting.wind`.

windpowerlib is imported only when a turbine type is looked up, so that a park
without wind turbines does not pay its import at start-up.
"""

from __future__ import annotations

import difflib
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator

from microgrid.base import Inverter, StrictModel

#: Default roughness length [m]: roughness class 2 of the European Wind Atlas (Troen and Petersen, 1989,
#: Risø National Laboratory, table of terrain types), "farm land with windbreaks more than 1 km apart and
#: some scattered built-up areas", z0 = 0.1 m: the open farmland with some buildings around a park.
DEFAULT_ROUGHNESS_LENGTH_M = 0.1

#: windpowerlib's wind efficiency curves (``windpowerlib.wake_losses.get_wind_efficiency_curve``): the
#: dena grid study's and K. Knorr's mean curves, and single wind farms that deviate most from them.
WindEfficiencyCurve = Literal["dena_mean", "knorr_mean", "dena_extreme1", "dena_extreme2",
                              "knorr_extreme1", "knorr_extreme2", "knorr_extreme3"]


@dataclass(frozen=True)
class LibraryTurbine:
    """The data of one turbine type of windpowerlib's bundled library that the park's checks need."""

    turbine_type: str
    nominal_power_kw: float
    rotor_diameter_m: float | None
    max_power_kw: float


@lru_cache(maxsize=1)
def turbine_types() -> tuple[str, ...]:
    """The turbine types of windpowerlib's bundled library that have a power curve, sorted.

    Read by ``windpowerlib.get_turbine_types`` from the package's own
    ``oedb/turbine_data.csv`` (``turbine_library="local"``, no network).
    """
    from windpowerlib import get_turbine_types

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)   # pandas' fillna downcasting inside windpowerlib
        table = get_turbine_types(turbine_library="local", print_out=False, filter_=True)
    return tuple(sorted(table.loc[table["has_power_curve"].astype(bool), "turbine_type"]))


@lru_cache(maxsize=None)
def library_turbine(turbine_type: str) -> LibraryTurbine:
    """Nominal power, rotor diameter and the power curve's largest value of a type in windpowerlib's library.

    Read with ``windpowerlib.wind_turbine.get_turbine_data_from_file`` from the
    files windpowerlib's ``WindTurbine`` reads by default (``path="oedb"``: the
    package's own ``oedb`` folder).

    Raises
    ------
    KeyError
        ``turbine_type`` is not in the library.
    """
    import windpowerlib
    from windpowerlib.wind_turbine import get_turbine_data_from_file

    folder = os.path.join(os.path.dirname(windpowerlib.__file__), "oedb")
    data = get_turbine_data_from_file(turbine_type, os.path.join(folder, "turbine_data.csv"))
    curve = get_turbine_data_from_file(turbine_type, os.path.join(folder, "power_curves.csv"))
    rotor = data["rotor_diameter"].iloc[0]
    return LibraryTurbine(
        turbine_type=turbine_type,
        nominal_power_kw=float(data["nominal_power"].iloc[0]) / 1000.0,   # the library's watts
        rotor_diameter_m=None if rotor != rotor else float(rotor),           # NaN: not given
        max_power_kw=float(curve["value"].max()) / 1000.0,
    )


def nearest_turbine_types(turbine_type: str, n: int = 3) -> list[str]:
    """The library's turbine types nearest to ``turbine_type`` (case-insensitive), closest first."""
    known = turbine_types()
    by_lower = {t.lower(): t for t in known}
    close = difflib.get_close_matches(turbine_type.lower(), list(by_lower), n=n, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(turbine_type.lower(), list(by_lower), n=n, cutoff=0.0)
    return [by_lower[c] for c in close]


class PowerCurve(StrictModel):
    """A turbine's own power curve: electrical power ``p_kw`` [kW] at hub-height wind speeds [m/s].

    Power is interpolated linearly between the points and is 0 below the
    first and above the last wind speed: start the curve at the cut-in speed
    (or lower, with 0 kW) and end it at the cut-out speed. The curve holds for
    the standard air density 1.225 kg/m³ (IEC 61400-12-1), as the library's do.
    """

    wind_speed_m_per_s: list[float] = Field(min_length=2, description="hub-height wind speeds [m/s], increasing")
    p_kw: list[float] = Field(min_length=2, description="electrical power at each wind speed [kW]")

    @model_validator(mode="after")
    def _curve(self) -> "PowerCurve":
        speeds, powers = self.wind_speed_m_per_s, self.p_kw
        if len(speeds) != len(powers):
            raise ValueError(f"wind_speed_m_per_s has {len(speeds)} values but p_kw has {len(powers)}; "
                             "give one power per wind speed")
        if speeds[0] < 0:
            raise ValueError(f"wind_speed_m_per_s starts at {speeds[0]:g} m/s; wind speeds are ≥ 0")
        for a, b in zip(speeds, speeds[1:]):
            if b <= a:
                raise ValueError(f"wind_speed_m_per_s must increase strictly; {b:g} follows {a:g}")
        if min(powers) < 0:
            raise ValueError(f"p_kw has {min(powers):g} kW; a power curve is ≥ 0 kW")
        if max(powers) == 0:
            raise ValueError("p_kw is 0 at every wind speed; give the turbine's power curve")
        return self

    @property
    def rated_kw(self) -> float:
        """The curve's largest power [kW], taken as the turbine's rating."""
        return max(self.p_kw)


class WindTurbineGroup(Inverter):
    """``number_of_turbines`` identical wind turbines on one bus of the park.

    The turbine is either a ``turbine_type`` of windpowerlib's bundled library
    (e.g. ``E-82/2350``; ``windpowerlib.get_turbine_types(print_out=False)``
    lists them) or a ``power_curve`` of its own, not both.

    The 10-m wind speed of the weather is carried to ``hub_height_m`` by
    windpowerlib's logarithmic profile over the terrain's
    ``roughness_length_m`` (default 0.1 m, see
    :data:`DEFAULT_ROUGHNESS_LENGTH_M`), or by the Hellman power law
    (``wind_speed_model: hellman``, exponent ``hellman_exponent`` or, when
    left out, ``1 / ln(hub_height_m / roughness_length_m)``). The same
    roughness is taken to hold where the wind was measured.

    Wake and park losses of the group (windpowerlib's ``WindFarm``): a
    constant ``wind_farm_efficiency`` that scales the group's power curve, or
    a ``wind_efficiency_curve`` of windpowerlib that lowers the hub-height
    wind speed; neither (the default) means no losses, as for distributed
    turbines that stand far apart.

    In the AC power flow the group is one static generator at its ``bus``
    (pandapower ``sgen`` of type ``WP``) whose converters run at a fixed
    ``power_factor`` (default: the network's ``wind_power_factor``),
    absorbing or injecting reactive power by ``reactive_mode`` within
    ``sn_kva``, the apparent-power rating of all the group's converters
    together, as a PV array's inverters do (:class:`microgrid.base.Inverter`).
    """

    bus: str
    turbine_type: str | None = Field(default=None, description="a type of windpowerlib's turbine library")
    power_curve: PowerCurve | None = Field(default=None, description="the turbine's own power curve")
    hub_height_m: float = Field(gt=0, le=300, description="hub height above ground [m]")
    number_of_turbines: int = Field(default=1, ge=1, le=1000)
    roughness_length_m: float = Field(default=DEFAULT_ROUGHNESS_LENGTH_M, gt=0, le=2,
                                      description="roughness length of the terrain [m]")
    wind_speed_model: Literal["logarithmic", "hellman"] = Field(
        default="logarithmic", description="how the 10-m wind speed is carried to hub height")
    hellman_exponent: float | None = Field(default=None, gt=0, lt=1,
                                           description="Hellman exponent (default: from the roughness length)")
    wind_farm_efficiency: float | None = Field(default=None, gt=0, le=1,
                                               description="constant efficiency of the group (wake losses)")
    wind_efficiency_curve: WindEfficiencyCurve | None = Field(
        default=None, description="windpowerlib wind efficiency curve that lowers the hub-height wind speed")

    @field_validator("turbine_type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is not None and value not in turbine_types():
            nearest = ", ".join(nearest_turbine_types(value))
            raise ValueError(f"unknown turbine type in windpowerlib's turbine library; nearest known types: "
                             f"{nearest} (or give power_curve)")
        return value

    @model_validator(mode="after")
    def _turbine(self) -> "WindTurbineGroup":
        if (self.turbine_type is None) == (self.power_curve is None):
            raise ValueError("give either turbine_type (windpowerlib's library) or power_curve "
                             "(wind_speed_m_per_s and p_kw), exactly one of them")
        if self.wind_farm_efficiency is not None and self.wind_efficiency_curve is not None:
            raise ValueError("give either wind_farm_efficiency (a constant) or wind_efficiency_curve, not both")
        if self.hellman_exponent is not None and self.wind_speed_model != "hellman":
            raise ValueError("hellman_exponent is used by wind_speed_model: hellman only; set it or remove "
                             "hellman_exponent")
        if self.hub_height_m <= self.roughness_length_m:
            raise ValueError(f"hub_height_m {self.hub_height_m:g} m must be above roughness_length_m "
                             f"{self.roughness_length_m:g} m")
        if self.sn_kva is not None and self.sn_kva < self.max_p_kw:
            raise ValueError(f"sn_kva {self.sn_kva:g} kVA is below the {self.max_p_kw:g} kW the group can give "
                             "(max_p_kw: number_of_turbines × the power curve's largest value); give the rating "
                             f"of all the group's converters together, at least {self.max_p_kw:g} kVA")
        if self.turbine_type is not None:
            rotor_m = library_turbine(self.turbine_type).rotor_diameter_m
            if rotor_m is not None and self.hub_height_m <= rotor_m / 2:
                raise ValueError(f"hub_height_m {self.hub_height_m:g} m is not above half the rotor diameter of "
                                 f"{self.turbine_type} ({rotor_m:g} m); the blades would reach the ground, "
                                 "raise hub_height_m")
        return self

    @property
    def turbine_rated_kw(self) -> float:
        """Nameplate power of one turbine [kW]: the library's nominal power, or the own curve's largest value."""
        if self.turbine_type is not None:
            return library_turbine(self.turbine_type).nominal_power_kw
        return self.power_curve.rated_kw

    @property
    def nameplate_kw(self) -> float:
        """Nameplate power of the group [kW]: ``number_of_turbines`` × the turbine's rating."""
        return self.number_of_turbines * self.turbine_rated_kw

    @property
    def max_p_kw(self) -> float:
        """The most the group can give [kW]: ``number_of_turbines`` × its power curve's largest value.

        Some library curves reach a few per cent above the nominal power
        (E-70/2000: 2050 kW), so a forecast is bounded by this, not by
        :attr:`nameplate_kw`.
        """
        if self.turbine_type is not None:
            return self.number_of_turbines * library_turbine(self.turbine_type).max_power_kw
        return self.number_of_turbines * self.power_curve.rated_kw
