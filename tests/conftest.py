"""Shared fixtures: every test gets a private tmux socket dir, a pinned HOME and real git repos."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest_plugins = ["sshd"]

# `.venv/bin/python -m pytest` (the README's test command) does not put the venv's bin/ on PATH: without this,
# tools the bootstrap installed there (ruff, the cortex-tui script, agent CLIs in its local npm prefix) are
# not found by the tests and the children they start.
_VENV_BIN = os.path.dirname(sys.executable)
if _VENV_BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")

# The pinned agent CLIs (scripts/bootstrap.sh --dev installs them into .cortex-dev/) come first on PATH,
# so the conformance suite drives exactly the tested versions, never whatever else is installed.
AGENT_BIN = Path(os.environ.get("CORTEX_DEV_DIR") or Path(__file__).resolve().parents[1] / ".cortex-dev") / "bin"
if AGENT_BIN.is_dir():
    os.environ["PATH"] = f"{AGENT_BIN}{os.pathsep}{os.environ.get('PATH', '')}"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "cortex-test", "GIT_AUTHOR_EMAIL": "test@cortex.invalid",
    "GIT_COMMITTER_NAME": "cortex-test", "GIT_COMMITTER_EMAIL": "test@cortex.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Never touch the developer's tmux server, HOME or git config."""
    home = tmp_path_factory.mktemp("home")
    tmuxdir = Path(f"/tmp/ctx-tmux-{os.getpid()}-{time.monotonic_ns() % 10**9}")
    tmuxdir.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMUX_TMPDIR", str(tmuxdir))
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.setenv("SHELL", "/bin/sh")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    for k, v in GIT_ENV.items():
        monkeypatch.setenv(k, v)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
    yield
    # kill every tmux server this test started (sockets live in its private dir)
    for sock in tmuxdir.glob("**/*"):
        if sock.is_socket():
            subprocess.run(["tmux", "-S", str(sock), "kill-server"], capture_output=True)
    subprocess.run(["rm", "-rf", str(tmuxdir)], capture_output=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.serial`` tests share one xdist group, so ``--dist loadgroup`` runs them one after another."""
    for item in items:
        if item.get_closest_marker("serial") is not None:
            item.add_marker(pytest.mark.xdist_group("serial"))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A real git repo on branch main with a couple of committed files."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# test repo\n")
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("print('hello')\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def wait_until(pred: Callable[[], object], timeout: float = 20.0, interval: float = 0.05, what: str = "") -> None:
    """Retry ``pred`` until truthy (real processes take real time); fail naming ``what``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}")
