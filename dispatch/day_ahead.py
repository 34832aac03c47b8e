"""Day-ahead planning of a case: the orchestrator behind ``microgrid schedule``."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from pathlib import Path

import pandas as pd

from dispatch.forecast_inputs import Forecasts
from dispatch.inputs import PlantState, day_ahead_inputs
from dispatch.model import DispatchConfig
from dispatch.optimize import ModelCache
from dispatch.results import DispatchResult
from dispatch.strategies import STRATEGIES, run_strategy
from microgrid.case import Case
from microgrid.errors import InvalidRequestError
from microgrid.messages import Message
from microgrid.timeseries import step_hours, write_timeseries_csv

logger = logging.getLogger(__name__)


def plan_day_ahead(
    case: Case,
    day: dt.date,
    strategy: str = "optimal",
    config: DispatchConfig | None = None,
    horizon_h: float = 24.0,
    state: PlantState | None = None,
    forecasts: Forecasts | None = None,
    models: ModelCache | None = None,
    warm_start_from_last: bool = False,
) -> DispatchResult:
    """Plan ``day`` (from local midnight, ``horizon_h`` hours) with ``strategy``.

    Parameters
    ----------
    case : Case
    day : datetime.date
        Local date in the park's timezone.
    strategy : {'optimal', 'rule-based', 'tou-arbitrage', 'no-control'}
    config : DispatchConfig, optional
    horizon_h : float
        Length of the plan [h]; more than 24 adds a look-ahead.
    state : PlantState, optional
        Battery SoC and month-to-date peak import at the start.
    forecasts : Forecasts, optional
        Weather forecast, metered load history and/or direct PV, load and heat
        forecasts replacing the case's data; the KPIs' ``forecast_sources``
        then say which inputs came from them (see
        :func:`dispatch.inputs.horizon_inputs`).
    models : ModelCache, optional
        Built models to reuse; ``warm_start_from_last`` starts HiGHS from the
        reused model's last plan (see :func:`dispatch.optimize.solve_optimal`).

    With ``optimal`` and a case whose ``network.constrained`` is true, the plan
    is network-aware (:func:`dispatch.network_aware.plan_network_aware`): its
    KPIs carry the AC check, ``network_iterations``, ``network_converged`` and
    ``network_cost_increase_cny`` against the network-unaware plan, and
    ``result.network_iterations`` the rounds.
    """
    if strategy not in STRATEGIES:
        raise InvalidRequestError(Message("strategy: unknown {strategy!r}; choose one of {strategies}",
                                          strategy=strategy, strategies=', '.join(STRATEGIES)))
    inputs = day_ahead_inputs(case, day, horizon_h=horizon_h, state=state, forecasts=forecasts)
    if strategy == "optimal" and case.park.network.constrained:
        from dispatch.network_aware import plan_network_aware
        from dispatch.validate import check_inputs

        check_inputs(inputs)
        result = plan_network_aware(inputs, config, folder=case.folder).result
    else:
        result = run_strategy(inputs, strategy, config, models=models, warm_start_from_last=warm_start_from_last)
    result.kpis = {"case": case.name, "date": day.isoformat(), "horizon_h": horizon_h, "dt_h": inputs.dt_h,
                   **result.kpis}
    if inputs.forecast_sources:
        result.kpis["forecast_sources"] = dict(inputs.forecast_sources)
    return result


def month_to_date_peak_from_meter(case: Case, day: dt.date) -> float | None:
    """The month-to-date peak import before local midnight of ``day``, from the case's metered import [kW].

    The highest ``grid_import_kw`` of ``data.grid_meter`` from the first of
    the month up to the day before (0 on the first of a month); ``None``
    when the case has no meter or the meter does not cover every step of
    that span (a peak from part of the span could be too low).
    """
    meter = case.grid_meter
    if meter is None:
        return None
    tz = case.park.site.timezone
    start = pd.Timestamp(day).tz_localize(tz)
    month_start = start.replace(day=1)
    dt_h = step_hours(meter.index, f"data.grid_meter ({case.park.data.grid_meter})")
    end_of_data = meter.index[-1] + pd.Timedelta(hours=dt_h)
    if end_of_data < start:
        return None
    if start == month_start:
        return 0.0
    span = meter["grid_import_kw"][(meter.index >= month_start) & (meter.index < start)]
    if len(span) < round((start - month_start) / pd.Timedelta(hours=dt_h)):
        return None
    return float(span.max())


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_outputs(result: DispatchResult, out_dir: Path, plot: bool = True) -> dict[str, Path]:
    """Write ``schedule.csv``, ``kpis.json`` and (optionally) ``schedule.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"schedule": out_dir / "schedule.csv", "kpis": out_dir / "kpis.json"}
    write_timeseries_csv(result.schedule, paths["schedule"])
    kpis = {k: _jsonable(v) for k, v in result.kpis.items()}
    kpis["build_time_s"] = result.build_time_s
    kpis["slack"] = [vars(entry) for entry in result.slack]
    if result.network_iterations is not None:
        paths["network_iterations"] = out_dir / "network_iterations.csv"
        result.network_iterations.to_csv(paths["network_iterations"])
    paths["kpis"].write_text(json.dumps(kpis, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if plot:
        from dispatch.plot import plot_schedule

        paths["plot"] = out_dir / "schedule.png"
        plot_schedule(result, paths["plot"])
    return paths
