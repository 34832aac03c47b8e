"""Plotly figures of stored plans, as plain JSON-ready dicts that the page's ``plotly.min.js`` draws.

Pure functions of a plan's schedule rows (the service's per-step dicts, units
in the column names) and the labels of the page's language (``t``). Times are
wall-clock strings in the park's timezone (plotly.js has no time zones; the
axis title names the zone). Every series is a step function: the value of a
step holds from its start to the next step (``line.shape`` ``hv``, the end of
the last step appended), and values are rounded (:data:`KW_DIGITS`) to keep
the page small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

KW_DIGITS = 1
PRICE_DIGITS = 4

TOU_COLOURS = {"valley": "rgba(46,160,67,0.13)", "flat": "rgba(140,140,140,0.10)",
               "peak": "rgba(230,140,20,0.16)", "critical_peak": "rgba(215,40,40,0.20)"}
COLOURS = {"pv_used": "#f2b705", "pv_available": "#d9822b", "grid_import": "#5b6f8a", "battery_discharge": "#2a9d8f",
           "battery_charge": "#7cc6bd", "grid_export": "#b07cc6", "load": "#1d1d1d", "price": "#8a3b12",
           "a": "#3b6fb6", "b": "#d1495b", "limit": "#c0392b", "wind_used": "#4aa3df", "wind_available": "#1b5e8c"}
DR_COLOUR = "rgba(59,111,182,0.16)"


def step_times(rows: list[dict], timezone: str, dt_h: float) -> list[str]:
    """Step starts and the end of the last step as ``YYYY-MM-DD HH:MM`` in ``timezone`` (len(rows) + 1)."""
    if not rows:
        return []
    stamps = pd.DatetimeIndex([pd.Timestamp(r["timestamp"]) for r in rows]).tz_convert(timezone)
    stamps = stamps.append(pd.DatetimeIndex([stamps[-1] + pd.Timedelta(hours=dt_h)]))
    return [s.strftime("%Y-%m-%d %H:%M") for s in stamps]


def local_time(stamp, timezone: str) -> str:
    """An ISO 8601 timestamp (with offset) as ``YYYY-MM-DD HH:MM`` in ``timezone``."""
    return pd.Timestamp(stamp).tz_convert(timezone).strftime("%Y-%m-%d %H:%M")


def series(rows: list[dict], column: str, digits: int = KW_DIGITS, sign: float = 1.0) -> list[float | None]:
    """``column`` per step (None where missing) and the last value repeated for the end point."""
    values = [None if r.get(column) is None else round(sign * float(r[column]), digits) + 0.0 for r in rows]
    return values + values[-1:]


def tou_segments(rows: list[dict]) -> list[tuple[str, int, int]]:
    """Runs of equal ``tou_period``: (period, first step, one past the last step).

    Examples
    --------
    >>> tou_segments([{"tou_period": "valley"}, {"tou_period": "valley"}, {"tou_period": "peak"}])
    [('valley', 0, 2), ('peak', 2, 3)]
    """
    runs: list[tuple[str, int, int]] = []
    for k, row in enumerate(rows):
        period = row.get("tou_period")
        if period is None:
            continue
        if runs and runs[-1][0] == period and runs[-1][2] == k:
            runs[-1] = (period, runs[-1][1], k + 1)
        else:
            runs.append((period, k, k + 1))
    return runs


def _axes(t: Callable[..., str], timezone: str, y_title: str, **extra) -> dict[str, Any]:
    return {"xaxis": {"title": {"text": t("axis_time", tz=timezone)}, "type": "date", "tickformat": "%H:%M"},
            "yaxis": {"title": {"text": y_title}, "zeroline": True}, **extra}


def _layout(title: str, t, timezone: str, y_title: str, **extra) -> dict[str, Any]:
    return {"title": {"text": title, "x": 0.01, "font": {"size": 15}}, "height": 300,
            "margin": {"l": 64, "r": 16, "t": 40, "b": 46}, "hovermode": "x unified",
            "legend": {"orientation": "h", "y": -0.28, "x": 0}, "paper_bgcolor": "white", "plot_bgcolor": "white",
            **_axes(t, timezone, y_title), **extra}


def window_shapes(windows: Iterable[tuple[str, str]], colour: str = DR_COLOUR) -> list[dict]:
    """Shaded rectangles over the plot's height for (start, end) local-time windows."""
    return [{"type": "rect", "xref": "x", "yref": "paper", "x0": start, "x1": end, "y0": 0, "y1": 1,
             "fillcolor": colour, "line": {"width": 1, "color": "rgba(59,111,182,0.7)", "dash": "dot"},
             "layer": "below"} for start, end in windows]


def _trace(x, y, name, colour, **extra) -> dict[str, Any]:
    return {"type": "scatter", "mode": "lines", "x": x, "y": y, "name": name,
            "line": {"shape": "hv", "width": 1.5, "color": colour}, **extra}


def balance_figure(rows: list[dict], timezone: str, dt_h: float, t, windows=()) -> dict:
    """Stacked power balance: PV used, wind used, battery discharge and grid import above zero, battery charge
    and export below it, the load as a line; demand-response ``windows`` shaded. A flow that is zero at every
    step (no wind on a calm day, no export) has no trace."""
    x = step_times(rows, timezone, dt_h)
    data = []
    for column, key, sign, group in (("pv_used_kw", "pv_used", 1, "in"),
                                     ("wind_used_kw", "wind_used", 1, "in"),
                                     ("battery_discharge_kw", "battery_discharge", 1, "in"),
                                     ("grid_import_kw", "grid_import", 1, "in"),
                                     ("battery_charge_kw", "battery_charge", -1, "out"),
                                     ("grid_export_kw", "grid_export", -1, "out")):
        if any(r.get(column) for r in rows):
            data.append(_trace(x, series(rows, column, sign=sign), t(key), COLOURS[key], stackgroup=group,
                               fillcolor=COLOURS[key], line={"shape": "hv", "width": 0.5, "color": COLOURS[key]}))
    data.append(_trace(x, series(rows, "load_kw"), t("load"), COLOURS["load"], line={"shape": "hv", "width": 2,
                                                                                      "color": COLOURS["load"]}))
    _add_window_legend(data, windows, t)
    return {"data": data, "layout": _layout(t("chart_balance"), t, timezone, t("axis_power_kw"),
                                            shapes=window_shapes(windows))}


def _add_window_legend(data: list, windows, t) -> None:
    if windows:
        data.append({"type": "scatter", "mode": "markers", "x": [windows[0][0]], "y": [None], "name": t("dr_window"),
                     "marker": {"symbol": "square", "size": 12, "color": DR_COLOUR}, "hoverinfo": "skip"})


def _used_under_available(rows: list[dict], timezone: str, dt_h: float, t, source: str, fill: str,
                          curtailment_key: str) -> dict:
    """``<source>_used_kw`` (filled) under ``<source>_available_kw``: the band between them is the curtailed power."""
    x = step_times(rows, timezone, dt_h)
    available = COLOURS[f"{source}_available"]
    data = [_trace(x, series(rows, f"{source}_used_kw"), t(f"{source}_used"), COLOURS[f"{source}_used"],
                   fill="tozeroy", fillcolor=fill),
            _trace(x, series(rows, f"{source}_available_kw"), f"{t(f'{source}_available')} ({t(curtailment_key)}: ▨)",
                   available, fill="tonexty", fillcolor="rgba(215,40,40,0.30)",
                   line={"shape": "hv", "width": 1.5, "color": available, "dash": "dot"})]
    return {"data": data, "layout": _layout(t(f"chart_{source}"), t, timezone, t("axis_power_kw"))}


def pv_figure(rows: list[dict], timezone: str, dt_h: float, t) -> dict:
    """PV used (filled) under PV available: the band between them is the curtailed power."""
    return _used_under_available(rows, timezone, dt_h, t, "pv", "rgba(242,183,5,0.35)", "curtailment")


def has_wind(rows: list[dict]) -> bool:
    """Whether a plan's schedule is of a park with wind turbines (it has the ``wind_available_kw`` column)."""
    return any("wind_available_kw" in r for r in rows)


def wind_figure(rows: list[dict], timezone: str, dt_h: float, t) -> dict:
    """Wind used (filled) under wind available, all turbine groups: the band between them is the curtailed power."""
    return _used_under_available(rows, timezone, dt_h, t, "wind", "rgba(74,163,223,0.35)", "wind_curtailment")


def storage_figure(rows: list[dict], timezone: str, dt_h: float, t, ids: list[str], column: str, title_key: str,
                   axis_key: str) -> dict:
    """One line per device: ``<id>.<column>`` (battery ``soc_kwh``, thermal store ``soc_th_kwh``)."""
    x = step_times(rows, timezone, dt_h)
    palette = ["#2a9d8f", "#e76f51", "#264653", "#e9c46a", "#8ab17d", "#b07cc6"]
    data = [_trace(x, series(rows, f"{device}.{column}"), device, palette[k % len(palette)])
            for k, device in enumerate(ids)]
    return {"data": data, "layout": _layout(t(title_key), t, timezone, t(axis_key))}


def price_figure(rows: list[dict], timezone: str, dt_h: float, t, windows=()) -> dict:
    """Import price as a step line over the TOU periods, shaded by period; demand-response windows outlined."""
    x = step_times(rows, timezone, dt_h)
    shapes = [{"type": "rect", "xref": "x", "yref": "paper", "x0": x[first], "x1": x[last], "y0": 0, "y1": 1,
               "fillcolor": TOU_COLOURS.get(period, "rgba(0,0,0,0.05)"), "line": {"width": 0}, "layer": "below"}
              for period, first, last in tou_segments(rows)]
    data = [_trace(x, series(rows, "price_import_cny_per_kwh", PRICE_DIGITS), t("price_import"), COLOURS["price"],
                   line={"shape": "hv", "width": 2, "color": COLOURS["price"]})]
    periods = [p for p in TOU_COLOURS if any(r.get("tou_period") == p for r in rows)]
    for period in periods:  # legend entries of the shading
        data.append({"type": "scatter", "mode": "markers", "x": [x[0]], "y": [None], "name": t(f"tou_{period}"),
                     "marker": {"symbol": "square", "size": 12, "color": TOU_COLOURS[period].replace("0.1", "0.5")},
                     "hoverinfo": "skip"})
    _add_window_legend(data, windows, t)
    layout = _layout(t("chart_price"), t, timezone, t("axis_price"),
                     shapes=shapes + window_shapes(windows, "rgba(59,111,182,0.10)"))
    layout["yaxis"]["rangemode"] = "tozero"
    return {"data": data, "layout": layout}


def aligned(rows_a: list[dict], rows_b: list[dict], column: str) -> list[tuple[str, float, float]]:
    """(timestamp, a, b) of ``column`` for the steps both plans share, in time order.

    Examples
    --------
    >>> a = [{"timestamp": "2026-07-15T00:00:00+08:00", "grid_import_kw": 5.0},
    ...      {"timestamp": "2026-07-15T00:15:00+08:00", "grid_import_kw": 6.0}]
    >>> b = [{"timestamp": "2026-07-14T16:15:00+00:00", "grid_import_kw": 2.0}]
    >>> aligned(a, b, "grid_import_kw")
    [('2026-07-15T00:15:00+08:00', 6.0, 2.0)]
    """
    by_b = {pd.Timestamp(r["timestamp"]): r for r in rows_b}
    out = []
    for row in rows_a:
        other = by_b.get(pd.Timestamp(row["timestamp"]))
        if other is not None and row.get(column) is not None and other.get(column) is not None:
            out.append((row["timestamp"], float(row[column]), float(other[column])))
    return out


def compare_figures(rows_a: list[dict], rows_b: list[dict], timezone: str, dt_h: float, t,
                    label_a: str, label_b: str) -> tuple[dict, dict] | None:
    """Grid import of both plans, and B − A per shared step [kW]; None when they share no step."""
    pairs = aligned(rows_a, rows_b, "grid_import_kw")
    if not pairs:
        return None
    x = [local_time(stamp, timezone) for stamp, _, _ in pairs]
    x_end = x + [local_time(pd.Timestamp(pairs[-1][0]) + pd.Timedelta(hours=dt_h), timezone)]
    a = [round(v, KW_DIGITS) for _, v, _ in pairs]
    b = [round(v, KW_DIGITS) for _, _, v in pairs]
    both = {"data": [_trace(x_end, a + a[-1:], label_a, COLOURS["a"]),
                     _trace(x_end, b + b[-1:], label_b, COLOURS["b"])],
            "layout": _layout(t("chart_import_both"), t, timezone, t("axis_power_kw"))}
    diff = [round(vb - va, KW_DIGITS) + 0.0 for _, va, vb in pairs]
    bars = {"data": [{"type": "bar", "x": x, "y": diff, "name": t("difference"), "offset": 0,
                      "width": dt_h * 3_600_000,
                      "marker": {"color": ["#d1495b" if d > 0 else "#2a9d8f" for d in diff]}}],
            "layout": _layout(t("chart_import_diff"), t, timezone, t("axis_power_kw"), bargap=0, showlegend=False)}
    return both, bars


def event_figure(steps: list[dict], kind: str, timezone: str, dt_h: float, t, title: str) -> dict:
    """An event's answer over its window [kW]: the baseline import, the import the event asks for (baseline −
    requested for ``reduce``, + for ``increase``), and the planned import, the band between baseline and plan
    shaded as the response."""
    x = step_times([{"timestamp": s["timestamp"]} for s in steps], timezone, dt_h)
    sign = -1.0 if kind == "reduce" else 1.0
    target = [{"timestamp": s["timestamp"], "target_kw": s["baseline_import_kw"] + sign * s["requested_kw"]}
              for s in steps]
    data = [_trace(x, series(steps, "baseline_import_kw"), t("baseline_import"), "#5b6f8a",
                   line={"shape": "hv", "width": 2, "color": "#5b6f8a", "dash": "dash"}),
            _trace(x, series(steps, "planned_import_kw"), f"{t('planned_import')} ({t('response')}: ▨)", "#1f5fa8",
                   fill="tonexty", fillcolor="rgba(42,157,143,0.35)",
                   line={"shape": "hv", "width": 2.5, "color": "#1f5fa8"}),
            _trace(x, series(target, "target_kw"), t("requested"), "#e09f3e",
                   line={"shape": "hv", "width": 2, "color": "#e09f3e", "dash": "dot"})]
    return {"data": data, "layout": _layout(title, t, timezone, t("axis_power_kw"), height=320)}


def network_figures(steps: list[dict], timezone: str, dt_h: float, t, limits: dict) -> list[dict]:
    """Per step: the most loaded transformer and line [%] (name on hover) and the voltage band [p.u.] with the
    limits; steps beyond a limit marked with red crosses."""
    x = step_times(steps, timezone, dt_h)
    figures = []
    for column, name_column, title_key, limit in (
            ("max_trafo_loading_pct", "max_trafo", "chart_trafo", limits["max_trafo_loading_pct"]),
            ("max_line_loading_pct", "max_line", "chart_line", limits["max_line_loading_pct"])):
        values = series(steps, column)
        names = [s.get(name_column) or "" for s in steps]
        over = [(x[k], v) for k, v in enumerate(values[:-1]) if v is not None and v > limit]
        data = [_trace(x, values, t(title_key), "#3b6fb6", customdata=names + names[-1:],
                       hovertemplate="%{customdata}: %{y:.1f} %<extra></extra>"),
                _trace([x[0], x[-1]], [limit, limit], t("limit"), COLOURS["limit"],
                       line={"width": 1.5, "color": COLOURS["limit"], "dash": "dash"}, hoverinfo="skip")]
        if over:
            data.append({"type": "scatter", "mode": "markers", "x": [p[0] for p in over], "y": [p[1] for p in over],
                         "name": t("violation"), "marker": {"symbol": "x", "size": 9, "color": COLOURS["limit"]}})
        figures.append({"data": data, "layout": _layout(t(title_key), t, timezone, t("axis_loading_pct"),
                                                        height=260)})
    low, high = series(steps, "min_vm_pu", 4), series(steps, "max_vm_pu", 4)
    out = [(x[k], v) for k, v in enumerate(low[:-1]) if v is not None and v < limits["min_vm_pu"]]
    out += [(x[k], v) for k, v in enumerate(high[:-1]) if v is not None and v > limits["max_vm_pu"]]
    data = [_trace(x, low, t("vm_min"), "#264653"),
            _trace(x, high, t("vm_max"), "#2a9d8f", fill="tonexty", fillcolor="rgba(42,157,143,0.2)")]
    for limit in (limits["min_vm_pu"], limits["max_vm_pu"]):
        data.append(_trace([x[0], x[-1]], [limit, limit], t("limit"), COLOURS["limit"],
                           showlegend=limit == limits["min_vm_pu"],
                           line={"width": 1.5, "color": COLOURS["limit"], "dash": "dash"}, hoverinfo="skip"))
    if out:
        data.append({"type": "scatter", "mode": "markers", "x": [p[0] for p in out], "y": [p[1] for p in out],
                     "name": t("violation"), "marker": {"symbol": "x", "size": 9, "color": COLOURS["limit"]}})
    figures.append({"data": data, "layout": _layout(t("chart_voltage"), t, timezone, t("axis_voltage_pu"), height=260)})
    return figures


def adherence_figure(rows: list[dict], timezone: str, dt_h: float, t, steps: list[dict]) -> dict:
    """The plan's grid import (a step line) and the measured import (markers at the measurements' times).

    ``steps`` are the measured steps of :func:`service.api.adherence.day_adherence`.
    """
    x = step_times(rows, timezone, dt_h)
    measured = [s for s in steps if "grid_import_kw" in s["quantities"]]
    data = [_trace(x, series(rows, "grid_import_kw"), t("planned_import"), COLOURS["grid_import"]),
            {"type": "scatter", "mode": "markers+lines", "name": t("measured_import"),
             "x": [local_time(s["measured_at"], timezone) for s in measured],
             "y": [round(s["quantities"]["grid_import_kw"]["measured"], KW_DIGITS) for s in measured],
             "marker": {"size": 6, "color": COLOURS["b"]}, "line": {"width": 1, "color": COLOURS["b"]}}]
    return {"data": data, "layout": _layout(t("chart_adherence"), t, timezone, t("axis_power_kw"))}
