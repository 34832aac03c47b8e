"""The ``microgrid`` command line.

Errors the user can cause print one line on stderr and exit with status 1;
an unexpected failure prints one line too (``--debug`` shows the traceback)
and exits with status 3. Usage errors (unknown option) exit with 2.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Callable

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from microgrid.errors import InvalidRequestError, MicrogridError

app = typer.Typer(
    name="microgrid",
    help="Dispatch optimizer for industrial-park microgrids (PV, batteries, TOU tariffs).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,   # help texts keep their units in brackets, e.g. [kW]
)
console = Console()
err_console = Console(stderr=True)

EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 3


class StrategyName(StrEnum):
    optimal = "optimal"
    rule_based = "rule-based"
    tou_arbitrage = "tou-arbitrage"
    no_control = "no-control"


class ObjectiveName(StrEnum):
    cost = "cost"
    self_consumption = "self_consumption"
    co2 = "co2"


class EndOfHorizon(StrEnum):
    value = "value"
    cyclic = "cyclic"
    minimum = "minimum"


_state = {"debug": False}


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Plan industrial-park microgrids."""
    _state["debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _run(action: Callable[[], None]) -> None:
    """Run a command body, turning every error into one line and an exit status."""
    try:
        action()
    except MicrogridError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_USER_ERROR) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a traceback
        if _state["debug"]:
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} (rerun with --debug for the traceback; "
            "please report it)", highlight=False, soft_wrap=True,
        )
        raise typer.Exit(EXIT_INTERNAL_ERROR) from None


def parse_date(value: str, option: str = "--date") -> dt.date:
    """A YYYY-MM-DD date, or :class:`InvalidRequestError` naming the option."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(f"{option}: {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-07-15") from None


KPI_ROWS = [
    ("total_cost_cny", "total cost", "CNY", "{:,.2f}"),
    ("energy_cost_cny", "energy cost", "CNY", "{:,.2f}"),
    ("export_revenue_cny", "export revenue", "CNY", "{:,.2f}"),
    ("demand_charge_cny", "demand charge", "CNY", "{:,.2f}"),
    ("demand_charge_basis", "demand charge basis", "", "{}"),
    ("month_to_date_peak_kw", "month-to-date peak", "kW", "{:,.0f}"),
    ("peak_marginal_cost_cny_per_kw", "cost of each kW of new peak", "CNY/kW", "{:,.2f}"),
    ("battery_wear_cost_cny", "battery wear", "CNY", "{:,.2f}"),
    ("pv_generation_kwh", "PV generation", "kWh", "{:,.0f}"),
    ("shed_cost_cny", "shed load cost", "CNY", "{:,.2f}"),
    ("pv_self_consumption_ratio", "PV self-consumption", "", "{:.1%}"),
    ("pv_onsite_kwh", "PV used on site", "kWh", "{:,.0f}"),
    ("green_share_ratio", "green share", "", "{:.1%}"),
    ("self_sufficiency_ratio", "self-sufficiency", "", "{:.1%}"),
    ("grid_import_kwh", "grid import", "kWh", "{:,.0f}"),
    ("grid_export_kwh", "grid export", "kWh", "{:,.0f}"),
    ("curtailment_kwh", "PV curtailed", "kWh", "{:,.0f}"),
    ("peak_import_kw", "peak import", "kW", "{:,.0f}"),
    ("co2_kg", "CO2", "kg", "{:,.0f}"),
    ("heat_demand_kwh", "heat demand", "kWh th", "{:,.0f}"),
    ("heat_pump_average_cop", "heat pump average COP", "", "{:.2f}"),
    ("min_vm_pu", "lowest voltage", "p.u.", "{:.3f}"),
    ("max_line_loading_pct", "highest line loading", "%", "{:.1f}"),
    ("max_trafo_loading_pct", "highest transformer loading", "%", "{:.1f}"),
    ("network_violations", "network limit violations", "", "{}"),
    ("network_iterations", "network-aware iterations", "", "{}"),
    ("network_unaware_violations", "violations of the network-unaware plan", "", "{}"),
    ("network_cost_increase_cny", "cost increase for the network limits", "CNY", "{:,.2f}"),
    ("objective", "objective", "", "{}"),
    ("solver_status", "status", "", "{}"),
    ("mip_gap", "MIP gap", "", "{:.2e}"),
    ("solve_time_s", "HiGHS solve time", "s", "{:.3f}"),
]


def kpi_table(kpis: dict, title: str) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for key, label, unit, fmt in KPI_ROWS:
        value = kpis.get(key)
        if value is None:
            continue
        table.add_row(label, fmt.format(value), unit)
    for device, kwh in (kpis.get("heat_served_kwh") or {}).items():
        table.add_row(f"heat produced by {device}", f"{kwh:,.0f}", "kWh th")
    for key, label in (("heat_store_discharge_kwh", "heat from stores"), ("heat_store_losses_kwh", "store losses")):
        if kpis.get(key) is not None and kpis.get("heat_store_charge_kwh"):
            table.add_row(label, f"{kpis[key]:,.0f}", "kWh th")
    for device, kwh in (kpis.get("energy_loads_kwh") or {}).items():
        table.add_row(f"energy to {device}", f"{kwh:,.0f}", "kWh")
    return table


STATUS_NOTES = {
    "optimal": "",
    "time_limit": " (stopped at the time limit: best plan found, see MIP gap)",
    "infeasible_relaxed": " (priced slack used, see below)",
}


def plan_title(case_name: str, day: dt.date, strategy: str, status: str, unmet: int = 0) -> str:
    """Title of the KPI table: the case, the day, the strategy and what the plan's status really is.

    Parameters
    ----------
    case_name, day
        The case's name and the planned local day.
    strategy : str
        The strategy asked for (``optimal``, ``rule-based``, ...).
    status : str
        The plan's :class:`dispatch.results.SolverStatus` value.
    unmet : int
        Requirements the plan does not meet (its slack entries).

    Examples
    --------
    >>> plan_title("park", dt.date(2026, 7, 15), "optimal", "infeasible_relaxed", 1)
    'park — 2026-07-15 — optimal strategy — status: infeasible_relaxed (priced slack used, see below)'
    >>> plan_title("park", dt.date(2026, 7, 15), "rule-based", "not_optimized")
    'park — 2026-07-15 — rule-based (not optimized)'
    """
    head = f"{case_name} — {day.isoformat()} — "
    if status == "not_optimized":
        title = f"{head}{strategy} (not optimized)"
        return title + (f" — {unmet} requirement(s) not met, see below" if unmet else "")
    return f"{head}{strategy} strategy — status: {status}{STATUS_NOTES.get(status, '')}"


@app.command()
def schedule(
    case_dir: Annotated[Path, typer.Argument(help="Case folder holding park.yaml.")],
    date: Annotated[str, typer.Option("--date", help="Local date to plan, YYYY-MM-DD.")],
    strategy: Annotated[StrategyName, typer.Option("--strategy", help="Dispatch strategy.")] = StrategyName.optimal,
    objective: Annotated[ObjectiveName | None, typer.Option(
        "--objective", help="Objective of the optimal strategy (default: the case's dispatch.objective).")] = None,
    end_of_horizon: Annotated[EndOfHorizon | None, typer.Option(
        "--end-of-horizon", help="Worth of energy left in the stores at the end: value (tomorrow's cheapest import "
                                 "through the losses), cyclic (end where they started) or minimum (nothing); "
                                 "default: the case's dispatch.end_of_horizon.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for schedule.csv, kpis.json, schedule.png.")] = Path("out"),
    horizon_h: Annotated[float, typer.Option("--horizon-h", help="Plan length in hours (>24 adds look-ahead).")] = 24.0,
    month_peak_kw: Annotated[float | None, typer.Option(
        "--month-peak-kw", help="Month-to-date peak import [kW] (default: from the case's data.grid_meter, else the "
                                "demand charge is priced pro rata).")] = None,
    mip_gap: Annotated[float | None, typer.Option("--mip-gap", help="Relative MIP gap (default: the case's).")] = None,
    time_limit_s: Annotated[float | None, typer.Option(
        "--time-limit-s", help="Solver time limit [s] (default: the case's).")] = None,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Write schedule.png.")] = True,
    weather: Annotated[Path | None, typer.Option(
        "--weather", help="Weather forecast CSV: PV (and heat-pump COP) from it instead of the case's weather.")] = None,
    load_history: Annotated[Path | None, typer.Option(
        "--load-history", help="Meter CSV (<profile>_kw columns): forecast those profiles from it.")] = None,
    pv_forecast: Annotated[Path | None, typer.Option(
        "--pv-forecast", help="PV forecast CSV [kW AC]: <array_id>_kw columns, or one total pv_kw split by AC "
                              "rating; overrides PV from the weather.")] = None,
    load_forecast: Annotated[Path | None, typer.Option(
        "--load-forecast", help="Load forecast CSV [kW]: one column per load profile (named as the profile).")] = None,
    heat_forecast: Annotated[Path | None, typer.Option(
        "--heat-forecast", help="Heat-demand forecast CSV [kW of heat]: one column per heat profile.")] = None,
    network: Annotated[bool, typer.Option(
        "--network/--no-network", help="AC power flow of the plan on the case's network (network.csv).")] = True,
) -> None:
    """Plan one day for a case and write schedule.csv, kpis.json and schedule.png."""

    def action() -> None:
        from dispatch.day_ahead import month_to_date_peak_from_meter, plan_day_ahead, write_outputs
        from dispatch.inputs import Forecasts, PlantState
        from dispatch.model import DispatchConfig
        from microgrid.case import load_case

        day = parse_date(date)
        if month_peak_kw is not None and not (math.isfinite(month_peak_kw) and month_peak_kw >= 0):
            raise InvalidRequestError(f"--month-peak-kw: must be a finite number ≥ 0 kW, got {month_peak_kw:g}")
        if horizon_h <= 0:
            raise InvalidRequestError(f"--horizon-h: must be > 0 hours, got {horizon_h:g}")
        if mip_gap is not None and not 0 <= mip_gap < 1:
            raise InvalidRequestError("--mip-gap: must be in [0, 1), e.g. 0.001")
        if time_limit_s is not None and time_limit_s <= 0:
            raise InvalidRequestError("--time-limit-s: must be > 0 seconds")
        case = load_case(case_dir)
        settings = case.park.dispatch
        config = DispatchConfig(
            objective=(objective.value if objective else settings.objective),
            mip_gap=settings.mip_gap if mip_gap is None else mip_gap,
            time_limit_s=settings.time_limit_s if time_limit_s is None else time_limit_s,
            end_of_horizon=(end_of_horizon.value if end_of_horizon else settings.end_of_horizon),
        )
        forecasts = None
        files = {"weather": weather, "load_history": load_history, "pv_kw": pv_forecast, "load_kw": load_forecast,
                 "heat_kw": heat_forecast}
        if any(path is not None for path in files.values()):
            from forecasting.sources import read_meter_csv, read_power_forecast_csv, read_weather_csv

            names = {"weather": "--weather", "load_history": "--load-history", "pv_kw": "--pv-forecast",
                     "load_kw": "--load-forecast", "heat_kw": "--heat-forecast"}
            readers = {"weather": read_weather_csv, "load_history": read_meter_csv}
            frames = {part: readers.get(part, read_power_forecast_csv)(path, what=f"{names[part]} ({path.name})")
                      for part, path in files.items() if path is not None}
            forecasts = Forecasts(**frames, names=names)
        peak_kw, peak_source = month_peak_kw, "--month-peak-kw"
        if peak_kw is None:
            peak_kw, peak_source = month_to_date_peak_from_meter(case, day), "data.grid_meter"
        result = plan_day_ahead(case, day, strategy.value, config, horizon_h=horizon_h,
                                state=PlantState(month_to_date_peak_kw=peak_kw), forecasts=forecasts)
        result.kpis["month_to_date_peak_source"] = peak_source if peak_kw is not None else None
        if forecasts is not None:
            if weather is not None:
                console.print(f"PV from the weather forecast {weather.name}", highlight=False)
            if load_history is not None:
                used = ", ".join(forecasts.forecast_profiles) or "none (no column matches a profile of the case)"
                console.print(f"load forecasts from {load_history.name}: {used}; other profiles from the case's data",
                              highlight=False)
            direct = {"pv_kw": "PV", "load_kw": "loads", "heat_kw": "heat demand"}
            for part, what in direct.items():
                if files[part] is not None:
                    used = ", ".join(key.split(".", 1)[1] for key, source in
                                     result.kpis.get("forecast_sources", {}).items() if source == part)
                    console.print(f"{what} from the forecast {files[part].name}: {used}", highlight=False)
        report = None
        if network and case.park.network.described:
            from microgrid.network import validate_schedule

            report = validate_schedule(case.park, result.schedule, folder=case.folder)
            result.kpis.update(report.kpis)
        paths = write_outputs(result, out, plot=plot)
        if report is not None:
            paths["network"] = write_network_report(report, out)
        console.print(kpi_table(result.kpis, plan_title(case.name, day, strategy.value, str(result.status),
                                                        len(result.slack))))
        if result.kpis.get("network_aware"):
            kp = result.kpis
            state = "no violation in AC" if kp["network_converged"] else \
                f"{kp['network_violations']} violation(s) remain (see network_violations.csv)"
            console.print(f"network-aware plan: {kp['network_iterations']} iteration(s), {state}; "
                          f"{kp['network_cost_increase_cny']:,.2f} CNY more than the network-unaware plan "
                          f"({kp['network_unaware_violations']} violation(s)); rounds in network_iterations.csv",
                          highlight=False)
        if report is not None and report.kpis["network_violations"]:
            console.print(f"[bold yellow]network: {report.kpis['network_violations']} limit violation(s); "
                          "see network.csv and network_violations.csv[/]", highlight=False)
        if result.slack:
            console.print(f"[bold yellow]The plan cannot meet {len(result.slack)} requirement(s); "
                          "it uses priced slack for them:[/]", highlight=False)
        for entry in result.slack:
            console.print(f"[yellow]  not met:[/] {escape(entry.describe())}", highlight=False)
        console.print("wrote " + ", ".join(str(p) for p in paths.values()), highlight=False)

    _run(action)


def write_network_report(report, out: Path) -> Path:
    """``network.csv`` (per step) and, when there are any, ``network_violations.csv``."""
    from microgrid.timeseries import write_timeseries_csv

    path = write_timeseries_csv(report.steps, out / "network.csv")
    if len(report.violations):
        write_timeseries_csv(report.violations.set_index("timestamp"), out / "network_violations.csv")
    return path


network_app = typer.Typer(rich_markup_mode=None, help="The park's electrical network.", no_args_is_help=True)


@network_app.command("check")
def network_check(
    case_dir: Annotated[Path, typer.Argument(help="Case folder holding park.yaml.")],
    schedule_file: Annotated[Path, typer.Option("--schedule", help="A schedule.csv of this case.")],
    out: Annotated[Path | None, typer.Option("--out", help="Folder for network.csv and network_violations.csv.")] = None,
) -> None:
    """AC power flow of a schedule, step by step: voltages, line and transformer loading, losses, violations."""

    def action() -> None:
        from microgrid.case import load_case
        from microgrid.network import validate_schedule
        from microgrid.timeseries import read_timestamped_csv

        case = load_case(case_dir)
        schedule = read_timestamped_csv(schedule_file, text_columns=("tou_period",))
        report = validate_schedule(case.park, schedule, folder=case.folder)
        table = Table(title=f"{case.name}: AC power flow of {schedule_file.name}", header_style="bold")
        table.add_column("KPI")
        table.add_column("value", justify="right")
        for key, value in report.kpis.items():
            table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
        console.print(table)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            console.print(f"wrote {write_network_report(report, out)}", highlight=False)
        if report.kpis["network_violations"]:
            for row in report.violations.head(10).itertuples():
                console.print(f"[yellow]  {row.timestamp.isoformat()} {row.element} {escape(str(row.name))}: "
                              f"{row.quantity} {row.value:.3f} beyond {row.limit:.3f}[/]", highlight=False)
            raise typer.Exit(4)

    _run(action)


app.add_typer(network_app, name="network")

from service.forecast_cli import forecast_app  # noqa: E402 - registered after the shared helpers exist

app.add_typer(forecast_app, name="forecast")
from service.study_cli import study_app  # noqa: E402 - the study and sweep commands
app.add_typer(study_app)
from service.service_cli import service_app  # noqa: E402 - the HTTP service
app.add_typer(service_app, name="service")


def run() -> None:  # pragma: no cover - console-script shim
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
