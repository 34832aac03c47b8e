"""Process pools whose workers end with the server, however it ends (SIGKILL included).

Both pools (plans, :mod:`service.api.planner`; studies, :mod:`service.api.studies`)
come from :func:`process_pool`: ``spawn``-ed processes, each a child of the
server process itself (no forkserver in between), whose initializer
:func:`start_worker` binds the worker to the server's pid before it runs the
pool's own initializer:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: the kernel sends SIGTERM
  the moment the parent dies, even while the worker is inside a solver that
  holds the GIL; then ``os.getppid()`` is checked against the server's pid,
  in case the server died before the call;
* everywhere, a daemon thread that checks ``os.getppid()`` every
  :data:`WATCH_S` seconds and ends the process once the parent changed.

Linux sends the parent-death signal when the *thread* that started the child
ends, not the process: a worker started from one of the request threads
(which the server retires after a few idle seconds) would be killed while the
server lives. So every worker is started from one thread that lives as long
as the server (:class:`_Spawner`), whichever thread submitted the job.

The multiprocessing resource tracker (a child of the server too) ends on its
own once the server and the workers, which hold its pipe, are gone.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

logger = logging.getLogger(__name__)

WATCH_S = 1.0
"""How often a worker's watchdog checks that its server is still its parent [s]."""

ORPHAN_EXIT_CODE = 3
"""Exit status of a worker that found its server gone."""

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_SPAWN = multiprocessing.get_context("spawn")


class _Spawner:
    """One daemon thread, alive as long as the process, that starts every worker process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="worker-spawner", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            call, done, outcome = self._calls.get()
            try:
                call()
            except BaseException as exc:  # noqa: BLE001 - handed back to the thread that asked
                outcome.append(exc)
            finally:
                done.set()

    def run(self, call: Callable[[], None]) -> None:
        """Run ``call()`` on the spawner thread and wait for it; what it raises is raised here."""
        if threading.current_thread() is self._thread:
            call()
            return
        done = threading.Event()
        outcome: list[BaseException] = []
        self._calls.put((call, done, outcome))
        done.wait()
        if outcome:
            raise outcome[0]


_spawner: _Spawner | None = None
_spawner_lock = threading.Lock()


def _the_spawner() -> _Spawner:
    global _spawner
    with _spawner_lock:
        if _spawner is None or _spawner.pid != os.getpid():
            _spawner = _Spawner()
        return _spawner


class ServerBoundProcess(_SPAWN.Process):
    """A spawned process started from the spawner thread (see the module's docstring)."""

    def start(self) -> None:
        _the_spawner().run(super().start)


class ServerBoundContext(type(_SPAWN)):
    """The ``spawn`` start method, its processes started by :class:`ServerBoundProcess`."""

    Process = ServerBoundProcess


def _set_parent_death_signal() -> bool:
    """``prctl(PR_SET_PDEATHSIG, SIGTERM)`` on Linux; False where it is not available."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (OSError, AttributeError) as exc:
        logger.warning("worker %d: no parent-death signal (%s); the watchdog alone ends it", os.getpid(), exc)
        return False
    return True


def _watch(server_pid: int, every_s: float) -> None:
    stop = threading.Event()
    while not stop.wait(every_s):
        if os.getppid() != server_pid:
            os._exit(ORPHAN_EXIT_CODE)


def bind_to_server(server_pid: int, every_s: float = WATCH_S, death_signal: bool = True) -> None:
    """End this process when ``server_pid``, its parent, ends: parent-death signal and watchdog thread.

    Exits at once if ``server_pid`` is no longer the parent (the server died
    before the signal was set, or the process was not started by it).
    Without ``death_signal`` the watchdog alone ends it (as where ``prctl`` is
    not available), within ``every_s`` seconds of the server's end.
    """
    if death_signal:
        _set_parent_death_signal()
    if os.getppid() != server_pid:
        os._exit(ORPHAN_EXIT_CODE)
    threading.Thread(target=_watch, args=(server_pid, every_s), name="server-watchdog", daemon=True).start()


def start_worker(server_pid: int, initializer: Callable[..., Any] | None, *initargs: Any) -> None:
    """The initializer of every pool process: bind it to the server, then run the pool's own ``initializer``."""
    bind_to_server(server_pid)
    if initializer is not None:
        initializer(*initargs)


def process_pool(workers: int, initializer: Callable[..., Any] | None = None,
                 initargs: tuple = ()) -> ProcessPoolExecutor:
    """``workers`` spawned processes that end with this process; each runs ``initializer(*initargs)`` first."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=ServerBoundContext(),
                               initializer=start_worker, initargs=(os.getpid(), initializer, *initargs))
