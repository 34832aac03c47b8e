"""The worker pool: CPU-heavy jobs run in other processes, with a time limit, never on the event loop.

Routes are plain ``def`` functions (FastAPI runs them in its thread pool), and
they wait here for a job that runs in a :class:`~concurrent.futures.ProcessPoolExecutor`
(processes started with ``spawn``: forking a process that runs threads is
unsafe; they end with the server, see :mod:`service.api.worker_pool`). While a plan is solved, the event loop and the other threads keep
answering requests.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures import BrokenExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable

from microgrid.messages import Message
from service.api.problems import Overloaded, PlanTimeout, WorkerFailed

logger = logging.getLogger(__name__)


class Planner:
    """Runs jobs in an executor, at most ``max_in_progress`` at once, each with a time limit.

    Parameters
    ----------
    executor : concurrent.futures.Executor
        A process pool in service; a thread pool where tests want one process.
    workers : int
        Workers of the executor (reported by ``/health``).
    max_in_progress : int
        Jobs waiting or running at once; one more is refused with 503.
    """

    def __init__(self, executor: Executor, workers: int, max_in_progress: int,
                 restart: Callable[[], Executor] | None = None) -> None:
        self.executor = executor
        self._restart = restart
        self.workers = workers
        self.max_in_progress = max_in_progress
        self._lock = threading.Lock()
        self._in_progress = 0

    @classmethod
    def process_pool(cls, workers: int, max_in_progress: int, warm_up: bool = True,
                     cases: list[tuple[dict, str]] | None = None) -> "Planner":
        """A planner on ``workers`` spawned processes.

        With ``warm_up`` each process, as it starts, imports the solver stack
        and opens ``cases`` (park document, data folder: the parks likely to
        be planned), so that no request meets a cold worker.
        """
        from service.api.jobs import warm_up_job
        from service.api.worker_pool import process_pool

        def start() -> Executor:
            return process_pool(workers, initializer=warm_up_job if warm_up else None,
                                initargs=(list(cases or []),) if warm_up else ())

        executor = start()
        planner = cls(executor, workers, max_in_progress, restart=start)
        if warm_up:
            # ProcessPoolExecutor starts its processes on demand: one job each starts them all now.
            for _ in range(workers):
                executor.submit(int)
        return planner

    @classmethod
    def thread_pool(cls, workers: int = 1, max_in_progress: int = 8) -> "Planner":
        """A planner on threads of this process (tests)."""
        return cls(ThreadPoolExecutor(max_workers=workers), workers, max_in_progress)

    @property
    def in_progress(self) -> int:
        return self._in_progress

    def run(self, job: Callable[..., Any], *args: Any, timeout_s: float) -> Any:
        """Run ``job(*args)`` in the pool and return its result; blocks the calling thread only.

        Raises
        ------
        Overloaded
            ``max_in_progress`` jobs are already waiting or running (503).
        WorkerFailed
            The worker process died (503); the pool is replaced.
        PlanTimeout
            The job did not finish within ``timeout_s`` (504); it is cancelled
            if it has not started yet.
        Exception
            Whatever the job raised (a :class:`microgrid.errors.MicrogridError`
            for bad input).
        """
        with self._lock:
            if self._in_progress >= self.max_in_progress:
                raise Overloaded(Message("{in_progress} plans are in progress, the most this server takes; retry "
                                         "in a few seconds",
                                         in_progress=self._in_progress), retry_after_s=5)
            self._in_progress += 1
        try:
            future = self.executor.submit(job, *args)
            try:
                return future.result(timeout=timeout_s)
            except BrokenExecutor:
                self._replace_broken_pool()
                raise WorkerFailed(Message("the worker solving this request died (out of memory or killed); the "
                                           "pool was restarted, retry the request")) from None
            except FutureTimeout:
                future.cancel()
                raise PlanTimeout(Message("no answer within {timeout_s:.1f} s; the server is busy or the park "
                                          "too large for the time limit, retry later or with a longer "
                                          "time_limit_s",
                                          timeout_s=timeout_s)) from None
        finally:
            with self._lock:
                self._in_progress -= 1

    def _replace_broken_pool(self) -> None:
        with self._lock:
            if self._restart is None:
                return
            logger.error("a worker process died; starting a new pool")
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = self._restart()

    def shutdown(self) -> None:
        """Stop the workers once their running jobs end (each within its time limit); drop queued jobs."""
        self.executor.shutdown(wait=True, cancel_futures=True)
