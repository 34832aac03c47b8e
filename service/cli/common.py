"""What every ``microgrid`` command shares: the consoles, the exit statuses, the options' choices, error handling,
and the output helpers (the KPI table, the plan's title, the network report).

Errors the user can cause print one line on stderr and exit with status 1;
an unexpected failure prints one line too (``--debug`` shows the traceback)
and exits with status 3. Usage errors (unknown option) exit with 2.

Light on purpose: the command modules import this at start-up, so the
numerical stack (pandas, Pyomo, pvlib, pandapower) is imported inside the
commands, never here.
"""

from __future__ import annotations

import datetime as dt
import logging
from enum import StrEnum
from pathlib import Path
from typing import Callable

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from microgrid.errors import InvalidRequestError, MicrogridError

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


def configure(debug: bool, verbose: bool) -> None:
    """Set the debug flag (tracebacks) and the log level from the global options."""
    _state["debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def run_command(action: Callable[[], None]) -> None:
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
    ("export_rule", "export rule", "", "{}"),
    ("demand_charge_cny", "demand charge", "CNY", "{:,.2f}"),
    ("demand_charge_basis", "demand charge basis", "", "{}"),
    ("month_to_date_peak_kw", "month-to-date peak", "kW", "{:,.0f}"),
    ("peak_marginal_cost_cny_per_kw", "cost of each kW of new peak", "CNY/kW", "{:,.2f}"),
    ("battery_wear_cost_cny", "battery wear", "CNY", "{:,.2f}"),
    ("pv_generation_kwh", "PV generation", "kWh", "{:,.0f}"),
    ("shed_cost_cny", "shed load cost", "CNY", "{:,.2f}"),
    ("pv_self_consumption_ratio", "PV self-consumption", "", "{:.1%}"),
    ("pv_onsite_kwh", "PV used on site", "kWh", "{:,.0f}"),
    ("wind_generation_kwh", "wind generation", "kWh", "{:,.0f}"),
    ("wind_self_consumption_ratio", "wind self-consumption", "", "{:.1%}"),
    ("wind_onsite_kwh", "wind used on site", "kWh", "{:,.0f}"),
    ("renewable_self_consumption_ratio", "PV + wind self-consumption", "", "{:.1%}"),
    ("green_share_ratio", "green share", "", "{:.1%}"),
    ("self_sufficiency_ratio", "self-sufficiency", "", "{:.1%}"),
    ("grid_import_kwh", "grid import", "kWh", "{:,.0f}"),
    ("grid_export_kwh", "grid export", "kWh", "{:,.0f}"),
    ("curtailment_kwh", "PV curtailed", "kWh", "{:,.0f}"),
    ("wind_curtailment_kwh", "wind curtailed", "kWh", "{:,.0f}"),
    ("renewable_curtailment_kwh", "PV + wind curtailed", "kWh", "{:,.0f}"),
    ("renewable_curtailment_ratio", "PV + wind curtailed, share of generation", "", "{:.1%}"),
    ("peak_import_kw", "peak import", "kW", "{:,.0f}"),
    ("co2_kg", "CO2", "kg", "{:,.0f}"),
    ("co2_avoided_kg", "CO2 avoided by own generation used on site", "kg", "{:,.0f}"),
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


def write_network_report(report, out: Path) -> Path:
    """``network.csv`` (per step) and, when there are any, ``network_violations.csv``."""
    from microgrid.timeseries import write_timeseries_csv

    path = write_timeseries_csv(report.steps, out / "network.csv")
    if len(report.violations):
        write_timeseries_csv(report.violations.set_index("timestamp"), out / "network_violations.csv")
    return path
