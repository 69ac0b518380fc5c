"""API sockets of kill -9'd supervisors (the short per-user directory for long run paths) are removed at the
next start — only when nobody listens on them and their run's lock is free (#12).

Real parts: detached supervisors, kill -9, real unix sockets (one listening, one whose run is locked), tmux, git.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_until
from engine_helpers import cli

LAYOUT = '[run]\nname = "{name}"\n[defaults]\nagent = "sim"\n[[session]]\nname = "s"\nscript = ["sleep 120"]\n'


@pytest.fixture
def runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="ctx-xdg-", dir="/tmp"))  # short: a socket path must fit in 108 bytes
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(d))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _up(repo: Path, state_dir: Path, tmp_path: Path, name: str) -> Path:
    layout = tmp_path / f"{name}.toml"
    layout.write_text(LAYOUT.format(name=name))
    cli("up", str(layout), "--repo", str(repo), "--state-dir", str(state_dir), "--detach")
    pointer = state_dir / "runs" / name / "api.sock.path"
    wait_until(pointer.exists, timeout=30, what=f"{name}'s API socket pointer")
    return Path(pointer.read_text().strip())


def _refused(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
    except ConnectionRefusedError:
        return True
    finally:
        s.close()
    return False


def test_stale_api_sockets_are_removed_at_start_live_and_locked_ones_stay(
        git_repo: Path, tmp_path: Path, runtime_dir: Path) -> None:
    state_dir = tmp_path / ("long-state-dir-" + "x" * 90)  # too long for a socket in the run directory
    one = _up(git_repo, state_dir, tmp_path, "one")
    assert one.parent == runtime_dir and one.with_name(one.name + ".run").exists()
    pid = int((state_dir / "runs" / "one" / "supervisor.lock").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0, what="dead")
    assert one.exists() and _refused(one)  # left behind

    # a socket somebody listens on (whatever its owner file says) stays
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live = runtime_dir / "api-1111111111111111.sock"
    listening.bind(str(live))
    listening.listen(1)
    (runtime_dir / f"{live.name}.run").write_text(str(tmp_path / "gone") + "\n")
    # nobody listens, but its run's lock is held (a supervisor between two sockets): stays
    locked_run = tmp_path / "locked-run"
    locked_run.mkdir()
    lock_fd = os.open(locked_run / "supervisor.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    locked = runtime_dir / "api-2222222222222222.sock"
    b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    b.bind(str(locked))
    b.close()
    (runtime_dir / f"{locked.name}.run").write_text(str(locked_run) + "\n")
    # no owner file: its run cannot be checked, it stays
    orphan = runtime_dir / "api-3333333333333333.sock"
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.bind(str(orphan))
    c.close()
    try:
        two = _up(git_repo, state_dir, tmp_path, "two")
        assert not _refused(two)
        assert not one.exists() and not one.with_name(one.name + ".run").exists()  # the stale one went
        assert live.exists() and locked.exists() and orphan.exists()
        assert (runtime_dir / f"{locked.name}.run").exists()
    finally:
        listening.close()
        os.close(lock_fd)
        cli("down", "--repo", str(git_repo), "--state-dir", str(state_dir), "--all", check=False)
