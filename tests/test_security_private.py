"""Secrets stay out of process arguments, and run state is private (#12 item 3).

A planted secret in a layout's ``env`` must reach the agent but never any process's argv: a thread
scans every ``/proc/*/cmdline`` during the run, and recording wrappers around the real ``tmux`` and
``ssh`` keep every argv they were given (a scan alone can miss a short-lived ``tmux`` client). Then
every directory of the state dir and ``.cortex/`` must be 0700 and every file the run wrote 0600,
the tmux socket too — locally and on a node (real sshd on loopback)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import make_sup, run_to_end
from sshd import SshServer

from cortex_tui.engine.supervisor import Supervisor


class CmdlineScanner:
    """Reads every process's argv over and over until stopped; remembers any that holds ``needle``."""

    def __init__(self, needle: bytes) -> None:
        self.needle = needle
        self.hits: list[str] = []
        self.sweeps = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                        raw = f.read()
                except OSError:
                    continue
                if self.needle in raw:
                    self.hits.append(raw.replace(b"\0", b" ").decode(errors="replace")[:300])
            self.sweeps += 1

    def __enter__(self) -> CmdlineScanner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _recording_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmux`` and ``ssh`` first on PATH: append their argv to a file, then exec the real binary."""
    bindir, record = tmp_path / "recbin", tmp_path / "argv.log"
    bindir.mkdir()
    for tool in ("tmux", "ssh"):
        real = shutil.which(tool)
        assert real, f"{tool} not installed"
        w = bindir / tool
        w.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {record}\nexec {real} "$@"\n')
        w.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return record


def _layout(secret: str, node: str = "", on_node: str = "") -> str:
    return f"""
[run]
name = "priv"
verify = "echo verified"
{node}
[[session]]
name = "one"
agent = "shell"
{on_node}
env = {{ CORTEX_PLANTED = "{secret}" }}
command = 'sleep 2; printf "planted-sha=%s\\n" "$(printf %s "$CORTEX_PLANTED" | sha256sum | cut -c1-16)"; echo x > f.txt; git add -A; git -c user.name=t -c user.email=t@t.invalid commit -qm one'
[[session]]
name = "two"
agent = "sim"
{on_node}
script = ["tokens 10 20", "write two.txt 2", "commit two"]
"""


def _modes(root: Path, *, files: bool = True, skip: tuple[str, ...] = ()) -> Iterator[tuple[Path, int]]:
    """(path, mode) of ``root`` and everything under it (``skip``: dir names not descended into)."""
    yield root, stat.S_IMODE(root.stat().st_mode)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for d in dirnames:
            yield Path(dirpath, d), stat.S_IMODE(Path(dirpath, d).lstat().st_mode)
        if files:
            for f in filenames:
                p = Path(dirpath, f)
                if not p.is_symlink():
                    yield p, stat.S_IMODE(p.lstat().st_mode)


def _check_private(root: Path, *, skip: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for p, mode in _modes(root, skip=skip):
        want = 0o700 if p.is_dir() else 0o600
        if p.is_socket():
            want = 0o600
        if mode & 0o077 or (p.is_dir() and mode != want):
            bad.append(f"{p}: {mode:o} (want {want:o})")
    return bad


def _tmux_socket(sup: Supervisor) -> Path:
    return Path(sup.tmux.run("display-message", "-p", "#{socket_path}").strip())


def test_local_secret_never_in_argv_and_every_mode_private(git_repo: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"sk-planted-{uuid.uuid4().hex}"
    record = _recording_bin(tmp_path, monkeypatch)
    sup = make_sup(git_repo, _layout(secret), tmp_path)
    socket_mode: list[int] = []

    async def during(s: Supervisor) -> None:
        import asyncio

        while not (s.state.sessions["one"].window_id and s.tmux.alive()):
            await asyncio.sleep(0.05)
        socket_mode.append(stat.S_IMODE(_tmux_socket(s).stat().st_mode))

    with CmdlineScanner(secret.encode()) as scan:
        run_to_end(sup, during=during)
    rec = sup.state.sessions["one"]
    assert rec.state.value == "finished", (rec.state, rec.reason)
    # the agent got the secret (it printed its hash) ...
    log = next((git_repo / "coordination/runs/priv/logs").glob("one*.log")).read_text()
    assert f"planted-sha={hashlib.sha256(secret.encode()).hexdigest()[:16]}" in log, log
    # ... but no process ever had it in its argv, and no env file is left behind
    assert scan.sweeps > 0
    assert scan.hits == []
    recorded = record.read_text()
    assert "new-window" in recorded  # the recorder saw the spawn
    assert secret not in recorded
    assert not list((git_repo / "coordination").rglob("*.env"))
    # every mode: state dir, .cortex/ and its run dir, the tmux socket
    assert socket_mode == [0o600]
    assert _check_private(git_repo / "coordination") == []
    cortex = git_repo / ".cortex"
    assert _check_private(cortex, skip=("priv",)) == []  # worktree contents keep the user's modes
    assert stat.S_IMODE((cortex / "worktrees" / "priv").stat().st_mode) == 0o700
    for name in ("state.json", "events.jsonl", "supervisor.lock"):
        assert (git_repo / "coordination/runs/priv" / name).exists(), name
    assert list((git_repo / "coordination/runs/priv/exit").glob("*.code"))
    assert list((git_repo / "coordination/runs/priv/verify").glob("one*.log"))


@pytest.mark.ssh
def test_remote_secret_never_in_argv_and_node_files_private(sshd: SshServer, git_repo: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"sk-planted-{uuid.uuid4().hex}"
    record = _recording_bin(tmp_path, monkeypatch)
    kw = sshd.node_kwargs()
    node = (f'[[node]]\nname = "box1"\nhost = "{kw["host"]}"\nport = {kw["port"]}\nuser = "{kw["user"]}"\n'
            f'identity = "{kw["identity"]}"\nworkdir = "{kw["workdir"]}"\npython = "{kw["python"]}"\n'
            f'ssh_options = ["UserKnownHostsFile={sshd.known_hosts}"]\n')
    sup = make_sup(git_repo, _layout(secret, node, 'node = "box1"'), tmp_path)
    with CmdlineScanner(secret.encode()) as scan:
        run_to_end(sup, timeout=90)
    rec = sup.state.sessions["one"]
    assert rec.state.value == "finished", (rec.state, rec.reason)
    log = next((git_repo / "coordination/runs/priv/logs").glob("one*.log")).read_text()
    assert f"planted-sha={hashlib.sha256(secret.encode()).hexdigest()[:16]}" in log, log
    assert scan.sweeps > 0
    assert scan.hits == []
    recorded = record.read_text()
    assert "new-window" in recorded  # the ssh recorder saw the remote spawn
    assert secret not in recorded
    run_dir = sshd.workdir / "runs" / "priv"
    assert not list(run_dir.rglob("env"))
    assert _check_private(run_dir, skip=("worktrees",)) == []
    assert list((run_dir / "exit").glob("*.code")) and list(run_dir.rglob("verify.log"))
    assert _check_private(git_repo / "coordination") == []
    assert list((git_repo / "coordination/runs/priv/verify").glob("one*.log"))
    socks = [p for p in sshd.remote_tmux_tmpdir.rglob("*") if p.is_socket()]
    assert socks and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in socks), \
        [(p, oct(p.stat().st_mode)) for p in socks]
