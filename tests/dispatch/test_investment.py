"""dispatch.studies.investment: the new assets' cash flow, by hand."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from dispatch import finance
from dispatch.studies.investment import asset_flows, investment_cash_flow, new_assets
from microgrid.case import park_from_dict
from tests.service.helpers import TINY_PARK, TINY_WIND_PARK


def park(economics: dict):
    config = copy.deepcopy(TINY_PARK)  # pv1: 600 kWp; b1: 400 kWh, 200 kW
    config["economics"] = economics
    return park_from_dict(config)


def test_pv_only_by_hand() -> None:
    p = park({"new_assets": ["pv1"], "discount_rate_frac": 0.10, "analysis_years": 10,
              "pv": {"capex_cny_per_kw": 1000, "fixed_om_cny_per_kw_year": 10, "lifetime_years": 10,
                     "degradation_frac_per_year": 0}})
    # 73 days: × 5 to a year. 36,500 kWh → 182,500 kWh a year; 20,000 CNY saved → 100,000 a year.
    flows, kpis = investment_cash_flow(p, {"pv1": 36_500.0}, 73.0, 20_000.0)
    assert kpis["investment_baseline"] == "park without pv1 (same strategy)"
    assert kpis["annual_savings_cny"] == pytest.approx(100_000.0)
    assert kpis["capex_cny"] == pytest.approx(600_000.0)
    assert flows["net_cny"].tolist() == pytest.approx([-600_000.0] + [94_000.0] * 10)
    annuity = (1 - 1.1 ** -10) / 0.1  # 6.144567
    assert kpis["npv_cny"] == pytest.approx(-600_000 + 94_000 * annuity)
    assert kpis["payback_years"] == pytest.approx(6 + (600_000 - 6 * 94_000) / 94_000)
    assert kpis["discounted_payback_years"] is None  # NPV < 0: never within 10 years
    assert kpis["lcoe_pv_cny_per_kwh"] == pytest.approx((600_000 + 6_000 * annuity) / (182_500 * annuity))
    assert kpis["lcos_cny_per_kwh"] is None and kpis["lcoe_wind_cny_per_kwh"] is None
    assert kpis["npv_cny"] == pytest.approx(finance.npv(0.10, flows["net_cny"]))


def test_battery_cells_are_replaced_by_cycles_and_the_system_by_lifetime() -> None:
    p = park({"new_assets": ["b1"], "analysis_years": 20,
              "battery": {"capex_cny_per_kwh": 1000, "capex_cny_per_kw": 500, "replacement_cycles": 3000,
                          "replacement_years": 10, "replacement_cost_frac": 0.5, "lifetime_years": 15,
                          "degradation_frac_per_year": 0.1}})
    (asset,) = new_assets(p)
    assert (asset.kw, asset.kwh, asset.capex_cny) == (200, 400, 500_000)
    # 240,000 kWh a year = 600 cycles → cells every 3000 / 600 = 5 years; the system again after 15
    frame = asset_flows(asset, 240_000.0, 20)
    replacement = frame["replacement_cny"]
    assert replacement[replacement != 0].to_dict() == {5: -200_000.0, 10: -200_000.0, 15: -500_000.0}
    # capacity fade restarts with new cells: ages 0..4, 0..4, 0..4, then 0..4 after the new system
    assert frame.loc[1:20, "retained"].tolist() == pytest.approx([0.9 ** a for a in [0, 1, 2, 3, 4] * 4])
    # bought again in year 15, 15-year life: 10 of 15 years left at the end of year 20
    assert frame["salvage_cny"][20] == pytest.approx(500_000 * 10 / 15)
    assert frame.loc[3, "energy_kwh"] == pytest.approx(240_000 * 0.81)


def test_subsidies_escalation_and_no_new_assets() -> None:
    p = park({"new_assets": ["pv1"], "discount_rate_frac": 0.0, "analysis_years": 3,
              "tariff_escalation_frac_per_year": 0.1,
              "pv": {"capex_cny_per_kw": 100, "subsidy_cny_per_kw": 20, "subsidy_cny_per_kwh": 0.1,
                     "subsidy_years": 2, "fixed_om_cny_per_kw_year": 0, "degradation_frac_per_year": 0}})
    flows, kpis = investment_cash_flow(p, {"pv1": 1000.0}, 365.0, 10_000.0)
    assert flows["capex_cny"][0] == -60_000 and flows["subsidy_cny"].tolist() == pytest.approx([12_000, 100, 100, 0])
    assert flows["savings_cny"].tolist() == pytest.approx([0, 10_000, 11_000, 12_100])
    # 25-year life, 3 years used: 22/25 of the capex back at the end
    assert flows["salvage_cny"].tolist() == pytest.approx([0, 0, 0, 60_000 * 22 / 25])
    assert kpis["npv_cny"] == pytest.approx(-48_000 + 10_100 + 11_100 + 12_100 + 52_800)

    nothing = park({"new_assets": []})
    flows, kpis = investment_cash_flow(nothing, {}, 2.0, 0.0)
    assert (flows["net_cny"] == 0).all() and kpis["npv_cny"] == 0 and kpis["capex_cny"] == 0
    assert kpis["irr"] is None and kpis["payback_years"] is None
    assert kpis["investment_baseline"] == "the park itself (no new assets)"


def test_lcoe_of_new_wind_by_hand() -> None:
    config = copy.deepcopy(TINY_WIND_PARK)  # wt1: one 1-MW turbine
    config["economics"] = {"new_assets": ["wt1"], "discount_rate_frac": 0.0, "analysis_years": 10,
                           "wind": {"capex_cny_per_kw": 5000, "fixed_om_cny_per_kw_year": 100, "lifetime_years": 20}}
    p = park_from_dict(config)
    flows, kpis = investment_cash_flow(p, {"wt1": 5_000.0}, 2.0, 1_000.0)  # 912,500 kWh and 182,500 CNY a year
    # undiscounted: (5,000,000 + 10 × 100,000 − half the capex back after 10 of 20 years) / (10 × 912,500)
    assert kpis["lcoe_wind_cny_per_kwh"] == pytest.approx((5e6 + 1e6 - 2.5e6) / 9.125e6)
    assert kpis["lcoe_pv_cny_per_kwh"] is None and kpis["capex_cny"] == 5e6
    assert kpis["payback_years"] is None  # 82,500 a year never pays 5 M back in 10 years (salvage aside)
    assert kpis["npv_cny"] == pytest.approx(-5e6 + 10 * (182_500 - 100_000) + 2.5e6)
