"""Settings of the HTTP service, from ``MICROGRID_*`` environment variables.

Core packages never read the environment; only this module does, and the
service receives the result through :func:`get_settings` (cached), which tests
replace with a dependency override.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from microgrid.messages import Message

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository (or installed source tree) holding ``cases/`` and ``var/``."""


class Settings(BaseSettings):
    """How the service runs.

    Attributes
    ----------
    database_url : str
        SQLAlchemy URL. Default: SQLite in ``var/microgrid.db`` (WAL journal);
        PostgreSQL with ``postgresql+psycopg://user:password@host/db`` (install
        ``psycopg[binary]``).
    data_dir : pathlib.Path
        Folder for the service's files: the default database and the data
        files of uploaded parks, unpacked from the database for the solver.
    case_root : pathlib.Path
        Folder of the case folders a park may reference (``case_folder``);
        nothing outside it is read.
    reference_cases : list of str
        Case folders under ``case_root`` registered at start-up (once, under
        their folder name) if no park of that id exists.
    admin_key : str or None
        A plaintext admin API key accepted in addition to the keys in the
        database (e.g. from a secret store). Keys made with ``microgrid service
        create-key`` are stored hashed only.
    host, port : str, int
        Where ``microgrid service serve`` (``make serve``) listens.
    http_timeout_s : float
        The timeout clients and proxies are expected to use [s]; every
        request's solve time limit stays below it.
    plan_time_limit_s : float
        Default and largest time limit of one plan request [s], queueing in
        the worker pool included.
    workers : int
        Processes solving plans.
    max_queued_plans : int
        Plan requests waiting or running at once; more get 503.
    max_horizon_h : float
        Longest plan a request may ask for [h].
    max_request_bytes : int
        Largest request body [bytes]; larger ones get 413.
    max_forecast_rows : int
        Most rows of one forecast table, inline in a plan request or uploaded
        (each part of ``POST /parks/{id}/forecasts``).
    plan_warm_start : bool
        Each worker keeps the models it built (by park and shape) and starts
        HiGHS from the last plan it solved on the same model: a day-ahead
        plan takes about half the time (docs/benchmarks.md). Every plan is
        optimal within the park's MIP gap either way, but which of the
        near-optimal plans comes out can then depend on what the worker solved
        before; ``false`` gives the same plan for the same request always.
    study_workers : int
        Processes running case studies and sweeps (a pool of their own,
        beside the plan workers); one job each at a time, the others queued.
    max_study_days : int
        Longest period of one study or sweep [days].
    max_study_scenarios : int
        Most scenarios of one sweep (the product of its axes' value counts).
    max_measurement_ahead_h : float
        How far a measurement's ``measured_at`` may lie after the server's
        clock [h] (meters whose clocks run ahead); later ones get 422.
    alert_interval_s : float
        How often every park's alert rules are evaluated in the background
        [s] (besides at each posted measurement and on
        ``POST /parks/{id}/alerts/evaluate``); it is what lets the
        stale-measurement rule fire without measurements.
    openadr_vtn_hosts : list of str
        The hosts a park's OpenADR VEN may be pointed at (``vtn_url``), e.g.
        ``["vtn.aggregator.example"]``; another host gets 422. Empty (the
        default): any host.
    webhook_hosts : list of str
        The hosts a park's webhooks may be pointed at (``url``); another host
        gets 422. Empty (the default): any host.
    webhook_max_attempts : int
        Attempts to deliver one event to one webhook, the first included.
    webhook_retry_s : float
        Wait before the first retry [s]; each further retry waits twice as
        long as the one before (1, 2, 4, 8 … s), at most ``webhook_retry_max_s``.
    webhook_retry_max_s : float
        Longest wait between two attempts [s] (also caps a ``Retry-After``).
    webhook_timeout_s : float
        Time limit of one attempt, connection and answer [s].
    webhook_poll_s : float
        How often the delivery worker looks for due attempts when nothing
        wakes it [s] (a published event wakes it at once).
    stream_backlog_events : int
        Most past events of a park a stream replays after ``Last-Event-ID``.
    stream_max_s : float
        How long one stream stays open [s]; then it ends and the client
        reconnects with ``Last-Event-ID`` (``EventSource`` does so by itself),
        so no connection lives for ever.
    """

    model_config = SettingsConfigDict(env_prefix="MICROGRID_", extra="ignore")

    database_url: str = ""
    data_dir: Path = REPO_ROOT / "var"
    case_root: Path = REPO_ROOT / "cases"
    reference_cases: list[str] = Field(default_factory=lambda: ["zhengzhou_park"])
    admin_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    http_timeout_s: float = Field(30.0, gt=0)
    plan_time_limit_s: float = Field(20.0, gt=0)
    workers: int = Field(1, ge=1)
    max_queued_plans: int = Field(8, ge=1)
    max_horizon_h: float = Field(48.0, gt=0)
    max_request_bytes: int = Field(16_000_000, ge=1024)
    max_forecast_rows: int = Field(20_000, ge=1)
    plan_warm_start: bool = True
    study_workers: int = Field(1, ge=1)
    max_study_days: int = Field(366, ge=1)
    max_study_scenarios: int = Field(64, ge=1)
    max_measurement_ahead_h: float = Field(24.0, gt=0)
    openadr_vtn_hosts: list[str] = Field(default_factory=list)
    alert_interval_s: float = Field(60.0, gt=0)
    webhook_hosts: list[str] = Field(default_factory=list)
    webhook_max_attempts: int = Field(6, ge=1, le=20)
    webhook_retry_s: float = Field(1.0, gt=0)
    webhook_retry_max_s: float = Field(300.0, gt=0)
    webhook_timeout_s: float = Field(10.0, gt=0)
    webhook_poll_s: float = Field(5.0, gt=0)
    stream_backlog_events: int = Field(100, ge=0)
    stream_max_s: float = Field(600.0, gt=0)

    @model_validator(mode="after")
    def _defaults_and_limits(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'microgrid.db'}"
        if self.plan_time_limit_s >= self.http_timeout_s:
            raise ValueError(
                Message("MICROGRID_PLAN_TIME_LIMIT_S ({plan_time_limit_s:g} s) must be below "
                        "MICROGRID_HTTP_TIMEOUT_S ({http_timeout_s:g} s)",
                        plan_time_limit_s=self.plan_time_limit_s, http_timeout_s=self.http_timeout_s)
            )
        return self


@lru_cache
def get_settings() -> Settings:
    """The service's settings, read from the environment once."""
    return Settings()
