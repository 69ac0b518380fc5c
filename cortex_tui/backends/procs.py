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


def capture_tree(pid: int | None) -> list[psutil.Process]:
    """``pid`` and its descendants as they are now. Each is remembered with its start time, so a pid that is
    reused later (a restarted agent's new pane) is never signalled through this list."""
    if not pid:
        return []
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_running(procs: list[psutil.Process]) -> bool:
    return any(_running(p) for p in procs)


def kill_procs(procs: list[psutil.Process], grace: float = 2.0) -> None:
    """SIGTERM ``procs`` (and what they started since they were captured), then SIGKILL what is left after
    ``grace`` seconds. Only these processes: never whatever holds one of their pids by now."""
    import psutil

    procs = list(procs)
    known = set(procs)  # a psutil.Process is equal to another by (pid, start time)
    for p in list(procs):
        try:
            for c in p.children(recursive=True):  # identity-checked: raises for a reused pid
                if c not in known:
                    known.add(c)
                    procs.append(c)
        except psutil.NoSuchProcess:
            continue
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


def kill_tree(pid: int | None, grace: float = 2.0) -> None:
    """SIGTERM the process ``pid`` and its descendants, then SIGKILL what is left after ``grace`` seconds."""
    kill_procs(capture_tree(pid), grace)


def procs_with_env(key: str, value: str, *, cmd_has: str = "") -> list[psutil.Process]:
    """Processes of this user whose environment has ``key=value`` (and whose command line contains
    ``cmd_has``): what a session started, even when it detached itself (setsid, re-parented to init). The
    marker must be unique to the session (e.g. its events file's path), so no one else's process matches."""
    import psutil

    want = f"{key}={value}".encode()
    uid = os.getuid()
    out: list[psutil.Process] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
            if want not in env:
                continue
            p = psutil.Process(int(entry.name))
            if cmd_has and cmd_has not in " ".join(p.cmdline()):
                continue
            out.append(p)
        except (OSError, psutil.Error):  # gone meanwhile, or not ours to read
            continue
    return out


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
