"""Review work as engine commands: queueing finished sessions, and the reviewer's decisions.

Every front end (TUI, CLI, headless) decides through the same :class:`ReviewDesk` methods: the blocking
git and verify work runs in a thread, never on the event loop, and each outcome is published on the
engine's :class:`~cortex_tui.engine.events.EventBus` (the review library has already written it to
``events.jsonl``), so the dashboard's events panel sees a decision made on the Review screen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cortex_tui.backends.node import Node
from cortex_tui.engine.events import Emit, EventBus
from cortex_tui.engine.node_links import PolledNode, verify_on_node
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.errors import CortexError, DiskError
from cortex_tui.model.state import RunState

if TYPE_CHECKING:
    from cortex_tui.bestof.models import Comparison
    from cortex_tui.review.decisions import ApproveResult, RejectResult
    from cortex_tui.review.models import QueueEntry
    from cortex_tui.review.queue import ReviewQueue

SEND_TIMEOUT_S = 60.0
"""How long a change request waits for the agent to be sent the text."""


class ReviewDesk:
    """The review queue of one run, driven from the engine's loop."""

    def __init__(self, *, repo: Path, state_dir: Path, run: str, bus: EventBus, emit: Emit,
                 send: Callable[[str, str], Coroutine[Any, Any, None]], state: Callable[[], RunState],
                 node_for: Callable[[Any], Node], save: Callable[[], None]) -> None:
        self.repo = repo
        self.state_dir = state_dir
        self.run = run
        self.bus = bus
        self.emit = emit
        self.send = send
        self.state = state
        self.node_for = node_for
        self.save = save

    def queue(self) -> ReviewQueue:
        from cortex_tui.review.queue import ReviewQueue

        return ReviewQueue.open(self.repo, self.state_dir, self.run)

    def _published(self, session: str, decision: str, detail: str, **extra: Any) -> None:
        self.bus.publish(self.bus.make("review", session, decision=decision, detail=detail, **extra))

    # -------------------------------------------------------------- a session finished
    async def enqueue(self, rt: SessionRuntime) -> QueueEntry | None:
        """A finished branch joins the review queue: fetched home if it ran on a polled node, diffed, verified
        (here, or on its node), conflict-checked. None when that failed (a ``review_error`` says why)."""
        from cortex_tui.review.queue import on_session_finished

        rec, node = rt.rec, self.node_for(rt.rec)
        if node.polled:  # bring the branch home (for review) before anything reads it
            try:
                rec.head_commit = await asyncio.to_thread(node.fetch_back, self.repo, rec)
                self.emit("fetched", rec.name, node=rec.node, head=rec.head_commit)
            except CortexError as e:
                self.emit("fetch_error", rec.name, error=e.message)
        self.save()
        try:
            # worktrees of polled nodes are not on this machine: their verify runs on the node, after queueing
            entry = await asyncio.to_thread(on_session_finished, self.repo, self.state_dir, self.run, rec.name,
                                            spec=rt.spec, state=self.state(), verify=not node.polled)
            if isinstance(node, PolledNode) and entry.verify_command:
                entry = await asyncio.to_thread(verify_on_node, node, rec, entry.verify_command, entry.head,
                                                repo=self.repo, state_dir=self.state_dir, run=self.run)
        except DiskError:  # review_due stays set: the next supervisor verifies and queues it again
            raise
        except CortexError as e:
            self.emit("review_error", rec.name, error=e.message)
            return None
        rec.review_due = False
        rec.verify_exit = None if entry.verify is None else entry.verify.exit_code  # dependents wait on it
        self.save()
        v = entry.verify
        self.bus.publish(self.bus.make(
            "review", rec.name, status=entry.status, conflicts=entry.conflicts,
            verify=None if v is None else {"exit_code": v.exit_code, "duration_s": v.duration_s},
            files=len(entry.files)))
        return entry

    # -------------------------------------------------------------- the reviewer's decisions
    async def approve(self, session: str, *, squash: bool = False, by: str | None = None) -> ApproveResult:
        """Merge the reviewed head into the base (then re-check the other entries' conflicts)."""
        from cortex_tui.review.decisions import approve

        res = await asyncio.to_thread(lambda: approve(self.queue(), session, squash=squash, by=by))
        self._published(session, "approve", f"{res.merge.method} at {res.merge.commit[:12]}",
                        refreshed=list(res.refreshed))
        return res

    async def reject(self, session: str, *, reason: str = "", by: str | None = None) -> RejectResult:
        """Keep the branch under a ``rejected`` ref; it is not merged."""
        from cortex_tui.review.decisions import reject

        res = await asyncio.to_thread(lambda: reject(self.queue(), session, reason=reason, by=by))
        self._published(session, "reject", f"kept at {res.ref}" + (f": {reason}" if reason else ""))
        return res

    async def request_changes(self, session: str, text: str, *, by: str | None = None) -> QueueEntry:
        """Send the reviewer's text to the agent (through the engine's send, on this loop)."""
        from cortex_tui.review.decisions import request_changes

        loop = asyncio.get_running_loop()

        def deliver(name: str, message: str) -> None:  # runs in the worker thread, never on the loop
            asyncio.run_coroutine_threadsafe(self.send(name, message), loop).result(timeout=SEND_TIMEOUT_S)

        entry = await asyncio.to_thread(lambda: request_changes(self.queue(), session, text, deliver, by=by))
        self._published(session, "request_changes", text)
        return entry

    async def reverify(self, session: str) -> QueueEntry:
        """Run the verify command again for the entry's current head."""
        entry = await asyncio.to_thread(lambda: self.queue().reverify(session))
        v = entry.verify
        self._published(session, "reverify", "" if v is None else f"exit {v.exit_code}",
                        verify=None if v is None else {"exit_code": v.exit_code, "duration_s": v.duration_s})
        return entry

    async def choose_winner(self, session: str, *, by: str | None = None) -> Comparison:
        """Best-of: ``session`` wins; the other variants are kept under their refs and rejected."""
        from cortex_tui.bestof.compare import choose_winner

        cmp = await asyncio.to_thread(choose_winner, self.repo, self.state_dir, self.run, session, by=by)
        self._published(session, "choose_winner", f"{session} wins")
        return cmp
