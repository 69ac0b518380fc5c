"""A full disk or an unwritable coordination/ (#12 item 10): the path and what to do, exit code 4, no traceback;
a detached supervisor that cannot write its log says so to the `up` that started it; recovery once fixed.

Real parts: tmpfs mounts (a 64 KiB one that fills up; a read-only one), real tmux, git and the sim agent.
Skipped, with the reason, where mounting is not permitted.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, wait_until
from engine_helpers import cli

from cortex_tui.backends.tmux import Tmux


def _mount(target: Path, opts: str) -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(target)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'mount failed'}): needs root or CAP_SYS_ADMIN")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    yield from _mount(tmp_path / "tiny", "size=256k,mode=0700")


@pytest.fixture
def ro_fs(tmp_path: Path) -> Iterator[Path]:
    yield from _mount(tmp_path / "ro", "ro,size=64k")


def fill(fs: Path) -> Path:
    """Fill ``fs`` to the last byte; returns the filler file (remove it to free the space)."""
    filler = fs / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True)
    return filler


LAYOUT = """
[run]
name = "disk"
[defaults]
agent = "sim"
[[session]]
name = "a"
script = ["say hello", "write a.txt a", "commit add a"]
"""


def _layout(tmp_path: Path, text: str = LAYOUT) -> Path:
    p = tmp_path / "disk.toml"
    p.write_text(text)
    return p


def _clear(r: subprocess.CompletedProcess[str], path: Path, what: str) -> None:
    assert r.returncode == 4, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "Task exception" not in r.stderr, r.stderr
    assert str(path) in r.stderr and what in r.stderr, r.stderr
    assert "hint:" in r.stderr


def test_read_only_state_dir_names_the_path_exit_4(git_repo: Path, tmp_path: Path, ro_fs: Path) -> None:
    r = cli("run", str(_layout(tmp_path)), "--repo", str(git_repo), "--state-dir", str(ro_fs), "--headless",
            check=False)
    _clear(r, ro_fs, "writable")


def test_full_state_dir_names_the_path_exit_4(git_repo: Path, tmp_path: Path, tiny_fs: Path) -> None:
    fill(tiny_fs)
    r = cli("run", str(_layout(tmp_path)), "--repo", str(git_repo), "--state-dir", str(tiny_fs), "--headless",
            check=False)
    _clear(r, tiny_fs, "No space left on device")
    assert "free space" in r.stderr


def test_detached_supervisor_that_cannot_write_its_log_tells_up(git_repo: Path, tmp_path: Path,
                                                                 tiny_fs: Path) -> None:
    (tiny_fs / "runs" / "disk").mkdir(parents=True)
    fill(tiny_fs)
    r = cli("up", str(_layout(tmp_path)), "--repo", str(git_repo), "--state-dir", str(tiny_fs), "--detach",
            check=False)
    _clear(r, tiny_fs / "runs" / "disk" / "supervisor.log", "No space left on device")


SLOW = """
[run]
name = "disk"
[defaults]
agent = "sim"
[[session]]
name = "a"
script = ["say started", "sleep 4", "write a.txt a", "commit add a"]
"""


def test_disk_fills_mid_run_exit_4_agents_live_on_and_rerun_recovers(git_repo: Path, tmp_path: Path,
                                                                      tiny_fs: Path) -> None:
    layout = _layout(tmp_path, SLOW)
    proc = subprocess.Popen([sys.executable, "-m", "cortex_tui.cli", "run", str(layout), "--repo", str(git_repo),
                             "--state-dir", str(tiny_fs), "--headless"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    log = tiny_fs / "runs/disk/logs/a.log"
    wait_until(lambda: log.exists() and "started" in log.read_text(errors="replace"), timeout=30, what="a runs")
    filler = fill(tiny_fs)
    out, err = proc.communicate(timeout=60)
    r = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    _clear(r, tiny_fs, "No space left on device")
    assert any(w.tag == "a" for w in Tmux(_socket(tiny_fs)).list_windows())  # the agent was left running
    filler.unlink()  # the user frees space and runs the same command again: it re-attaches and completes
    r = cli("run", str(layout), "--repo", str(git_repo), "--state-dir", str(tiny_fs), "--headless", check=False,
            timeout=90)
    assert r.returncode == 0, r.stderr
    assert "attached" in r.stderr
    assert git(git_repo, "log", "-1", "--format=%s", "cortex/disk/a").strip() == "add a"


def test_exit_4_mid_run_still_writes_report_json_and_junit(git_repo: Path, tmp_path: Path, tiny_fs: Path) -> None:
    """The run's own files fill the disk: the run stops with exit 4, and the reports (elsewhere) say why."""
    import json

    layout = _layout(tmp_path, SLOW)
    report, junit = tmp_path / "out" / "report.json", tmp_path / "out" / "junit.xml"
    report.parent.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "cortex_tui.cli", "run", str(layout), "--repo", str(git_repo),
                             "--state-dir", str(tiny_fs), "--headless", "--report", str(report),
                             "--junit", str(junit)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    log = tiny_fs / "runs/disk/logs/a.log"
    wait_until(lambda: log.exists() and "started" in log.read_text(errors="replace"), timeout=30, what="a runs")
    fill(tiny_fs)
    out, err = proc.communicate(timeout=60)
    _clear(subprocess.CompletedProcess(proc.args, proc.returncode, out, err), tiny_fs, "No space left on device")
    data = json.loads(report.read_text())
    assert data["exit_code"] == 4 and "No space left on device" in data["reason"] and str(tiny_fs) in data["reason"]
    assert [s["name"] for s in data["sessions"]] == ["a"]
    assert "No space left on device" in junit.read_text()
    Tmux(_socket(tiny_fs)).kill_server()


def _socket(state_dir: Path) -> str:
    from cortex_tui.backends.tmux import socket_name

    return socket_name("disk", state_dir.resolve())


def test_lock_holder_names_the_real_pid_not_minus_1_while_the_holder_writes_it(tmp_path: Path) -> None:
    """Two `up --detach` at once: the loser read the lock file between the winner's truncate and its pid."""
    from cortex_tui.store.files import RunStore

    store = RunStore(tmp_path / "coordination", "clash")
    store.ensure()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(store.lock_path)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.ftruncate(fd, 0)\n"
        "print('locked', flush=True)\n"
        "time.sleep(0.5)\n"  # a slow moment between taking the lock and writing the pid
        "os.write(fd, str(os.getpid()).encode())\n"
        "time.sleep(5)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert store.lock_holder() == holder.pid
    finally:
        holder.kill()
        holder.wait()
