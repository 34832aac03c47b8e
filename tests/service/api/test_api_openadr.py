"""OpenADR 2.0b: the park as a VEN of a real openleadr VTN on 127.0.0.1, the event mapping, the settings routes."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import socket
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from service.api.openadr import Mapping, StepGrid, map_event, power_factor_kw, service_event_id
from service.api.schemas import PARK_ID_PATTERN, OpenAdrConfigIn
from tests.service.api.conftest import ADMIN, assert_problem, tiny_files, tiny_park

pytestmark = pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey:UserWarning")
"""openleadr's VTN (the test's, not the service's) keys its aiohttp application with a string."""

TZ = "Asia/Shanghai"
WAIT_S = 90.0
"""Longest wait for something the VTN or the service should do (a hang fails; nothing is timed)."""


# --- a VTN on 127.0.0.1, in its own thread and event loop ----------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Vtn:
    """An openleadr ``OpenADRServer`` over plain http that records registrations, opts and report values."""

    def __init__(self, accept: bool = True, tls: dict[str, Path] | None = None) -> None:
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/OpenADR2/Simple/2.0b"
        self.accept = accept
        self.tls = tls
        self.registrations: queue.Queue = queue.Queue()
        self.opts: queue.Queue = queue.Queue()
        self.reports: queue.Queue = queue.Queue()
        self.sent: dict = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-vtn", daemon=True)
        self.server = None

    def call(self, function, *args, **kwargs):
        """Run ``function`` on the VTN's loop and return its result."""
        async def run():
            result = function(*args, **kwargs)
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    def start(self) -> "Vtn":
        self.thread.start()
        self.call(self._start)
        return self

    async def _start(self) -> None:
        from openleadr import OpenADRServer

        tls = self.tls or {}
        secure = {} if not tls else {
            "cert": str(tls["vtn_cert"]), "key": str(tls["vtn_key"]), "http_cert": str(tls["vtn_cert"]),
            "http_key": str(tls["vtn_key"]), "http_ca_file": str(tls["ca"]), "ven_lookup": self._ven_lookup}
        self.server = OpenADRServer(vtn_id="TEST-VTN", http_host="127.0.0.1", http_port=self.port,
                                    requested_poll_freq=dt.timedelta(seconds=1),
                                    verify_message_signatures=bool(tls), show_fingerprint=False,
                                    show_server_cert_domain=False, **secure)
        self.server.add_handler("on_create_party_registration", self._register)
        self.server.add_handler("on_register_report", self._register_report)
        await self.server.run()

    def _ven_lookup(self, ven_id: str) -> dict | None:
        """The VEN this VTN knows, with the fingerprint of its certificate (delivered out of band)."""
        from openleadr.utils import certificate_fingerprint

        if ven_id != "ven-tls-ven":
            return None
        return {"ven_id": ven_id, "ven_name": "tls-ven", "registration_id": "registration-1",
                "fingerprint": certificate_fingerprint(self.tls["ven_cert"].read_text())}

    def _register(self, payload: dict):
        self.registrations.put((payload["ven_name"], payload.get("ven_id")))
        if not self.accept:
            return False
        return payload.get("ven_id") or f"ven-{payload['ven_name']}", "registration-1"

    async def _register_report(self, ven_id, resource_id, measurement, unit, scale, min_sampling_interval,
                               max_sampling_interval):
        def received(values):
            for stamp, value in values:
                self.reports.put((resource_id, measurement, unit, scale, stamp, value))

        return received, min_sampling_interval

    def add_event(self, ven_id: str, signal_type: str, start: dt.datetime, minutes: list[int], payloads: list[float],
                  measurement=None, signal_name: str = "LOAD_DISPATCH", event_id: str | None = None) -> str:
        """An event of one signal with consecutive intervals; each answer is put on :attr:`opts`."""
        from openleadr import objects

        intervals, cursor = [], start
        for uid, (length, payload) in enumerate(zip(minutes, payloads)):
            intervals.append(objects.Interval(dtstart=cursor, duration=dt.timedelta(minutes=length),
                                              signal_payload=payload, uid=uid))
            cursor += dt.timedelta(minutes=length)

        def add():
            event = objects.Event(
                event_descriptor=objects.EventDescriptor(event_id=event_id or f"ev-{time.time_ns()}",
                                                         modification_number=0, market_context="oadr://park-dr",
                                                         event_status="far"),
                active_period=objects.ActivePeriod(dtstart=start, duration=cursor - start),
                event_signals=[objects.EventSignal(intervals=intervals, signal_name=signal_name,
                                                   signal_type=signal_type, signal_id="signal-1",
                                                   measurement=measurement)],
                targets=[{"ven_id": ven_id}], response_required="always")
            self.sent[event.event_descriptor.event_id] = event
            return self.server.add_raw_event(ven_id=ven_id, event=event, callback=self._opted)

        return self.call(add)

    def _opted(self, ven_id, event_id, opt_type):
        event = self.sent[event_id]                    # openleadr drops a cancelled event on its answer
        self.opts.put((event_id, event.event_descriptor.modification_number, opt_type))
        self.server.event_callbacks[event_id] = (event, self._opted)  # openleadr keeps only the first answer

    def modify_event(self, ven_id: str, event_id: str, payloads: list[float]) -> None:
        from openleadr import utils

        def modify():
            event = next(e for e in self.server.events[ven_id] if e.event_descriptor.event_id == event_id)
            for interval, payload in zip(event.event_signals[0].intervals, payloads):
                interval.signal_payload = payload
            utils.increment_event_modification_number(event)
            self.server.events_updated[ven_id] = True

        self.call(modify)

    def cancel_event(self, ven_id: str, event_id: str) -> None:
        self.call(self.server.cancel_event, ven_id, event_id)

    def stop(self) -> None:
        from openleadr.service import VTNService

        if self.server is not None:
            self.call(self.server.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if "ven_lookup" in vars(VTNService):      # openleadr keeps it on the class: the next VTN must not see it
            delattr(VTNService, "ven_lookup")


def next_opt(vtn: Vtn, event_id: str, modification: int) -> str:
    """The VEN's answer to that modification of the event (earlier or repeated answers skipped)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            got_id, got_modification, opt = vtn.opts.get(timeout=deadline - time.monotonic())
        except queue.Empty:
            break
        if got_id == event_id and got_modification == modification:
            return opt
    pytest.fail(f"the VTN got no answer to event {event_id} (modification {modification}) within {WAIT_S:g} s")


def next_report(vtn: Vtn, wanted=lambda report: True) -> tuple:
    """The next report value the VTN received that is ``wanted``."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            report = vtn.reports.get(timeout=deadline - time.monotonic())
        except queue.Empty:
            break
        if wanted(report):
            return report
    pytest.fail(f"the VTN got no report within {WAIT_S:g} s")


def wait_for(condition, what: str):
    """Poll ``condition()`` until it returns something truthy; fail after :data:`WAIT_S`."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"{what} within {WAIT_S:g} s")


@pytest.fixture
def vtn():
    server = Vtn().start()
    yield server
    server.stop()


def steady_park() -> dict:
    """The tiny park on a flat price, its battery to end as it starts (75 %): idle in the baseline at any hour,
    so that a reduction the VTN asks for is met by discharging it, whatever the time the test runs."""
    park = tiny_park(tariff={"prices_cny_per_kwh": {"flat": 0.6}})
    park["batteries"] = {"b1": {**park["batteries"]["b1"], "initial_soc_frac": 0.75, "final_soc_frac": 0.75,
                                "throughput_cost_cny_per_kwh": 0.01}}
    return park


def today_local() -> dt.date:
    return pd.Timestamp.now(tz=TZ).date()


def register_today(client, tmp_path: Path, park_id: str, park: dict) -> None:
    """A park with data from yesterday to two days ahead (the VTN's events are in the near future)."""
    start = (today_local() - dt.timedelta(days=1)).isoformat()
    files = tiny_files(tmp_path / park_id, park, start=start, days=4)
    response = client.post("/parks", json={"id": park_id, "park": park, "data_files": files}, headers=ADMIN)
    assert response.status_code == 201, response.text


def next_window_start(lead_steps: int = 2) -> dt.datetime:
    """A 15-min step boundary ``lead_steps`` steps from now (UTC)."""
    now = pd.Timestamp.now(tz="UTC")
    return (now.floor("15min") + pd.Timedelta(minutes=15 * lead_steps)).to_pydatetime()


def configure(client, park_id: str, vtn: Vtn | str, **changes) -> dict:
    body = {"enabled": True, "vtn_url": vtn if isinstance(vtn, str) else vtn.url, "ven_name": f"{park_id}-ven",
            "report_interval_s": 1, "incentive_cny_per_kwh": 2.5, **changes}
    response = client.put(f"/parks/{park_id}/openadr", json=body, headers=ADMIN)
    assert response.status_code in (200, 201), response.text
    return response.json()


def registered(client, park_id: str) -> dict:
    def check():
        status = client.get(f"/parks/{park_id}/openadr", headers=ADMIN).json()["status"]
        return status if status["state"] == "registered" else None

    return wait_for(check, f"park {park_id}'s VEN did not register")


def power(unit: str, scale: str):
    from openleadr import objects

    return objects.Measurement(name="powerReal", description="RealPower", unit=unit, scale=scale,
                               power_attributes=objects.PowerAttributes(hertz=50, voltage=10000, ac=True))


# --- the Done-when test: a real VTN, an event, opt-in, re-plan, reports --------------------------

def test_a_load_dispatch_event_from_a_real_vtn_is_planned_opted_into_and_the_demand_reported(
        client, tmp_path, vtn) -> None:
    register_today(client, tmp_path, "tiny", steady_park())
    measured_at = pd.Timestamp.now(tz=TZ).floor("s") - pd.Timedelta(minutes=1)
    measurement = {"measured_at": measured_at.isoformat(), "soc_kwh": {"b1": 300}, "month_to_date_peak_kw": 800,
                   "load_kw": 900.0, "pv_kw": 250.0, "grid_import_kw": 612.5, "grid_export_kw": 0.0}
    assert client.post("/parks/tiny/measurements", json=measurement, headers=ADMIN).status_code == 201

    configured = configure(client, "tiny", vtn)
    assert configured["config"]["enabled"] is True and configured["events"] == []
    assert vtn.registrations.get(timeout=WAIT_S) == ("tiny-ven", None)
    status = registered(client, "tiny")
    assert status["ven_id"] == "ven-tiny-ven" and status["registration_id"] == "registration-1"
    assert status["poll_interval_s"] == 1

    # a 30-minute cap of 100 000 W (100 kW), half an hour ahead
    start = next_window_start()
    event_id = vtn.add_event("ven-tiny-ven", "setpoint", start, [15, 15], [100_000.0, 100_000.0],
                             measurement=power("W", "none"))
    assert next_opt(vtn, event_id, 0) == "optIn"
    stored = client.get(f"/parks/tiny/events/oadr-{event_id}", headers=ADMIN)
    assert stored.status_code == 200, stored.text
    answer = stored.json()
    assert answer["status"] == "active" and answer["version"] == 1
    assert answer["event"]["kind"] == "reduce" and answer["event"]["max_import_kw"] == pytest.approx(100.0)
    assert pd.Timestamp(answer["event"]["start"]) == pd.Timestamp(start)
    assert pd.Timestamp(answer["event"]["end"]) == pd.Timestamp(start) + pd.Timedelta(minutes=30)
    assert answer["event"]["incentive_cny_per_kwh"] == 2.5
    assert pd.Timestamp(answer["event"]["notified_at"]) <= pd.Timestamp.now(tz="UTC")
    assert answer["delivery"] in ("full", "partial") and answer["response_kwh"] > 0
    plan = answer["plan"]
    assert plan["kind"] == "event" and plan["measurement_id"] is not None
    capped = [row for row in plan["schedule"]
              if pd.Timestamp(start) <= pd.Timestamp(row["timestamp"]) < pd.Timestamp(start) + pd.Timedelta(minutes=30)]
    assert len(capped) == 2 and len(answer["steps"]) == 2
    for step in answer["steps"]:
        assert step["planned_import_kw"] < step["baseline_import_kw"]       # re-planned below its baseline

    # the metered demand: grid import 612.5 − export 0 kW, stamped with its metering time
    resource, measured, unit, scale, stamp, value = next_report(vtn)
    assert (resource, measured, unit, scale) == ("tiny", "RealPower", "W", "k")
    assert value == pytest.approx(612.5) and pd.Timestamp(stamp) == measured_at
    newer = {**measurement, "measured_at": (measured_at + pd.Timedelta(seconds=30)).isoformat(),
             "grid_import_kw": 0.0, "grid_export_kw": 40.0}
    assert client.post("/parks/tiny/measurements", json=newer, headers=ADMIN).status_code == 201
    *_, stamp, value = next_report(vtn, lambda report: report[5] != pytest.approx(612.5))
    assert value == pytest.approx(-40.0) and pd.Timestamp(stamp) == measured_at + pd.Timedelta(seconds=30)

    ven = client.get("/parks/tiny/openadr", headers=vtn_key(client)).json()
    assert ven["status"]["last_poll_at"] is not None and ven["status"]["last_poll_ok"] is True
    assert ven["status"]["report_requested"] is True
    report = ven["status"]["last_report"]
    assert report["values"][0]["demand_kw"] in (pytest.approx(612.5), pytest.approx(-40.0))
    (received,) = ven["events"]
    assert received["oadr_event_id"] == event_id and received["opt"] == "optIn"
    assert received["event_ids"] == [f"oadr-{event_id}"] and received["modification_number"] == 0
    assert "delivery" in received["reason"]

    # the VTN modifies the event: a cap of 150 kW, re-planned as version 2
    vtn.modify_event("ven-tiny-ven", event_id, [150_000.0, 150_000.0])
    assert next_opt(vtn, event_id, 1) == "optIn"
    changed = client.get(f"/parks/tiny/events/oadr-{event_id}", headers=ADMIN).json()
    assert changed["version"] == 2 and changed["event"]["max_import_kw"] == pytest.approx(150.0)
    assert changed["plan"]["id"] != plan["id"]

    # the VTN cancels it: the park's event is cancelled
    vtn.cancel_event("ven-tiny-ven", event_id)
    assert next_opt(vtn, event_id, 2) == "optIn"
    cancelled = client.get(f"/parks/tiny/events/oadr-{event_id}", headers=ADMIN).json()
    assert cancelled["status"] == "cancelled" and cancelled["requested_kwh"] == 0
    assert client.get("/parks/tiny/openadr", headers=ADMIN).json()["events"][0]["status"] == "cancelled"


def vtn_key(client) -> dict[str, str]:
    """The park's own key: it may read its VEN."""
    response = client.post("/keys", json={"name": "park", "park_ids": ["tiny"]}, headers=ADMIN)
    return {"X-API-Key": response.json()["token"]}


def test_an_event_the_park_cannot_deliver_is_opted_out_of_and_does_not_bind_it(client, tmp_path, vtn) -> None:
    park = tiny_park()
    park.pop("batteries")                        # fixed load and PV: nothing can lower the import
    register_today(client, tmp_path, "rigid", park)
    configure(client, "rigid", vtn)
    registered(client, "rigid")
    event_id = vtn.add_event("ven-rigid-ven", "setpoint", next_window_start(), [30], [0.0],
                             measurement=power("W", "k"))
    assert next_opt(vtn, event_id, 0) == "optOut"
    event = client.get(f"/parks/rigid/events/oadr-{event_id}", headers=ADMIN).json()
    assert event["status"] == "cancelled"         # planned once (delivery none), then withdrawn
    (received,) = client.get("/parks/rigid/openadr", headers=ADMIN).json()["events"]
    assert received["opt"] == "optOut" and "cannot be delivered: delivery none" in received["reason"]


def test_a_signal_the_park_cannot_map_is_opted_out_of_and_the_ven_keeps_running(client, tmp_path, vtn,
                                                                                 caplog) -> None:
    register_today(client, tmp_path, "tiny", steady_park())
    configure(client, "tiny", vtn)
    registered(client, "tiny")
    caplog.set_level(logging.WARNING, logger="service.api.openadr")
    price = vtn.add_event("ven-tiny-ven", "price", next_window_start(), [30], [1.2], signal_name="ELECTRICITY_PRICE")
    assert next_opt(vtn, price, 0) == "optOut"
    assert any("no signal the park can act on (got ELECTRICITY_PRICE/price)" in r.getMessage() for r in caplog.records)
    assert client.get(f"/parks/tiny/events/oadr-{price}", headers=ADMIN).status_code == 404
    # a delta of +50 kW (kW as no itemBase is given): a reduction, planned and opted into
    delta = vtn.add_event("ven-tiny-ven", "delta", next_window_start(), [15], [50.0])
    assert next_opt(vtn, delta, 0) == "optIn"
    assert client.get(f"/parks/tiny/events/oadr-{delta}", headers=ADMIN).json()["event"]["reduce_by_kw"] == 50


def test_an_enabled_ven_starts_with_the_service_and_registers_again_with_its_ven_id(settings, planner, tmp_path,
                                                                                     vtn) -> None:
    from fastapi.testclient import TestClient

    from service.api.deps import get_planner, get_settings
    from service.api.main import create_app

    def app():
        application = create_app()
        application.dependency_overrides[get_settings] = lambda: settings
        application.dependency_overrides[get_planner] = lambda: planner
        return application

    with TestClient(app()) as first:
        register_today(first, tmp_path, "tiny", steady_park())
        configure(first, "tiny", vtn)
        assert vtn.registrations.get(timeout=WAIT_S) == ("tiny-ven", None)
        registered(first, "tiny")
    with TestClient(app()) as second:                  # the same database: started at start-up
        assert vtn.registrations.get(timeout=WAIT_S) == ("tiny-ven", "ven-tiny-ven")
        assert registered(second, "tiny")["ven_id"] == "ven-tiny-ven"
        assert second.get("/health").status_code == 200


def test_an_unreachable_vtn_is_retried_and_the_service_keeps_answering(client, tmp_path) -> None:
    register_today(client, tmp_path, "tiny", steady_park())
    nobody = f"http://127.0.0.1:{free_port()}/OpenADR2/Simple/2.0b"       # nobody listens on that port
    body = configure(client, "tiny", nobody, report_interval_s=5)
    assert body["status"]["state"] in ("registering", "retrying")

    def retrying():
        status = client.get("/parks/tiny/openadr", headers=ADMIN).json()["status"]
        return status if status["state"] == "retrying" else None

    status = wait_for(retrying, "the VEN did not report the failed registration")
    assert "did not register the VEN" in status["last_error"] and status["next_retry_at"] is not None
    assert client.get("/health").status_code == 200
    assert client.delete("/parks/tiny/openadr", headers=ADMIN).status_code == 204
    assert_problem(client.get("/parks/tiny/openadr", headers=ADMIN), 404, None, "has no OpenADR VEN")


def test_disabling_stops_the_ven_and_cancels_its_registration(client, tmp_path, vtn) -> None:
    register_today(client, tmp_path, "tiny", steady_park())
    configure(client, "tiny", vtn)
    since = registered(client, "tiny")["registered_at"]
    assert configure(client, "tiny", vtn)["status"]["registered_at"] == since     # the same again: no restart
    assert vtn.registrations.qsize() == 1
    cancelled = []
    vtn.server.add_handler("on_cancel_party_registration", lambda payload: cancelled.append(payload) or
                           ("oadrCanceledPartyRegistration", {"registration_id": payload["registration_id"]}))
    body = configure(client, "tiny", vtn, enabled=False)
    assert body["status"]["state"] == "stopped" and body["config"]["enabled"] is False
    assert [p["registration_id"] for p in cancelled] == ["registration-1"]


# --- settings: validation and defaults -----------------------------------------------------------

VALID = {"vtn_url": "https://vtn.example.com/OpenADR2/Simple/2.0b", "ven_name": "park"}


@pytest.fixture
def tiny(client, files) -> str:
    response = client.post("/parks", json={"id": "tiny", "park": tiny_park(), "data_files": files}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return "tiny"


def test_a_ven_is_off_until_configured_and_stored_as_given(client, tiny) -> None:
    assert_problem(client.get("/parks/tiny/openadr", headers=ADMIN), 404, None, "PUT /parks/tiny/openadr")
    response = client.put("/parks/tiny/openadr", json=VALID, headers=ADMIN)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/parks/tiny/openadr"
    body = response.json()
    assert body["config"] == {**VALID, "enabled": False, "ven_id": None, "cert_path": None, "key_path": None,
                              "ca_file": None, "vtn_fingerprint": None, "check_hostname": True,
                              "report_interval_s": 60.0, "incentive_cny_per_kwh": 0.0, "positive_delta": "reduce",
                              "simple_levels_kw": [], "pcc_voltage_v": 10000.0}
    assert body["status"]["state"] == "stopped" and body["events"] == []
    again = client.put("/parks/tiny/openadr", json={**VALID, "report_interval_s": 30}, headers=ADMIN)
    assert again.status_code == 200 and again.json()["config"]["report_interval_s"] == 30
    assert client.get("/parks/tiny/openadr", headers=ADMIN).json() == again.json()
    assert_problem(client.put("/parks/ghost/openadr", json=VALID, headers=ADMIN), 404, None, "no park 'ghost'")


@pytest.mark.parametrize(("change", "field", "fragment"), [
    ({"vtn_url": "http://vtn.example.com/OpenADR2/Simple/2.0b"}, "vtn_url", "plain http"),
    ({"vtn_url": "ftp://127.0.0.1/x"}, "vtn_url", "https://host"),
    ({"vtn_url": "vtn.example.com"}, "vtn_url", "https://host"),
    ({"cert_path": "/etc/ven.crt"}, "key_path", "together"),
    ({"cert_path": "CERT", "key_path": "KEY"}, "ca_file", "CA bundle"),
    ({"cert_path": "/nonexistent/ven.crt", "key_path": "KEY", "ca_file": "KEY"}, "cert_path", "no file"),
    ({"vtn_fingerprint": "not-a-fingerprint"}, "vtn_fingerprint", None),
    ({"report_interval_s": 0.5}, "report_interval_s", None),
    ({"incentive_cny_per_kwh": -1}, "incentive_cny_per_kwh", None),
    ({"positive_delta": "up"}, "positive_delta", None),
    ({"simple_levels_kw": [100, -5]}, "simple_levels_kw.1", None),
    ({"simple_levels_kw": [1, 2, 3, 4]}, "simple_levels_kw", None),
    ({"ven_name": ""}, "ven_name", None),
    ({"poll_s": 3}, "poll_s", None),
])
def test_bad_settings_are_422_naming_the_field(client, tiny, tmp_path, change, field, fragment) -> None:
    key = tmp_path / "ven.key"
    key.write_text("not read before the VEN starts")
    change = {k: (str(key) if v in ("KEY", "CERT") else v) for k, v in change.items()}
    response = client.put("/parks/tiny/openadr", json={**VALID, **change}, headers=ADMIN)
    assert_problem(response, 422, field, *([fragment] if fragment else []))
    assert client.get("/parks/tiny/openadr", headers=ADMIN).status_code == 404


def test_plain_http_is_accepted_for_a_loopback_vtn(client, tiny) -> None:
    for url in ("http://127.0.0.1:8080/OpenADR2/Simple/2.0b", "http://localhost/x", "http://[::1]:81/x"):
        assert client.put("/parks/tiny/openadr", json={**VALID, "vtn_url": url}, headers=ADMIN).status_code in (200,
                                                                                                               201)


def test_deleting_the_ven_needs_one(client, tiny) -> None:
    assert_problem(client.delete("/parks/tiny/openadr", headers=ADMIN), 404, None, "has no OpenADR VEN")
    assert client.put("/parks/tiny/openadr", json=VALID, headers=ADMIN).status_code == 201
    assert client.delete("/parks/tiny/openadr", headers=ADMIN).status_code == 204
    assert client.get("/parks/tiny/openadr", headers=ADMIN).status_code == 404


# --- the signal → event mapping, by hand -----------------------------------------------------------

GRID = StepGrid(anchor=pd.Timestamp("2026-07-15T00:00:00+08:00"), step=pd.Timedelta(minutes=15), timezone=TZ)
NOW = dt.datetime(2026, 7, 15, 8, 0, tzinfo=dt.timezone.utc)                    # 16:00 in the park
CREATED = dt.datetime(2026, 7, 15, 7, 30, tzinfo=dt.timezone.utc)
CONFIG = OpenAdrConfigIn(vtn_url="http://127.0.0.1/x", ven_name="v", incentive_cny_per_kwh=1.5)


def oadr_event(signal_type: str, intervals: list[tuple[str, int, float]], measurement: dict | None = None,
               signal_name: str = "LOAD_DISPATCH", status: str = "far", **descriptor) -> dict:
    """An event as openleadr parses it; intervals as (local start HH:MM on 2026-07-15, minutes, payload)."""
    def at(hhmm: str) -> dt.datetime:
        return pd.Timestamp(f"2026-07-15T{hhmm}:00+08:00").tz_convert("UTC").to_pydatetime()

    parsed = [{"dtstart": at(start), "duration": dt.timedelta(minutes=minutes), "signal_payload": payload, "uid": i}
              for i, (start, minutes, payload) in enumerate(intervals)]
    signal = {"signal_name": signal_name, "signal_type": signal_type, "signal_id": "s", "intervals": parsed}
    if measurement is not None:
        signal["measurement"] = measurement
    return {"event_descriptor": {"event_id": "e1", "modification_number": 0, "event_status": status,
                                 "created_date_time": CREATED, "test_event": False, **descriptor},
            "active_period": {"dtstart": parsed[0]["dtstart"],
                              "duration": sum((p["duration"] for p in parsed), dt.timedelta(0))},
            "event_signals": [signal], "response_required": "always"}


def local(mapping: Mapping) -> list[tuple[str, str, str, str, float]]:
    """(kind, local start, local end, amount field, kW) of each window."""
    out = []
    for body in mapping.windows:
        field = next(f for f in ("max_import_kw", "reduce_by_kw", "increase_by_kw") if getattr(body, f) is not None)
        out.append((body.kind, pd.Timestamp(body.start).tz_convert(TZ).strftime("%H:%M"),
                    pd.Timestamp(body.end).tz_convert(TZ).strftime("%H:%M"), field, getattr(body, field)))
    return out


@pytest.mark.parametrize(("measurement", "payload", "kw"), [
    (None, 500.0, 500.0),                                                   # no itemBase: kW
    ({"name": "powerReal", "unit": "W", "scale": "none"}, 500_000.0, 500.0),
    ({"name": "powerReal", "unit": "W", "scale": "k"}, 500.0, 500.0),
    ({"name": "powerReal", "unit": "W", "scale": "M"}, 0.5, 500.0),
    ({"name": "powerReal", "unit": "kW", "scale": "none"}, 500.0, 500.0),
    ({"name": "energyReal", "unit": "Wh", "scale": "k"}, 125.0, 500.0),     # 125 kWh in 15 min: 500 kW
])
def test_a_setpoint_is_a_cap_on_the_import_in_kw(measurement, payload, kw) -> None:
    mapping = map_event(oadr_event("setpoint", [("19:00", 15, payload), ("19:15", 15, payload)], measurement),
                        CONFIG, GRID, NOW)
    assert mapping.action == "apply" and mapping.signal == "LOAD_DISPATCH/setpoint"
    assert local(mapping) == [("reduce", "19:00", "19:30", "max_import_kw", pytest.approx(kw))]
    (body,) = mapping.windows
    assert body.incentive_cny_per_kwh == 1.5 and body.notified_at == CREATED and body.errors() == []
    assert mapping.event_ids("e1") == ["oadr-e1"]


def test_deltas_reduce_or_increase_by_their_sign_and_the_parks_convention() -> None:
    event = oadr_event("delta", [("19:00", 30, 120.0), ("19:30", 15, 0.0), ("19:45", 15, -80.0)],
                       {"name": "powerReal", "unit": "W", "scale": "k"})
    mapping = map_event(event, CONFIG, GRID, NOW)
    assert local(mapping) == [("reduce", "19:00", "19:30", "reduce_by_kw", 120.0),
                              ("increase", "19:45", "20:00", "increase_by_kw", 80.0)]
    assert mapping.event_ids("e1") == ["oadr-e1-1", "oadr-e1-2"]             # the 0 kW interval asks nothing
    flipped = map_event(event, CONFIG.model_copy(update={"positive_delta": "increase"}), GRID, NOW)
    assert local(flipped) == [("increase", "19:00", "19:30", "increase_by_kw", 120.0),
                              ("reduce", "19:45", "20:00", "reduce_by_kw", 80.0)]


def test_windows_off_the_step_grid_are_widened_to_it_and_past_ones_left_out() -> None:
    event = oadr_event("setpoint", [("15:40", 30, 900.0), ("16:10", 25, 700.0), ("16:35", 20, 700.0)])
    mapping = map_event(event, CONFIG, GRID, NOW)                             # now is 16:00 local
    assert local(mapping) == [("reduce", "15:30", "16:15", "max_import_kw", 900.0),
                              ("reduce", "16:00", "17:00", "max_import_kw", 700.0)]
    later = map_event(event, CONFIG, GRID, NOW + dt.timedelta(minutes=20))    # 16:20: the first window is over
    assert local(later) == [("reduce", "16:00", "17:00", "max_import_kw", 700.0)]
    assert later.event_ids("e1") == ["oadr-e1-2"]
    over = map_event(event, CONFIG, GRID, NOW + dt.timedelta(hours=2))
    assert over.action == "ignore" and over.reason == "the event is over" and not over.withdraw


def test_simple_levels_map_to_the_parks_reductions_when_it_gives_them() -> None:
    event = oadr_event("level", [("19:00", 30, 2.0), ("19:30", 30, 0.0)], signal_name="SIMPLE")
    assert map_event(event, CONFIG, GRID, NOW).action == "ignore"
    levels = CONFIG.model_copy(update={"simple_levels_kw": [100.0, 250.0]})
    assert local(map_event(event, levels, GRID, NOW)) == [("reduce", "19:00", "19:30", "reduce_by_kw", 250.0)]
    three = oadr_event("level", [("19:00", 30, 3.0)], signal_name="SIMPLE")
    ignored = map_event(three, levels, GRID, NOW)
    assert ignored.action == "ignore" and "level 3 has no reduction" in ignored.reason


@pytest.mark.parametrize(("event", "fragment"), [
    (oadr_event("price", [("19:00", 30, 1.0)], signal_name="ELECTRICITY_PRICE"), "no signal the park can act on"),
    (oadr_event("multiplier", [("19:00", 30, 1.0)]), "got LOAD_DISPATCH/multiplier"),
    (oadr_event("setpoint", [("19:00", 30, 1.0)], {"name": "currency", "unit": "USD", "scale": "none"}),
     "itemUnits 'USD'"),
    (oadr_event("setpoint", [("19:00", 30, 1.0)], {"name": "powerReal", "unit": "W", "scale": "x"}),
     "not an SI scale code"),
    (oadr_event("setpoint", [("19:00", 30, -200.0)]), "is an export"),
    (oadr_event("setpoint", [("19:00", 30, 100.0)], test_event=True), "a test event"),
    (oadr_event("setpoint", [("19:00", 30, 100.0)], created_date_time=dt.datetime(2026, 7, 15, 12, 0,
                                                                                   tzinfo=dt.timezone.utc)),
     "notified_at: must be before the window's end"),
    (oadr_event("setpoint", [(f"{17 + i // 4}:{15 * (i % 4):02d}", 15, 100.0 + i) for i in range(9)]),
     "9 different requests"),
])
def test_what_the_park_cannot_act_on_is_ignored_with_the_reason(event, fragment) -> None:
    mapping = map_event(event, CONFIG, GRID, NOW)
    assert mapping.action == "ignore" and fragment in mapping.reason, mapping.reason


def test_a_cancelled_event_is_a_cancellation() -> None:
    mapping = map_event(oadr_event("setpoint", [("19:00", 30, 100.0)], status="cancelled"), CONFIG, GRID, NOW)
    assert mapping.action == "cancel"


def test_service_event_ids_are_valid_and_distinct() -> None:
    import re

    ids = [service_event_id(e, n, w) for e, n, w in [("a", 1, 1), ("a", 2, 2), ("a.b", 1, 1), ("a-b", 1, 1),
                                                     ("x" * 200, 1, 1), ("x" * 200 + "y", 1, 1)]]
    assert all(re.match(PARK_ID_PATTERN, i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert ids[:2] == ["oadr-a", "oadr-a-2"]


def test_power_factor_of_an_energy_depends_on_the_interval() -> None:
    assert power_factor_kw({"unit": "Wh", "scale": "k"}, dt.timedelta(hours=2)) == pytest.approx(0.5)
    assert power_factor_kw({"unit": "MWh", "scale": "none"}, dt.timedelta(minutes=30)) == pytest.approx(2000)


# --- one event answered without a VTN: modifications, planning failures, the reported demand -----

def parsed_event(event_id: str, start: dt.datetime, minutes: list[int], payloads: list[float],
                 modification: int = 0, signal_type: str = "setpoint", status: str = "far",
                 created: dt.datetime | None = None) -> dict:
    """An event as openleadr parses it, in kW (no itemBase), intervals back to back from ``start``."""
    intervals, cursor = [], start
    for uid, (length, payload) in enumerate(zip(minutes, payloads)):
        intervals.append({"dtstart": cursor, "duration": dt.timedelta(minutes=length), "signal_payload": payload,
                          "uid": uid})
        cursor += dt.timedelta(minutes=length)
    return {"event_descriptor": {"event_id": event_id, "modification_number": modification, "event_status": status,
                                 "created_date_time": created or start - dt.timedelta(hours=1),
                                 "test_event": False},
            "active_period": {"dtstart": start, "duration": cursor - start},
            "event_signals": [{"signal_name": "LOAD_DISPATCH", "signal_type": signal_type, "signal_id": "s",
                               "intervals": intervals}],
            "response_required": "always"}


def answer(client, settings, planner, event: dict, park_id: str = "tiny"):
    from service.api.openadr import answer_event

    session = client.app.state.session_factory()
    try:
        return answer_event(session, settings, planner, park_id, CONFIG, event)
    finally:
        session.close()


def test_a_modification_with_fewer_windows_cancels_the_ones_it_dropped(client, settings, planner,
                                                                       tmp_path) -> None:
    register_today(client, tmp_path, "tiny", steady_park())
    start = next_window_start()
    first = answer(client, settings, planner, parsed_event("m1", start, [15, 15], [900.0, 850.0]))
    assert first.opt == "optIn" and first.event_ids == ["oadr-m1-1", "oadr-m1-2"]
    events = {e["id"]: e for e in client.get("/parks/tiny/events", headers=ADMIN).json()}
    assert [events[i]["event"]["max_import_kw"] for i in first.event_ids] == [900.0, 850.0]
    second = answer(client, settings, planner, parsed_event("m1", start, [30], [800.0], modification=1))
    assert second.opt == "optIn" and second.event_ids == ["oadr-m1"]
    events = {e["id"]: e for e in client.get("/parks/tiny/events", headers=ADMIN).json()}
    assert events["oadr-m1"]["status"] == "active" and events["oadr-m1"]["event"]["max_import_kw"] == 800.0
    assert events["oadr-m1-1"]["status"] == events["oadr-m1-2"]["status"] == "cancelled"
    again = answer(client, settings, planner, parsed_event("m1", start, [30], [800.0], modification=1))
    assert again.opt == "optIn"                                                # the same again: no re-plan
    assert client.get("/parks/tiny/events/oadr-m1", headers=ADMIN).json()["version"] == 1
    cancelled = answer(client, settings, planner, parsed_event("m1", start, [30], [800.0], modification=2,
                                                               status="cancelled"))
    assert cancelled.opt == "optIn" and "oadr-m1" in cancelled.reason
    assert client.get("/parks/tiny/events/oadr-m1", headers=ADMIN).json()["status"] == "cancelled"


def test_an_event_that_cannot_be_planned_is_opted_out_of_with_the_reason(client, settings, planner,
                                                                         tmp_path) -> None:
    register_today(client, tmp_path, "tiny", steady_park())
    beyond = pd.Timestamp(today_local() + dt.timedelta(days=10), tz=TZ).to_pydatetime()   # after the park's data
    refused = answer(client, settings, planner, parsed_event("far", beyond, [30], [500.0]))
    assert refused.opt == "optOut" and "planning oadr-far failed" in refused.reason
    assert "outside the park's data" in refused.reason
    assert client.get("/parks/tiny/events/oadr-far", headers=ADMIN).status_code == 404


def test_the_reported_demand_is_the_metered_net_import_and_each_measurement_once(client, tmp_path) -> None:
    from service.api.db import MeasurementRow
    from service.api.measurements import metered_demand_kw
    from service.api.openadr import new_demand

    assert metered_demand_kw(MeasurementRow(grid_import_kw=612.5, grid_export_kw=None), True) == 612.5
    assert metered_demand_kw(MeasurementRow(grid_import_kw=0.0, grid_export_kw=40.0), True) == -40.0
    assert metered_demand_kw(MeasurementRow(grid_export_kw=40.0), True) == -40.0
    assert metered_demand_kw(MeasurementRow(load_kw=900.0, pv_kw=250.0), False) == 650.0
    assert metered_demand_kw(MeasurementRow(load_kw=900.0, pv_kw=250.0), True) is None     # batteries not metered
    assert metered_demand_kw(MeasurementRow(load_kw=900.0), False) is None

    register_today(client, tmp_path, "tiny", steady_park())
    session = client.app.state.session_factory()
    try:
        assert new_demand(session, "tiny", None) is None                                   # no measurement
        state = {"measured_at": "2026-12-01T08:00:00+08:00", "soc_kwh": {"b1": 200}, "month_to_date_peak_kw": 0}
        client.post("/parks/tiny/measurements", json={**state, "load_kw": 900, "pv_kw": 250}, headers=ADMIN)
        assert new_demand(session, "tiny", None) is None                                   # a battery, no meter
        row = client.post("/parks/tiny/measurements", json={**state, "grid_import_kw": 700.25},
                          headers=ADMIN).json()
        found = new_demand(session, "tiny", None)
        assert found == (row["id"], pd.Timestamp("2026-12-01T00:00:00Z"), 700.25)
        assert new_demand(session, "tiny", row["id"]) is None                              # already reported
    finally:
        session.close()


def test_the_service_answers_while_a_ven_re_plans(settings, tmp_path, vtn) -> None:
    from fastapi.testclient import TestClient

    from service.api.deps import get_planner, get_settings
    from service.api.main import create_app
    from service.api.planner import Planner

    class GatedPlanner(Planner):
        """Holds the event re-plans until the test opens the gate."""

        def __init__(self) -> None:
            base = Planner.thread_pool(workers=1, max_in_progress=4)
            super().__init__(base.executor, 1, 4)
            self.entered, self.gate = threading.Event(), threading.Event()

        def run(self, job, *args, timeout_s):
            if job.__name__ == "event_job":
                self.entered.set()
                assert self.gate.wait(WAIT_S)
            return super().run(job, *args, timeout_s=timeout_s)

    planner = GatedPlanner()
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_planner] = lambda: planner
    try:
        with TestClient(app) as client:
            register_today(client, tmp_path, "tiny", steady_park())
            configure(client, "tiny", vtn)
            registered(client, "tiny")
            event_id = vtn.add_event("ven-tiny-ven", "delta", next_window_start(), [15], [50.0])
            assert planner.entered.wait(WAIT_S)                  # the VEN's re-plan waits in the worker pool
            answers = []
            asking = threading.Thread(target=lambda: answers.extend(
                [client.get("/health").status_code, client.get("/parks/tiny/openadr", headers=ADMIN).json()]))
            asking.start()
            asking.join(WAIT_S)
            assert answers[:1] == [200] and answers[1]["status"]["state"] == "registered"
            planner.gate.set()
            assert next_opt(vtn, event_id, 0) == "optIn"
    finally:
        planner.gate.set()
        planner.shutdown()


# --- over TLS: client certificates and signed messages both ways ----------------------------------

def certificates(folder: Path) -> dict[str, Path]:
    """A CA, a VTN certificate for 127.0.0.1 and a VEN certificate it signed, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def issue(subject: str, key, issuer_name, issuer_key, ca: bool, extensions=()) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer_name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(stem: str, cert: x509.Certificate, key) -> None:
        (folder / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / f"{stem}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                               serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("test CA", ca_key, name("test CA"), ca_key, ca=True)
    vtn_key = ec.generate_private_key(ec.SECP256R1())
    vtn = issue("127.0.0.1", vtn_key, ca.subject, ca_key, ca=False, extensions=[
        x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])])
    ven_key = ec.generate_private_key(ec.SECP256R1())
    ven = issue("tls-ven", ven_key, ca.subject, ca_key, ca=False)
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    write("vtn", vtn, vtn_key)
    write("ven", ven, ven_key)
    return {"ca": folder / "ca.crt", "vtn_cert": folder / "vtn.crt", "vtn_key": folder / "vtn.key",
            "ven_cert": folder / "ven.crt", "ven_key": folder / "ven.key"}


def test_over_tls_with_certificates_and_fingerprints_the_ven_registers_and_answers(client, tmp_path) -> None:
    from openleadr.utils import certificate_fingerprint

    files = certificates(tmp_path / "pki")
    vtn = Vtn(tls=files).start()
    try:
        register_today(client, tmp_path, "tiny", steady_park())
        configure(client, "tiny", vtn, ven_name="tls-ven", cert_path=str(files["ven_cert"]),
                  key_path=str(files["ven_key"]), ca_file=str(files["ca"]),
                  vtn_fingerprint=certificate_fingerprint(files["vtn_cert"].read_text()))
        assert registered(client, "tiny")["ven_id"] == "ven-tls-ven"
        event_id = vtn.add_event("ven-tls-ven", "delta", next_window_start(), [15], [50.0])
        assert next_opt(vtn, event_id, 0) == "optIn"                 # the VEN's signed answer was accepted
        assert client.get(f"/parks/tiny/events/oadr-{event_id}", headers=ADMIN).json()["status"] == "active"
    finally:
        vtn.stop()


def test_a_vtn_whose_signature_does_not_match_the_fingerprint_is_not_trusted(client, tmp_path) -> None:
    files = certificates(tmp_path / "pki")
    vtn = Vtn(tls=files).start()
    try:
        register_today(client, tmp_path, "tiny", steady_park())
        configure(client, "tiny", vtn, ven_name="tls-ven", cert_path=str(files["ven_cert"]),
                  key_path=str(files["ven_key"]), ca_file=str(files["ca"]),
                  vtn_fingerprint="00:11:22:33:44:55:66:77:88:99")

        def refused():
            status = client.get("/parks/tiny/openadr", headers=ADMIN).json()["status"]
            return status if status["state"] == "retrying" else None

        status = wait_for(refused, "the VEN trusted a VTN of another fingerprint")
        assert status["registration_id"] is None and "did not register the VEN" in status["last_error"]
    finally:
        vtn.stop()
