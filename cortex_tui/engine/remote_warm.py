"""Warm slots on ssh nodes (``[pool] warm``, or a ``[[node]]``'s own ``warm``): the loop that keeps each node's
slots filled at the base over its ControlMaster, and the claim a spawn on that node makes. The node's side —
the worktrees, the one-round-trip claim — is :mod:`cortex_tui.backends.remote_warm`; this machine's slots are
:mod:`cortex_tui.engine.warm`.

Like the local ones: slots are made in the background (``git worktree add`` on the node, then the layout's
``setup`` run there), refreshed when the base moves (reset, setup again), and a task placed on the node takes
one reset to exactly the commit it starts from — never a stale one. A node whose link is down keeps its slots
(placement sends it nothing meanwhile); the refill tries again later. Slots outlive the supervisor.

Each ready slot also has an idle window on the node's tmux server (as on this machine: named ``~<slot>``, its pane
idling in the slot, ``@cortex_warm`` = ``<node>/<slot>``; the refill starts the node's server when it is not up).
The task that takes the slot gets the window: its spawn starts the agent there — log piped, window renamed and
tagged, the session's files and env file unpacked, the agent started — in one round trip
(:meth:`~cortex_tui.backends.remote.RemoteNode.respawn`) instead of a new window's three. A slot dropped (setup
failed on a new base, or not trusted by the next supervisor) has its window closed with it; the next supervisor
takes up the idle windows of the slots it keeps and closes the node's other warm windows.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from cortex_tui.backends import git as gitb
from cortex_tui.backends import remote_warm as rw
from cortex_tui.backends.remote import RemoteNode
from cortex_tui.backends.remote_steps import NodeWorkspace
from cortex_tui.backends.steps import describe_failure
from cortex_tui.backends.tmux import WindowInfo
from cortex_tui.backends.warm_slots import local_root
from cortex_tui.engine.events import Emit
from cortex_tui.engine.nodes import NodeSet
from cortex_tui.engine.warm import KEPT_DIRTY, Claimed
from cortex_tui.errors import CortexError, TmuxError
from cortex_tui.model.layout import Layout
from cortex_tui.model.state import SessionRecord

log = logging.getLogger("cortex_tui.engine")
T = TypeVar("T")

REFILL_S = 2.0
RETRY_S = 10.0
"""After a failure (link down, git error on the node) the refill waits this long before trying again."""


class NodeWarm:
    """One ssh node's warm slots for one run."""

    def __init__(self, *, node: str, remote: Callable[[], RemoteNode], repo: Path, run: str, count: int,
                 base_commit: Callable[[], str], emit: Emit, setup: list[str], env: dict[str, str],
                 checkout: str | None, lock: Callable[[], threading.Lock] | None = None) -> None:
        self.node = node
        own = threading.Lock()
        self.node_lock = lock or (lambda: own)
        """The node's spawn lock: ``git worktree add/move/remove`` in one bare repo must not run at the same time
        (each reads the others' half-written admin dirs), and a cold spawn there adds one under this lock."""
        self.remote = remote
        """The node, set up on first use (a blocking round trip: threads only)."""
        self.repo = repo
        self.run = run
        self.count = count
        self.base_commit = base_commit
        self.emit = emit
        self.setup = setup
        self.env = env
        self.checkout = checkout
        self.logs = local_root(repo, run) / "nodes" / node
        """This machine's copy of each slot's setup output."""
        self.ready: list[rw.NodeSlot] = []
        self.windows: dict[str, WindowInfo] = {}
        """Slot name -> its idle window on the node's tmux server (the agent of the task that takes it starts there)."""
        self.at_base: str | None = None
        self.pushed: str | None = None
        self.broken: str | None = None
        self.error: str | None = None
        """The last refill's failure (a link down), until one works again."""
        self.claimed = 0
        self._scanned = False
        self._server_up = False
        """The node's tmux server was seen up (or started) by this refill: its windows are made there."""
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    def _post(self, session: str | None, **data: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self.emit("warm_slot", session, node=self.node, **data)
        else:
            loop.call_soon_threadsafe(lambda: self.emit("warm_slot", session, node=self.node, **data))

    # ------------------------------------------------------------------ blocking work (threads)
    def _run_setup(self, rn: RemoteNode, slot: rw.NodeSlot) -> None:
        if not self.setup:
            return
        self.logs.mkdir(parents=True, exist_ok=True)
        logf = self.logs / f"{slot.name}.setup.log"
        env = {**self.env, "CORTEX_RUN": self.run, "CORTEX_WORKTREE": str(slot.path)}
        results = NodeWorkspace(rn, slot.path, self.checkout).run_steps("setup", self.setup, env=env, log=logf)
        if results and results[-1].exit_code != 0:
            self.broken = f"{describe_failure(results[-1])} (in warm slot {slot.name} on {self.node}; see {logf})"
            raise _SetupFailed(self.broken)
        rw.mark_setup(rn, slot, self.setup)

    def fill(self) -> None:
        """Take up what an earlier supervisor left (once), refresh slots to the base, make new ones."""
        rn = self.remote()
        if not self._scanned:
            with self.node_lock():
                found, kept, dropped = rw.scan(rn, self.repo, self.setup)
            windows, _ = rw.adopt_windows(rn, found)  # the others (their slots dropped) are closed
            self._scanned = True
            with self._lock:
                self.ready = found
                self.windows = windows
            for name in kept:
                self._post(None, action="kept", slot=name, ms=0.0, why=KEPT_DIRTY)
            for name in dropped:
                self._post(None, action="dropped", slot=name, ms=0.0)
        base = self.base_commit()
        if base != self.pushed:
            if self.pushed is None:
                with self.node_lock():  # a cold spawn there may be making the bare repo right now
                    rw.make_bare(rn, self.repo)
            rw.push_base(rn, self.repo, base, made=True)
            self.pushed = base
        if base != self.at_base:
            with self._lock:  # out of reach of claims while they are reset
                slots, self.ready = self.ready, []
            for slot in slots:
                t0 = time.perf_counter()
                try:
                    if slot.head != base:
                        rw.refresh(rn, slot, base)
                        self._run_setup(rn, slot)
                        self._post(None, action="refreshed", slot=slot.name, ms=_ms(t0))
                except _SetupFailed as e:
                    log.warning("warm slot %s on %s: %s", slot.name, self.node, e)
                    self._drop(rn, slot)
                    continue
                with self._lock:
                    self.ready.append(slot)
            self.at_base = base
        self._windows(rn)
        while self.broken is None:
            with self._lock:
                if len(self.ready) >= self.count:
                    return
            t0 = time.perf_counter()
            with self.node_lock():
                slot = rw.make(rn, self.repo, f"w-{uuid.uuid4().hex[:10]}", base)
            try:
                self._run_setup(rn, slot)
            except _SetupFailed as e:
                log.warning("warm slots on %s: %s", self.node, e)
                self._drop(rn, slot)
                return
            made = self._window(rn, slot)
            with self._lock:
                self.ready.append(slot)
                if made is not None:
                    self.windows[slot.name] = made
            self._post(None, action="ready", slot=slot.name, ms=_ms(t0))

    def _window(self, rn: RemoteNode, slot: rw.NodeSlot) -> WindowInfo | None:
        """A new idle window for ``slot`` on the node's tmux server (started first when it is not up); None: the
        node's tmux refused (the slot stays a worktree; the next refill tries again)."""
        try:
            if not self._server_up:
                rn.ensure_server()
                self._server_up = True
            return rw.window(rn, slot)
        except TmuxError as e:
            self._server_up = False
            log.info("warm slot %s on %s: no idle window: %s", slot.name, self.node, e.message)
            return None

    def _windows(self, rn: RemoteNode) -> None:
        """Windows for the ready slots that have none (the node's server was not up, or one was closed by hand)."""
        with self._lock:
            missing = [s for s in self.ready if s.name not in self.windows]
        for slot in missing:
            made = self._window(rn, slot)
            if made is None:
                return
            with self._lock:
                keep = slot in self.ready  # not claimed meanwhile
                if keep:
                    self.windows[slot.name] = made
            if not keep:
                rn.kill_window(made.window_id)

    def _drop(self, rn: RemoteNode, slot: rw.NodeSlot) -> None:
        with self._lock:
            window = self.windows.pop(slot.name, None)
        if window is not None:
            rn.kill_window(window.window_id)
        with self.node_lock():
            rw.drop(rn, self.repo, slot)

    def claim(self, rec: SessionRecord, base: str, setup: list[str] | None) -> Claimed | None:
        """(A spawn thread.) ``rec`` — fresh, placed on this node — takes a slot reset to ``base``, and the slot's
        idle window on the node (the spawn starts the agent there: ``RemoteNode.respawn``, one round trip); None:
        none is ready, or it has a branch or worktree of its own (then the spawn makes one the cold way)."""
        if rec.attempt or gitb.branch_exists(self.repo, rec.branch):
            return None  # its own branch is pushed to the node by the cold path
        with self._lock:
            if not self.ready:
                return None
            slot = self.ready.pop(0)
            window = self.windows.pop(slot.name, None)
        t0 = time.perf_counter()
        try:
            rn = self.remote()
            if base != slot.head:  # an older or newer start than the slot's: that exact commit, pushed first
                rn.push(self.repo, str(rn.bare_repo(self.repo)), [f"+{base}:refs/cortex/base/{rec.slug}"])
            with self.node_lock():
                taken = rw.claim(rn, self.repo, slot, branch=rec.branch, base=base, slug=rec.slug)
        except CortexError as e:
            log.warning("warm slot %s on %s for %s: %s (starting it cold)", slot.name, self.node, rec.name, e.message)
            try:
                if window is not None:
                    self.remote().kill_window(window.window_id)
                with self.node_lock():
                    rw.undo_claim(self.remote(), self.repo, slot, rec.branch)
            except CortexError as again:  # the link is down: the next supervisor's scan drops the slot
                log.warning("warm slot %s on %s: %s", slot.name, self.node, again.message)
            self.kick()
            return None
        if not taken:
            with self._lock:
                self.ready.insert(0, slot)  # untouched: the session had a worktree of its own there
                if window is not None:
                    self.windows[slot.name] = window
            return None
        rec.base_commit = base
        rec.worktree = str(rn.worktree_path(rec.slug))
        if self.setup and list(setup or []) == self.setup and base == slot.head:
            rec.setup_done = True
        self.claimed += 1
        self._post(rec.name, action="claimed", slot=slot.name, ms=_ms(t0), window=window is not None)
        self.kick()
        return Claimed(slot.name, window)

    # ------------------------------------------------------------------ the loop
    def kick(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def keep_filled(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not stop.is_set():
            wait = REFILL_S
            try:
                await asyncio.to_thread(self.fill)
                self.error = None
            except (CortexError, OSError) as e:
                msg = getattr(e, "message", None) or str(e)
                if msg != self.error:
                    log.warning("warm slots on %s: %s", self.node, msg)
                self.error, wait = msg, RETRY_S
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except TimeoutError:
                pass

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"ready": len(self.ready), "wanted": self.count, "claimed": self.claimed, "base": self.at_base,
                    "broken": self.broken, "error": self.error, "windows": len(self.windows)}


class _SetupFailed(Exception):
    pass


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


def _bound(get: Callable[[NodeSet, str], T], nodes: NodeSet, name: str) -> Callable[[], T]:
    return lambda: get(nodes, name)


def remote_of(nodes: NodeSet, name: str) -> RemoteNode:
    """The ssh node ``name`` of the run, set up on first use (blocking)."""
    ready = getattr(nodes.get(name), "ready", None)
    rn = ready() if callable(ready) else None
    if not isinstance(rn, RemoteNode):
        raise CortexError(f"node {name!r} is not an ssh node: it keeps no warm slots")
    return rn


def node_lock(nodes: NodeSet, name: str) -> threading.Lock:
    """The node's spawn lock (backends/remote_node.py: ``SshNode.spawn_lock``)."""
    lock = getattr(nodes.get(name), "spawn_lock", None)
    if not isinstance(lock, type(threading.Lock())):
        raise CortexError(f"node {name!r} is not an ssh node: it keeps no warm slots")
    return lock


def node_slots(layout: Layout, nodes: NodeSet, repo: Path, base_commit: Callable[[], str],
               emit: Emit) -> Mapping[str, NodeWarm]:
    """The warm slots of each ``[[node]]`` of a pool: its own ``warm``, else ``[pool] warm``."""
    pool = layout.pool
    if pool is None:
        return {}
    setup = list(layout.defaults.setup or [])
    env = dict(layout.defaults.env or {})
    if any("{" in v for v in env.values()):  # placeholders are per session (ports, names): not ahead
        setup = []
    out: dict[str, NodeWarm] = {}
    for spec in layout.node:
        count = spec.warm if spec.warm is not None else pool.warm
        if count:
            out[spec.name] = NodeWarm(node=spec.name, remote=_bound(remote_of, nodes, spec.name), repo=repo,
                                      run=layout.run.name, count=count, base_commit=base_commit, emit=emit,
                                      setup=setup, env=env, checkout=spec.checkout,
                                      lock=_bound(node_lock, nodes, spec.name))
    return out
