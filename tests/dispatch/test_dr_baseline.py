"""The similar-days customer baseline of a demand-response event, by hand on hourly meters."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from dispatch.dr_baseline import customer_baseline, metered_import, optimal_plan_baseline, similar_days
from microgrid.errors import DataError
from microgrid.park import DemandResponseSettings

TZ = "Asia/Shanghai"


def meter_by_day(first: str, last: str, value, freq: str = "1h") -> pd.Series:
    """An hourly meter from ``first`` to ``last`` (days, inclusive): ``value(day, hour)`` [kW]."""
    index = pd.date_range(first, pd.Timestamp(last) + pd.Timedelta(days=1), freq=freq, tz=TZ, inclusive="left")
    return pd.Series([float(value(t.date(), t.hour + t.minute / 60)) for t in index], index=index)


def window(day: str, start_h: int, end_h: int) -> pd.DatetimeIndex:
    return pd.date_range(f"{day} {start_h:02d}:00", f"{day} {end_h:02d}:00", freq="1h", tz=TZ, inclusive="left")


def day_coded(day: dt.date, hour: float) -> float:
    """100 × the day of the month + the hour: a day's share of an average is readable in the result."""
    return 100 * day.day + hour


def test_the_last_five_working_days_are_averaged_at_the_same_clock_times() -> None:
    # Wednesday 2026-07-15: the working days before it are 14, 13, 10, 9, 8 (11-12 a weekend)
    meter = meter_by_day("2026-07-01", "2026-07-14", day_coded)
    baseline = customer_baseline(meter, window("2026-07-15", 14, 17), 1.0, DemandResponseSettings(), TZ)
    assert baseline.method == "similar-days" and baseline.day_type == "working"
    assert baseline.days == tuple(dt.date(2026, 7, d) for d in (14, 13, 10, 9, 8))
    assert baseline.baseline_kw == pytest.approx([1080 + 14, 1080 + 15, 1080 + 16])   # mean of the days: 10.8
    assert baseline.adjustment == "none" and baseline.adjustment_basis is None


def test_event_days_and_days_the_meter_misses_are_skipped() -> None:
    meter = meter_by_day("2026-07-01", "2026-07-14", day_coded)
    meter = meter.drop(pd.Timestamp("2026-07-10 15:00", tz=TZ))          # one missing step inside the window
    baseline = customer_baseline(meter, window("2026-07-15", 14, 17), 1.0, DemandResponseSettings(), TZ,
                                 exclude_days=[dt.date(2026, 7, 13)])
    assert baseline.days == tuple(dt.date(2026, 7, d) for d in (14, 9, 8, 7, 6))
    assert baseline.baseline_kw == pytest.approx([880 + 14, 880 + 15, 880 + 16])      # (14+9+8+7+6)/5 = 8.8
    # a gap outside the window and its adjustment hours does not matter
    gap_at_night = meter_by_day("2026-07-01", "2026-07-14", day_coded).drop(pd.Timestamp("2026-07-14 03:00", tz=TZ))
    assert customer_baseline(gap_at_night, window("2026-07-15", 14, 17), 1.0, DemandResponseSettings(),
                             TZ).days[0] == dt.date(2026, 7, 14)


def test_a_day_off_is_compared_with_days_off_and_a_make_up_saturday_with_working_days() -> None:
    meter = meter_by_day("2026-08-01", "2026-10-11", day_coded)
    sunday = customer_baseline(meter, window("2026-09-13", 10, 11), 1.0, DemandResponseSettings(), TZ)
    assert sunday.day_type == "day off"
    assert sunday.days == (dt.date(2026, 9, 12), dt.date(2026, 9, 6), dt.date(2026, 9, 5), dt.date(2026, 8, 30),
                           dt.date(2026, 8, 29))
    # Monday 2026-10-12 after the National Day week: Saturday 10-10 is a make-up working day, 10-01…07 are holidays
    monday = customer_baseline(meter, window("2026-10-12", 10, 11), 1.0, DemandResponseSettings(), TZ)
    assert monday.day_type == "working"
    assert monday.days == (dt.date(2026, 10, 10), dt.date(2026, 10, 9), dt.date(2026, 10, 8),
                           dt.date(2026, 9, 30), dt.date(2026, 9, 29))
    assert monday.baseline_kw == pytest.approx([100 * (10 + 9 + 8 + 30 + 29) / 5 + 10])
    # a holiday is compared with the days off before it: the holidays from 10-01 and the weekend of 09-26/27
    holiday = customer_baseline(meter, window("2026-10-05", 10, 11), 1.0, DemandResponseSettings(), TZ)
    assert holiday.day_type == "day off"
    assert holiday.days == tuple(dt.date(2026, 10, d) for d in (4, 3, 2, 1)) + (dt.date(2026, 9, 27),)


def test_too_few_metered_similar_days_is_an_error_that_names_the_setting_and_the_fix() -> None:
    meter = meter_by_day("2026-07-13", "2026-07-14", day_coded)   # two working days only
    with pytest.raises(DataError, match=r"demand_response.baseline: similar-days needs at least 3 working day\(s\)"
                                        r".* found 2\. Post measurements with grid_import_kw"):
        customer_baseline(meter, window("2026-07-15", 14, 17), 1.0, DemandResponseSettings(), TZ)
    fewer = DemandResponseSettings(min_similar_days=2)
    assert customer_baseline(meter, window("2026-07-15", 14, 17), 1.0, fewer, TZ).days == (
        dt.date(2026, 7, 14), dt.date(2026, 7, 13))


def flat_before_the_event_day(level_kw: float):
    """1000 kW on every day before 2026-07-15; ``level_kw`` on the 15th."""
    return lambda day, hour: level_kw if day == dt.date(2026, 7, 15) else 1000.0


@pytest.mark.parametrize(("adjustment", "cap", "level_kw", "expected_kw", "factor", "offset", "capped"), [
    ("scaling", 0.2, 1100.0, 1100.0, 1.1, None, False),
    ("scaling", 0.05, 1100.0, 1050.0, 1.05, None, True),
    ("scaling", 0.2, 500.0, 800.0, 0.8, None, True),
    ("additive", 0.2, 1100.0, 1100.0, None, 100.0, False),
    ("additive", 0.05, 1100.0, 1050.0, None, 50.0, True),
])
def test_the_same_day_adjustment_scales_or_shifts_within_its_cap(adjustment, cap, level_kw, expected_kw, factor,
                                                                   offset, capped) -> None:
    meter = meter_by_day("2026-07-01", "2026-07-15", flat_before_the_event_day(level_kw))
    settings = DemandResponseSettings(adjustment=adjustment, adjustment_cap_frac=cap)
    # event 14:00-17:00; the adjustment window: the 2 h ending 1 h before it, 11:00-13:00 of the event day
    baseline = customer_baseline(meter.loc[:"2026-07-15 12:00"], window("2026-07-15", 14, 17), 1.0, settings, TZ)
    assert baseline.adjustment == adjustment and baseline.adjustment_basis == "metered"
    assert baseline.baseline_kw == pytest.approx([expected_kw] * 3)
    assert baseline.adjustment_factor == (pytest.approx(factor) if factor else None)
    assert baseline.adjustment_kw == (pytest.approx(offset) if offset else None)
    assert baseline.adjustment_capped is capped


def test_the_adjustment_window_ends_the_gap_before_the_event() -> None:
    # 1000 kW before the 15th; on the 15th 1100 kW at 11:00 and 12:00 only, 2000 kW at 13:00 (inside the gap)
    meter = meter_by_day("2026-07-01", "2026-07-15", lambda day, hour: 1000.0 if day.day < 15 else
                         (2000.0 if hour >= 13 else 1100.0))
    settings = DemandResponseSettings(adjustment="scaling")
    assert customer_baseline(meter, window("2026-07-15", 14, 15), 1.0, settings, TZ).adjustment_factor == (
        pytest.approx(1.1))
    no_gap = DemandResponseSettings(adjustment="scaling", adjustment_gap_h=0, adjustment_window_h=1)
    assert customer_baseline(meter, window("2026-07-15", 14, 15), 1.0, no_gap, TZ).adjustment_factor == (
        pytest.approx(1.2))   # 13:00, capped at 1 + 0.2


def test_hours_not_metered_yet_are_taken_from_the_plan_and_the_basis_says_so() -> None:
    before = meter_by_day("2026-07-01", "2026-07-14", lambda day, hour: 1000.0)
    settings = DemandResponseSettings(adjustment="scaling")
    plan = pd.Series(1150.0, index=pd.date_range("2026-07-15", periods=24, freq="1h", tz=TZ))
    planned = customer_baseline(before, window("2026-07-15", 14, 15), 1.0, settings, TZ, expected_kw=plan)
    assert planned.adjustment_basis == "planned" and planned.adjustment_factor == pytest.approx(1.15)
    half = pd.concat([before, pd.Series([1050.0], index=[pd.Timestamp("2026-07-15 11:00", tz=TZ)])])
    mixed = customer_baseline(half, window("2026-07-15", 14, 15), 1.0, settings, TZ, expected_kw=plan)
    assert mixed.adjustment_basis == "metered and planned" and mixed.adjustment_factor == pytest.approx(1.1)
    neither = customer_baseline(before, window("2026-07-15", 14, 15), 1.0, settings, TZ)
    assert neither.adjustment_basis == "unavailable" and neither.adjustment_factor is None
    assert neither.baseline_kw == pytest.approx([1000.0])


def test_a_window_past_midnight_reads_the_similar_days_next_morning() -> None:
    # Thursday 2026-07-16 22:00 to Friday 02:00: the similar days are 15, 14, 13, 10, 9 and their next mornings
    meter = meter_by_day("2026-07-01", "2026-07-16", day_coded)
    stamps = pd.date_range("2026-07-16 22:00", "2026-07-17 02:00", freq="1h", tz=TZ, inclusive="left")
    baseline = customer_baseline(meter, stamps, 1.0, DemandResponseSettings(), TZ)
    assert baseline.days == tuple(dt.date(2026, 7, d) for d in (15, 14, 13, 10, 9))
    next_mornings = np.mean([16, 15, 14, 11, 10]) * 100
    assert baseline.baseline_kw == pytest.approx([1220 + 22, 1220 + 23, next_mornings, next_mornings + 1])


def test_posted_readings_are_averaged_per_step_and_replace_the_meter_file() -> None:
    origin = pd.Timestamp("2026-07-01", tz=TZ)
    file = pd.Series([100.0, 200.0, 300.0], index=pd.date_range(origin, periods=3, freq="15min"))
    readings = [(pd.Timestamp("2026-06-30T16:16:00Z"), 250.0), (pd.Timestamp("2026-07-01T00:20:00+08:00"), 270.0),
                (pd.Timestamp("2026-07-01T00:44:59+08:00"), 90.0)]
    meter = metered_import(file, readings, origin, 0.25)
    assert meter.to_dict() == {origin: 100.0, origin + pd.Timedelta("15min"): 260.0,
                               origin + pd.Timedelta("30min"): 90.0}
    assert metered_import(None, [], origin, 0.25).empty


def test_the_optimal_plan_baseline_is_the_plan_and_similar_days_stop_at_the_look_back() -> None:
    assert optimal_plan_baseline([1.0, 2.0]).baseline_kw.tolist() == [1.0, 2.0]
    assert optimal_plan_baseline([1.0]).describe()["method"] == "optimal-plan"
    meter = meter_by_day("2026-07-01", "2026-07-14", day_coded)
    offsets = pd.TimedeltaIndex([pd.Timedelta(hours=14)])
    short = DemandResponseSettings(lookback_days=5, similar_days=5, min_similar_days=1)
    assert similar_days(meter, dt.date(2026, 7, 15), TZ, offsets, short) == [
        dt.date(2026, 7, d) for d in (14, 13, 10)]


@pytest.mark.parametrize(("changes", "message"), [
    ({"min_similar_days": 6}, "min_similar_days: 6 is more than similar_days (5)"),
    ({"similar_days": 10, "lookback_days": 7}, "similar_days: 10 days cannot be found in lookback_days (7)"),
    ({"baseline": "average"}, "baseline"),
    ({"adjustment_cap_frac": 1.5}, "adjustment_cap_frac"),
])
def test_bad_settings_name_the_field(changes, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DemandResponseSettings(**changes)
