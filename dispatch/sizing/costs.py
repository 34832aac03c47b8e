"""What a unit of each new technology costs per year, for the sizing objective.

From the case's ``economics`` (:mod:`microgrid.economics`) through the cash
flow the investment KPIs use (:func:`dispatch.studies.investment.asset_flows`)
and :mod:`dispatch.finance`, so that the sizing weighs exactly the costs the
NPV later counts. For one unit (1 kW or 1 kWh) of a technology:

* annualised capex = −NPV(capex, subsidy per kW, re-investment at the end
  of each lifetime, salvage) × CRF(``discount_rate_frac``,
  ``analysis_years``) [CNY/(unit·a)];
* fixed O&M = ``fixed_om_cny_per_kw_year`` (per kW) [CNY/(kW·a)];
* per kWh of energy (generated, discharged, heat): ``variable_om_cny_per_kwh``
  − ``subsidy_cny_per_kwh`` × annuity(``subsidy_years``) × CRF(``analysis_years``)
  (the grant paid over its first years, spread over the analysis period);
* battery cells: the larger of the replacements every
  ``replacement_years`` (annualised like the capex, per kWh of capacity) and
  ``replacement_cost_frac × capex_cny_per_kwh / replacement_cycles`` per kWh
  discharged (the cycle life; undiscounted average). The cash flow of the
  NPV rounds the interval to whole years (:mod:`dispatch.studies.investment`).

Degradation is not in the sizing objective (the NPV counts it).
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch import finance
from dispatch.studies.investment import Asset, asset_flows
from microgrid.economics import Economics, TechnologyCosts

_CAPEX_COLUMNS = ["capex_cny", "subsidy_cny", "replacement_cny", "salvage_cny"]


def annualised_cny(economics: Economics, costs: TechnologyCosts, kw: float = 0.0, kwh: float = 0.0) -> float:
    """Annualised capex of ``kw`` and ``kwh`` of a technology (module docstring) [CNY/a]."""
    years = economics.analysis_years
    rate = economics.discount_rate_frac
    flows = asset_flows(Asset("unit", "", costs, kw, kwh), 0.0, years)
    present = -finance.npv(rate, flows[_CAPEX_COLUMNS].sum(axis=1).to_numpy())
    return present * finance.capital_recovery_factor(rate, years)


def per_kwh_cny(economics: Economics, costs: TechnologyCosts) -> float:
    """Variable O&M less the per-kWh grant, spread over the analysis period [CNY/kWh]."""
    grant = 0.0
    if costs.subsidy_cny_per_kwh > 0 and costs.subsidy_years > 0:
        years = min(costs.subsidy_years, economics.analysis_years)
        rate = economics.discount_rate_frac
        grant = (costs.subsidy_cny_per_kwh * finance.annuity_factor(rate, years)
                 * finance.capital_recovery_factor(rate, economics.analysis_years))
    return costs.variable_om_cny_per_kwh - grant


@dataclass(frozen=True)
class UnitCosts:
    """Yearly costs of one unit of every technology [CNY/(unit·a)], per kWh [CNY/kWh]."""

    capex_cny_per_kw_year: dict[str, float]
    capex_cny_per_kwh_year: dict[str, float]
    fixed_om_cny_per_kw_year: dict[str, float]
    energy_cny_per_kwh: dict[str, float]
    cells_cny_per_kwh_year: float
    cells_cny_per_kwh_discharged: float


def unit_costs(economics: Economics) -> UnitCosts:
    """:class:`UnitCosts` of the five technologies of ``economics``."""
    techs = {"pv": economics.pv, "wind": economics.wind, "battery": economics.battery,
             "heat_pump": economics.heat_pump, "thermal_store": economics.thermal_store}
    per_kw = {t: annualised_cny(economics, c, kw=1.0) for t, c in techs.items()}
    battery = economics.battery
    no_cells = battery.model_copy(update={"replacement_cost_frac": 0.0})
    per_kwh = {"battery": annualised_cny(economics, no_cells, kwh=1.0),
               "thermal_store": annualised_cny(economics, economics.thermal_store, kwh=1.0)}
    cells = annualised_cny(economics, battery, kwh=1.0) - per_kwh["battery"]
    return UnitCosts(
        capex_cny_per_kw_year=per_kw,
        capex_cny_per_kwh_year=per_kwh,
        fixed_om_cny_per_kw_year={t: c.fixed_om_cny_per_kw_year for t, c in techs.items()},
        energy_cny_per_kwh={t: per_kwh_cny(economics, c) for t, c in techs.items()},
        cells_cny_per_kwh_year=cells,
        cells_cny_per_kwh_discharged=battery.replacement_cost_frac * battery.capex_cny_per_kwh
        / battery.replacement_cycles,
    )
