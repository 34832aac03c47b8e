"""The service's database: SQLAlchemy 2 tables, the engine, sessions.

SQLite by default, in WAL mode with ``synchronous=FULL``: a transaction is on
disk when its commit returns, so whatever the service acknowledged survives a
killed process (and a power cut). Any other SQLAlchemy URL works the same
way (PostgreSQL through ``MICROGRID_DATABASE_URL``); the tables use only
portable types.

Tables::

    parks            id, name, current_version, created_at, updated_at
    park_versions    park_id, version, document (the case format as JSON),
                     case_folder or data_files (file name -> sha256), created_at
    data_files       sha256, content (CSV text), stored once however many
                     versions use it
    plans            park_id, park_version, kind (day_ahead, intraday or
                     event), plan_date, starts_at and ends_at (ISO 8601
                     in the park's offset), strategy, objective, status,
                     mip_gap, fallback_reason, request, kpis, slack, schedule,
                     measurement_id (the measured state it started from),
                     forecast_id (the stored forecast it used; kept when
                     that forecast is deleted)
    measurements     park_id, park_version (checked against), measured_at (UTC;
                     measured_offset_min keeps the sender's offset), soc_kwh,
                     thermal_soc_kwh, month_to_date_peak_kw, pv_kw, wind_kw, load_kw,
                     grid_import_kw, grid_export_kw (metered at the point of
                     common coupling)
    events           park_id, id (the client's), version, status (active or
                     cancelled), body (the event as sent), answer (the last
                     re-plan's per-step response and totals), plan_id (its
                     plan, kind event)
    openadr_vens     park_id, enabled, the VEN's settings (vtn_url, ven_name,
                     certificates, report interval, signal mapping), ven_id
                     (the one the VTN assigned at the last registration)
    openadr_events   park_id, oadr_event_id, modification_number, status,
                     event_ids (the demand-response events it became), opt
                     (optIn/optOut), reason, the event as received
    forecasts        park_id, park_version (checked against), issued_at (UTC;
                     issued_offset_min keeps the sender's offset), kind and
                     source (labels), starts_at and ends_at (UTC: the period
                     every part covers), periods (per part: start, end,
                     rows), data (per part: the rows as sent); ids never
                     reused
    studies          park_id, park_version, kind (study or sweep), state
                     (queued, running, done, failed, cancelled),
                     progress_frac, steps_done, steps_total, message,
                     request (as accepted), error, kpis (when done),
                     created_at, started_at, finished_at; the outputs are
                     in data_dir/studies/<id>/
    alerts           park_id, rule, subject, dedup_key (rule:subject, one open or
                     acknowledged alert per key), status (open, acknowledged,
                     resolved), message, value, threshold, unit, cny_at_stake,
                     details, opened_at, last_seen_at, acknowledged_at and
                     acknowledged_by_key_id, resolved_at and resolution (auto or
                     manual) and resolved_by_key_id, replan_plan_id or
                     replan_error (the response re-plan of a rule with replan)
    api_keys         name, key_hash (SHA-256 of the token), prefix, is_admin
    api_key_parks    key_id, park_id (the parks a key may use)
    notifications    park_id, kind (plan.created, alert.opened, ...), data
                     (the event's payload), created_at; ids never reused
                     (the id of the live stream and of webhook bodies)
    webhooks         park_id, url, secret (signs the bodies), kinds (the
                     kinds it gets; empty: all), active, description
    webhook_deliveries  one row per attempt: webhook_id, notification_id,
                     delivery_id (the same for every attempt of one event to
                     one webhook), kind, attempt (1, 2, ...), state (pending,
                     delivered, retrying, failed), status_code or error,
                     response_time_s, next_attempt_at, attempted_at
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, TypeDecorator,
                        UniqueConstraint, create_engine, event, inspect, text)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker
from microgrid.messages import Message


def utc_now() -> dt.datetime:
    """The current time, tz-aware in UTC."""
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """A tz-aware timestamp, stored in UTC (SQLite keeps no offset; this adds it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(Message("naive datetime: the database stores tz-aware timestamps only"))
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class ParkRow(Base):
    __tablename__ = "parks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)

    versions: Mapped[list["ParkVersionRow"]] = relationship(back_populates="park", order_by="ParkVersionRow.version")


class ParkVersionRow(Base):
    __tablename__ = "park_versions"
    __table_args__ = (UniqueConstraint("park_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("parks.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict] = mapped_column(JSON)
    case_folder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    data_files: Mapped[dict] = mapped_column(JSON, default=dict)
    comment: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    created_by_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    park: Mapped[ParkRow] = relationship(back_populates="versions")


class DataFileRow(Base):
    __tablename__ = "data_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(Integer)


class PlanRow(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("parks.id"), index=True)
    park_version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32), default="day_ahead")
    plan_date: Mapped[str] = mapped_column(String(10), index=True)
    starts_at: Mapped[str] = mapped_column(String(40))
    ends_at: Mapped[str] = mapped_column(String(40))
    strategy: Mapped[str] = mapped_column(String(32))
    objective: Mapped[str | None] = mapped_column(String(32), nullable=True)
    horizon_h: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32))
    mip_gap: Mapped[float | None] = mapped_column(Float, nullable=True)
    solve_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    wall_time_s: Mapped[float] = mapped_column(Float)
    time_limit_s: Mapped[float] = mapped_column(Float)
    fallback_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    request: Mapped[dict] = mapped_column(JSON)
    kpis: Mapped[dict] = mapped_column(JSON)
    slack: Mapped[list] = mapped_column(JSON)
    schedule: Mapped[list] = mapped_column(JSON)
    decisions: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True, deferred=True)
    """Integer decisions of an optimal plan (a warm start for the next re-plan); None otherwise."""
    measurement_id: Mapped[int | None] = mapped_column(ForeignKey("measurements.id"), nullable=True)
    forecast_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    created_by_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class MeasurementRow(Base):
    __tablename__ = "measurements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("parks.id"), index=True)
    park_version: Mapped[int] = mapped_column(Integer)
    measured_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    measured_offset_min: Mapped[int] = mapped_column(Integer, default=0)
    soc_kwh: Mapped[dict] = mapped_column(JSON)
    thermal_soc_kwh: Mapped[dict] = mapped_column(JSON)
    month_to_date_peak_kw: Mapped[float] = mapped_column(Float)
    pv_kw: Mapped[float | None] = mapped_column(Float, nullable=True)
    wind_kw: Mapped[float | None] = mapped_column(Float, nullable=True)
    load_kw: Mapped[float | None] = mapped_column(Float, nullable=True)
    grid_import_kw: Mapped[float | None] = mapped_column(Float, nullable=True)
    grid_export_kw: Mapped[float | None] = mapped_column(Float, nullable=True)
    heat_pump_kw: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    """Heat pump id → metered electric input [kW]; None before it was kept."""
    flexible_state: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    """The flexible loads' state (``schemas.FLEXIBLE_STATE_FIELDS`` → id → value); None before it was kept."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    created_by_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    @property
    def measured_at_local(self) -> dt.datetime:
        """``measured_at`` in the offset it was sent with."""
        return self.measured_at.astimezone(dt.timezone(dt.timedelta(minutes=self.measured_offset_min)))


class EventRow(Base):
    __tablename__ = "events"

    park_id: Mapped[str] = mapped_column(ForeignKey("parks.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict] = mapped_column(JSON)
    answer: Mapped[dict] = mapped_column(JSON)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


class OpenAdrVenRow(Base):
    """A park's OpenADR 2.0b VEN: its settings (see :class:`service.api.schemas.OpenAdrConfigIn`)."""

    __tablename__ = "openadr_vens"

    park_id: Mapped[str] = mapped_column(ForeignKey("parks.id"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict] = mapped_column(JSON)
    registered_ven_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


class OpenAdrEventRow(Base):
    """An OpenADR event a park's VEN received, the demand-response events it became and the VEN's answer."""

    __tablename__ = "openadr_events"

    park_id: Mapped[str] = mapped_column(ForeignKey("parks.id"), primary_key=True)
    oadr_event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    modification_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    event_ids: Mapped[list] = mapped_column(JSON, default=list)
    opt: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    received: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now, index=True)


class ForecastRow(Base):
    """An uploaded forecast of a park: weather and/or direct PV, load and heat rows, as sent.

    ``forecast_id`` of a plan is a plain integer, not a foreign key, so that a
    forecast may be deleted while the plans that used it keep its id; SQLite's
    AUTOINCREMENT keeps a deleted id from being given to a new forecast.
    """

    __tablename__ = "forecasts"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("parks.id"), index=True)
    park_version: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    issued_offset_min: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str | None] = mapped_column(String(200), nullable=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    periods: Mapped[dict] = mapped_column(JSON)
    data: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    created_by_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    @property
    def offset(self) -> dt.timezone:
        """The UTC offset ``issued_at`` was sent with."""
        return dt.timezone(dt.timedelta(minutes=self.issued_offset_min))


class StudyRow(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("parks.id"), index=True)
    park_version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    progress_frac: Mapped[float] = mapped_column(Float, default=0.0)
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    steps_total: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(String(500), default="")
    request: Mapped[dict] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    kpis: Mapped[list | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AlertRow(Base):
    """An operator alert of a park: one rule's finding about one subject, from open to resolved."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("parks.id"), index=True)
    rule: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    dedup_key: Mapped[str] = mapped_column(String(240), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str] = mapped_column(String(16), default="")
    cny_at_stake: Mapped[float | None] = mapped_column(Float, nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    measurement_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    plan_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(16), nullable=True)
    resolved_by_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    replan_plan_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    replan_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)

    parks: Mapped[list["ApiKeyParkRow"]] = relationship(cascade="all, delete-orphan")

    @property
    def park_ids(self) -> list[str]:
        return sorted(link.park_id for link in self.parks)


class ApiKeyParkRow(Base):
    __tablename__ = "api_key_parks"

    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("parks.id"), primary_key=True)


class NotificationRow(Base):
    """An event published for a park (:func:`service.api.notify.publish`): what the stream and webhooks send."""

    __tablename__ = "notifications"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("parks.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


class WebhookRow(Base):
    """A park's webhook: where its events are POSTed, signed with ``secret`` (HMAC-SHA256).

    The secret is kept in clear: the server needs it to sign; it is shown to
    the client once, when the webhook is created.
    """

    __tablename__ = "webhooks"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("parks.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))
    kinds: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)
    created_by_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class DeliveryRow(Base):
    """One attempt to deliver a notification to a webhook: scheduled (``pending``), then its outcome.

    A failed attempt that may be retried becomes ``retrying`` and the next
    attempt is a new row (``attempt`` + 1, the same ``delivery_id``) due at
    ``next_attempt_at``; so the rows are the delivery log, and the pending
    ones what the delivery worker resumes after a restart.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    delivery_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    response_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    attempted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utc_now)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its folder, WAL, full sync and foreign keys.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL, e.g. ``sqlite:////srv/var/microgrid.db``.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record) -> None:  # pragma: no cover - exercised on every connect
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


ADDED_COLUMNS = {("plans", "measurement_id"): "INTEGER", ("measurements", "flexible_state"): "JSON",
                 ("plans", "decisions"): "JSON", ("plans", "forecast_id"): "INTEGER",
                 ("measurements", "grid_import_kw"): "FLOAT", ("measurements", "grid_export_kw"): "FLOAT",
                 ("measurements", "wind_kw"): "FLOAT", ("measurements", "heat_pump_kw"): "JSON"}
"""Columns added to existing tables since the first release: (table, column) → SQL type (nullable, no default)."""


def init_db(engine: Engine) -> None:
    """Create the tables that do not exist yet, and add the columns of :data:`ADDED_COLUMNS` they lack.

    Not a migration tool: only nullable columns are ever added this way.
    """
    Base.metadata.create_all(engine)
    existing = inspect(engine)
    with engine.begin() as connection:
        for (table, column), sql_type in ADDED_COLUMNS.items():
            if column not in {c["name"] for c in existing.get_columns(table)}:
                connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that rolls back on error and is always closed."""
    session = factory()
    try:
        yield session
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
