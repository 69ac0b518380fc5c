"""Architecture rules that can fail: the domain core never imports Textual; the CLI stays importable."""

from __future__ import annotations

import subprocess
import sys

CORE = ["cortex_tui.engine.supervisor", "cortex_tui.layout", "cortex_tui.headless.run", "cortex_tui.review.queue",
        "cortex_tui.watch.rules", "cortex_tui.store.status", "cortex_tui.agents.sim_adapter"]


def test_core_never_imports_textual() -> None:
    code = "import sys\n" + "".join(f"import {m}\n" for m in CORE) + \
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\nprint(','.join(bad))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "", f"core imported: {r.stdout}"


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
