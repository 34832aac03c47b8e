"""``microgrid forecast``: PV, wind and load forecasts, and their accuracy against measurements."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from microgrid.errors import InvalidRequestError
from service.cli.common import console, parse_date, run_command

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

forecast_app = typer.Typer(rich_markup_mode=None, help="PV, wind and load forecasts from weather and metered history, and their accuracy.",
                           no_args_is_help=True)


class LoadMethod(StrEnum):
    regression = "regression"
    seasonal_naive = "seasonal_naive"


class Kind(StrEnum):
    pv = "pv"
    load = "load"


def _summary(frame: pd.DataFrame, title: str) -> Table:
    import pandas as pd

    dt_h = (frame.index[1] - frame.index[0]) / pd.Timedelta(hours=1) if len(frame) > 1 else 1.0
    table = Table(title=title, header_style="bold")
    for column in ("series", "energy [kWh]", "peak [kW]", "mean [kW]"):
        table.add_column(escape(column), justify="left" if column == "series" else "right")
    for column in frame.columns:
        table.add_row(str(column), f"{frame[column].sum() * dt_h:,.0f}", f"{frame[column].max():,.1f}",
                      f"{frame[column].mean():,.1f}")
    return table


@forecast_app.command("pv")
def forecast_pv(
    case_dir: Annotated[Path, typer.Argument(help="Case folder holding park.yaml.")],
    weather: Annotated[Path, typer.Option("--weather", help="Weather CSV (ghi[/dni/dhi] or cloud_cover, temp_air, wind_speed).")],
    out: Annotated[Path | None, typer.Option("--out", help="CSV of the AC power [kW]: <array_id>_kw per array and "
                                                          "the total pv_kw, as schedule --pv-forecast reads it.")] = None,
    cloud_model: Annotated[str, typer.Option("--cloud-model", help="kasten_czeplak or linear (cloud cover only).")] = "kasten_czeplak",
    decomposition: Annotated[str, typer.Option("--decomposition", help="erbs, dirint or disc (ghi without dni/dhi).")] = "erbs",
) -> None:
    """AC power of the case's PV arrays for the weather given."""

    def action() -> None:
        from pydantic import ValidationError

        from forecasting.pv_forecast import PVForecastConfig, forecast_pv_ac_kw, pv_forecast_table
        from forecasting.sources import read_weather_csv
        from microgrid.case import format_validation_error, load_case
        from microgrid.timeseries import write_timeseries_csv

        case = load_case(case_dir)
        try:
            config = PVForecastConfig(cloud_model=cloud_model, decomposition=decomposition)
        except ValidationError as exc:
            raise InvalidRequestError(format_validation_error(exc, PVForecastConfig, prefix="option")) from None
        table = read_weather_csv(weather)
        pv = forecast_pv_ac_kw(table, case.park.site, case.park.pv_arrays, config)
        pv.index = pv.index.tz_convert(case.park.site.timezone)
        pv = pv_forecast_table(pv)
        console.print(_summary(pv, f"{case.name}: PV forecast from {weather.name}"))
        if out is not None:
            write_timeseries_csv(pv, out, float_format="%.3f")
            console.print(f"wrote {out}", highlight=False)

    run_command(action)


@forecast_app.command("wind")
def forecast_wind(
    case_dir: Annotated[Path, typer.Argument(help="Case folder holding park.yaml with wind_turbines.")],
    out: Annotated[Path | None, typer.Option("--out", help="CSV of the electrical power [kW]: <group_id>_kw per "
                                                          "turbine group and the total wind_kw, in the layout of "
                                                          "a PV forecast file, its assumptions in # lines "
                                                          "before the header.")] = None,
    density_correction: Annotated[bool, typer.Option(
        "--density-correction/--no-density-correction",
        help="Read the power curves at the air density at hub height (from temp_air and pressure, or the "
             "site's altitude), or at their standard 1.225 kg/m³.")] = True,
) -> None:
    """Electrical power of the case's wind turbines over its weather file (10-m wind speed), through windpowerlib."""

    def action() -> None:
        from forecasting.wind import WindForecastConfig, park_wind_kw, wind_assumptions, wind_forecast_table
        from microgrid.case import load_case
        from microgrid.timeseries import write_timeseries_csv

        case = load_case(case_dir)
        groups = case.park.wind_turbines
        if not groups:
            raise InvalidRequestError(f"wind_turbines: the case in {case_dir} has none; describe them in "
                                      "park.yaml (e.g. wind_turbines: {wt1: {bus: pcc, turbine_type: E-82/2350, "
                                      "hub_height_m: 100}})")
        config = WindForecastConfig(density_correction=density_correction)
        weather = case.weather
        wind = park_wind_kw(weather, case.park.site, groups, config)
        wind.index = wind.index.tz_convert(case.park.site.timezone)
        wind = wind_forecast_table(wind)
        assumptions = wind_assumptions(weather, groups, config)
        console.print(_summary(wind, f"{case.name}: wind power from {case.park.data.weather}"))
        for line in assumptions:
            console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
        if out is not None:
            comments = [f"{case.name}: wind power forecast from {case.park.data.weather} (windpowerlib)",
                        *assumptions,
                        f"nameplate {case.park.wind_nameplate_kw:g} kW in all"]
            write_timeseries_csv(wind, out, float_format="%.3f", comments=comments)
            console.print(f"wrote {out}", highlight=False)

    run_command(action)


@forecast_app.command("load")
def forecast_load(
    case_dir: Annotated[Path, typer.Argument(help="Case folder holding park.yaml.")],
    history: Annotated[Path, typer.Option("--history", help="Meter CSV: timestamp and <name>_kw columns.")],
    date: Annotated[str, typer.Option("--date", help="Local date to forecast, YYYY-MM-DD.")],
    days: Annotated[int, typer.Option("--days", min=1, max=14, help="Number of days.")] = 1,
    method: Annotated[LoadMethod, typer.Option("--method", help="Forecast method.")] = LoadMethod.regression,
    out: Annotated[Path | None, typer.Option("--out", help="CSV of the forecast [kW].")] = None,
) -> None:
    """Forecast every column of a metered history for a date (calendar with Chinese holidays)."""

    def action() -> None:
        import pandas as pd

        from forecasting.load import forecast_load_kw
        from forecasting.sources import read_meter_csv
        from microgrid.case import load_case
        from microgrid.timeseries import step_hours, write_timeseries_csv

        case = load_case(case_dir)
        tz = case.park.site.timezone
        day = parse_date(date)
        meter = read_meter_csv(history)
        dt_h = step_hours(meter.index, history.name)
        start = pd.Timestamp(day).tz_localize(tz)
        index = pd.date_range(start, start + pd.Timedelta(days=days), freq=pd.Timedelta(hours=dt_h),
                              inclusive="left", name="timestamp")
        past = meter.loc[meter.index < start]
        if len(past) < 2:
            raise InvalidRequestError(f"--date: {day} is not after the history in {history.name}; "
                                      "forecast a date after the metered period")
        forecast = forecast_load_kw(past, index, method=method.value, timezone=tz)
        console.print(_summary(forecast, f"{case.name}: {method.value} load forecast for {day} ({days} day(s))"))
        if out is not None:
            write_timeseries_csv(forecast, out, float_format="%.3f")
            console.print(f"wrote {out}", highlight=False)

    run_command(action)


@forecast_app.command("check")
def forecast_check(
    measured: Annotated[Path, typer.Option("--measured", help="Meter CSV of measurements (<name>_kw columns).")],
    forecast: Annotated[Path, typer.Option("--forecast", help="CSV of forecasts with the same columns.")],
    kind: Annotated[Kind, typer.Option("--kind", help="pv: normalized by capacity over daylight; load: by mean load.")] = Kind.load,
    case_dir: Annotated[Path | None, typer.Option("--case", help="Case folder: site (daylight) and PV capacity.")] = None,
    capacity_kw: Annotated[float | None, typer.Option("--capacity-kw", help="PV capacity for normalizing [kW].")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the accuracy tables as JSON.")] = None,
) -> None:
    """Accuracy of forecasts against measurements: nMAE, nRMSE, bias, skill against day-ahead persistence."""

    def action() -> None:
        from forecasting.accuracy import accuracy_table, day_ahead_persistence, daylight_mask
        from forecasting.sources import read_meter_csv
        from microgrid.case import load_case

        actual = read_meter_csv(measured)
        predicted = read_meter_csv(forecast)
        common = [c for c in actual.columns if c in predicted.columns]
        if not common:
            raise InvalidRequestError(
                f"--forecast: no column in common with --measured ({', '.join(actual.columns)}); name them alike")
        steps = actual.index.intersection(predicted.index)
        if len(steps) == 0:
            raise InvalidRequestError("--forecast: no timestamp in common with --measured")
        case = load_case(case_dir) if case_dir is not None else None
        tz = case.park.site.timezone if case else None
        results = {}
        for column in common:
            truth = actual.loc[steps, column]
            forecasts = {"forecast": predicted.loc[steps, column],
                         "day-ahead persistence": day_ahead_persistence(
                             actual[column], steps, timezone=tz, clock="solar" if kind is Kind.pv else "local")}
            if kind is Kind.pv:
                capacity = capacity_kw
                if capacity is None and case is not None:
                    capacity = sum(a.ac_capacity_kw for a in case.park.pv_arrays.values())
                if capacity is None or capacity <= 0:
                    raise InvalidRequestError("--capacity-kw: PV accuracy is normalized by capacity; give "
                                              "--capacity-kw or --case")
                mask = daylight_mask(steps, case.park.site) if case is not None else truth > 0
                table = accuracy_table(truth, forecasts, normalizer=capacity, reference="day-ahead persistence",
                                       mask=mask, timezone=tz)
            else:
                table = accuracy_table(truth, forecasts, normalizer="mean_actual", reference="day-ahead persistence",
                                       timezone=tz)
            results[column] = table
            rich_table = Table(title=f"{column}: accuracy ({kind.value})", header_style="bold")
            frame = table.reset_index()
            for name in frame.columns:
                rich_table.add_column(str(name), justify="left" if frame[name].dtype == object else "right")
            for row in frame.itertuples(index=False):
                rich_table.add_row(*[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row])
            console.print(rich_table)
        if json_out is not None:
            payload = {column: json.loads(table.reset_index().to_json(orient="records")) for column, table in results.items()}
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
            console.print(f"wrote {json_out}", highlight=False)

    run_command(action)
