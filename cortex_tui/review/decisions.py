"""Decisions on a queue entry: approve (merge), reject (keep under a ref), request changes (send text).

Each decision is appended to ``events.jsonl`` as
``{"ts", "run", "kind": "review", "session", "data": {"decision", "by", "detail"}}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cortex_tui.backends.git import rev_parse
from cortex_tui.errors import CortexError, RefusedError, UsageError
from cortex_tui.review.context import current_user
from cortex_tui.review.entry import branch_head
from cortex_tui.review.landed import describe, landed
from cortex_tui.review.merge import MergeResult, is_ancestor, merge_into_base
from cortex_tui.review.models import Decision, DecisionRecord, QueueEntry, ReviewDoc
from cortex_tui.review.queue import ReviewQueue, refresh_doc
from cortex_tui.review.refs import rejected_ref, unique_backup_ref, write_ref

SendFn = Callable[[str, str], None]
"""``send(session_name, text)``: delivers the reviewer's text to the agent (the engine's adapter-aware send)."""


@dataclass(frozen=True)
class ApproveResult:
    entry: QueueEntry
    merge: MergeResult
    refreshed: list[str]
    """Other entries whose conflict check was re-run after the merge."""


@dataclass(frozen=True)
class RejectResult:
    entry: QueueEntry
    ref: str
    previous_backup: str | None = None


def _entry(doc: ReviewDoc, session: str, run: str) -> QueueEntry:
    e = doc.entries.get(session)
    if e is None:
        raise CortexError(f"session {session!r} is not in the review queue of run {run!r}",
                          "a session joins the queue when it finishes; see `cortex-tui review list`")
    return e


def _record(q: ReviewQueue, e: QueueEntry, decision: Decision, by: str, detail: str) -> None:
    e.decisions.append(DecisionRecord(decision=decision, by=by, at=time.time(), detail=detail, head=e.head))
    q.ctx.log("review", e.session, {"decision": decision, "by": by, "detail": detail})


def approve(q: ReviewQueue, session: str, *, squash: bool = False, by: str | None = None) -> ApproveResult:
    """Merge the reviewed head into the base; then re-check conflicts for the rest of the queue."""
    by = by or current_user()
    state = q.ctx.state()
    with q.ctx.reviews.edit() as doc:
        e = _entry(doc, session, q.ctx.run)
        if e.status == "approved":
            raise RefusedError(f"session {session!r} is already approved (merged as {(e.merged_commit or '')[:12]})")
        now = branch_head(q.ctx.repo, e.branch)
        if now is None or e.head is None:
            raise RefusedError(f"branch {e.branch!r} of session {session!r} is gone")
        if now != e.head:
            raise RefusedError(f"branch {e.branch} moved since it was reviewed ({e.head[:12]} -> {now[:12]})",
                               "run `cortex-tui review show` to see the new head, then approve again",
                               key_hint="ctrl+r reloads the queue with the new head; then approve again")
        subjects = "\n".join(f"- {s}" for s in e.commits[:50])
        if squash:
            msg = f"{session}: {e.commits[-1] if e.commits else 'changes'} (squashed {e.branch})\n\n{subjects}"
        else:
            msg = f"Merge {e.branch} (session {session})"
        msg += f"\n\nApproved-by: {by}\n"
        tip = branch_head(q.ctx.repo, state.base)
        how = landed(q.ctx.repo, e.head, tip) if tip else None
        if tip and how in ("content", "rebase", "squash"):  # already in the base by hand: nothing to merge
            result = MergeResult(tip, "up-to-date", "ref")
        else:
            result = merge_into_base(q.ctx.repo, state.base, e.head, squash=squash, message=msg)
        e.status = "approved"
        e.merged_commit = result.commit
        e.conflicts = []
        note = f" ({describe(how)})" if how in ("content", "rebase", "squash") else ""
        _record(q, e, "approve", by, f"{result.method} into {state.base} at {result.commit[:12]}{note}")
        refreshed = refresh_doc(q.ctx.repo, state, doc, skip=session)
    return ApproveResult(entry=e, merge=result, refreshed=[x.session for x in refreshed])


def reject(q: ReviewQueue, session: str, *, by: str | None = None, reason: str = "") -> RejectResult:
    """Keep the branch head under ``refs/cortex/rejected/<run>/<slug>`` (written and read back first)."""
    by = by or current_user()
    with q.ctx.reviews.edit() as doc:
        e = _entry(doc, session, q.ctx.run)
        if e.status == "approved":
            raise RefusedError(f"session {session!r} is already approved and merged")
        head = branch_head(q.ctx.repo, e.branch) or e.head
        if head is None:
            raise RefusedError(f"branch {e.branch!r} of session {session!r} is gone and no head is recorded")
        ref = rejected_ref(q.ctx.run, e.slug)
        prev = rev_parse(q.ctx.repo, ref)
        prev_backup = None
        if prev and prev != head and not is_ancestor(q.ctx.repo, prev, head):
            prev_backup = write_ref(q.ctx.repo, unique_backup_ref(q.ctx.repo, q.ctx.run, e.slug, "-rejected"),
                                    prev, f"cortex: keep earlier rejected head of {session}")
        write_ref(q.ctx.repo, ref, head, f"cortex review: reject {session}")
        e.status = "rejected"
        detail = f"kept at {ref} ({head[:12]})" + (f": {reason}" if reason else "")
        _record(q, e, "reject", by, detail)
    return RejectResult(entry=e, ref=ref, previous_backup=prev_backup)


def request_changes(q: ReviewQueue, session: str, text: str, send: SendFn, *, by: str | None = None) -> QueueEntry:
    """Send the reviewer's ``text`` to the session; the entry waits as changes_requested until it finishes again."""
    by = by or current_user()
    if not text.strip():
        raise UsageError("the change request is empty", "say what should change")
    with q.ctx.reviews.edit() as doc:
        e = _entry(doc, session, q.ctx.run)
        if e.status in ("approved", "rejected"):
            raise RefusedError(f"session {session!r} is already {e.status}")
        send(session, text)
        e.status = "changes_requested"
        _record(q, e, "request_changes", by, text)
    return e
