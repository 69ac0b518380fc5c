"""Shared benchmark helpers: a private tmux socket dir and HOME, throwaway repos, percentiles."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
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
