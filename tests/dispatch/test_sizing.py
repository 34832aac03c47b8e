"""dispatch.sizing: typical days, the sizing LP on a hand-checkable toy park, bounds and their errors."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest
from typer.testing import CliRunner

from dispatch.sizing.costs import unit_costs
from dispatch.sizing.model import build_sizing_model, sizing_spec, solve_sizing
from dispatch.sizing.periods import TypicalDays, typical_days, year_profiles
from dispatch.sizing.run import sized_park, sizing_economics
from microgrid.case import load_case, park_from_dict
from microgrid.economics import Economics
from microgrid.errors import InvalidParkError
from microgrid.sizing import PowerBounds

REFERENCE = "cases/zhengzhou_park"

# Toy park: flat load, a two-price tariff (valley 0.30 from 00:00 to 12:00, peak 1.00 after), no demand
# charge, a lossless battery; money not discounted, so a unit's annual cost is its capex / 20 years.
VALLEY, PEAK = 0.30, 1.00
CAPEX_KWH, CAPEX_KW = 2000.0, 400.0      # → 100 CNY/(kWh·a) and 20 CNY/(kW·a)
WEIGHTS = (200.0, 165.0)                 # typical day 0: 100 kW flat; day 1: 50 kW flat
LOAD_KW = (100.0, 50.0)


def toy_park(battery_bounds: dict | None = None):
    return park_from_dict({
        "site": {"name": "toy", "latitude_deg": 34.75, "longitude_deg": 113.63},
        "grid": {"max_import_kw": 10000},
        "tariff": {"prices_cny_per_kwh": {"valley": VALLEY, "peak": PEAK}, "default_period": "peak",
                   "period_rules": [{"period": "valley", "start": "00:00", "end": "12:00"}]},
        "economics": {"discount_rate_frac": 0.0, "analysis_years": 20, "new_assets": ["b1"],
                      "battery": {"capex_cny_per_kwh": CAPEX_KWH, "capex_cny_per_kw": CAPEX_KW,
                                  "fixed_om_cny_per_kw_year": 0.0, "lifetime_years": 20, "replacement_cost_frac": 0.0,
                                  "degradation_frac_per_year": 0.0}},
        "batteries": {"b1": {"bus": "pcc", "capacity_kwh": 10, "max_charge_kw": 5, "max_discharge_kw": 5,
                             "charge_efficiency": 1.0, "discharge_efficiency": 1.0, "min_soc_frac": 0.0,
                             "max_soc_frac": 1.0, "initial_soc_frac": 0.0}},
        "sizing": {"battery": battery_bounds or {"max_kwh": 2000, "max_kw": 200}},
    })


def toy_days() -> TypicalDays:
    hours = np.arange(24)
    price = np.where(hours < 12, VALLEY, PEAK)
    profiles = {"load_kw": np.vstack([np.full(24, LOAD_KW[0]), np.full(24, LOAD_KW[1])])}
    for name in ("pv_kw", "wind_kw", "pv_kw_per_kwp", "wind_kw_per_kw", "price_export_cny_per_kwh"):
        profiles[name] = np.zeros((2, 24))
    profiles["price_import_cny_per_kwh"] = np.vstack([price, price])
    profiles["temp_air"] = np.full((2, 24), 20.0)
    dates = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    assignment = np.array([0] * 200 + [1] * 165)
    return TypicalDays(profiles, np.array(WEIGHTS), assignment, dates, 1.0)


def toy_annual_cost(energy_kwh: float, power_kw: float) -> float:
    """Closed form for the toy park: shift min(E, 12 h × load, 12 h × P) from peak to valley on each day."""
    cost = energy_kwh * CAPEX_KWH / 20 + power_kw * CAPEX_KW / 20
    for weight, load in zip(WEIGHTS, LOAD_KW):
        shifted = min(energy_kwh, 12 * load, 12 * power_kw)
        cost += weight * (12 * load * VALLEY + 12 * load * PEAK - shifted * (PEAK - VALLEY))
    return cost


def test_unit_costs_undiscounted_are_capex_over_the_years() -> None:
    costs = unit_costs(toy_park().economics)
    assert costs.capex_cny_per_kwh_year["battery"] == pytest.approx(CAPEX_KWH / 20)
    assert costs.capex_cny_per_kw_year["battery"] == pytest.approx(CAPEX_KW / 20)
    assert costs.cells_cny_per_kwh_year == pytest.approx(0.0)
    # PV at 6 %: 3000 CNY/kWp, 25-year life over 20 years → salvage 5/25 of the capex in year 20
    pv = unit_costs(Economics()).capex_cny_per_kw_year["pv"]
    crf = 0.06 * 1.06**20 / (1.06**20 - 1)
    assert pv == pytest.approx((3000 - 3000 * 5 / 25 / 1.06**20) * crf)


def test_toy_sizing_finds_the_closed_form_size() -> None:
    # Each kWh of capacity saves 0.70 CNY a day on the days whose peak load it can still shift: 365 × 0.70 =
    # 255.5 CNY/a up to 600 kWh (the 50-kW days' 12 h), 200 × 0.70 = 140 CNY/a up to 1200 kWh; a kWh costs
    # 100 CNY/a and needs 1/12 kW at 20 CNY/(kW·a) → 1.67: both pay, so E = 1200 kWh, P = 100 kW.
    spec = sizing_spec(toy_park())
    solution = solve_sizing(spec, toy_days())
    assert solution.status == "optimal"
    assert solution.sizes["battery_kwh"] == pytest.approx(1200.0, abs=1e-3)
    assert solution.sizes["battery_kw"] == pytest.approx(100.0, abs=1e-3)
    assert solution.annual_cost_cny == pytest.approx(toy_annual_cost(1200, 100))
    assert solution.annual_cost_cny == pytest.approx(120_000 + 2_000 + 200 * 720 + 165 * 360)
    assert solution.slack_cny == pytest.approx(0.0, abs=1e-6)


def test_toy_sizing_equals_an_exhaustive_search_of_the_same_model() -> None:
    spec = sizing_spec(toy_park())
    days = toy_days()
    model = build_sizing_model(spec, days)
    best = solve_sizing(spec, days, model=model)
    grid = []
    for energy, power in itertools.product(range(0, 2001, 200), range(0, 201, 25)):
        point = solve_sizing(spec, days, fixed={"battery_kwh": energy, "battery_kw": power}, model=model)
        assert point.annual_cost_cny == pytest.approx(toy_annual_cost(energy, power), rel=1e-9)
        grid.append((point.annual_cost_cny, energy, power))
    cost, energy, power = min(grid)
    assert (energy, power) == (1200, 100)
    assert best.annual_cost_cny <= cost + 1e-6
    assert best.annual_cost_cny == pytest.approx(cost)


def test_sized_park_and_its_npv_by_hand() -> None:
    # Baseline: 200 d × 1560 + 165 d × 780 = 440,700 CNY/a; sized: 122,000 + 200 × 720 + 165 × 360 = 325,400.
    # Undiscounted over 20 years: NPV = 20 × (440,700 − 325,400) = 2,306,000 CNY, and the investment cash flow
    # (savings 237,300 CNY/a × 20 − capex 1200 × 2000 − 100 × 400) gives the same.
    park = toy_park()
    spec = sizing_spec(park)
    days = toy_days()
    solution = solve_sizing(spec, days)
    baseline = solve_sizing(spec, days, fixed={n: 0.0 for n in solution.sizes})
    assert baseline.annual_cost_cny == pytest.approx(440_700)
    sized = sized_park(park, spec, solution.sizes)
    assert sized.economics.new_assets == ["new_battery"] and "b1" not in sized.batteries
    battery = sized.batteries["new_battery"]
    assert (battery.capacity_kwh, battery.max_charge_kw, battery.max_discharge_kw) == (1200.0, 100.0, 100.0)
    assert battery.charge_efficiency == park.batteries["b1"].charge_efficiency
    economics, flows = sizing_economics(spec, solution, baseline, sized)
    assert economics["npv_model_cny"] == pytest.approx(2_306_000)
    assert economics["annual_savings_cny"] == pytest.approx(237_300)
    assert economics["npv_cny"] == pytest.approx(2_306_000)
    assert economics["life_cycle_cost_cny"] == pytest.approx(20 * 325_400)
    assert flows["net_cny"].sum() == pytest.approx(2_306_000)


def test_bounds_are_respected() -> None:
    spec = sizing_spec(toy_park({"max_kwh": 500, "max_kw": 200, "min_kw": 60}))
    solution = solve_sizing(spec, toy_days())
    assert solution.sizes["battery_kwh"] == pytest.approx(500.0, abs=1e-3)
    assert 60.0 - 1e-6 <= solution.sizes["battery_kw"] <= 200.0 + 1e-6
    assert solution.sizes["pv_kw"] == 0.0 and solution.sizes["heat_pump_kw"] == 0.0
    ratio = sizing_spec(toy_park({"max_kwh": 2000, "max_kw": 200, "max_duration_h": 4}))
    sized = solve_sizing(ratio, toy_days()).sizes
    assert sized["battery_kwh"] <= 4 * sized["battery_kw"] + 1e-6


@pytest.mark.parametrize(("bounds", "words"), [
    ({"min_kwh": 3000, "max_kwh": 2000, "max_kw": 100}, ["sizing.battery", "min_kwh 3000 exceeds max_kwh 2000"]),
    ({"max_kwh": 2000, "min_kw": 300, "max_kw": 100}, ["sizing.battery", "min_kw 300 exceeds max_kw 100"]),
    ({"max_kwh": -5, "max_kw": 100}, ["sizing.battery.max_kwh"]),
    ({"max_kwh": 100, "max_kw": 100, "min_duration_h": 4, "max_duration_h": 2}, ["min_duration_h 4 exceeds"]),
])
def test_bad_bounds_are_clear_errors(bounds: dict, words: list[str]) -> None:
    with pytest.raises(InvalidParkError) as error:
        toy_park(bounds)
    for word in words:
        assert word in str(error.value)


def test_technologies_the_park_cannot_hold_are_clear_errors() -> None:
    park = toy_park()
    with pytest.raises(InvalidParkError, match=r"sizing\.pv: .*has none"):
        sizing_spec(park, park.sizing.model_copy(update={"pv": PowerBounds(max_kw=10)}))
    with pytest.raises(InvalidParkError, match="no sizing section"):
        sizing_spec(park.model_copy(update={"sizing": None}))


def test_cli_without_a_sizing_section_is_one_line_and_exit_1() -> None:
    from service.cli.main import app

    result = CliRunner().invoke(app, ["size", "cases/zhengzhou_park_constrained", "--verify-days", "0"])
    assert result.exit_code == 1
    assert "sizing: the case has no sizing section" in result.output
    assert len(result.output.strip().splitlines()) <= 2   # one message (wrapped at most once by the terminal)


def test_typical_days_of_the_reference_year_weigh_the_year() -> None:
    case = load_case(REFERENCE)
    year = year_profiles(case)
    days = typical_days(year, 6)
    assert days.weights.sum() == pytest.approx(365.0)
    assert days.weights.sum() == len(year.dates) == len(days.assignment)
    assert 6 <= days.k <= 7                              # the peak-load day may be added as its own
    assert np.bincount(days.assignment, minlength=days.k).tolist() == days.weights.tolist()
    # tsam keeps each energy column's annual energy; the peak load is on one of the typical days
    annual = (days.profiles["load_kw"].sum(axis=1) * days.weights).sum() * days.dt_h
    assert annual == pytest.approx(year.frame["load_kw"].sum() * year.dt_h, rel=1e-6)
    assert days.profiles["load_kw"].max() == pytest.approx(year.frame["load_kw"].max(), rel=1e-3)
    # each typical day's prices are its members' mean: the year's price-weighted sums are kept exactly
    price = days.profiles["price_import_cny_per_kwh"]
    year_price = year.frame["price_import_cny_per_kwh"].to_numpy().reshape(-1, year.steps_per_day)
    np.testing.assert_allclose((price * days.weights[:, None]).sum(axis=0), year_price.sum(axis=0), rtol=1e-9)
    months = days.month_clusters()
    assert len(months) == 12 and all(months.values())
