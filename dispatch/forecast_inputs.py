"""Forecasts that replace parts of a case's data for a plan, checked and put on the plan's steps.

:class:`Forecasts` holds them: direct power forecasts of PV, loads and heat
(:func:`check_direct_forecast`, :func:`step_means`), a weather forecast, and
metered history to forecast load profiles from
(:func:`forecast_profiles_from_history`). :func:`dispatch.inputs.horizon_inputs`
lays them over the case's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.pv_forecast import PV_TOTAL_COLUMN, check_pv_total, pv_total_tolerance_kw
from forecasting.wind import WIND_TOTAL_COLUMN
from microgrid.case import Case
from microgrid.errors import DataError
from microgrid.messages import Message
from microgrid.park import Park
from microgrid.timeseries import require_tz_aware


@dataclass
class Forecasts:
    """Forecast inputs that replace the case's own data for a plan.

    Attributes
    ----------
    weather : pandas.DataFrame, optional
        A weather forecast (see ``forecasting.sources.read_weather_csv``):
        irradiance or cloud cover, temperature, wind. PV comes from it through
        pvlib, and air-source heat pumps' COP from its ``temp_air``.
    load_history : pandas.DataFrame, optional
        Metered history, one ``<profile>_kw`` column per load or heat-demand
        profile of the case; each profile the park uses and the history holds
        is forecast for the plan (calendar regression), the others come from
        the case's data.
    load_method : {'regression', 'seasonal_naive'}
    pv_kw : pandas.DataFrame, optional
        A direct PV forecast, AC power [kW]: one ``<array_id>_kw`` column per
        array (arrays without a column come from the weather), or a single
        ``pv_kw`` column, the park's total, split over the arrays in proportion
        to their AC rating ``ac_capacity_kw`` (unless the park has an array
        ``pv``: then ``pv_kw`` is that array's), or both: every array's column
        and the total, which must equal their sum (see
        ``forecasting.pv_forecast.check_pv_total``; the arrays' columns are used), as
        ``microgrid forecast pv`` writes it. Overrides PV from the weather
        (forecast or case). No value may exceed its array's AC rating (the
        total: the sum of the ratings): the inverters clip there.
    load_kw : pandas.DataFrame, optional
        A direct load forecast [kW]: one column per load profile of the park,
        named as the profile (the loads file's column, e.g. ``l1_kw``); the
        devices' ``scale`` applies as to the case's data. Overrides the
        ``load_history`` forecast of that profile.
    heat_kw : pandas.DataFrame, optional
        A direct heat-demand forecast [kW of heat]: one column per heat-demand
        profile of the park's heat buses, named as the profile.
    wind_kw : pandas.DataFrame, optional
        A direct wind power forecast [kW], laid out as ``pv_kw``: one
        ``<group_id>_kw`` column per wind turbine group (groups without one
        come from the weather), or a single total ``wind_kw`` split over the
        groups in proportion to their ``max_p_kw`` (unless a group is called
        ``wind``), or both, the total equal to the groups' sum, as
        ``microgrid forecast wind`` writes it. No value may exceed its
        group's ``max_p_kw`` (the total: their sum).
    names : dict, optional
        Part → the name used in error messages (default ``forecasts.<part>``;
        the CLI gives its option names).

    The direct forecasts are tables of mean power over each step on a
    tz-aware index of step starts, at any step length: :func:`step_means`
    turns them into the plan's steps.
    """

    weather: pd.DataFrame | None = None
    load_history: pd.DataFrame | None = None
    load_method: str = "regression"
    forecast_profiles: list[str] = field(default_factory=list)
    pv_kw: pd.DataFrame | None = None
    load_kw: pd.DataFrame | None = None
    heat_kw: pd.DataFrame | None = None
    wind_kw: pd.DataFrame | None = None
    names: dict[str, str] = field(default_factory=dict)

    def label(self, part: str) -> str:
        """How error messages name ``part`` (``weather``, ``load_history``, ``pv_kw``, ``load_kw``, ``heat_kw``, ``wind_kw``)."""
        return self.names.get(part, f"forecasts.{part}")


DIRECT_PARTS = ("pv_kw", "load_kw", "heat_kw", "wind_kw")
"""The forecasts given directly as power [kW], in :class:`Forecasts` and in the service."""
TOLERANCE_KW = 1e-6


def load_profile_names(park: Park) -> set[str]:
    """The load profiles (loads-file columns) the park's fixed, curtailable and shiftable loads use."""
    return {load.profile for group in (park.loads, park.curtailable_loads, park.shiftable_loads)
            for load in group.values()}


#: The generators with direct forecasts: part → (the park's total column, its devices' name in messages).
GENERATION_PARTS = {"pv_kw": (PV_TOTAL_COLUMN, "PV array"), "wind_kw": (WIND_TOTAL_COLUMN, "wind turbine group")}


def generation_ratings_kw(park: Park, part: str) -> dict[str, float]:
    """Device id → the most a generator can give [kW]: a PV array's AC rating, a turbine group's ``max_p_kw``."""
    if part == "pv_kw":
        return {a_id: a.ac_capacity_kw for a_id, a in park.pv_arrays.items()}
    return {g_id: g.max_p_kw for g_id, g in park.wind_turbines.items()}


def _has_total(park: Park, part: str, frame: pd.DataFrame) -> bool:
    """Whether a PV or wind forecast has the park's total column (unless a device is called ``pv``/``wind``)."""
    total = GENERATION_PARTS[part][0]
    return total in frame.columns and total.removesuffix("_kw") not in generation_ratings_kw(park, part)


def _is_total(park: Park, part: str, frame: pd.DataFrame) -> bool:
    """Whether a PV or wind forecast is the park's total alone (to split over the devices by rating)."""
    return _has_total(park, part, frame) and len(frame.columns) == 1


def check_wind_total(park: Park, frame: pd.DataFrame, what: str) -> None:
    """Check that a wind forecast's total ``wind_kw`` is the sum of its groups' columns (as ``check_pv_total``)."""
    columns = [f"{g_id}_kw" for g_id in park.wind_turbines]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(Message("{what}: the total {total_column} comes with turbine group columns but not "
                                "{missing}; give every group's column, or the total alone",
                                what=what, total_column=WIND_TOTAL_COLUMN, missing=', '.join(missing)))
    sum_kw = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float).sum(axis=1)
    total_kw = pd.to_numeric(frame[WIND_TOTAL_COLUMN], errors="coerce").to_numpy(dtype=float)
    tolerance_kw = pv_total_tolerance_kw(sum(generation_ratings_kw(park, "wind_kw").values()))
    with np.errstate(invalid="ignore"):
        off = np.abs(total_kw - sum_kw) > tolerance_kw   # False where a value is missing
    if off.any():
        k = int(np.argmax(off))
        raise DataError(Message("{what}.{total_column}: {total_kw:g} kW at {at} is not the sum of the "
                                "turbine group columns, {sum_kw:g} kW (tolerance {tolerance_kw:g} kW); correct "
                                "the total or leave the column out",
                                what=what, total_column=WIND_TOTAL_COLUMN, total_kw=total_kw[k],
                                at=frame.index[k].isoformat(), sum_kw=sum_kw[k], tolerance_kw=tolerance_kw))


def _other_kind(park: Park, part: str, column: str) -> str | None:
    """``heat-demand`` for a heat profile in a load forecast, ``load`` for a load profile in a heat forecast."""
    if part == "load_kw" and column in {b.demand_profile for b in park.heat_buses.values()}:
        return "heat-demand"
    if part == "heat_kw" and column in load_profile_names(park):
        return "load"
    return None


def check_direct_forecast(park: Park, part: str, frame: pd.DataFrame, what: str) -> None:
    """Check a direct forecast's columns and values against ``park``; :class:`DataError` naming the field.

    Parameters
    ----------
    park : Park
    part : {'pv_kw', 'load_kw', 'heat_kw', 'wind_kw'}
    frame : pandas.DataFrame
        Mean power over each step [kW] on a tz-aware index.
    what : str
        The forecast's name in messages (``forecasts.pv_kw``); an unknown
        column is named ``<what>.<column>``.

    Checks: timestamps with UTC offset; every column a PV array
    (``<array_id>_kw`` and/or the total ``pv_kw``), a wind turbine group
    (``<group_id>_kw`` and/or the total ``wind_kw``), a load profile or a heat
    profile of the park; values finite and ≥ 0 (NaN is a missing value, found
    by :func:`step_means` if the plan needs it); PV at most the AC rating, wind
    at most the group's ``max_p_kw``; a total next to device columns equal to
    their sum (``forecasting.pv_forecast.check_pv_total``, :func:`check_wind_total`).
    """
    require_tz_aware(frame.index, what)
    if frame.columns.empty:
        raise DataError(Message("{what}: no power column; add one column per {kind} forecast [kW]",
                                what=what, kind=part.removesuffix('_kw')))
    if part in GENERATION_PARTS:
        total, noun = GENERATION_PARTS[part]
        ratings = {f"{d_id}_kw": kw for d_id, kw in generation_ratings_kw(park, part).items()}
        if not ratings:
            family = "PV arrays" if part == "pv_kw" else "wind turbines"
            raise DataError(Message("{what}: the park has no {family}; leave out the {split} forecast",
                                    what=what, family=family, split=family.split()[0]))
        hint = f"{', '.join(sorted(ratings))} (and/or the total {total})"
        if _has_total(park, part, frame):
            ratings[total] = sum(ratings.values())
        known, kind = set(ratings), f"{noun} column"
    elif part == "load_kw":
        known, kind, ratings = load_profile_names(park), "load profile", {}
        hint = ", ".join(sorted(known)) or "(none)"
    elif part == "heat_kw":
        known, kind, ratings = {b.demand_profile for b in park.heat_buses.values()}, "heat-demand profile", {}
        if not known:
            raise DataError(Message("{what}: the park has no heat buses; leave out the heat forecast", what=what))
        hint = ", ".join(sorted(known))
    else:
        raise ValueError(Message("unknown direct forecast part {part!r}", part=part))
    for column in frame.columns:
        if column not in known:
            other = _other_kind(park, part, column)
            if other:
                raise DataError(Message("{what}.{column}: {column!r} is a {other} profile, not a {kind}; give it "
                                        "in the {other} forecast (one file per kind; use {hint} here)",
                                        what=what, column=column, other=other, kind=kind, hint=hint))
            raise DataError(Message("{what}.{column}: the park has no {kind} {column!r}; use {hint}",
                                    what=what, column=column, kind=kind, hint=hint))
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = np.isinf(values) | (values < 0)
        if bad.any():
            at = frame.index[np.argmax(bad)]
            raise DataError(Message("{what}.{column}: {values:g} kW at {at}; forecasts are mean power over the "
                                    "step, finite and ≥ 0 kW",
                                    what=what, column=column, values=values[np.argmax(bad)], at=at.isoformat()))
        if column in ratings:
            above = values > ratings[column] + TOLERANCE_KW
            if above.any():
                at = frame.index[np.argmax(above)]
                is_total = column == GENERATION_PARTS[part][0] and _has_total(park, part, frame)
                if part == "pv_kw":
                    rating = "the arrays' AC rating" if is_total else "the array's AC rating"
                    unit = "kW of AC power"
                else:
                    rating = "the groups' most power" if is_total else "the group's most power (max_p_kw)"
                    unit = "kW"
                raise DataError(Message("{what}.{column}: {values:g} kW at {at} exceeds {rating} of {ratings:g} "
                                        "kW; check the unit ({unit}) and the column",
                                        what=what, column=column, values=values[np.argmax(above)],
                                        at=at.isoformat(), rating=rating, ratings=ratings[column], unit=unit))
    if part in GENERATION_PARTS and _has_total(park, part, frame) and not _is_total(park, part, frame):
        if part == "pv_kw":
            check_pv_total(park.pv_arrays, frame, what)
        else:
            check_wind_total(park, frame, what)


def groups_left_to_weather(park: Park, wind_kw: pd.DataFrame | None) -> list[str]:
    """The wind turbine groups whose power comes from the weather: those a direct wind forecast leaves out.

    A total ``wind_kw`` alone (or with every group's column) covers every group.

    Examples
    --------
    >>> groups_left_to_weather(park, pd.DataFrame(columns=["wt1_kw"]))  # doctest: +SKIP
    ['wt2']
    """
    if wind_kw is None:
        return list(park.wind_turbines)
    if _has_total(park, "wind_kw", wind_kw):
        return []
    given = {str(c).removesuffix("_kw") for c in wind_kw.columns}
    return [g_id for g_id in park.wind_turbines if g_id not in given]


def check_wind_weather(park: Park, weather: pd.DataFrame, wind_kw: pd.DataFrame | None, what: str) -> None:
    """Check that a weather forecast holds what windpowerlib needs for the groups it gives power to.

    Those are the groups :func:`groups_left_to_weather` names: each needs
    ``wind_speed`` [m/s] (finite, ≥ 0), and with the density correction of
    the default ``forecasting.wind.WindForecastConfig`` ``temp_air`` [°C]; a
    ``pressure`` column must be station pressure in Pa. The checks are
    ``forecasting.wind.windpowerlib_weather``'s, as the plan makes them;
    :class:`DataError` names the column and how to fix it.
    """
    groups = groups_left_to_weather(park, wind_kw)
    if not groups:
        return
    from forecasting.wind import WindForecastConfig, windpowerlib_weather

    config = WindForecastConfig()
    for g_id in groups:
        try:
            windpowerlib_weather(weather, park.site, park.wind_turbines[g_id], config, what)
        except DataError as exc:
            raise DataError(Message("{exc}, for wind turbine group {g_id!r} (or give its power in the wind_kw "
                                    "forecast)",
                                    exc=exc, g_id=g_id)) from None


def step_means(frame: pd.DataFrame, index: pd.DatetimeIndex, dt_h: float, what: str) -> pd.DataFrame:
    """Time-weighted means of a power forecast over the plan's steps (exact energy).

    The forecast is read as power means over its own steps: each row holds
    from its timestamp for one step, the forecast's step being the most common
    spacing of its rows. Each plan step [t, t + dt_h) gets the mean of that
    piecewise-constant power over it. So a 1-h forecast gives each of the four
    15-min steps of an hour the hour's value; a 15-min forecast gives a 1-h
    step the mean of its four values; a 20-min forecast gives the 15-min step
    00:15–00:30 (1/3 · p(00:00) + 2/3 · p(00:20))... weighted by overlap.

    Parameters
    ----------
    frame : pandas.DataFrame
        Mean power over each step [kW] on a regular tz-aware index of step
        starts (NaN: missing).
    index : pandas.DatetimeIndex
        The plan's step starts.
    dt_h : float
        The plan's step [h].
    what : str
        Name of the forecast in messages.

    Raises
    ------
    DataError
        Unless every step of the forecast that overlaps the plan has all its
        values; the message names the first missing timestamp.

    Examples
    --------
    >>> idx = pd.date_range("2026-07-15", periods=2, freq="1h", tz="Asia/Shanghai")
    >>> plan = pd.date_range("2026-07-15", periods=8, freq="15min", tz="Asia/Shanghai")
    >>> step_means(pd.DataFrame({"pv1_kw": [100.0, 40.0]}, index=idx), plan, 0.25, "pv").pv1_kw.tolist()
    [100.0, 100.0, 100.0, 100.0, 40.0, 40.0, 40.0, 40.0]
    """
    from forecasting.sources.checks import regular_step

    step = regular_step(require_tz_aware(frame.index, what), what)
    step_h = step / pd.Timedelta(hours=1)
    plan_step = pd.Timedelta(hours=dt_h)
    start, end = index[0], index[-1] + plan_step
    origin = frame.index[0]
    first_k = int(np.floor((start - origin) / step))
    last_k = int(np.ceil((end - origin) / step))
    needed = pd.DatetimeIndex([origin + k * step for k in range(first_k, last_k)])
    values = frame.reindex(needed).astype(float)
    missing = values.isna().to_numpy()
    if missing.any():
        row = int(np.nonzero(missing.any(axis=1))[0][0])
        column = values.columns[int(np.argmax(missing[row]))]
        covered = f"{frame.index[0].isoformat()} – {(frame.index[-1] + step).isoformat()}"
        raise DataError(
            Message("{what}: no value for {missing_at} (column '{column}'); the plan needs {start} – {end}, the "
                    "forecast covers {covered}; give every step of the plan",
                    what=what, missing_at=needed[row].tz_convert(index.tz).isoformat(), column=column,
                    start=start.isoformat(), end=end.isoformat(), covered=covered)
        )
    base = needed.asi8[0]
    edges_h = (np.append(needed.asi8, needed.asi8[-1] + step.value) - base) / 3.6e12
    plan_edges_h = (np.append(index.asi8, index.asi8[-1] + plan_step.value) - base) / 3.6e12
    energy_kwh = np.vstack([np.zeros(values.shape[1]), np.cumsum(values.to_numpy() * step_h, axis=0)])
    at_plan_edges = np.column_stack([np.interp(plan_edges_h, edges_h, energy_kwh[:, j])
                                     for j in range(values.shape[1])])
    return pd.DataFrame(np.diff(at_plan_edges, axis=0) / dt_h, index=index, columns=values.columns)


def direct_forecast_on_steps(forecasts: Forecasts | None, park: Park, part: str, index: pd.DatetimeIndex,
            dt_h: float) -> pd.DataFrame | None:
    """A direct forecast checked against ``park`` and on the plan's steps (None if not given)."""
    frame = getattr(forecasts, part, None) if forecasts is not None else None
    if frame is None:
        return None
    what = forecasts.label(part)
    check_direct_forecast(park, part, frame, what)
    if part not in GENERATION_PARTS:
        return step_means(frame, index, dt_h, what)
    total = GENERATION_PARTS[part][0]
    if _has_total(park, part, frame) and not _is_total(park, part, frame):
        frame = frame.drop(columns=total)   # checked equal to the devices' sum
    means = step_means(frame, index, dt_h, what)
    if _is_total(park, part, frame):
        ratings = generation_ratings_kw(park, part)
        total_kw = sum(ratings.values())
        return pd.DataFrame({d_id: means[total].to_numpy() * r / total_kw for d_id, r in ratings.items()},
                            index=index)
    return means.rename(columns=lambda c: c.removesuffix("_kw"))


def forecast_profiles_from_history(case: Case, forecasts: Forecasts, frame: pd.DataFrame, index: pd.DatetimeIndex,
                       columns: set[str]) -> pd.DataFrame:
    """Replace the ``columns`` of ``frame`` the history holds by load forecasts on ``index``."""
    from forecasting.load import forecast_load_kw

    history = forecasts.load_history
    wanted = sorted(c for c in columns if c in history.columns)
    if not wanted:
        return frame
    past = history.loc[history.index < index[0], wanted]
    if len(past) < 2:
        raise DataError(Message("{label}: no history before the plan's start {start}",
                                label=forecasts.label('load_history'), start=index[0].isoformat()))
    predicted = forecast_load_kw(past, index, method=forecasts.load_method,
                                 timezone=case.park.site.timezone)
    frame = frame.copy()
    for column in wanted:
        frame[column] = predicted[column].to_numpy()
        forecasts.forecast_profiles.append(column)
    return frame
