"""The dashboard's CPU work for the worker pool: the AC power flow of a stored plan, step by step."""

from __future__ import annotations

from typing import Any


def network_job(document: dict, folder: str, schedule: list[dict]) -> dict[str, Any]:
    """AC power flow of a plan's schedule rows on the park's network (:func:`microgrid.network.validate_schedule`).

    Returns
    -------
    dict
        ``steps`` (per step: ``timestamp``, ``converged``, ``min_vm_pu``, ``max_vm_pu``, ``max_line``,
        ``max_line_loading_pct``, ``max_trafo``, ``max_trafo_loading_pct``, ``losses_kw``), ``violations``
        (``timestamp``, ``element``, ``name``, ``quantity``, ``value``, ``limit``), ``kpis``, ``limits``
        (the park's ``min_vm_pu``, ``max_vm_pu``, ``max_line_loading_pct``, ``max_trafo_loading_pct``), ``engine``.
    """
    from pathlib import Path

    import pandas as pd

    from microgrid.network import validate_schedule
    from service.api.jobs import open_case, plain

    case = open_case(document, folder)
    park = case.park
    frame = pd.DataFrame(schedule)
    frame.index = pd.DatetimeIndex([pd.Timestamp(s) for s in frame.pop("timestamp")]).tz_convert(park.site.timezone)
    report = validate_schedule(park, frame, folder=Path(folder))
    steps = report.steps.reset_index()
    steps["timestamp"] = [s.isoformat() for s in steps["timestamp"]]
    violations = report.violations.copy()
    violations["timestamp"] = [s.isoformat() for s in violations["timestamp"]]
    spec = park.network
    return {"steps": plain(steps.to_dict(orient="records")), "violations": plain(violations.to_dict(orient="records")),
            "kpis": plain(report.kpis), "engine": report.engine,
            "limits": {"min_vm_pu": spec.min_vm_pu, "max_vm_pu": spec.max_vm_pu,
                       "max_line_loading_pct": spec.max_line_loading_pct,
                       "max_trafo_loading_pct": spec.max_trafo_loading_pct}}
