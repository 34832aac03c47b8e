"""``GET /parks/{id}/carbon``: a month's figures from the stored plans against a hand computation, formats, errors.

The tiny park (2026-07-15 and 16) with the national 2022 grid factor and a
natural-gas boiler of 10 GJ a day is planned through the API; the figures are
recomputed here from the plans' schedules as fetched (``GET .../plans/{id}``)
and the factor. The report is opened in a real Chromium (Debian's, driven by
Playwright) from a live server, in English and Chinese; without Chromium that
test is skipped.
"""

from __future__ import annotations

import io

import httpx
import numpy as np
import pandas as pd
import pytest

from dispatch.carbon import CARBON_COLUMNS
from tests.service.api.conftest import ADMIN, assert_problem, issue_key, register, tiny_files, tiny_park
from tests.service.dashboard.test_dashboard_browser import browser  # noqa: F401 - Debian's Chromium, or a skip

NATIONAL = 0.5366
GAS_KG_PER_DAY = 10.0 * 56.1            # 10 GJ of natural gas a day at IPCC 2006's 56.1 kg CO2/GJ
CARBON = {"grid": {"preset": "mee_2022_national"},
          "fuels": {"boiler_gas": {"fuel": "natural_gas", "consumption_per_day": 10.0, "unit": "GJ"}}}


def carbon_park(**changes) -> dict:
    return tiny_park(carbon=CARBON, **changes)


@pytest.fixture
def planned(client, files) -> dict:
    """The park registered and planned: 15 July rule-based then optimal (the newer replaces it), 16 July rule-based."""
    register(client, "tiny", files, park=carbon_park())
    plans = {}
    for key, body in (("15_old", {"date": "2026-07-15", "strategy": "rule-based"}),
                      ("15", {"date": "2026-07-15"}),
                      ("16", {"date": "2026-07-16", "strategy": "rule-based"})):
        response = client.post("/parks/tiny/plans", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        plans[key] = response.json()
    return plans


def schedule(plan: dict) -> pd.DataFrame:
    frame = pd.DataFrame(plan["schedule"])
    frame.index = pd.to_datetime(frame.pop("timestamp"), utc=True)
    return frame


def by_hand(frame: pd.DataFrame, hours: float) -> dict:
    """The figures of some rows by their definitions (15-minute steps), scope 1 over ``hours``."""
    dt_h = 0.25
    import_kwh = frame["grid_import_kw"].sum() * dt_h
    onsite_kwh = np.clip(frame["pv_used_kw"] - frame["grid_export_kw"], 0, None).sum() * dt_h
    consumption_kwh = frame["load_kw"].sum() * dt_h
    scope2 = (frame["grid_import_kw"] * frame["co2_kg_per_kwh"]).sum() * dt_h
    scope1 = GAS_KG_PER_DAY * hours / 24
    return {"import_kwh": import_kwh, "consumption_kwh": consumption_kwh, "renewable_onsite_kwh": onsite_kwh,
            "renewable_share": onsite_kwh / (onsite_kwh + import_kwh), "scope1_co2_kg": scope1,
            "scope2_co2_kg": scope2, "total_co2_kg": scope1 + scope2,
            "avoided_co2_kg": (np.clip(frame["pv_used_kw"] - frame["grid_export_kw"], 0, None)
                               * frame["co2_kg_per_kwh"]).sum() * dt_h,
            "intensity_kg_per_kwh": scope2 / consumption_kwh, "gec_mwh": frame["pv_used_kw"].sum() * dt_h / 1000}


def test_the_month_from_the_newest_plan_of_each_step_by_hand(client, planned) -> None:
    response = client.get("/parks/tiny/carbon", params={"month": "2026-07"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["plan_ids"] == [planned["15"]["id"], planned["16"]["id"]]        # the older 15 July plan replaced
    assert (body["month_days"], body["days_covered"], body["steps"], body["dt_h"]) == (31, 2, 192, 0.25)
    assert body["grid_factor"]["co2_kg_per_kwh"] == NATIONAL and body["grid_factor"]["scope"] == "national"
    assert body["grid_factor"]["year"] == 2022 and "Ministry of Ecology and Environment" in body["factor_source"]
    assert body["fuels"] == [{"name": "boiler_gas", "fuel": "natural_gas", "co2_kg_per_gj": 56.1,
                              "source": body["fuels"][0]["source"]}]
    assert "IPCC 2006" in body["fuels"][0]["source"]
    day15, day16 = schedule(planned["15"]), schedule(planned["16"])
    assert (day15["co2_kg_per_kwh"] == NATIONAL).all()
    hand = [by_hand(day15, 24), by_hand(day16, 24), by_hand(pd.concat([day15, day16]), 48)]
    rows = body["days"] + [body["month_total"]]
    assert [r["date"] for r in rows] == ["2026-07-15", "2026-07-16", "2026-07"]
    for row, expected in zip(rows, hand):
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, rel=1e-6), (row["date"], key)
    assert rows[0]["scope2_co2_kg"] > 0 and rows[0]["avoided_co2_kg"] > 0
    assert rows[0]["gec_certificates"] is None and rows[1]["gec_certificates"] is None
    assert body["month_total"]["gec_certificates"] == int(hand[2]["gec_mwh"])
    # the optimal plan of 15 July, not the rule-based one it replaced
    assert rows[0]["import_kwh"] == pytest.approx(planned["15"]["kpis"]["grid_import_kwh"], rel=1e-6)
    assert rows[0]["scope2_co2_kg"] == pytest.approx(planned["15"]["kpis"]["co2_kg"], rel=1e-6)


def test_csv_and_html_by_format_or_accept(client, planned) -> None:
    as_json = client.get("/parks/tiny/carbon", params={"month": "2026-07"}, headers=ADMIN).json()
    for request in ({"params": {"month": "2026-07", "format": "csv"}, "headers": ADMIN},
                    {"params": {"month": "2026-07"}, "headers": {**ADMIN, "Accept": "text/csv"}}):
        response = client.get("/parks/tiny/carbon", **request)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["vary"] == "Accept"
        table = pd.read_csv(io.StringIO(response.text))
        assert list(table.columns) == list(CARBON_COLUMNS)
        assert list(table["period"]) == ["day", "day", "month"]
        for column in ("scope1_co2_kg", "scope2_co2_kg", "total_co2_kg", "avoided_co2_kg", "import_kwh"):
            expected = [d[column] for d in as_json["days"]] + [as_json["month_total"][column]]
            assert table[column].tolist() == pytest.approx(expected, rel=1e-9)
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = client.get("/parks/tiny/carbon", params={"month": "2026-07"}, headers={**ADMIN, "Accept": browser_accept})
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'id="carbon-daily-chart"' in page.text and "Carbon metering — tiny park — 2026-07" in page.text
    assert "2 plan(s)" in page.text and "boiler_gas (natural_gas, 56.1 kg CO2/GJ" in page.text
    zh = client.get("/parks/tiny/carbon", params={"month": "2026-07", "format": "html", "lang": "zh"}, headers=ADMIN)
    assert '<html lang="zh">' in zh.text and "碳计量 — tiny park — 2026-07" in zh.text
    # format wins over Accept; JSON for anything else
    assert client.get("/parks/tiny/carbon", params={"month": "2026-07", "format": "json"},
                      headers={**ADMIN, "Accept": "text/csv"}).headers["content-type"] == "application/json"
    assert client.get("/parks/tiny/carbon", params={"month": "2026-07"},
                      headers={**ADMIN, "Accept": "application/xml"}).headers["content-type"] == "application/json"


def test_each_step_keeps_the_factor_of_its_plan(client, planned) -> None:
    # version 2 prices the grid by the hour (0.3 kg/kWh by day 08-20 h, 0.7 at night); only 16 July is planned again
    hourly = [0.7] * 8 + [0.3] * 12 + [0.7] * 4
    park = carbon_park()
    park["carbon"] = {**CARBON, "grid": {"preset": "mee_2022_national", "hourly_co2_kg_per_kwh": hourly,
                                         "hourly_source": "a test profile"}}
    assert client.put("/parks/tiny", json={"park": park}, headers=ADMIN).status_code == 200
    again = client.post("/parks/tiny/plans", json={"date": "2026-07-16", "strategy": "rule-based"}, headers=ADMIN)
    assert again.status_code == 201, again.text
    day16 = schedule(again.json())
    local_hours = day16.index.tz_convert("Asia/Shanghai").hour
    assert day16["co2_kg_per_kwh"].tolist() == [hourly[h] for h in local_hours]
    body = client.get("/parks/tiny/carbon", params={"month": "2026-07"}, headers=ADMIN).json()
    assert body["park_version"] == 2 and body["grid_factor"]["hourly_co2_kg_per_kwh"] == hourly
    assert body["plan_ids"] == [planned["15"]["id"], again.json()["id"]]
    day15, day16_row = body["days"]
    assert day15["scope2_co2_kg"] == pytest.approx(planned["15"]["kpis"]["co2_kg"], rel=1e-6)   # still 0.5366
    expected = (day16["grid_import_kw"] * pd.Series([hourly[h] for h in local_hours], index=day16.index)).sum() * 0.25
    assert day16_row["scope2_co2_kg"] == pytest.approx(expected, rel=1e-6)
    assert day16_row["co2_kg_per_kwh"] == pytest.approx(np.mean([hourly[h] for h in local_hours]))


@pytest.mark.parametrize("month", ["2026-13", "2026-7", "26-07", "1999-07", "2026-07-01", ""])
def test_a_bad_month_is_422_naming_it(client, planned, month: str) -> None:
    response = client.get("/parks/tiny/carbon", params={"month": month}, headers=ADMIN)
    assert_problem(response, 422, "query.month")


def test_missing_month_unknown_park_and_another_parks_key(client, planned, tmp_path) -> None:
    assert_problem(client.get("/parks/tiny/carbon", headers=ADMIN), 422, "query.month")
    body = assert_problem(client.get("/parks/tiny/carbon", params={"month": "2026-08"}, headers=ADMIN), 404,
                          "month", "no plan covering 2026-08", "POST /parks/tiny/plans")
    assert body["errors"] == [{"field": "month", "reason": "no plan covers 2026-08"}]
    assert_problem(client.get("/parks/nowhere/carbon", params={"month": "2026-07"}, headers=ADMIN), 404, None,
                   "no park 'nowhere'")
    register(client, "other", tiny_files(tmp_path / "other"))
    other_key = issue_key(client, "other")
    assert_problem(client.get("/parks/tiny/carbon", params={"month": "2026-07"}, headers=other_key), 403)
    assert client.get("/parks/tiny/carbon", params={"month": "2026-07"},
                      headers=issue_key(client, "tiny")).status_code == 200
    assert_problem(client.get("/parks/tiny/carbon", params={"month": "2026-07", "format": "pdf"}, headers=ADMIN),
                   422, "query.format")
    assert_problem(client.get("/parks/tiny/carbon", params={"month": "2026-07", "lang": "fr"}, headers=ADMIN),
                   422, "query.lang")


def test_the_route_and_its_media_types_are_in_the_openapi_document(client) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/parks/{park_id}/carbon"]["get"]
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv", "text/html"}
    for status in ("401", "403", "404", "409", "422"):
        assert set(operation["responses"][status]["content"]) == {"application/problem+json"}, status
    month = next(p for p in operation["parameters"] if p["name"] == "month")
    assert month["required"] is True and month["schema"]["pattern"]


# ---- the report in a real browser, from a live server ----

@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A live server with the carbon park planned for 15 and 16 July (rule-based), and a key for it."""
    from tests.service.api.test_api_server import HEADERS, Server

    root = tmp_path_factory.mktemp("carbon-server")
    server = Server(root / "var").start(timeout_s=120)
    try:
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=120) as http:
            created = http.post("/parks", json={"id": "tiny", "park": carbon_park(),
                                                "data_files": tiny_files(root, carbon_park())})
            assert created.status_code == 201, created.text
            for day in ("2026-07-15", "2026-07-16"):
                plan = http.post("/parks/tiny/plans", json={"date": day, "strategy": "rule-based"})
                assert plan.status_code == 201, plan.text
            key = http.post("/keys", json={"name": "operator", "park_ids": ["tiny"]}).json()["token"]
        yield server, key
    finally:
        server.stop()


@pytest.mark.parametrize("lang, title, legend", [
    ("en", "Carbon metering — tiny park — 2026-07", "scope 2 CO2 [kg]"),
    ("zh", "碳计量 — tiny park — 2026-07", "范围二排放 [kg]"),
])
def test_the_report_renders_in_a_browser(browser, live, lang: str, title: str, legend: str) -> None:
    server, key = live
    context = browser.new_context(extra_http_headers={"X-API-Key": key}, viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # the browser's own Accept header (text/html first) picks the report
        response = page.goto(f"{server.url}/parks/tiny/carbon?month=2026-07&lang={lang}")
        assert response.status == 200 and response.headers["content-type"].startswith("text/html")
        assert page.locator("h1").inner_text() == title
        assert page.title() == title
        chart = page.locator("#carbon-daily-chart")
        chart.locator(".main-svg").first.wait_for(state="visible")        # plotly drew the chart
        assert chart.locator(".bars path").count() == 4                   # 2 days × scope 2 and avoided
        assert legend in chart.inner_text()
        assert page.locator("table tbody tr").count() == 3                # two days and the month total
        assert errors == []
    finally:
        context.close()



def test_an_hourly_factor_from_a_csv_sent_with_the_park(client, files) -> None:
    hourly = [0.7] * 8 + [0.3] * 12 + [0.7] * 4
    csv_text = "hour,kg\n" + "\n".join(f"{h},{v}" for h, v in enumerate(hourly)) + "\n"
    park = carbon_park()
    park["carbon"] = {"grid": {"preset": "mee_2022_national", "hourly_csv": {"file": "grid_factor.csv", "column": "kg"},
                               "hourly_source": "a test profile"}}
    missing = client.post("/parks", json={"id": "hourly", "park": park, "data_files": files}, headers=ADMIN)
    assert_problem(missing, 422, "data_files", "grid_factor.csv")
    outside = {**park, "carbon": {"grid": {**park["carbon"]["grid"], "hourly_csv": {"file": "../grid_factor.csv"}}}}
    assert_problem(client.post("/parks", json={"id": "hourly", "park": outside,
                                               "data_files": {**files, "grid_factor.csv": csv_text}}, headers=ADMIN),
                   422, "carbon.grid.hourly_csv.file")
    register(client, "hourly", {**files, "grid_factor.csv": csv_text}, park=park)
    plan = client.post("/parks/hourly/plans", json={"date": "2026-07-15", "strategy": "rule-based"}, headers=ADMIN)
    assert plan.status_code == 201, plan.text
    day = schedule(plan.json())
    factors = [hourly[h] for h in day.index.tz_convert("Asia/Shanghai").hour]
    assert day["co2_kg_per_kwh"].tolist() == factors
    body = client.get("/parks/hourly/carbon", params={"month": "2026-07"}, headers=ADMIN).json()
    assert body["grid_factor"]["hourly_co2_kg_per_kwh"] == hourly
    assert body["days"][0]["scope2_co2_kg"] == pytest.approx((day["grid_import_kw"] * factors).sum() * 0.25, rel=1e-6)
