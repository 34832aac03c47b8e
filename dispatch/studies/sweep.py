"""Parameter sweeps: the same study over many variants of a case, in parallel on Dask.

A sweep overrides fields of the case's ``park.yaml`` (dotted paths into the
YAML mapping, e.g. ``batteries.b1.capacity_kwh``) with lists of values, and
runs a study (:mod:`dispatch.studies.study`) for every combination: the cartesian grid
of the axes. Every scenario is validated with
:func:`microgrid.case.park_from_dict` before anything runs, so a bad path or
value is refused at once with its name.

Scenarios run as tasks of ``dask.distributed``: a local cluster of worker
processes (one per core by default) or an existing cluster given by its
scheduler address. A task receives plain data (the case folder path, the
overrides, the study settings and its output folder), loads the case itself
and returns plain KPIs. Each scenario checkpoints its days like a study, in
``DIR/scenarios/<id>/`` (``<id>`` is a digest of its overrides), so an
interrupted sweep resumes, and a grid extended with new values reuses the
scenarios already computed.

:func:`run_sweep_in_process` runs the same scenarios one after another in the
calling process, with a progress callback per window (the HTTP service's
study worker, which must not start a cluster beside the service).

Outputs: ``DIR/sweep.csv`` (one row per scenario and strategy: the overridden
values, the KPIs of the whole period with the savings against the settings'
``baseline`` strategy, the investment KPIs of the scenario's new assets
against its park without them (``npv_cny``, ``irr``, ``payback_years``...:
:mod:`dispatch.studies.investment`), the scenario's wall time),
``DIR/cash_flows.csv`` (the yearly cash flow behind them, by scenario and
strategy) and ``DIR/report.html``. The parks without new assets run like
scenarios, in ``DIR/baselines/<id>/``, one per distinct such park.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd
import yaml

from microgrid.case import CASE_FILE, Case, load_case, park_from_dict
from microgrid.messages import Message
from microgrid.yaml_text import load_yaml
from microgrid.errors import DataError, InvalidParkError, InvalidRequestError, MicrogridError
from dispatch.studies.investment import asset_energy_kwh, baseline_key, operating_cost_cny, sweep_investment
from dispatch.studies.study import (ProgressCallback, StudySettings, check_period, check_resumable, simulate, study_kpis,
                           table_records, without_new_assets)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepAxis:
    """One ``--set``: a dotted path into ``park.yaml`` and the values it takes."""

    path: str
    values: tuple
    texts: tuple[str, ...] = ()

    def text(self, k: int) -> str:
        """The value as the user wrote it."""
        return self.texts[k] if self.texts else str(self.values[k])


@dataclass(frozen=True)
class Scenario:
    """One point of the grid: ``number`` (1, 2, ...), the overrides and its folder id."""

    number: int
    overrides: dict[str, Any]

    @property
    def id(self) -> str:
        return scenario_id(self.overrides)

    def describe(self) -> str:
        return ", ".join(f"{path}={value}" for path, value in self.overrides.items())


def scenario_id(overrides: dict[str, Any]) -> str:
    """A short digest of the overrides: the name of the scenario's folder."""
    text = json.dumps(overrides, sort_keys=True, default=str)
    return "s" + hashlib.sha256(text.encode()).hexdigest()[:10]


# --------------------------------------------------------------------------- --set


def split_values(text: str) -> list[str]:
    """Split ``text`` at commas that are outside brackets, braces and quotes."""
    parts, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def parse_set(text: str) -> SweepAxis:
    """Parse ``path=v1,v2,...``; each value is read as YAML (``2000`` → int, ``0.9`` → float, ``true``...).

    Examples
    --------
    >>> parse_set("batteries.b1.capacity_kwh=0,2000,4000").values
    (0, 2000, 4000)
    """
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise InvalidRequestError(Message("--set {text!r}: write it as PATH=VALUE[,VALUE...], e.g. "
                                          "batteries.b1.capacity_kwh=0,2000,4000",
                                          text=text))
    parts = path.split(".")
    if any(not p for p in parts):
        raise InvalidRequestError(Message("--set {text!r}: {path!r} is not a dotted path such as "
                                          "batteries.b1.capacity_kwh",
                                          text=text, path=path))
    texts = split_values(raw)
    if any(t == "" for t in texts):
        raise InvalidRequestError(Message("--set {text!r}: empty value; give comma-separated values after '='",
                                          text=text))
    values = []
    for value_text in texts:
        try:
            values.append(yaml.safe_load(value_text))
        except yaml.YAMLError:
            raise InvalidRequestError(Message("--set {path}={value_text}: not a valid YAML value",
                                              path=path, value_text=value_text)) from None
    if len({json.dumps(v, sort_keys=True, default=str) for v in values}) != len(values):
        raise InvalidRequestError(Message("--set {text!r}: a value is repeated", text=text))
    return SweepAxis(path=path, values=tuple(values), texts=tuple(texts))


def apply_overrides(config: dict, overrides: dict[str, Any]) -> dict:
    """A copy of a parsed ``park.yaml`` with every ``dotted.path: value`` set.

    Missing mappings along a path are created (``tariff.prices_cny_per_kwh.flat``
    over a preset), except device ids: ``batteries.b9.capacity_kwh`` with no
    battery ``b9`` is refused, since a sweep changes devices, it does not add
    half-described ones. Unknown field names are left for
    :func:`park_from_dict` to refuse with a suggestion.
    """
    result = copy.deepcopy(config)
    for path, value in overrides.items():
        parts = path.split(".")
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            where = ".".join(parts[:depth + 1])
            if child is None:
                siblings = [k for k, v in node.items() if isinstance(v, dict)]
                if depth > 0 and siblings and len(siblings) == len(node):
                    raise InvalidParkError(
                        Message("--set {path}: no {part!r} in {parts}; known: {siblings}",
                                path=path, part=part, parts='.'.join(parts[:depth]),
                                siblings=', '.join(str(s) for s in siblings)))
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise InvalidParkError(Message("--set {path}: {where} is a value ({child!r}), not a mapping of "
                                               "fields",
                                               path=path, where=where, child=child))
            node = child
        node[parts[-1]] = value
    return result


def read_case_config(case_dir: str | Path) -> tuple[dict, Path]:
    """The parsed ``park.yaml`` of a case and its folder (not validated: see :func:`validate_sweep`)."""
    folder = Path(case_dir)
    path = folder / CASE_FILE if folder.is_dir() else folder
    if not path.is_file():
        load_case(case_dir)  # raises the one-line error of a missing case
    config = load_yaml(path.read_text(encoding="utf-8"), path.name)  # one-line errors: syntax, duplicate keys
    return config, path.parent


def scenario_case(config: dict, folder: Path, overrides: dict[str, Any], base: Case | None = None) -> Case:
    """The case described by ``config`` with ``overrides`` applied, validated, its data checked.

    ``base`` (the case without overrides) lends its already-read data when the
    scenario keeps the same data files.
    """
    park = park_from_dict(apply_overrides(config, overrides), folder=folder)
    shared = base is not None and park.data == base.park.data
    case = Case(park=park, folder=folder, _cache=base._cache if shared else {})
    case.check_data()
    return case


_DATA_CACHE: dict[tuple, pd.DataFrame] = {}
"""Data files already read in this process, by (path, modification time, size): a worker runs many
scenarios of one case, and they rarely change its data files."""
_DATA_CACHE_SIZE = 12


def _data_token(case: Case, key: str) -> tuple | None:
    path = case.folder / getattr(case.park.data, key)
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def _lend_data(case: Case) -> None:
    for key in ("weather", "loads", "heat"):
        token = _data_token(case, key)
        if token in _DATA_CACHE:
            case._cache.setdefault(key, _DATA_CACHE[token])


def _keep_data(case: Case) -> None:
    for key, frame in case._cache.items():
        token = _data_token(case, key)
        if token is not None:
            _DATA_CACHE[token] = frame
    while len(_DATA_CACHE) > _DATA_CACHE_SIZE:
        _DATA_CACHE.pop(next(iter(_DATA_CACHE)))


def load_scenario_case(case_dir: str | Path, overrides: dict[str, Any]) -> Case:
    """The case in ``case_dir`` with ``overrides`` applied (what a worker runs).

    Data files this process has already read (and that have not changed since)
    are not read again.
    """
    config, folder = read_case_config(case_dir)
    park = park_from_dict(apply_overrides(config, overrides), folder=folder)
    case = Case(park=park, folder=folder)
    _lend_data(case)
    case.check_data()
    _keep_data(case)
    return case


def scenario_grid(axes: list[SweepAxis]) -> list[Scenario]:
    """Every combination of the axes' values, the first axis varying slowest."""
    paths = [a.path for a in axes]
    return [Scenario(number=k + 1, overrides=dict(zip(paths, values)))
            for k, values in enumerate(itertools.product(*(a.values for a in axes)))]


def validate_sweep(case_dir: str | Path, axes: list[SweepAxis], settings: StudySettings,
                   out_dir: str | Path | None = None) -> list[Scenario]:
    """Check every value and every scenario before anything runs; return the scenarios.

    With ``out_dir``, also refuse scenario folders there that hold checkpoints
    of other settings. Raises a one-line :class:`InvalidParkError`,
    :class:`DataError` or :class:`InvalidRequestError` naming the ``--set``
    (or the scenario) at fault.
    """
    if not axes:
        raise InvalidRequestError(Message("--set: give at least one, e.g. --set "
                                          "batteries.b1.capacity_kwh=0,2000,4000"))
    paths = [a.path for a in axes]
    repeated = sorted({p for p in paths if paths.count(p) > 1})
    if repeated:
        raise InvalidRequestError(Message("--set {repeated}: given twice; list all its values in one --set",
                                          repeated=repeated[0]))
    base = load_case(case_dir)
    config, folder = read_case_config(case_dir)
    check_period(base, settings)
    for axis in axes:
        for k, value in enumerate(axis.values):
            try:
                scenario_case(config, folder, {axis.path: value}, base)
            except (InvalidParkError, DataError) as exc:
                message = str(exc).removeprefix(f"--set {axis.path}: ")
                raise type(exc)(f"--set {axis.path}={axis.text(k)}: {message}") from None
    scenarios = scenario_grid(axes)
    for scenario in scenarios:
        try:
            case = scenario_case(config, folder, scenario.overrides, base)
            if out_dir is not None and (Path(out_dir) / "scenarios" / scenario.id).is_dir():
                check_resumable(case, settings, Path(out_dir) / "scenarios" / scenario.id, scenario.overrides)
        except (InvalidParkError, DataError, InvalidRequestError) as exc:
            raise type(exc)(f"scenario {scenario.describe()}: {exc}") from None
    return scenarios


# --------------------------------------------------------------------------- one scenario (a Dask task)


def settings_to_dict(settings: StudySettings) -> dict:
    """Study settings as plain data, to send to a worker."""
    data = dataclasses.asdict(settings)
    data.update(start=settings.start.isoformat(), end=settings.end.isoformat(), strategies=list(settings.strategies))
    return data


def settings_from_dict(data: dict) -> StudySettings:
    """The inverse of :func:`settings_to_dict`."""
    return StudySettings(**{**data, "start": dt.date.fromisoformat(data["start"]),
                            "end": dt.date.fromisoformat(data["end"]), "strategies": tuple(data["strategies"])})


@contextlib.contextmanager
def quiet_rolling(enabled: bool = True) -> Iterator[None]:
    """Silence the per-window fallback warnings (they are counted in the KPIs instead)."""
    rolling_logger = logging.getLogger("dispatch.rolling")
    level = rolling_logger.level
    if enabled:
        rolling_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        rolling_logger.setLevel(level)


def run_scenario(case_dir: str, overrides: dict[str, Any], settings: dict, out_dir: str, quiet: bool = True,
                 progress: ProgressCallback | None = None, no_new_assets: bool = False) -> dict:
    """Run (or resume) one scenario's study: the task a Dask worker executes.

    Parameters and result are plain data (no Pyomo or pandas objects cross
    process boundaries). ``progress`` is the study's callback
    (:class:`dispatch.studies.study.StudyProgress` after every window and day), for a
    run in the calling process; whatever it raises stops the scenario.
    ``no_new_assets`` runs the scenario's park without its new assets (its
    investment baseline) instead.

    Returns
    -------
    dict
        ``kpis`` (strategy → KPIs of the period), ``asset_kwh`` (strategy →
        energy of each new asset, :func:`dispatch.studies.investment.asset_energy_kwh`),
        ``operating_cost_cny`` (strategy → its operating cost), ``wall_s``,
        ``resumed_days`` and ``error`` ('' when the run succeeded, else the one-line reason).
    """
    started = time.perf_counter()
    try:
        with quiet_rolling(quiet):
            study = settings_from_dict(settings)
            case = load_scenario_case(case_dir, overrides)
            if no_new_assets:
                case = without_new_assets(case) or case
            # a baseline's checkpoints do not depend on which scenario asked for it first
            runs = simulate(case, study, Path(out_dir), progress=progress, overrides={} if no_new_assets else overrides)
            _keep_data(case)
            kpis, _, _ = study_kpis(runs, case.park, study.baseline)
        records = table_records(kpis, "strategy")
        Path(out_dir, "kpis.json").write_text(json.dumps({"overrides": overrides, "strategies": records}, indent=2,
                                                         default=str) + "\n", encoding="utf-8")
        return {"kpis": records, "wall_s": time.perf_counter() - started,
                "asset_kwh": {s: asset_energy_kwh(case.park, run.schedule) for s, run in runs.items()},
                "operating_cost_cny": {s: operating_cost_cny(row) for s, row in records.items()},
                "resumed_days": sum(r.resumed_days for r in runs.values()), "error": ""}
    except MicrogridError as exc:
        return {"kpis": {}, "asset_kwh": {}, "operating_cost_cny": {}, "wall_s": time.perf_counter() - started,
                "resumed_days": 0, "error": str(exc)}


# --------------------------------------------------------------------------- the sweep


@dataclass
class SweepResult:
    """A finished sweep: the table, where it ran and how long it took.

    ``validate_s``: checking every scenario; ``cluster_start_s``: starting (or
    connecting to) the cluster; ``run_s``: from submitting the scenarios to
    the last result; ``wall_s``: all of it, writing the outputs included [s].
    """

    table: pd.DataFrame
    scenarios: list[Scenario]
    paths: dict[str, Path] = field(default_factory=dict)
    cluster: str = ""
    validate_s: float = 0.0
    cluster_start_s: float = 0.0
    run_s: float = 0.0
    wall_s: float = 0.0

    @property
    def failed(self) -> pd.DataFrame:
        return self.table.loc[self.table["error"] != ""]


def _cell(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else json.dumps(value)


def sweep_table(scenarios: list[Scenario], outcomes: dict[str, dict], strategies: tuple[str, ...]) -> pd.DataFrame:
    """One row per scenario and strategy: overridden values, KPIs, wall time, error."""
    rows = []
    for scenario in scenarios:
        outcome = outcomes[scenario.id]
        for strategy in strategies:
            row = {"scenario": scenario.number, **{p: _cell(v) for p, v in scenario.overrides.items()},
                   "strategy": strategy}
            row.update(outcome["kpis"].get(strategy, {}))
            row.update(wall_s=outcome["wall_s"], resumed_days=outcome["resumed_days"], error=outcome["error"],
                       folder=f"scenarios/{scenario.id}")
            rows.append(row)
    table = pd.DataFrame(rows)
    tail = ["wall_s", "resumed_days", "error", "folder"]
    return table[[c for c in table.columns if c not in tail] + tail]


BASELINES_DIR = "baselines"
"""Folder (under the sweep's) of the runs of the scenarios' parks without their new assets."""


def investment_baselines(case_dir: str | Path, scenarios: list[Scenario],
                         ) -> tuple[dict[int, Any], dict[int, str | None], dict[str, dict[str, Any]]]:
    """Every scenario's park, the folder of its investment baseline, and the baselines to run.

    Scenarios whose parks without new assets are equal (the overrides change
    only new assets, or their costs) share one baseline run, in
    ``baselines/<digest of that park>``; a scenario without new assets has
    none (``None``: it is its own baseline). Returns (scenario number →
    park, scenario number → baseline folder name, folder name → the
    overrides of a scenario that has it).
    """
    config, _ = read_case_config(case_dir)
    parks, keys, runs = {}, {}, {}
    for scenario in scenarios:
        park = parks[scenario.number] = park_from_dict(apply_overrides(config, scenario.overrides))
        key = keys[scenario.number] = baseline_key(park)
        if key is not None:
            runs.setdefault(key, scenario.overrides)
    return parks, keys, runs


LOCAL_WORKER_CONFIG = {
    # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc hand memory back to the
    # system on almost every free: pandas-heavy scenario runs took 40 % longer (3.5 s instead of 2.5 s
    # for a two-day rule-based study of the reference park). Keep the one-thread limits of the
    # numerical libraries, drop the trim threshold.
    "distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1,
                                            "OPENBLAS_NUM_THREADS": 1},
    # The statistical profiler samples the task's stack every 10 ms: about 10 % of a scenario's time.
    "distributed.worker.profile.enabled": False,
}
"""Dask settings of the workers of the local cluster (an existing cluster keeps its own)."""


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Keep Dask's start-up and shutdown chatter (INFO logs, closed-connection tracebacks) off the terminal."""
    dask_logger = logging.getLogger("distributed")
    level = dask_logger.level
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        dask_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        dask_logger.setLevel(level)


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[tuple[Any, str]]:
    """A ``dask.distributed`` client and a description of where it runs.

    To ``scheduler`` if given; else to a new local cluster of ``workers``
    single-threaded processes (default: one per core), closed at the end.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler is not None and workers is not None:
        raise InvalidRequestError(Message("--workers: sizes the local cluster only; drop it with --scheduler"))
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n < 1:
        raise InvalidRequestError(Message("--workers: must be ≥ 1, got {n}", n=n))
    with _quiet_dask(), contextlib.ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(Client(scheduler, timeout="15s"))
            except (OSError, TimeoutError, ValueError) as exc:
                raise InvalidRequestError(Message("--scheduler {scheduler}: cannot connect ({exc}); check the "
                                                  "address, or drop --scheduler to run on a local cluster",
                                                  scheduler=scheduler, exc=exc)) from None
            n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            yield client, f"the Dask cluster at {scheduler} ({n} workers)"
            return
        with dask.config.set(LOCAL_WORKER_CONFIG):  # read when the workers are created
            cluster = stack.enter_context(LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                       dashboard_address=None, silence_logs=logging.ERROR))
        client = stack.enter_context(Client(cluster))
        yield client, f"a local Dask cluster of {n} worker process(es) × 1 thread"


def run_sweep(case_dir: str | Path, axes: list[SweepAxis], settings: StudySettings, out_dir: str | Path,
              scheduler: str | None = None, workers: int | None = None,
              progress: Callable[[int, int, Scenario, dict], None] | None = None, report: bool = True,
              on_running: Callable[[str], None] | None = None) -> SweepResult:
    """Validate, run every scenario on Dask, and write ``sweep.csv`` and ``report.html``.

    Parameters
    ----------
    case_dir : path
        Case folder (workers read it: on a remote cluster it must be on a shared path).
    axes : list of SweepAxis
        From :func:`parse_set`.
    settings : StudySettings
    out_dir : path
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); default: a
        local cluster of ``workers`` processes (default: one per core).
    progress : callable, optional
        ``progress(done, total, scenario, outcome)`` after every scenario.
    on_running : callable, optional
        ``on_running(description)`` once the cluster is up and the scenarios are submitted.
    report : bool
        Write ``report.html``.
    """
    started = time.perf_counter()
    case_dir = Path(case_dir).resolve()
    out_dir = Path(out_dir).resolve()
    scenarios = validate_sweep(case_dir, axes, settings, out_dir)
    base = load_case(case_dir)
    case_name, economics = base.name, base.park.economics.model_dump(mode="json")
    baselines = investment_baselines(case_dir, scenarios)
    data = settings_to_dict(settings)
    outcomes: dict[str, dict] = {}
    base_outcomes: dict[str, dict] = {}
    validated = time.perf_counter()
    with dask_client(scheduler, workers) as (client, description):
        from dask.distributed import as_completed

        running = time.perf_counter()
        futures = {client.submit(run_scenario, str(case_dir), s.overrides, data,
                                 str(out_dir / "scenarios" / s.id), pure=False): s for s in scenarios}
        base_futures = {client.submit(run_scenario, str(case_dir), overrides, data,
                                      str(out_dir / BASELINES_DIR / key), no_new_assets=True, pure=False): key
                        for key, overrides in baselines[2].items()}
        if on_running is not None:
            on_running(description)
        done = 0
        for future in as_completed([*futures, *base_futures]):
            if future in base_futures:
                base_outcomes[base_futures[future]] = future.result()
                continue
            scenario = futures[future]
            outcomes[scenario.id] = future.result()
            done += 1
            if progress is not None:
                progress(done, len(scenarios), scenario, outcomes[scenario.id])
        ran = time.perf_counter()
    table, cash = sweep_investment(sweep_table(scenarios, outcomes, settings.strategies),
                                   {s.number: outcomes[s.id] for s in scenarios}, baselines, base_outcomes)
    result = SweepResult(table=table, scenarios=scenarios, cluster=description, validate_s=validated - started,
                         cluster_start_s=running - validated, run_s=ran - running)
    return _write_outputs(result, out_dir, axes, settings, case_name, outcomes, started, report, cash, economics)


def _write_outputs(result: SweepResult, out_dir: Path, axes: list[SweepAxis], settings: StudySettings,
                   case_name: str, outcomes: dict[str, dict], started: float, report: bool,
                   cash_flows: pd.DataFrame, economics: dict) -> SweepResult:
    """Write ``sweep.csv``, ``cash_flows.csv``, ``report.html`` and ``sweep.json`` of a finished sweep."""
    table = result.table
    out_dir.mkdir(parents=True, exist_ok=True)
    result.paths["table"] = out_dir / "sweep.csv"
    table.to_csv(result.paths["table"], index=False, float_format="%.6g")
    result.paths["cash_flows"] = out_dir / "cash_flows.csv"
    cash_flows.to_csv(result.paths["cash_flows"], index=False, float_format="%.6f")
    meta = {"case": case_name, "scenarios": len(result.scenarios), "strategies": list(settings.strategies),
            "baseline": settings.baseline,
            "economics": economics,
            "start": settings.start.isoformat(), "end": settings.end.isoformat(), "horizon_h": settings.horizon_h,
            "replan_h": settings.replan_h, "seed": settings.seed, "cluster": result.cluster,
            "validate_s": result.validate_s, "cluster_start_s": result.cluster_start_s, "run_s": result.run_s,
            "task_s": float(sum(o["wall_s"] for o in outcomes.values())),
            "wall_s": time.perf_counter() - started,
            "parameters": {a.path: [a.text(k) for k in range(len(a.values))] for a in axes}}
    if report:
        from dispatch.studies.report import write_sweep_report

        result.paths["report"] = out_dir / "report.html"
        write_sweep_report(result.paths["report"], table, [a.path for a in axes], meta)
    result.wall_s = meta["wall_s"] = time.perf_counter() - started
    result.paths["meta"] = out_dir / "sweep.json"
    result.paths["meta"].write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    logger.info("sweep of %d scenarios written to %s in %.1f s", len(result.scenarios), out_dir, result.wall_s)
    return result


def run_sweep_in_process(case_dir: str | Path, axes: list[SweepAxis], settings: StudySettings, out_dir: str | Path,
                         progress: ProgressCallback | None = None, report: bool = True) -> SweepResult:
    """:func:`run_sweep` with the scenarios run one after another in this process, no cluster.

    For a caller that is itself one worker among others (the HTTP service's
    study pool): a local cluster would start one process per core beside
    the service's own. Same outputs, checkpoints and resumption as
    :func:`run_sweep`.

    Parameters
    ----------
    progress : callable, optional
        Called with a :class:`dispatch.studies.study.StudyProgress` after every window
        and day of every scenario; ``done`` and ``total`` count the days of
        all scenarios and strategies. Whatever it raises stops the sweep
        (finished days stay checkpointed).
    """
    started = time.perf_counter()
    case_dir = Path(case_dir).resolve()
    out_dir = Path(out_dir).resolve()
    scenarios = validate_sweep(case_dir, axes, settings, out_dir)
    base = load_case(case_dir)
    case_name, economics = base.name, base.park.economics.model_dump(mode="json")
    data = settings_to_dict(settings)
    per_scenario = len(settings.days) * len(settings.strategies)
    total = per_scenario * len(scenarios)
    outcomes: dict[str, dict] = {}
    validated = time.perf_counter()
    for k, scenario in enumerate(scenarios):
        def on_progress(event, base=k * per_scenario) -> None:
            if progress is not None:
                progress(dataclasses.replace(event, done=base + event.done, total=total))

        outcomes[scenario.id] = run_scenario(str(case_dir), scenario.overrides, data,
                                             str(out_dir / "scenarios" / scenario.id), progress=on_progress)
    baselines = investment_baselines(case_dir, scenarios)

    def on_baseline(event) -> None:  # reported as the sweep's last step, so that its progress is unchanged
        if progress is not None:
            progress(dataclasses.replace(event, strategy=f"{event.strategy} (park without new assets)", done=total,
                                         total=total))

    base_outcomes = {key: run_scenario(str(case_dir), overrides, data, str(out_dir / BASELINES_DIR / key),
                                       progress=on_baseline, no_new_assets=True)
                     for key, overrides in baselines[2].items()}
    ran = time.perf_counter()
    table, cash = sweep_investment(sweep_table(scenarios, outcomes, settings.strategies),
                                   {s.number: outcomes[s.id] for s in scenarios}, baselines, base_outcomes)
    result = SweepResult(table=table, scenarios=scenarios, cluster="one process, one scenario after another",
                         validate_s=validated - started, cluster_start_s=0.0, run_s=ran - validated)
    return _write_outputs(result, out_dir, axes, settings, case_name, outcomes, started, report, cash, economics)
