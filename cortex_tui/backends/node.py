"""One interface for every place a session can run: this machine, a node over ssh, a sandbox on this machine.

The engine talks to a :class:`Node` and never asks which kind it is. A node kind is one module that
defines a class with this interface and registers a factory for its ``kind`` (see :data:`BUILTIN_KINDS`);
:func:`make_node` builds one on first use.

A node either is *watched* (its files are on this machine: the engine's file watcher and tmux reconcile
see its sessions) or *polled* (:attr:`Node.polled`: one round trip per poll brings output, events, exit
codes and changed files back, see :mod:`cortex_tui.backends.remote_poll`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cortex_tui.agents.base import AgentAdapter, KeyInput, SpawnContext
from cortex_tui.backends.steps import Included, StepResult
from cortex_tui.backends.tmux import Tmux, WindowInfo
from cortex_tui.errors import CortexError
from cortex_tui.model.layout import NodeSpec, ResolvedSession
from cortex_tui.model.state import SessionRecord

if TYPE_CHECKING:
    from cortex_tui.watch.symlinks import Escape

LOCAL = "local"
"""The node name of this machine."""

WRAPPER = 'f=$1; shift; "$@"; rc=$?; (umask 077; printf "%s\\n" "$rc" > "$f.tmp") && mv -f "$f.tmp" "$f"; exit $rc'
"""``/bin/sh -c`` wrapper around every agent: run it, then write its exit code atomically to ``$1``."""

STOP_GRACE_S = 1.5
"""After the interrupt keys, how long a stopping agent gets to exit before its process tree is killed."""


@dataclass(frozen=True)
class SessionPaths:
    """A session's files on *this* machine (for a polled node: the local mirrors)."""

    log: Path
    exit: Path
    session_dir: Path
    events: Path


@dataclass(frozen=True)
class SpawnRequest:
    """Everything a node needs to start one attempt of a session (it fills the record's ids and offsets)."""

    spec: ResolvedSession
    rec: SessionRecord
    adapter: AgentAdapter
    run: str
    repo: Path
    base_commit: str
    headless: bool
    restart: bool
    paths: SessionPaths
    stamp: str
    """Local time for the attempt header in the log (``HH:MM:SS``)."""
    prepare: Callable[[Workspace], None] | None = None
    """Called with the new worktree (as the node sees it) once it exists, before the agent's files and window
    (``include``, ``setup``: ``engine/isolation.py``); what it raises fails the spawn and the agent never starts."""
    wrap: AgentWrap | None = None
    """The agent's command line as it runs on the node (``env`` may be added to): a node that wraps the one placing
    the session sets it, e.g. the sandbox (``backends/sandbox_node.py``)."""
    window: WindowInfo | None = None
    """An idle window made ahead for this session (a warm slot's, engine/warm.py): the agent starts in it
    (``Tmux.respawn_window``) instead of a new window; a node that cannot use it makes its own."""
    checked_out: Callable[[], None] | None = None
    """Called (in the spawn's thread) by a node whose files the engine watches, right after it checked out a
    brand-new worktree at ``base_commit`` and before anything else writes there (no ``prepare``, no agent
    yet): the engine starts watching it then (engine/routing.py ``watch_checkout``)."""


AgentWrap = Callable[[list[str], SpawnContext, dict[str, str]], list[str]]
"""``(argv, ctx as the node sees it, env) -> argv``: how a wrapping node changes the agent's command line."""


class Workspace(Protocol):
    """A session's new worktree on the node that placed it: where ``include`` and ``setup`` happen."""

    node: str
    path: str
    """The worktree as the node sees it."""

    def include(self, paths: list[str], *, repo: Path, mode: str) -> list[Included]:
        """Bring git-ignored files of a main checkout into the worktree (``repo``: this machine's checkout)."""
        ...

    def run_steps(self, phase: str, steps: list[str], *, env: dict[str, str], log: Path,
                  on_step: Callable[[int, str], None] | None, timeout: float) -> list[StepResult]:
        """Run the layout's steps in the worktree, their output appended to ``log`` (this machine's)."""
        ...


@dataclass(frozen=True)
class FinalLook:
    """What an ended session left: its branch head, diff size and changed files (vs its base)."""

    head: str | None
    diff: tuple[int, int] | None
    changed: dict[str, str]
    outside: tuple[Escape, ...] = ()
    """Writes that left the worktree through its symlinks (watch/symlinks.py; this machine's worktrees only)."""
    disk: int | None = None
    """Bytes its worktree uses at the end (None: not measured, e.g. ``du`` failed or the node said nothing)."""


@dataclass(frozen=True)
class NodeContext:
    run: str
    socket: str
    """The run's tmux socket name (nodes use the same one on their side)."""
    repo: Path
    spec: NodeSpec | None
    """``[[node]]`` of the layout (None for this machine)."""
    tmux: Tmux | None = None
    """This machine's tmux, shared by the nodes on it (the sandbox node's windows carry the run's
    ``@cortex_instance`` like the local node's, or the reconcile would not count them as the run's)."""
    inner: Node | None = None
    """For a node kind that wraps another (the sandbox): the node that places its sessions (None: this machine)."""


class Node(Protocol):
    name: str
    polled: bool
    """True when its sessions are observed through :meth:`poll`-style round trips, not the local watcher."""

    @property
    def tmux(self) -> Tmux:
        """The node's tmux (send keys, capture the screen)."""
        ...

    def spawn(self, req: SpawnRequest) -> None:
        """Start an attempt: worktree, agent files, window; fills ``req.rec`` (ids, offsets, attempt)."""
        ...

    def stop(self, rec: SessionRecord, adapter: AgentAdapter, paths: SessionPaths) -> None:
        """Interrupt the agent, give it :data:`STOP_GRACE_S`, then end it for good."""
        ...

    def send_keys(self, pane_id: str, keys: list[KeyInput]) -> None: ...

    def capture(self, pane_id: str, lines: int = 200, escapes: bool = False) -> str: ...

    def list_windows(self) -> list[WindowInfo]: ...

    def attach_argv(self, window_id: str) -> list[str]: ...

    def final_look(self, rec: SessionRecord, base: str) -> FinalLook | None:
        """Head, diff size and changed files of an ended session (None: not known here until fetched)."""
        ...

    def fetch_back(self, repo: Path, rec: SessionRecord) -> str | None:
        """Bring the session's branch into ``repo``; its head (None: it is already there)."""
        ...

    def disk_usage(self, recs: list[SessionRecord]) -> dict[str, int | None]:
        """Bytes used by each session's worktree, by slug."""
        ...

    def close(self) -> None: ...


NodeFactory = Callable[[NodeContext], Node]

BUILTIN_KINDS: dict[str, str] = {
    "local": "cortex_tui.backends.local_node",
    "ssh": "cortex_tui.backends.remote_node",
    "bwrap": "cortex_tui.backends.sandbox_node",
}
"""Node kind -> module that registers it (imported on first use)."""

_FACTORIES: dict[str, NodeFactory] = {}


def register(kind: str, factory: NodeFactory) -> None:
    """Make ``kind`` available to :func:`make_node` (called by the kind's module when it is imported)."""
    _FACTORIES[kind] = factory


def kind_of(spec: NodeSpec | None) -> str:
    """The node kind of a ``[[node]]`` (None: this machine)."""
    if spec is None:
        return "local"
    return str(getattr(spec, "kind", "ssh"))


def make_node(ctx: NodeContext, kind: str | None = None) -> Node:
    """A node of ``ctx``'s kind (or ``kind``: e.g. ``bwrap``, this machine with each agent in a sandbox)."""
    kind = kind or kind_of(ctx.spec)
    if kind not in _FACTORIES and kind in BUILTIN_KINDS:
        importlib.import_module(BUILTIN_KINDS[kind])
    factory = _FACTORIES.get(kind)
    if factory is None:
        raise CortexError(f"unknown node kind {kind!r}", f"known: {', '.join(sorted({*BUILTIN_KINDS, *_FACTORIES}))}")
    return factory(ctx)
