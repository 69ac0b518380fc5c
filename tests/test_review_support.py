"""Helpers for the review/clean tests: a run with real worktrees, built without the engine."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from cortex_tui.backends.git import slugify
from cortex_tui.model.state import RunState, SessionRecord, SessionState
from cortex_tui.review.models import QueueEntry
from cortex_tui.review.queue import ReviewQueue, on_session_finished
from cortex_tui.store.files import RunStore


def git(repo: Path, *args: str, check: bool = True) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=check, capture_output=True, text=True).stdout


def commit_file(where: Path, rel: str, content: str, msg: str | None = None) -> str:
    p = where / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(content)
    git(where, "add", "--", rel)
    git(where, "commit", "-q", "-m", msg or f"edit {rel}")
    return git(where, "rev-parse", "HEAD").strip()


def toml_str(s: str) -> str:
    return json.dumps(s)


class Fleet:
    """A run ``run`` on ``repo`` (base main) whose sessions get real worktrees and branches."""

    def __init__(self, repo: Path, run: str = "r1") -> None:
        self.repo = repo
        self.run = run
        self.state_dir = repo / "coordination"
        self.store = RunStore(self.state_dir, run)
        self.store.ensure()
        info = git(repo, "rev-parse", "--git-path", "info/exclude").strip()
        exclude = (repo / info) if not Path(info).is_absolute() else Path(info)
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with open(exclude, "a") as f:
            f.write("/.cortex/\n/coordination/\n")
        self.specs: dict[str, dict[str, object]] = {}
        self.state = RunState(run=run, layout_path=str(repo / "layout.toml"), layout_text="", repo=str(repo),
                              base="main", base_commit=git(repo, "rev-parse", "main").strip(),
                              socket=f"cortex-test-{run}", created_at=time.time())
        self._save()

    def _layout(self) -> str:
        out = [f"[run]\nname = {toml_str(self.run)}\nbase = \"main\"\n"]
        for name, spec in self.specs.items():
            out.append(f"[[session]]\nname = {toml_str(name)}\nagent = \"shell\"\ncommand = \"true\"\n")
            if spec.get("scope") is not None:
                out.append(f"scope = {json.dumps(spec['scope'])}\n")
            if spec.get("verify"):
                out.append(f"verify = {toml_str(str(spec['verify']))}\n")
        return "\n".join(out)

    def _save(self) -> None:
        self.state.layout_text = self._layout() if self.specs else self.state.layout_text
        self.store.save(self.state)

    def worktree(self, name: str) -> Path:
        return Path(self.state.sessions[name].worktree)

    def branch(self, name: str) -> str:
        return self.state.sessions[name].branch

    def add(self, name: str, *, scope: list[str] | None = None, verify: str | None = None,
            base: str = "main") -> Path:
        slug = slugify(name)
        wt = self.repo / ".cortex" / "worktrees" / self.run / slug
        branch = f"cortex/{self.run}/{slug}"
        wt.parent.mkdir(parents=True, exist_ok=True)
        git(self.repo, "worktree", "add", "-q", "-b", branch, str(wt), base)
        self.specs[name] = {"scope": scope, "verify": verify}
        self.state.sessions[name] = SessionRecord(
            name=name, slug=slug, agent="shell", state=SessionState.RUNNING, branch=branch, worktree=str(wt),
            base_commit=git(self.repo, "rev-parse", base).strip(), window_id="@1", created_at=time.time())
        self._save()
        return wt

    def set_state(self, name: str, state: SessionState, finished_at: float | None = None) -> None:
        rec = self.state.sessions[name]
        rec.state = state
        rec.finished_at = finished_at if finished_at is not None else (time.time() if state.terminal else None)
        self._save()

    def finish(self, name: str, *, finished_at: float | None = None, verify: bool = True,
               timeout: float = 60.0) -> QueueEntry:
        self.set_state(name, SessionState.FINISHED, finished_at)
        return on_session_finished(self.repo, self.state_dir, self.run, name, verify=verify,
                                   verify_timeout_s=timeout)

    def queue(self) -> ReviewQueue:
        return ReviewQueue.open(self.repo, self.state_dir, self.run)

    def events(self, kind: str | None = None) -> list[dict[str, object]]:
        return [e.model_dump() for e in self.store.iter_events() if kind is None or e.kind == kind]


def reachable_from_refs(repo: Path) -> set[str]:
    """Every commit reachable from a ref (branches, refs/cortex/*, tags) — worktree HEADs excluded."""
    refs = git(repo, "for-each-ref", "--format=%(objectname)").split()
    if not refs:
        return set()
    return set(git(repo, "rev-list", *refs).split())


def backup_refs(repo: Path, prefix: str = "refs/cortex/") -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", prefix).split()


def file_in_some_ref(repo: Path, rel: str, content: bytes, prefix: str = "refs/cortex/") -> bool:
    for ref in backup_refs(repo, prefix):
        r = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", f"{ref}:{rel}"], capture_output=True)
        if r.returncode == 0 and r.stdout == content:
            return True
    return False
