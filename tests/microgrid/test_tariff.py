"""The Henan preset's periods and prices, and tariff overrides."""

from __future__ import annotations

import pandas as pd
import pytest

from microgrid.errors import InvalidParkError
from microgrid.tariff import PRESETS, Tariff, tariff_from_config

TZ = "Asia/Shanghai"


def period_at(tariff: Tariff, stamp: str) -> str:
    index = pd.DatetimeIndex([pd.Timestamp(stamp, tz=TZ)])
    return tariff.periods(index, TZ).iloc[0]


@pytest.fixture
def henan() -> Tariff:
    return tariff_from_config({"preset": "henan_2024"})


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-07-15 03:00", "valley"),       # night valley, all year
        ("2026-07-15 06:00", "flat"),
        ("2026-07-15 12:00", "flat"),         # no midday valley in July
        ("2026-04-15 12:00", "valley"),       # midday valley Mar-May
        ("2026-10-15 13:45", "valley"),       # ... and Sep-Nov
        ("2026-10-15 14:00", "flat"),
        ("2026-07-15 16:00", "peak"),
        ("2026-07-15 20:00", "critical_peak"),  # Jul/Aug 20-23
        ("2026-07-15 22:45", "critical_peak"),
        ("2026-07-15 23:00", "peak"),
        ("2026-01-15 17:30", "critical_peak"),  # Jan/Dec 17-18
        ("2026-12-15 18:00", "peak"),
        ("2026-06-15 20:00", "peak"),         # June has no critical peak
    ],
)
def test_henan_periods(henan: Tariff, stamp: str, expected: str) -> None:
    assert period_at(henan, stamp) == expected


def test_henan_price_ratios(henan: Tariff) -> None:
    prices = {p.value: v for p, v in henan.prices_cny_per_kwh.items()}
    assert prices["flat"] == 0.62
    assert prices["peak"] / prices["flat"] == pytest.approx(1.69, abs=1e-3)
    assert prices["valley"] / prices["flat"] == pytest.approx(0.41, abs=1e-3)
    assert prices["critical_peak"] / prices["peak"] == pytest.approx(1.2, abs=1e-3)
    assert henan.export_price_cny_per_kwh == 0.3779
    assert henan.co2_kg_per_kwh == 0.5395
    assert "ILLUSTRATIVE" in henan.note


def test_period_uses_park_local_time(henan: Tariff) -> None:
    # 08:00 UTC is 16:00 in Shanghai: peak.
    index = pd.DatetimeIndex([pd.Timestamp("2026-07-15 08:00", tz="UTC")])
    assert henan.periods(index, TZ).iloc[0] == "peak"


def test_override_one_price_keeps_the_others() -> None:
    tariff = tariff_from_config({"preset": "henan_2024", "prices_cny_per_kwh": {"flat": 0.7},
                                 "export_price_cny_per_kwh": 0.3})
    prices = {p.value: v for p, v in tariff.prices_cny_per_kwh.items()}
    assert prices["flat"] == 0.7
    assert prices["peak"] == PRESETS["henan_2024"]["prices_cny_per_kwh"]["peak"]
    assert tariff.export_price_cny_per_kwh == 0.3


def test_unknown_preset_is_named() -> None:
    with pytest.raises(InvalidParkError, match="tariff.preset: unknown preset 'hunan'"):
        tariff_from_config({"preset": "hunan"})


def test_missing_period_price_is_named() -> None:
    with pytest.raises(ValueError, match="no price for period"):
        Tariff(prices_cny_per_kwh={"flat": 0.6}, period_rules=[{"period": "peak", "start": "16:00", "end": "24:00"}])


def test_rule_crossing_midnight_is_refused() -> None:
    with pytest.raises(ValueError, match="split a period that crosses midnight"):
        Tariff(prices_cny_per_kwh={"flat": 0.6, "valley": 0.3},
               period_rules=[{"period": "valley", "start": "22:00", "end": "06:00"}])


def _imports(values_kw: list[float], start: str, freq: str = "1h") -> pd.Series:
    index = pd.date_range(pd.Timestamp(start, tz="Asia/Shanghai"), periods=len(values_kw), freq=freq)
    return pd.Series(values_kw, index=index, dtype=float)


def test_demand_charge_rules() -> None:
    """June has 30 days; 30 CNY/(kW·month)."""
    incremental = Tariff(prices_cny_per_kwh={"flat": 0.6}, demand_charge_cny_per_kw_month=30.0)
    day = _imports([3000.0] * 23 + [5000.0], "2026-06-10")
    # Month-to-date peak known (4,000 kW): the day adds 1,000 kW to the month's bill.
    known = incremental.demand_charge(day, "Asia/Shanghai", 4000.0)
    assert (known.charge_cny, known.basis, known.marginal_cny_per_kw) == (30.0 * 1000, "month_to_date_peak", 30.0)
    assert incremental.demand_charge(day, "Asia/Shanghai", 6000.0).charge_cny == 0.0
    # Not known: the day is billed 1/30 of the month for its whole peak.
    unknown = incremental.demand_charge(day, "Asia/Shanghai", None)
    assert unknown.basis == "pro_rata"
    assert unknown.charge_cny == pytest.approx(30.0 * 5000 / 30)
    assert unknown.marginal_cny_per_kw == pytest.approx(1.0)
    # The tariff's pro_rata rule prorates even with the peak known, above it.
    pro_rata = incremental.model_copy(update={"demand_charge_rule": "pro_rata"})
    assert pro_rata.demand_charge(day, "Asia/Shanghai", 4000.0).charge_cny == pytest.approx(30.0 * 1000 / 30)


def test_demand_charge_of_a_period_across_months() -> None:
    """The last 12 hours of June (peak 2,000 kW) and the first 36 of July (peak 3,000 kW), peak known in June.

    June: 30 × (2,000 − 1,500) = 15,000; July (not known, 1.5 of 31 days): 30 × 1.5 / 31 × 3,000."""
    tariff = Tariff(prices_cny_per_kwh={"flat": 0.6}, demand_charge_cny_per_kw_month=30.0)
    imports = _imports([2000.0] * 12 + [3000.0] * 36, "2026-06-30 12:00")
    charge = tariff.demand_charge(imports, "Asia/Shanghai", 1500.0)
    assert charge.charge_cny == pytest.approx(30.0 * 500 + 30.0 * 1.5 / 31 * 3000)
    assert charge.basis == "month_to_date_peak"
    # A whole month with nothing known is billed in full: rate × its peak.
    july = _imports([1000.0] * (31 * 24 - 1) + [4000.0], "2026-07-01")
    assert tariff.demand_charge(july, "Asia/Shanghai", None).charge_cny == pytest.approx(30.0 * 4000)
    # 15-minute steps: the covered share comes from the step length.
    quarter = _imports([800.0] * 96, "2026-07-15", "15min")
    assert tariff.demand_charge(quarter, "Asia/Shanghai", None).charge_cny == pytest.approx(30.0 / 31 * 800)