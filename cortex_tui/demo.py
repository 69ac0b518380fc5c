"""``cortex-tui demo``: a throwaway git repo and the embedded demo layout."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.errors import CortexError
from cortex_tui.layout import demo_layout_text

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
