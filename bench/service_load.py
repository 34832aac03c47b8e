"""Benchmark: concurrent clients requesting day-ahead plans of the reference park from the real service.

Starts ``microgrid service serve`` (uvicorn) on a free loopback port with a
fresh database in a temporary folder and the reference park registered, then
``--clients`` threads each request ``--requests`` day-ahead plans (distinct
dates of 2026, working days and holidays mixed) at once, and reports the
latency of every answer: median, 99th percentile and the largest, and the
requests that did not get a 201. Every request goes only to 127.0.0.1; the
server is stopped at the end.

Run::

    .venv/bin/python bench/service_load.py [--clients 10] [--requests 2] [--workers 2]

Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ADMIN_KEY = "bench-service-load-admin"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path, workers: int, queue: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "MICROGRID_DATA_DIR": str(data_dir), "MICROGRID_ADMIN_KEY": ADMIN_KEY,
           "MICROGRID_WORKERS": str(workers), "MICROGRID_MAX_QUEUED_PLANS": str(queue)}
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - kept open for the process
    process = subprocess.Popen(
        [sys.executable, "-c", "from service.cli import app; app()", "service", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{(data_dir / 'server.log').read_text()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the server did not answer /health within 120 s")


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--requests", type=int, default=2, help="plans each client asks for, one after the other")
    parser.add_argument("--workers", type=int, default=2, help="MICROGRID_WORKERS of the server")
    parser.add_argument("--park", default="zhengzhou_park")
    args = parser.parse_args()
    queue = args.clients * 2
    with tempfile.TemporaryDirectory() as folder:
        process, url = start_server(Path(folder), args.workers, queue)
        try:
            headers = {"X-API-Key": ADMIN_KEY}
            # One plan first, so that each worker has read the case's data once (as in operation).
            for k in range(args.workers):
                httpx.post(f"{url}/parks/{args.park}/plans", json={"date": f"2026-03-0{k + 2}"}, headers=headers,
                           timeout=60).raise_for_status()
            latencies: list[float] = []
            server: list[tuple[float, float, float]] = []   # (wall, HiGHS, build) of each plan, as the server saw
            failures: list[str] = []
            lock = threading.Lock()
            barrier = threading.Barrier(args.clients)

            def client(i: int) -> None:
                with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
                    barrier.wait()
                    for r in range(args.requests):
                        day = dt.date(2026, 4, 1) + dt.timedelta(days=i * args.requests + r)
                        started = time.perf_counter()
                        try:
                            answer = http.post(f"/parks/{args.park}/plans", json={"date": day.isoformat()})
                            ok = answer.status_code == 201
                            reason = f"{answer.status_code} {answer.text[:120]}"
                            if ok:
                                plan = answer.json()
                                with lock:
                                    server.append((plan["wall_time_s"], plan["solve_time_s"] or 0.0,
                                                   plan["kpis"].get("build_time_s") or 0.0))
                        except httpx.HTTPError as exc:
                            ok, reason = False, f"{type(exc).__name__}: {exc}"
                        elapsed = time.perf_counter() - started
                        with lock:
                            latencies.append(elapsed)
                            if not ok:
                                failures.append(f"{day}: {reason}")

            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
        finally:
            stop_server(process)
    values = np.array(latencies)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.clients} clients × {args.requests} day-ahead plans of {args.park}, server with "
          f"{args.workers} worker process(es)\n")
    print("| quantity | value |")
    print("|---|---:|")
    print(f"| requests | {len(values)} |")
    print(f"| errors (not 201) | {len(failures)} |")
    print(f"| wall time | {wall:.1f} s |")
    print(f"| plans per second | {len(values) / wall:.2f} |")
    print(f"| latency p50 | {statistics.median(values):.2f} s |")
    print(f"| latency p99 | {np.percentile(values, 99):.2f} s |")
    print(f"| latency max | {values.max():.2f} s |")
    if server:
        walls, highs, builds = (np.array(column) for column in zip(*server))
        print(f"| per plan in the server, median: wall (queue included) | {np.median(walls):.2f} s |")
        print(f"| per plan, median: HiGHS | {np.median(highs):.2f} s |")
        print(f"| per plan, median: model build or update | {np.median(builds):.3f} s |")
    for failure in failures:
        print(f"\n- {failure}")


if __name__ == "__main__":
    main()
