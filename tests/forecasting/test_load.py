"""Load and heat-demand forecasts: seasonal naive with the holiday mapping, regression, timezones."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from forecasting.accuracy import error_metrics
from forecasting.park_calendar import day_type
from forecasting.load import (
    LoadRegressionConfig, fit_load_regression, forecast_load_kw, seasonal_naive_kw)
from microgrid.errors import DataError, ForecastError

TZ = "Asia/Shanghai"
SMALL = LoadRegressionConfig(max_iter=80, learning_rate=0.1, min_samples_leaf=10)

#: Hourly shape per day type [kW]: a day shift on working days, less on Saturdays, base load otherwise.
HOURS = np.arange(24)
SHAPES = {
    "workday": np.where((HOURS >= 8) & (HOURS < 20), 1000.0, 300.0),
    "makeup_workday": np.where((HOURS >= 8) & (HOURS < 20), 1000.0, 300.0),
    "saturday": np.where((HOURS >= 8) & (HOURS < 14), 700.0, 300.0),
    "sunday": np.full(24, 250.0),
    "holiday": np.full(24, 250.0),
}


def synthetic_load(start: str, days: int, tz: str = TZ, noise_kw: float = 0.0, calendar: str = "china",
                   seed: int = 1) -> pd.Series:
    index = pd.date_range(pd.Timestamp(start, tz=tz), periods=days * 24, freq="1h", name="timestamp")
    local = index.tz_convert(tz)
    types = {d: day_type(d, calendar) for d in set(local.date)}
    values = np.array([SHAPES[types[t.date()]][t.hour] for t in local])
    rng = np.random.default_rng(seed)
    return pd.Series(values + noise_kw * rng.standard_normal(len(values)), index=index, name="load_kw")


def test_seasonal_naive_maps_holidays_to_sunday_and_makeup_days_to_workdays():
    history = synthetic_load("2026-08-01", 90)
    index = pd.date_range("2026-09-25", "2026-10-12", freq="1h", tz=TZ, inclusive="left")
    forecast = seasonal_naive_kw(history, index)
    local = index.tz_convert(TZ)
    expected = [SHAPES[day_type(t.date())][t.hour] for t in local]
    np.testing.assert_allclose(forecast.to_numpy(), expected)
    holiday = forecast[local.date == dt.date(2026, 10, 1)]
    assert (holiday == 250.0).all()
    makeup = forecast[local.date == dt.date(2026, 10, 10)]
    assert makeup.max() == 1000.0


def test_seasonal_naive_needs_enough_history():
    history = synthetic_load("2026-09-20", 10)
    index = pd.date_range("2026-10-01", periods=24, freq="1h", tz=TZ)
    with pytest.raises(ForecastError, match="no reference day in history for 2026-10-01"):
        seasonal_naive_kw(history, index)


def test_history_must_be_clean():
    history = synthetic_load("2026-08-01", 30)
    history.iloc[5] = np.nan
    with pytest.raises(DataError, match="missing value at 2026-08-01T05:00:00\\+08:00"):
        seasonal_naive_kw(history, history.index[-24:])
    with pytest.raises(DataError, match="no UTC offset"):
        seasonal_naive_kw(history.fillna(0).tz_localize(None), history.index[-24:])


def test_regression_beats_seasonal_naive_on_a_held_out_holiday_period():
    series = synthetic_load("2026-04-01", 200, noise_kw=60.0)          # training holds 1-5 May and 9 May
    local_dates = pd.DatetimeIndex(series.index.tz_convert(TZ).date)
    test = (local_dates >= pd.Timestamp("2026-09-14")) & (local_dates < pd.Timestamp("2026-10-19"))
    train = local_dates < pd.Timestamp("2026-09-14")
    model = fit_load_regression(series, config=SMALL, train_mask=train)
    index = series.index[test]
    regression = model.predict(series, index)
    naive = seasonal_naive_kw(series, index)
    truth = synthetic_load("2026-04-01", 200)[test]         # the noise-free load
    mean = truth.mean()
    reg = error_metrics(truth, regression, mean)["nmae_pct"]
    nai = error_metrics(truth, naive, mean)["nmae_pct"]
    assert reg < 0.7 * nai
    # The National Day holidays and the make-up Saturday 10 October are right.
    local = index.tz_convert(TZ)
    for day, shape in ((dt.date(2026, 10, 2), "holiday"), (dt.date(2026, 10, 10), "makeup_workday")):
        assert regression[local.date == day].mean() == pytest.approx(SHAPES[shape].mean(), rel=0.1)


def test_heat_demand_regression_uses_temperature():
    index = pd.date_range("2026-01-05", periods=70 * 24, freq="1h", tz=TZ)
    rng = np.random.default_rng(7)
    daily_weather = np.repeat(rng.normal(0.0, 4.0, 70), 24)
    temp = pd.Series(2.0 + 5.0 * np.sin(2 * np.pi * (np.arange(len(index)) % 24 - 9) / 24) + daily_weather,
                     index=index)
    heat_kw = (60.0 * np.maximum(18.0 - temp, 0.0) + 20.0 * rng.standard_normal(len(index))).rename("heat_kw")
    heat_kw = heat_kw.clip(lower=0.0)
    local_dates = pd.DatetimeIndex(index.tz_convert(TZ).date)
    train = local_dates < pd.Timestamp("2026-03-02")
    test = ~train
    with_temp = fit_load_regression(heat_kw, temp_air=temp, calendar="none", config=SMALL, train_mask=train)
    without = fit_load_regression(heat_kw, calendar="none", config=SMALL, train_mask=train)
    target = index[test]
    mean = heat_kw[test].mean()
    err_with = error_metrics(heat_kw[test], with_temp.predict(heat_kw, target, temp_air=temp), mean)["nmae_pct"]
    err_without = error_metrics(heat_kw[test], without.predict(heat_kw, target), mean)["nmae_pct"]
    assert err_with < 0.6 * err_without
    with pytest.raises(ForecastError, match="fitted with temperature; pass temp_air"):
        with_temp.predict(heat_kw, target)


def test_dst_timezone_keeps_shifts_on_the_clock():
    tz = "Europe/Berlin"                                     # DST starts 29 Mar 2026
    history = synthetic_load("2026-02-16", 50, tz=tz, calendar="none")   # lags reach back two days at least
    index = pd.date_range(pd.Timestamp("2026-03-30", tz=tz), pd.Timestamp("2026-04-06", tz=tz), freq="1h",
                          inclusive="left")
    naive = seasonal_naive_kw(history, index, calendar="none")
    local = index.tz_convert(tz)
    # Mondays to Fridays still start at 08:00 on the clock, one hour earlier in UTC than before.
    workday_8 = naive[(local.weekday < 5) & (local.hour == 8)]
    assert (workday_8 == 1000.0).all()
    assert (naive[(local.weekday < 5) & (local.hour == 7)] == 300.0).all()
    regression = forecast_load_kw(history, index, method="regression", calendar="none", config=SMALL)
    assert len(regression) == len(index) and not regression.isna().any()
    assert regression[(local.weekday < 5) & (local.hour == 10)].mean() > 800.0


def test_forecast_load_for_every_meter_column_and_out_of_range_years():
    history = synthetic_load("2026-08-01", 60)
    table = pd.DataFrame({"a_kw": history, "b_kw": 2 * history})
    index = pd.date_range("2026-09-30", periods=48, freq="1h", tz=TZ)
    both = forecast_load_kw(table, index, method="seasonal_naive")
    assert list(both.columns) == ["a_kw", "b_kw"]
    np.testing.assert_allclose(both["b_kw"], 2 * both["a_kw"])
    late = synthetic_load("2026-11-01", 60, calendar="none")
    with pytest.raises(ForecastError, match="no holiday schedule for 2027"):
        seasonal_naive_kw(late, pd.date_range("2027-01-04", periods=24, freq="1h", tz=TZ))
