"""``[pool]`` and ``[[route]]`` limits: of the sessions the schedule found ready, which start now and where.

:meth:`Pool.admit` runs on every scheduling pass. It applies the pool's slots (``size``, or ``min``/``max``
grown while the nodes have headroom), each route's ``limit``, every node's ``max_sessions`` and memory floor,
and places ``node = "auto"`` (or a node group's) tasks on the node with the most room. A task that cannot
start stays ``pending`` with the reason shown (``status``, ``queue``, the TUI); a placement is saved before the
spawn starts (a crash never places one task twice) and said in a ``placed`` event.

The queue itself is the run's pending sessions in ``state.json`` (added ones included: engine/intake.py), so
it survives a supervisor restart as everything else does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from cortex_tui.backends.node import LOCAL
from cortex_tui.backends.tmux import Tmux
from cortex_tui.engine.events import Emit
from cortex_tui.engine.nodes import NodeSet
from cortex_tui.engine.placement import PROBE_SCRIPT, NodeRoom, Probe, cap, choose, parse_probe, probe_local
from cortex_tui.engine.remote_warm import node_slots
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.tasks import TaskSet
from cortex_tui.engine.triggers import TriggerBook
from cortex_tui.engine.warm import Claimed, WarmSlots
from cortex_tui.errors import CortexError
from cortex_tui.model.layout import Layout
from cortex_tui.model.routes import node_targets
from cortex_tui.model.state import RunState, SessionRecord, SessionState

REMOTE_PROBE_S = 5.0
"""A remote node's memory and load are read (one ssh round trip) at most this often."""


def concrete(layout: Layout, node: str) -> bool:
    """``node`` names one node (not ``auto``, not a group)."""
    return node == LOCAL or layout.node_by_name(node) is not None


def target_slots(layout: Layout, live: int, waiting: int) -> tuple[int | None, str]:
    """How many sessions may run at once now (None: no pool limit) and why."""
    pool = layout.pool
    if pool is None:
        return None, ""
    if pool.size is not None:
        return pool.size, f"size {pool.size}"
    if pool.max is None:
        return None, ""
    lo = pool.min or 1
    demand = live + waiting
    n = max(lo, min(pool.max, demand))
    return n, f"{demand} wanted, min {lo}, max {pool.max}"


class Pool:
    """Admission and placement for one run (see the module doc)."""

    def __init__(self, *, layout: Layout, nodes: NodeSet, runtimes: Mapping[str, SessionRuntime], book: TriggerBook,
                 emit: Emit, save: Callable[[], None], dirty: Callable[[], None], state: Callable[[], RunState],
                 repo: Path, spawning: Callable[[], Collection[str]] = frozenset, tmux: Tmux | None = None,
                 exiting: Callable[[], Collection[str]] = frozenset) -> None:
        self.layout = layout
        self.spawning = spawning
        """Sessions whose spawn is under way (still ``pending`` until it starts): they hold a slot."""
        self.exiting = exiting
        """Sessions whose agent exited and whose end is being looked at (git work): their slot is free."""
        self._pass = asyncio.Lock()
        self.nodes = nodes
        self.runtimes = runtimes
        self.book = book
        self.emit = emit
        self.save = save
        self.dirty = dirty
        self.state = state
        """The run's state: ``nodes`` (links: a node whose link is down gets no new session) and ``pool``
        (what this pass saw, for ``status``/``queue``)."""
        self.slots: int | None = None
        self._turn = 0
        self._probes: dict[str, tuple[float, Probe]] = {}
        self._last_status: dict[str, Any] = {}
        self._idle_since: float | None = None
        pool = layout.pool
        self.warm: WarmSlots | None = None
        if pool is not None and pool.warm:
            setup = list(layout.defaults.setup or [])
            env = dict(layout.defaults.env or {})
            if any("{" in v for v in env.values()):  # placeholders are per session (ports, names): not ahead
                setup = []
            self.warm = WarmSlots(repo=repo, run=layout.run.name, count=pool.warm, setup=setup, env=env,
                                  base_commit=lambda: self.state().base_commit, emit=emit, tmux=tmux,
                                  busy=lambda: bool(self.spawning()))
        self.node_warm = node_slots(layout, nodes, repo, lambda: self.state().base_commit, emit)
        """Warm slots on the ssh nodes (engine/remote_warm.py)."""

    def start(self, tasks: TaskSet, stop: asyncio.Event) -> None:
        """Background work while supervising: keeping the warm slots filled."""
        warm = self.warm
        if warm is not None:
            tasks.spawn(lambda: warm.keep_filled(stop), "warm", restart=True)
        for name, nw in self.node_warm.items():
            tasks.spawn(partial(nw.keep_filled, stop), f"warm on {name}", restart=True)

    def claim_warm(self, rec: SessionRecord, base: str) -> Claimed | None:
        """(A spawn thread.) ``rec`` takes a warm worktree at ``base`` (and its idle window) when one is ready."""
        rt = self.runtimes.get(rec.name)
        setup = list(rt.spec.setup) if rt is not None else None
        if rec.node != LOCAL:
            nw = self.node_warm.get(rec.node)
            return nw.claim(rec, base, setup) if nw is not None else None
        return self.warm.claim(rec, base, setup) if self.warm is not None else None

    def lingering(self) -> bool:
        """The queue is empty but ``[pool] linger`` keeps the supervisor up for tasks still to come."""
        pool = self.layout.pool
        if pool is None or not pool.linger:
            return False
        now = time.monotonic()
        if self._idle_since is None or any(
                rt.rec.state.live or rt.rec.state is SessionState.PENDING for rt in self.runtimes.values()):
            self._idle_since = now
        return now - self._idle_since < pool.linger

    def health(self) -> Mapping[str, Mapping[str, Any]]:
        return self.state().nodes

    @property
    def active(self) -> bool:
        """Whether there is anything to decide beyond the schedule's own limits."""
        lay = self.layout
        return lay.pool is not None or any(r.limit for r in lay.route) or any(
            n.max_sessions is not None or n.memory_floor is not None or n.memory_limit is not None for n in lay.node)

    async def admit(self, ready: list[SessionRuntime]) -> list[SessionRuntime]:
        """The sessions of ``ready`` (in queue order) that start now; the others wait with their reason.
        One pass at a time: a pass that waits on a remote probe must not admit what another pass admitted
        meanwhile (the caller marks them spawning right after this returns)."""
        if not self.active and all(concrete(self.layout, rt.rec.node) for rt in ready):
            return ready
        async with self._pass:
            busy = self.spawning()
            return await self._admit([rt for rt in ready if rt.rec.name not in busy])

    async def _admit(self, ready: list[SessionRuntime]) -> list[SessionRuntime]:
        rts = list(self.runtimes.values())
        busy, gone = self.spawning(), self.exiting()
        live = [rt for rt in rts if (rt.rec.state.live and rt.rec.name not in gone) or rt.rec.name in busy]
        waiting = sum(1 for rt in rts if rt.rec.state is SessionState.PENDING and rt.rec.name not in busy)
        slots, why = target_slots(self.layout, len(live), waiting)
        if slots != self.slots:
            if slots is not None:
                self.emit("pool_scaled", None, slots=slots, prev=self.slots, running=len(live), queued=waiting,
                          why=why)
            self.slots = slots
        if not ready:
            self._publish(live, waiting, {})
            return []
        rooms = await self._rooms(live, ready)
        pool = self.layout.pool
        floor_min = pool.min if pool is not None and pool.min is not None else None
        max_load = pool.max_load if pool is not None else None
        default_need = pool.task_memory if pool is not None else None
        per_route: dict[int, int] = {}
        for rt in live:
            if rt.spec.route is not None:
                per_route[rt.spec.route] = per_route.get(rt.spec.route, 0) + 1
        out: list[SessionRuntime] = []
        placed = False
        for rt in ready:
            running = len(live) + len(out)
            reason: str | None = None
            route = rt.spec.route
            limit = self.layout.route[route].limit if route is not None else None
            if slots is not None and running >= slots:
                reason = f"waiting for a free slot (pool of {slots})"
            elif route is not None and limit is not None and per_route.get(route, 0) >= limit:
                reason = f"waiting: route {self._route_name(route)} runs {limit} at once"
            if reason is None:
                fresh = rt.rec.attempt == 0 and not concrete(self.layout, rt.rec.node)
                names = node_targets(self.layout, rt.rec.node) if fresh else [rt.rec.node]
                cands = [rooms[n] for n in names if n in rooms]
                above_min = floor_min is not None and running >= floor_min
                room, how = choose(cands, rt.spec.agent, default_need, strategy=self._strategy, turn=self._turn,
                                   max_load=max_load if above_min else None)
                if room is None:
                    reason = f"waiting: {how}"
                else:
                    room.take(rt.spec.agent, default_need)
                    if fresh:
                        self._turn += 1
                        rt.rec.node = room.name
                        placed = True
                        self.emit("placed", rt.rec.name, node=room.name, why=how, candidates=names)
            if reason is not None:
                if rt.rec.reason != reason:
                    self.book.set_state(rt, SessionState.PENDING, reason)
                continue
            if route is not None:
                per_route[route] = per_route.get(route, 0) + 1
            out.append(rt)
        if placed:
            self.save()  # the node is durable before the spawn starts: a crash never places one task twice
        self._publish(live, waiting, rooms)
        return out

    @property
    def _strategy(self) -> str:
        return self.layout.pool.strategy if self.layout.pool is not None else "least-loaded"

    def _route_name(self, i: int) -> str:
        name = self.layout.route[i].name
        return repr(name) if name else f"#{i + 1}"

    async def _rooms(self, live: Iterable[SessionRuntime], ready: list[SessionRuntime]) -> dict[str, NodeRoom]:
        """Every node a ready task may go to, with what runs there now."""
        wanted: set[str] = set()
        for rt in ready:
            wanted.update(node_targets(self.layout, rt.rec.node) if not concrete(self.layout, rt.rec.node)
                          else [rt.rec.node])
        pool = self.layout.pool
        health = self.health()
        rooms: dict[str, NodeRoom] = {}
        live_list = list(live)
        for name in sorted(wanted, key=lambda n: (n != LOCAL, n)):
            spec = self.layout.node_by_name(name)
            if name != LOCAL and spec is None:
                continue
            on_node = [rt for rt in live_list if rt.rec.node == name]
            peers: dict[str, list[int]] = {}
            for rt in on_node:
                if rt.rec.rss_bytes:
                    peers.setdefault(rt.spec.agent, []).append(rt.rec.rss_bytes)
            used = sum(rt.rec.rss_bytes or 0 for rt in on_node)
            if spec is None:
                limit = pool.memory_limit if pool is not None else None
                floor = pool.memory_floor if pool is not None else None
                max_s = pool.local_max_sessions if pool is not None else None
            else:
                limit, max_s = spec.memory_limit, spec.max_sessions
                floor = spec.memory_floor if spec.memory_floor is not None else (
                    pool.memory_floor if pool is not None else None)
            link = health.get(name, {})
            up = bool(link.get("reachable", True))
            probe = await self._probe(name) if up else Probe(None, None, str(link.get("error") or "link down"))
            if probe.error is not None and name != LOCAL:
                up = False
            rooms[name] = NodeRoom(name=name, live=len(on_node), max_sessions=max_s,
                                   available=cap(probe.available, limit, used), floor=floor or 0,
                                   load_per_core=probe.load_per_core, up=up,
                                   error=probe.error or (None if up else str(link.get("error") or "link down")),
                                   peers=peers)
        return rooms

    async def _probe(self, name: str) -> Probe:
        if name == LOCAL:
            return probe_local()
        now = time.monotonic()
        hit = self._probes.get(name)
        if hit is not None and now - hit[0] < REMOTE_PROBE_S:
            return hit[1]
        probe = await asyncio.to_thread(self._probe_remote, name)
        self._probes[name] = (now, probe)
        return probe

    def _probe_remote(self, name: str) -> Probe:
        try:
            node = self.nodes.get(name)
            ready = getattr(node, "ready", None)
            if ready is None:  # a node kind without a shell of its own (a sandbox): this machine's memory
                return probe_local()
            out = ready().sh(PROBE_SCRIPT, timeout=15.0, check=False)
            return parse_probe(out.stdout)
        except (CortexError, OSError) as e:
            return Probe(None, None, getattr(e, "message", None) or str(e))

    def _publish(self, live: list[SessionRuntime], waiting: int, rooms: Mapping[str, NodeRoom]) -> None:
        data: dict[str, Any] = {
            "slots": self.slots, "running": len(live), "queued": waiting,
            "nodes": {n: {"live": r.live, "max_sessions": r.max_sessions, "available": r.available,
                          "floor": r.floor, "up": r.up} for n, r in rooms.items()},
        }
        if self.warm is not None or self.node_warm:
            data["warm"] = {**(self.warm.status() if self.warm is not None else {"ready": 0, "wanted": 0}),
                            "nodes": {n: w.status() for n, w in self.node_warm.items()}}
        st = self.state()
        st.pool = data  # shown by status/queue; saved with the next change (numbers alone do not force a save)
        key = {k: data.get(k) for k in ("slots", "running", "queued")}
        if key != self._last_status:
            self._last_status = key
            self.dirty()
