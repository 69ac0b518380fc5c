"""The trigger book: a session's state and triggers change here, and only here.

:class:`TriggerBook` records trigger changes on the session record, keeps the coupling between rules
(waiting on a human is not silence; the answer is progress) and reports through callbacks: ``emit`` for
events, ``on_action`` for the ``on_trigger`` policy's pause/stop/recycle. It has no tmux, no git, no loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from cortex_tui.engine.clock import Clock
from cortex_tui.engine.events import Emit
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.model.state import SessionState, TriggerRecord
from cortex_tui.watch.rules import TriggerChange

Action = Literal["pause", "stop", "recycle"]

RECYCLE_CAP = 3
"""Recycles allowed without a ``restart`` policy (recycling must not loop forever)."""


def trigger_action(rt: SessionRuntime, kind: str) -> Action | Literal["recycle_skipped"] | None:
    """What ``on_trigger`` asks for when a ``kind`` trigger fires (None: just notify)."""
    action = rt.spec.on_trigger.get(kind, "notify")
    if action == "notify" or not rt.rec.state.live:
        return None
    if action == "recycle":
        cap = rt.spec.restart.max if rt.spec.restart is not None else RECYCLE_CAP
        return "recycle_skipped" if rt.rec.restarts >= cap else "recycle"
    if action in ("pause", "stop"):
        return action  # type: ignore[return-value]
    return None


class TriggerBook:
    """Applies :class:`TriggerChange` s and state changes to sessions, reporting through callbacks."""

    def __init__(self, clock: Clock, emit: Emit, on_action: Callable[[SessionRuntime, Action, str], None],
                 on_dirty: Callable[[], None]) -> None:
        self.clock = clock
        self.emit = emit
        self.on_action = on_action
        self.on_dirty = on_dirty
        self._cause: float | None = None

    @contextmanager
    def caused_at(self, t: float | None) -> Iterator[None]:
        """Triggers raised inside the block were caused by what was written at ``t`` (an output chunk, an
        agent-events batch: the file's mtime); synchronous code only."""
        before, self._cause = self._cause, t
        try:
            yield
        finally:
            self._cause = before

    def set_state(self, rt: SessionRuntime, new: SessionState, reason: str | None) -> None:
        prev = rt.rec.state
        if prev is new and rt.rec.reason == reason:
            return
        rt.rec.state = new
        rt.rec.reason = reason
        if new.terminal:  # nothing runs any more: no CPU/RSS (shown as –, not a stale or 0 value)
            rt.rec.cpu_percent = rt.rec.rss_bytes = None
        self.emit("state", rt.rec.name, state=new.value, prev=prev.value, reason=reason)
        if new is SessionState.IDLE and prev is not SessionState.IDLE:
            # idle at its prompt = it needs the next instruction: never `silence` (its own notification)
            rt.silence.waiting_on_human = True
            self.apply(rt, rt.silence.check(self.clock.time()))
        elif prev is SessionState.IDLE and new is SessionState.RUNNING:
            rt.silence.waiting_on_human = False
            self.apply(rt, rt.silence.progress(self.clock.time()))
        self.on_dirty()

    def apply(self, rt: SessionRuntime, change: TriggerChange | None, key: str | None = None, *,
              act: bool = True, cause_at: float | None = None) -> None:
        if change is None:
            return
        key = change.key if key is None else key
        if not change.active:
            self.clear(rt, change.kind, key, change.evidence)
            return
        now = self.clock.time()
        cause = cause_at if cause_at is not None else self._cause
        if cause is None and change.kind == "silence":  # the moment the quiet period reached its threshold
            cause = max(rt.silence.last_progress, rt.silence.last_busy) + rt.silence.after
        rec = TriggerRecord(kind=change.kind, active=True, severity=change.severity, evidence=change.evidence,
                            at=now, key=key, cause_at=None if cause is None else min(cause, now))
        rt.rec.triggers.append(rec)
        self.emit("trigger", rt.rec.name, **rec.model_dump())
        if change.kind == "approval_waiting":
            rt.silence.waiting_on_human = True
            self.apply(rt, rt.silence.check(now))  # a silence that was active ends: it is waiting on us
            if rt.rec.state in (SessionState.STARTING, SessionState.RUNNING, SessionState.IDLE):
                self.set_state(rt, SessionState.WAITING, "approval requested")
        self.on_dirty()
        if act:
            self.act(rt, change.kind)

    def clear(self, rt: SessionRuntime, kind: str, key: str, evidence: dict[str, Any]) -> None:
        now = self.clock.time()
        for t in rt.rec.triggers:
            if t.active and t.kind == kind and t.key == key:
                t.active = False
                t.cleared_at = now
                self.emit("trigger_cleared", rt.rec.name, kind=kind, key=key, active=False, evidence=evidence,
                          at=now)
        if kind == "approval_waiting":
            rt.silence.waiting_on_human = False
            self.apply(rt, rt.silence.progress(now))  # the answer is progress: the silence clock restarts
            if rt.rec.state is SessionState.WAITING:
                self.set_state(rt, SessionState.RUNNING, None)
        self.on_dirty()

    def act(self, rt: SessionRuntime, kind: str) -> None:
        """The ``on_trigger`` policy for a trigger that just fired."""
        action = trigger_action(rt, kind)
        if action is None:
            return
        if action == "recycle_skipped":
            self.emit("action", rt.rec.name, action="recycle_skipped", detail=f"{rt.rec.restarts} restarts already")
            return
        self.on_action(rt, action, kind)

    def progress(self, rt: SessionRuntime, line: str | None = None) -> None:
        """The session made progress now (output, an agent event, a file change)."""
        now = self.clock.time()
        rt.rec.last_progress_at = now
        self.apply(rt, rt.silence.progress(now, line))
