"""``microgrid carbon``: carbon metering of a month of rolling-horizon operation.

Runs the month's days with the study machinery
(:func:`dispatch.studies.study.run_study`, one strategy, checkpoints in
``OUT/study``) and writes ``carbon.csv`` (:func:`dispatch.carbon.carbon_by_day`)
and ``carbon.html`` (:mod:`dispatch.carbon_report`).
"""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from microgrid.errors import InvalidRequestError
from service.cli.common import console, run_command

carbon_app = typer.Typer(rich_markup_mode=None)

STRATEGY_HELP = ("Rolling strategy the park is operated with: no-control, rule-based, tou-arbitrage, mpc or "
                 "perfect-foresight.")


def parse_month(value: str) -> tuple[dt.date, dt.date]:
    """First and last day of a YYYY-MM month, or :class:`InvalidRequestError` naming ``--month``.

    >>> parse_month("2026-02")
    (datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    """
    message = f"--month: {value!r} is not a month; write it as YYYY-MM, e.g. 2026-07"
    if len(value) != 7 or value[4] != "-":
        raise InvalidRequestError(message)
    try:
        year, month = int(value[:4]), int(value[5:])
        first = dt.date(year, month, 1)
    except ValueError:
        raise InvalidRequestError(message) from None
    return first, first.replace(day=calendar.monthrange(year, month)[1])


def days_with_data(case, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """The whole local days of ``first`` … ``last`` the case's load data cover, or an error naming --month."""
    import pandas as pd

    from microgrid.timeseries import step_hours

    index = case.load_profiles.index
    tz = case.park.site.timezone
    dt_h = step_hours(index, f"data.loads ({case.park.data.loads})")
    start = index[0].tz_convert(tz)
    stop = (index[-1] + pd.Timedelta(hours=dt_h)).tz_convert(tz)
    data_first = start.date() if start == start.normalize() else start.date() + dt.timedelta(days=1)
    data_last = stop.date() - dt.timedelta(days=1)
    begin, end = max(first, data_first), min(last, data_last)
    if begin > end:
        raise InvalidRequestError(
            f"--month: {first:%Y-%m} has no whole day inside the case's data, which cover "
            f"{data_first.isoformat()} … {data_last.isoformat()}; pick a month they cover")
    return begin, end


@carbon_app.command("carbon")
def carbon(
    case_dir: Annotated[Path, typer.Argument(help="Case folder holding park.yaml.")],
    month: Annotated[str, typer.Option("--month", help="Month to meter, YYYY-MM (the days the data cover).")],
    strategy: Annotated[str, typer.Option("--strategy", help=STRATEGY_HELP)] = "mpc",
    out: Annotated[Path, typer.Option(
        "--out", help="Output folder for carbon.csv and carbon.html (the study's days in OUT/study).")] = Path(
        "out/carbon"),
    lang: Annotated[str, typer.Option("--lang", help="Language of the report: en or zh.")] = "en",
) -> None:
    """Scope 2 and avoided CO2, renewable share, intensity and green certificates of a month, per day.

    Operates the park over the month's days (rolling horizon, resumable) and writes carbon.csv and carbon.html.
    """

    def action() -> None:
        from dispatch.carbon import carbon_by_day, factor_source, fuels_described
        from dispatch.carbon_report import LABELS, write_carbon_report
        from dispatch.studies.study import StudySettings, run_study
        from microgrid.case import load_case

        first, last = parse_month(month)
        if lang not in LABELS:
            raise InvalidRequestError(f"--lang: unknown {lang!r}; choose one of {', '.join(LABELS)}")
        case = load_case(case_dir)
        begin, end = days_with_data(case, first, last)
        month_days = (last - first).days + 1
        covered = (end - begin).days + 1
        settings = StudySettings(start=begin, end=end, strategies=(strategy,), baseline=strategy)
        if covered < month_days:
            console.print(f"the case's data cover {covered} of the {month_days} days of {month}: "
                          f"{begin.isoformat()} … {end.isoformat()}; the month total is of these days",
                          highlight=False)
        with console.status(f"operating {escape(case.name)} with {escape(strategy)}, {covered} day(s)…"):
            result = run_study(case, settings, out / "study", report=False)
        table = carbon_by_day(result.runs[strategy].schedule, case.park)
        out.mkdir(parents=True, exist_ok=True)
        csv_path = out / "carbon.csv"
        table.to_csv(csv_path, index=False)
        source = factor_source(case.park)
        html_path = write_carbon_report(
            out / "carbon.html", table, case=case.name, month=month, strategy=strategy,
            factor_kg_per_kwh=case.park.carbon.grid.co2_kg_per_kwh, source=source, month_days=month_days, lang=lang,
            fuels=fuels_described(case.park))
        total = table.loc[table["period"] == "month"].iloc[-1]
        console.print(f"{escape(case.name)} {month}: scope 2 {total['scope2_co2_kg']:,.0f} kg CO2, scope 1 "
                      f"{total['scope1_co2_kg']:,.0f} kg, avoided "
                      f"{total['avoided_co2_kg']:,.0f} kg, renewable share {total['renewable_share']:.1%}, "
                      f"{total['gec_certificates']:,.0f} GEC(s) ({total['gec_mwh']:,.3f} MWh)", highlight=False)
        console.print(f"grid factor {case.park.carbon.grid.co2_kg_per_kwh:g} kg CO2/kWh: {escape(source)}",
                      highlight=False, soft_wrap=True)
        console.print(f"wrote {escape(str(csv_path))}, {escape(str(html_path))}", highlight=False, soft_wrap=True)

    run_command(action)
