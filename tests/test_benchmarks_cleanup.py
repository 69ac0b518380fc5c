"""The benchmarks clean up after themselves: a short run leaves no scratch dir (repos, worktrees) in $TMPDIR and
no tmux server on its private socket — when it ends, and when it is stopped by Ctrl-C (SIGINT) midway; ``--keep``
leaves the dir and names it.

Real benchmark scripts at their smallest options, real git, real tmux; each run's $TMPDIR is a fresh, short dir
(pytest's short_tmp is too deep for the tmux socket path under it: 108 bytes at most).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"

SMALL = {
    "independence": ["--files", "30", "--sessions", "2", "--samples", "1"],
    "integrate": ["--files", "20", "--branches", "2", "--rounds", "1"],
    "large_repo": ["--files", "40", "--sessions", "2", "--rounds", "1"],
}


def tmux_servers(under: Path) -> list[int]:
    """Pids of live tmux servers started with TMUX_TMPDIR inside ``under`` (a benchmark's private socket dir)."""
    found: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if not (proc / "comm").read_text().startswith("tmux"):
                continue
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours
            continue
        for kv in env:
            if kv.startswith(b"TMUX_TMPDIR=") and kv[len(b"TMUX_TMPDIR="):].decode(errors="replace").startswith(
                    str(under)):
                found.append(int(proc.name))
    return found


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="cbc-", dir="/tmp"))
    yield d
    for pid in tmux_servers(d):  # what a failing benchmark left: not on the next test's plate
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(d, ignore_errors=True)


def env_for(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_TMPDIR")}
    env["TMPDIR"] = str(tmp)
    return env


def _as_from_a_terminal() -> None:
    """(In the child.) SIGINT as a terminal's Ctrl-C finds it: a test run started in the background by a shell
    without job control (CI's, `cmd &`) inherits SIGINT ignored, and Python then raises no KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(name: str, tmp: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(BENCH / f"{name}.py"), *SMALL[name], *extra], cwd=ROOT,
                            env=env_for(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_from_a_terminal)


def test_short_runs_leave_no_scratch_dir_and_no_tmux_server(short_tmp: Path) -> None:
    for name in ("independence", "integrate", "large_repo"):  # large_repo: worktrees and a supervisor's tmux
        tmp = short_tmp / name
        tmp.mkdir()
        (tmp / "mine").write_text("not the benchmark's")  # what was there before stays
        before = sorted(p.name for p in tmp.iterdir())
        p = start(name, tmp)
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, (name, out, err)
        assert sorted(p.name for p in tmp.iterdir()) == before, (name, err)
        assert tmux_servers(tmp) == [], name


def _wait_for(cond: object, what: str, p: subprocess.Popen[str], timeout: float = 120) -> None:
    assert callable(cond)
    end = time.monotonic() + timeout
    while not cond():
        if p.poll() is not None:
            raise AssertionError(f"{what}: the benchmark ended first: {p.communicate()}")
        if time.monotonic() > end:
            p.kill()
            raise AssertionError(f"{what}: not seen in {timeout}s")
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_stopped_midway_removes_the_scratch_dir_and_kills_the_tmux_server(short_tmp: Path, sig: int) -> None:
    """Ctrl-C, and SIGTERM (what ``timeout`` sends a benchmark run too long)."""
    # integrate: interrupted while a round's worktree exists
    tmp = short_tmp / "integrate"
    tmp.mkdir()
    p = start("integrate", tmp, "--rounds", "100000")
    _wait_for(lambda: any(tmp.glob("cortex-bench-*/wt-*")), "a worktree", p)
    p.send_signal(sig)
    p.communicate(timeout=120)
    assert list(tmp.iterdir()) == []
    # large_repo: interrupted while its supervisor's tmux server runs the sessions
    tmp = short_tmp / "large_repo"
    tmp.mkdir()
    p = start("large_repo", tmp, "--rounds", "100")
    _wait_for(lambda: tmux_servers(tmp) != [], "the supervisor's tmux server", p)
    p.send_signal(sig)
    p.communicate(timeout=120)
    assert tmux_servers(tmp) == []
    assert list(tmp.iterdir()) == []


def test_keep_leaves_the_scratch_dir_and_prints_its_path(short_tmp: Path) -> None:
    p = start("independence", short_tmp, "--keep")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, (out, err)
    kept = [d for d in short_tmp.iterdir() if d.name.startswith("cortex-bench-")]
    assert len(kept) == 1 and str(kept[0]) in err, err
    assert (kept[0] / "home").is_dir()
    shutil.rmtree(kept[0])
