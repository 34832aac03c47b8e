"""The FastAPI application: routers, error handlers, the request-size guard, start-up and shut-down.

``uvicorn service.api.main:app`` (or ``make serve``) serves :data:`app`; tests
build their own with :func:`create_app` and override the dependencies in
:mod:`service.api.deps`.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from microgrid.messages import Message
from service.api import alerts, store
from service.api.db import PlanRow, init_db, make_engine, session_factory
from service.api.deps import get_planner, get_settings
from service.api.jobs import CASE_CACHE_SIZE, validate_case_job
from service.api.notify import DeliveryWorker, Hub
from service.api.openadr import VenManager
from service.api.openapi import install as install_openapi
from service.api.planner import Planner
from service.api.problems import PayloadTooLarge, install_handlers, problem_response
from service.api.routes import alerts as alert_routes
from service.api.routes import (carbon, events, forecasts, health, keys, measurements, openadr, parks, plans,
                                stream, studies, webhooks)
from service.api.settings import Settings
from service.api.studies import StudyRunner
from service.dashboard.routes import install as install_dashboard

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Day-ahead plans for industrial-park microgrids over HTTP.

Every request except `/health` needs an API key in the `X-API-Key` header (or
`Authorization: Bearer <key>`). An admin key registers parks and issues keys;
other keys belong to one or more parks. Errors are problem details (RFC 9457):
`type`, `title`, `status`, `detail`, `instance` and `errors` (`field`, `reason`).
Units are in the field names; timestamps are ISO 8601 with UTC offset.
"""


class BodySizeLimit:
    """Refuse request bodies above ``MICROGRID_MAX_REQUEST_BYTES`` with 413, declared length or not.

    The limit is read from ``state.max_request_bytes`` of the application,
    which the start-up sets from the settings.
    """

    def __init__(self, app: ASGIApp, state) -> None:
        self.app = app
        self.state = state

    @property
    def max_bytes(self) -> int:
        return self.state.max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> ASGIMessage:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.requests import Request

        exc = PayloadTooLarge(Message("the request body is larger than {max_bytes} bytes, the most this server "
                                      "takes",
                                      max_bytes=self.max_bytes))
        response = problem_response(Request(scope, receive), exc.status, exc.slug, exc.title, exc.detail)
        await response(scope, receive, send)


def register_reference_cases(settings: Settings, factory) -> None:
    """Register each of ``settings.reference_cases`` under its folder name, unless a park has that id."""
    session = factory()
    try:
        for name in settings.reference_cases:
            if session.get(store.ParkRow, name) is not None:
                continue
            prepared = store.prepare_version(settings, session, None, name, None)
            validate_case_job(prepared.document, str(prepared.folder))
            park = store.new_park(session, name, prepared)
            store.add_version(session, park, prepared, "reference case registered at start-up", None)
            logger.info("registered the reference case %s", name)
    finally:
        session.close()


def recent_cases(settings: Settings, factory, most: int = CASE_CACHE_SIZE) -> list[tuple[dict, str]]:
    """The current version (document, data folder) of the parks most recently planned, then registered.

    What each worker process opens as it starts (:meth:`Planner.process_pool`).
    """
    session = factory()
    try:
        planned = session.scalars(select(PlanRow.park_id).group_by(PlanRow.park_id)
                                  .order_by(func.max(PlanRow.id).desc()).limit(most)).all()
        parks = list(planned) + [p for p in session.scalars(select(store.ParkRow.id)
                                                            .order_by(store.ParkRow.created_at.desc()))
                                 if p not in planned]
        cases = []
        for park_id in parks[:most]:
            version = store.get_version(session, park_id)
            cases.append((version.document, str(store.version_folder(settings, session, version))))
        return cases
    finally:
        session.close()


async def evaluate_alerts_periodically(settings: Settings, factory, planner) -> None:
    """Evaluate every park's alert rules each ``MICROGRID_ALERT_INTERVAL_S`` (the first time one interval
    after start-up), on a thread: the stale-measurement rule needs no measurement to fire."""
    while True:
        await asyncio.sleep(settings.alert_interval_s)
        try:
            await asyncio.to_thread(alerts.evaluate_all, factory, settings, planner)
        except Exception:  # the next round tries again
            logger.exception("the periodic alert evaluation failed")


def create_app() -> FastAPI:
    """A new application; settings and worker pool come from its dependencies (overridable) at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        settings: Settings = app.dependency_overrides.get(get_settings, get_settings)()
        engine = make_engine(settings.database_url)
        init_db(engine)
        app.state.engine = engine
        app.state.max_request_bytes = settings.max_request_bytes
        app.state.session_factory = session_factory(engine)
        register_reference_cases(settings, app.state.session_factory)
        # published events go to the open streams and, through the delivery log, to the webhooks; the pending
        # deliveries a stopped server left resume here
        app.state.notifier = Hub(app.state.session_factory)
        app.state.notifier.start()
        app.state.delivery_worker = DeliveryWorker(settings, app.state.session_factory, app.state.notifier.wake,
                                                   getattr(app.state, "webhook_transport", None))
        app.state.delivery_worker.start()
        own_planner = get_planner not in app.dependency_overrides
        if own_planner:
            app.state.planner = Planner.process_pool(settings.workers, settings.max_queued_plans,
                                                     cases=recent_cases(settings, app.state.session_factory))
        planner = app.state.planner if own_planner else app.dependency_overrides[get_planner]()
        app.state.openadr = VenManager(settings, app.state.session_factory, planner)
        await app.state.openadr.start_enabled()
        # jobs left queued or running by a killed or stopped server resume here
        app.state.study_runner = StudyRunner(settings, app.state.session_factory,
                                             getattr(app.state, "study_executor_factory", None))
        app.state.study_runner.start()
        alert_task = asyncio.create_task(evaluate_alerts_periodically(settings, app.state.session_factory, planner))
        try:
            yield
        finally:
            alert_task.cancel()
            app.state.notifier.stop()
            await app.state.delivery_worker.shutdown()
            await app.state.openadr.shutdown()
            app.state.study_runner.shutdown()
            if own_planner:
                app.state.planner.shutdown()
            engine.dispose()

    app = FastAPI(title="park-microgrid", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    install_handlers(app)
    install_openapi(app)
    for router in (health.router, parks.router, measurements.router, plans.router, events.router, openadr.router,
                   keys.router, studies.router, forecasts.router, carbon.router, alert_routes.router,
                   webhooks.router, stream.router):
        app.include_router(router)
    install_dashboard(app)  # the operator's pages at / (service/dashboard/)
    app.state.max_request_bytes = Settings.model_fields["max_request_bytes"].default
    app.add_middleware(BodySizeLimit, state=app.state)
    return app


app = create_app()
