"""Customer baseline load (CBL) of a demand-response event from the park's metered grid import.

Demand-response programmes settle an event against what the park would have
drawn without it, estimated from its own meter: the average import at the
same clock times on the last N days of the same kind before the event (the
"N of the last similar days" baseline), optionally adjusted to the event
day's level from the hours just before the event. The settings are
:class:`microgrid.park.DemandResponseSettings` (``demand_response:`` in
``park.yaml``).

* Similar days: working days (make-up working days included, public holidays
  excluded, :func:`microgrid.workdays.is_workday`) for an event on a working
  day; days off for one on a day off. Searched backwards from the day before
  the event, at most ``lookback_days``; a day is skipped when it had another
  demand-response event or the meter misses any step the baseline needs.
* Clock times: each step of the window is counted from the event day's
  local midnight, and read at the same offset from each similar day's
  midnight (an event window past midnight reads the similar day's next day).
* Same-day adjustment over the ``adjustment_window_h`` hours ending
  ``adjustment_gap_h`` before the event's start: ``scaling`` multiplies the
  baseline by metered / baseline over that window (within 1 ±
  ``adjustment_cap_frac``), ``additive`` adds the difference (within ±
  ``adjustment_cap_frac`` × the baseline's mean over the window). Steps of
  the window not metered yet (an event answered ahead of time) are taken from
  the expected import (the park's plan without events) and the answer says so.

Everything here is a pure function of the meter series: the service gathers
the meter (the case's ``data.grid_meter`` and the posted measurements) and
calls :func:`customer_baseline`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from microgrid.errors import DataError
from microgrid.messages import Message
from microgrid.park import DemandResponseSettings
from microgrid.workdays import is_workday


@dataclass(frozen=True)
class CustomerBaseline:
    """An event's baseline import per step of its window, and how it was made.

    Attributes
    ----------
    method : str
        ``similar-days`` (this module) or ``optimal-plan`` (the plan without
        events, :func:`optimal_plan_baseline`).
    baseline_kw : numpy.ndarray
        Baseline import per step of the window [kW].
    days : tuple of datetime.date
        The similar days averaged, newest first (empty for ``optimal-plan``).
    day_type : str or None
        ``working`` or ``day off``: the kind of day averaged.
    adjustment : str
        ``none``, ``scaling`` or ``additive``.
    adjustment_basis : str or None
        ``metered`` (the adjustment window was metered whole), ``metered and
        planned`` or ``planned`` (steps not metered yet were taken from the
        expected import), ``unavailable`` (neither: no adjustment), or None.
    adjustment_factor : float or None
        ``scaling``: the factor applied (after the cap).
    adjustment_kw : float or None
        ``additive``: the offset added [kW] (after the cap).
    adjustment_capped : bool
        The cap limited the adjustment.
    """

    method: str
    baseline_kw: np.ndarray
    days: tuple[dt.date, ...] = ()
    day_type: str | None = None
    adjustment: str = "none"
    adjustment_basis: str | None = None
    adjustment_factor: float | None = None
    adjustment_kw: float | None = None
    adjustment_capped: bool = False

    def describe(self) -> dict:
        """The baseline's description in an event's answer (JSON-ready)."""
        return {"method": self.method, "days": [d.isoformat() for d in self.days], "day_type": self.day_type,
                "adjustment": self.adjustment, "adjustment_basis": self.adjustment_basis,
                "adjustment_factor": self.adjustment_factor, "adjustment_kw": self.adjustment_kw,
                "adjustment_capped": self.adjustment_capped}


def optimal_plan_baseline(planned_import_kw: Iterable[float]) -> CustomerBaseline:
    """The baseline of ``optimal-plan``: the park's plan without events, as it is."""
    return CustomerBaseline("optimal-plan", np.asarray(list(planned_import_kw), dtype=float))


def metered_import(meter_kw: pd.Series | None, readings: Iterable[tuple[pd.Timestamp, float]],
                   origin: pd.Timestamp, dt_h: float) -> pd.Series:
    """The park's metered import on its step grid [kW]: the meter file, then the posted readings over it.

    Parameters
    ----------
    meter_kw : pandas.Series or None
        Mean import over each step (``data.grid_meter``), indexed by the
        step's start; must lie on the grid.
    readings : iterable of (Timestamp, float)
        Measured import at an instant (posted measurements); each counts for
        the step that contains it, several in a step are averaged, and they
        replace the meter file's value of that step.
    origin : pandas.Timestamp
        A time on the step grid (the start of the park's data).
    dt_h : float
        Step length [h].
    """
    step = pd.Timedelta(hours=dt_h)
    series = [] if meter_kw is None else [meter_kw.astype(float)]
    stamps, values = [], []
    for stamp, value in readings:
        stamp = pd.Timestamp(stamp)
        stamps.append(origin + ((stamp - origin) // step) * step)
        values.append(float(value))
    if stamps:
        posted = pd.Series(values, index=pd.DatetimeIndex(stamps)).groupby(level=0).mean()
        posted.index = posted.index.tz_convert(origin.tz)
        series.append(posted)
    if not series:
        return pd.Series(dtype=float)
    merged = pd.concat(series)
    return merged[~merged.index.duplicated(keep="last")].sort_index()


def _offsets(times: pd.DatetimeIndex, midnight: pd.Timestamp) -> pd.TimedeltaIndex:
    return pd.TimedeltaIndex(times - midnight)


def _midnight(day: dt.date, tz) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize(tz)


def _values(meter: pd.Series, midnight: pd.Timestamp, offsets: pd.TimedeltaIndex) -> np.ndarray:
    """The meter at ``midnight + offsets`` (NaN where it has no value)."""
    return meter.reindex(midnight + offsets).to_numpy(dtype=float)


def similar_days(meter: pd.Series, event_day: dt.date, tz, offsets: pd.TimedeltaIndex,
                 settings: DemandResponseSettings, exclude_days: Iterable[dt.date] = ()) -> list[dt.date]:
    """The last ``settings.similar_days`` days of ``event_day``'s kind whose meter covers every ``offsets``.

    Newest first; fewer when the look-back holds fewer (the caller decides
    whether that is enough).
    """
    working = is_workday(event_day)
    skip = set(exclude_days)
    chosen: list[dt.date] = []
    for back in range(1, settings.lookback_days + 1):
        day = event_day - dt.timedelta(days=back)
        if day in skip or is_workday(day) != working:
            continue
        if np.isnan(_values(meter, _midnight(day, tz), offsets)).any():
            continue
        chosen.append(day)
        if len(chosen) == settings.similar_days:
            break
    return chosen


def customer_baseline(meter: pd.Series, window: pd.DatetimeIndex, dt_h: float, settings: DemandResponseSettings,
                      tz, exclude_days: Iterable[dt.date] = (), expected_kw: pd.Series | None = None
                      ) -> CustomerBaseline:
    """The similar-days baseline of an event over ``window`` (the starts of its steps).

    Parameters
    ----------
    meter : pandas.Series
        Metered import on the step grid [kW] (:func:`metered_import`).
    window : pandas.DatetimeIndex
        Starts of the event's steps, tz-aware.
    dt_h : float
        Step length [h].
    settings : DemandResponseSettings
        The park's ``demand_response`` settings.
    tz : str
        The park's timezone (day types and clock times are local).
    exclude_days : iterable of datetime.date
        Days with another demand-response event (left out).
    expected_kw : pandas.Series, optional
        Expected import [kW] for the adjustment window's steps that are not
        metered yet (the plan without events).

    Raises
    ------
    DataError
        Fewer than ``settings.min_similar_days`` similar days are metered
        whole in the look-back (naming ``demand_response`` and the fix).
    """
    if len(window) == 0:
        raise DataError(Message("demand_response.baseline: the event's window holds no step of the plan"))
    if window.tz is None:
        raise DataError(Message("demand_response.baseline: the event's window has naive timestamps; give UTC "
                                "offsets"))
    start = window[0]
    event_day = start.tz_convert(tz).date()
    midnight = _midnight(event_day, tz)
    step = pd.Timedelta(hours=dt_h)
    offsets = _offsets(window, midnight)
    adjusting = settings.adjustment != "none"
    if adjusting:
        n_adjust = max(1, round(settings.adjustment_window_h / dt_h))
        adjust_end = start - pd.Timedelta(hours=settings.adjustment_gap_h)
        adjust_end = midnight + ((adjust_end - midnight) // step) * step  # on the grid, not after the gap
        adjust_times = pd.date_range(end=adjust_end - step, periods=n_adjust, freq=step)
        adjust_offsets = _offsets(adjust_times, midnight)
        needed = offsets.append(adjust_offsets)
    else:
        needed = offsets
    days = similar_days(meter, event_day, tz, needed, settings, exclude_days)
    kind = "working" if is_workday(event_day) else "day off"
    if len(days) < settings.min_similar_days:
        raise DataError(
            Message("demand_response.baseline: similar-days needs at least {min_similar_days} {kind} day(s) with "
                    "metered grid import at the event's times in the {lookback_days} days before {event_day}; "
                    "found {days}. Post measurements with grid_import_kw, give the case's data.grid_meter, or "
                    "set demand_response.baseline: optimal-plan",
                    min_similar_days=settings.min_similar_days, kind=kind, lookback_days=settings.lookback_days,
                    event_day=event_day.isoformat(), days=len(days)))
    profile = np.mean([_values(meter, _midnight(d, tz), offsets) for d in days], axis=0)
    if not adjusting:
        return CustomerBaseline("similar-days", profile, tuple(days), kind)

    reference = float(np.mean([_values(meter, _midnight(d, tz), adjust_offsets) for d in days]))
    actual = meter.reindex(adjust_times).to_numpy(dtype=float)
    metered = ~np.isnan(actual)
    if expected_kw is not None:
        actual = np.where(metered, actual, expected_kw.reindex(adjust_times).to_numpy(dtype=float))
    if np.isnan(actual).any():
        return CustomerBaseline("similar-days", profile, tuple(days), kind, settings.adjustment, "unavailable")
    basis = "metered" if metered.all() else "planned" if not metered.any() else "metered and planned"
    level = float(actual.mean())
    cap = settings.adjustment_cap_frac
    if settings.adjustment == "scaling":
        factor = level / reference if reference > 0 else 1.0
        capped = float(np.clip(factor, 1 - cap, 1 + cap))
        return CustomerBaseline("similar-days", profile * capped, tuple(days), kind, "scaling", basis,
                                adjustment_factor=capped, adjustment_capped=not np.isclose(capped, factor))
    offset = level - reference
    capped = float(np.clip(offset, -cap * reference, cap * reference))
    return CustomerBaseline("similar-days", np.maximum(profile + capped, 0.0), tuple(days), kind, "additive", basis,
                            adjustment_kw=capped, adjustment_capped=not np.isclose(capped, offset))
