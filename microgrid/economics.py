"""Life-cycle economics of the park's new assets: the ``economics`` section of ``park.yaml``.

Data only: what the assets cost, how long they last and how money is
discounted. The cash flows, NPV, IRR, paybacks and levelised costs are
computed in :mod:`dispatch.finance` and :mod:`dispatch.studies.investment`.

Every figure has a default (documented with its source in
``docs/economics.md``); a case overrides any of them::

    economics:
      discount_rate_frac: 0.06
      analysis_years: 20
      new_assets: [pv_ws1, b1]          # default: every PV array, wind turbine group and battery
      battery: {capex_cny_per_kwh: 800, replacement_cycles: 8000}

Capacities the costs are per: PV, the DC rating ``dc_capacity_kw`` [kWp];
wind, the group's nameplate [kW]; batteries, ``capacity_kwh`` and the larger
of ``max_charge_kw`` and ``max_discharge_kw``; heat pumps, the electric input
``max_elec_kw``; thermal stores, ``capacity_kwh`` (of heat) and the larger of
their charge and discharge ratings.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from microgrid.base import StrictModel

NEW_ASSET_GROUPS: tuple[str, ...] = ("pv_arrays", "wind_turbines", "batteries", "heat_pumps", "thermal_stores")
"""The device families an investment may hold."""
DEFAULT_NEW_ASSET_GROUPS: tuple[str, ...] = ("pv_arrays", "wind_turbines", "batteries")
"""The families counted as new when ``economics.new_assets`` is not given (a park without any of them is
still a whole park; heat pumps and thermal stores are new only when named)."""


class TechnologyCosts(StrictModel):
    """What one kind of asset costs over its life.

    ``capex_cny_per_kw`` is paid in year 0 and again whenever the asset's
    ``lifetime_years`` ends inside the analysis period; what is left of its
    life at the end comes back as a linear salvage value.
    ``subsidy_cny_per_kw`` is a one-off grant in year 0;
    ``subsidy_cny_per_kwh`` is paid on every kWh the asset generates (PV,
    wind) or discharges (storage), for the first ``subsidy_years`` years.
    ``degradation_frac_per_year`` is the share of capacity (or output) lost
    every year of the asset's age.
    """

    capex_cny_per_kw: float = Field(ge=0, description="investment per kW [CNY/kW]")
    fixed_om_cny_per_kw_year: float = Field(default=0.0, ge=0, description="fixed O&M [CNY/(kW·a)]")
    variable_om_cny_per_kwh: float = Field(default=0.0, ge=0,
                                           description="O&M per kWh generated, discharged or of heat [CNY/kWh]")
    lifetime_years: int = Field(ge=1, le=60, description="economic lifetime [a]")
    degradation_frac_per_year: float = Field(default=0.0, ge=0, lt=1, description="capacity lost per year of age")
    subsidy_cny_per_kw: float = Field(default=0.0, ge=0, description="one-off grant per kW installed [CNY/kW]")
    subsidy_cny_per_kwh: float = Field(default=0.0, ge=0,
                                       description="grant per kWh generated or discharged [CNY/kWh]")
    subsidy_years: int = Field(default=0, ge=0, le=60, description="years the per-kWh grant is paid [a]")

    @model_validator(mode="after")
    def _subsidy(self) -> "TechnologyCosts":
        if self.subsidy_cny_per_kwh > 0 and self.subsidy_years == 0:
            raise ValueError("subsidy_cny_per_kwh is paid for subsidy_years years, which is 0; give subsidy_years "
                             "(e.g. 3) or remove subsidy_cny_per_kwh")
        return self


class StorageCosts(TechnologyCosts):
    """A store's costs: per kWh of capacity and per kW of power (PCS, heat exchangers)."""

    capex_cny_per_kw: float = Field(default=0.0, ge=0, description="investment per kW of power [CNY/kW]")
    capex_cny_per_kwh: float = Field(ge=0, description="investment per kWh of capacity [CNY/kWh]")


class BatteryCosts(StorageCosts):
    """A battery's costs, with its cells replaced during the system's life.

    The cells are replaced after ``replacement_years`` or after
    ``replacement_cycles`` equivalent full cycles (kWh discharged /
    ``capacity_kwh``), whichever comes first, at ``replacement_cost_frac`` of
    the energy capex (``capex_cny_per_kwh × capacity_kwh``: cells get cheaper);
    their capacity fade (``degradation_frac_per_year``) starts again from new.
    """

    replacement_years: int = Field(default=10, ge=1, le=60, description="cell life in years [a]")
    replacement_cycles: float = Field(default=6000.0, gt=0, description="cell life in equivalent full cycles")
    replacement_cost_frac: float = Field(default=0.6, ge=0, le=2, description="of the energy capex")


class PVCosts(TechnologyCosts):
    """Rooftop PV (C&I, distributed): per kWp DC."""

    capex_cny_per_kw: float = Field(default=3000.0, ge=0, description="investment per kWp [CNY/kWp]")
    fixed_om_cny_per_kw_year: float = Field(default=45.0, ge=0, description="fixed O&M [CNY/(kWp·a)]")
    lifetime_years: int = Field(default=25, ge=1, le=60, description="economic lifetime [a]")
    degradation_frac_per_year: float = Field(default=0.004, ge=0, lt=1, description="output lost per year of age")


class WindCosts(TechnologyCosts):
    """Distributed onshore wind: per kW of nameplate."""

    capex_cny_per_kw: float = Field(default=5500.0, ge=0, description="investment per kW [CNY/kW]")
    fixed_om_cny_per_kw_year: float = Field(default=110.0, ge=0, description="fixed O&M [CNY/(kW·a)]")
    lifetime_years: int = Field(default=20, ge=1, le=60, description="economic lifetime [a]")


class LfpBatteryCosts(BatteryCosts):
    """A C&I lithium-iron-phosphate battery system (cells, PCS, EMS, installation)."""

    capex_cny_per_kwh: float = Field(default=900.0, ge=0, description="investment per kWh [CNY/kWh]")
    capex_cny_per_kw: float = Field(default=300.0, ge=0, description="investment per kW (PCS) [CNY/kW]")
    fixed_om_cny_per_kw_year: float = Field(default=40.0, ge=0, description="fixed O&M [CNY/(kW·a)]")
    lifetime_years: int = Field(default=20, ge=1, le=60, description="system lifetime [a]")
    degradation_frac_per_year: float = Field(default=0.02, ge=0, lt=1, description="capacity fade per year of "
                                             "cell age")


class HeatPumpCosts(TechnologyCosts):
    """An industrial high-temperature heat pump: per kW of electric input (``max_elec_kw``)."""

    capex_cny_per_kw: float = Field(default=6000.0, ge=0, description="investment per kW electric [CNY/kW]")
    fixed_om_cny_per_kw_year: float = Field(default=120.0, ge=0, description="fixed O&M [CNY/(kW·a)]")
    lifetime_years: int = Field(default=15, ge=1, le=60, description="economic lifetime [a]")


class ThermalStoreCosts(StorageCosts):
    """A hot-water or steam store: per kWh of heat."""

    capex_cny_per_kwh: float = Field(default=150.0, ge=0, description="investment per kWh of heat [CNY/kWh]")
    fixed_om_cny_per_kw_year: float = Field(default=5.0, ge=0, description="fixed O&M [CNY/(kW·a)]")
    lifetime_years: int = Field(default=25, ge=1, le=60, description="economic lifetime [a]")


class Economics(StrictModel):
    """How the park's new assets are valued: costs per technology, discounting, which assets are new.

    ``new_assets``: ids of the devices the investment buys (PV arrays, wind
    turbine groups, batteries, heat pumps, thermal stores); default: every PV
    array, wind turbine group and battery of the park. The investment
    baseline is the park without them. ``tariff_escalation_frac_per_year``
    makes the savings grow with the tariff (year ``y``'s savings are the
    first year's × (1 + escalation)^(y − 1)).
    """

    discount_rate_frac: float = Field(default=0.06, ge=0, lt=1, description="real discount rate per year")
    tariff_escalation_frac_per_year: float = Field(default=0.0, gt=-1, lt=1,
                                                   description="growth of the tariff (and the savings) per year")
    analysis_years: int = Field(default=20, ge=1, le=60, description="years of the cash flow [a]")
    new_assets: list[str] | None = Field(default=None, description="ids of the devices the investment buys")
    pv: PVCosts = Field(default_factory=PVCosts)
    wind: WindCosts = Field(default_factory=WindCosts)
    battery: LfpBatteryCosts = Field(default_factory=LfpBatteryCosts)
    heat_pump: HeatPumpCosts = Field(default_factory=HeatPumpCosts)
    thermal_store: ThermalStoreCosts = Field(default_factory=ThermalStoreCosts)

    @model_validator(mode="after")
    def _unique(self) -> "Economics":
        if self.new_assets is not None and len(set(self.new_assets)) != len(self.new_assets):
            repeated = sorted({a for a in self.new_assets if self.new_assets.count(a) > 1})
            raise ValueError(f"new_assets lists {repeated[0]!r} twice; name each device once")
        return self


TECHNOLOGY_OF_GROUP: dict[str, str] = {"pv_arrays": "pv", "wind_turbines": "wind", "batteries": "battery",
                                       "heat_pumps": "heat_pump", "thermal_stores": "thermal_store"}
"""The ``economics`` field holding the costs of each device family."""
