"""The dashboard's pages in-process (TestClient): sign-in, access, language, forms, and its chart builders."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from microgrid.case import park_from_dict
from service import i18n as service_i18n
from service.api.deps import get_planner, get_settings
from service.api.main import create_app
from service.dashboard import charts, i18n
from service.dashboard.routes import KEY_COOKIE, ROUTERS
from tests.service.api.conftest import ADMIN, issue_key, register, tiny_files

HTTPS = "https://testserver"  # the client sends the Secure cookie back only over https
PAGES = ["/today", "/compare", "/events", "/network", "/studies", "/alerts"]
EVENT_FORM = {"kind": "reduce", "start": "2026-07-15T12:00", "end": "2026-07-15T13:00", "amount_kind": "reduce_by_kw",
              "amount": "100", "incentive": "2.0", "notified_at": "2026-07-15T08:00"}


@pytest.fixture
def web(settings, planner):
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_planner] = lambda: planner
    app.state.study_executor_factory = lambda: ThreadPoolExecutor(max_workers=1)  # studies on a thread here
    with TestClient(app, base_url=HTTPS, follow_redirects=False) as client:
        yield client


@pytest.fixture
def parks(web, files) -> dict[str, str]:
    """Parks a and b, a no-control plan of a, and a key (token) for each."""
    register(web, "a", files)
    register(web, "b", files)
    assert web.post("/parks/a/plans", json={"date": "2026-07-15", "strategy": "no-control"},
                    headers=ADMIN).status_code == 201
    return {name: issue_key(web, name)["X-API-Key"] for name in ("a", "b")}


def sign_in(web, token: str):
    return web.post("/signin", data={"api_key": token, "next": "/today"})


def page_routes() -> list[tuple[str, str]]:
    return sorted((method, route.path) for router in ROUTERS for route in router.routes
                  for method in route.methods - {"HEAD"})


OPEN_ROUTES = {("GET", "/"), ("GET", "/signin"), ("POST", "/signin"), ("POST", "/signout"), ("GET", "/lang/{lang}"),
               ("GET", "/static/plotly.min.js"), ("GET", "/static/{name}")}


def test_every_page_without_a_key_redirects_to_sign_in(web, parks) -> None:
    guarded = [route for route in page_routes() if route not in OPEN_ROUTES]
    assert {path for _, path in guarded} == {*PAGES, "/today/plan", "/today/replan", "/events/cancel",
                                             "/compare/plan", "/studies/cancel", "/studies/report",
                                             "/alerts/acknowledge", "/live"}
    for method, path in guarded:
        response = web.request(method, path, data={"date": "2026-07-15", "event": "e1", "study": "1"})
        assert response.status_code == 303, (method, path)
        assert response.headers["location"].startswith("/signin?reason=signin_needed&next=")
    web.cookies.set(KEY_COOKIE, "mgk_unknown")
    response = web.get("/events?park=a")
    assert response.headers["location"] == "/signin?reason=key_invalid&next=%2Fevents%3Fpark%3Da"
    assert 'mg_key=""' in response.headers["set-cookie"]  # the bad key is dropped
    page = web.get(response.headers["location"])
    assert "unknown or no longer valid" in page.text


def test_sign_in_keeps_the_key_in_a_secure_http_only_strict_cookie(web, parks) -> None:
    wrong = sign_in(web, "mgk_wrong")
    assert wrong.status_code == 401 and 'data-error-for="api_key"' in wrong.text
    empty = sign_in(web, "  ")
    assert empty.status_code == 401 and "Enter an API key." in empty.text
    response = sign_in(web, parks["a"])
    assert response.status_code == 303 and response.headers["location"] == "/today"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{KEY_COOKIE}={parks['a']};")
    assert {"HttpOnly", "Secure", "SameSite=strict", "Path=/"} <= {part.strip() for part in cookie.split(";")}
    assert web.get("/today").status_code == 200
    out = web.post("/signout")
    assert out.headers["location"] == "/signin?reason=signed_out"
    assert web.get("/today").status_code == 303


def test_the_next_page_after_sign_in_stays_on_this_site(web, parks) -> None:
    for target, expected in (("/events?park=a", "/events?park=a"), ("https://evil.example/", "/today"),
                             ("//evil.example/x", "/today"), ("/\\evil", "/today")):
        response = web.post("/signin", data={"api_key": parks["a"], "next": target})
        assert response.headers["location"] == expected, target


def test_a_parks_key_sees_only_its_park(web, parks) -> None:
    sign_in(web, parks["b"])
    today = web.get("/today?date=2026-07-15")
    assert today.status_code == 200
    assert re.findall(r'<option value="([^"]+)"', today.text.split("park-choice")[1].split("</form>")[0]) == ["b"]
    assert "#1" not in today.text  # a's plan
    for path in PAGES:
        response = web.get(f"{path}?park=a")
        assert response.status_code == 403, path
        assert "not valid for park a" in response.text
        assert web.get(f"{path}?park=ghost").status_code == 403  # the same answer for a park that does not exist
    made = web.post("/today/plan?park=a", data={"date": "2026-07-15"})
    assert made.status_code == 403
    sent = web.post("/events?park=a", data=EVENT_FORM)
    assert sent.status_code == 403
    assert web.get("/parks/a/events", headers=ADMIN).json() == []


def test_pages_listen_to_their_parks_stream_and_label_the_notice_in_both_languages(web, parks, settings) -> None:
    sign_in(web, parks["a"])
    page = web.get("/events?park=a")
    assert 'data-live="/live?park=a"' in page.text and '<script src="/static/dashboard.js">' in page.text
    assert 'data-plan-created="New plan #{id} for {date}."' in page.text
    web.cookies.set("mg_lang", "zh-CN")
    assert 'data-plan-created="已生成新计划 #{id}（{date}）。"' in web.get("/events?park=a").text
    settings.stream_max_s = 0.3  # the stream ends, so the in-process client gets it whole
    made = web.post("/parks/a/plans", json={"date": "2026-07-16", "strategy": "no-control"}, headers=ADMIN).json()
    stream = web.get("/live?park=a", headers={"Last-Event-ID": "0"})
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
    assert "event: plan.created" in stream.text and f'"plan_id":{made["id"]}' in stream.text
    assert web.get("/live?park=b").status_code == 403  # a's key
    assert "live-notice" not in web.get("/signin").text  # no park, no stream


def test_today_without_a_plan_offers_to_make_one_and_then_draws_it(web, parks) -> None:
    sign_in(web, parks["a"])
    empty = web.get("/today?park=a&date=2026-07-16")
    assert 'id="empty-plan"' in empty.text and 'id="make-plan"' in empty.text
    assert "plotly.min.js" not in empty.text
    made = web.post("/today/plan?park=a", data={"date": "2026-07-16"})
    assert made.status_code == 303
    page = web.get(made.headers["location"])
    figures = {name: json.loads(data) for name, data in
               re.findall(r'<script type="application/json" id="data-(\w+)">(.*?)</script>', page.text)}
    assert set(figures) == {"balance", "pv", "price", "soc"}  # the tiny park has no thermal store
    balance = {trace["name"]: trace for trace in figures["balance"]["data"]}
    assert len(balance["load"]["y"]) == 96 + 1 and balance["load"]["x"][0] == "2026-07-16 00:00"
    assert figures["balance"]["layout"]["xaxis"]["title"]["text"] == "time (Asia/Shanghai)"
    plans = web.get("/parks/a/plans?date=2026-07-16", headers=ADMIN).json()
    assert sorted(p["strategy"] for p in plans) == ["optimal", "tou-arbitrage"]  # the TOU rule: the baseline
    optimal, reference = (next(p for p in plans if p["strategy"] == s) for s in ("optimal", "tou-arbitrage"))
    label, savings = re.search(r'data-kpi="savings"><span class="label">([^<]*)</span>\s*<span class="value">([^<]+)<',
                               page.text).groups()
    assert label == "Savings against TOU arbitrage"
    assert savings == f"{reference['total_cost_cny'] - optimal['total_cost_cny']:,.0f}"
    assert '<script src="/static/plotly.min.js"></script>' in page.text


def test_plotly_is_served_by_the_app_and_pages_name_no_other_origin(web, parks) -> None:
    script = web.get("/static/plotly.min.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert len(script.content) > 1_000_000 and b"plotly" in script.content[:2000].lower()
    assert web.get("/static/../routes.py").status_code == 404
    assert web.get("/static/nothing.js").status_code == 404
    sign_in(web, parks["a"])
    web.post("/today/plan?park=a", data={"date": "2026-07-15"})
    for path in PAGES:
        html = web.get(f"{path}?park=a&date=2026-07-15").text
        assert not re.findall(r'(?:src|href)="(?:https?:)?//', html), path


def test_replan_without_a_measurement_says_what_is_missing(web, parks) -> None:
    sign_in(web, parks["a"])
    response = web.post("/today/replan?park=a", data={"date": "2026-07-15"})
    page = web.get(response.headers["location"])
    assert "has no measurement" in page.text and 'class="problem"' in page.text


def test_an_event_form_shows_the_services_reason_next_to_the_field(web, parks) -> None:
    sign_in(web, parks["a"])
    cases = [({"amount": "abc"}, "amount", "enter a number"),
             ({"amount": "-5", "amount_kind": "max_import_kw"}, "amount", "greater than or equal to 0"),
             ({"end": "2026-07-15T11:00"}, "end", "must be after start"),
             ({"amount_kind": "increase_by_kw"}, "amount", "a reduce event takes max_import_kw or reduce_by_kw"),
             ({"notified_at": "2026-07-15T14:00"}, "notified_at", "must be before the window"),
             ({"start": ""}, "start", "enter a value"),
             ({"start": "2026-07-15T12:07"}, "start", "not on the park's step grid"),
             ({"event_id": "no spaces"}, "event_id", "letters, digits")]
    for change, field, reason in cases:
        response = web.post("/events?park=a", data={**EVENT_FORM, **change})
        assert response.status_code == 422, change
        errors = dict(re.findall(r'data-error-for="(\w+)">([^<]*)<', response.text))
        assert field in errors and reason in errors[field].replace("&#39;", "'"), (change, errors)
        assert f'value="{change.get(field, EVENT_FORM.get(field, ""))}"' in response.text  # the form keeps its input
    assert web.get("/parks/a/events", headers=ADMIN).json() == []


def test_a_reduce_event_is_answered_and_cancelled(web, parks) -> None:
    sign_in(web, parks["a"])
    response = web.post("/events?park=a", data={**EVENT_FORM, "event_id": "dr-noon"})
    assert response.status_code == 303 and response.headers["location"] == "/events?park=a&event=dr-noon"
    page = web.get(response.headers["location"]).text
    stored = web.get("/parks/a/events/dr-noon", headers=ADMIN).json()
    assert stored["event"]["reduce_by_kw"] == 100 and stored["event"]["start"] == "2026-07-15T12:00:00+08:00"
    assert f'data-delivery="{stored["delivery"]}"' in page
    assert 'data-baseline="optimal-plan"' in page and "optimal plan without events" in page
    figure = json.loads(re.search(r'id="data-answer">(.*?)</script>', page).group(1))
    baseline, planned, target = (trace["y"] for trace in figure["data"])
    assert len(baseline) == 4 + 1  # 12:00-13:00 in 15-minute steps, and the end point
    assert target[:-1] == [round(s["baseline_import_kw"] - 100, 1) for s in stored["steps"]]
    today = web.get("/today?park=a&date=2026-07-15").text
    assert '"x0":"2026-07-15 12:00","x1":"2026-07-15 13:00"' in today  # the window over today's plan
    cancelled = web.post("/events/cancel?park=a", data={"event": "dr-noon"})
    assert cancelled.status_code == 303
    assert web.get("/parks/a/events/dr-noon", headers=ADMIN).json()["status"] == "cancelled"
    assert "state-cancelled" in web.get(cancelled.headers["location"]).text


def test_an_events_answer_names_its_similar_days_baseline_in_both_languages(web, tmp_path) -> None:
    from tests.service.api.test_api_event_baselines import LEVEL_KW, meter_csv, similar_days_park

    files = {**tiny_files(tmp_path, start="2026-07-13", days=4), "grid_meter.csv": meter_csv(LEVEL_KW)}
    register(web, "m", files, park=similar_days_park(adjustment="scaling"))
    sign_in(web, issue_key(web, "m")["X-API-Key"])
    response = web.post("/events?park=m", data={**EVENT_FORM, "event_id": "dr-noon"})
    assert response.status_code == 303, response.text
    page = web.get(response.headers["location"]).text
    note = re.search(r'<p class="note" id="answer-baseline" data-baseline="similar-days">(.*?)</p>', page, re.S)
    text = " ".join(note.group(1).split())
    # 12:00 is not metered on the event day: the adjustment window (09:00-11:00) comes from the plan
    assert "average of the similar days 2026-07-14, 2026-07-13, 2026-07-10 (working days)" in text, text
    assert "scaled ×" in text and "from the plan: not metered yet" in text, text
    web.get("/lang/zh-CN")
    chinese = web.get(response.headers["location"]).text
    assert "相似日 2026-07-14, 2026-07-13, 2026-07-10 的平均负荷（工作日）" in chinese


def test_compare_shows_the_difference_per_step(web, parks) -> None:
    sign_in(web, parks["a"])
    alone = web.get("/compare?park=a")
    assert "Compare needs two plans" in alone.text
    web.post("/today/plan?park=a", data={"date": "2026-07-15"})
    plans = {p["strategy"]: p["id"] for p in web.get("/parks/a/plans", headers=ADMIN).json()}
    page = web.get(f"/compare?park=a&a={plans['no-control']}&b={plans['optimal']}").text
    figure = json.loads(re.search(r'id="data-diff">(.*?)</script>', page).group(1))
    a = web.get(f"/parks/a/plans/{plans['no-control']}", headers=ADMIN).json()["schedule"]
    b = web.get(f"/parks/a/plans/{plans['optimal']}", headers=ADMIN).json()["schedule"]
    expected = [round(rb["grid_import_kw"] - ra["grid_import_kw"], 1) for ra, rb in zip(a, b)]
    assert figure["data"][0]["y"] == pytest.approx(expected, abs=1e-9)
    # Another strategy of the same day, made from the page, against the day's current (optimal) plan.
    response = web.post("/compare/plan?park=a", data={"date": "2026-07-15", "strategy": "rule-based"})
    made = web.get("/parks/a/plans?limit=1", headers=ADMIN).json()[0]
    assert made["strategy"] == "rule-based"
    assert response.headers["location"] == f"/compare?park=a&a={made['id']}&b={plans['optimal']}"
    assert "rule-based" in web.get(response.headers["location"]).text
    assert "#" + str(plans["optimal"]) in web.get("/today?park=a&date=2026-07-15").text.split('class="meta"')[1][:20]
    bad = web.get(web.post("/compare/plan?park=a", data={"date": "2026-07-15", "strategy": "magic"})
                  .headers["location"])
    assert "strategy: Input should be" in bad.text.replace("&#39;", "'")


def test_a_study_is_started_followed_and_its_report_opened(web, parks) -> None:
    sign_in(web, parks["a"])
    empty = web.get("/studies?park=a")
    assert 'id="no-studies"' in empty.text and 'http-equiv="refresh"' not in empty.text
    form = {"kind": "study", "start": "2026-07-15", "end": "2026-07-15", "strategies": ["no-control", "rule-based"],
            "replan_h": "24"}
    for change, field, reason in [({"end": "2026-07-14"}, "end", ""), ({"strategies": []}, "strategies",
                                                                       "choose at least one"),
                                  ({"replan_h": "x"}, "replan_h", "enter a number"),
                                  ({"kind": "sweep"}, "axis", "")]:
        response = web.post("/studies?park=a", data={**form, **change})
        assert response.status_code == 422, change
        errors = dict(re.findall(r'data-error-for="(\w+)">([^<]*)<', response.text))
        assert field in errors and reason in errors[field], (change, errors)
    assert web.get("/parks/a/studies", headers=ADMIN).json() == []
    response = web.post("/studies?park=a", data=form)
    assert response.status_code == 303
    study_id = int(response.headers["location"].rsplit("=", 1)[1])
    deadline = time.monotonic() + 120  # a guard against hanging, not a timed assertion
    while web.get(f"/parks/a/studies/{study_id}", headers=ADMIN).json()["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the study did not finish"
        time.sleep(0.1)
    stored = web.get(f"/parks/a/studies/{study_id}", headers=ADMIN).json()
    assert stored["state"] == "done", stored
    page = web.get(response.headers["location"]).text
    assert f'data-study="{study_id}" data-state="done"' in page and 'http-equiv="refresh"' not in page
    costs = re.findall(r'<tr><th>[^<]+</th><td>([^<]+)</td>', page.split('id="study-kpis"')[1])
    assert costs == [f"{row['total_cost_cny']:,.0f}" for row in stored["kpis"]]
    # the investment KPIs of the new assets, with what they are stated against, in both languages
    table = page.split('id="study-kpis"')[1]
    assert "New assets: NPV [CNY]" in table and "New assets: payback [years]" in table
    assert all(f"{row['npv_cny']:,.0f}" in table for row in stored["kpis"])
    note = page.split('id="study-investment-note">')[1].split("</p>")[0]
    assert "against the park without them" in note and "annualised from 1 day(s)" in note
    assert stored["kpis"][0]["new_assets"] in note
    web.cookies.set("mg_lang", "zh-CN")
    chinese = web.get(response.headers["location"]).text
    assert "新增设备：净现值 [CNY]" in chinese and "新增设备：静态回收期 [年]" in chinese and "由 1 天" in chinese
    web.cookies.delete("mg_lang")
    report = web.get(f"/studies/report?park=a&study={study_id}")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "KPIs of the period" in report.text
    assert web.get(f"/studies/report?park=a&study={study_id + 1}").status_code == 404
    # A sweep of the battery's capacity: one row per scenario and strategy, the parameter beside the strategy.
    response = web.post("/studies?park=a", data={**form, "kind": "sweep", "strategies": ["rule-based"],
                                                 "axis_parameter": "batteries.b1.capacity_kwh",
                                                 "axis_values": "0, 800"})
    assert response.status_code == 303, response.text
    sweep_id = int(response.headers["location"].rsplit("=", 1)[1])
    while web.get(f"/parks/a/studies/{sweep_id}", headers=ADMIN).json()["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the sweep did not finish"
        time.sleep(0.1)
    page = web.get(response.headers["location"]).text.split('id="study-kpis"')[1]
    assert "<th>Strategy</th><th>batteries.b1.capacity_kwh</th><th>Cost [CNY]</th>" in page
    assert re.findall(r"<tr><th>rule-based</th><th>(\d+)</th>", page) == ["0", "800"]
    sign_in(web, parks["b"])
    assert web.get(f"/studies/report?park=a&study={study_id}").status_code == 403
    assert web.get(f"/studies/report?park=b&study={study_id}").status_code == 404


def test_the_network_view_needs_a_network(web, parks) -> None:
    sign_in(web, parks["a"])
    page = web.get("/network?park=a")
    assert "no network description" in page.text
    assert 'data-view="network"' not in page.text  # not offered in the menu either


def test_language_from_the_browser_and_the_switch(web, parks) -> None:
    assert '<html lang="zh-CN">' in web.get("/signin", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    assert "请使用 API 密钥登录" in web.get("/signin", headers={"Accept-Language": "zh"}).text
    assert '<html lang="en">' in web.get("/signin", headers={"Accept-Language": "de,fr;q=0.8"}).text
    switched = web.get("/lang/zh-CN?next=/events%3Fpark%3Da")
    assert switched.headers["location"] == "/events?park=a" and "mg_lang=zh-CN" in switched.headers["set-cookie"]
    sign_in(web, parks["a"])
    page = web.get("/events?park=a", headers={"Accept-Language": "en"})
    assert '<html lang="zh-CN">' in page.text and "需求响应事件" in page.text
    assert web.get("/lang/xx?next=//evil").headers["location"] == "/today"


@pytest.mark.parametrize(("header", "expected"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("en-US,en;q=0.9,zh-CN;q=0.8", "en"), ("zh-TW", "en"),
    ("fr-FR, zh-Hans;q=0.7", "zh-CN"), ("en;q=0.2, zh;q=0.5", "zh-CN"), ("", "en"), (None, "en"),
    ("zh;q=0, en;q=0.1", "en"), ("zh;q=abc", "en")])
def test_accept_language_negotiation(header, expected) -> None:
    assert i18n.negotiate(header) == expected


def test_every_label_in_the_templates_is_in_the_catalogue_in_both_languages() -> None:
    templates = Path(i18n.__file__).parent / "templates"
    used = set()
    modules = [p for p in templates.parent.glob("*.py") if p.name != "i18n.py"]
    for path in [*templates.glob("*.html"), *modules]:
        used |= set(re.findall(r'\bt\(\s*"([a-z0-9_-]+)"\s*[,)]', path.read_text()))
    catalogues = {lang: service_i18n.labels(lang) for lang in i18n.LANGUAGES}
    assert used and used - set(catalogues["en"]) == set()
    assert set(catalogues["en"]) == set(catalogues["zh-CN"])  # every key in both languages
    for key in catalogues["en"]:
        texts = [catalogues[lang][key] for lang in i18n.LANGUAGES]
        assert all(texts), key
        assert len({frozenset(service_i18n.fields_of(t)) for t in texts}) == 1, key  # the same placeholders
    with pytest.raises(KeyError):
        i18n.translate("no_such_label", "en")


def test_every_label_a_template_builds_from_a_value_is_in_the_catalogue() -> None:
    """Statuses, kinds, strategies, deliveries and TOU periods become keys (``"status_" + plan.status``)."""
    from typing import get_args

    from service.api.schemas import EventIn, EventOut, Strategy

    built = {f"status_{s}" for s in ("optimal", "time_limit", "infeasible_relaxed", "not_optimized")}
    event_kinds = get_args(EventIn.model_fields["kind"].annotation)
    built |= {f"kind_{k}" for k in ("day_ahead", "intraday", "event", *event_kinds)}
    built |= {f"strategy_{s}" for s in get_args(Strategy)}
    built |= {f"delivery_{d}" for d in get_args(EventOut.model_fields["delivery"].annotation)}
    built |= {f"state_{s}" for s in get_args(EventOut.model_fields["status"].annotation)}
    built |= {f"tou_{p}" for p in charts.TOU_COLOURS}
    built |= {key for source in ("pv", "wind")  # charts._used_under_available
              for key in (f"chart_{source}", f"{source}_used", f"{source}_available")}
    from service.api.schemas import EventBaseline

    baseline = EventBaseline.model_fields
    built |= {f"event_baseline_{m}" for m in get_args(baseline["method"].annotation)}
    built |= {f"event_day_type_{d}" for d in get_args(get_args(baseline["day_type"].annotation)[0])}
    built |= {f"event_adjustment_{a}" for a in get_args(baseline["adjustment"].annotation) if a != "none"}
    built |= {f"event_basis_{b}" for b in get_args(get_args(baseline["adjustment_basis"].annotation)[0])
              if b != "unavailable"} | {"event_adjustment_unavailable"}
    assert built - set(service_i18n.labels("en")) == set()


# --------------------------------------------------------------------------- the chart builders


def rows(*values: dict, start_h: int = 0) -> list[dict]:
    return [{"timestamp": f"2026-07-15T{start_h + k // 4:02d}:{15 * (k % 4):02d}:00+08:00", **v}
            for k, v in enumerate(values)]


def en(key, **fields):
    return i18n.translate(key, "en", **fields)


def test_step_times_are_local_and_end_with_the_last_steps_end() -> None:
    steps = [{"timestamp": "2026-07-14T23:30:00+00:00"}, {"timestamp": "2026-07-14T23:45:00+00:00"}]
    assert charts.step_times(steps, "Asia/Shanghai", 0.25) == ["2026-07-15 07:30", "2026-07-15 07:45",
                                                                "2026-07-15 08:00"]
    assert charts.step_times(steps, "Europe/Berlin", 0.25)[0] == "2026-07-15 01:30"
    assert charts.step_times([], "Asia/Shanghai", 0.25) == []


def test_the_balance_stacks_sources_up_and_uses_down() -> None:
    schedule = rows({"pv_used_kw": 300.04, "grid_import_kw": 100.0, "battery_discharge_kw": 0.0,
                     "battery_charge_kw": 50.0, "grid_export_kw": 0.0, "load_kw": 350.04},
                    {"pv_used_kw": 0.0, "grid_import_kw": 400.0, "battery_discharge_kw": 20.0,
                     "battery_charge_kw": 0.0, "grid_export_kw": 0.0, "load_kw": 420.0})
    figure = charts.balance_figure(schedule, "Asia/Shanghai", 0.25, en,
                                   windows=[("2026-07-15 00:15", "2026-07-15 00:30")])
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert traces["PV used"]["y"] == [300.0, 0.0, 0.0] and traces["PV used"]["stackgroup"] == "in"
    assert traces["battery charge"]["y"] == [-50.0, 0.0, 0.0] and traces["battery charge"]["stackgroup"] == "out"
    assert "export" not in traces  # nothing exported: no empty trace
    assert traces["load"]["y"] == [350.0, 420.0, 420.0] and "stackgroup" not in traces["load"]
    for k in range(2):  # sources − uses = load at every step
        supply = sum(t["y"][k] for t in figure["data"] if t.get("stackgroup"))
        assert supply == pytest.approx(traces["load"]["y"][k], abs=0.11)
    assert figure["layout"]["shapes"][0]["x0"] == "2026-07-15 00:15"
    assert "demand-response window" in traces


def test_tou_periods_shade_the_price_chart() -> None:
    schedule = rows(*[{"price_import_cny_per_kwh": p, "tou_period": period}
                      for p, period in [(0.25, "valley")] * 2 + [(1.05, "peak")] + [(1.26, "critical_peak")]])
    figure = charts.price_figure(schedule, "Asia/Shanghai", 0.25, en)
    shapes = figure["layout"]["shapes"]
    assert [(s["x0"], s["x1"]) for s in shapes] == [("2026-07-15 00:00", "2026-07-15 00:30"),
                                                     ("2026-07-15 00:30", "2026-07-15 00:45"),
                                                     ("2026-07-15 00:45", "2026-07-15 01:00")]
    assert [s["fillcolor"] for s in shapes] == [charts.TOU_COLOURS[p] for p in ("valley", "peak", "critical_peak")]
    assert [t["name"] for t in figure["data"]] == ["import price", "valley", "peak", "critical peak"]
    assert figure["layout"]["yaxis"]["title"]["text"] == "price [CNY/kWh]"


def test_curtailment_is_the_band_between_available_and_used() -> None:
    schedule = rows({"pv_available_kw": 500.0, "pv_used_kw": 420.0}, {"pv_available_kw": 0.0, "pv_used_kw": 0.0})
    used, available = charts.pv_figure(schedule, "Asia/Shanghai", 0.25, en)["data"]
    assert used["fill"] == "tozeroy" and available["fill"] == "tonexty"
    assert [a - u for a, u in zip(available["y"], used["y"])] == [80.0, 0.0, 0.0]


def test_an_increase_events_target_is_above_the_baseline() -> None:
    steps = [{"timestamp": "2026-07-15T12:00:00+08:00", "baseline_import_kw": 500.0, "planned_import_kw": 610.0,
              "requested_kw": 100.0, "response_kw": 110.0}]
    baseline, planned, target = charts.event_figure(steps, "increase", "Asia/Shanghai", 0.25, en, "x")["data"]
    assert target["y"] == [600.0, 600.0] and planned["y"] == [610.0, 610.0] and baseline["y"] == [500.0, 500.0]


def test_network_steps_beyond_a_limit_are_marked() -> None:
    steps = rows({"max_trafo_loading_pct": 95.0, "max_trafo": "t1", "max_line_loading_pct": 40.0, "max_line": "l1",
                  "min_vm_pu": 0.97, "max_vm_pu": 1.0},
                 {"max_trafo_loading_pct": 104.0, "max_trafo": "t2", "max_line_loading_pct": 30.0, "max_line": "l1",
                  "min_vm_pu": 0.94, "max_vm_pu": 1.0})
    limits = {"max_trafo_loading_pct": 100.0, "max_line_loading_pct": 100.0, "min_vm_pu": 0.95, "max_vm_pu": 1.05}
    trafo, line, voltage = charts.network_figures(steps, "Asia/Shanghai", 0.25, en, limits)
    marks = {t["name"]: t for t in trafo["data"]}["violation"]
    assert marks["x"] == ["2026-07-15 00:15"] and marks["y"] == [104.0]
    assert {t["name"]: t for t in trafo["data"]}["Most loaded transformer"]["customdata"][:2] == ["t1", "t2"]
    assert "violation" not in {t["name"] for t in line["data"]}
    assert {t["name"]: t for t in voltage["data"]}["violation"]["y"] == [0.94]


def test_the_network_view_marks_every_overloaded_step(web) -> None:
    """The reference park with workshop 1 on a 1,000 kVA transformer: its no-control day overloads it."""
    import yaml

    from microgrid.network import validate_schedule
    from service.api.settings import REPO_ROOT

    document = yaml.safe_load((REPO_ROOT / "cases" / "zhengzhou_park" / "park.yaml").read_text())
    document["network"]["transformers"]["t_ws1"]["std_type"] = "cast-resin 1000 kVA 10/0.4 kV Dyn11"
    response = web.post("/parks", json={"id": "zz", "park": document, "case_folder": "zhengzhou_park"},
                        headers=ADMIN)
    assert response.status_code == 201, response.text
    plan = web.post("/parks/zz/plans", json={"date": "2026-07-15", "strategy": "no-control"}, headers=ADMIN).json()
    sign_in(web, ADMIN["X-API-Key"])
    page = web.get("/network?park=zz&date=2026-07-15")
    assert page.status_code == 200 and 'data-view="network"' in page.text
    figures = [json.loads(data) for data in re.findall(r'id="data-net\d">(.*?)</script>', page.text)]
    trafo = {trace["name"]: trace for trace in figures[0]["data"]}
    frame = pd.DataFrame(plan["schedule"])
    frame.index = pd.DatetimeIndex([pd.Timestamp(s) for s in frame.pop("timestamp")]).tz_convert("Asia/Shanghai")
    park = park_from_dict(document)
    report = validate_schedule(park, frame, folder=REPO_ROOT / "cases" / "zhengzhou_park")
    over = report.steps.index[report.steps["max_trafo_loading_pct"] > 100]
    assert len(over) > 0
    assert trafo["violation"]["x"] == [s.strftime("%Y-%m-%d %H:%M") for s in over]
    assert set(trafo["Most loaded transformer"]["customdata"]) >= {"t_ws1"}
    assert page.text.count('<tr class="violation">') == min(200, report.kpis["network_violations"])
    assert f'data-kpi="violations"><span class="label">Violations</span><span class="value">' \
           f'{report.kpis["network_violations"]}<' in page.text
