"""Benchmark: how long the dashboard's Today page takes to load in Chromium, for a 96-step plan.

Starts ``microgrid service serve`` on a free loopback port with a fresh
database and the reference park (as ``bench/service_load.py`` does), makes the
optimal and the no-control plan of a day through the API, then in Debian's
Chromium (Playwright, ``executable_path``) signs in with a park key in a new
browser context (an empty cache) and opens Today three times. For each it
records the page's load event (``performance`` navigation timing) and the
time until all its charts are drawn. Every request goes only to 127.0.0.1.

Run::

    .venv/bin/python bench/dashboard_load.py [--runs 5] [--chromium /usr/bin/chromium]

Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_load import ADMIN_KEY, start_server, stop_server  # noqa: E402

DAY = "2026-07-15"
CHARTS = 5   # Today's charts of the reference park: balance, PV, price, SoC, thermal store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="browser contexts, each signing in afresh")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    first, later, first_drawn, later_drawn = [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        process, url = start_server(Path(folder), workers=1, queue=4)
        try:
            with httpx.Client(base_url=url, headers={"X-API-Key": ADMIN_KEY}, timeout=120) as http:
                token = http.post("/keys", json={"name": "bench", "park_ids": ["zhengzhou_park"]}).json()["token"]
                for strategy in ("optimal", "no-control"):
                    http.post("/parks/zhengzhou_park/plans",
                              json={"date": DAY, "strategy": strategy}).raise_for_status()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
                for _ in range(args.runs):
                    context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=url)
                    page = context.new_page()
                    page.goto("/signin")
                    page.fill("#api_key", token)
                    page.click("button[type=submit]")
                    page.wait_for_load_state()
                    for k in range(3):
                        started = time.perf_counter()
                        page.goto(f"/today?date={DAY}")
                        load_s = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000
                        page.wait_for_function(f"document.querySelectorAll('[data-drawn=true]').length >= {CHARTS}",
                                               timeout=30_000)
                        drawn_s = time.perf_counter() - started
                        (first if k == 0 else later).append(load_s)
                        (first_drawn if k == 0 else later_drawn).append(drawn_s)
                    context.close()
                browser.close()
        finally:
            stop_server(process)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"Chromium {args.chromium}; {args.runs} browser contexts, Today of zhengzhou_park on {DAY} (96 steps)\n")
    print("| Today page | load event, median | all charts drawn, median | load event, each run |")
    print("|---|---:|---:|---|")
    print(f"| first after sign-in | {statistics.median(first):.2f} s | {statistics.median(first_drawn):.2f} s | "
          f"{', '.join(f'{v:.2f}' for v in first)} |")
    print(f"| opened again | {statistics.median(later):.2f} s | {statistics.median(later_drawn):.2f} s | "
          f"{', '.join(f'{v:.2f}' for v in later)} |")


if __name__ == "__main__":
    main()
