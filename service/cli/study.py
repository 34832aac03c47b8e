"""``microgrid study`` and ``microgrid sweep``: offline case studies and parameter sweeps.

Both are registered on the main app by ``app.add_typer(study_app)`` (their
commands join the top level); what they share with the other commands is
:mod:`service.cli.common`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Iterator

import typer
from rich.markup import escape
from rich.progress import (BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

from service.cli.common import EXIT_USER_ERROR, console, err_console, parse_date, run_command

study_app = typer.Typer(rich_markup_mode=None)

EXIT_INTERRUPTED = 130
INTEGER_HORIZON_HELP = ("Keep on/off, unit and start decisions integer for this many hours of every plan, the rest "
                        "relaxed: at least the re-plan interval, the horizon length for all [default: 3, or the "
                        "re-plan interval if longer].")
REUSE_HELP = ("Reuse models built on earlier days (mpc, perfect-foresight), updating only their parameters; "
              "the plans are the same as with fresh models.")
STRATEGY_HELP = ("Rolling strategy: no-control, rule-based, tou-arbitrage, mpc or perfect-foresight; repeat for "
                 "several.")
BASELINE_HELP = ("Strategy the savings are stated against; added to the strategies if --strategy does not name it "
                 "[default: tou-arbitrage, the TOU rule of C&I storage].")

SUMMARY_ROWS = [
    ("total_cost_cny", "total cost", "CNY", "{:,.0f}"),
    ("savings_cny", "savings vs {baseline}", "CNY", "{:,.0f}"),
    ("savings_ratio", "savings vs {baseline}", "", "{:.1%}"),
    ("demand_charge_cny", "demand charge", "CNY", "{:,.0f}"),
    ("pv_self_consumption_ratio", "PV self-consumption", "", "{:.1%}"),
    ("wind_self_consumption_ratio", "wind self-consumption", "", "{:.1%}"),
    ("wind_curtailment_kwh", "wind curtailed", "kWh", "{:,.0f}"),
    ("green_share_ratio", "green share", "", "{:.1%}"),
    ("self_sufficiency_ratio", "self-sufficiency", "", "{:.1%}"),
    ("grid_import_kwh", "grid import", "kWh", "{:,.0f}"),
    ("peak_import_kw", "peak import", "kW", "{:,.0f}"),
    ("co2_kg", "CO2", "kg", "{:,.0f}"),
    ("windows", "re-plan windows", "", "{:,.0f}"),
    ("fallback_windows", "fell back to rule-based", "windows", "{:,.0f}"),
    ("annual_savings_cny", "new assets: annual savings", "CNY/a", "{:,.0f}"),
    ("npv_cny", "new assets: NPV", "CNY", "{:,.0f}"),
    ("irr", "new assets: IRR", "", "{:.1%}"),
    ("payback_years", "new assets: payback", "years", "{:.1f}"),
]


def investment_note(kpis) -> str:
    """What the summary's investment rows are stated against, and the annualisation."""
    if "investment_baseline" not in kpis.columns:
        return ""
    names = "; ".join(str(n) for n in kpis["investment_baseline"].dropna().unique())
    days = ", ".join(f"{d:g}" for d in kpis["annualised_from_days"].dropna().unique())
    return (f"investment KPIs against the {names}; savings annualised from {days} day(s) × 365 / days "
            "(see report.html, docs/economics.md)")


def _progress_bar(console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                    TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("left"),
                    TimeRemainingColumn(), console=console, speed_estimate_period=900.0)


@contextlib.contextmanager
def _quiet_unless_verbose() -> Iterator[None]:
    """Per-window fallback warnings would scroll the progress bar away: the CLI reports them per day instead."""
    from dispatch.studies.sweep import quiet_rolling

    with quiet_rolling(logging.getLogger().getEffectiveLevel() > logging.INFO):
        yield


@contextlib.contextmanager
def _shown_when_running(bar: Progress) -> Iterator[Progress]:
    """A progress bar that the body starts when work begins, stopped however the body ends."""
    try:
        yield bar
    finally:
        if bar.live.is_started:
            bar.stop()


@contextlib.contextmanager
def _stop_at_window_end(bar: Progress) -> Iterator[dict]:
    """Ctrl-C asks the study to stop at the end of the current window (the next progress event).

    Stopping there keeps the interrupt out of the solver and Pyomo, which would
    log pages of expressions; a second Ctrl-C stops at once. Outside the main
    thread (signals cannot be caught there) Ctrl-C acts at once.
    """
    request = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
        if request["stop"]:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        request["stop"] = True
        bar.console.print("[yellow]stopping after the current window… (Ctrl-C again to stop at once)[/]",
                          highlight=False)

    signal.signal(signal.SIGINT, handler)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)


def _dates(start: str, end: str) -> tuple[dt.date, dt.date]:

    return parse_date(start, "--start"), parse_date(end, "--end")


def _interrupted(out: Path, what: str) -> typer.Exit:

    err_console.print(f"[bold yellow]interrupted:[/] the finished {what} are kept in {escape(str(out))}; "
                      "run the same command again to resume", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_INTERRUPTED)


def _settings(start: str, end: str, strategy: list[str], horizon_h: float, replan_h: float, seed: int,
              reuse_models: bool, integer_horizon_h: float | None, baseline: str):
    from dispatch.studies.study import StudySettings

    first, last = _dates(start, end)
    settings = StudySettings(start=first, end=last, strategies=tuple(dict.fromkeys(strategy)), horizon_h=horizon_h,
                             replan_h=replan_h, seed=seed, reuse_models=reuse_models,
                             integer_horizon_h=integer_horizon_h, baseline=baseline)
    return settings


def baseline_note(baseline: str, asked: list[str]) -> str:
    """What the summary says about the savings' baseline (and that it was added, when --strategy did not name it)."""
    added = " (the baseline tou-arbitrage is added to the strategies; --baseline)".replace(
        "tou-arbitrage", baseline) if baseline not in asked else ""
    return f"savings are stated against {baseline}{added}"


def summary_table(kpis, title: str) -> Table:
    """Strategies as columns, the main KPIs as rows."""
    table = Table(title=title, header_style="bold")
    table.add_column("KPI")
    for strategy in kpis["strategy"]:
        table.add_column(str(strategy), justify="right")
    table.add_column("unit")
    baseline = ", ".join(str(b) for b in kpis["baseline"].dropna().unique()) if "baseline" in kpis.columns else ""
    for key, label, unit, fmt in SUMMARY_ROWS:
        if key not in kpis.columns:
            continue
        label = label.format(baseline=baseline)
        values = ["" if v != v else fmt.format(v) for v in kpis[key]]  # v != v: NaN
        table.add_row(label, *values, unit)
    return table


@study_app.command("study")
def study(
    case_dir: Annotated[Path, typer.Argument(help="Case folder holding park.yaml.")],
    start: Annotated[str, typer.Option("--start", help="First local day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last local day (included), YYYY-MM-DD.")],
    strategy: Annotated[list[str], typer.Option("--strategy", help=STRATEGY_HELP)],
    out: Annotated[Path, typer.Option("--out", help="Output folder (resumed if it holds the same study).")] = Path(
        "out/study"),
    horizon_h: Annotated[float, typer.Option("--horizon-h", help="Length of every plan, in hours.")] = 24.0,
    replan_h: Annotated[float, typer.Option(
        "--replan-h", help="Interval between re-plans, in hours (at least 0.25, dividing a day).")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the mpc forecast errors.")] = 0,
    reuse_models: Annotated[bool, typer.Option("--reuse-models/--fresh-models", help=REUSE_HELP)] = True,
    integer_horizon_h: Annotated[float | None, typer.Option("--integer-horizon-h", help=INTEGER_HORIZON_HELP)] = None,
    baseline: Annotated[str, typer.Option("--baseline", help=BASELINE_HELP)] = "tou-arbitrage",
) -> None:
    """Operate the park day by day over a period with rolling re-planning; compare strategies.

    Writes per strategy schedule.parquet, then cash_flows.csv, kpis_monthly.csv, kpis_annual.csv, kpis.json and
    report.html.
    Every finished day is checkpointed: after Ctrl-C, the same command resumes.
    """

    def action() -> None:
        from microgrid.case import load_case
        from dispatch.studies.study import StudyProgress, run_study

        settings = _settings(start, end, strategy, horizon_h, replan_h, seed, reuse_models, integer_horizon_h,
                             baseline)
        case = load_case(case_dir)
        days = len(settings.days)
        bar = _progress_bar(console)
        with _quiet_unless_verbose(), _shown_when_running(bar), _stop_at_window_end(bar) as request:
            task = bar.add_task(f"{case.name}", total=days * len(settings.strategies), unit="days")
            resumed = 0

            def on_progress(event: StudyProgress) -> None:
                nonlocal resumed
                if request["stop"]:
                    raise KeyboardInterrupt
                bar.start()  # on the first event: checks that refuse the study print no bar
                if event.resumed:
                    resumed += 1
                    # reset: days read back from checkpoints must not count in the speed (time left)
                    bar.reset(task, completed=event.done, description=f"resumed {resumed} day(s)")
                    return
                bar.update(task, completed=event.done, description=f"{event.strategy} {event.day.isoformat()}")
                if event.day_finished and event.fallback_windows:
                    bar.console.print(
                        f"[yellow]{event.strategy} {event.day.isoformat()}: {event.fallback_windows} window(s) "
                        f"fell back to rule-based[/] ({escape(event.reason)})", highlight=False, soft_wrap=True)

            try:
                result = run_study(case, settings, out, progress=on_progress)
            except KeyboardInterrupt:
                if bar.live.is_started:
                    bar.stop()
                raise _interrupted(out, "days") from None
        if result.resumed_days:
            console.print(f"resumed {result.resumed_days} finished day(s) from {escape(str(out))}", highlight=False)
        console.print(summary_table(result.kpis, f"{case.name} — {settings.start} … {settings.end} "
                                                 f"({days} day(s))"))
        console.print(escape(baseline_note(settings.baseline, strategy)), highlight=False)
        if investment_note(result.kpis):
            console.print(escape(investment_note(result.kpis)), highlight=False, soft_wrap=True)
        fallbacks = int(result.kpis["fallback_windows"].sum())
        if fallbacks:
            console.print(f"[bold yellow]{fallbacks} re-plan window(s) had no usable plan and followed the "
                          "rule-based action; see report.html[/]", highlight=False)
        console.print("wrote " + ", ".join(escape(str(p)) for p in result.paths.values()), highlight=False,
                      soft_wrap=True)

    run_command(action)


@study_app.command("sweep")
def sweep(
    case_dir: Annotated[Path, typer.Argument(help="Case folder holding park.yaml.")],
    set_: Annotated[list[str], typer.Option(
        "--set", help="PATH=V1,V2,...: values of a park.yaml field, e.g. batteries.b1.capacity_kwh=0,2000,4000; "
                      "repeat for a grid.")],
    start: Annotated[str, typer.Option("--start", help="First local day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last local day (included), YYYY-MM-DD.")],
    strategy: Annotated[list[str], typer.Option("--strategy", help=STRATEGY_HELP)],
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local "
                            "cluster).")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Worker processes of the local cluster (default: one per core).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder for sweep.csv and report.html.")] = Path(
        "out/sweep"),
    horizon_h: Annotated[float, typer.Option("--horizon-h", help="Length of every plan, in hours.")] = 24.0,
    replan_h: Annotated[float, typer.Option(
        "--replan-h", help="Interval between re-plans, in hours (at least 0.25, dividing a day).")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the mpc forecast errors.")] = 0,
    reuse_models: Annotated[bool, typer.Option("--reuse-models/--fresh-models", help=REUSE_HELP)] = True,
    integer_horizon_h: Annotated[float | None, typer.Option("--integer-horizon-h", help=INTEGER_HORIZON_HELP)] = None,
    baseline: Annotated[str, typer.Option("--baseline", help=BASELINE_HELP)] = "tou-arbitrage",
) -> None:
    """Run the study for every combination of --set values, in parallel on Dask; write sweep.csv and report.html.

    Every scenario is validated before anything runs. Scenarios checkpoint their days: after Ctrl-C, the same
    command resumes.
    """

    def action() -> None:
        from dispatch.studies.sweep import parse_set, run_sweep, validate_sweep

        settings = _settings(start, end, strategy, horizon_h, replan_h, seed, reuse_models, integer_horizon_h,
                             baseline)
        axes = [parse_set(text) for text in set_]
        scenarios = validate_sweep(case_dir, axes, settings, out)  # before any cluster starts
        console.print(f"{len(scenarios)} scenario(s) × {', '.join(settings.strategies)}, "
                      f"{len(settings.days)} day(s) each", highlight=False)
        bar = _progress_bar(console)
        with _shown_when_running(bar):
            task = bar.add_task("running", total=len(scenarios), unit="scenarios")

            def on_progress(done: int, total: int, scenario, outcome: dict) -> None:
                bar.update(task, completed=done, description=f"{done}/{total} done")
                if outcome["error"]:
                    bar.console.print(f"[red]scenario {scenario.number} ({escape(scenario.describe())}) failed:[/] "
                                      f"{escape(outcome['error'])}", highlight=False, soft_wrap=True)

            try:
                result = run_sweep(case_dir, axes, settings, out, scheduler=scheduler, workers=workers,
                                   progress=on_progress, on_running=lambda where: bar.start())
            except KeyboardInterrupt:
                bar.stop()
                raise _interrupted(out, "scenario days") from None
        table = Table(title=f"sweep of {len(scenarios)} scenario(s)", header_style="bold")
        labels = {"scenario": "#", "strategy": "strategy", "total_cost_cny": "cost [CNY]",
                  "savings_cny": f"savings vs {settings.baseline} [CNY]", "co2_kg": "CO2 [kg]", "pv_self_consumption_ratio": "PV self-use",
                  "npv_cny": "NPV [CNY]", "irr": "IRR", "payback_years": "payback [a]",
                  "fallback_windows": "fallbacks", "wall_s": "wall [s]"}
        columns = ["scenario", *[a.path for a in axes], *list(labels)[1:]]
        columns = [c for c in columns if c in result.table.columns]
        parameters = {a.path for a in axes}
        for column in columns:
            table.add_column(escape(labels.get(column, column)), justify="left" if column == "strategy" else "right",
                             overflow="fold")
        for record in result.table[columns].itertuples(index=False):
            cells = []
            for column, value in zip(columns, record):
                if column in parameters or column == "scenario":
                    cells.append(escape(str(value)))
                elif isinstance(value, float) and value != value:
                    cells.append("")
                elif column.endswith("_ratio") or column == "irr":
                    cells.append(f"{value:.1%}")
                elif isinstance(value, float):
                    cells.append(f"{value:,.1f}" if column in ("wall_s", "payback_years") else f"{value:,.0f}")
                else:
                    cells.append(escape(str(value)))
            table.add_row(*cells)
        console.print(table)
        console.print(escape(baseline_note(settings.baseline, strategy)), highlight=False)
        if investment_note(result.table):
            console.print(escape(investment_note(result.table)), highlight=False, soft_wrap=True)
        console.print(f"ran on {result.cluster}; total wall time {result.wall_s:.1f} s (validation "
                      f"{result.validate_s:.1f} s, cluster start {result.cluster_start_s:.1f} s, scenarios "
                      f"{result.run_s:.1f} s)", highlight=False)
        console.print("wrote " + ", ".join(escape(str(p)) for p in result.paths.values()), highlight=False,
                      soft_wrap=True)
        failed = result.failed
        if len(failed):
            err_console.print(f"[bold red]error:[/] {failed['scenario'].nunique()} scenario(s) failed: "
                              f"{escape(str(failed['error'].iloc[0]))}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR)

    run_command(action)
