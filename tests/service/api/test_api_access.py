"""Access control on every resource: 401 without a valid key, 403 for another park's data or admin actions."""

from __future__ import annotations

import time

import pytest

from service.api.main import create_app
from tests.service.api.conftest import ADMIN, assert_problem, issue_key, register, tiny_park

VEN = {"vtn_url": "https://vtn.example.com/OpenADR2/Simple/2.0b", "ven_name": "park-a"}
FORECAST = {"issued_at": "2026-07-14T18:00:00+08:00",
            "pv_kw": [{"timestamp": f"2026-07-15T{h:02d}:00:00+08:00", "pv1_kw": 0.0} for h in range(24)]}
EVENT = {"kind": "reduce", "start": "2026-07-15T12:00:00+08:00", "end": "2026-07-15T12:30:00+08:00",
         "reduce_by_kw": 50, "incentive_cny_per_kwh": 1.0, "notified_at": "2026-07-15T08:00:00+08:00"}

STUDY = {"start": "2026-07-15", "end": "2026-07-15", "strategies": ["no-control"], "replan_h": 24}

# Every route that needs a key: (method, path with its required query, body, admin only). Paths use park "a"; plan 1, event e1 and
# forecast 1 are a's, and so are webhook 1, alert 1 (its measurement is stale) and study 1 (started, and finished
# where a test needs it, by study_of_a).
PROTECTED = [
    ("GET", "/parks", None, False),
    ("POST", "/parks", {"id": "new", "case_folder": "zhengzhou_park"}, True),
    ("GET", "/parks/a", None, False),
    ("PUT", "/parks/a", {"park": tiny_park()}, False),
    ("GET", "/parks/a/versions", None, False),
    ("POST", "/parks/a/measurements", {"measured_at": "2026-07-14T22:00:00+08:00", "soc_kwh": {"b1": 200},
                                       "month_to_date_peak_kw": 900}, False),
    ("GET", "/parks/a/measurements/latest", None, False),
    ("GET", "/parks/a/measurements", None, True),
    ("GET", "/parks/a/measurements/1", None, True),
    ("PUT", "/parks/a/measurements/1", {"measured_at": "2026-07-15T00:00:00+08:00", "month_to_date_peak_kw": 700},
     True),
    ("DELETE", "/parks/a/measurements/1", None, True),
    ("POST", "/parks/a/plans", {"date": "2026-07-15", "strategy": "no-control"}, False),
    ("POST", "/parks/a/plans/intraday", {"horizon_h": 4, "strategy": "no-control"}, False),
    ("GET", "/parks/a/plans", None, False),
    ("GET", "/parks/a/plans/1", None, False),
    ("PUT", "/parks/a/events/e1", EVENT, False),
    ("GET", "/parks/a/events", None, False),
    ("GET", "/parks/a/events/e1", None, False),
    ("DELETE", "/parks/a/events/e1", None, False),
    ("PUT", "/parks/a/openadr", VEN, True),
    ("GET", "/parks/a/openadr", None, False),
    ("DELETE", "/parks/a/openadr", None, True),
    ("POST", "/parks/a/forecasts", FORECAST, False),
    ("GET", "/parks/a/forecasts", None, False),
    ("GET", "/parks/a/forecasts/1", None, False),
    ("DELETE", "/parks/a/forecasts/1", None, False),
    ("POST", "/parks/a/studies", STUDY, False),
    ("GET", "/parks/a/studies", None, False),
    ("GET", "/parks/a/studies/1", None, False),
    ("GET", "/parks/a/studies/1/report", None, False),
    ("GET", "/parks/a/studies/1/files/kpis.json", None, False),
    ("DELETE", "/parks/a/studies/1", None, False),
    ("GET", "/parks/a/carbon?month=2026-07", None, False),
    ("GET", "/parks/a/adherence?date=2026-07-15", None, False),
    ("GET", "/parks/a/alerts", None, False),
    ("GET", "/parks/a/alerts/1", None, False),
    ("POST", "/parks/a/alerts/1/acknowledge", None, False),
    ("POST", "/parks/a/alerts/1/resolve", None, False),
    ("POST", "/parks/a/alerts/evaluate", None, False),
    ("POST", "/parks/a/webhooks", {"url": "http://127.0.0.1:9/hook"}, False),
    ("GET", "/parks/a/webhooks", None, False),
    ("GET", "/parks/a/webhooks/1", None, False),
    ("GET", "/parks/a/webhooks/1/deliveries", None, False),
    ("DELETE", "/parks/a/webhooks/1", None, False),
    ("GET", "/parks/a/stream", None, False),
    ("POST", "/keys", {"name": "k", "park_ids": ["a"]}, True),
    ("GET", "/keys", None, True),
]
ROUTE_IDS = [f"{m} {p}" for m, p, _, _ in PROTECTED]
SCOPED = [route for route in PROTECTED if route[:2] != ("GET", "/parks")]
"""All but the park list, which a park's key may read (filtered: test_a_parks_key_lists_only_its_parks)."""


@pytest.fixture
def two_parks(client, files, settings) -> dict[str, dict[str, str]]:
    """Parks a and b; of a: a plan, a measurement, a forecast, a webhook (id 1 each), an event e1, a VEN (off); a key
    each. Streams end after 0.2 s (the in-process client reads an answer whole)."""
    settings.stream_max_s = 0.2
    register(client, "a", files)
    register(client, "b", files)
    plan = client.post("/parks/a/plans", json={"date": "2026-07-15", "strategy": "no-control"}, headers=ADMIN)
    assert plan.json()["id"] == 1
    measured = client.post("/parks/a/measurements", json={"measured_at": "2026-07-15T00:00:00+08:00",
                                                           "month_to_date_peak_kw": 800}, headers=ADMIN)
    assert measured.json()["id"] == 1
    assert client.get("/parks/a/alerts/1", headers=ADMIN).json()["rule"] == "stale_measurements"
    event = client.put("/parks/a/events/e1", json=EVENT, headers=ADMIN)
    assert event.status_code == 201, event.text
    assert client.put("/parks/a/openadr", json=VEN, headers=ADMIN).status_code == 201
    forecast = client.post("/parks/a/forecasts", json=FORECAST, headers=ADMIN)
    assert forecast.json()["id"] == 1, forecast.text
    webhook = client.post("/parks/a/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=ADMIN)  # refused
    assert webhook.json()["id"] == 1, webhook.text
    return {"a": issue_key(client, "a"), "b": issue_key(client, "b")}


def test_the_table_covers_every_route() -> None:
    paths = create_app().openapi()["paths"]
    routes = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    table = {(m, p.replace("/parks/a", "/parks/{park_id}").replace("/plans/1", "/plans/{plan_id}")
              .replace("/events/e1", "/events/{event_id}").replace("/studies/1", "/studies/{study_id}")
              .replace("/files/kpis.json", "/files/{name}").replace("/forecasts/1", "/forecasts/{forecast_id}")
              .replace("/measurements/1", "/measurements/{measurement_id}")
              .replace("/webhooks/1", "/webhooks/{webhook_id}").replace("/alerts/1", "/alerts/{alert_id}")
              .split("?")[0])
             for m, p, _, _ in PROTECTED}
    assert routes - {("GET", "/health")} == table


@pytest.mark.parametrize(("method", "path", "body", "admin_only"), PROTECTED, ids=ROUTE_IDS)
def test_without_a_key_is_401(client, two_parks, method, path, body, admin_only) -> None:
    response = client.request(method, path, json=body)
    problem = assert_problem(response, 401, None, "X-API-Key")
    assert response.headers["www-authenticate"].startswith("ApiKey")
    assert problem["instance"] == path.split("?")[0]


@pytest.mark.parametrize(("method", "path", "body", "admin_only"), PROTECTED, ids=ROUTE_IDS)
def test_an_unknown_key_is_401(client, two_parks, method, path, body, admin_only) -> None:
    assert_problem(client.request(method, path, json=body, headers={"X-API-Key": "mgk_not-a-key"}), 401, None,
                   "unknown API key")
    assert_problem(client.request(method, path, json=body, headers={"Authorization": "Bearer mgk_nope"}), 401)


@pytest.mark.parametrize(("method", "path", "body", "admin_only"), SCOPED,
                         ids=[f"{m} {p}" for m, p, _, _ in SCOPED])
def test_another_parks_key_is_403(client, two_parks, method, path, body, admin_only) -> None:
    response = client.request(method, path, json=body, headers=two_parks["b"])
    assert_problem(response, 403, None, "admin API key" if admin_only else "not valid for park 'a'")


def study_of_a(client, finished: bool) -> None:
    """Study 1 of park a; ``finished``: wait until it is done (its report and files exist)."""
    response = client.post("/parks/a/studies", json=STUDY, headers=ADMIN)
    assert response.status_code == 202 and response.json()["id"] == 1, response.text
    deadline = time.monotonic() + 60
    while finished and client.get("/parks/a/studies/1", headers=ADMIN).json()["state"] != "done":
        assert time.monotonic() < deadline, "study 1 did not finish"
        time.sleep(0.05)


@pytest.mark.parametrize(("method", "path", "body", "admin_only"), PROTECTED, ids=ROUTE_IDS)
def test_the_parks_own_key_may_do_all_but_admin_actions(client, two_parks, method, path, body, admin_only) -> None:
    if path.startswith("/parks/a/studies/"):
        study_of_a(client, finished=method == "GET")
    response = client.request(method, path, json=body, headers=two_parks["a"])
    if admin_only:
        assert_problem(response, 403, None, "needs an admin API key")
    elif (method, path) == ("POST", "/parks/a/studies"):
        assert response.status_code == 202, response.text
    elif (method, path) == ("DELETE", "/parks/a/studies/1"):  # cancelled, or done before the request came
        assert response.status_code in (200, 409) and response.json().get("state", "done") in ("cancelled", "done"), \
            response.text
    else:
        assert response.status_code in (200, 201, 204), response.text


def test_a_parks_key_lists_only_its_parks(client, two_parks) -> None:
    assert [p["id"] for p in client.get("/parks", headers=two_parks["b"]).json()] == ["b"]
    both = issue_key(client, "a", "b")
    assert [p["id"] for p in client.get("/parks", headers=both).json()] == ["a", "b"]


def test_403_does_not_reveal_whether_a_park_exists(client, two_parks) -> None:
    ghost = client.get("/parks/ghost", headers=two_parks["b"])
    real = client.get("/parks/a", headers=two_parks["b"])
    assert ghost.status_code == real.status_code == 403


def test_bearer_token_works_like_the_header(client, two_parks) -> None:
    token = two_parks["a"]["X-API-Key"]
    response = client.get("/parks/a", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_health_needs_no_key(client) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["database"] == "sqlite"
