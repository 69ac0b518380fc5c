"""Hygiene: the CLI runs, doctor says what to install, ruff is clean (architecture rules: test_architecture.py)."""

from __future__ import annotations

import subprocess
import sys


def test_doctor_reports_tools() -> None:
    r = subprocess.run([sys.executable, "-m", "cortex_tui.cli", "doctor"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    for tool in ("python", "tmux", "git", "ssh"):
        assert f"  {tool}" in r.stdout


def test_doctor_says_what_to_install_when_tmux_missing(tmp_path: object) -> None:
    import os

    env = {**os.environ, "PATH": "/nonexistent"}
    r = subprocess.run([sys.executable, "-m", "cortex_tui.cli", "doctor"], capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert "tmux" in r.stdout and "apt-get install tmux" in r.stdout
    assert "apt-get install git" in r.stdout


def test_ruff_clean() -> None:
    import shutil
    from pathlib import Path

    import pytest

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed (pip install -e '.[dev]')")
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([ruff, "check", "cortex_tui", "tests", "benchmarks"], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]


def test_no_tracked_path_is_a_symlink() -> None:
    """A symlink committed by mistake (a dev's `.cortex-dev` pointing into their own machine) breaks a clean clone."""
    import shutil
    from pathlib import Path

    import pytest

    root = Path(__file__).resolve().parent.parent
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout: nothing is tracked")
    r = subprocess.run(["git", "ls-files", "-s", "-z"], cwd=root, capture_output=True, check=True)
    links = [
        entry.split(b"\t", 1)[1].decode(errors="replace")
        for entry in r.stdout.split(b"\0")
        if entry.startswith(b"120000 ")
    ]
    assert links == [], f"tracked symlinks (commit the files, or ignore the path): {links}"
