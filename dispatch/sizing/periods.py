"""Typical days of a case's year, for the sizing model: its profiles clustered with tsam.

The sizing model (:mod:`dispatch.sizing.model`) cannot afford 365 days of
15-minute operation for every size it weighs, so the year is reduced to
``k`` typical days, each with its weight (the number of days it stands
for): :func:`year_profiles` puts the year's series side by side,
:func:`typical_days` clusters them.

Method (docs/sizing.md says why): whole local days (00:00–24:00 in the
park's timezone) are clustered by tsam's agglomerative **hierarchical**
clustering (Ward) of the min–max normalised profiles, each cluster
represented by its **medoid**, a real day of the year, so that every typical
day keeps a real day's coincidence of load, sun, wind, heat and tariff; the
day holding the year's highest electric load is kept as a cluster of its
own (tsam ``ExtremeConfig(method="new_cluster")``), so that the grid
import limit and the demand charge meet the year's peak. Energy columns are
rescaled by tsam so that the weighted typical days keep each column's
annual energy; prices and temperatures are not rescaled (a tariff is not an
energy). The import price counts double in the clustering (days of another
TOU pattern fall apart), and each typical day's prices are the mean over the
days it stands for (:func:`member_means`), which makes the yearly energy
cost of a typical day's operation exact whichever months its days are in.
The clustering is deterministic: no random seed is involved.

Columns (``YearProfiles.frame``):

* ``load_kw``: the park's electric consumption other than the devices the
  sizing model dispatches (fixed loads, and flexible loads as they run
  without control, :func:`dispatch.baseline.uncontrolled_devices`);
* ``pv_kw``, ``wind_kw``: what the PV and wind of the park without its new
  assets give [kW];
* ``pv_kw_per_kwp``: AC output per kWp DC of new PV, the mix of the park's
  new PV arrays (their summed AC power over their summed DC rating);
* ``wind_kw_per_kw``: output per kW of nameplate of new wind, likewise;
* ``heat_<bus>_kw``: heat demand of each heat bus [kW of heat];
* ``price_import_cny_per_kwh``, ``price_export_cny_per_kwh``, ``temp_air``.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dispatch.baseline import uncontrolled_devices
from dispatch.inputs import horizon_inputs
from forecasting.pv import park_pv_ac_kw
from microgrid.case import Case
from microgrid.errors import DataError, InvalidRequestError
from microgrid.park import Park

logger = logging.getLogger(__name__)

UNSCALED_COLUMNS = ("price_import_cny_per_kwh", "price_export_cny_per_kwh", "temp_air")
"""Columns tsam must not rescale to the annual mean (not energies)."""
PRICE_COLUMNS = ("price_import_cny_per_kwh", "price_export_cny_per_kwh")
"""Columns a typical day takes as the mean over its members (:func:`member_means`), not the medoid's."""
CLUSTER_WEIGHTS = {"price_import_cny_per_kwh": 2.0}
"""tsam column weights: the import price counts double, so that days of different TOU patterns fall apart."""
PEAK_COLUMN = "load_kw"
"""The column whose highest value's day is kept as a typical day of its own."""


@dataclass
class YearProfiles:
    """A year of a case's series on one step, whole local days only.

    Attributes
    ----------
    frame : pandas.DataFrame
        The columns of the module docstring, on a tz-aware index (step starts).
    dt_h : float
        Step length [h], from the index.
    templates : dict
        Ids of the devices the new PV and wind are shaped like (``pv``,
        ``wind``: lists of ids).
    """

    frame: pd.DataFrame
    dt_h: float
    templates: dict[str, list[str]] = field(default_factory=dict)

    @property
    def steps_per_day(self) -> int:
        return int(round(24.0 / self.dt_h))

    @property
    def dates(self) -> list[dt.date]:
        return sorted(set(self.frame.index.date))


def pv_templates(park: Park) -> list[str]:
    """The arrays new PV is shaped like: the park's new PV arrays, else all its arrays."""
    new = park.new_assets["pv_arrays"]
    return new or list(park.pv_arrays)


def wind_templates(park: Park) -> list[str]:
    """The turbine groups new wind is shaped like: the park's new groups, else all of them."""
    new = park.new_assets["wind_turbines"]
    return new or list(park.wind_turbines)


def _whole_days(index: pd.DatetimeIndex, timezone: str) -> tuple[pd.Timestamp, int]:
    local = index.tz_convert(timezone)
    first = local[0].normalize()
    start = first if local[0] == first else first + pd.Timedelta(days=1)
    end = (local[-1] + (local[1] - local[0])).normalize()
    days = (end - start).days
    if days < 1:
        raise DataError("data: the case's files cover no whole local day; give at least one day from 00:00")
    return start, days


def year_profiles(case: Case, wind_sized: bool = False) -> YearProfiles:
    """The series the sizing clusters, over every whole local day of the case's data.

    Parameters
    ----------
    case : Case
        The case with its new assets; the series are those of the park
        without them (:meth:`~microgrid.park.Park.without_new_assets`), plus
        the per-kW shapes of new PV and wind.
    wind_sized : bool
        Whether wind is a candidate (its per-kW shape is computed with
        windpowerlib only then).
    """
    park = case.park
    base_park = park.without_new_assets()
    base = Case(park=base_park, folder=case.folder, _cache=case._cache)
    timezone = park.site.timezone
    start, days = _whole_days(case.weather.index, timezone)
    inputs = horizon_inputs(base, start, 24.0 * days)
    index = inputs.index
    frames, _ = uncontrolled_devices(inputs)
    load = inputs.total_load_kw.to_numpy(dtype=float).copy()
    for name in ("process_kw", "energy_load_kw", "shiftable_kw"):
        if name in frames:
            load += frames[name].sum(axis=1).to_numpy()
    if park.curtailable_loads:
        load += inputs.curtailable_base_kw.sum(axis=1).to_numpy()
    data = {
        "load_kw": load,
        "pv_kw": inputs.total_pv_available_kw.to_numpy(dtype=float),
        "wind_kw": inputs.total_wind_available_kw.to_numpy(dtype=float),
    }
    templates: dict[str, list[str]] = {"pv": pv_templates(park), "wind": wind_templates(park) if wind_sized else []}
    weather = case.weather.reindex(index)
    if templates["pv"]:
        arrays = {a: park.pv_arrays[a] for a in templates["pv"]}
        dc_kw = sum(a.dc_capacity_kw for a in arrays.values())
        shape = park_pv_ac_kw(weather, park.site, arrays).sum(axis=1).to_numpy() / dc_kw if dc_kw > 0 else 0.0
        data["pv_kw_per_kwp"] = np.zeros(len(index)) + shape
    else:
        data["pv_kw_per_kwp"] = np.zeros(len(index))
    if templates["wind"]:
        from forecasting.wind import park_wind_kw

        groups = {g: park.wind_turbines[g] for g in templates["wind"]}
        rated = sum(g.nameplate_kw for g in groups.values())
        data["wind_kw_per_kw"] = park_wind_kw(weather, park.site, groups).sum(axis=1).to_numpy() / rated
    else:
        data["wind_kw_per_kw"] = np.zeros(len(index))
    for bus_id in park.heat_buses:
        data[f"heat_{bus_id}_kw"] = inputs.heat_demand_kw[bus_id].to_numpy(dtype=float)
    data["price_import_cny_per_kwh"] = inputs.price_import_cny_per_kwh.to_numpy(dtype=float)
    data["price_export_cny_per_kwh"] = inputs.price_export_cny_per_kwh.to_numpy(dtype=float)
    data["temp_air"] = inputs.temp_air_c.to_numpy(dtype=float)
    frame = pd.DataFrame(data, index=index)
    return YearProfiles(frame=frame, dt_h=inputs.dt_h, templates=templates)


@dataclass
class TypicalDays:
    """The year as ``k`` typical days with their weights.

    Attributes
    ----------
    profiles : dict
        Column of :class:`YearProfiles` → array ``(k, steps per day)``.
    weights : numpy.ndarray
        Days of the year each typical day stands for (they sum to the days
        of the year) [d].
    assignment : numpy.ndarray
        The typical day of every day of the year, in year order.
    dates : list of datetime.date
        The days of the year, in year order.
    dt_h : float
        Step length [h].
    rmse : dict
        tsam's RMSE of each clustered column (normalised, 0–1).
    """

    profiles: dict[str, np.ndarray]
    weights: np.ndarray
    assignment: np.ndarray
    dates: list[dt.date]
    dt_h: float
    rmse: dict[str, float] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.weights)

    @property
    def steps_per_day(self) -> int:
        return next(iter(self.profiles.values())).shape[1]

    @property
    def days(self) -> int:
        return len(self.dates)

    def month_clusters(self) -> dict[str, list[int]]:
        """Billing month (``YYYY-MM``) → the typical days standing for its days (the demand charge's map)."""
        months: dict[str, set[int]] = {}
        for date, cluster in zip(self.dates, self.assignment):
            months.setdefault(f"{date.year:04d}-{date.month:02d}", set()).add(int(cluster))
        return {m: sorted(c) for m, c in months.items()}


def member_means(year: YearProfiles, column: str, assignment: np.ndarray, k: int) -> np.ndarray:
    """Mean daily profile of ``column`` over the days of each typical day, shape ``(k, steps per day)``.

    For prices: the energy cost of a typical day's operation over the days
    it stands for is ``Σ_d Σ_t p_d(t) imp(t) = w · Σ_t p̄(t) imp(t)``, exact
    with the members' mean price ``p̄`` (the cost is linear in the price),
    whichever months the members fall in.
    """
    values = year.frame[column].to_numpy().reshape(-1, year.steps_per_day)
    return np.vstack([values[assignment == c].mean(axis=0) for c in range(k)])


def from_assignment(year: YearProfiles, assignment: np.ndarray, representatives: list[int]) -> TypicalDays:
    """Typical days from a given clustering: ``representatives[c]`` is the day (by position) shown for cluster ``c``.

    Used by tests and by :func:`every_day` (each day its own cluster).
    """
    n = year.steps_per_day
    values = {c: year.frame[c].to_numpy().reshape(-1, n) for c in year.frame.columns}
    assignment = np.asarray(assignment, dtype=int)
    weights = np.bincount(assignment, minlength=len(representatives)).astype(float)
    profiles = {c: v[np.asarray(representatives)] for c, v in values.items()}
    return TypicalDays(profiles, weights, assignment, year.dates, year.dt_h)


def every_day(year: YearProfiles) -> TypicalDays:
    """The year itself as typical days (each day its own, weight 1): the reference the clustering is judged by."""
    days = len(year.dates)
    return from_assignment(year, np.arange(days), list(range(days)))


def typical_days(year: YearProfiles, k: int) -> TypicalDays:
    """Cluster the year into ``k`` typical days with tsam (module docstring: method and columns).

    With the peak-load day kept as its own cluster, the result may hold
    ``k + 1`` typical days (tsam adds it when the peak day is not already a
    medoid). ``k`` at least the number of days returns every day as its own.

    Raises
    ------
    InvalidRequestError
        ``k`` is below 1.
    """
    if k < 1:
        raise InvalidRequestError(f"--k: the number of typical days must be at least 1, got {k}")
    days = len(year.dates)
    if k >= days:
        return every_day(year)
    import tsam

    frame = year.frame.copy()
    frame.index = frame.index.tz_localize(None) if frame.index.tz is None else frame.index.tz_convert(
        frame.index.tz).tz_localize(None)
    varying = [c for c in frame.columns if float(frame[c].max() - frame[c].min()) > 1e-9]
    steps = year.steps_per_day
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = tsam.aggregate(
            frame[varying], n_clusters=k, period_duration=24, temporal_resolution=year.dt_h,
            cluster=tsam.ClusterConfig(method="hierarchical", representation="medoid"),
            extremes=tsam.ExtremeConfig(method="new_cluster", max_value=[PEAK_COLUMN]) if PEAK_COLUMN in varying
            else None,
            rescale_exclude_columns=[c for c in UNSCALED_COLUMNS if c in varying],
            weights={c: w for c, w in CLUSTER_WEIGHTS.items() if c in varying} or None,
        )
    reps = result.cluster_representatives
    clusters = sorted(reps.index.get_level_values(0).unique())
    order = {c: i for i, c in enumerate(clusters)}
    profiles: dict[str, np.ndarray] = {}
    for column in year.frame.columns:
        if column in varying:
            profiles[column] = np.vstack([reps.loc[c, column].to_numpy(dtype=float)[:steps] for c in clusters])
        else:
            profiles[column] = np.full((len(clusters), steps), float(year.frame[column].iloc[0]))
    assignment = np.array([order[c] for c in result.cluster_assignments[:days]], dtype=int)
    weights = np.bincount(assignment, minlength=len(clusters)).astype(float)
    for column in PRICE_COLUMNS:
        profiles[column] = member_means(year, column, assignment, len(clusters))
    rmse = {c: float(v) for c, v in result.accuracy.rmse.items()}
    logger.info("year clustered into %d typical days (tsam hierarchical, medoids)", len(clusters))
    return TypicalDays(profiles, weights, assignment, year.dates, year.dt_h, rmse)
