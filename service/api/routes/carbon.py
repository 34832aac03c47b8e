"""``/parks/{park_id}/carbon``: a month's carbon figures from the park's stored plans (see :mod:`service.api.carbon`)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from microgrid.case import park_from_dict
from service.api import store
from service.api.carbon import FORMATS, MONTH_PATTERN, CarbonOut, Format, carbon_out, month_schedule, negotiate
from service.api.deps import ParkIdDep, SessionDep, SettingsDep
from service.api.parsing import StrictJsonRoute

router = APIRouter(prefix="/parks/{park_id}/carbon", tags=["carbon"], route_class=StrictJsonRoute)

ANSWERS = {
    200: {"description": "The month's figures: JSON, the table as CSV (the CLI's carbon.csv), or the HTML report",
          "content": {"text/csv": {"schema": {"type": "string"}}, "text/html": {"schema": {"type": "string"}}}},
    404: {"description": "No such park, or no stored plan covers the month"},
    409: {"description": "The month's plans have different step lengths"},
}


@router.get("", response_model=CarbonOut, responses=ANSWERS, summary="Carbon figures of a month, from the stored plans")
def read_carbon(
    park_id: ParkIdDep, session: SessionDep, settings: SettingsDep,
    month: Annotated[str, Query(pattern=MONTH_PATTERN, description="The month, YYYY-MM (local days of the park).",
                                examples=["2026-07"])],
    format: Annotated[Format | None, Query(description="json, csv or html; default: by the Accept header, "
                                                       "else json.")] = None,
    lang: Annotated[Literal["en", "zh"], Query(description="Language of the HTML report.")] = "en",
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> CarbonOut | Response:
    """Scope 1 and 2 CO2, avoided CO2, renewable share, intensity and green certificates, per local day and month.

    Every step of the month comes from the newest stored plan that covers it
    (an intraday re-plan replaces the rest of its day's plan), with the grid
    factor that plan carried; each day with a planned step is a row, and the
    month's total is of those days (``days_covered`` of ``month_days``).
    Scope 1 is the fuels of the park's current version (``carbon.fuels``) over
    the hours covered. Measurements are not used (they are readings at an
    instant, not metered energy).

    The answer is JSON, or with ``format=csv`` (or ``Accept: text/csv``) the
    table as the CLI's ``carbon.csv``, or with ``format=html`` (or ``Accept:
    text/html``) the report of ``microgrid carbon``, in ``lang``. A month no
    plan covers is 404: plan its days first.
    """
    from dispatch.carbon import carbon_by_day, factor_source, fuels_described
    from dispatch.carbon_report import carbon_html

    version = store.get_version(session, park_id)
    park = park_from_dict(version.document, folder=store.version_folder(settings, session, version))
    lookback_days = math.ceil(settings.max_horizon_h / 24.0) + 1
    schedule, dt_h, plan_ids = month_schedule(session, park_id, park, month, lookback_days)
    table = carbon_by_day(schedule, park, dt_h)
    chosen = negotiate(format, accept)
    headers = {"Vary": "Accept"}
    if chosen == "csv":
        headers["Content-Disposition"] = f'inline; filename="carbon-{park_id}-{month}.csv"'
        return Response(table.to_csv(index=False), media_type=f"{FORMATS['csv']}; charset=utf-8", headers=headers)
    out = carbon_out(park_id, version.version, park, month, table, dt_h, plan_ids, len(schedule))
    if chosen == "html":
        page = carbon_html(table, case=park.site.name, month=month, factor_kg_per_kwh=park.carbon.grid.co2_kg_per_kwh,
                           source=factor_source(park), month_days=out.month_days, lang=lang, plans=len(plan_ids),
                           fuels=fuels_described(park))
        return Response(page, media_type=f"{FORMATS['html']}; charset=utf-8", headers=headers)
    return Response(out.model_dump_json(), media_type=FORMATS["json"], headers=headers)
