"""Forecast accuracy: normalised errors, bias and skill, by month and overall.

For forecast f and measurement y over the N scored steps, with normaliser c
(the capacity for PV, the mean measured load for loads)::

    nMAE  = sum|f - y| / N / c                  [%]
    nRMSE = sqrt(sum (f - y)^2 / N) / c         [%]
    bias  = sum (f - y) / N / c                 [%]   (> 0: forecast too high)
    skill = 1 - RMSE(f) / RMSE(reference)       [%]   (> 0: better than the reference)

Every forecast in one table is scored on the same steps: those where the
measurement and all forecasts have a value, and the mask (daylight for PV) is
true. For PV the steps are the daylight ones, so night zeros do not flatter
the scores.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from forecasting.park_calendar import same_clock_time
from forecasting.pv import site_location
from microgrid.errors import ForecastError
from microgrid.park import Site
from microgrid.timeseries import require_tz_aware, step_hours

logger = logging.getLogger(__name__)

METRIC_COLUMNS = ("n_steps", "nmae_pct", "nrmse_pct", "bias_pct", "skill_pct")


def daylight_mask(index: pd.DatetimeIndex, site: Site, min_elevation_deg: float = 0.0) -> pd.Series:
    """True for steps whose midpoint has the sun above ``min_elevation_deg`` (apparent elevation) [deg]."""
    require_tz_aware(index, "index")
    mid = index + pd.Timedelta(hours=step_hours(index, "index") / 2)
    elevation = site_location(site).get_solarposition(mid)["apparent_elevation"].to_numpy()
    return pd.Series(elevation > min_elevation_deg, index=index, name="daylight")


def day_ahead_persistence(measured: pd.Series, index: pd.DatetimeIndex | None = None,
                          timezone: str | None = None, lag_days: int = 1,
                          clock: Literal["local", "solar"] = "local") -> pd.Series:
    """Persistence: the value measured ``lag_days`` earlier at the same time of day.

    The reference forecast of the skill scores. ``clock="local"`` (loads,
    whose shifts follow the clock) keeps the local clock time of ``timezone``
    (default: that of ``index``) across a daylight-saving change, see
    :func:`forecasting.park_calendar.same_clock_time`; ``clock="solar"`` (PV,
    which follows the sun) takes the value exactly ``24 h × lag_days``
    earlier.

    Parameters
    ----------
    measured : pandas.Series
        Measurement on a tz-aware index.
    index : pandas.DatetimeIndex, optional
        Steps to forecast (default: those of ``measured``).
    timezone : str, optional
    lag_days : int, default 1
    clock : {"local", "solar"}, default "local"

    Returns
    -------
    pandas.Series
        On ``index``; NaN where the reference day has no data.
    """
    target = require_tz_aware(measured.index if index is None else index, "index")
    if clock == "solar":
        shifted = measured.reindex(target - pd.Timedelta(days=lag_days))
        return pd.Series(shifted.to_numpy(), index=target, name="persistence")
    if clock != "local":
        raise ValueError(f"unknown clock {clock!r}; use 'local' or 'solar'")
    tz = timezone or str(target.tz)
    days = sorted(set(target.tz_convert(tz).date))
    mapping = {d: d - dt.timedelta(days=lag_days) for d in days}
    return same_clock_time(measured, target, mapping, tz).rename("persistence")


def error_metrics(actual: pd.Series, forecast: pd.Series, normalizer: float) -> dict[str, float]:
    """nMAE, nRMSE and bias [%] of ``forecast`` against ``actual`` over their common non-NaN steps.

    Parameters
    ----------
    actual, forecast : pandas.Series
        Same unit (e.g. kW).
    normalizer : float
        Capacity or mean load, same unit, > 0.
    """
    if not normalizer > 0:
        raise ForecastError(f"accuracy: normaliser must be > 0, got {normalizer}")
    pair = pd.concat([actual.rename("y"), forecast.rename("f")], axis=1, join="inner").dropna()
    error = (pair["f"] - pair["y"]).to_numpy()
    n = len(error)
    if n == 0:
        return {"n_steps": 0, "nmae_pct": np.nan, "nrmse_pct": np.nan, "bias_pct": np.nan}
    return {
        "n_steps": n,
        "nmae_pct": 100.0 * np.abs(error).mean() / normalizer,
        "nrmse_pct": 100.0 * np.sqrt((error ** 2).mean()) / normalizer,
        "bias_pct": 100.0 * error.mean() / normalizer,
    }


def accuracy_table(
    actual: pd.Series,
    forecasts: Mapping[str, pd.Series],
    *,
    normalizer: float | Literal["mean_actual"],
    reference: str | None = None,
    mask: pd.Series | None = None,
    timezone: str | None = None,
    groups: pd.Series | None = None,
) -> pd.DataFrame:
    """Accuracy of several forecasts against one measurement, by month and overall.

    Parameters
    ----------
    actual : pandas.Series
        Measurement on a tz-aware index.
    forecasts : mapping of name to pandas.Series
        Forecasts in the unit of ``actual``.
    normalizer : float or "mean_actual"
        Capacity (PV) or ``"mean_actual"``: the mean of ``actual`` over the
        scored steps of each row (loads).
    reference : str, optional
        Name in ``forecasts`` (e.g. persistence) that ``skill_pct`` refers to.
    mask : pandas.Series of bool, optional
        Steps to score (e.g. :func:`daylight_mask`).
    timezone : str, optional
        Timezone of the months (default: that of ``actual``).
    groups : pandas.Series, optional
        Labels replacing the months (e.g. day types); the overall row is kept.

    Returns
    -------
    pandas.DataFrame
        Index ``(forecast, period)`` with periods ``YYYY-MM`` (or the group
        labels) and ``overall``; columns :data:`METRIC_COLUMNS`.
    """
    require_tz_aware(actual.index, "actual")
    if reference is not None and reference not in forecasts:
        raise ValueError(f"reference {reference!r} is not one of the forecasts {list(forecasts)}")
    table = pd.concat([actual.rename("__actual__")] + [f.rename(n) for n, f in forecasts.items()],
                      axis=1, join="inner")
    keep = table.notna().all(axis=1)
    if mask is not None:
        keep &= mask.reindex(table.index).fillna(False).astype(bool)
    dropped = int((~table.notna().all(axis=1)).sum())
    if dropped:
        logger.info("accuracy: %d steps without a value in some forecast are not scored", dropped)
    table = table[keep]
    if table.empty:
        raise ForecastError("accuracy: no step where the measurement and every forecast have a value")
    tz = timezone or str(actual.index.tz)
    if groups is None:
        labels = pd.Series(table.index.tz_convert(tz).strftime("%Y-%m"), index=table.index)
    else:
        labels = groups.reindex(table.index).astype(str)
    rows = []
    for period, part in list(table.groupby(labels.to_numpy(), sort=True)) + [("overall", table)]:
        norm = part["__actual__"].mean() if normalizer == "mean_actual" else float(normalizer)
        ref_rmse = None
        if reference is not None:
            ref_rmse = np.sqrt(((part[reference] - part["__actual__"]) ** 2).mean())
        for name in forecasts:
            metrics = error_metrics(part["__actual__"], part[name], norm)
            rmse = metrics["nrmse_pct"] * norm / 100.0
            metrics["skill_pct"] = (100.0 * (1.0 - rmse / ref_rmse) if ref_rmse not in (None, 0.0) else np.nan)
            rows.append({"forecast": name, "period": period, **metrics})
    frame = pd.DataFrame(rows).set_index(["forecast", "period"])
    frame["n_steps"] = frame["n_steps"].astype(int)
    return frame[list(METRIC_COLUMNS)]


def to_markdown(frame: pd.DataFrame, digits: int = 1) -> str:
    """A Markdown table of ``frame`` (index levels become the first columns)."""
    flat = frame.reset_index()
    header = "| " + " | ".join(str(c) for c in flat.columns) + " |"
    align = "| " + " | ".join("---:" if pd.api.types.is_numeric_dtype(flat[c]) else "---" for c in flat.columns) + " |"
    lines = [header, align]
    for _, row in flat.iterrows():
        cells = []
        for column in flat.columns:
            value = row[column]
            if isinstance(value, (float, np.floating)):
                if np.isnan(value):
                    cells.append("–")
                else:
                    text = f"{value:,.{digits}f}"
                    cells.append(text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text)
            elif isinstance(value, (int, np.integer)):
                cells.append(f"{value:,d}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
