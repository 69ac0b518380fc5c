"""Running the real Claude Code CLI offline: a private HOME, a fake API, a private tmux server.

Shared by tests/test_claude_code.py and tests/fixtures/claude/capture.py (which regenerates the fixtures).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cortex_tui.agents.base import KeyInput, SpawnContext
from cortex_tui.model.layout import Layout, ResolvedSession
from cortex_tui.model.resolve import resolve_session

API_KEY = "sk-ant-api03-cortex-test-key-0123456789abcdef"
MODEL = "claude-sonnet-4-5-20250929"


def claude_bin() -> str | None:
    return os.environ.get("CORTEX_CLAUDE_BIN") or shutil.which("claude")


def make_session(**kw: object) -> ResolvedSession:
    layout = Layout.model_validate({"run": {"name": "t"}, "session": [{"name": "s", "agent": "claude-code", **kw}]})
    return resolve_session(layout, layout.session[0])


def make_ctx(root: Path, worktree: Path, *, headless: bool = False) -> SpawnContext:
    sdir = root / "session"
    sdir.mkdir(parents=True, exist_ok=True)
    return SpawnContext(run="t", repo=worktree, worktree=worktree, session_dir=sdir,
                        events_file=sdir / "events.jsonl", headless=headless)


def prepare_home(home: Path, worktree: Path) -> None:
    """A HOME where interactive Claude Code skips its first-run dialogs for ``worktree``."""
    home.mkdir(parents=True, exist_ok=True)
    cfg = {
        "hasCompletedOnboarding": True, "theme": "dark", "numStartups": 5,
        "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
        "projects": {str(worktree): {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True,
                                     "allowedTools": []}},
    }
    (home / ".claude.json").write_text(json.dumps(cfg), encoding="utf-8")


def claude_env(home: Path, api_url: str) -> dict[str, str]:
    return {
        "HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm-256color",
        "LANG": "C.UTF-8", "ANTHROPIC_BASE_URL": api_url, "ANTHROPIC_API_KEY": API_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "IS_SANDBOX": "1", "CLAUDE_CODE_MAX_RETRIES": "1",
        "DISABLE_AUTOUPDATER": "1",
    }


@dataclass
class Tmux:
    """A private tmux server (``-L <unique> -f /dev/null``) with one window running one command."""

    name: str = field(default_factory=lambda: f"cc-{uuid.uuid4().hex[:10]}")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.name, "-f", "/dev/null", *args], capture_output=True, text=True)

    def start(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        cmd = f"env -i {envs} {shlex.join(argv)}; echo '[exited '$?']'; sleep 600"
        r = self._run("new-session", "-d", "-x", "120", "-y", "45", "-c", str(cwd), cmd)
        assert r.returncode == 0, r.stderr

    def screen(self) -> list[str]:
        return self._run("capture-pane", "-p", "-t", "0").stdout.splitlines()

    def send(self, keys: list[KeyInput]) -> None:
        for kind, value in keys:
            args = ["send-keys", "-t", "0"] + (["-l", value] if kind == "literal" else [value])
            r = self._run(*args)
            assert r.returncode == 0, r.stderr

    def kill(self) -> None:
        self._run("kill-server")


def read_events(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def wait_for(pred: object, timeout: float = 20.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
