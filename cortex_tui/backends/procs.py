"""Waiting on and ending local processes: SIGTERM, a grace period, then SIGKILL for what is left."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running(p: psutil.Process) -> bool:
    """True while ``p`` exists and is not a zombie; a process that vanishes between two checks is not running."""
    import psutil

    try:
        return _alive(p.pid) and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_tree(pid: int | None, grace: float = 2.0) -> None:
    """SIGTERM the pane's process group, then SIGKILL what is left after ``grace`` seconds."""
    if not pid:
        return
    import psutil

    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            try:
                p.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_running(p) for p in procs):
            time.sleep(0.05)
        procs = [p for p in procs if _running(p)]
        if not procs:
            return


def wait_real(done: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Block (in a worker thread) until ``done()`` or ``timeout`` *real* seconds passed; returns ``done()``.

    Always real time: it waits for real processes (an exit file, a lock handover), never a fake clock.
    """
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return done()
        time.sleep(step)
    return True
