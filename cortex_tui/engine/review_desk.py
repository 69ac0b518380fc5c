"""Review work as engine commands: queueing finished sessions, and the reviewer's decisions.

Every front end (TUI, CLI, headless, the API) reads the queue and decides through the same
:class:`ReviewDesk` methods: the blocking git and verify work runs in a thread, never on the event loop, and
each outcome is published on the engine's :class:`~cortex_tui.engine.events.EventBus` (the review library has
already written it to ``events.jsonl``), so the dashboard's events panel sees a decision made on the Review
screen. The answers are the models of :mod:`cortex_tui.engine.review_view` (they cross the API unchanged:
``api/remote_review.py`` is the same desk seen from another process).

:meth:`ReviewDesk.offline` is a desk without a supervisor (reads and decisions on a run's files, as the CLI
makes them); only "request changes" needs the supervisor, to type into the agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cortex_tui.backends.node import Node
from cortex_tui.engine.events import Emit, EventBus
from cortex_tui.engine.integration_desk import IntegrationDesk
from cortex_tui.engine.node_links import PolledNode, verify_on_node
from cortex_tui.engine.review_view import BranchDiff, Decision, QueueView
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.errors import CortexError, DiskError, StateError
from cortex_tui.model.layout import RunSpec
from cortex_tui.model.state import RunState
from cortex_tui.store.files import RunStore

if TYPE_CHECKING:
    from cortex_tui.bestof.models import Comparison
    from cortex_tui.review.models import QueueEntry
    from cortex_tui.review.queue import ReviewQueue

Send = Callable[[str, str], Coroutine[Any, Any, None]]

SEND_TIMEOUT_S = 60.0
"""How long a change request waits for the agent to be sent the text."""


def no_sender(session: str) -> str:
    return ("request changes needs the running supervisor (open the review from `cortex-tui up`); "
            f"or run `cortex-tui review request-changes {session}`")


class ReviewDesk:
    """The review queue of one run, driven from the engine's loop."""

    def __init__(self, *, repo: Path, state_dir: Path, run: str, bus: EventBus, emit: Emit, send: Send | None,
                 state: Callable[[], RunState] | None = None, node_for: Callable[[Any], Node] | None = None,
                 save: Callable[[], Awaitable[None]] | None = None,
                 run_spec: Callable[[], RunSpec | None] = lambda: None) -> None:
        self.repo = repo
        self.state_dir = state_dir
        self.run = run
        self.bus = bus
        self.emit = emit
        self.send = send
        self.state = state
        self.node_for = node_for
        self.save = save
        self.gate = IntegrationDesk(repo=repo, run_dir=RunStore(state_dir, run).dir, emit=emit,
                                    state=state or (lambda: self.queue().ctx.state()),
                                    queue=self.queue, run_spec=run_spec)
        """The integration entry: ``I`` in the TUI, re-run automatically with ``[run] integrate = "auto"``."""

    @classmethod
    def offline(cls, repo: Path, state_dir: Path, run: str, send: Send | None = None) -> ReviewDesk:
        """A desk on a run's files with no supervisor: its events go to a bus of its own (``desk.bus``)."""
        bus = EventBus(run)

        def emit(kind: Any, session: str | None, /, **data: Any) -> None:
            bus.publish(bus.make(kind, session, **data))

        return cls(repo=Path(repo), state_dir=Path(state_dir), run=run, bus=bus, emit=emit, send=send)

    @property
    def sends(self) -> bool:
        """"Request changes" can type into the agent (there is a supervisor to do it)."""
        return self.send is not None

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

        if self.node_for is None or self.state is None or self.save is None:
            raise StateError("an offline review desk does not queue sessions (the supervisor does)")
        rec, node = rt.rec, self.node_for(rt.rec)
        if node.polled:  # bring the branch home (for review) before anything reads it
            try:
                rec.head_commit = await asyncio.to_thread(node.fetch_back, self.repo, rec)
                self.emit("fetched", rec.name, node=rec.node, head=rec.head_commit)
            except CortexError as e:
                self.emit("fetch_error", rec.name, error=e.message)
        save = self.save  # (a forced save, awaited: on disk before anything reads what it holds, off the loop)
        await save()
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
        await save()  # the verdict is on disk before it is announced
        v = entry.verify
        self.bus.publish(self.bus.make(
            "review", rec.name, status=entry.status, conflicts=entry.conflicts,
            verify=None if v is None else {"exit_code": v.exit_code, "duration_s": v.duration_s},
            files=len(entry.files)))
        self.gate.changed()  # a branch joined the queue, or came back with new commits
        return entry

    # -------------------------------------------------------------- reads
    async def entries(self, *, refresh: bool = False) -> QueueView:
        """The queue; ``refresh`` re-checks conflicts against the base tip first (takes the queue lock)."""

        def read() -> QueueView:
            q = self.queue()
            if refresh:
                q.refresh()
            return QueueView(base=q.ctx.state().base, entries=q.entries())

        return await asyncio.to_thread(read)

    async def diff(self, session: str) -> BranchDiff:
        """``session``'s branch against the base; once merged, the diff recorded when it was queued."""
        from cortex_tui.bestof.compare import variant_diff
        from cortex_tui.review.diffstat import recorded_diff

        def read() -> BranchDiff:
            q = self.queue()
            text = variant_diff(q.ctx.repo, q.ctx.state(), session)
            entry = q.ctx.reviews.load().entries.get(session)
            if entry is None or entry.status != "approved" or text.strip():
                return BranchDiff(session=session, text=text)
            recorded = recorded_diff(q.ctx.repo, entry.merge_base, entry.head) or ""
            return BranchDiff(session=session, text=recorded, merged=True, gone=not recorded.strip())

        return await asyncio.to_thread(read)

    async def comparison(self) -> Comparison | None:
        """The best-of comparison of the run (``bestof.json``); None before the variants were compared."""
        from cortex_tui.bestof.compare import load_comparison

        return await asyncio.to_thread(load_comparison, self.repo, self.state_dir, self.run)

    async def compare(self, *, top_k: int = 3) -> Comparison:
        """Best-of: score and rank the variants (the judge may call a model), select the winner."""
        from cortex_tui.bestof.compare import compare_run

        cmp = await asyncio.to_thread(lambda: compare_run(self.repo, self.state_dir, self.run, top_k=top_k))
        self.bus.publish(self.bus.make("review", cmp.winner, decision="compare",
                                       detail=f"winner {cmp.winner}" if cmp.winner else "no winner"))
        self.gate.check_winner(cmp.winner)
        return cmp

    # -------------------------------------------------------------- the reviewer's decisions
    async def approve(self, session: str, *, squash: bool = False, by: str | None = None) -> Decision:
        """Merge the reviewed head into the base (then re-check the other entries' conflicts)."""
        from cortex_tui.review.decisions import approve

        res = await asyncio.to_thread(lambda: approve(self.queue(), session, squash=squash, by=by))
        detail = f"{res.merge.method} at {res.merge.commit[:12]}"
        self._published(session, "approve", detail, refreshed=list(res.refreshed))
        base = await asyncio.to_thread(lambda: self.queue().ctx.state().base)
        summary = f"approved {session}: {res.merge.method} into {base} at {res.merge.commit[:12]}"
        if res.refreshed:
            summary += f" (re-checked {len(res.refreshed)} other)"
        self.gate.changed()  # the base moved
        return Decision(session=session, decision="approve", summary=summary, entry=res.entry,
                        refreshed=list(res.refreshed))

    async def reject(self, session: str, *, reason: str = "", by: str | None = None) -> Decision:
        """Keep the branch under a ``rejected`` ref; it is not merged."""
        from cortex_tui.review.decisions import reject

        res = await asyncio.to_thread(lambda: reject(self.queue(), session, reason=reason, by=by))
        self._published(session, "reject", f"kept at {res.ref}" + (f": {reason}" if reason else ""))
        self.gate.changed()  # it left the queue
        return Decision(session=session, decision="reject", summary=f"rejected {session}: kept at {res.ref}",
                        entry=res.entry)

    async def request_changes(self, session: str, text: str, *, by: str | None = None,
                              send: Send | None = None) -> Decision:
        """Send the reviewer's text to the agent (through the engine's send, on this loop; ``send``: another
        front end's, e.g. the API's, so the action is recorded with its origin)."""
        from cortex_tui.review.decisions import request_changes

        send = send or self.send
        if send is None:
            raise StateError(no_sender(session))
        loop = asyncio.get_running_loop()

        def deliver(name: str, message: str) -> None:  # runs in the worker thread, never on the loop
            asyncio.run_coroutine_threadsafe(send(name, message), loop).result(timeout=SEND_TIMEOUT_S)

        entry = await asyncio.to_thread(lambda: request_changes(self.queue(), session, text, deliver, by=by))
        self._published(session, "request_changes", text)
        return Decision(session=session, decision="request_changes", summary=f"changes requested from {session}",
                        entry=entry)

    async def reverify(self, session: str) -> Decision:
        """Run the verify command again for the entry's current head."""
        entry = await asyncio.to_thread(lambda: self.queue().reverify(session))
        v = entry.verify
        self._published(session, "reverify", "" if v is None else f"exit {v.exit_code}",
                        verify=None if v is None else {"exit_code": v.exit_code, "duration_s": v.duration_s})
        said = "passed" if v is not None and v.exit_code == 0 else "failed"
        return Decision(session=session, decision="reverify", summary=f"{session}: verify {said}", entry=entry)

    async def choose_winner(self, session: str, *, by: str | None = None) -> Comparison:
        """Best-of: ``session`` wins; the other variants are kept under their refs and rejected."""
        from cortex_tui.bestof.compare import choose_winner

        cmp = await asyncio.to_thread(choose_winner, self.repo, self.state_dir, self.run, session, by=by)
        self._published(session, "choose_winner", f"{session} wins")
        self.gate.check_winner(cmp.winner)  # the winner against what the run approved, through the gate
        return cmp
