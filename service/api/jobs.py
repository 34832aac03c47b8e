"""The CPU-heavy work of the service, run in worker processes (:mod:`service.api.planner`).

Module-level functions of plain arguments and plain results (dicts, lists,
floats) so that they pickle; the heavy packages are imported in the worker.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any
from microgrid.messages import Message

MIN_SOLVER_TIME_LIMIT_S = 0.5
SOLVER_SHARE = 0.8
"""Share of the time left that the solves may use; the rest is for reading data, KPIs and the answer."""


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: numpy scalars unboxed, NaN and ±inf as None, timestamps in ISO 8601."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def schedule_rows(schedule) -> list[dict[str, Any]]:
    """One dict per step: ``timestamp`` (ISO 8601 with offset) and the schedule's columns (units in names)."""
    rows = json.loads(schedule.to_json(orient="records", double_precision=6))
    for stamp, row in zip(schedule.index, rows):
        row["timestamp"] = stamp.isoformat()
    return [{"timestamp": row.pop("timestamp"), **row} for row in rows]


CASE_CACHE_SIZE = 4
_case_cache: OrderedDict[tuple, Any] = OrderedDict()
MODEL_CACHE_SIZE = 8
_worker = threading.local()


def worker_models():
    """This worker's :class:`dispatch.optimize.ModelCache`: a plan of a shape met before skips the build.

    One per thread (a model is never solved by two threads at once); in the
    service's process pool, one per worker process.
    """
    models = getattr(_worker, "models", None)
    if models is None:
        from dispatch.optimize import ModelCache

        models = _worker.models = ModelCache(MODEL_CACHE_SIZE)
    return models


def _files_signature(folder: Path) -> tuple:
    """Names, sizes and modification times of a folder's files: a changed file is a new case."""
    return tuple(sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                        for p in folder.rglob("*") if p.is_file()))


def open_case(document: dict, folder: str):
    """The :class:`microgrid.case.Case` of a park document whose files are in ``folder``, data checked.

    A worker keeps the last few cases it opened (their time series read),
    keyed by the document and the folder's files.
    """
    from microgrid.case import Case, park_from_dict

    path = Path(folder)
    key = (json.dumps(document, sort_keys=True, default=str), str(path), _files_signature(path))
    if key in _case_cache:
        _case_cache.move_to_end(key)
        return _case_cache[key]
    case = Case(park=park_from_dict(document, folder=path), folder=path)
    case.check_data()
    _case_cache[key] = case
    while len(_case_cache) > CASE_CACHE_SIZE:
        _case_cache.popitem(last=False)
    return case


def validate_case_job(document: dict, folder: str) -> dict[str, Any]:
    """Check that a park and its data files make a case; summarise the data's period.

    Returns
    -------
    dict
        ``name``, ``data_start``, ``data_end`` (ISO 8601), ``dt_h`` [h].
    """
    from microgrid.timeseries import step_hours

    case = open_case(document, folder)
    loads = case.load_profiles
    dt_h = step_hours(loads.index, "data.loads")
    if case.park.network.described:
        from microgrid.network import build_network

        build_network(case.park, folder=case.folder)
    end = loads.index[-1] + dt.timedelta(hours=dt_h)
    return {"name": case.name, "data_start": loads.index[0].isoformat(), "data_end": end.isoformat(), "dt_h": dt_h}


FORECAST_READERS = {"weather": "read_weather_csv", "load_history": "read_meter_csv", "pv_kw": "read_power_forecast_csv",
                    "load_kw": "read_power_forecast_csv", "heat_kw": "read_power_forecast_csv",
                    "wind_kw": "read_power_forecast_csv"}
"""Each forecast part (inline or uploaded) and the reader of ``forecasting.sources`` that checks it."""


def forecast_tables(forecasts: dict, workdir: Path, names: dict[str, str]) -> dict:
    """Forecast rows (part → list of row dicts) → checked tables, through the CSV readers and their checks.

    ``names`` gives each part's name in error messages.
    """
    import pandas as pd

    import forecasting.sources as sources
    from microgrid.errors import DataError

    frames = {}
    for key, reader in FORECAST_READERS.items():
        rows = forecasts.get(key)
        if not rows:
            continue
        if any("timestamp" not in row for row in rows):
            raise DataError(Message("{names}: every row needs a 'timestamp' (ISO 8601 with UTC offset)",
                                    names=names[key]))
        path = workdir / f"{key}.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        frames[key] = getattr(sources, reader)(path, what=names[key])
    return frames


def _forecast_frames(forecasts: dict | None, workdir: Path, label: str | None = None):
    """Inline or uploaded forecast rows → :class:`dispatch.inputs.Forecasts`, through the CSV readers and their checks.

    ``label`` (e.g. ``forecast_3``) names an uploaded forecast in messages:
    ``forecast_3.pv_kw: ...``; inline parts are ``forecasts.pv_kw``.
    """
    if not forecasts or not any(forecasts.get(key) for key in FORECAST_READERS):
        return None
    from dispatch.inputs import Forecasts

    names = {key: f"{label or 'forecasts'}.{key}" for key in FORECAST_READERS}
    return Forecasts(**forecast_tables(forecasts, workdir, names), names=names)


def check_forecast_job(document: dict, parts: dict) -> dict[str, Any]:
    """Check an uploaded forecast's parts against a park: readers' checks, then the direct parts' columns and values.

    Returns
    -------
    dict
        ``periods``: part → ``start``, ``end`` (ISO 8601), ``rows``,
        ``columns``; ``start`` and ``end``: the period every part covers.
    """
    import pandas as pd

    from dispatch.forecast_inputs import check_wind_weather
    from dispatch.inputs import DIRECT_PARTS, check_direct_forecast
    from forecasting.sources.checks import regular_step
    from microgrid.case import park_from_dict
    from microgrid.errors import DataError

    park = park_from_dict(document)
    with tempfile.TemporaryDirectory(prefix="microgrid-forecast-") as workdir:
        frames = forecast_tables(parts, Path(workdir), {key: key for key in FORECAST_READERS})
    periods = {}
    for part, frame in frames.items():
        if part in DIRECT_PARTS:
            check_direct_forecast(park, part, frame, part)
        step = regular_step(frame.index, part)
        periods[part] = {"start": frame.index[0].isoformat(), "end": (frame.index[-1] + step).isoformat(),
                         "rows": len(parts[part]), "columns": [str(c) for c in frame.columns]}
    if "weather" in frames and park.wind_turbines:   # after wind_kw's checks: the groups it leaves to the weather
        check_wind_weather(park, frames["weather"], frames.get("wind_kw"), "weather")
    start = max(pd.Timestamp(p["start"]) for p in periods.values())
    end = min(pd.Timestamp(p["end"]) for p in periods.values())
    if start >= end:
        raise DataError("forecast: its parts cover no common period ("
                        + "; ".join(f"{k} {p['start']} – {p['end']}" for k, p in periods.items())
                        + "); send forecasts for the same period")
    return {"periods": periods, "start": start.isoformat(), "end": end.isoformat()}


def solver_time_limit_s(remaining_s: float, objective: str, network_rounds: int) -> float:
    """Time limit of one HiGHS solve so that all the solves of a plan end within ``remaining_s``.

    A lexicographic objective is two solves; a network-aware plan up to
    ``network_rounds`` rounds of them.
    """
    solves = (1 if objective == "cost" else 2) * max(1, network_rounds)
    return max(MIN_SOLVER_TIME_LIMIT_S, SOLVER_SHARE * remaining_s / solves)


def plan_start(case, request: dict):
    """The start of a plan (tz-aware, the park's timezone) and its local date.

    A day-ahead request (``date``) starts at local midnight; an intraday one
    (``start``, ISO 8601) at the first step of the park's data at or after
    ``start``: a time between steps is rounded up to the next step.
    """
    import pandas as pd

    from microgrid.errors import DataError
    from microgrid.timeseries import local_day

    timezone = case.park.site.timezone
    if request.get("start") is None:
        day = dt.date.fromisoformat(request["date"])
        return local_day(day, timezone)[0], day
    wanted = pd.Timestamp(request["start"]).tz_convert(timezone)
    index = case.load_profiles.index
    position = index.searchsorted(wanted)
    if wanted < index[0]:
        raise DataError(Message("start: {wanted} is before the park's data, which begin at {data_edge}; pick a later "
                                "start",
                                wanted=wanted.isoformat(), data_edge=index[0].isoformat()))
    if position >= len(index):
        raise DataError(Message("start: {wanted} is after the park's data, which end at {data_edge}; pick an earlier "
                                "start",
                                wanted=wanted.isoformat(), data_edge=index[-1].isoformat()))
    start = index[position].tz_convert(timezone)
    return start, start.date()


def plant_state(request: dict, case, start):
    """The :class:`dispatch.inputs.PlantState` a job request starts from.

    The stores, the month's peak and the flexible loads' daily counters as
    given. A batch run in progress at ``measured_at`` runs uninterrupted: its
    hours plus the time to ``start`` become its steps done (one that has not
    yet completed its first step is planned afresh, not counted as done; one
    that has ended by then is done). An energy session's delivery and energy
    shifted ahead or owed depend on what was controlled since: they are
    carried only into a plan that starts within one step of the measurement.
    """
    import pandas as pd

    from dispatch.inputs import PlantState
    from microgrid.timeseries import step_hours

    state = PlantState(soc_kwh=dict(request.get("soc_kwh") or {}),
                       thermal_soc_kwh=dict(request.get("thermal_soc_kwh") or {}),
                       month_to_date_peak_kw=(None if request.get("month_to_date_peak_kw") is None
                                              else float(request["month_to_date_peak_kw"])),
                       process_runs_done={k: int(v) for k, v in (request.get("process_runs_done") or {}).items()},
                       shed_hours_used=dict(request.get("shed_hours_used") or {}),
                       shed_kwh_used=dict(request.get("shed_kwh_used") or {}))
    measured_at = request.get("measured_at")
    if measured_at is None:
        return state
    dt_h = step_hours(case.load_profiles.index, "data.loads")
    elapsed_h = (pd.Timestamp(start) - pd.Timestamp(measured_at)) / pd.Timedelta(hours=1)
    if elapsed_h < 0:
        return state
    for process_id, hours in (request.get("process_running_h") or {}).items():
        steps = int(round((hours + elapsed_h) / dt_h))
        total = len(case.park.shiftable_processes[process_id].profile_on_steps(dt_h))
        if steps <= 0:
            state.process_runs_done[process_id] = max(0, state.process_runs_done.get(process_id, 1) - 1)
        elif steps < total:
            state.process_running_steps[process_id] = steps
    if elapsed_h >= dt_h:
        return state
    state.energy_delivered_kwh = dict(request.get("energy_delivered_kwh") or {})
    state.shift_ahead_kwh = dict(request.get("shift_ahead_kwh") or {})
    return state


def previous_plan_start(previous: dict | None, start, dt_h: float) -> dict | None:
    """A warm start for a plan from ``start`` out of an earlier stored plan that covers it.

    ``previous``: ``start`` (ISO 8601) and ``decisions`` (integer decisions) of
    the earlier plan. Its decisions move by the steps between the two starts;
    None when it starts later or off the step grid.
    """
    import pandas as pd

    if not previous or not previous.get("decisions"):
        return None
    steps = (pd.Timestamp(start) - pd.Timestamp(previous["start"])) / pd.Timedelta(hours=dt_h)
    if steps < 0 or abs(steps - round(steps)) > 1e-9:
        return None
    return {"decisions": previous["decisions"], "shift_steps": int(round(steps))}


def apply_committed_limits(inputs, limits: list[dict]) -> list[str]:
    """Set the per-step import limits of the park's committed events on ``inputs``; the events that apply.

    ``limits``: entries ``event_id``, ``timestamp`` (ISO 8601) and
    ``import_cap_kw`` or ``min_import_kw``, from the events' stored answers
    (:func:`service.api.routes.events.committed_limits`); the tightest per
    step, steps outside the horizon ignored.
    """
    import numpy as np
    import pandas as pd

    if not limits:
        return []
    steps = {stamp: k for k, stamp in enumerate(inputs.index)}
    cap = np.full(inputs.n_steps, np.inf)
    minimum = np.zeros(inputs.n_steps)
    applied = set()
    for entry in limits:
        k = steps.get(pd.Timestamp(entry["timestamp"]))
        if k is None:
            continue
        applied.add(entry["event_id"])
        if entry.get("import_cap_kw") is not None:
            cap[k] = min(cap[k], entry["import_cap_kw"])
        if entry.get("min_import_kw") is not None:
            minimum[k] = max(minimum[k], entry["min_import_kw"])
    if applied:
        set_grid_limits(inputs, cap, minimum)
    return sorted(applied)


def set_grid_limits(inputs, cap, minimum) -> None:
    """Per-step import cap (``inf``: none) and minimum (0: none) [kW] on ``inputs``; None where no step has one."""
    import numpy as np

    inputs.import_cap_kw = cap if np.isfinite(cap).any() else None
    inputs.min_import_kw = minimum if (minimum > 0).any() else None
    inputs.__post_init__()


def _plan(case, start, strategy: str, config, horizon_h: float, state, forecasts, intraday: bool,
          warm_start: bool = False, previous: dict | None = None, limits: list[dict] | None = None):
    """One plan from ``start``: :func:`dispatch.day_ahead.plan_day_ahead`, or the same path from any step.

    The worker's models are reused; ``warm_start`` starts HiGHS from the reused
    model's last plan, or an intraday plan from ``previous`` (an earlier stored
    plan of the park that covers its start, :func:`previous_plan_start`).
    ``limits``: the committed events' import limits (:func:`apply_committed_limits`).
    """
    if not intraday and not limits:
        from dispatch.day_ahead import plan_day_ahead

        return plan_day_ahead(case, start.date(), strategy, config, horizon_h=horizon_h, state=state,
                              forecasts=forecasts, models=worker_models(), warm_start_from_last=warm_start)
    from dispatch.inputs import day_ahead_inputs, horizon_inputs
    from dispatch.strategies import STRATEGIES
    from microgrid.errors import InvalidRequestError

    if strategy not in STRATEGIES:
        raise InvalidRequestError(Message("strategy: unknown {strategy!r}; choose one of {strategies}",
                                          strategy=strategy, strategies=', '.join(STRATEGIES)))
    if intraday:
        inputs = horizon_inputs(case, start, horizon_h, state, forecasts)
    else:
        inputs = day_ahead_inputs(case, start.date(), horizon_h=horizon_h, state=state, forecasts=forecasts)
    committed = apply_committed_limits(inputs, limits or [])
    start_from = previous_plan_start(previous, start, inputs.dt_h) if warm_start and intraday else None
    result = _solve_inputs(case, inputs, strategy, config, warm_start, start_from)
    if start_from is not None and strategy == "optimal":
        result.kpis["warm_start_plan_id"] = previous.get("plan_id")
    if committed:
        result.kpis["committed_events"] = committed
    when = {"start": start.isoformat()} if intraday else {"date": start.date().isoformat()}
    result.kpis = {"case": case.name, **when, "horizon_h": horizon_h, "dt_h": inputs.dt_h, **result.kpis}
    if inputs.forecast_sources:
        result.kpis["forecast_sources"] = dict(inputs.forecast_sources)
    return result


def plan_job(document: dict, folder: str, request: dict, deadline_epoch_s: float) -> dict[str, Any]:
    """Plan a park from a start; the rule-based plan if the optimal one cannot be had before the deadline.

    Parameters
    ----------
    document : dict
        The park in the case format.
    folder : str
        Folder holding its data files.
    request : dict
        :class:`service.api.schemas.PlanCreate` as a dict (``date`` ISO), with the
        state of the measurement used filled in when the client gave none; or
        an intraday request (:class:`service.api.schemas.IntradayPlanCreate`,
        ``start`` ISO 8601, the measured state filled in), planned from
        :func:`plan_start` with :func:`dispatch.inputs.horizon_inputs` and the
        same strategies and solve path as a day-ahead plan.
    deadline_epoch_s : float
        When the answer is due (``time.time()`` clock) [s].

    Returns
    -------
    dict
        ``strategy``, ``objective``, ``status``, ``mip_gap``, ``solve_time_s``,
        ``fallback_reason``, ``start``, ``end``, ``date`` (local date of the
        start), ``kpis``, ``slack``, ``schedule`` (rows), ``solver_time_limit_s``,
        ``decisions`` (the integer decisions of an optimal plan, else None).

    ``request["warm_start"]`` (the server's ``plan_warm_start``) starts HiGHS
    from the reused model's last plan, or for an intraday plan from
    ``request["previous_plan"]`` (``start``, ``decisions``: the park's newest
    stored plan that covers the start).

    With the ``optimal`` strategy, each solve gets a share of the time left
    (:func:`solver_time_limit_s`): at the limit HiGHS returns its best plan
    with its gap (status ``time_limit``); if it has none (or the request
    waited for a worker until its deadline), the rule-based plan is returned
    with ``fallback_reason``.
    """
    import pandas as pd

    from dispatch.model import DispatchConfig
    from microgrid.errors import SolverTimeoutError

    case = open_case(document, folder)
    park = case.park
    intraday = request.get("start") is not None
    start, day = plan_start(case, request)
    objective = request.get("objective") or park.dispatch.objective
    state = plant_state(request, case, start)
    horizon_h = float(request.get("horizon_h", 24.0))
    strategy = request.get("strategy", "optimal")
    rounds = park.network.max_iterations + 1 if park.network.constrained else 1
    fallback_reason = None
    limit_s = None
    with tempfile.TemporaryDirectory(prefix="microgrid-plan-") as workdir:
        forecasts = _forecast_frames(request.get("forecasts"), Path(workdir), request.get("forecast_label"))
        remaining_s = deadline_epoch_s - time.time()
        if strategy == "optimal" and remaining_s < MIN_SOLVER_TIME_LIMIT_S:
            fallback_reason = (f"the request waited for a solver until {max(remaining_s, 0):.1f} s were left "
                               "of its time limit, too little to optimize")
            strategy = "rule-based"
        config = None
        if strategy == "optimal":
            limit_s = solver_time_limit_s(remaining_s, objective, rounds)
            config = DispatchConfig(objective=objective,
                                    mip_gap=park.dispatch.mip_gap if request.get("mip_gap") is None else request["mip_gap"],
                                    time_limit_s=min(limit_s, park.dispatch.time_limit_s),
                                    end_of_horizon=park.dispatch.end_of_horizon)
        try:
            result = _plan(case, start, strategy, config, horizon_h, state, forecasts, intraday,
                           bool(request.get("warm_start")), request.get("previous_plan"), request.get("grid_limits"))
        except SolverTimeoutError as exc:
            fallback_reason = f"no optimal plan in time ({exc})"
            strategy = "rule-based"
            if forecasts is not None:
                forecasts.forecast_profiles.clear()
            result = _plan(case, start, strategy, None, horizon_h, state, forecasts, intraday)
    end = start + pd.Timedelta(hours=horizon_h)
    return _answer(result, strategy, objective, limit_s, fallback_reason, day, start, end)


def _answer(result, strategy: str, objective: str, limit_s, fallback_reason, day, start, end) -> dict[str, Any]:
    """A plan's result as the plain dict the routes store."""
    kpis = plain(result.kpis)
    kpis["build_time_s"] = plain(result.build_time_s)
    return {
        "strategy": strategy,
        "objective": objective if strategy == "optimal" else None,
        "status": result.status.value,
        "mip_gap": plain(result.mip_gap),
        "solve_time_s": plain(result.solve_time_s),
        "solver_time_limit_s": limit_s,
        "fallback_reason": fallback_reason,
        "date": day.isoformat(),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "kpis": kpis,
        "slack": [plain(vars(entry)) for entry in result.slack],
        "schedule": schedule_rows(result.schedule),
        "decisions": result.integer_decisions,
    }


def _solve_inputs(case, inputs, strategy: str, config, warm_start: bool = False, start_from: dict | None = None):
    """One solve of horizon inputs: network-aware when the park's network constrains it.

    Otherwise on the worker's models; with ``warm_start`` from ``start_from``
    (``{"decisions", "shift_steps"}``) or else the reused model's last plan.
    """
    from dispatch.strategies import run_strategy

    if strategy == "optimal" and case.park.network.constrained:
        from dispatch.network_aware import plan_network_aware
        from dispatch.validate import check_inputs

        check_inputs(inputs)
        return plan_network_aware(inputs, config, folder=case.folder).result
    return run_strategy(inputs, strategy, config, models=worker_models(), warm_start_from_last=warm_start,
                        warm_start=start_from)


def warm_up_job(cases: list[tuple[dict, str]] | None = None) -> bool:
    """Import the solver stack, and open ``cases`` (park document, data folder), PV and wind of their year computed.

    The initializer of every worker process (:meth:`service.api.planner.Planner.process_pool`),
    so that no request pays for a cold worker. For a park with wind turbines
    windpowerlib is imported and the turbine groups' power over the whole
    weather file computed (``forecasting.wind.case_wind_profiles``), which
    the plans on the park's own weather then slice. A case that no longer
    opens is skipped: its next request answers the error.
    """
    import logging

    import dispatch.day_ahead  # noqa: F401
    import forecasting.sources  # noqa: F401
    from forecasting.pv import case_pv_profiles
    from microgrid.errors import MicrogridError

    for document, folder in (cases or [])[:CASE_CACHE_SIZE]:
        try:
            case = open_case(document, folder)
            if case.park.pv_arrays:
                # PV of the whole weather file once (about 1 s for the reference park): each plan then slices
                # it instead of running pvlib for its day (0.06 s); not worth it for a case opened on demand.
                case_pv_profiles(case)
            if case.park.wind_turbines:
                from forecasting.wind import case_wind_profiles

                case_wind_profiles(case)   # the year through windpowerlib once; each plan slices its day
        except (MicrogridError, OSError, ValueError) as exc:   # never break the pool: the request will say why
            logging.getLogger(__name__).warning("warm-up: the case in %s does not open (%s)", folder, exc)
    return True
