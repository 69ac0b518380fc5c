"""doctor: a tool that is found but too old says so (not MISSING); agent CLIs' auth; runs refuse to start
without their prerequisites (what is missing, how to install it, non-zero exit, nothing written)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cortex_tui.agent_auth import AGENTS, check_auth
from cortex_tui.doctor import render, tool_checks

CLAUDE = next(a for a in AGENTS if a.agent == "claude-code")


def _old_tmux_path(tmp_path: Path) -> str:
    """PATH where `tmux` is an old one (prints `tmux 2.9`), everything else as on this machine."""
    d = tmp_path / "oldbin"
    d.mkdir()
    (d / "tmux").write_text("#!/bin/sh\necho 'tmux 2.9'\n")
    (d / "tmux").chmod(0o755)
    return f"{d}{os.pathsep}{os.environ['PATH']}"


def test_old_tmux_is_too_old_not_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:  # undone before conftest's teardown needs `rm`
        m.setenv("PATH", _old_tmux_path(tmp_path))
        tmux = next(c for c in tool_checks() if c.name == "tmux")
    assert not tmux.ok and tmux.present and tmux.status == "TOO OLD"
    text, code = render([tmux])
    assert code == 1
    assert "TOO OLD" in text and "MISSING" not in text and "tmux 2.9" in text
    assert "upgrade tmux" in text and "apt-get install tmux" not in text


def test_missing_tmux_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setenv("PATH", "/nonexistent")
        tmux = next(c for c in tool_checks() if c.name == "tmux")
    assert tmux.status == "MISSING" and "apt-get install tmux" in tmux.hint


def test_claude_auth_key_login_or_neither(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    none = check_auth(CLAUDE, env={"HOME": str(home)}, home=home)
    assert not none.ok and "/login" in none.how and "ANTHROPIC_API_KEY" in none.how
    key = check_auth(CLAUDE, env={"HOME": str(home), "ANTHROPIC_API_KEY": "sk-test"}, home=home)
    assert key.ok and key.how == "API key: ANTHROPIC_API_KEY set"
    assert "sk-test" not in key.how  # the key itself is never printed
    (home / ".claude").mkdir()
    (home / ".claude" / ".credentials.json").write_text("{}")
    login = check_auth(CLAUDE, env={"HOME": str(home)}, home=home)
    assert login.ok and "logged in" in login.how
    (home / ".claude" / ".credentials.json").unlink()
    (home / ".claude.json").write_text('{"oauthAccount": {"emailAddress": "a@b.c"}}')
    assert check_auth(CLAUDE, env={"HOME": str(home)}, home=home).ok
    (home / ".claude.json").write_text('{"hasCompletedOnboarding": true}')
    assert not check_auth(CLAUDE, env={"HOME": str(home)}, home=home).ok


def test_doctor_reports_claude_auth_when_installed(tmp_path: Path) -> None:
    claude = shutil.which("claude")
    if claude is None:
        pytest.skip("the Claude Code CLI is not installed (scripts/bootstrap.sh --dev)")
    home = tmp_path / "h"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if "API_KEY" not in k and "TOKEN" not in k}
    env["HOME"] = str(home)
    r = subprocess.run([sys.executable, "-m", "cortex_tui.cli", "doctor"], capture_output=True, text=True, env=env)
    line = next(ln for ln in r.stdout.splitlines() if "claude-code auth" in ln)
    assert "cannot authenticate" in line
    env["ANTHROPIC_API_KEY"] = "sk-test"
    r = subprocess.run([sys.executable, "-m", "cortex_tui.cli", "doctor"], capture_output=True, text=True, env=env)
    line = next(ln for ln in r.stdout.splitlines() if "claude-code auth" in ln)
    assert "ok" in line and "ANTHROPIC_API_KEY set" in line and "sk-test" not in r.stdout


def test_demo_without_tmux_names_it_and_exits_nonzero(tmp_path: Path) -> None:
    """Today: `supervisor failed: FileNotFoundError(...)`, a report path that is never written, exit 0."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    env = {**os.environ, "PATH": str(bindir)}
    r = subprocess.run([sys.executable, "-m", "cortex_tui.cli", "demo", "--headless", "--dir", str(tmp_path / "d")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "tmux not found" in r.stderr and "apt-get install tmux" in r.stderr
    assert "FileNotFoundError" not in r.stderr and "report:" not in r.stderr
    assert not (tmp_path / "d").exists()  # nothing made before the check


def test_run_with_old_tmux_refuses_before_starting(tmp_path: Path, git_repo: Path) -> None:
    layout = tmp_path / "l.toml"
    layout.write_text('[run]\nname = "x"\n[[session]]\nname = "a"\nagent = "shell"\ncommand = "true"\n')
    env = {**os.environ, "PATH": _old_tmux_path(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "cortex_tui.cli", "run", str(layout), "--repo", str(git_repo),
                        "--headless", "--report", str(tmp_path / "r.json")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "tmux too old (tmux 2.9), need >= 3.2" in r.stderr
    assert not (tmp_path / "r.json").exists()
    assert not (git_repo / "coordination" / "runs").exists()
