"""Shared benchmark helpers: a private tmux socket dir and HOME, throwaway repos, percentiles."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cortex_tui.engine.events import Event
    from cortex_tui.engine.supervisor import Supervisor


def isolate() -> Path:
    """Point tmux and git at a private temp world; returns the temp root."""
    root = Path(tempfile.mkdtemp(prefix="cortex-bench-"))
    (root / "tmux").mkdir()
    (root / "home").mkdir()
    os.environ["TMUX_TMPDIR"] = str(root / "tmux")
    os.environ["HOME"] = str(root / "home")
    os.environ.pop("TMUX", None)
    for k, v in {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x.invalid", "GIT_COMMITTER_NAME": "bench",
                 "GIT_COMMITTER_EMAIL": "b@x.invalid"}.items():
        os.environ[k] = v
    return root


def add_keep(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--keep", action="store_true",
                    help="leave the scratch directory (repos, worktrees, logs) behind and print its path")


def _term(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM (a timeout, a kill) unwinds like Ctrl-C: the cleanup below runs


def remove(root: Path) -> None:
    """``rm -rf`` of a scratch dir; what cannot go is named (never silently left to fill /tmp)."""
    def retry(fn: object, path: str, exc: object) -> None:  # a read-only dir (a jail's, git's): open it
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)

    shutil.rmtree(root, onerror=retry)  # onexc from 3.12 on
    if root.exists():
        print(f"scratch dir not fully removed: {root}", file=sys.stderr)


@contextlib.contextmanager
def scratch(keep: bool = False) -> Iterator[Path]:
    """:func:`isolate`, undone at the end — normally, on an exception, on Ctrl-C or SIGTERM: the tmux servers on
    the private socket dir killed, the scratch dir (repos, their worktrees, HOME) removed; with ``keep`` the dir
    stays and its path is printed (the servers are still killed)."""
    root = isolate()
    old = signal.signal(signal.SIGTERM, _term)
    try:
        yield root
    finally:
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the cleanup short
        try:
            kill_servers(root)
            if keep:
                print(f"scratch dir kept: {root}", file=sys.stderr)
            else:
                remove(root)
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old)


def make_repo(path: Path, files: int = 10) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for i in range(files):
        (path / f"f{i}.txt").write_text(f"file {i}\n")
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "init"], check=True)
    return path


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def summary(values: list[float]) -> str:
    return (f"p50 {pct(values, 50) * 1000:7.1f} ms  p99 {pct(values, 99) * 1000:7.1f} ms  "
            f"mean {statistics.fmean(values) * 1000:7.1f} ms  n={len(values)}")


def kill_servers(root: Path) -> None:
    for sock in (root / "tmux").glob("**/*"):
        if sock.is_socket():
            subprocess.run(["tmux", "-S", str(sock), "kill-server"], capture_output=True)


def all_spawned(sup: Supervisor, n: int) -> asyncio.Event:
    """An event set once ``n`` distinct sessions of ``sup`` have been spawned (subscribe before ``start()``)."""
    spawned: set[str] = set()
    ready = asyncio.Event()

    def on(ev: Event) -> None:
        if ev.kind == "spawned" and ev.session:
            spawned.add(ev.session)
            if len(spawned) >= n:
                ready.set()

    sup.subscribe(on)
    return ready
