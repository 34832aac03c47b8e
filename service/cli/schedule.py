"""``microgrid schedule``: plan one day of a case."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from microgrid.errors import InvalidRequestError
from service.cli.common import (EndOfHorizon, ObjectiveName, StrategyName, console, kpi_table, parse_date,
                                plan_title, run_command, write_network_report)

schedule_app = typer.Typer(rich_markup_mode=None)


@schedule_app.command()
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
    wind_forecast: Annotated[Path | None, typer.Option(
        "--wind-forecast", help="Wind power forecast CSV [kW]: <group_id>_kw columns and/or one total wind_kw "
                                "split by max_p_kw, as forecast wind --out writes it; overrides wind from the "
                                "weather.")] = None,
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
                 "heat_kw": heat_forecast, "wind_kw": wind_forecast}
        if any(path is not None for path in files.values()):
            from forecasting.sources import read_meter_csv, read_power_forecast_csv, read_weather_csv

            names = {"weather": "--weather", "load_history": "--load-history", "pv_kw": "--pv-forecast",
                     "load_kw": "--load-forecast", "heat_kw": "--heat-forecast", "wind_kw": "--wind-forecast"}
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
                also = " and wind" if case.park.wind_turbines else ""
                console.print(f"PV{also} from the weather forecast {weather.name}", highlight=False)
            if load_history is not None:
                used = ", ".join(forecasts.forecast_profiles) or "none (no column matches a profile of the case)"
                console.print(f"load forecasts from {load_history.name}: {used}; other profiles from the case's data",
                              highlight=False)
            direct = {"pv_kw": "PV", "load_kw": "loads", "heat_kw": "heat demand", "wind_kw": "wind"}
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

    run_command(action)
