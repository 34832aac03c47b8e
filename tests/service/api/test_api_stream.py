"""``GET /parks/{id}/stream``: a park's events as server-sent events, live and resumed with ``Last-Event-ID``.

The application runs in uvicorn on a free loopback port in a thread of the
test process (a stream is read as it comes, which the in-process test client
cannot do); the events are published through the service itself (a plan)
and through :func:`service.api.notify.publish`.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn

from service.api import notify
from service.api.deps import get_planner, get_settings
from service.api.main import create_app
from service.api.notify.stream import event_stream
from tests.service.api.conftest import ADMIN, assert_problem, issue_key, register
from tests.service.api.test_api_server import free_port

PLAN = {"date": "2026-07-15", "strategy": "no-control"}
READ_TIMEOUT_S = 30.0


@pytest.fixture
def live(settings, planner):
    """The application served by uvicorn on 127.0.0.1 in a thread: its base URL."""
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_planner] = lambda: planner
    app.state.study_executor_factory = lambda: ThreadPoolExecutor(max_workers=1)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(30)


def events(response: httpx.Response):
    """The server-sent events of a streamed response, as dicts of their fields (``comment`` for ``:`` lines)."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if fields:
                yield fields
            fields = {}
        elif line.startswith(":"):
            fields["comment"] = line[1:].strip()
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def test_a_published_plan_appears_on_the_stream_with_its_kind_and_id(live, files) -> None:
    with httpx.Client(base_url=live, headers=ADMIN, timeout=READ_TIMEOUT_S) as http:
        register(http, "a", files)
        register(http, "b", files)
        key = issue_key(http, "a")
        with http.stream("GET", "/parks/a/stream", headers=key) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            stream = events(response)
            assert next(stream) == {"comment": "connected", "retry": "3000"}  # subscribed from here on
            assert http.post("/parks/b/plans", json=PLAN).status_code == 201  # another park's: not on a's stream
            plan = http.post("/parks/a/plans", json=PLAN).json()
            event = next(stream)
        body = json.loads(event["data"])
        assert event["event"] == "plan.created" == body["kind"]
        assert event["id"] == str(body["id"])
        assert body["park_id"] == "a" and body["data"]["plan_id"] == plan["id"]
        assert body["data"]["status"] == plan["status"]


def test_last_event_id_resumes_with_the_missed_events_then_live_ones(live, files) -> None:
    with httpx.Client(base_url=live, headers=ADMIN, timeout=READ_TIMEOUT_S) as http:
        register(http, "a", files)
        register(http, "b", files)
        seen = notify.publish("a", "alert.opened", {"alert_id": 1})
        missed = [notify.publish("a", "alert.acknowledged", {"alert_id": 1}),
                  notify.publish("b", "alert.opened", {"alert_id": 2}),  # park b's
                  notify.publish("a", "alert.resolved", {"alert_id": 1})]
        with http.stream("GET", "/parks/a/stream", headers={"Last-Event-ID": str(seen["id"])}) as response:
            stream = events(response)
            assert next(stream)["comment"] == "connected"
            replayed = [next(stream), next(stream)]
            later = notify.publish("a", "alert.opened", {"alert_id": 3})
            live_event = next(stream)
    assert [(e["event"], e["id"]) for e in replayed] == [("alert.acknowledged", str(missed[0]["id"])),
                                                         ("alert.resolved", str(missed[2]["id"]))]
    assert json.loads(replayed[1]["data"]) == missed[2]
    assert (live_event["event"], live_event["id"]) == ("alert.opened", str(later["id"]))


def test_the_stream_is_authorized_like_the_parks_other_routes(client, files) -> None:
    register(client, "a", files)
    register(client, "b", files)
    key_b = issue_key(client, "b")
    assert_problem(client.get("/parks/a/stream", headers=key_b), 403, None, "not valid for park 'a'")
    assert_problem(client.get("/parks/a/stream"), 401)
    assert_problem(client.get("/parks/ghost/stream", headers=ADMIN), 404)
    assert_problem(client.get("/parks/a/stream", headers={**ADMIN, "Last-Event-ID": "yesterday"}), 422,
                   "header.Last-Event-ID")
    assert_problem(client.get("/parks/a/stream", headers={**ADMIN, "Last-Event-ID": "-1"}), 422,
                   "header.Last-Event-ID")


def test_a_stream_ends_after_its_longest_time_and_replays_at_most_the_backlog(client, files, settings) -> None:
    """With MICROGRID_STREAM_MAX_S the answer ends (and the in-process client gets it whole)."""
    register(client, "a", files)
    ids = [notify.publish("a", "alert.opened", {"alert_id": k})["id"] for k in range(5)]
    settings.stream_max_s, settings.stream_backlog_events = 0.3, 3
    response = client.get("/parks/a/stream", headers={**ADMIN, "Last-Event-ID": "0"})
    assert response.status_code == 200
    assert [line.removeprefix("id: ") for line in response.text.splitlines() if line.startswith("id: ")] == \
        [str(i) for i in ids[-3:]]  # the three newest


def test_the_stream_leaves_the_hub_when_it_ends(client, files, settings) -> None:
    register(client, "a", files)
    hub = client.app.state.notifier
    settings.stream_max_s = 0.2
    assert client.get("/parks/a/stream", headers=ADMIN).status_code == 200
    assert hub.streams("a") == 0


@pytest.mark.anyio
async def test_the_generator_ends_when_the_hub_stops() -> None:
    hub = notify.Hub(session_factory=None)
    items = event_stream(hub, "a", None, 10, 60.0)
    assert (await anext(items)).comment == "connected"
    assert hub.streams("a") == 1
    hub.stop()
    with pytest.raises(StopAsyncIteration):
        await anext(items)
    assert hub.streams("a") == 0
