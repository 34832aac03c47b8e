"""Jobs of demand-response events, run in the worker pool: the plan without events, the customer baselines, the
event plan.

See :mod:`service.api.routes.events` for what an event asks and how its
answer is made; :mod:`dispatch.dr_baseline` for the similar-days baseline.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from microgrid.messages import Message
from service.api.jobs import (_answer, _forecast_frames, _solve_inputs, open_case, plain, plan_start, plant_state,
                              set_grid_limits, solver_time_limit_s)


def event_limits(index, baseline_import_kw, events: list[dict], baselines: dict | None = None):
    """Per-step import cap and minimum [kW] of ``events`` over ``index``: the tightest of the overlapping ones.

    A reduce event caps the import at ``max_import_kw``, or at the baseline
    minus ``reduce_by_kw`` (not below 0); an increase event asks at least the
    baseline plus ``increase_by_kw``. ``inf`` / 0 where no event applies.
    The baseline is ``baselines[event["id"]]`` (per step of ``index``) when
    the event has one there (a customer baseline), else ``baseline_import_kw``.
    """
    import numpy as np
    import pandas as pd

    plan_baseline = np.asarray(baseline_import_kw, dtype=float)
    cap = np.full(len(index), np.inf)
    minimum = np.zeros(len(index))
    for event in events:
        own = (baselines or {}).get(event.get("id"))
        baseline = plan_baseline if own is None else np.asarray(own, dtype=float)
        inside = np.asarray((index >= pd.Timestamp(event["start"])) & (index < pd.Timestamp(event["end"])))
        if event.get("max_import_kw") is not None:
            cap[inside] = np.minimum(cap[inside], event["max_import_kw"])
        elif event.get("reduce_by_kw") is not None:
            cap[inside] = np.minimum(cap[inside], np.maximum(baseline[inside] - event["reduce_by_kw"], 0.0))
        else:
            minimum[inside] = np.maximum(minimum[inside], baseline[inside] + event["increase_by_kw"])
    return cap, minimum


def event_job(document: dict, folder: str, request: dict, events: list[dict], deadline_epoch_s: float) -> dict:
    """The baseline (no events) and the event plan (the active ``events``' limits) of a park, both optimal.

    Parameters
    ----------
    request : dict
        ``start`` (ISO 8601: rounded up to the next step, as an intraday plan),
        ``window_start`` and ``window_end`` (the answered event's window, which
        must lie on the step grid inside the park's data), ``max_horizon_h``,
        the state (``soc_kwh``, ``thermal_soc_kwh``, ``month_to_date_peak_kw``),
        optionally ``forecasts`` (an uploaded forecast's rows, named
        ``forecast_label`` in messages) for both plans. The horizon is max(24 h, through the window's end), cut at the end of
        the park's data.
    events : list of dict
        The active events (``kind``, ``start``, ``end`` and one amount); those
        outside the horizon change nothing.

    Returns
    -------
    dict
        ``plan`` (the event plan, as :func:`plan_job` answers) and
        ``baseline_import_kw`` (per step of the plan), ``baseline_cost_cny``
        (the baseline's total cost over the horizon).
    """
    import pandas as pd

    from dispatch.inputs import horizon_inputs
    from dispatch.model import DispatchConfig
    from microgrid.errors import DataError
    from microgrid.timeseries import step_hours

    case = open_case(document, folder)
    park = case.park
    index = case.load_profiles.index
    dt_h = step_hours(index, "data.loads")
    data_end = index[-1] + pd.Timedelta(hours=dt_h)
    window_start, window_end = pd.Timestamp(request["window_start"]), pd.Timestamp(request["window_end"])
    for field, when in (("start", window_start), ("end", window_end)):
        if not index[0] <= when <= data_end:
            raise DataError(Message("{field}: {when} is outside the park's data, {data_start} to {data_end}",
                                    field=field, when=when.isoformat(), data_start=index[0].isoformat(),
                                    data_end=data_end.isoformat()))
        if ((when - index[0]) / pd.Timedelta(hours=dt_h)) % 1 != 0:
            raise DataError(Message("{field}: {when} is not on the park's step grid of {step_min:g} min",
                                    field=field, when=when.isoformat(), step_min=dt_h * 60))
    start, day = plan_start(case, {"start": request["start"]})
    if start >= window_end:
        raise DataError(Message("end: the window ends at {window_end}, before the plan's start {start} (the "
                                "latest measurement)",
                                window_end=window_end.isoformat(), start=start.isoformat()))
    to_end_h = (window_end - start) / pd.Timedelta(hours=1)
    if to_end_h > request["max_horizon_h"]:
        raise DataError(Message("end: the window ends {to_end_h:g} h after the plan's start {start}; at most "
                                "{max_horizon_h:g} h on this server",
                                to_end_h=to_end_h, start=start.isoformat(), max_horizon_h=request['max_horizon_h']))
    horizon_h = min(max(24.0, to_end_h), request["max_horizon_h"], (data_end - start) / pd.Timedelta(hours=1))
    objective = park.dispatch.objective
    state = plant_state(request, case, start)
    rounds = park.network.max_iterations + 1 if park.network.constrained else 1
    remaining_s = deadline_epoch_s - time.time()
    limit_s = solver_time_limit_s(remaining_s, objective, rounds) / 2
    config = DispatchConfig(objective=objective, mip_gap=park.dispatch.mip_gap,
                            time_limit_s=min(limit_s, park.dispatch.time_limit_s),
                            end_of_horizon=park.dispatch.end_of_horizon)
    with tempfile.TemporaryDirectory(prefix="microgrid-event-") as workdir:
        forecasts = _forecast_frames(request.get("forecasts"), Path(workdir), request.get("forecast_label"))
    inputs = horizon_inputs(case, start, horizon_h, state, forecasts)
    warm_start = bool(request.get("warm_start"))
    baseline = _solve_inputs(case, inputs, "optimal", config, warm_start)
    baseline_kw = baseline.schedule["grid_import_kw"].to_numpy(dtype=float)
    baselines = customer_baselines(case, request, events, inputs.index, baseline_kw)
    cap, minimum = event_limits(inputs.index, baseline_kw, events,
                                {key: entry["kw"] for key, entry in baselines.items()})
    limited = horizon_inputs(case, start, horizon_h, state, forecasts)
    set_grid_limits(limited, cap, minimum)
    result = _solve_inputs(case, limited, "optimal", config, warm_start)
    result.kpis = {"case": case.name, "start": start.isoformat(), "horizon_h": horizon_h, "dt_h": limited.dt_h,
                   **result.kpis}
    if limited.forecast_sources:
        result.kpis["forecast_sources"] = dict(limited.forecast_sources)
    end = start + pd.Timedelta(hours=horizon_h)
    return {"plan": _answer(result, "optimal", objective, limit_s, None, day, start, end),
            "horizon_h": horizon_h, "baseline_import_kw": [float(v) for v in baseline_kw],
            "baseline_cost_cny": plain(baseline.kpis.get("total_cost_cny")), "baselines": baselines}


def customer_baselines(case, request: dict, events: list[dict], index, planned_import_kw) -> dict[str, dict]:
    """Each event's customer baseline over the plan's steps, when the park settles events on similar days.

    ``{}`` for ``demand_response.baseline: optimal-plan`` (every event is
    measured against ``planned_import_kw``, the plan without events). For
    ``similar-days``: event id → ``kw`` (per step of ``index``: the customer
    baseline inside the event's window, the plan without events outside) and
    ``description`` (:meth:`dispatch.dr_baseline.CustomerBaseline.describe`),
    from the case's ``data.grid_meter`` and the request's ``meter_readings``
    (posted measurements: ``[timestamp, grid_import_kw]``), leaving out the
    days in ``event_days`` (other demand-response events).
    """
    import datetime as dt

    import numpy as np
    import pandas as pd

    from dispatch.dr_baseline import customer_baseline, metered_import

    settings = case.park.demand_response
    if settings.baseline != "similar-days":
        return {}
    data_index = case.load_profiles.index
    dt_h = (index[1] - index[0]) / pd.Timedelta(hours=1) if len(index) > 1 else (
        (data_index[1] - data_index[0]) / pd.Timedelta(hours=1))
    file = case.grid_meter
    meter = metered_import(None if file is None else file["grid_import_kw"],
                           [(pd.Timestamp(t), kw) for t, kw in request.get("meter_readings", [])],
                           data_index[0], dt_h)
    planned = np.asarray(planned_import_kw, dtype=float)
    expected = pd.Series(planned, index=index)
    skip = [dt.date.fromisoformat(day) for day in request.get("event_days", [])]
    tz = case.park.site.timezone
    out: dict[str, dict] = {}
    for event in events:
        inside = np.asarray((index >= pd.Timestamp(event["start"])) & (index < pd.Timestamp(event["end"])))
        if not inside.any() or event.get("id") is None:
            continue
        baseline = customer_baseline(meter, index[inside], dt_h, settings, tz, skip, expected)
        kw = planned.copy()
        kw[inside] = baseline.baseline_kw
        out[event["id"]] = {"kw": [float(v) for v in kw], "description": baseline.describe()}
    return out
