"""``microgrid size``: optimal sizes of the new assets on typical days, valued and checked by an MPC study.

Registered on the main app by ``app.add_typer(size_app)`` (the command joins
the top level); what it shares with the other commands is
:mod:`service.cli.common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from service.cli.common import console, parse_date, run_command

size_app = typer.Typer(rich_markup_mode=None)

SIZE_UNITS = {"pv_kw": "kWp", "wind_kw": "kW", "battery_kwh": "kWh", "battery_kw": "kW", "heat_pump_kw": "kW el",
              "thermal_store_kwh": "kWh th", "thermal_store_kw": "kW th"}
ECONOMICS_ROWS = [
    ("annualised_capex_cny", "annualised capex (cells included)", "CNY/a", "{:,.0f}"),
    ("fixed_om_cny", "fixed O&M", "CNY/a", "{:,.0f}"),
    ("operation_cny", "operation (energy − export + demand charge)", "CNY/a", "{:,.0f}"),
    ("annual_cost_cny", "annual cost", "CNY/a", "{:,.0f}"),
    ("life_cycle_cost_cny", "life-cycle cost", "CNY", "{:,.0f}"),
    ("baseline_life_cycle_cost_cny", "life-cycle cost without new assets", "CNY", "{:,.0f}"),
    ("npv_model_cny", "NPV (sizing model)", "CNY", "{:,.0f}"),
    ("annual_savings_cny", "annual savings vs park without new assets", "CNY/a", "{:,.0f}"),
    ("capex_cny", "capex", "CNY", "{:,.0f}"),
    ("npv_cny", "NPV (investment cash flow)", "CNY", "{:,.0f}"),
    ("irr", "IRR", "", "{:.1%}"),
    ("payback_years", "payback", "years", "{:.1f}"),
]


def _table(title: str, rows: list[tuple[str, str, str]]) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    for name, justify in (("", "left"), ("value", "right"), ("unit", "left")):
        table.add_column(name, justify=justify)
    for row in rows:
        table.add_row(*row)
    return table


@size_app.command("size")
def size(
    case_dir: Annotated[Path, typer.Argument(help="Case folder holding park.yaml with a sizing section.")],
    k: Annotated[int | None, typer.Option("--k", help="Typical days the year is clustered into "
                                                      "[default: the case's sizing.typical_days, 12].")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out/size"),
    verify_days: Annotated[int, typer.Option("--verify-days", help="Days of the MPC study of the sized park that "
                                                                    "checks the sizing; 0: no check.")] = 7,
    verify_start: Annotated[str | None, typer.Option("--verify-start", help="First day of the check, YYYY-MM-DD "
                                                                             "[default: the case's first day].")] = None,
    time_limit_s: Annotated[float, typer.Option("--time-limit-s", help="HiGHS time limit of the sizing [s].")] = 600.0,
) -> None:
    """Size PV, wind, batteries (energy and power), heat pumps and thermal stores at least life-cycle cost."""

    def action() -> None:
        from dispatch.sizing.model import SIZE_TECHNOLOGY
        from dispatch.sizing.run import size_case, verify, write_outputs
        from microgrid.case import load_case

        case = load_case(case_dir)
        start = parse_date(verify_start, "--verify-start") if verify_start is not None else None
        run = size_case(case, k, time_limit_s=time_limit_s)
        s = run.solution
        rows = [(name, f"{s.sizes[name]:,.0f}", SIZE_UNITS[name]) for name in SIZE_UNITS
                if getattr(run.spec.sizing, SIZE_TECHNOLOGY[name]) is not None]
        console.print(_table(f"{case.name} — sizes on {run.days.k} typical days — status: {s.status}", rows))
        e = run.economics
        console.print(_table("economics (baseline: the park without its new assets)",
                             [(label, fmt.format(e[key]), unit) for key, label, unit, fmt in ECONOMICS_ROWS
                              if e.get(key) is not None]))
        if verify_days > 0:
            first = start if start is not None else run.days.dates[0]
            run.verification = verify(run, case, first, verify_days, out / "verify")
            v = run.verification
            table = Table(title=f"check: MPC study of the sized park, {v['start']} … {v['end']} ({v['days']} days)",
                          header_style="bold")
            for name in ("figure", "sizing model", "simulated", "difference"):
                table.add_column(name, justify="left" if name == "figure" else "right")
            for row in v["rows"]:
                ratio = row["figure"].endswith("ratio")
                fmt = "{:.1%}" if ratio else "{:,.0f}"
                table.add_row(row["figure"], fmt.format(row["sizing_model"]), fmt.format(row["simulated"]),
                              f"{row['difference_frac']:+.1%}")
            console.print(table)
        paths = write_outputs(run, out)
        console.print(f"wrote {', '.join(str(p) for p in paths.values())}"
                      + (f", {out / 'verify'}/" if verify_days > 0 else ""))

    run_command(action)
