"""Processes an agent starts detached from its own tree (Codex's app-server daemon) end with the session —
only that session's: on its own exit, and when it is stopped."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from engine_helpers import run_to_end, wait_for

from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout

# A "daemon" as Codex starts one: its own session (setsid), re-parented to init at once (its starter, a
# subshell, exits), with "app-server" in its command line. It writes its pid, then sleeps.
DAEMON = (f"( setsid {sys.executable} -c 'import os, sys, time; open(sys.argv[1], \"w\").write(str(os.getpid())); "
          f"time.sleep(300)' {{pidfile}} app-server --listen & ) ;")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie awaiting its reaper is gone for our purpose
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def _sup(tmp_path: Path, repo: Path, command: str) -> Supervisor:
    path = tmp_path / "layout.toml"
    path.write_text(f'[run]\nname = "leftover"\n[[session]]\nname = "cx"\nagent = "codex"\nprompt = "x"\n'
                    f"command = '''{command}'''\n")
    return Supervisor(parse_layout(path.read_text(), path), repo, headless=True)


def _pid(pidfile: Path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if pidfile.exists() and pidfile.read_text().strip():
            return int(pidfile.read_text())
        time.sleep(0.05)
    raise AssertionError("the daemon never started")


def test_daemon_ends_when_the_agent_exits(git_repo: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "daemon.pid"
    # an unrelated process with the same command line (not this session's env): must survive
    other = tmp_path / "other.pid"
    os.system(DAEMON.format(pidfile=other))
    bystander = _pid(other)
    try:
        cmd = DAEMON.format(pidfile=pidfile) + f" while [ ! -s {pidfile} ]; do sleep 0.05; done; exit 0"
        events = run_to_end(_sup(tmp_path, git_repo, cmd), timeout=60)
        pid = _pid(pidfile)
        assert any(e.kind == "finished" for e in events)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), "the session's detached daemon outlived it"
        assert _alive(bystander), "a process of no session was killed"
    finally:
        os.kill(bystander, signal.SIGKILL)
        if pidfile.exists() and pidfile.read_text().strip() and _alive(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_daemon_ends_when_the_session_is_stopped(git_repo: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "daemon.pid"
    cmd = DAEMON.format(pidfile=pidfile) + " sleep 300"
    seen: dict[str, int] = {}

    async def during(sup: Supervisor) -> None:
        await wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 30, "the daemon started")
        seen["pid"] = int(pidfile.read_text())
        assert _alive(seen["pid"])
        await sup.stop_session("cx")

    run_to_end(_sup(tmp_path, git_repo, cmd), timeout=60, during=during)
    pid = seen["pid"]
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert not _alive(pid), "the stopped session's detached daemon outlived it"
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
