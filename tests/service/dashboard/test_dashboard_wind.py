"""The dashboard of a park with wind turbines: the wind in the plan's charts, its KPI tile and the comparison, in
English and Chinese; a park without wind shows none of it."""

from __future__ import annotations

import json
import re

import pytest

from service.dashboard import charts, i18n
from service.dashboard.pages import fmt, pct
from tests.service.api.conftest import ADMIN, issue_key, register, tiny_files
from tests.service.dashboard.test_dashboard import en, rows, sign_in, web  # noqa: F401 - web is a fixture
from tests.service.helpers import TINY_WIND_PARK, windy_nights


def zh(key, **fields):
    return i18n.translate(key, "zh-CN", **fields)


@pytest.fixture
def windy(web, tmp_path) -> str:  # noqa: F811
    """The tiny park with its 1-MW turbine (12 m/s at night, 2 m/s by day) and the day's plan made from the page."""
    register(web, "windy", tiny_files(tmp_path, TINY_WIND_PARK, wind=windy_nights), park=TINY_WIND_PARK)
    sign_in(web, issue_key(web, "windy")["X-API-Key"])
    made = web.post("/today/plan?park=windy", data={"date": "2026-07-15"})
    assert made.status_code == 303, made.text
    return made.headers["location"]


def figures_of(html: str) -> dict[str, dict]:
    return {name: json.loads(data) for name, data in
            re.findall(r'<script type="application/json" id="data-(\w+)">(.*?)</script>', html)}


def traces(figure: dict) -> dict[str, dict]:
    return {trace["name"]: trace for trace in figure["data"]}


def the_plan(web) -> dict:  # noqa: F811
    (optimal,) = [p for p in web.get("/parks/windy/plans", headers=ADMIN).json() if p["strategy"] == "optimal"]
    return web.get(f"/parks/windy/plans/{optimal['id']}", headers=ADMIN).json()


def test_the_days_plan_draws_the_wind_and_its_tile_in_english(web, windy) -> None:  # noqa: F811
    html = web.get(windy).text
    figures = figures_of(html)
    assert set(figures) == {"balance", "pv", "wind", "price", "soc"}
    plan = the_plan(web)
    used = [round(r["wind_used_kw"], 1) for r in plan["schedule"]]
    available = [round(r["wind_available_kw"], 1) for r in plan["schedule"]]
    assert max(available) == pytest.approx(1000.0) and min(available) == 0.0   # windy nights, calm days
    balance = traces(figures["balance"])
    wind = balance["wind used"]
    assert wind["stackgroup"] == "in" and wind["fillcolor"] == charts.COLOURS["wind_used"]
    assert wind["y"] == pytest.approx(used + used[-1:], abs=1e-9)
    assert len({trace["line"]["color"] for trace in figures["balance"]["data"]}) == len(figures["balance"]["data"])
    chart = figures["wind"]
    assert chart["layout"]["title"]["text"] == "Wind available and used"
    assert [trace["name"] for trace in chart["data"]] == ["wind used", "wind available (curtailed: ▨)"]
    assert chart["data"][0]["y"] == pytest.approx(used + used[-1:], abs=1e-9)
    assert chart["data"][1]["y"] == pytest.approx(available + available[-1:], abs=1e-9)
    assert {trace["line"]["color"] for trace in chart["data"]} == {charts.COLOURS["wind_used"],
                                                                   charts.COLOURS["wind_available"]}
    k = plan["kpis"]
    tile = re.search(r'data-kpi="wind"><span class="label">([^<]*)</span><span class="value">([^<]*)</span>'
                     r'<span class="unit">([^<]*)</span>', html)
    assert tile.groups() == ("Wind used", fmt(k["wind_used_kwh"]),
                             f"kWh · {pct(k['wind_self_consumption_ratio'])} self-consumed · "
                             f"{fmt(k['wind_curtailment_kwh'])} kWh curtailed")


def test_the_days_plan_draws_the_wind_in_chinese(web, windy) -> None:  # noqa: F811
    web.get("/lang/zh-CN")
    html = web.get(windy).text
    assert '<html lang="zh-CN">' in html
    figures = figures_of(html)
    assert "风电利用" in traces(figures["balance"])
    chart = figures["wind"]
    assert chart["layout"]["title"]["text"] == "风电可发与实际利用"
    assert [trace["name"] for trace in chart["data"]] == ["风电利用", "风电可发 (弃风: ▨)"]
    k = the_plan(web)["kpis"]
    assert (f'<span class="label">风电利用量</span><span class="value">{fmt(k["wind_used_kwh"])}</span>'
            f'<span class="unit">kWh · 自消纳 {pct(k["wind_self_consumption_ratio"])} · 弃风 '
            f'{fmt(k["wind_curtailment_kwh"])} kWh</span>') in html


def compare_rows(html: str) -> dict[str, tuple[str, str, str]]:
    table = html.split('id="compare-table"')[1].split("</table>")[0]
    return {label: (a, b, diff) for label, a, b, diff in
            re.findall(r"<tr><th>([^<]*)</th><td>([^<]*)</td><td>([^<]*)</td><td[^>]*>([^<]*)</td></tr>", table)}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_comparison_has_the_wind_rows(web, windy, lang) -> None:  # noqa: F811
    web.get(f"/lang/{lang}")
    plans = {p["strategy"]: p for p in web.get("/parks/windy/plans", headers=ADMIN).json()}
    a, b = (web.get(f"/parks/windy/plans/{plans[s]['id']}", headers=ADMIN).json()["kpis"]
            for s in ("tou-arbitrage", "optimal"))
    table = compare_rows(web.get(f"/compare?park=windy&a={plans['tou-arbitrage']['id']}"
                                 f"&b={plans['optimal']['id']}").text)
    t = en if lang == "en" else zh
    for key, column in (("kpi_wind_generation_kwh", "wind_generation_kwh"), ("kpi_wind_used_kwh", "wind_used_kwh"),
                        ("kpi_wind_curtailment_kwh", "wind_curtailment_kwh")):
        assert table[f"{t(key)} [kWh]"][:2] == (fmt(a[column]), fmt(b[column])), key
        assert table[f"{t(key)} [kWh]"][2] == f"{b[column] - a[column]:+,.0f}"
    share = table[f"{t('kpi_wind_self_consumption')} [%]"]
    assert share[:2] == (pct(a["wind_self_consumption_ratio"]), pct(b["wind_self_consumption_ratio"]))


def test_a_park_without_wind_shows_no_wind(web, tmp_path) -> None:  # noqa: F811
    register(web, "calm", tiny_files(tmp_path))
    sign_in(web, issue_key(web, "calm")["X-API-Key"])
    page = web.get(web.post("/today/plan?park=calm", data={"date": "2026-07-15"}).headers["location"]).text
    figures = figures_of(page)
    assert set(figures) == {"balance", "pv", "price", "soc"}
    assert "wind used" not in traces(figures["balance"]) and 'data-kpi="wind"' not in page
    plans = web.get("/parks/calm/plans", headers=ADMIN).json()
    compared = web.get(f"/compare?park=calm&a={plans[1]['id']}&b={plans[0]['id']}").text
    assert "Wind" not in "".join(compare_rows(compared))


# --------------------------------------------------------------------------- the chart builders, by hand

def test_wind_curtailment_is_the_band_between_available_and_used() -> None:
    schedule = rows({"wind_available_kw": 1000.0, "wind_used_kw": 900.04}, {"wind_available_kw": 0.0,
                                                                           "wind_used_kw": 0.0})
    assert charts.has_wind(schedule) and not charts.has_wind(rows({"pv_used_kw": 1.0}))
    used, available = charts.wind_figure(schedule, "Asia/Shanghai", 0.25, en)["data"]
    assert used["fill"] == "tozeroy" and available["fill"] == "tonexty"
    assert [round(a - u, 6) for a, u in zip(available["y"], used["y"])] == [100.0, 0.0, 0.0]


def test_the_balance_stacks_the_wind_with_the_other_sources() -> None:
    schedule = rows({"pv_used_kw": 100.0, "wind_used_kw": 900.0, "grid_import_kw": 0.0, "grid_export_kw": 500.0,
                     "load_kw": 500.0},
                    {"pv_used_kw": 0.0, "wind_used_kw": 0.0, "grid_import_kw": 400.0, "grid_export_kw": 0.0,
                     "load_kw": 400.0})
    figure = charts.balance_figure(schedule, "Asia/Shanghai", 0.25, en)
    by_name = traces(figure)
    assert by_name["wind used"]["y"] == [900.0, 0.0, 0.0] and by_name["wind used"]["stackgroup"] == "in"
    for k in range(2):  # sources − uses = load at every step
        assert sum(t["y"][k] for t in figure["data"] if t.get("stackgroup")) == pytest.approx(by_name["load"]["y"][k])
    calm = charts.balance_figure(rows({"pv_used_kw": 10.0, "wind_used_kw": 0.0, "load_kw": 10.0}), "Asia/Shanghai",
                                 0.25, en)
    assert "wind used" not in traces(calm)   # no wind at any step: no empty trace
