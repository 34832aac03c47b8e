"""``microgrid network``: the park's electrical network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from service.cli.common import console, run_command, write_network_report

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

    run_command(action)
