"""``cortex-tui demo``: a throwaway git repo and the embedded demo layout."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.errors import CortexError
from cortex_tui.layout import demo_layout_text
from cortex_tui.model.layout import TRIGGER_KINDS

KEEP_DEMOS = 3
"""How many demo folders ``cortex-tui demo`` keeps under :func:`demos_home` (older ones are removed)."""
PLANNED_FAILURE = "flaky tests"
"""The demo session that fails on purpose (exit 1), to show the ``repeated_error`` and ``exited`` triggers."""

_FILES = {
    "README.md": "# demo service\n\nA tiny project for the cortex-tui demo.\n",
    "src/__init__.py": "",
    "src/api/__init__.py": "",
    "src/app.py": "def main() -> None:\n    print('hello')\n",
    "tests/__init__.py": "",
    "tests/test_app.py": "import unittest\n\n\nclass AppTest(unittest.TestCase):\n    def test_truth(self) -> None:\n        self.assertTrue(True)\n",
    ".gitignore": "__pycache__/\n*.pyc\n",
}


def make_demo_repo(root: Path) -> tuple[Path, Path]:
    """Create ``root/repo`` (a git repo on main) and ``root/demo.toml``; return both paths."""
    repo = root / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    env_args = ["-c", "user.name=cortex-demo", "-c", "user.email=demo@cortex.invalid", "-c", "commit.gpgsign=false"]
    if not (repo / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        for rel, text in _FILES.items():
            p = repo / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
        subprocess.run(["git", "-C", str(repo), *env_args, "commit", "-q", "-m", "demo: initial"], check=True)
    layout = root / "demo.toml"
    layout.write_text(demo_layout_text())
    return repo, layout


def auto_approve(sup: Supervisor, delay: float = 6.0) -> None:
    """Headless demo only: answer approval prompts after ``delay`` s, as a human at the TUI would."""
    import asyncio
    import sys

    tasks: set[asyncio.Task[None]] = set()

    async def later(name: str) -> None:
        await asyncio.sleep(delay)
        rt = sup.rt.get(name)
        if rt is not None and rt.approval.prompt is not None:
            print(f"demo: approving {name!r}'s prompt (in the TUI you would press a)", file=sys.stderr)
            try:
                await sup.approve(name)
            except CortexError as e:
                print(f"demo: could not approve {name!r}: {e.message}", file=sys.stderr)

    def on_event(ev: Event) -> None:
        if ev.kind == "trigger" and ev.data.get("kind") == "approval_waiting" and ev.session:
            task = asyncio.get_running_loop().create_task(later(ev.session))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    sup.subscribe(on_event)


def demos_home() -> Path:
    """Where demo folders live: ``$TMPDIR/cortex-demos-<uid>`` (one folder per demo, the last few kept)."""
    return Path(tempfile.gettempdir()) / f"cortex-demos-{os.getuid()}"


def _live(root: Path) -> bool:
    """A demo folder whose run still has a supervisor (its lock is held): never removed."""
    from cortex_tui.store.files import RunStore, list_runs

    sd = root / "repo" / "coordination"
    return any(RunStore(sd, run).lock_holder() for run in list_runs(sd))


def _take_down_quietly(root: Path) -> None:
    """Stop what an old demo left in tmux (its server, dead panes) before its folder goes."""
    from cortex_tui.backends.tmux import Tmux
    from cortex_tui.store.files import RunStore, list_runs

    sd = root / "repo" / "coordination"
    for run in list_runs(sd):
        state = RunStore(sd, run).load()
        if state is not None:
            try:
                Tmux(state.socket).kill_server()
            except CortexError:
                pass


def new_demo_root(home: Path | None = None, keep: int = KEEP_DEMOS) -> tuple[Path, list[Path]]:
    """A fresh demo folder under ``home``; removes the oldest ones beyond ``keep`` (never a live one).

    Returns (the new folder, the folders removed)."""
    home = home or demos_home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    root = Path(tempfile.mkdtemp(prefix=time.strftime("demo-%Y%m%d-%H%M%S-"), dir=home))
    old = sorted((p for p in home.iterdir() if p.is_dir() and p != root and p.name.startswith("demo-")),
                 key=lambda p: p.stat().st_mtime)
    removed: list[Path] = []
    for p in old[: max(0, len(old) - (keep - 1))]:
        if _live(p):
            continue
        _take_down_quietly(p)
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return root, removed


def fired_kinds(sup: Supervisor) -> dict[str, float]:
    """Trigger kind -> seconds after the run started that it first fired (any session)."""
    started = sup.state.created_at
    first: dict[str, float] = {}
    for rec in sup.state.sessions.values():
        for t in rec.triggers:
            first[t.kind] = min(first.get(t.kind, float("inf")), t.at - started)
    return first


def verdict(sup: Supervisor) -> tuple[bool, list[str]]:
    """Did the demo do what it promises? (every trigger kind fired; only the planned session failed)."""
    lines: list[str] = []
    fired = fired_kinds(sup)
    missing = [k for k in TRIGGER_KINDS if k not in fired]
    if missing:
        lines.append(f"demo: {len(TRIGGER_KINDS) - len(missing)} of {len(TRIGGER_KINDS)} triggers fired; "
                     f"missing: {', '.join(missing)}")
    else:
        last = max(fired.values())
        lines.append(f"demo: all {len(TRIGGER_KINDS)} triggers fired, the last {last:.0f} s after the start "
                     f"({', '.join(TRIGGER_KINDS)})")
    others = [r.name for r in sup.state.sessions.values()
              if r.name != PLANNED_FAILURE and not (r.state.value == "finished" and r.exit_code == 0)]
    if others:
        lines.append(f"demo: unexpected: {', '.join(others)} did not finish cleanly")
    return not missing and not others, lines
