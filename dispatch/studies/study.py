"""Offline case studies: rolling-horizon operation of a park over a period, strategy by strategy.

A study runs :func:`dispatch.rolling.run_rolling_horizon` one local day at a
time for every strategy, carrying the plant state from one day to the next,
and checkpoints every finished day, so that an interrupted study resumes where
it stopped. The layout of the output folder::

    DIR/<strategy>/settings.json              what the days were computed with
    DIR/<strategy>/days/YYYY-MM-DD.parquet     15-minute rows of the day (schedule contract)
    DIR/<strategy>/days/YYYY-MM-DD.windows.parquet   one row per re-plan window
    DIR/<strategy>/days/YYYY-MM-DD.state.json  plant state at the end of the day
    DIR/<strategy>/schedule.parquet            all 15-minute rows of the period
    DIR/<strategy>/windows.parquet             all re-plan windows
    DIR/kpis_monthly.csv, DIR/kpis_annual.csv  KPIs by strategy and month / year
    DIR/kpis.json                              KPIs of the whole period by strategy
    DIR/cash_flows.csv                         yearly cash flow of the new assets by strategy
    DIR/no-new-assets/<strategy>/...           the same days for the park without its new assets
    DIR/report.html                            self-contained report with plots

A day counts as finished when its state file exists: it is written last, and
every file is written to a temporary name and renamed, so a study killed at
any moment leaves only whole days behind.

KPIs are :func:`dispatch.rolling.period_kpis` of each strategy's schedule over
the period, each month and each calendar year, plus ``windows`` (re-plans) and
``fallback_windows`` (re-plans whose plan failed and that followed the
rule-based action instead). Every row also has ``baseline`` (the name of the
study's baseline strategy, :attr:`StudySettings.baseline`, by default
``tou-arbitrage``: what a C&I storage controller does without an optimizer),
``savings_cny`` (the baseline's total cost − the strategy's), ``savings_ratio``
(savings / the baseline's total cost) and ``co2_reduction_kg`` (the baseline's
CO2 − the strategy's). A baseline not among the strategies is added to them
(last), so that the savings can always be stated.

The period's KPIs also hold the investment KPIs of the park's new assets
(:mod:`dispatch.studies.investment`: annualised savings, NPV, IRR, paybacks,
LCOE, LCOS), against another baseline, named in ``investment_baseline``: the
park without its new assets, run by the same strategy over the same days.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from dispatch.inputs import PlantState
from dispatch.model import DispatchConfig
from dispatch.rolling import ROLLING_STRATEGIES, ModelCache, RollingConfig, period_kpis, run_rolling_horizon
from dispatch.studies.investment import NO_NEW_ASSETS_DIR, add_investment, asset_energy_kwh, operating_cost_cny
from dispatch.studies.results import ProgressCallback, StrategyRun, StudyProgress, StudyResult
from microgrid.case import Case
from microgrid.errors import InvalidRequestError
from microgrid.messages import Message
from microgrid.park import Park
from microgrid.timeseries import step_hours

logger = logging.getLogger(__name__)

STUDY_FORMAT = 3  # 2: the state keeps the previous plan (warm start); windows say how each plan was found;
# 3: schedules carry the CO2 factor, wear and shed prices and the stores' losses
"""Version of the checkpoint layout; a folder written by another version is refused."""

BASELINE = "tou-arbitrage"
"""The default baseline of the savings (:attr:`StudySettings.baseline`)."""
MIN_REPLAN_H = 0.25
"""The shortest interval between re-plans [h]: one step of 15-min data."""


@dataclass(frozen=True)
class StudySettings:
    """What a study computes.

    Attributes
    ----------
    start, end : datetime.date
        First and last local day of the period (both included).
    strategies : tuple of str
        Rolling strategies (:data:`dispatch.rolling.ROLLING_STRATEGIES`), in
        the order of the outputs.
    horizon_h : float
        Length of every plan [h].
    replan_h : float
        Interval between re-plans [h].
    seed : int
        Seed of the forecast errors of ``mpc``.
    reuse_models : bool
        Reuse the models built on earlier days (``mpc`` and
        ``perfect-foresight``), updating only their parameters: faster, and
        the same plans as fresh models (every solve starts HiGHS afresh from
        the previous plan's decisions, which the saved state keeps; see
        ``DispatchModel.plan``), so a resumed study equals an uninterrupted one.
        On by default; off builds every day's models anew.
    integer_horizon_h : float, optional
        Integer decisions over the first hours of every plan, the rest relaxed
        (``DispatchConfig.integer_horizon_h``); at least ``replan_h``, so that
        the committed steps are integer. Default: 3 h or ``replan_h`` if
        longer (measured in docs/benchmarks.md).
    baseline : str
        The strategy the savings are stated against (one of
        :data:`dispatch.rolling.ROLLING_STRATEGIES`; default :data:`BASELINE`).
        Added to ``strategies`` (last) when they do not name it.
    """

    start: dt.date
    end: dt.date
    strategies: tuple[str, ...]
    horizon_h: float = 24.0
    replan_h: float = 1.0
    seed: int = 0
    reuse_models: bool = True
    integer_horizon_h: float | None = None
    baseline: str = BASELINE

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidRequestError(
                Message("end: {end} is before start {start}; the end is the last day of the study (included)",
                        end=self.end.isoformat(), start=self.start.isoformat()))
        if not self.strategies:
            raise InvalidRequestError(Message("strategy: give at least one of {strategies}",
                                              strategies=', '.join(ROLLING_STRATEGIES)))
        unknown = [s for s in self.strategies if s not in ROLLING_STRATEGIES]
        if unknown:
            raise InvalidRequestError(
                Message("strategy: unknown {unknown!r}; choose among {strategies}",
                        unknown=unknown[0], strategies=', '.join(ROLLING_STRATEGIES)))
        if len(set(self.strategies)) != len(self.strategies):
            raise InvalidRequestError(Message("strategy: each strategy may be given once"))
        if self.baseline not in ROLLING_STRATEGIES:
            raise InvalidRequestError(
                Message("baseline: unknown {baseline!r}; choose one of {strategies}",
                        baseline=self.baseline, strategies=', '.join(ROLLING_STRATEGIES)))
        if self.baseline not in self.strategies:
            logger.info("baseline %s added to the strategies %s", self.baseline, ", ".join(self.strategies))
            object.__setattr__(self, "strategies", (*self.strategies, self.baseline))
        if not math.isfinite(self.horizon_h) or not math.isfinite(self.replan_h):
            raise InvalidRequestError(Message("horizon_h, replan_h: must be finite numbers of hours"))
        if not MIN_REPLAN_H <= self.replan_h <= self.horizon_h:
            raise InvalidRequestError(
                Message("replan_h: must be at least {min_replan_h:g} h (one step of 15-min data) and at most "
                        "horizon_h ({horizon_h:g} h), got {replan_h:g} h",
                        min_replan_h=MIN_REPLAN_H, horizon_h=self.horizon_h, replan_h=self.replan_h))
        if round(24.0 / self.replan_h, 9) != round(24.0 / self.replan_h):
            raise InvalidRequestError(
                Message("replan_h: {replan_h:g} h does not divide a day; the study runs day by day (use e.g. "
                        "0.25, 0.5, 1, 2, 3, 4, 6, 12 or 24)",
                        replan_h=self.replan_h))
        if self.integer_horizon_h is not None and not (math.isfinite(self.integer_horizon_h)
                                                       and self.integer_horizon_h >= self.replan_h):
            raise InvalidRequestError(
                Message("integer_horizon_h: must be at least the re-plan interval ({replan_h:g} h), so that the "
                        "committed steps are integer; got {integer_horizon_h:g}",
                        replan_h=self.replan_h, integer_horizon_h=self.integer_horizon_h))

    @property
    def effective_integer_horizon_h(self) -> float:
        """``integer_horizon_h``, or its default: 3 h, or ``replan_h`` if longer."""
        return self.integer_horizon_h if self.integer_horizon_h is not None else max(3.0, self.replan_h)

    @property
    def days(self) -> list[dt.date]:
        """Every local day of the period."""
        return [self.start + dt.timedelta(days=k) for k in range((self.end - self.start).days + 1)]


# --------------------------------------------------------------------------- files


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file and a rename, so it is either whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _write_json(path: Path, data: Any) -> None:
    _write_atomic(path, lambda p: p.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
                                                + "\n", encoding="utf-8"))


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    _write_atomic(path, lambda p: frame.to_parquet(p))


def state_to_dict(state: PlantState) -> dict:
    """A :class:`PlantState` as plain JSON data (floats round-trip exactly)."""
    return dataclasses.asdict(state)


def state_from_dict(data: dict) -> PlantState:
    """The inverse of :func:`state_to_dict`."""
    return PlantState(**data)


def case_fingerprint(case: Case) -> str:
    """SHA-256 of the validated park and the bytes of its data files.

    Two runs with equal fingerprints simulate the same park on the same data,
    whatever folder the case sits in.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(case.park.model_dump(mode="json", exclude={"economics"}), sort_keys=True, default=str).encode())
    for key in ("weather", "loads", "heat"):
        path = case.folder / getattr(case.park.data, key)
        if path.is_file():
            digest.update(key.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def rolling_config(case: Case, settings: StudySettings, strategy: str) -> RollingConfig:
    """The rolling configuration of one strategy: the case's dispatch settings and the study's."""
    dispatch = case.park.dispatch
    return RollingConfig(
        strategy=strategy,
        horizon_h=settings.horizon_h,
        replan_h=settings.replan_h,
        dispatch=DispatchConfig(objective=dispatch.objective, mip_gap=dispatch.mip_gap,
                                time_limit_s=dispatch.time_limit_s,
                                integer_horizon_h=min(settings.effective_integer_horizon_h, settings.horizon_h),
                                lp_first=True, end_of_horizon="minimum"),
        seed=settings.seed,
    )


def _plain(value: Any) -> Any:
    """JSON data of a configuration object (dataclasses, tuples, enums...)."""
    return json.loads(json.dumps(dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value,
                                 sort_keys=True, default=str))


def settings_record(case: Case, settings: StudySettings, strategy: str, config: RollingConfig,
                    fingerprint: str, overrides: dict | None = None) -> dict:
    """What a strategy's checkpoints depend on; stored as ``settings.json`` and compared on resume."""
    return {
        "format": STUDY_FORMAT,
        "case": case.name,
        "case_sha256": fingerprint,
        "overrides": overrides or {},
        "strategy": strategy,
        "start": settings.start.isoformat(),
        "end": settings.end.isoformat(),
        "horizon_h": settings.horizon_h,
        "replan_h": settings.replan_h,
        "seed": settings.seed,
        "reuse_models": settings.reuse_models,
        # (the forecast errors matter to mpc only)
        "rolling_config": {k: v for k, v in _plain(config).items()
                           if k not in ("strategy", "horizon_h", "replan_h", "seed")
                           and (k != "errors" or strategy == "mpc")},
    }


_SETTING_NAMES = {
    "case_sha256": "the case (park.yaml or its data files)",
    "rolling_config": "the rolling configuration (dispatch settings, forecast errors)",
    "format": "the checkpoint format",
}


def _check_settings(folder: Path, record: dict, out_dir: Path) -> None:
    """Refuse a folder whose checkpoints were computed with other settings; write them if new."""
    path = folder / "settings.json"
    fix = f"use another output folder (--out) or delete {out_dir} to start over"
    if not path.exists():
        if (folder / "days").is_dir() and any((folder / "days").iterdir()):
            raise InvalidRequestError(Message("{folder}: holds day files but no settings.json; {fix}",
                                              folder=folder, fix=fix))
        _write_json(path, record)
        return
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InvalidRequestError(Message("{path}: unreadable; {fix}", path=path, fix=fix)) from None
    differing = []
    for key, value in record.items():
        if stored.get(key) != value:
            if key in _SETTING_NAMES:
                differing.append(f"{_SETTING_NAMES[key]} differs")
            else:
                differing.append(f"{key} {stored.get(key)!r} there, {value!r} now")
    if differing:
        raise InvalidRequestError(
            Message("{folder}: holds a {strategy!r} study computed with other settings ({differing}); {fix}",
                    folder=folder, strategy=record['strategy'], differing='; '.join(differing), fix=fix))


def _day_paths(folder: Path, day: dt.date) -> tuple[Path, Path, Path]:
    stem = folder / "days" / day.isoformat()
    return (stem.with_name(stem.name + ".parquet"), stem.with_name(stem.name + ".windows.parquet"),
            stem.with_name(stem.name + ".state.json"))


def _finished(folder: Path, day: dt.date) -> bool:
    return all(p.exists() for p in _day_paths(folder, day))


def check_period(case: Case, settings: StudySettings) -> None:
    """Refuse a period the case's data do not cover (before anything runs)."""
    index = case.load_profiles.index
    dt_h = step_hours(index, f"data.loads ({case.park.data.loads})")
    tz = case.park.site.timezone
    first, last = index[0], index[-1] + pd.Timedelta(hours=dt_h)
    start = pd.Timestamp(settings.start).tz_localize(tz)
    end = pd.Timestamp(settings.end + dt.timedelta(days=1)).tz_localize(tz)
    if start < first or end > last:
        raise InvalidRequestError(
            Message("start, end: the study {start} … {end} is outside the case's data, which cover {first} "
                    "– {last}; pick days inside it",
                    start=settings.start.isoformat(), end=settings.end.isoformat(),
                    first=first.tz_convert(tz).isoformat(), last=last.tz_convert(tz).isoformat()))


# --------------------------------------------------------------------------- running


class _Strategy:
    """The day-by-day state of one strategy while a study runs."""

    def __init__(self, case: Case, settings: StudySettings, strategy: str, out_dir: Path, fingerprint: str,
                 overrides: dict | None) -> None:
        self.case = case
        self.strategy = strategy
        self.folder = out_dir / strategy
        self.config = rolling_config(case, settings, strategy)
        _check_settings(self.folder, settings_record(case, settings, strategy, self.config, fingerprint, overrides),
                        out_dir)
        self.reuse_models = settings.reuse_models
        self.cache = ModelCache(self.config.max_models)
        self.state: PlantState | None = None
        self.resumed_days = 0
        self.resuming = True

    def resume(self, day: dt.date) -> bool:
        """Take ``day`` from its checkpoint if it is finished and no earlier day had to be run."""
        if not (self.resuming and _finished(self.folder, day)):
            self.resuming = False
            return False
        _, _, state_path = _day_paths(self.folder, day)
        self.state = state_from_dict(json.loads(state_path.read_text(encoding="utf-8")))
        self.resumed_days += 1
        return True

    def run(self, day: dt.date, on_window: Callable[[int, int], None]) -> pd.DataFrame:
        """Run ``day``, checkpoint it, and return its windows."""
        tz = self.case.park.site.timezone
        start = pd.Timestamp(day).tz_localize(tz)
        end = pd.Timestamp(day + dt.timedelta(days=1)).tz_localize(tz)
        if not self.reuse_models:
            self.cache = ModelCache(self.config.max_models)  # every day from scratch: resumable exactly
        result = run_rolling_horizon(self.case, start, end, self.config, state=self.state, progress=on_window,
                                     cache=self.cache)
        schedule_path, windows_path, state_path = _day_paths(self.folder, day)
        _write_parquet(schedule_path, result.schedule)
        _write_parquet(windows_path, result.windows)
        _write_json(state_path, state_to_dict(result.state))  # last: marks the day finished
        self.state = result.state
        return result.windows

    def collect(self, days: list[dt.date]) -> StrategyRun:
        """Read every day back from its checkpoint, so resumed and fresh runs give identical tables."""
        schedules, windows = [], []
        for day in days:
            schedule_path, windows_path, _ = _day_paths(self.folder, day)
            schedules.append(pd.read_parquet(schedule_path))
            windows.append(pd.read_parquet(windows_path))
        return StrategyRun(self.strategy, pd.concat(schedules), pd.concat(windows, ignore_index=True),
                           self.state or PlantState(), self.resumed_days)


def check_resumable(case: Case, settings: StudySettings, out_dir: Path, overrides: dict | None = None) -> None:
    """Refuse, before anything runs, an output folder holding checkpoints of other settings."""
    check_period(case, settings)
    fingerprint = case_fingerprint(case)
    for strategy in settings.strategies:
        _Strategy(case, settings, strategy, Path(out_dir), fingerprint, overrides)


def simulate(case: Case, settings: StudySettings, out_dir: Path, progress: ProgressCallback | None = None,
             overrides: dict | None = None) -> dict[str, StrategyRun]:
    """Run (or resume) every strategy day by day with checkpoints in ``out_dir/<strategy>/``.

    Days go in order and, within a day, strategies in order, so that the
    progress and an interruption advance all strategies together. Raises
    :class:`InvalidRequestError` before running anything if the period is
    outside the data or a strategy folder holds checkpoints of other settings.
    """
    check_period(case, settings)
    fingerprint = case_fingerprint(case)
    runners = [_Strategy(case, settings, s, Path(out_dir), fingerprint, overrides) for s in settings.strategies]
    days = settings.days
    total = len(days) * len(runners)
    done = 0
    for day in days:
        for runner in runners:
            if runner.resume(day):
                done += 1
                if progress is not None:
                    progress(StudyProgress(runner.strategy, day, done, total, day_finished=True, resumed=True))
                continue

            def on_window(finished: int, windows: int, runner=runner, day=day, base=done) -> None:
                # the day's last window is reported once the day is checkpointed (below), so that a
                # finished step in the progress always has its checkpoint
                if progress is not None and 0 < windows and finished < windows:
                    progress(StudyProgress(runner.strategy, day, base + finished / windows, total))

            windows = runner.run(day, on_window)
            done += 1
            failed = windows.loc[windows["fallback"].astype(bool)]
            if len(failed):
                logger.warning("%s %s: %d of %d windows fell back to the rule-based action (%s)", runner.strategy,
                               day.isoformat(), len(failed), len(windows), failed["reason"].iloc[0])
            if progress is not None:
                progress(StudyProgress(runner.strategy, day, done, total, day_finished=True,
                                       fallback_windows=len(failed),
                                       reason=str(failed["reason"].iloc[0]) if len(failed) else ""))
    return {runner.strategy: runner.collect(days) for runner in runners}


# --------------------------------------------------------------------------- KPIs


def flatten_kpis(kpis: dict) -> dict:
    """Scalar KPIs only: nested mappings become ``key.sub`` columns; None becomes NaN."""
    flat: dict[str, Any] = {}
    for key, value in kpis.items():
        if isinstance(value, dict):
            for sub, item in value.items():
                flat[f"{key}.{sub}"] = float(item) if item is not None else math.nan
        elif isinstance(value, (list, tuple)):
            continue
        elif value is None:
            flat[key] = math.nan
        else:
            flat[key] = value
    return flat


def _window_starts(windows: pd.DataFrame, timezone: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(windows["window_start"], utc=True)).tz_convert(timezone)


def kpi_row(schedule: pd.DataFrame, windows: pd.DataFrame, park: Park) -> dict:
    """KPIs of one strategy over the rows given, with its re-plan windows counted."""
    dt_h = step_hours(schedule.index, "schedule") if len(schedule) > 1 else 0.25
    row = {"days": len(schedule) * dt_h / 24.0}
    row.update(flatten_kpis(period_kpis(schedule, park)))
    row.pop("strategy", None)
    row["windows"] = int(len(windows))
    row["fallback_windows"] = int(windows["fallback"].astype(bool).sum()) if len(windows) else 0
    return row


def add_savings(table: pd.DataFrame, by: list[str], baseline: str = BASELINE) -> pd.DataFrame:
    """Savings of every row against the ``baseline`` strategy's row with the same ``by`` values (if any).

    Adds ``baseline`` (its name), ``savings_cny`` = baseline total cost − the
    row's [CNY], ``savings_ratio`` = savings / baseline total cost and
    ``co2_reduction_kg`` = baseline CO2 − the row's [kg]; the table is returned
    unchanged when it has no row of the baseline.
    """
    if baseline not in set(table["strategy"]):
        return table
    base = table.loc[table["strategy"] == baseline, by + ["total_cost_cny", "co2_kg"]]
    base = base.rename(columns={"total_cost_cny": "_base_cost", "co2_kg": "_base_co2"})
    merged = table.merge(base, on=by, how="left") if by else table.assign(
        _base_cost=float(base["_base_cost"].iloc[0]), _base_co2=float(base["_base_co2"].iloc[0]))
    merged["baseline"] = baseline
    merged["savings_cny"] = merged["_base_cost"] - merged["total_cost_cny"]
    merged["savings_ratio"] = (merged["savings_cny"] / merged["_base_cost"]).where(merged["_base_cost"].abs() > 0)
    merged["co2_reduction_kg"] = merged["_base_co2"] - merged["co2_kg"]
    return merged.drop(columns=["_base_cost", "_base_co2"])


def study_kpis(runs: dict[str, StrategyRun], park: Park, baseline: str = BASELINE,
               ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """KPI tables of a study: the whole period, by month and by calendar year (one row per strategy each).

    Savings are stated against ``baseline`` (:func:`add_savings`).
    """
    tz = park.site.timezone
    total, monthly, annual = [], [], []
    for strategy, run in runs.items():
        schedule, windows = run.schedule, run.windows
        total.append({"strategy": strategy, **kpi_row(schedule, windows, park)})
        local = schedule.index.tz_convert(tz)
        starts = _window_starts(windows, tz) if len(windows) else pd.DatetimeIndex([], tz=tz)
        for (year, month), part in schedule.groupby([local.year, local.month], sort=True):
            in_month = (starts.year == year) & (starts.month == month)
            monthly.append({"strategy": strategy, "month": f"{year:04d}-{month:02d}",
                            **kpi_row(part, windows.loc[in_month], park)})
        for year, part in schedule.groupby(local.year, sort=True):
            annual.append({"strategy": strategy, "year": int(year),
                           **kpi_row(part, windows.loc[starts.year == year], park)})
    return (add_savings(pd.DataFrame(total), [], baseline), add_savings(pd.DataFrame(monthly), ["month"], baseline),
            add_savings(pd.DataFrame(annual), ["year"], baseline))


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _json_value(value.item())
    return value


def table_records(table: pd.DataFrame, key: str) -> dict[str, dict]:
    """Rows of a KPI table as ``{row[key]: {column: value}}`` with JSON-safe values."""
    return {str(row[key]): {c: _json_value(v) for c, v in row.items() if c != key}
            for row in table.to_dict(orient="records")}


# --------------------------------------------------------------------------- the study


def without_new_assets(case: Case) -> Case | None:
    """The case of the park without its new assets (its data shared), ``None`` when it has none."""
    if not any(case.park.new_assets.values()):
        return None
    return Case(park=case.park.without_new_assets(), folder=case.folder, _cache=case._cache)


def investment_kpis(case: Case, settings: StudySettings, out_dir: Path, runs: dict[str, StrategyRun],
                    kpis: pd.DataFrame, progress: ProgressCallback | None = None,
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The period's KPI table with the investment KPIs, and the cash flows (:mod:`dispatch.studies.investment`).

    Runs (or resumes) every strategy on the park without its new assets in
    ``out_dir/no-new-assets/``; its progress is reported as the study's last
    step (``done`` = ``total``), so that the study's own progress is unchanged.
    """
    energies = {s: asset_energy_kwh(case.park, run.schedule) for s, run in runs.items()}
    baseline = without_new_assets(case)
    costs = None
    if baseline is not None:
        total = len(settings.days) * len(settings.strategies)

        def forward(event: StudyProgress) -> None:
            if progress is not None:
                progress(dataclasses.replace(event, strategy=f"{event.strategy} (park without new assets)",
                                             done=float(total), total=total))

        base_runs = simulate(baseline, settings, out_dir / NO_NEW_ASSETS_DIR, forward)
        for strategy, run in base_runs.items():
            _write_parquet(out_dir / NO_NEW_ASSETS_DIR / strategy / "schedule.parquet", run.schedule)
        base_kpis, _, _ = study_kpis(base_runs, baseline.park, settings.baseline)
        costs = {row["strategy"]: operating_cost_cny(row) for row in base_kpis.to_dict(orient="records")}
    return add_investment(kpis, case.park, energies, costs)


def run_study(case: Case, settings: StudySettings, out_dir: str | Path, progress: ProgressCallback | None = None,
              report: bool = True) -> StudyResult:
    """Run (or resume) a study and write its outputs into ``out_dir`` (see the module docstring).

    Parameters
    ----------
    case : Case
    settings : StudySettings
    out_dir : path
        Output folder; a folder holding an interrupted run of the same
        settings is resumed, one of other settings is refused.
    progress : callable, optional
        Called with a :class:`StudyProgress` after every window and day.
    report : bool
        Write ``report.html`` (matplotlib).

    Examples
    --------
    >>> settings = StudySettings(dt.date(2026, 7, 1), dt.date(2026, 7, 7), ("no-control", "mpc"))  # + tou-arbitrage
    >>> result = run_study(load_case("cases/zhengzhou_park"), settings, "out/july")  # doctest: +SKIP
    >>> result.kpis[["strategy", "total_cost_cny", "savings_cny"]]  # doctest: +SKIP
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    baseline = without_new_assets(case)
    if baseline is not None:  # refuse checkpoints of other settings before anything runs
        check_resumable(baseline, settings, out_dir / NO_NEW_ASSETS_DIR)
    runs = simulate(case, settings, out_dir, progress)
    paths: dict[str, Path] = {}
    for strategy, run in runs.items():
        paths[f"{strategy}/schedule"] = out_dir / strategy / "schedule.parquet"
        _write_parquet(paths[f"{strategy}/schedule"], run.schedule)
        _write_parquet(out_dir / strategy / "windows.parquet", run.windows)
    kpis, monthly, annual = study_kpis(runs, case.park, settings.baseline)
    kpis, cash_flows = investment_kpis(case, settings, out_dir, runs, kpis, progress)
    paths["cash_flows"] = out_dir / "cash_flows.csv"
    _write_atomic(paths["cash_flows"], lambda p: cash_flows.to_csv(p, index=False, float_format="%.6f"))
    paths["kpis_monthly"] = out_dir / "kpis_monthly.csv"
    paths["kpis_annual"] = out_dir / "kpis_annual.csv"
    paths["kpis"] = out_dir / "kpis.json"
    _write_atomic(paths["kpis_monthly"], lambda p: monthly.to_csv(p, index=False, float_format="%.6g"))
    _write_atomic(paths["kpis_annual"], lambda p: annual.to_csv(p, index=False, float_format="%.6g"))
    meta = {
        "case": case.name,
        "case_folder": str(case.folder),
        "start": settings.start.isoformat(),
        "end": settings.end.isoformat(),
        "days": len(settings.days),
        "horizon_h": settings.horizon_h,
        "replan_h": settings.replan_h,
        "seed": settings.seed,
        "reuse_models": settings.reuse_models,
        "baseline": settings.baseline,
        "economics": case.park.economics.model_dump(mode="json"),
    }
    _write_json(paths["kpis"], {**meta, "strategies": table_records(kpis, "strategy")})
    result = StudyResult(runs=runs, kpis=kpis, monthly=monthly, annual=annual, paths=paths)
    if report:
        from dispatch.studies.report import write_study_report

        paths["report"] = out_dir / "report.html"
        _write_atomic(paths["report"], lambda p: write_study_report(p, result, case.park, meta))
    result.wall_s = time.perf_counter() - started
    logger.info("study of %s written to %s in %.1f s", case.name, out_dir, result.wall_s)
    return result


__all__ = [
    "BASELINE", "StudyProgress", "add_savings", "check_resumable", "StudyResult", "StudySettings", "StrategyRun", "case_fingerprint",
    "check_period", "kpi_row", "run_study", "simulate", "study_kpis",
]
