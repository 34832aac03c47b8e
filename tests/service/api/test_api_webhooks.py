"""Webhooks of a park against a real receiver on loopback: signed bodies, retries, the delivery log, access, URLs.

The receiver is a small HTTP server (``http.server``) on a free port of
127.0.0.1, in a thread, answering the statuses a test scripts. Deliveries are
checked with the receiver's function of the README (read from it), and the
retry delays are shortened to 0.05 s by the settings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api import notify
from service.api.db import init_db, make_engine, session_factory
from service.api.deps import get_planner, get_settings
from service.api.main import create_app
from service.api.notify.webhooks import retried, retry_delay_s, signature
from service.api.settings import Settings
from tests.service.api.conftest import ADMIN, ADMIN_KEY, assert_problem, issue_key, register

README = Path(__file__).resolve().parents[3] / "README.md"
PLAN = {"date": "2026-07-15", "strategy": "no-control"}
WAIT_S = 30.0
"""How long a test waits for a delivery at most (never a measured duration: a deadline against a hang)."""


def readme_receiver():
    """``verify_signature`` as the README's Notifications section gives it to receivers."""
    section = README.read_text().split("### Notifications", 1)[1].split("\n### ", 1)[0]
    code = next(block for block in re.findall(r"```python\n(.*?)```", section, re.S) if "def verify_signature" in block)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - the README's own snippet
    return namespace["verify_signature"]


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers the next of ``statuses`` (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.received.append((dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition, what: str):
    """Poll ``condition()`` until it returns something true; fail after :data:`WAIT_S`."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {WAIT_S:g} s: {what}")


def closed_port_url() -> str:
    """A loopback URL nobody listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The test settings with retries 0.05 s apart (0.05, 0.1, ...), three attempts."""
    return Settings(data_dir=tmp_path / "var", admin_key=ADMIN_KEY, reference_cases=[], webhook_retry_s=0.05,
                    webhook_retry_max_s=0.2, webhook_max_attempts=3, webhook_poll_s=0.2)


def add_webhook(client, park_id: str, url: str, headers=ADMIN, **fields) -> dict:
    response = client.post(f"/parks/{park_id}/webhooks", json={"url": url, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/parks/{park_id}/webhooks/{response.json()['id']}"
    return response.json()


def deliveries(client, park_id: str, webhook_id: int) -> list[dict]:
    response = client.get(f"/parks/{park_id}/webhooks/{webhook_id}/deliveries", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def settled(client, park_id: str, webhook_id: int, attempts: int):
    """The log once it has ``attempts`` rows and none pending."""
    def done():
        log = deliveries(client, park_id, webhook_id)
        return log if len(log) == attempts and all(d["state"] != "pending" for d in log) else None
    return wait_for(done, f"{attempts} settled attempts of webhook {webhook_id}")


# --------------------------------------------------------------------------- the signed request


def test_a_plan_is_delivered_signed_as_the_readme_tells_receivers_to_check(client, files) -> None:
    verify = readme_receiver()
    register(client, "a", files)
    with Receiver() as receiver:
        hook = add_webhook(client, "a", receiver.url, kinds=["plan.created"])
        assert hook["secret"].startswith("whsec_") and hook["secret"].startswith(hook["secret_prefix"])
        plan = client.post("/parks/a/plans", json=PLAN, headers=ADMIN).json()
        [attempt] = settled(client, "a", hook["id"], 1)
        [(headers, body)] = receiver.received
    assert verify(hook["secret"], headers, body)
    # by hand: HMAC-SHA256 over "<timestamp>.<body>", keyed with the secret
    mac = hmac.new(hook["secret"].encode(), f"{headers['X-Microgrid-Timestamp']}.".encode() + body, hashlib.sha256)
    assert headers["X-Microgrid-Signature"] == "sha256=" + mac.hexdigest()
    assert not verify(hook["secret"], headers, body.replace(b'"no-control"', b'"optimal"'))  # a changed body
    assert not verify("whsec_another", headers, body)
    assert not verify(hook["secret"], headers, body, tolerance_s=-1)  # too old
    event = json.loads(body)
    assert set(event) == {"id", "kind", "park_id", "created_at", "data"}
    assert event["kind"] == "plan.created" and event["park_id"] == "a"
    assert event["data"]["plan_id"] == plan["id"] and event["data"]["strategy"] == "no-control"
    assert event["data"]["href"] == f"/parks/a/plans/{plan['id']}"
    assert event["created_at"].endswith("+00:00")
    assert headers["Content-Type"] == "application/json" and headers["X-Microgrid-Event"] == "plan.created"
    assert headers["X-Microgrid-Delivery"] == attempt["delivery_id"]
    assert attempt["event_id"] == event["id"] and attempt["attempt"] == 1
    assert attempt["state"] == "delivered" and attempt["status_code"] == 200 and attempt["error"] is None
    assert attempt["response_time_s"] >= 0 and attempt["attempted_at"] is not None


def test_an_alerts_lifecycle_reaches_the_webhook_signed(client, files) -> None:
    """Opened by a measurement, acknowledged and resolved by the park's key: three signed events of one alert."""
    verify = readme_receiver()
    register(client, "a", files)
    key = issue_key(client, "a")
    with Receiver() as receiver:
        hook = add_webhook(client, "a", receiver.url, headers=key, kinds=["alert.*"])
        measured = client.post("/parks/a/measurements", headers=key, json={
            "measured_at": "2026-07-15T10:00:00+08:00", "month_to_date_peak_kw": 1500,
            "grid_import_kw": 1990})
        assert measured.status_code == 201, measured.text
        [alert] = [a for a in client.get("/parks/a/alerts?status=open", headers=key).json()
                   if a["rule"] == "import_limit" and a["subject"] == "contract_limit"]
        assert client.post(f"/parks/a/alerts/{alert['id']}/acknowledge", headers=key).status_code == 200
        assert client.post(f"/parks/a/alerts/{alert['id']}/resolve", headers=key).status_code == 200
        wait_for(lambda: len([b for _, b in receiver.received if json.loads(b)["data"]["alert_id"] == alert["id"]])
                 >= 3, "the alert's three events")
        received = [(h, b) for h, b in receiver.received if json.loads(b)["data"]["alert_id"] == alert["id"]]
    assert [json.loads(b)["kind"] for _, b in received] == ["alert.opened", "alert.acknowledged", "alert.resolved"]
    assert all(verify(hook["secret"], h, b) for h, b in received)
    data = [json.loads(b)["data"] for _, b in received]
    assert [d["status"] for d in data] == ["open", "acknowledged", "resolved"]
    assert data[0]["rule"] == "import_limit" and data[0]["value"] == 1990
    assert data[2]["resolution"] == "manual" and data[0]["href"] == f"/parks/a/alerts/{alert['id']}"


def test_signature_is_the_hmac_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"whsec_k", b"1784102400.{}", hashlib.sha256).hexdigest()
    assert signature("whsec_k", "1784102400", b"{}") == "sha256=" + expected
    assert len(expected) == 64


# --------------------------------------------------------------------------- retries


def test_a_failed_delivery_is_retried_and_every_attempt_is_in_the_log(client, files) -> None:
    register(client, "a", files)
    with Receiver([500]) as receiver:
        hook = add_webhook(client, "a", receiver.url)
        client.post("/parks/a/plans", json=PLAN, headers=ADMIN)
        second, first = settled(client, "a", hook["id"], 2)
        bodies = [body for _, body in receiver.received]
        delivery_ids = {headers["X-Microgrid-Delivery"] for headers, _ in receiver.received}
    assert (first["attempt"], first["state"], first["status_code"]) == (1, "retrying", 500)
    assert (second["attempt"], second["state"], second["status_code"]) == (2, "delivered", 200)
    assert first["delivery_id"] == second["delivery_id"] and delivery_ids == {first["delivery_id"]}
    assert len(bodies) == 2 and bodies[0] == bodies[1]  # the same event, signed anew
    # the retry was due 0.05 s (MICROGRID_WEBHOOK_RETRY_S) after the first attempt
    first_at = first["attempted_at"].replace("Z", "+00:00")
    due = second["next_attempt_at"].replace("Z", "+00:00")
    assert dt.datetime.fromisoformat(due) - dt.datetime.fromisoformat(first_at) == dt.timedelta(seconds=0.05)


def test_no_retry_after_a_400(client, files) -> None:
    register(client, "a", files)
    with Receiver([400]) as receiver:
        hook = add_webhook(client, "a", receiver.url)
        client.post("/parks/a/plans", json=PLAN, headers=ADMIN)
        [attempt] = settled(client, "a", hook["id"], 1)
        assert len(receiver.received) == 1
    assert (attempt["state"], attempt["status_code"], attempt["attempt"]) == ("failed", 400, 1)
    pending = client.get(f"/parks/a/webhooks/{hook['id']}/deliveries?state=pending", headers=ADMIN).json()
    assert pending == []


def test_429_is_retried_and_connection_errors_until_the_last_attempt(client, files) -> None:
    register(client, "a", files)
    down = add_webhook(client, "a", closed_port_url())
    with Receiver([429]) as receiver:
        busy = add_webhook(client, "a", receiver.url)
        client.post("/parks/a/plans", json=PLAN, headers=ADMIN)
        assert [d["status_code"] for d in settled(client, "a", busy["id"], 2)] == [200, 429]
    log = settled(client, "a", down["id"], 3)  # MICROGRID_WEBHOOK_MAX_ATTEMPTS = 3 here
    assert [(d["attempt"], d["state"], d["status_code"]) for d in log] == [
        (3, "failed", None), (2, "retrying", None), (1, "retrying", None)]
    assert all(d["error"].startswith("ConnectError") for d in log)


@pytest.mark.parametrize(("status", "again"), [(None, True), (500, True), (503, True), (408, True), (429, True),
                                               (400, False), (401, False), (404, False), (410, False),
                                               (301, False), (200, False)])
def test_which_answers_are_tried_again(status, again) -> None:
    assert retried(status) is again


def test_back_off_doubles_up_to_the_most_and_keeps_a_longer_retry_after() -> None:
    assert [retry_delay_s(n, 1.0, 10.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert retry_delay_s(1, 1.0, 10.0, "5") == 5.0
    assert retry_delay_s(3, 1.0, 10.0, "2") == 4.0  # shorter than the back-off: the back-off
    assert retry_delay_s(1, 1.0, 10.0, "3600") == 10.0  # at most the most
    assert retry_delay_s(1, 1.0, 10.0, "soon") == 1.0


# --------------------------------------------------------------------------- what goes where


def test_kinds_filter_the_events_and_inactive_webhooks_get_none(client, files) -> None:
    register(client, "a", files)
    register(client, "b", files)
    with Receiver() as receiver:
        alerts = add_webhook(client, "a", receiver.url, kinds=["alert.*"])
        plans = add_webhook(client, "a", receiver.url, kinds=["plan.created"])
        off = add_webhook(client, "a", receiver.url, active=False)
        other_park = add_webhook(client, "b", receiver.url)
        client.post("/parks/a/plans", json=PLAN, headers=ADMIN)
        opened = notify.publish("a", "alert.opened", {"alert_id": 7, "message": "b1 SoC below its plan"})
        assert [d["kind"] for d in settled(client, "a", plans["id"], 1)] == ["plan.created"]
        [alert] = settled(client, "a", alerts["id"], 1)
        assert alert["kind"] == "alert.opened" and alert["event_id"] == opened["id"]
        assert len(receiver.received) == 2
    assert deliveries(client, "a", off["id"]) == [] and deliveries(client, "b", other_park["id"]) == []
    with pytest.raises(ValueError, match="kind: 'alert.exploded' is not an event kind"):
        notify.publish("a", "alert.exploded", {})


def test_pending_deliveries_resume_after_a_restart(settings, planner, files) -> None:
    def app():
        application = create_app()
        application.dependency_overrides[get_settings] = lambda: settings
        application.dependency_overrides[get_planner] = lambda: planner
        application.state.study_executor_factory = lambda: ThreadPoolExecutor(max_workers=1)
        return application

    with Receiver() as receiver:
        with TestClient(app()) as client:
            register(client, "a", files)
            hook = add_webhook(client, "a", receiver.url)
        # published while no server runs: stored with its pending delivery, sent by nobody yet
        engine = make_engine(settings.database_url)
        init_db(engine)
        with session_factory(engine)() as session:
            published = notify.publish("a", "alert.resolved", {"alert_id": 3}, session=session)
            session.commit()
        engine.dispose()
        assert receiver.received == []
        with TestClient(app()) as client:
            [attempt] = settled(client, "a", hook["id"], 1)
        [(_, body)] = receiver.received
    assert attempt["state"] == "delivered" and json.loads(body)["id"] == published["id"]


def test_a_rolled_back_transaction_publishes_nothing(client, files) -> None:
    register(client, "a", files)
    with Receiver() as receiver:
        hook = add_webhook(client, "a", receiver.url)
        with client.app.state.session_factory() as session:
            notify.publish("a", "alert.opened", {"alert_id": 1}, session=session)
            session.rollback()
        client.post("/parks/a/plans", json=PLAN, headers=ADMIN)
        [attempt] = settled(client, "a", hook["id"], 1)
    assert attempt["kind"] == "plan.created" and len(receiver.received) == 1


# --------------------------------------------------------------------------- access and validation


def test_a_parks_key_sees_only_its_parks_webhooks(client, files) -> None:
    register(client, "a", files)
    register(client, "b", files)
    key_a, key_b = issue_key(client, "a"), issue_key(client, "b")
    hook = add_webhook(client, "a", "https://ops.example.com/hook", headers=key_a)
    for method, path in (("GET", "/parks/a/webhooks"), ("POST", "/parks/a/webhooks"),
                         ("GET", f"/parks/a/webhooks/{hook['id']}"), ("DELETE", f"/parks/a/webhooks/{hook['id']}"),
                         ("GET", f"/parks/a/webhooks/{hook['id']}/deliveries")):
        body = {"url": "https://evil.example/hook"} if method == "POST" else None
        assert_problem(client.request(method, path, json=body, headers=key_b), 403, None, "not valid for park 'a'")
        assert client.request(method, path, json=body).status_code == 401
    assert_problem(client.get(f"/parks/b/webhooks/{hook['id']}", headers=key_b), 404, None, "no webhook")
    assert_problem(client.get("/parks/ghost/webhooks", headers=ADMIN), 404)
    listed = client.get("/parks/a/webhooks", headers=key_a).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    assert listed[0]["secret_prefix"] == hook["secret"][:10]
    assert client.delete(f"/parks/a/webhooks/{hook['id']}", headers=key_a).status_code == 204
    assert client.get("/parks/a/webhooks", headers=key_a).json() == []
    assert_problem(client.get(f"/parks/a/webhooks/{hook['id']}/deliveries", headers=key_a), 404)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://ops.example.com/hook", "plain http is accepted only for a webhook receiver on this machine"),
    ("ftp://127.0.0.1/hook", "https://host[:port]/path"),
    ("https:///no-host", "https://host[:port]/path"),
    ("not a url", "https://host[:port]/path"),
    ("https://127.0.0.1:99999/hook", "https://host[:port]/path"),
])
def test_a_bad_url_is_a_422_naming_the_field(client, files, url, reason) -> None:
    register(client, "a", files)
    body = assert_problem(client.post("/parks/a/webhooks", json={"url": url}, headers=ADMIN), 422, "url")
    assert reason in body["errors"][0]["reason"] and body["detail"].startswith("url: ")


def test_webhook_hosts_limit_where_webhooks_may_point(client, files, settings) -> None:
    register(client, "a", files)
    settings.webhook_hosts = ["hooks.example.com"]
    add_webhook(client, "a", "https://hooks.example.com/x")
    body = assert_problem(client.post("/parks/a/webhooks", json={"url": "https://other.example/x"}, headers=ADMIN),
                          422, "url")
    assert "MICROGRID_WEBHOOK_HOSTS" in body["detail"] and "'other.example'" in body["detail"]


def test_an_unknown_kind_or_field_is_a_422_naming_it(client, files) -> None:
    register(client, "a", files)
    url = "https://ops.example.com/hook"
    assert_problem(client.post("/parks/a/webhooks", json={"url": url, "kinds": ["plan.deleted"]}, headers=ADMIN),
                   422, "kinds.0")
    assert_problem(client.post("/parks/a/webhooks", json={"url": url, "secret": "mine"}, headers=ADMIN),
                   422, "secret")


def test_a_park_has_at_most_twenty_webhooks(client, files) -> None:
    register(client, "a", files)
    for k in range(20):
        add_webhook(client, "a", f"https://ops.example.com/hook/{k}")
    assert_problem(client.post("/parks/a/webhooks", json={"url": "https://ops.example.com/21"}, headers=ADMIN),
                   409, None, "delete one first")
