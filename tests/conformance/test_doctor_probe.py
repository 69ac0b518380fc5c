"""`cortex-tui doctor --agent X --probe` against the real CLIs and loopback provider fakes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from drivers import DRIVERS
from fake_gemini import FakeGemini
from fake_llm import Step


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()  # nothing listens there any more
    return port


def _doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cortex_tui.cli", "doctor", *args], capture_output=True, text=True,
                          env=env, timeout=240)


@pytest.fixture
def gemini_env(tmp_path: Path) -> dict[str, str]:
    d = DRIVERS["gemini"]
    why = d.available()
    if why:
        pytest.skip(why)
    home = tmp_path / "home"
    home.mkdir()
    with FakeGemini([]) as fake:  # the driver writes the HOME's settings; each test points at its own fake
        env = d.env(home, tmp_path, fake)
    return {**os.environ, **env}


def test_probe_drives_the_cli_against_its_endpoint(gemini_env: dict[str, str]) -> None:
    with FakeGemini([Step.say("OK", input_tokens=11, output_tokens=1)]) as api:
        env = {**gemini_env, "GOOGLE_GEMINI_BASE_URL": api.url}
        r = _doctor(env, "--agent", "gemini", "--probe", "--model", "gemini-2.5-pro")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "0.61.0 (tested)" in r.stdout
        assert "API key: GEMINI_API_KEY set" in r.stdout
        assert f"{api.url} (connected in" in r.stdout
        assert "answered in" in r.stdout and "probe: all good" in r.stdout
        assert api.billed and api.billed[0].input_tokens == 11  # the turn really reached the fake


def test_probe_says_what_is_missing(gemini_env: dict[str, str]) -> None:
    no_key = {k: v for k, v in gemini_env.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    no_key["GOOGLE_GEMINI_BASE_URL"] = f"http://127.0.0.1:{_closed_port()}"
    r = _doctor(no_key, "--agent", "gemini", "--probe")
    assert r.returncode == 1
    assert "auth      PROBLEM  not logged in and no GEMINI_API_KEY or GOOGLE_API_KEY" in r.stdout
    assert "cannot connect to 127.0.0.1" in r.stdout and "not tried (fix the above first)" in r.stdout
    gone = {**gemini_env, "CORTEX_GEMINI_BIN": "/nonexistent/gemini"}
    r = _doctor(gone, "--agent", "gemini", "--probe")
    assert r.returncode == 1 and "not installed — install it: npm install @google/gemini-cli@0.61.0" in r.stdout


def test_probe_reports_a_failing_turn(gemini_env: dict[str, str]) -> None:
    with FakeGemini([Step.error(500)] * 4, fallback=Step.error(500)) as api:
        env = {**gemini_env, "GOOGLE_GEMINI_BASE_URL": api.url}
        r = _doctor(env, "--agent", "gemini", "--probe", "--model", "gemini-2.5-pro")
        assert r.returncode == 1, r.stdout
        assert "turn      PROBLEM  exited" in r.stdout


def test_probe_needs_both_flags() -> None:
    r = _doctor(dict(os.environ), "--probe")
    assert r.returncode != 0 and "--agent and --probe go together" in r.stderr
