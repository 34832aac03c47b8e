"""The Henan preset's periods and prices, and tariff overrides."""

from __future__ import annotations

import datetime as dt

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


def test_demand_charge_rules() -> None:
    day = dt.date(2026, 6, 10)
    incremental = Tariff(prices_cny_per_kwh={"flat": 0.6}, demand_charge_cny_per_kw_month=30.0)
    assert incremental.demand_charge_cny(5000, 4000, day) == 30.0 * 1000
    assert incremental.demand_charge_cny(3000, 4000, day) == 0.0
    pro_rata = incremental.model_copy(update={"demand_charge_rule": "pro_rata"})
    assert pro_rata.demand_charge_cny(5000, 4000, day) == pytest.approx(30.0 * 1000 / 30)
