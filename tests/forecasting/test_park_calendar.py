"""Day types from chinese_calendar, seasonal-naive reference days, clock-time lookups."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from forecasting.park_calendar import (
    calendar_features, day_type, day_types, reference_day, same_clock_time, seasonal_naive_reference_days)
from microgrid.errors import ForecastError

D = dt.date
MAKEUP_WORKDAYS_2026 = [D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20),
                        D(2026, 10, 10)]


def test_2026_makeup_working_days():
    year = [D(2026, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    types = day_types(year)
    assert sorted(types[types == "makeup_workday"].index) == MAKEUP_WORKDAYS_2026


@pytest.mark.parametrize("day, expected", [
    (D(2026, 10, 1), "holiday"),       # National Day, Thursday
    (D(2026, 10, 3), "holiday"),       # Saturday inside the holiday block
    (D(2026, 10, 4), "holiday"),       # Sunday inside the holiday block
    (D(2026, 2, 15), "holiday"),       # Spring Festival, Sunday
    (D(2026, 2, 23), "holiday"),       # Spring Festival, Monday
    (D(2026, 2, 24), "workday"),
    (D(2026, 3, 7), "saturday"),
    (D(2026, 3, 8), "sunday"),
    (D(2026, 9, 20), "makeup_workday"),
])
def test_day_types(day, expected):
    assert day_type(day) == expected


def test_calendar_none_ignores_holidays():
    assert day_type(D(2026, 10, 1), "none") == "workday"
    assert day_type(D(2026, 10, 10), "none") == "saturday"


def test_year_without_schedule_is_a_forecast_error():
    with pytest.raises(ForecastError, match="no holiday schedule for 2030-01-02.*upgrade it"):
        day_type(D(2030, 1, 2))


def test_holiday_maps_to_the_latest_ordinary_sunday():
    year = [D(2026, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    available = day_types(year).to_dict()
    # 1 Oct: 27 Sep is Mid-Autumn, 20 Sep a make-up working day, so 13 Sep is the latest ordinary Sunday.
    assert reference_day(D(2026, 10, 1), available, "holiday") == D(2026, 9, 13)
    # 25 Sep (Fri, Mid-Autumn): 20 Sep is a working day; 13 Sep again.
    assert reference_day(D(2026, 9, 25), available, "holiday") == D(2026, 9, 13)


def test_makeup_workday_maps_to_the_latest_ordinary_workday():
    year = [D(2026, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    available = day_types(year).to_dict()
    # Sat 10 Oct, two days' lag: Thursday 8 Oct.
    assert reference_day(D(2026, 10, 10), available, "makeup_workday", min_lag_days=2) == D(2026, 10, 8)
    # Sat 14 Feb: Thursday 12 Feb.
    assert reference_day(D(2026, 2, 14), available, "makeup_workday", min_lag_days=2) == D(2026, 2, 12)


def test_ordinary_day_skips_a_holiday_week():
    mapping = seasonal_naive_reference_days([D(2026, 10, 12), D(2026, 10, 13), D(2026, 3, 2)],
                                            [D(2026, 1, 1) + dt.timedelta(days=i) for i in range(365)])
    assert mapping[D(2026, 10, 12)] == D(2026, 9, 28)   # Mon 5 Oct was National Day
    assert mapping[D(2026, 10, 13)] == D(2026, 9, 29)
    assert mapping[D(2026, 3, 2)] == D(2026, 2, 9)      # Mondays 16 and 23 Feb were Spring Festival


def test_no_reference_in_short_history():
    assert reference_day(D(2026, 3, 3), {D(2026, 3, 1): "sunday"}, "workday") is None


def test_same_clock_time_in_asia_shanghai():
    index = pd.date_range("2026-07-13", periods=3 * 24, freq="1h", tz="Asia/Shanghai")
    series = pd.Series(np.arange(len(index), dtype=float), index=index)
    target = pd.date_range("2026-07-15", periods=24, freq="1h", tz="Asia/Shanghai")
    got = same_clock_time(series, target, {D(2026, 7, 15): D(2026, 7, 13)}, "Asia/Shanghai")
    np.testing.assert_array_equal(got.to_numpy(), np.arange(24.0))


def test_same_clock_time_across_dst_changes():
    tz = "America/New_York"
    # Spring forward on Sun 8 Mar 2026: the reference day lacks 02:00-02:45.
    history = pd.date_range("2026-03-08", "2026-03-09", freq="15min", tz=tz, inclusive="left")
    assert len(history) == 92
    clock = history.hour + history.minute / 60
    series = pd.Series(clock, index=history)
    target = pd.date_range("2026-03-15", "2026-03-16", freq="15min", tz=tz, inclusive="left")
    got = same_clock_time(series, target, {D(2026, 3, 15): D(2026, 3, 8)}, tz)
    assert not got.isna().any()
    target_clock = target.hour + target.minute / 60
    ok = (target_clock < 2) | (target_clock >= 3)
    np.testing.assert_allclose(got[ok], target_clock[ok])
    assert got[~ok].isin([1.75, 3.0]).all()
    # Fall back on Sun 1 Nov 2026: the target day repeats 01:00-01:45 and both take the reference's values.
    ref = pd.date_range("2026-10-25", "2026-10-26", freq="15min", tz=tz, inclusive="left")
    series = pd.Series(ref.hour + ref.minute / 60, index=ref)
    target = pd.date_range("2026-11-01", "2026-11-02", freq="15min", tz=tz, inclusive="left")
    assert len(target) == 100
    got = same_clock_time(series, target, {D(2026, 11, 1): D(2026, 10, 25)}, tz)
    np.testing.assert_allclose(got, target.hour + target.minute / 60)


def test_calendar_features():
    index = pd.date_range("2026-09-30 23:00", periods=3, freq="1h", tz="Asia/Shanghai")
    features = calendar_features(index)
    assert features["hour"].tolist() == [23.0, 0.0, 1.0]
    assert features["day_type"].tolist() == [0, 4, 4]            # workday, holiday, holiday
    assert features["next_day_type"].tolist() == [4, 4, 4]
    assert features["prev_day_type"].tolist() == [0, 0, 0]
    assert features["is_day_off"].tolist() == [0, 1, 1]
