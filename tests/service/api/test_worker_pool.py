"""Pool workers end with the process that started them, and live as long as it does.

The real server killed with SIGKILL is in test_api_server; here a small
parent process stands for it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from service.api.worker_pool import ORPHAN_EXIT_CODE, process_pool
from tests.service.processes import alive, descendants, wait_until_gone

ROOT = Path(__file__).resolve().parents[3]

PARENT = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from service.api.worker_pool import ServerBoundContext, bind_to_server, process_pool

if sys.argv[1] == "death-signal":
    pool = process_pool(2)
else:  # the watchdog alone, as where prctl is not available
    pool = ProcessPoolExecutor(max_workers=2, mp_context=ServerBoundContext(), initializer=bind_to_server,
                               initargs=(os.getpid(), 0.2, False))
pids = set()
while len(pids) < 2:  # each worker started (both are, after two jobs at once), each answering
    pids |= {f.result() for f in [pool.submit(os.getpid), pool.submit(os.getpid)]}
print(" ".join(map(str, sorted(pids))), flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("mode", ["death-signal", "watchdog"])
def test_workers_end_when_their_parent_is_killed(mode) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, start_new_session=True)
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert len(workers) == 2, workers
        below = descendants(parent.pid)
        assert set(workers) <= set(below) and all(alive(p) for p in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        wait_until_gone(below)  # the workers, and the resource tracker once they are gone
    finally:
        parent.stdout.close()
        if parent.poll() is None:
            parent.kill()
            parent.wait(30)
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_workers_started_from_a_thread_outlive_that_thread() -> None:
    """The parent-death signal follows the thread that started a worker: a request thread ends, its worker stays."""
    pool = process_pool(1)
    try:
        pids = []
        starter = threading.Thread(target=lambda: pids.append(pool.submit(os.getpid).result(timeout=60)))
        starter.start()
        starter.join()
        assert len(pids) == 1 and pids[0] != os.getpid()
        assert pool.submit(os.getpid).result(timeout=60) == pids[0]  # same worker, not killed with its thread
    finally:
        pool.shutdown()


def test_a_worker_whose_server_is_already_gone_exits_at_once() -> None:
    """The server died before the worker bound to it: the pid it was given is not its parent any more."""
    code = f"from service.api.worker_pool import bind_to_server; bind_to_server({os.getpid()} + 1000000)"
    done = subprocess.run([sys.executable, "-c", code + "; print('still here')"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == ORPHAN_EXIT_CODE and "still here" not in done.stdout, done


def test_a_worker_of_a_live_server_keeps_running() -> None:
    code = "import os; from service.api.worker_pool import bind_to_server; bind_to_server(os.getppid()); print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done

