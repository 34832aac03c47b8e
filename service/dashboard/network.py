"""The park's electrical network under a plan (``/network``): the AC power flow, its limits and violations.

The power flow of a stored plan runs once in the worker pool
(:func:`service.dashboard.jobs.network_job`) and is kept for the
:data:`NETWORK_CACHE_SIZE` plans looked at last.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from microgrid import errors as mg
from service.api import store
from service.api.db import PlanRow
from service.api.deps import PlannerDep, SessionDep, SettingsDep
from service.api.problems import ProblemError
from service.dashboard import charts
from service.dashboard.jobs import network_job
from service.dashboard.pages import (Page, PageDep, chosen_day, current_plan, figure_json, plan_dt_h, plan_label,
                                     plan_of_park, plans_of_day, problem_errors, render)

NETWORK_CACHE_SIZE = 16

router = APIRouter(include_in_schema=False)


@router.get("/network")
def network_page(page: PageDep, session: SessionDep, settings: SettingsDep, planner: PlannerDep,
                 date: str | None = None, plan: int | None = None) -> HTMLResponse:
    if page.park is None:
        return render(page, "empty.html", message="no_parks")
    day, date_error = chosen_day(page, date)
    context: dict[str, Any] = {"day": day, "plan": None, "figures": [], "report": None, "error": date_error,
                               "plans": [], "plan_label": lambda p: plan_label(page, p)}
    if not page.model.network.described:
        return render(page, "network.html", described=False, **context)
    plans = plans_of_day(session, page.park.id, day)
    chosen = plan_of_park(session, page, plan) or current_plan(plans)
    context.update(plans=plans, plan=chosen)
    if chosen is not None:
        try:
            report = network_report(page, chosen, session, settings, planner)
        except (ProblemError, mg.MicrogridError) as exc:
            context["error"] = problem_errors(exc, page.lang)[0]
        else:
            t = page.t
            context["report"] = report
            context["violations"] = [dict(v, local=charts.local_time(v["timestamp"], page.timezone))
                                     for v in report["violations"]]
            figures = charts.network_figures(report["steps"], page.timezone, plan_dt_h(chosen), t, report["limits"])
            context["figures"] = [(f"net{k}", figure_json(f)) for k, f in enumerate(figures)]
    return render(page, "network.html", described=True, **context)


def network_report(page: Page, plan: PlanRow, session, settings, planner) -> dict:
    """The AC power flow of a stored plan on its park version's network, computed once in the worker pool."""
    cache: OrderedDict = page.request.app.state.dashboard_network_cache
    key = (plan.id, plan.park_version)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    version = store.get_version(session, plan.park_id, plan.park_version)
    folder = store.version_folder(settings, session, version)
    schedule = plan.schedule
    session.commit()  # no database connection is held while the worker computes
    report = planner.run(network_job, version.document, str(folder), schedule, timeout_s=settings.plan_time_limit_s)
    cache[key] = report
    while len(cache) > NETWORK_CACHE_SIZE:
        cache.popitem(last=False)
    return report
