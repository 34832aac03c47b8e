"""The dashboard's alerts page (``/alerts``) and the plan-against-measurement part of the Today page."""

from __future__ import annotations

import json
import re
from typing import get_args

import pytest

from service import i18n as service_i18n
from service.api.alert_schemas import AlertOut
from service.dashboard import i18n
from tests.service.api.conftest import ADMIN, register
from tests.service.dashboard.test_dashboard import parks, sign_in, web  # noqa: F401  (fixtures)


def measure(web, clock: str, park_id: str = "a", **fields) -> dict:
    response = web.post(f"/parks/{park_id}/measurements", headers=ADMIN,
                        json={"measured_at": f"2026-07-15T{clock}:00+08:00", "month_to_date_peak_kw": 1500, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def contract_alert(web, park_id: str = "a") -> dict:
    return next(a for a in web.get(f"/parks/{park_id}/alerts", headers=ADMIN).json()
                if a["rule"] == "import_limit" and a["subject"] == "contract_limit")


def test_the_alerts_page_lists_an_alert_and_acknowledges_it_like_the_api(web, parks) -> None:
    sign_in(web, parks["a"])
    assert 'id="no-alerts"' in web.get("/alerts?park=a").text
    measure(web, "10:00", grid_import_kw=1990, soc_kwh={"b1": 200})
    alert = contract_alert(web)
    page = web.get("/alerts?park=a")
    assert page.status_code == 200
    row = re.search(rf'<tr data-alert="{alert["id"]}" data-rule="import_limit" data-status="open">(.*?)</tr>',
                    page.text, re.S).group(1)
    assert "contract_limit" in row and "1,990.00 kW" in row and "1,900.00 kW" in row
    assert "Import near its limit" in row and f'id="ack-{alert["id"]}"' in row
    assert 'href="/alerts?park=a"' in page.text   # the nav entry
    done = web.post("/alerts/acknowledge?park=a", data={"alert": str(alert["id"])})
    assert done.status_code == 303 and done.headers["location"] == "/alerts?park=a"
    acknowledged = web.get(f"/parks/a/alerts/{alert['id']}", headers=ADMIN).json()
    assert acknowledged["status"] == "acknowledged" and acknowledged["acknowledged_by"] == "test"
    page = web.get("/alerts?park=a")
    assert f'data-alert="{alert["id"]}" data-rule="import_limit" data-status="acknowledged"' in page.text
    assert f'id="ack-{alert["id"]}"' not in page.text
    measure(web, "10:15", grid_import_kw=100, soc_kwh={"b1": 200})   # the cause clears: listed as resolved
    resolved = web.get("/alerts?park=a").text.split('id="resolved-alerts"')[1]
    assert f'data-alert="{alert["id"]}"' in resolved and "cause cleared" in resolved


def test_the_alerts_page_in_chinese_and_a_wrong_acknowledgement(web, parks) -> None:
    sign_in(web, parks["a"])
    measure(web, "10:00", grid_import_kw=1990)
    alert = contract_alert(web)
    web.cookies.set(i18n.LANG_COOKIE, "zh-CN")
    page = web.get("/alerts?park=a").text
    assert "运行告警" in page and "购电接近限值" in page and "确认" in page
    web.post(f"/parks/a/alerts/{alert['id']}/resolve", headers=ADMIN)
    again = web.post("/alerts/acknowledge?park=a", data={"alert": str(alert["id"])})
    assert "was resolved at" in web.get(again.headers["location"]).text
    missing = web.post("/alerts/acknowledge?park=a", data={"alert": "999"})
    assert "no alert 999" in web.get(missing.headers["location"]).text


def test_another_parks_key_cannot_see_or_acknowledge_its_alerts(web, parks) -> None:
    measure(web, "10:00", grid_import_kw=1990)
    alert = contract_alert(web)
    sign_in(web, parks["b"])
    assert web.get("/alerts?park=a").status_code == 403
    assert web.post("/alerts/acknowledge?park=a", data={"alert": str(alert["id"])}).status_code == 403
    response = web.post("/alerts/acknowledge?park=b", data={"alert": str(alert["id"])})   # a's alert under b
    assert "no alert" in web.get(response.headers["location"]).text
    assert web.get(f"/parks/a/alerts/{alert['id']}", headers=ADMIN).json()["status"] == "open"


def test_every_label_the_alerts_page_builds_is_in_the_catalogue() -> None:
    built = {f"rule_{r}" for r in get_args(AlertOut.model_fields["rule"].annotation)}
    built |= {f"alert_{s}" for s in get_args(AlertOut.model_fields["status"].annotation)}
    built |= {f"resolution_{r}" for r in get_args(get_args(AlertOut.model_fields["resolution"].annotation)[0])}
    assert built - set(service_i18n.labels("en")) == set() and built - set(service_i18n.labels("zh-CN")) == set()


def test_today_draws_the_measured_import_over_the_plan_with_the_adherence_figures(web, parks) -> None:
    plan = web.get("/parks/a/plans?date=2026-07-15", headers=ADMIN).json()[0]   # no-control
    measure(web, "02:00", grid_import_kw=430)     # 400 planned: +30 kW, within 40 kW
    measure(web, "22:00", grid_import_kw=350)     # −50 kW
    sign_in(web, parks["a"])
    page = web.get(f"/today?park=a&date=2026-07-15&plan={plan['id']}").text
    figures = {name: json.loads(data) for name, data in
               re.findall(r'<script type="application/json" id="data-(\w+)">(.*?)</script>', page)}
    traces = {trace["name"]: trace for trace in figures["adherence"]["data"]}
    assert traces["measured import"]["x"] == ["2026-07-15 02:00", "2026-07-15 22:00"]
    assert traces["measured import"]["y"] == [430.0, 350.0]
    assert len(traces["planned import"]["y"]) == 96 + 1
    share = re.search(r'data-kpi="adherence-share"><span class="label">([^<]*)</span><span class="value">([^<]*)<',
                      page).groups()
    assert share == ("Steps within ±40 kW", "50.0 %")
    mean = re.search(r'data-kpi="adherence-mean">.*?<span class="value">([^<]*)<', page).group(1)
    assert mean == "40.0"   # (30 + 50) / 2
    web.cookies.set(i18n.LANG_COOKIE, "zh-CN")
    page = web.get(f"/today?park=a&date=2026-07-15&plan={plan['id']}").text
    assert "偏差在 ±40 kW 内的时段" in page and "实测购电" in page


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_today_without_measurements_shows_no_adherence(web, parks, lang) -> None:
    sign_in(web, parks["a"])
    web.cookies.set(i18n.LANG_COOKIE, lang)
    page = web.get("/today?park=a&date=2026-07-15").text
    assert 'id="adherence"' not in page and 'id="data-adherence"' not in page


def test_a_park_with_no_measurements_has_an_empty_alerts_page(web, files) -> None:
    register(web, "c", files)
    sign_in(web, ADMIN["X-API-Key"])
    page = web.get("/alerts?park=c").text
    assert 'id="no-alerts"' in page and "No resolved alert yet." in page
