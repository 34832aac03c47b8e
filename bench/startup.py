"""Start-up of the ``microgrid`` command: ``--help`` and a day's ``schedule`` of the reference park, as processes.

Usage::

    .venv/bin/python bench/startup.py --repeats 5

Each command runs ``--repeats`` times as a fresh process (what a user waits
for, interpreter start-up included); the script prints min / median / max wall
time, then the import time of the heavy libraries in one ``schedule`` process
(``python -X importtime``, cumulative, each counted where it is first
imported), so that the time before the solver starts can be read apart.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from service.cli import app; app()"]
HEAVY = ("pandas", "pyomo.environ", "pvlib", "pandapower", "matplotlib.pyplot", "highspy", "scipy")


def timed(args: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return times


def import_times(args: list[str]) -> dict[str, float]:
    """Cumulative import time [s] of the heavy libraries in one run of ``args``."""
    done = subprocess.run([sys.executable, "-X", "importtime", *args[1:]], cwd=ROOT, check=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found: dict[str, float] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)$", line)
        if match and match.group(2) in HEAVY:
            found[match.group(2)] = max(found.get(match.group(2), 0.0), int(match.group(1)) / 1e6)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--date", default="2026-07-15")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        commands = {
            "microgrid --help": [*CLI, "--help"],
            f"microgrid schedule cases/zhengzhou_park --date {options.date} --no-plot":
                [*CLI, "schedule", "cases/zhengzhou_park", "--date", options.date, "--out", out, "--no-plot"],
        }
        print(f"{options.repeats} runs each; wall time of the process [s]")
        print("| command | min | median | max |\n|---|---:|---:|---:|")
        for name, args in commands.items():
            times = timed(args, options.repeats)
            print(f"| `{name}` | {min(times):.2f} | {statistics.median(times):.2f} | {max(times):.2f} |")
        schedule = list(commands.values())[1]
        print("\nimport time in one schedule process (cumulative, where first imported) [s]")
        for name, seconds in sorted(import_times(schedule).items(), key=lambda item: -item[1]):
            print(f"  {name:18s} {seconds:.2f}")


if __name__ == "__main__":
    main()
