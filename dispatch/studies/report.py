"""Self-contained HTML reports of studies and sweeps.

Figures are drawn with matplotlib and embedded as base64 PNG, styles are
inline: a report opens offline and makes no external request.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from microgrid.park import Park  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from dispatch.studies.results import StudyResult

COLOURS = {"no-control": "#7f7f7f", "rule-based": "#3b75af", "tou-arbitrage": "#b07aa1", "mpc": "#e07b39", "perfect-foresight": "#59a14f"}

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 1150px;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.warn { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.6em 1em; }
.ok { background: #eaf6ea; border-left: 4px solid #59a14f; padding: 0.6em 1em; }
figure { margin: 1em 0; } figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; } .scroll { overflow-x: auto; }
"""

# Main KPIs of the report's tables: key, label ({baseline}: the savings' baseline, see baseline_of), format.
KPI_ROWS = [
    ("total_cost_cny", "total cost [CNY]", "{:,.0f}"),
    ("savings_cny", "savings against {baseline} [CNY]", "{:,.0f}"),
    ("savings_ratio", "savings against {baseline}", "{:.1%}"),
    ("energy_cost_cny", "energy cost [CNY]", "{:,.0f}"),
    ("export_revenue_cny", "export revenue [CNY]", "{:,.0f}"),
    ("demand_charge_cny", "demand charge [CNY]", "{:,.0f}"),
    ("battery_wear_cost_cny", "battery wear [CNY]", "{:,.0f}"),
    ("shed_cost_cny", "shed load cost [CNY]", "{:,.0f}"),
    ("pv_generation_kwh", "PV generation [kWh]", "{:,.0f}"),
    ("pv_onsite_kwh", "PV used on site [kWh]", "{:,.0f}"),
    ("pv_self_consumption_ratio", "PV self-consumption", "{:.1%}"),
    ("wind_generation_kwh", "wind generation [kWh]", "{:,.0f}"),
    ("wind_onsite_kwh", "wind used on site [kWh]", "{:,.0f}"),
    ("wind_self_consumption_ratio", "wind self-consumption", "{:.1%}"),
    ("renewable_self_consumption_ratio", "PV + wind self-consumption", "{:.1%}"),
    ("green_share_ratio", "green share", "{:.1%}"),
    ("self_sufficiency_ratio", "self-sufficiency", "{:.1%}"),
    ("grid_import_kwh", "grid import [kWh]", "{:,.0f}"),
    ("grid_export_kwh", "grid export [kWh]", "{:,.0f}"),
    ("curtailment_kwh", "PV curtailed [kWh]", "{:,.0f}"),
    ("wind_curtailment_kwh", "wind curtailed [kWh]", "{:,.0f}"),
    ("unserved_load_kwh", "load not served [kWh]", "{:,.1f}"),
    ("peak_import_kw", "peak import [kW]", "{:,.0f}"),
    ("co2_kg", "CO2 [kg]", "{:,.0f}"),
    ("co2_avoided_kg", "CO2 avoided by own generation used on site [kg]", "{:,.0f}"),
    ("co2_reduction_kg", "CO2 reduction against {baseline} [kg]", "{:,.0f}"),
    ("windows", "re-plan windows", "{:,.0f}"),
    ("fallback_windows", "windows fallen back to rule-based", "{:,.0f}"),
]


# Investment KPIs (dispatch.studies.investment): key, label, format.
INVESTMENT_ROWS = [
    ("annual_savings_cny", "annual savings [CNY/a]", "{:,.0f}"),
    ("capex_cny", "investment [CNY]", "{:,.0f}"),
    ("npv_cny", "NPV [CNY]", "{:,.0f}"),
    ("irr", "IRR", "{:.1%}"),
    ("payback_years", "simple payback [a]", "{:.1f}"),
    ("discounted_payback_years", "discounted payback [a]", "{:.1f}"),
    ("lcoe_pv_cny_per_kwh", "LCOE of the new PV [CNY/kWh]", "{:.3f}"),
    ("lcoe_wind_cny_per_kwh", "LCOE of the new wind [CNY/kWh]", "{:.3f}"),
    ("lcos_cny_per_kwh", "LCOS of the new batteries [CNY/kWh]", "{:.3f}"),
    ("battery_cycles_per_year", "battery cycles per year", "{:,.0f}"),
]


# --------------------------------------------------------------------------- building blocks


def figure_base64(fig: plt.Figure, dpi: int = 100) -> str:
    """The figure as a base64 PNG string; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def html_figure(fig: plt.Figure, caption: str) -> str:
    """An ``<figure>`` with the figure embedded as a data URI."""
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{figure_base64(fig)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def format_value(value, fmt: str | None = None) -> str:
    """A table cell: numbers by ``fmt`` (or a general format), NaN and None as blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        if fmt:
            return fmt.format(value)
        if isinstance(value, (int, np.integer)):
            return f"{value:,d}"
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def guess_format(column: str) -> str | None:
    """A display format from a column name's unit suffix."""
    if column.endswith("_ratio"):
        return "{:.1%}"
    if column.endswith(("_cny", "_kwh", "_kg", "_kw")):
        return "{:,.0f}"
    if column.endswith("_s"):
        return "{:,.1f}"
    return None


def html_table(frame: pd.DataFrame, formats: dict[str, str] | None = None, index: bool = False) -> str:
    """A plain HTML table; numbers right-aligned, formats by column (else from the unit suffix)."""
    formats = formats or {}
    table = frame.reset_index() if index else frame
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for record in table.itertuples(index=False):
        cells = []
        for column, value in zip(table.columns, record):
            numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            text = html.escape(format_value(value, formats.get(str(column), guess_format(str(column)))))
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def baseline_of(table: pd.DataFrame) -> str:
    """The name of the strategy a KPI table's savings are stated against (its ``baseline`` column)."""
    names = table["baseline"].dropna().unique() if "baseline" in table.columns else []
    return ", ".join(str(n) for n in names) or "the baseline"


def kpi_matrix(table: pd.DataFrame, key: str, kpi_rows: list[tuple[str, str, str]] | None = None) -> str:
    """KPIs as rows (default :data:`KPI_ROWS`), one column per ``table[key]`` value (strategies, scenarios)."""
    header = "".join(f"<th>{html.escape(str(v))}</th>" for v in table[key])
    rows = []
    baseline = baseline_of(table)
    for column, label, fmt in KPI_ROWS if kpi_rows is None else kpi_rows:
        if column not in table.columns or table[column].isna().all():
            continue
        label = label.format(baseline=baseline)
        cells = "".join(f'<td class="num">{html.escape(format_value(v, fmt))}</td>' for v in table[column])
        rows.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr><th>KPI</th>{header}</tr></thead><tbody>{"".join(rows)}' \
           "</tbody></table></div>"


def investment_note(table: pd.DataFrame, economics: dict | None) -> str:
    """What the investment KPIs are stated against and how the savings were scaled to a year."""
    names = table["investment_baseline"].dropna().unique() if "investment_baseline" in table.columns else []
    days = table["annualised_from_days"].dropna().unique() if "annualised_from_days" in table.columns else []
    scaled = ", ".join(f"{d:g} day{'s' if d != 1 else ''}" for d in days) or "the period"
    text = (f"<p>Investment KPIs of the new assets against <b>{html.escape('; '.join(map(str, names)))}</b> "
            f"(<code>dispatch/studies/investment.py</code>). The savings are <b>annualised from {scaled}</b> "
            "(× 365 / days): a study shorter than a year stands for the whole year, its season included. "
            "Operating cost = total cost − battery wear (the cash flow counts cell replacements instead).")
    if economics:
        text += (f" Discount rate {economics['discount_rate_frac']:.1%}, {economics['analysis_years']} years, "
                 f"tariff escalation {economics['tariff_escalation_frac_per_year']:.1%} a year; costs and their "
                 "sources: <code>docs/economics.md</code>; the yearly cash flow: <code>cash_flows.csv</code>.")
    return text + "</p>"


def html_page(title: str, parts: Iterable[str]) -> str:
    """A complete HTML document with inline styles."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>\n" + "\n".join(parts)
            + "\n</body></html>\n")


def _colour(strategy: str, k: int) -> str:
    return COLOURS.get(strategy, f"C{k}")


# --------------------------------------------------------------------------- study figures


def _grouped_bars(ax: plt.Axes, table: pd.DataFrame, column: str, strategies: list[str], scale: float = 1.0) -> None:
    months = sorted(table["month"].unique())
    x = np.arange(len(months))
    width = 0.8 / max(1, len(strategies))
    for k, strategy in enumerate(strategies):
        part = table.loc[table["strategy"] == strategy].set_index("month").reindex(months)
        ax.bar(x + (k - (len(strategies) - 1) / 2) * width, part[column].to_numpy() * scale, width,
               label=strategy, color=_colour(strategy, k))
    ax.set_xticks(x, months, rotation=45 if len(months) > 6 else 0)
    ax.axhline(0, color="black", linewidth=0.5)


def monthly_cost_figure(monthly: pd.DataFrame, strategies: list[str]) -> plt.Figure:
    """Cost by month and strategy, and savings against the table's baseline (:func:`baseline_of`)."""
    savings = "savings_cny" in monthly.columns
    fig, axes = plt.subplots(2 if savings else 1, 1, figsize=(10, 6.5 if savings else 3.8), squeeze=False)
    _grouped_bars(axes[0, 0], monthly, "total_cost_cny", strategies, 1e-3)
    axes[0, 0].set_ylabel("total cost [thousand CNY]")
    axes[0, 0].legend(fontsize=8, ncol=len(strategies))
    if savings:
        baseline = baseline_of(monthly)
        others = [s for s in strategies if s != baseline] or strategies
        _grouped_bars(axes[1, 0], monthly, "savings_cny", others, 1e-3)
        axes[1, 0].set_ylabel(f"savings against\n{baseline} [thousand CNY]")
        axes[1, 0].legend(fontsize=8, ncol=len(others))
    fig.tight_layout()
    return fig


def monthly_share_figure(monthly: pd.DataFrame, strategies: list[str]) -> plt.Figure:
    """PV self-consumption and green share by month."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=False)
    months = sorted(monthly["month"].unique())
    for ax, column, label in ((axes[0], "pv_self_consumption_ratio", "PV self-consumption [%]"),
                              (axes[1], "green_share_ratio", "green share [%]")):
        for k, strategy in enumerate(strategies):
            part = monthly.loc[monthly["strategy"] == strategy].set_index("month").reindex(months)
            ax.plot(months, 100 * part[column].to_numpy(), marker="o", label=strategy, color=_colour(strategy, k))
        ax.set_ylabel(label)
        ax.tick_params(axis="x", rotation=45 if len(months) > 6 else 0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def monthly_co2_figure(monthly: pd.DataFrame, strategies: list[str]) -> plt.Figure:
    """Grid CO2 by month and strategy."""
    fig, ax = plt.subplots(figsize=(10, 3.6))
    _grouped_bars(ax, monthly, "co2_kg", strategies, 1e-3)
    ax.set_ylabel("CO2 [t]")
    ax.legend(fontsize=8, ncol=len(strategies))
    fig.tight_layout()
    return fig


def soc_heatmap_figure(schedules: dict[str, pd.DataFrame], timezone: str) -> plt.Figure:
    """Battery SoC (sum over batteries) by day (rows) and time of day (columns), one panel per strategy."""
    n = len(schedules)
    days = len(pd.unique(next(iter(schedules.values())).index.tz_convert(timezone).date))
    height = min(9.0, 1.6 + 0.12 * days)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 1, height), squeeze=False, sharey=True)
    vmax = max(float(s["battery_soc_kwh"].max()) for s in schedules.values()) or 1.0
    image = None
    for ax, (strategy, schedule) in zip(axes[0], schedules.items()):
        local = schedule.index.tz_convert(timezone)
        frame = pd.DataFrame({"day": local.date, "minute": local.hour * 60 + local.minute,
                              "soc": schedule["battery_soc_kwh"].to_numpy()})
        grid = frame.pivot_table(index="day", columns="minute", values="soc", aggfunc="mean")
        image = ax.imshow(grid.to_numpy(), aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=vmax,
                          extent=(0, 24, len(grid), 0))
        ax.set_title(strategy, fontsize=10)
        ax.set_xticks(range(0, 25, 6))
        ax.set_xlabel("time of day [h]")
        step = max(1, len(grid) // 12)
        ax.set_yticks(np.arange(0, len(grid), step) + 0.5, [d.isoformat() for d in grid.index[::step]], fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), label="battery SoC, sum [kWh]")
    return fig


def typical_week(schedules: dict[str, pd.DataFrame], park: Park, reference: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The 7-day block (from the study's first day) whose total cost for ``reference`` is the median.

    With fewer than 7 days, the whole period. With an even number of blocks,
    the lower of the two middle ones.
    """
    from dispatch.rolling import period_kpis

    schedule = schedules[reference]
    local = schedule.index.tz_convert(park.site.timezone)
    first = local[0].normalize()
    step = local[1] - local[0] if len(local) > 1 else pd.Timedelta(minutes=15)
    end = local[-1] + step
    blocks = []
    start = first
    while start + pd.Timedelta(days=7) <= end:
        stop = start + pd.Timedelta(days=7)
        part = schedule.loc[(local >= start) & (local < stop)]
        blocks.append((period_kpis(part, park)["total_cost_cny"], start, stop))
        start = stop
    if not blocks:
        return local[0], end
    blocks.sort(key=lambda b: b[0])
    _, start, stop = blocks[(len(blocks) - 1) // 2]
    return start, stop


def week_figure(schedules: dict[str, pd.DataFrame], start: pd.Timestamp, stop: pd.Timestamp,
                timezone: str) -> plt.Figure:
    """Power balance of the week, one panel per strategy: supply above zero, charging and export below."""
    n = len(schedules)
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.8 * n + 0.6), sharex=True, squeeze=False)
    supply = (("pv_used_kw", "PV used", "#f2b701"), ("battery_discharge_kw", "battery discharge", "#3b75af"),
              ("grid_import_kw", "grid import", "#8c8c8c"))
    if all("wind_used_kw" in schedule.columns for schedule in schedules.values()):
        supply = (supply[0], ("wind_used_kw", "wind used", "#2ca6a4"), *supply[1:])
    sinks = (("battery_charge_kw", "battery charge", "#9ec5e8"), ("grid_export_kw", "grid export", "#6ab04c"))
    for ax, (strategy, schedule) in zip(axes[:, 0], schedules.items()):
        local = schedule.index.tz_convert(timezone)
        week = schedule.loc[(local >= start) & (local < stop)]
        x = week.index.tz_convert(timezone).tz_localize(None)
        level = np.zeros(len(week))
        for column, label, colour in supply:
            top = level + week[column].to_numpy()
            ax.fill_between(x, level, top, step="post", color=colour, label=label, linewidth=0)
            level = top
        level = np.zeros(len(week))
        for column, label, colour in sinks:
            bottom = level - week[column].to_numpy()
            ax.fill_between(x, level, bottom, step="post", color=colour, label=label, linewidth=0)
            level = bottom
        ax.step(x, week["load_kw"], where="post", color="black", linewidth=0.9, label="load")
        ax.step(x, week["pv_available_kw"], where="post", color="#b8860b", linewidth=0.7, linestyle="--",
                label="PV available")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_ylabel(f"{strategy}\n[kW]")
    axes[0, 0].legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=7, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _fallback_section(result: "StudyResult") -> str:
    counts = [(s, int(r.windows["fallback"].astype(bool).sum()), len(r.windows)) for s, r in result.runs.items()]
    if not any(failed for _, failed, _ in counts):
        return '<p class="ok">No re-plan window fell back to the rule-based action.</p>'
    parts = ['<div class="warn"><b>Some re-plan windows had no usable plan and followed the rule-based action '
             "instead</b> (counted in the KPIs as <code>fallback_windows</code>):<ul>"]
    for strategy, failed, total in counts:
        share = failed / max(total, 1)
        parts.append(f"<li>{html.escape(strategy)}: {failed:,} of {total:,} windows ({share:.1%})</li>")
    parts.append("</ul></div>")
    reasons = []
    for strategy, run in result.runs.items():
        failed = run.windows.loc[run.windows["fallback"].astype(bool)]
        for reason, count in failed["reason"].value_counts().head(5).items():
            first = failed.loc[failed["reason"] == reason, "window_start"].iloc[0]
            reasons.append({"strategy": strategy, "reason": reason, "windows": int(count), "first window": first})
    if reasons:
        parts.append(html_table(pd.DataFrame(reasons)))
    return "".join(parts)


def write_study_report(path: Path, result: "StudyResult", park: Park, meta: dict) -> Path:
    """Write the study's ``report.html`` to ``path``."""
    strategies = list(result.runs)
    schedules = {s: r.schedule for s, r in result.runs.items()}
    tz = park.site.timezone
    title = f"{meta['case']}: {meta['start']} … {meta['end']}"
    parts = [
        f"<p>Rolling-horizon study of <b>{html.escape(meta['case'])}</b> over {meta['days']} day(s), "
        f"{html.escape(meta['start'])} to {html.escape(meta['end'])} (local time, {html.escape(tz)}): "
        f"plans of {meta['horizon_h']:g} h re-planned every {meta['replan_h']:g} h, forecast-error seed "
        f"{meta['seed']}{', models reused across days' if meta.get('reuse_models') else ''}. "
        f"Strategies: {html.escape(', '.join(strategies))}; savings are stated against "
        f"<b>{html.escape(str(meta.get('baseline') or baseline_of(result.kpis)))}</b>. KPI definitions: "
        "<code>dispatch/kpis.py</code>; the demand charge is billed per calendar month on its peak, pro rata "
        "to the days a partial month covers.</p>",
        "<h2>Fallback windows</h2>", _fallback_section(result),
        "<h2>KPIs of the period</h2>", kpi_matrix(result.kpis, "strategy"),
    ]
    if "npv_cny" in result.kpis.columns:
        parts += ["<h2>Investment</h2>", investment_note(result.kpis, meta.get("economics")),
                  kpi_matrix(result.kpis, "strategy", INVESTMENT_ROWS)]
    parts += [
        "<h2>Cost and savings by month</h2>",
        html_figure(monthly_cost_figure(result.monthly, strategies),
                    "Total cost by month and strategy" + (f", and savings against {baseline_of(result.monthly)}"
                                                          if "savings_cny" in result.monthly.columns else "")),
        "<h2>PV self-consumption and green share by month</h2>",
        html_figure(monthly_share_figure(result.monthly, strategies),
                    "PV self-consumption (PV neither exported nor curtailed / PV available) and green share "
                    "(PV and wind used on site / (PV and wind used on site + grid import))"),
        "<h2>CO2 by month</h2>",
        html_figure(monthly_co2_figure(result.monthly, strategies), "Grid CO2 (imports × the tariff's factor)"),
        "<h2>Battery state of charge</h2>",
        html_figure(soc_heatmap_figure(schedules, tz),
                    "Battery SoC summed over the batteries, at the end of every 15-minute step: one row per day"),
    ]
    reference = "no-control" if "no-control" in schedules else strategies[0]
    start, stop = typical_week(schedules, park, reference)
    parts += [
        "<h2>A typical week</h2>",
        html_figure(week_figure(schedules, start, stop, tz),
                    f"Power balance from {start.date().isoformat()} to {(stop - pd.Timedelta(minutes=1)).date()}: "
                    f"the 7-day block with the median total cost of {reference} (the whole period if shorter)"),
        "<h2>KPIs by year</h2>", html_table(result.annual),
        "<h2>KPIs by month</h2>", html_table(result.monthly),
    ]
    Path(path).write_text(html_page(title, parts), encoding="utf-8")
    return Path(path)


# --------------------------------------------------------------------------- sweep report


def sweep_figure(table: pd.DataFrame, parameters: list[str], column: str, label: str, scale: float = 1.0) -> plt.Figure:
    """``column`` against the first parameter, one line per combination of the others (and strategy)."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    x_name = parameters[0]
    groups = [p for p in parameters[1:]] + (["strategy"] if table["strategy"].nunique() > 1 else [])
    ok = table.loc[table[column].notna()] if column in table.columns else table.iloc[0:0]
    numeric_x = pd.api.types.is_numeric_dtype(ok[x_name]) if len(ok) else False
    iterator = ok.groupby(groups, sort=True) if groups else [((), ok)]
    for k, (key, part) in enumerate(iterator):
        key = key if isinstance(key, tuple) else (key,)
        part = part.sort_values(x_name) if numeric_x else part
        x = part[x_name].to_numpy() if numeric_x else part[x_name].astype(str).to_numpy()
        name = ", ".join(f"{g}={v}" for g, v in zip(groups, key)) or column
        ax.plot(x, part[column].to_numpy() * scale, marker="o", label=name, color=f"C{k % 10}")
    ax.set_xlabel(x_name)
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    if groups:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_sweep_report(path: Path, table: pd.DataFrame, parameters: list[str], meta: dict) -> Path:
    """Write a sweep's ``report.html``: settings, wall time, KPIs against the swept parameters, the table."""
    parts = [
        f"<p>Sweep of <b>{html.escape(meta['case'])}</b>: {meta['scenarios']} scenario(s) × "
        f"{html.escape(', '.join(meta['strategies']))}, {html.escape(meta['start'])} to {html.escape(meta['end'])}, "
        f"plans of {meta['horizon_h']:g} h re-planned every {meta['replan_h']:g} h, seed {meta['seed']}; savings "
        f"against {html.escape(str(meta.get('baseline') or baseline_of(table)))}. Parameters: {html.escape(', '.join(parameters))}.</p>",
        f"<p>Run on {html.escape(meta['cluster'])}: wall time <b>{meta['wall_s']:.1f} s</b> before this report "
        f"(validation {meta['validate_s']:.1f} s, cluster start {meta['cluster_start_s']:.1f} s, scenarios "
        f"{meta['run_s']:.1f} s); the scenario runs add up to {meta['task_s']:.1f} s.</p>",
    ]
    failed = table.loc[table["error"].astype(str) != ""] if "error" in table.columns else table.iloc[0:0]
    if len(failed):
        parts.append(f'<p class="warn">{len(failed)} run(s) failed; see the <code>error</code> column.</p>')
    fallbacks = int(table["fallback_windows"].fillna(0).sum()) if "fallback_windows" in table.columns else 0
    parts.append(f'<p class="{"warn" if fallbacks else "ok"}">Re-plan windows that fell back to the rule-based '
                 f"action, over all runs: {fallbacks:,}.</p>")
    if "npv_cny" in table.columns:
        parts.append(investment_note(table, meta.get("economics")))
    for column, label, scale in (("total_cost_cny", "total cost [thousand CNY]", 1e-3),
                                 ("savings_cny", f"savings against {baseline_of(table)} [thousand CNY]", 1e-3),
                                 ("npv_cny", "NPV of the new assets [thousand CNY]", 1e-3),
                                 ("co2_kg", "CO2 [t]", 1e-3),
                                 ("pv_self_consumption_ratio", "PV self-consumption [%]", 100.0),
                                 ("green_share_ratio", "green share [%]", 100.0)):
        if column in table.columns and table[column].notna().any():
            parts.append(html_figure(sweep_figure(table, parameters, column, label, scale),
                                     f"{label} against {parameters[0]}"))
    parts += ["<h2>Scenarios</h2>", html_table(table)]
    Path(path).write_text(html_page(f"Sweep: {meta['case']}", parts), encoding="utf-8")
    return Path(path)
