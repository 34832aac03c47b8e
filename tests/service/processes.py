"""What the tests of process life share: is a process running, and waiting for processes to end."""

from __future__ import annotations

import time

import psutil

DEADLINE_S = 60.0  # generous: how long a test waits for an orphan to end (no assertion on how fast)


def alive(pid: int) -> bool:
    """``pid`` runs (a zombie waiting for a reaper does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(pid: int) -> dict[int, str]:
    """The processes below ``pid`` (children, theirs, ...) as pid → command line."""
    found = {}
    for child in psutil.Process(pid).children(recursive=True):
        try:
            found[child.pid] = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            pass
    return found


def wait_until_gone(processes: dict[int, str], deadline_s: float = DEADLINE_S) -> None:
    """Poll until none of ``processes`` (pid → command line) runs; fail naming the survivors."""
    deadline = time.monotonic() + deadline_s
    while (survivors := [p for p in processes if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not survivors, ("still running after their parent was killed: "
                           + "; ".join(f"{p} {processes[p]}" for p in survivors))
