"""Rebuild a lost or corrupt ``review.json`` from what survives it: the run's finished sessions, their
branches, and the queue's own history in ``events.jsonl`` (rounds, verify results, decisions).

A verify result is restored only for the head it described; otherwise the entry says its verify is unknown
(``verify`` is None with a ``verify_command``: not ready, and a headless run does not pass on it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cortex_tui.errors import CortexError
from cortex_tui.model.events import Event
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import RunState
from cortex_tui.review.models import DecisionRecord, QueueEntry, ReviewDoc, VerifyResult

_STATUS_OF = {"approve": "approved", "reject": "rejected", "request_changes": "changes_requested"}


def rebuild_doc(repo: Path, state: RunState, events: Iterable[Event],
                resolve_spec: Callable[[RunState, str], ResolvedSession | None]) -> ReviewDoc:
    """A review document for every finished session (exit 0) whose branch still exists; ``resolve_spec`` finds
    a session's settings (review.context passes its own, so this module does not import it back)."""
    from cortex_tui.review.entry import branch_head, describe_branch

    doc = ReviewDoc(run=state.run)
    history: dict[str, list[Event]] = {}
    for ev in events:
        if ev.kind in ("review_queued", "review_verified", "review") and ev.session is not None:
            history.setdefault(ev.session, []).append(ev)
    for name, rec in state.sessions.items():
        if rec.state.value != "finished" or rec.exit_code != 0 or branch_head(repo, rec.branch) is None:
            continue
        if rec.review_due:
            continue  # its review is in flight (or re-done by the next supervisor): it joins the queue then
        spec = resolve_spec(state, name)
        entry = QueueEntry(session=name, branch=rec.branch, slug=rec.slug, worktree=rec.worktree,
                           verify_command=spec.verify if spec else None, completed_at=rec.finished_at,
                           queued_at=time.time(), tokens=rec.tokens, cost_usd=rec.cost_usd,
                           triggers=list(rec.triggers), rebuilt=True)
        try:
            describe_branch(repo, entry, state.base, list(spec.scope) if spec else [])
        except CortexError:
            continue
        _replay(entry, history.get(name, []))
        doc.entries[name] = entry
    return doc


def _replay(entry: QueueEntry, history: list[Event]) -> None:
    rounds = 0
    for ev in history:
        data = ev.data
        if ev.kind == "review_queued":
            rounds += 1
            entry.status = "pending"  # finished (again) into the queue: awaiting a decision
        if ev.kind in ("review_queued", "review_verified") and isinstance(data.get("verify"), dict):
            try:
                v = VerifyResult.model_validate({"tail": "", **data["verify"]})
            except ValueError:
                continue
            if v.head == entry.head:
                entry.verify = v
        elif ev.kind == "review" and data.get("decision") in _STATUS_OF:
            entry.status = _STATUS_OF[str(data["decision"])]  # type: ignore[assignment]
            entry.decisions.append(DecisionRecord(decision=data["decision"], by=str(data.get("by", "?")),
                                                  at=ev.ts, detail=str(data.get("detail", ""))))
    entry.round = max(rounds, 1)


def verify_event(v: VerifyResult | None) -> dict[str, Any] | None:
    """What of a verify result goes into events.jsonl (enough to restore the verdict after a rebuild)."""
    if v is None:
        return None
    return {"exit_code": v.exit_code, "head": v.head, "duration_s": v.duration_s, "command": v.command,
            "timed_out": v.timed_out, "log_path": v.log_path}
