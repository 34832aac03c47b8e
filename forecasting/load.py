"""Load (and heat demand) forecasts from metered history and the calendar.

Two methods, both for day-ahead use:

seasonal naive (:func:`seasonal_naive_kw`)
    each day copies a reference day at the same local clock time: the same
    weekday a week earlier, public holidays a Sunday, make-up working days the
    latest ordinary working day (:mod:`forecasting.park_calendar`);
regression (:func:`fit_load_regression`, :meth:`LoadRegression.predict`)
    scikit-learn's ``HistGradientBoostingRegressor`` on calendar features
    (clock hour, weekday, day type of the day and its neighbours), the
    seasonal naive value, the recent level of the load, and optionally air
    temperature.

Nothing is specific to electricity: a heat demand series [kW] with a
temperature forecast goes through the same functions.

Information available at forecast time: a day-ahead forecast is made during
day D-1, so only days up to D-2 are complete. Every lagged quantity here (the
reference day, the recent level) is taken at least ``min_lag_days`` (default
2) days before the forecast day, in training as in prediction, so a model can
be fitted and evaluated on one long series without peeking.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from forecasting.park_calendar import (
    HolidayCalendar, calendar_features, local_dates, same_clock_time, seasonal_naive_reference_days)
from microgrid.base import StrictModel
from microgrid.errors import DataError, ForecastError
from microgrid.messages import Message
from microgrid.timeseries import require_tz_aware, step_hours

logger = logging.getLogger(__name__)

_CATEGORICAL = ("weekday", "day_type", "prev_day_type", "next_day_type")


class LoadRegressionConfig(StrictModel):
    """Settings of the gradient-boosting load model (scikit-learn names)."""

    max_iter: int = Field(default=300, ge=1)
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    max_leaf_nodes: int = Field(default=31, ge=2)
    min_samples_leaf: int = Field(default=20, ge=1)
    l2_regularization: float = Field(default=0.0, ge=0)
    loss: Literal["squared_error", "absolute_error"] = "squared_error"
    random_state: int = 0
    level_days: int = Field(default=7, ge=1, description="days averaged for the recent level")
    min_lag_days: int = Field(default=2, ge=1, description="youngest complete day usable [days before the target]")
    max_lookback_days: int = Field(default=42, ge=7, description="oldest reference day searched [days]")
    n_threads: int | None = Field(
        default=1, ge=1,
        description="OpenMP threads for fitting and prediction; None lets scikit-learn use every core. One thread "
                    "is faster for models of this size and avoids oversubscription next to other processes.")


def _check_history(history_kw: pd.Series, what: str = "history_kw") -> pd.Series:
    if not isinstance(history_kw, pd.Series):
        raise DataError(Message("{what}: expected one series of kW; pass one column of the meter table",
                                what=what))
    require_tz_aware(history_kw.index, what)
    step_hours(history_kw.index, what)
    if history_kw.isna().any():
        at = history_kw.index[history_kw.isna().to_numpy()][0].isoformat()
        raise DataError(Message("{what}: missing value at {at}; fill gaps first (forecasting.sources readers do)",
                                what=what, at=at))
    return history_kw.astype(float)


def seasonal_naive_kw(history_kw: pd.Series, index: pd.DatetimeIndex, *, timezone: str | None = None,
                      calendar: HolidayCalendar = "china", min_lag_days: int = 2,
                      max_lookback_days: int = 42, strict: bool = True) -> pd.Series:
    """Seasonal naive forecast [kW]: each day copies its reference day at the same clock time.

    Parameters
    ----------
    history_kw : pandas.Series
        Metered mean power per step [kW], tz-aware regular index, no NaN.
    index : pandas.DatetimeIndex
        Steps to forecast (tz-aware).
    timezone : str, optional
        Timezone of the local calendar (default: that of ``history_kw``).
    calendar : {"china", "none"}, default "china"
    min_lag_days : int, default 2
        A reference day lies at least this many days before the forecast day.
    max_lookback_days : int, default 42
    strict : bool, default True
        Raise :class:`ForecastError` when a day has no reference day in
        history; otherwise leave NaN.

    Returns
    -------
    pandas.Series
        Forecast [kW] on ``index``.

    Examples
    --------
    >>> seasonal_naive_kw(loads["ws1_machining_kw"], next_day_index)  # doctest: +SKIP
    """
    history = _check_history(history_kw)
    require_tz_aware(index, "index")
    tz = timezone or str(history.index.tz)
    available = _complete_days(history, tz)
    mapping = seasonal_naive_reference_days(local_dates(index, tz), available, calendar, min_lag_days,
                                            max_lookback_days)
    if strict:
        missing = [d for d, r in mapping.items() if r is None]
        if missing:
            raise ForecastError(
                Message("load forecast: no reference day in history for {missing}; history must hold a day of "
                        "the matching type {min_lag_days}–{max_lookback_days} days before it (same weekday; a "
                        "Sunday for holidays; a working day for make-up working days)",
                        missing=missing[0].isoformat(), min_lag_days=min_lag_days,
                        max_lookback_days=max_lookback_days)
            )
    return same_clock_time(history, index, mapping, tz).rename("seasonal_naive_kw")


def _complete_days(history: pd.Series, tz: str) -> list[dt.date]:
    """Local dates fully covered by ``history`` (a partial first or last day is left out)."""
    step = pd.Timedelta(hours=step_hours(history.index, "history_kw"))
    first, end = history.index[0], history.index[-1] + step

    def midnight(day: dt.date) -> pd.Timestamp:
        return pd.Timestamp(day).tz_localize(tz, ambiguous=True, nonexistent="shift_forward")

    return [d for d in local_dates(history.index, tz)
            if midnight(d) >= first and midnight(d + dt.timedelta(days=1)) <= end]


def _recent_level(history: pd.Series, days: list[dt.date], tz: str, level_days: int, min_lag_days: int) -> pd.Series:
    """Mean load [kW] of the ``level_days`` days ending ``min_lag_days`` before each day."""
    local_day = pd.Index(history.index.tz_convert(tz).date)
    daily = history.groupby(local_day).mean()
    daily.index = pd.DatetimeIndex(daily.index)
    full = daily.asfreq("D")
    rolling = full.rolling(level_days, min_periods=max(1, level_days // 2)).mean()
    wanted = pd.DatetimeIndex(days) - pd.Timedelta(days=min_lag_days)
    return pd.Series(rolling.reindex(wanted).to_numpy(), index=days)


def load_features(history_kw: pd.Series, index: pd.DatetimeIndex, *, temp_air: pd.Series | None = None,
                  timezone: str | None = None, calendar: HolidayCalendar = "china",
                  config: LoadRegressionConfig | None = None) -> pd.DataFrame:
    """Feature table of the regression model for the steps of ``index``.

    Columns: :func:`forecasting.park_calendar.calendar_features`, ``naive_kw``
    (seasonal naive value), ``level_kw`` (mean load over ``level_days`` days
    ending ``min_lag_days`` before the day) and, with ``temp_air`` [°C],
    ``temp_air`` and ``temp_air_day_mean`` (mean of the local day).
    Rows whose lagged values are unavailable hold NaN.
    """
    config = config or LoadRegressionConfig()
    history = _check_history(history_kw)
    tz = timezone or str(history.index.tz)
    features = calendar_features(index, tz, calendar)
    features["naive_kw"] = seasonal_naive_kw(history, index, timezone=tz, calendar=calendar,
                                             min_lag_days=config.min_lag_days,
                                             max_lookback_days=config.max_lookback_days, strict=False).to_numpy()
    dates = list(index.tz_convert(tz).date)
    level = _recent_level(history, sorted(set(dates)), tz, config.level_days, config.min_lag_days)
    features["level_kw"] = level.reindex(dates).to_numpy()
    if temp_air is not None:
        require_tz_aware(temp_air.index, "temp_air")
        temp = temp_air.reindex(index)
        if temp.isna().any():
            at = index[temp.isna().to_numpy()][0].isoformat()
            raise DataError(Message("temp_air: no temperature at {at}; the temperature series must cover every "
                                    "step",
                                    at=at))
        features["temp_air"] = temp.to_numpy(dtype=float)
        features["temp_air_day_mean"] = temp.groupby(pd.Index(dates)).transform("mean").to_numpy()
    return features


@dataclass
class LoadRegression:
    """A fitted load model; make forecasts with :meth:`predict`."""

    estimator: HistGradientBoostingRegressor
    feature_names: list[str]
    timezone: str
    calendar: HolidayCalendar
    config: LoadRegressionConfig
    uses_temperature: bool
    n_training_steps: int = field(default=0)

    def predict(self, history_kw: pd.Series, index: pd.DatetimeIndex,
                temp_air: pd.Series | None = None) -> pd.Series:
        """Forecast [kW] on ``index`` from metered history up to the forecast time.

        ``history_kw`` must reach ``min_lag_days`` before the first forecast
        day; ``temp_air`` [°C] must cover ``index`` when the model was fitted
        with temperature.
        """
        if self.uses_temperature and temp_air is None:
            raise ForecastError(Message("load forecast: the model was fitted with temperature; pass temp_air for "
                                        "the forecast steps"))
        features = load_features(history_kw, index, temp_air=temp_air if self.uses_temperature else None,
                                 timezone=self.timezone, calendar=self.calendar, config=self.config)
        lagged = features[["naive_kw", "level_kw"]]
        if lagged.isna().to_numpy().any():
            at = index[lagged.isna().any(axis=1).to_numpy()][0]
            raise ForecastError(
                Message("load forecast: history has no reference day or recent level for {at}; history must "
                        "reach {min_lag_days} days before the forecast day",
                        at=at.isoformat(), min_lag_days=self.config.min_lag_days)
            )
        with threadpool_limits(limits=self.config.n_threads, user_api="openmp"):
            values = self.estimator.predict(features[self.feature_names].to_numpy(dtype=float))
        return pd.Series(np.maximum(values, 0.0), index=index, name="regression_kw")


def fit_load_regression(history_kw: pd.Series, *, temp_air: pd.Series | None = None,
                        timezone: str | None = None, calendar: HolidayCalendar = "china",
                        config: LoadRegressionConfig | None = None,
                        train_mask: pd.Series | np.ndarray | None = None) -> LoadRegression:
    """Fit the gradient-boosting load model on metered history.

    Parameters
    ----------
    history_kw : pandas.Series
        Metered mean power per step [kW] (load or heat demand), tz-aware
        regular index, no NaN. The first ``min_lag_days`` + a week or so
        only feed the lagged features.
    temp_air : pandas.Series, optional
        Air temperature [°C] covering ``history_kw``; adds temperature features.
    timezone : str, optional
        Timezone of the local calendar (default: that of ``history_kw``).
    calendar : {"china", "none"}, default "china"
    config : LoadRegressionConfig, optional
    train_mask : pandas.Series or numpy.ndarray of bool, optional
        Steps of ``history_kw`` used as training rows (default: all). The
        lagged features still read the whole history, so a held-out window
        can sit in the middle of it.

    Returns
    -------
    LoadRegression

    Raises
    ------
    ForecastError
        Too little history to build a single training row.
    """
    config = config or LoadRegressionConfig()
    history = _check_history(history_kw)
    tz = timezone or str(history.index.tz)
    features = load_features(history, history.index, temp_air=temp_air, timezone=tz, calendar=calendar,
                             config=config)
    usable = features[["naive_kw", "level_kw"]].notna().all(axis=1).to_numpy()
    if train_mask is not None:
        usable &= np.asarray(train_mask, dtype=bool)
    if usable.sum() < 2 * config.min_samples_leaf:
        raise ForecastError(
            Message("load forecast: only {steps} training steps have a reference day; give at least three weeks of "
                    "history",
                    steps=int(usable.sum()))
        )
    names = list(features.columns)
    estimator = HistGradientBoostingRegressor(
        loss=config.loss, learning_rate=config.learning_rate, max_iter=config.max_iter,
        max_leaf_nodes=config.max_leaf_nodes, min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization, early_stopping=False, random_state=config.random_state,
        categorical_features=[n in _CATEGORICAL for n in names],
    )
    x = features.loc[usable, names].to_numpy(dtype=float)
    y = history.to_numpy()[usable]
    with threadpool_limits(limits=config.n_threads, user_api="openmp"):
        estimator.fit(x, y)
    logger.info("load regression fitted on %d steps with %d features", len(y), len(names))
    return LoadRegression(estimator=estimator, feature_names=names, timezone=tz, calendar=calendar, config=config,
                          uses_temperature=temp_air is not None, n_training_steps=int(len(y)))


def forecast_load_kw(history_kw: pd.Series | pd.DataFrame, index: pd.DatetimeIndex, *,
                     method: Literal["seasonal_naive", "regression"] = "regression",
                     temp_air_history: pd.Series | None = None, temp_air_forecast: pd.Series | None = None,
                     timezone: str | None = None, calendar: HolidayCalendar = "china",
                     config: LoadRegressionConfig | None = None) -> pd.Series | pd.DataFrame:
    """Forecast one load or every column of a meter table [kW] on ``index``.

    ``"regression"`` fits on all of ``history_kw`` and predicts; with
    temperature it needs ``temp_air_history`` covering the history and
    ``temp_air_forecast`` covering ``index``.
    """
    if isinstance(history_kw, pd.DataFrame):
        return pd.DataFrame({c: forecast_load_kw(history_kw[c], index, method=method,
                                                 temp_air_history=temp_air_history,
                                                 temp_air_forecast=temp_air_forecast, timezone=timezone,
                                                 calendar=calendar, config=config) for c in history_kw.columns},
                            index=index)
    config = config or LoadRegressionConfig()
    if method == "seasonal_naive":
        return seasonal_naive_kw(history_kw, index, timezone=timezone, calendar=calendar,
                                 min_lag_days=config.min_lag_days,
                                 max_lookback_days=config.max_lookback_days).rename(history_kw.name)
    if method != "regression":
        raise ValueError(Message("unknown method {method!r}; use 'seasonal_naive' or 'regression'", method=method))
    if (temp_air_history is None) != (temp_air_forecast is None):
        raise ForecastError(Message("load forecast: give temperature for both history and forecast, or for "
                                    "neither"))
    model = fit_load_regression(history_kw, temp_air=temp_air_history, timezone=timezone, calendar=calendar,
                                config=config)
    return model.predict(history_kw, index, temp_air=temp_air_forecast).rename(history_kw.name)
