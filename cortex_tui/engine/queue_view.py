"""The run's task queue as one answer: pending (and why each waits), running, done, counts per label, the
pool's limits and its warm slots. The same :class:`TaskQueue` is what ``cortex-tui queue --json`` prints,
what ``GET /v1/queue`` and the MCP ``queue`` tool return, and what the TUI's queue view (``Q``) shows —
through the engine's :meth:`~cortex_tui.engine.supervisor.Supervisor.queue`, or the API on a remote engine.

Built from the run's state (``state.json``, or the live supervisor's), the run's inbox (tasks added while no
supervisor ran) and the layout (``[pool]``; the labels of its own sessions).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cortex_tui.model.layout import Layout, SessionSpec
from cortex_tui.model.state import RunState, SessionRecord, SessionState

Phase = Literal["pending", "running", "done"]
INBOX_REASON = "in the inbox: the next supervisor takes it"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a newer supervisor may say more


class QueueTask(_Model):
    name: str
    phase: Phase
    state: str
    """The session's state (``pending`` for one still in the inbox)."""
    reason: str | None = None
    """Why a pending task waits (a free slot, a route's limit, a node's memory…), or why it ended."""
    labels: list[str] = Field(default_factory=list)
    agent: str = ""
    node: str = ""


class PhaseList(_Model):
    count: int = 0
    sessions: list[str] = Field(default_factory=list)


class PoolLimits(_Model):
    """The layout's ``[pool]``: what the pool may do (``pool`` in :class:`TaskQueue` is what it does now)."""

    size: int | None = None
    min: int | None = None
    max: int | None = None
    warm: int = 0
    strategy: str = "least-loaded"
    node: str = "local"


class TaskQueue(_Model):
    run: str
    pending: PhaseList = Field(default_factory=PhaseList)
    running: PhaseList = Field(default_factory=PhaseList)
    done: PhaseList = Field(default_factory=PhaseList)
    inbox: list[str] = Field(default_factory=list)
    waiting: dict[str, str] = Field(default_factory=dict)
    """Pending task -> why it waits."""
    pool: dict[str, Any] = Field(default_factory=dict)
    """What the pool's last scheduling pass saw: ``slots``, ``running``, ``queued``, ``nodes`` (room per
    node) and ``warm`` (slots ready, wanted, claimed; ``nodes``: the same per ssh node)."""
    limits: PoolLimits | None = None
    """The layout's ``[pool]`` (None: the run is no pool)."""
    by_type: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Label (a task's type; ``-`` for none) -> count per phase."""
    tasks: list[QueueTask] = Field(default_factory=list)


def phase_of(state: SessionState) -> Phase:
    if state.terminal:
        return "done"
    return "pending" if state is SessionState.PENDING else "running"


def _labels(state: RunState, layout: Layout | None, inbox: list[SessionSpec]) -> dict[str, list[str]]:
    labels: dict[str, list[str]] = {}
    for raw in state.added:
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            labels[raw["name"]] = [str(x) for x in raw.get("labels") or []]
    for spec in inbox:
        labels[spec.name] = list(spec.labels)
    for s in layout.session if layout is not None else []:
        labels.setdefault(s.name, list(s.labels))
    return labels


def _task(rec: SessionRecord, labels: list[str]) -> QueueTask:
    return QueueTask(name=rec.name, phase=phase_of(rec.state), state=rec.state.value, reason=rec.reason,
                     labels=labels, agent=rec.agent, node=rec.node)


def build_queue(state: RunState, layout: Layout | None, inbox: list[SessionSpec]) -> TaskQueue:
    """The queue of ``state``'s run (``layout``: None when it no longer parses; its sessions count as ``-``)."""
    labels = _labels(state, layout, inbox)
    tasks = [_task(rec, labels.get(rec.name, [])) for rec in state.sessions.values()]
    known = set(state.sessions)
    tasks += [QueueTask(name=s.name, phase="pending", state="pending", reason=INBOX_REASON, labels=list(s.labels),
                        agent=s.agent or "", node=s.node or "") for s in inbox if s.name not in known]
    q = TaskQueue(run=state.run, inbox=[s.name for s in inbox], pool=dict(state.pool))
    for t in tasks:
        phase: PhaseList = getattr(q, t.phase)
        phase.sessions.append(t.name)
        phase.count += 1
        if t.phase == "pending" and t.reason:
            q.waiting[t.name] = t.reason
        for label in t.labels or ["-"]:
            q.by_type.setdefault(label, {"pending": 0, "running": 0, "done": 0})[t.phase] += 1
    q.tasks = tasks
    pool = layout.pool if layout is not None else None
    if pool is not None:
        q.limits = PoolLimits(size=pool.size, min=pool.min, max=pool.max, warm=pool.warm, strategy=pool.strategy,
                              node=pool.node)
    return q
