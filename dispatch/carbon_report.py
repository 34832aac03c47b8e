"""The carbon report: a self-contained HTML page of :func:`dispatch.carbon.carbon_by_day`'s table.

A plotly bar chart of each day's scope 2 and avoided CO2 (plotly.js embedded,
so the page opens offline) and the table, labelled in English or Chinese.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from dispatch.studies.report import CSS, html_table
from microgrid.errors import InvalidRequestError
from microgrid.messages import Message

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Carbon metering — {case} — {month}",
        "chart": "Daily CO2: scope 2 (grid import) and avoided by on-site renewables",
        "day": "day", "kg": "CO2 [kg]",
        "scope2_co2_kg": "scope 2 CO2 [kg]", "avoided_co2_kg": "avoided CO2 [kg]",
        "scope1_co2_kg": "scope 1 CO2 [kg]", "total_co2_kg": "scope 1 + 2 CO2 [kg]",
        "import_kwh": "grid import [kWh]",
        "consumption_kwh": "consumption [kWh]", "renewable_onsite_kwh": "renewables used on site [kWh]",
        "renewable_share": "renewable share", "intensity_kg_per_kwh": "intensity [kg CO2/kWh]",
        "gec_mwh": "GEC energy [MWh]", "gec_certificates": "GECs [certificates]", "date": "date",
        "month_total": "month total",
        "factor": "Grid emission factor: {factor:g} kg CO2/kWh — {source}.",
        "coverage": "Days computed: {first} … {last} ({days} of the month's {month_days}); the month total covers "
                    "these days only.",
        "strategy": "Operation: {strategy} (rolling horizon).",
        "plans": "From the park's stored plans: {plans} plan(s); each step from the newest plan covering it.",
        "no_fuels": "Scope 1 is zero: the park burns no fuel on site.",
        "fuels": "Scope 1, fuels burnt on site: {fuels}.",
        "fuel": "{name} ({fuel}, {factor:g} kg CO2/GJ: {source})",
        "notes": "Exports are not credited. Green electricity "
                 "certificates (GECs): one per whole MWh of on-site renewable generation in the month; the day "
                 "rows carry the fractional MWh. Selling the certificates transfers the avoided emissions.",
    },
    "zh": {
        "title": "碳计量 — {case} — {month}",
        "chart": "每日二氧化碳：范围二（电网购电）排放与场内可再生能源减排量",
        "day": "日期", "kg": "二氧化碳 [kg]",
        "scope2_co2_kg": "范围二排放 [kg]", "avoided_co2_kg": "减排量 [kg]",
        "scope1_co2_kg": "范围一排放 [kg]", "total_co2_kg": "范围一和范围二排放 [kg]",
        "import_kwh": "电网购电量 [kWh]",
        "consumption_kwh": "用电量 [kWh]", "renewable_onsite_kwh": "场内消纳可再生电量 [kWh]",
        "renewable_share": "可再生能源占比", "intensity_kg_per_kwh": "排放强度 [kg CO2/kWh]",
        "gec_mwh": "绿证电量 [MWh]", "gec_certificates": "绿证 [张]", "date": "日期",
        "month_total": "月合计",
        "factor": "电网排放因子：{factor:g} kg CO2/kWh — {source}。",
        "coverage": "计算日期：{first} … {last}（本月 {month_days} 天中的 {days} 天）；月合计仅含这些天。",
        "strategy": "运行策略：{strategy}（滚动优化）。",
        "plans": "依据园区已存的调度计划：共 {plans} 个；每个时段取覆盖该时段的最新计划。",
        "no_fuels": "范围一排放为零：园区场内不燃烧燃料。",
        "fuels": "范围一，场内燃料燃烧：{fuels}。",
        "fuel": "{name}（{fuel}，{factor:g} kg CO2/GJ：{source}）",
        "notes": "上网电量不计入减排。绿证：当月场内可再生能源发电量每满 1 MWh "
                 "核发一张；日数据为不足整数的 MWh。出售绿证即转让相应的减排量。",
    },
}
"""The report's labels by language."""

TABLE_COLUMNS = ("date", "import_kwh", "consumption_kwh", "renewable_onsite_kwh", "renewable_share",
                 "scope1_co2_kg", "scope2_co2_kg", "total_co2_kg", "avoided_co2_kg", "intensity_kg_per_kwh", "gec_mwh",
                 "gec_certificates")
FORMATS = {"renewable_share": "{:.1%}", "intensity_kg_per_kwh": "{:.4f}", "gec_mwh": "{:.3f}",
           "gec_certificates": "{:,.0f}"}


def labels(lang: str) -> dict[str, str]:
    """The labels of ``lang`` (``en`` or ``zh``)."""
    if lang not in LABELS:
        raise InvalidRequestError(Message("lang: unknown {lang!r}; choose one of {languages}",
                                          lang=lang, languages=', '.join(LABELS)))
    return LABELS[lang]


def daily_chart_html(table: pd.DataFrame, lang: str) -> str:
    """The daily bar chart of scope 2 and avoided CO2, as an HTML fragment with plotly.js embedded."""
    import plotly.graph_objects as go

    text = labels(lang)
    days = table.loc[table["period"] == "day"]
    fig = go.Figure()
    fig.add_bar(x=list(days["date"]), y=list(days["scope2_co2_kg"]), name=text["scope2_co2_kg"],
                marker_color="#7f7f7f")
    fig.add_bar(x=list(days["date"]), y=list(days["avoided_co2_kg"]), name=text["avoided_co2_kg"],
                marker_color="#59a14f")
    fig.update_layout(barmode="group", title=text["chart"], xaxis_title=text["day"], yaxis_title=text["kg"],
                      template="plotly_white", height=420, legend={"orientation": "h", "y": -0.2})
    fig.update_xaxes(type="category")
    return fig.to_html(full_html=False, include_plotlyjs=True, div_id="carbon-daily-chart")


def carbon_html(table: pd.DataFrame, *, case: str, month: str, factor_kg_per_kwh: float, source: str,
                month_days: int, lang: str = "en", strategy: str | None = None, plans: int | None = None,
                fuels: list[dict] | None = None) -> str:
    """The whole report page: what was computed, the factor and its source, the chart, the table, the notes.

    ``strategy`` (a rolling-horizon operation, the CLI's) or ``plans`` (how
    many stored plans, the service's) says what the schedule is; ``fuels``
    (``name``, ``fuel``, ``co2_kg_per_gj``, ``source`` each) are the park's
    scope-1 fuels.
    """
    text = labels(lang)
    days = table.loc[table["period"] == "day", "date"]
    shown = table[list(TABLE_COLUMNS)].copy()
    shown.loc[table["period"] == "month", "date"] = f"{text['month_total']} {month}"
    shown = shown.rename(columns={c: text[c] for c in TABLE_COLUMNS})
    formats = {text[c]: f for c, f in FORMATS.items()}
    formats.update({text[c]: "{:,.1f}" for c in ("import_kwh", "consumption_kwh", "renewable_onsite_kwh",
                                                  "scope1_co2_kg", "scope2_co2_kg", "total_co2_kg",
                                                  "avoided_co2_kg")})
    title = text["title"].format(case=case, month=month)
    coverage = text["coverage"].format(first=days.iloc[0], last=days.iloc[-1], days=len(days),
                                       month_days=month_days)
    basis = (text["strategy"].format(strategy=strategy) if plans is None
             else text["plans"].format(plans=plans))
    scope1 = text["no_fuels"] if not fuels else text["fuels"].format(fuels="; ".join(
        text["fuel"].format(name=f["name"], fuel=f["fuel"], factor=f["co2_kg_per_gj"], source=f["source"])
        for f in fuels))
    parts = [
        f"<p>{html.escape(basis)}</p>",
        f"<p>{html.escape(coverage)}</p>",
        f"<p>{html.escape(text['factor'].format(factor=factor_kg_per_kwh, source=source))}</p>",
        daily_chart_html(table, lang),
        html_table(shown, formats),
        f"<p>{html.escape(scope1)} {html.escape(text['notes'])}</p>",
    ]
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>\n" + "\n".join(parts)
            + "\n</body></html>\n")


def write_carbon_report(path: str | Path, table: pd.DataFrame, **kwargs) -> Path:
    """Write :func:`carbon_html` (keyword arguments as there) to ``path`` in UTF-8."""
    path = Path(path)
    path.write_text(carbon_html(table, **kwargs), encoding="utf-8")
    return path
