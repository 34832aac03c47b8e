"""The dashboard in a real Chromium (Debian's ``chromium``, driven by Playwright) against the real server.

``microgrid service serve`` runs on a free loopback port with the reference
park; the browser signs in with that park's key, makes the day's plan, sees
its charts drawn, switches language, announces a demand-response event and
sees the answer and a form error, compares plans and opens the network view.
Every request the pages make is recorded: all go to the server's own origin.
It starts a study and opens its report.
Screenshots of each view at 1366×768 go to ``MICROGRID_SCREENSHOTS`` (default:
a temporary folder); the README shows the committed copies in ``docs/img/``.

Without Chromium (or Playwright) the tests are skipped with how to install it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.service.api.conftest import tiny_files, tiny_park
from tests.service.api.test_api_server import ADMIN_KEY, Server

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = ("no Chromium for the browser tests: install Debian's package with `apt-get install -y chromium` "
                "(as root; .ci/run does it), or point MICROGRID_CHROMIUM at a Chromium binary")
DAY = "2026-07-15"
SOLVE_TIMEOUT_MS = 120_000


def chromium_path() -> str | None:
    """MICROGRID_CHROMIUM, else the first Chromium on PATH."""
    if os.environ.get("MICROGRID_CHROMIUM"):
        return os.environ["MICROGRID_CHROMIUM"]
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        if os.environ.get("MICROGRID_REQUIRE_BROWSER"):
            pytest.fail(INSTALL_HINT + " (MICROGRID_REQUIRE_BROWSER is set: .ci/run wants these tests to run)")
        pytest.skip(INSTALL_HINT)
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        # Debian's Chromium, never a browser of Playwright's own; no sandbox as root (CI runs as root).
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard-server")
    server = Server(root / "var", '["zhengzhou_park"]').start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keys(server, tmp_path_factory) -> dict[str, str]:
    """A key for the reference park and one for another park (tiny, inline)."""
    admin = {"X-API-Key": ADMIN_KEY}
    with httpx.Client(base_url=server.url, headers=admin, timeout=60) as http:
        files = tiny_files(tmp_path_factory.mktemp("tiny"))
        other = http.post("/parks", json={"id": "other_park", "park": tiny_park(), "data_files": files})
        assert other.status_code == 201, other.text
        made = {}
        for name, park in (("zz", "zhengzhou_park"), ("other", "other_park")):
            response = http.post("/keys", json={"name": f"{name} operator", "park_ids": [park]})
            assert response.status_code == 201, response.text
            made[name] = response.json()["token"]
    return made


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("MICROGRID_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Recorder:
    """Every URL a page requests."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, request) -> None:
        self.urls.append(request.url)

    def outside(self, origin: str) -> list[str]:
        own = urlsplit(origin)
        return [url for url in self.urls if urlsplit(url).scheme not in ("data", "blob", "about")
                and (urlsplit(url).scheme, urlsplit(url).netloc) != (own.scheme, own.netloc)]


def new_page(browser, server, locale: str = "en-US", viewport=(1366, 768)):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale=locale,
                                  base_url=server.url)
    page = context.new_page()
    recorder = Recorder()
    page.on("request", recorder)
    return context, page, recorder


def sign_in(page, token: str) -> None:
    page.fill("#api_key", token)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def wait_drawn(page, name: str) -> int:
    """Wait for figure ``name`` to be drawn; the number of its plotted traces that hold data."""
    page.wait_for_selector(f'[data-figure="{name}"][data-drawn="true"]', timeout=30_000)
    selector = ", ".join(f'[data-figure="{name}"] {part}' for part in
                         (".scatterlayer .trace path.js-line", ".scatterlayer .trace path.js-fill",
                          ".barlayer .trace path"))
    return page.evaluate("selector => Array.from(document.querySelectorAll(selector))"
                         ".filter(p => (p.getAttribute('d') || '').length > 10).length", selector)


def test_an_operator_plans_the_day_answers_an_event_and_never_leaves_the_service(browser, server, keys, shots):
    context, page, recorder = new_page(browser, server)
    page.goto("/today")
    assert urlsplit(page.url).path == "/signin"
    assert page.locator("[data-message=signin_needed]").is_visible()
    sign_in(page, "mgk_not-a-key")
    assert "unknown or no longer valid" in page.locator("[data-error-for=api_key]").inner_text()
    sign_in(page, keys["zz"])
    assert urlsplit(page.url).path == "/today"
    cookie = next(c for c in context.cookies() if c["name"] == "mg_key")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"  # kept on http://127.0.0.1

    # An empty day says what to do; the button makes the plan and its no-control reference.
    page.goto(f"/today?date={DAY}")
    assert page.locator("#empty-plan").is_visible()
    page.screenshot(path=str(shots / "today-empty.png"))
    with page.expect_navigation(timeout=SOLVE_TIMEOUT_MS):
        page.click("#make-plan")
    for name in ("balance", "pv", "price", "soc", "thermal"):
        assert wait_drawn(page, name) >= 1, name
    assert page.locator("#kpis .kpi").count() == 7
    assert page.locator("[data-kpi=savings] .value").inner_text() != "—"
    assert "optimal" in page.locator("[data-kpi=solver]").inner_text()
    assert "time (Asia/Shanghai)" in page.locator('[data-figure="balance"] .g-xtitle').text_content()
    assert "power [kW]" in page.locator('[data-figure="balance"] .g-ytitle').text_content()
    page.screenshot(path=str(shots / "today.png"), full_page=True)

    # The language switch: every label in Chinese, the choice kept.
    page.click("[data-lang=zh-CN]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("[data-view=today]").inner_text() == "今日计划"
    wait_drawn(page, "balance")
    assert "功率 [kW]" in page.locator('[data-figure="balance"] .g-ytitle').text_content()
    page.screenshot(path=str(shots / "today-zh.png"), full_page=True)
    page.goto("/compare")
    assert page.locator("[data-view=compare]").inner_text() == "方案对比"
    page.click("[data-lang=en]")
    page.wait_for_load_state()
    assert page.locator("[data-view=compare]").inner_text() == "Compare"

    # Compare: the plan against its no-control reference.
    assert page.locator("#compare-table tbody tr").count() >= 8
    assert wait_drawn(page, "import") == 2 and wait_drawn(page, "diff") >= 1
    page.screenshot(path=str(shots / "compare.png"), full_page=True)

    # Events: a bad value is shown next to its field, with the service's message; then a reduce event.
    page.goto("/events")
    assert page.locator("#no-events").is_visible()
    page.fill("#start", f"{DAY}T19:00")
    page.fill("#end", f"{DAY}T21:00")
    page.fill("#notified_at", f"{DAY}T09:00")
    page.select_option("#amount_kind", "max_import_kw")
    page.fill("#amount", "lots")
    page.click("#send-event")
    page.wait_for_load_state()
    assert page.locator("[data-error-for=amount]").inner_text() == "enter a number"
    page.fill("#amount", "-300")
    page.click("#send-event")
    page.wait_for_load_state()
    assert "greater than or equal to 0" in page.locator("[data-error-for=amount]").inner_text()
    page.fill("#end", f"{DAY}T18:00")
    page.fill("#amount", "3000")
    page.click("#send-event")
    page.wait_for_load_state()
    assert "after start" in page.locator("[data-error-for=end]").inner_text()
    page.screenshot(path=str(shots / "events-error.png"), full_page=True)
    page.fill("#end", f"{DAY}T21:00")
    with page.expect_navigation(timeout=SOLVE_TIMEOUT_MS):
        page.click("#send-event")
    answer = page.locator("#answer")
    assert answer.get_attribute("data-delivery") in ("full", "partial", "none")
    assert page.locator("#event-list tbody tr").count() == 1
    assert wait_drawn(page, "answer") >= 3
    page.screenshot(path=str(shots / "events.png"), full_page=True)

    # Today shows the event's window over the plan (the event's re-plan is the current plan).
    page.goto(f"/today?date={DAY}")
    wait_drawn(page, "balance")
    assert page.locator('[data-figure="balance"] .layer-below .shapelayer path').count() >= 1

    # Network: the AC power flow of the plan, per step.
    page.goto(f"/network?date={DAY}")
    for name in ("net0", "net1", "net2"):
        assert wait_drawn(page, name) >= 2, name
    page.screenshot(path=str(shots / "network.png"), full_page=True)

    # Studies: start one day of three strategies, follow its progress, open its report.
    page.goto("/studies")
    assert page.locator("#no-studies").is_visible()
    page.fill("#study_start", DAY)
    page.fill("#study_end", DAY)
    page.fill("#replan_h", "6")
    for name in ("no-control", "rule-based", "mpc"):
        page.check(f"input[name=strategies][value={name}]")
    with page.expect_navigation(timeout=SOLVE_TIMEOUT_MS):
        page.click("#start-study")
    row = page.locator("#study-list tbody tr").first
    assert row.get_attribute("data-state") in ("queued", "running", "done")
    page.wait_for_selector('#study-list tbody tr[data-state="done"]', timeout=300_000)  # the page refreshes itself
    # the three ticked and the default baseline, the TOU rule, that the savings are measured against
    assert page.locator("#study-kpis tbody tr").count() == 4
    assert "TOU arbitrage" in page.locator("#study-kpis tbody").inner_text()
    page.screenshot(path=str(shots / "studies.png"), full_page=True)
    with page.expect_popup() as popup:
        page.click("[data-report]")
    report = popup.value
    report.wait_for_load_state()
    assert "KPIs of the period" in report.content()
    report.close()

    # A tablet in portrait: one column, nothing wider than the screen.
    tablet, tablet_page, tablet_recorder = new_page(browser, server, viewport=(820, 1180))
    tablet.add_cookies(context.cookies())
    tablet_page.goto(f"/today?date={DAY}")
    wait_drawn(tablet_page, "balance")
    assert tablet_page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    tablet_page.screenshot(path=str(shots / "today-tablet.png"), full_page=True)
    tablet.close()

    # Signing out, and a key that stops working, both return to sign-in with a message.
    page.click(".signout button")
    page.wait_for_load_state()
    assert urlsplit(page.url).path == "/signin" and page.locator("[data-message=signed_out]").is_visible()
    context.add_cookies([{**cookie, "value": "mgk_revoked"}])
    page.goto("/events")
    assert urlsplit(page.url).path == "/signin" and page.locator("[data-message=key_invalid]").is_visible()
    page.screenshot(path=str(shots / "signin.png"))

    assert recorder.urls and not recorder.outside(server.url), recorder.outside(server.url)
    assert not tablet_recorder.outside(server.url)
    context.close()


def test_one_parks_key_never_shows_another_park(browser, server, keys):
    context, page, recorder = new_page(browser, server, locale="zh-CN")
    page.goto("/today")
    assert page.locator("html").get_attribute("lang") == "zh-CN"  # from Accept-Language
    sign_in(page, keys["other"])
    options = page.locator(".park-choice option").all_inner_texts()
    assert options == ["tiny park (other_park)"]
    assert "zhengzhou" not in page.content().lower()
    response = page.goto(f"/today?park=zhengzhou_park&date={DAY}")
    assert response.status == 403 and "zhengzhou_park" in page.locator(".problem").inner_text()
    for path in ("/events", "/compare", "/network"):
        response = page.goto(f"{path}?park=zhengzhou_park")
        assert response.status == 403, path
    assert not recorder.outside(server.url)
    context.close()


def test_a_new_plan_shows_a_live_notice_on_the_open_page(browser, server, keys, shots):
    for locale, lang, expected in (("en-US", "en", "New plan #{id} for 2026-07-16."),
                                   ("zh-CN", "zh-CN", "已生成新计划 #{id}（2026-07-16）。")):
        context, page, recorder = new_page(browser, server, locale=locale)
        page.goto("/signin?next=/events")
        sign_in(page, keys["other"])
        assert urlsplit(page.url).path == "/events" and page.locator("html").get_attribute("lang") == lang
        notice = page.locator("#live-notice")
        assert notice.is_hidden()
        # once the page's stream is open (the server answered /live?park=other_park), a plan is made elsewhere
        page.wait_for_selector("#live-notice[data-stream=open]", state="attached", timeout=30_000)
        with httpx.Client(base_url=server.url, headers={"X-API-Key": keys["other"]}, timeout=60) as http:
            made = http.post("/parks/other_park/plans", json={"date": "2026-07-16", "strategy": "no-control"})
            assert made.status_code == 201, made.text
        page.wait_for_selector("#live-notice:not([hidden])", timeout=30_000)
        assert notice.locator(".live-text").inner_text() == expected.format(id=made.json()["id"])
        assert notice.get_attribute("data-kind") == "plan.created"
        page.screenshot(path=str(shots / f"live-notice-{lang}.png"))
        notice.locator(".live-dismiss").click()
        assert notice.is_hidden()
        assert recorder.outside(server.url) == []
        context.close()
