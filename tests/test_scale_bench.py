"""Smoke of benchmarks/scale.py (slow: left out by default; `python -m pytest -m slow tests/test_scale_bench.py`).
It runs the real benchmark in --quick form (all at once, max_parallel slots, a [pool], one with warm slots, and
across two loopback sshd nodes) and checks that every session of every mode finished."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sshd import missing_reason as sshd_missing

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_scale_benchmark_quick_runs_every_session_to_the_end() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--quick"], capture_output=True,
                       text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith(("all at once", "slots of", "pool of", "local+"))]
    across = sshd_missing() is None  # two loopback sshd nodes beside this machine where OpenSSH is installed
    assert len(rows) == 4 + across, r.stdout
    assert any(ln.startswith("pool of 5, warm") for ln in rows), r.stdout
    assert across or "across nodes: skipped" in r.stdout
    assert all(ln.split()[-1] == "0" for ln in rows), r.stdout  # the 'failed' column
    if across:
        assert "all sessions spawned, by node: local" in r.stdout and "box2" in r.stdout, r.stdout
    assert "status --json with 10 live sessions" in r.stdout and "idle, 10 quiet sessions" in r.stdout
