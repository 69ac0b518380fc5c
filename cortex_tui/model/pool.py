"""``[pool]`` and ``[[route]]`` of a layout: queued tasks in slots, and rules that send tasks to an agent, a
model or a node (used by :mod:`cortex_tui.engine.pool` and :mod:`cortex_tui.model.routes`; importable from
:mod:`cortex_tui.model.layout` too)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from cortex_tui.model.fields import AgentKind, Duration, Size
from cortex_tui.model.fields import Strict as _Strict


class PoolSpec(_Strict):
    """``[pool]``: queued tasks run in slots (docs/performance.md: Pools).

    ``size`` = a fixed number of slots; or ``min``/``max``: at least ``min`` run while tasks wait, more up to
    ``max`` while the nodes have headroom (memory above the floor for one more task, load under
    ``max_load``). ``warm`` worktrees are made ahead at the base so a task starts without the checkout."""

    size: int | None = Field(default=None, ge=1)
    min: int | None = Field(default=None, ge=1)
    max: int | None = Field(default=None, ge=1)
    warm: int = Field(default=0, ge=0, le=64)
    """Worktrees kept checked out at the base, ready for the next task on this machine."""
    memory_floor: Size | None = None
    """No task starts on a node whose available memory would drop below this (plus what one task needs)."""
    task_memory: Size | None = None
    """What one task needs when no peer of its agent runs on the node to measure (default: per agent)."""
    memory_limit: Size | None = None
    """The RSS this run's sessions on this machine may use in all (a cap below the machine's own memory)."""
    max_load: float | None = Field(default=None, gt=0)
    """Above ``min``, no new slot while the node's 1-minute load average per core is above this."""
    strategy: Literal["least-loaded", "round-robin"] = "least-loaded"
    """How ``node = "auto"`` picks among nodes with room."""
    node: str = "local"
    """Where tasks that name no node (and match no route that does) run: a node, a group or ``auto``."""
    local_max_sessions: int | None = Field(default=None, ge=0)
    """At most this many sessions on this machine (``auto`` then spills onto the [[node]]s)."""
    linger: Duration = 0.0
    """The supervisor stays up this long after the queue went empty, for tasks still to come (`cortex-tui add`);
    0: the run ends when its last task does, like any run."""


class RouteMatch(_Strict):
    """What a ``[[route]]`` matches; every given field must match (an empty match takes every task)."""

    labels: list[str] = Field(default_factory=list)
    """Any one of these labels of the task."""
    agent: AgentKind | None = None
    """The task's agent (its own, or the ``[defaults]``'s)."""
    paths: list[str] = Field(default_factory=list)
    """Globs: one of the task's scope entries falls under one of them."""
    name: str | None = None
    """A glob of the task's name."""
    prompt: str | None = None
    """A regular expression searched in the prompt."""

    @field_validator("prompt")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"not a regular expression: {e}") from None
        return v


class RouteSpec(_Strict):
    """``[[route]]``: tasks that match get this agent / model / node, and share at most ``limit`` slots.
    The first matching route wins; what a task sets itself wins over the route."""

    name: str | None = None
    match: RouteMatch = Field(default_factory=RouteMatch)
    agent: AgentKind | None = None
    model: str | None = None
    node: str | None = None
    """A node, a node group, or ``auto`` (placement by free slots and memory)."""
    limit: int | None = Field(default=None, ge=1)
    """At most this many of this route's tasks run at once."""
    budget_usd: float | None = Field(default=None, ge=0)
