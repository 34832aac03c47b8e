"""``/health``: liveness, without a key."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from service.api.db import utc_now
from service.api.deps import PlannerDep, SessionDep
from service.api.parsing import StrictJsonRoute
from service.api.schemas import Health

router = APIRouter(tags=["health"], route_class=StrictJsonRoute)


@router.get("/health", response_model=Health, summary="Is the service up?")
def health(session: SessionDep, planner: PlannerDep) -> Health:
    session.execute(text("SELECT 1"))
    return Health(status="ok", database=session.get_bind().dialect.name, workers=planner.workers,
                  plans_in_progress=planner.in_progress, time=utc_now())
