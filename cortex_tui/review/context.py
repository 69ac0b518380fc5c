"""Where a run lives and what its sessions are: repo, state dir, run state, resolved session specs."""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cortex_tui.backends.git import repo_root
from cortex_tui.errors import CortexError, StateError
from cortex_tui.model.events import Event, EventKind
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import RunState, SessionRecord
from cortex_tui.review.models import ReviewDoc
from cortex_tui.review.store import ReviewStore
from cortex_tui.store.files import RunStore, list_runs


def current_user() -> str:
    user = os.environ.get("USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def default_state_dir(repo: Path) -> Path:
    return repo / "coordination"


@dataclass
class RunContext:
    """One run of one repo, as the review code sees it."""

    repo: Path
    state_dir: Path
    run: str
    store: RunStore
    reviews: ReviewStore

    @classmethod
    def open(cls, repo: Path, state_dir: Path | None = None, run: str | None = None, *,
             announce: Callable[[str], None] | None = None) -> RunContext:
        """``announce`` is told (besides a ``review_rebuilt`` event) when a lost review.json was rebuilt."""
        repo = repo_root(Path(repo).resolve())
        sd = Path(state_dir).resolve() if state_dir else default_state_dir(repo)
        if run is None:
            runs = list_runs(sd)
            if not runs:
                raise StateError(f"no runs under {sd}", "start one with `cortex-tui up LAYOUT`, or pass --state-dir")
            run = runs[-1]
        store = RunStore(sd, run)
        if not store.state_path.exists():
            raise StateError(f"run {run!r} not found under {sd}", "see `cortex-tui status` for the runs")
        ctx = cls(repo=repo, state_dir=sd, run=run, store=store, reviews=ReviewStore(store.dir, run))

        def rebuild() -> ReviewDoc:
            from cortex_tui.review.rebuild import rebuild_doc

            return rebuild_doc(ctx.repo, ctx.state(), ctx.store.iter_events(), resolve_spec)

        def rebuilt(msg: str) -> None:
            ctx.store.append_event(Event(ts=time.time(), run=ctx.run, kind="review_rebuilt", data={"message": msg}))
            if announce is not None:
                announce(msg)

        ctx.reviews.rebuild, ctx.reviews.on_rebuilt = rebuild, rebuilt
        return ctx

    def state(self) -> RunState:
        st = self.store.load()
        if st is None:
            raise StateError(f"{self.store.state_path}: missing")
        return st

    def session(self, name: str, state: RunState | None = None) -> SessionRecord:
        st = state or self.state()
        rec = st.sessions.get(name)
        if rec is None:
            raise CortexError(f"no session {name!r} in run {self.run!r}",
                              f"sessions: {', '.join(sorted(st.sessions)) or '(none)'}")
        return rec

    def base(self, state: RunState | None = None) -> str:
        return (state or self.state()).base

    def log(self, kind: EventKind, session: str, data: dict[str, object]) -> None:
        self.store.append_event(Event(ts=time.time(), run=self.run, kind=kind, session=session, data=data))


def resolve_spec(state: RunState, name: str) -> ResolvedSession | None:
    """The session's resolved layout spec (scope, verify) from the layout text saved in the run state."""
    from cortex_tui.layout import parse_layout

    try:
        loaded = parse_layout(state.layout_text, Path(state.layout_path))
    except CortexError:
        return None
    for s in loaded.sessions:
        if s.name == name:
            return s
    return None
