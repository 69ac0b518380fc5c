"""The review queue of one run: add finished sessions, refresh on base moves, list in review order.

The engine calls :func:`on_session_finished` (blocking: it runs the verify command; call it from a
worker thread). Decisions live in :mod:`cortex_tui.review.decisions`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cortex_tui.errors import CortexError
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import RunState
from cortex_tui.review.context import RunContext, resolve_spec
from cortex_tui.review.entry import base_tip, compute_entry, refresh_entry
from cortex_tui.review.models import QueueEntry, ReviewDoc, VerifyResult, ordered
from cortex_tui.review.rebuild import verify_event

AWAITING = ("pending", "changes_requested")


class ReviewQueue:
    """Queue operations over ``review.json`` of one run."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    @classmethod
    def open(cls, repo: Path, state_dir: Path | None = None, run: str | None = None, *,
             announce: Callable[[str], None] | None = None) -> ReviewQueue:
        return cls(RunContext.open(repo, state_dir, run, announce=announce))

    # reading ---------------------------------------------------------------
    def entries(self, status: str | None = None) -> list[QueueEntry]:
        doc = self.ctx.reviews.load()
        es = [e for e in doc.entries.values() if status is None or e.status == status]
        return ordered(es)

    def get(self, session: str) -> QueueEntry:
        doc = self.ctx.reviews.load()
        if session not in doc.entries:
            raise CortexError(f"session {session!r} is not in the review queue of run {self.ctx.run!r}",
                              "a session joins the queue when it finishes; see `cortex-tui review list`")
        return doc.entries[session]

    def _scope(self, state: RunState, session: str) -> list[str]:
        spec = resolve_spec(state, session)
        return list(spec.scope) if spec else []

    # writing ---------------------------------------------------------------
    def finish(self, session: str, *, spec: ResolvedSession | None = None, verify: bool = True,
               verify_timeout_s: float = 600.0, state: RunState | None = None) -> QueueEntry:
        """(Re-)queue ``session`` as pending: diff, commits, conflicts and (optionally) verify.

        ``state`` is the caller's in-memory run state (default: read state.json).
        """
        state = state or self.ctx.state()
        rec = self.ctx.session(session, state)
        spec = spec or resolve_spec(state, session)
        scope = list(spec.scope) if spec else []
        command = spec.verify if spec else None
        log = self.verify_log_path(rec.slug)
        entry = compute_entry(self.ctx.repo, state.base, rec, scope=scope,
                              verify_command=command if verify else None, verify_timeout_s=verify_timeout_s,
                              verify_log=log)
        if not verify:
            entry.verify_command = command
        with self.ctx.reviews.edit() as doc:
            old = doc.entries.get(session)
            if old is not None:
                entry.round = old.round + 1
                entry.decisions = old.decisions
            doc.entries[session] = entry
        self.ctx.log("review_queued", session, {"branch": entry.branch, "head": entry.head, "round": entry.round,
                                                 "ready": entry.ready, "conflicts": entry.conflicts,
                                                 "verify": verify_event(entry.verify)})
        return entry

    def reverify(self, session: str, timeout_s: float = 600.0) -> QueueEntry:
        """Run the verify command again for the entry's current head."""
        from cortex_tui.review.verify import run_verify

        e = self.get(session)
        if not e.verify_command:
            raise CortexError(f"session {session!r} has no verify command", "set `verify` in the layout")
        if not Path(e.worktree).is_dir():
            raise CortexError(f"worktree {e.worktree} of {session!r} is not on this machine (a remote session's "
                              "verify runs on its node when it finishes)",
                              "restart the session to verify again, or check the branch out locally")
        result = run_verify(e.verify_command, Path(e.worktree), timeout_s=timeout_s,
                            log_path=self.verify_log_path(e.slug), head=e.head)
        with self.ctx.reviews.edit() as doc:
            cur = doc.entries[session]
            cur.verify = result
        self.ctx.log("review_verified", session, {"verify": verify_event(result)})
        return cur

    def set_verify(self, session: str, result: VerifyResult) -> QueueEntry:
        """Record a verify that ran elsewhere (a remote session's, on its node)."""
        with self.ctx.reviews.edit() as doc:
            cur = doc.entries[session]
            cur.verify = result
        self.ctx.log("review_verified", session, {"verify": verify_event(result)})
        return cur

    def verify_log_path(self, slug: str) -> Path:
        """Where the full output of a session's verify is kept."""
        return self.ctx.reviews.verify_dir / f"{slug}.log"

    def refresh(self) -> list[QueueEntry]:
        """Re-check conflicts of every awaiting entry against the current base tip. Returns the changed ones."""
        state = self.ctx.state()
        with self.ctx.reviews.edit() as doc:
            return refresh_doc(self.ctx.repo, state, doc)


def refresh_doc(repo: Path, state: RunState, doc: ReviewDoc, skip: str | None = None) -> list[QueueEntry]:
    changed: list[QueueEntry] = []
    base_tip(repo, state.base)  # fail early, naming the base, if it is gone
    for name, e in doc.entries.items():
        if name == skip or e.status not in AWAITING:
            continue
        spec = resolve_spec(state, name)
        if refresh_entry(repo, state.base, e, list(spec.scope) if spec else []):
            changed.append(e)
    return changed


def on_session_finished(repo: Path, state_dir: Path, run: str, session: str, *,
                        spec: ResolvedSession | None = None, state: RunState | None = None, verify: bool = True,
                        verify_timeout_s: float = 600.0) -> QueueEntry:
    """Entry point for the engine: queue a session that just finished (again) and return its entry.

    Blocking (runs the verify command in the worktree); call it off the event loop. Pass the
    engine's ``state`` (and the resolved ``spec``) to skip re-reading state.json and the layout.
    A session that had changes requested re-enters the queue as pending (``round`` + 1).
    """
    q = ReviewQueue(RunContext.open(repo, state_dir, run))
    return q.finish(session, spec=spec, state=state, verify=verify, verify_timeout_s=verify_timeout_s)


def unreviewed(repo: Path, state_dir: Path, state: RunState) -> list[str]:
    """Sessions that finished (exit 0) but whose review was never seen through: the supervisor died during
    their verify, or their entry is missing or has no verify result although one is configured.

    A re-attaching supervisor re-verifies and queues them; a session whose branch is gone (cleaned) is left.
    """
    from cortex_tui.review.entry import branch_head

    ctx = RunContext.open(repo, state_dir, state.run)
    doc = ctx.reviews.load()
    out: list[str] = []
    for name, rec in state.sessions.items():
        if rec.state.value != "finished" or rec.exit_code != 0:
            continue
        e = doc.entries.get(name)
        if rec.review_due or e is None or (e.status in AWAITING and e.verify_command and e.verify is None):
            if rec.review_due or branch_head(repo, rec.branch) is not None:
                out.append(name)
    return out
