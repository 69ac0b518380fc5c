"""The run's nodes: which :class:`~cortex_tui.backends.node.Node` each session runs on, and applying what the
polls of polled nodes bring (mirrored files, changed files, samples, link loss and return)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from cortex_tui.backends.local_node import LocalNode
from cortex_tui.backends.node import LOCAL, Node, NodeContext, SessionPaths, make_node
from cortex_tui.backends.tmux import Tmux
from cortex_tui.engine.clock import Clock
from cortex_tui.engine.events import Emit
from cortex_tui.engine.ingest import Ingest
from cortex_tui.engine.mirror import mirror
from cortex_tui.engine.node_links import (
    DiskUse,
    LinkDown,
    LinkUp,
    NodeLinks,
    PolledNode,
    SessionPoll,
    SessionSample,
)
from cortex_tui.engine.node_stream import NodeStreams
from cortex_tui.engine.sampling import SamplePacer
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.triggers import TriggerBook
from cortex_tui.errors import CortexError, SshError
from cortex_tui.model.layout import NodeSpec
from cortex_tui.model.state import SessionRecord, SessionState
from cortex_tui.resources import ProcessSampler, TreeSample
from cortex_tui.store.files import RunStore

log = logging.getLogger("cortex_tui.engine")

NODE_SPAWN_WORKERS = 4
"""Threads that run one ssh node's spawns (they queue on the node's spawn lock there, not in the loop's default
pool, which this machine's spawns, captures and git calls share: 66 node spawns waiting on two node locks held
all six default workers and made this machine's 34 spawns 2.5× slower)."""


def session_paths(store: RunStore, rec: SessionRecord) -> SessionPaths:
    """A session's files on this machine (for a polled node: the local mirrors)."""
    return SessionPaths(log=store.log_path(rec.slug), exit=store.exit_path(rec.slug),
                        session_dir=store.session_dir(rec.slug), events=store.events_file(rec.slug))


class NodeSet:
    """Nodes by name (this machine's made at once, others on first use) and their links."""

    def __init__(self, local_ctx: NodeContext, tmux: Tmux, node_spec: Callable[[str], NodeSpec | None], *,
                 clock: Clock, book: TriggerBook, ingest: Ingest, emit: Emit, store: RunStore,
                 on_sample: Callable[[SessionRuntime, TreeSample, float], None],
                 on_dirty: Callable[[], None]) -> None:
        self.local_ctx = local_ctx
        self.local = LocalNode(local_ctx, tmux=tmux)
        self.node_spec = node_spec
        self.clock = clock
        self.book = book
        self.ingest = ingest
        self.emit = emit
        self.store = store
        self.on_sample = on_sample
        self.on_dirty = on_dirty
        self.links = NodeLinks(clock)
        self.streams = NodeStreams(clock=clock, local_paths=lambda rec: session_paths(store, rec), on_dirty=on_dirty,
                                   on_changed=ingest.apply_changed)
        """Each polled node's watcher: output, events, exit codes and worktree changes as they happen (the poll
        catches up)."""
        self.pacer = SamplePacer()
        self._nodes: dict[str, Node] = {LOCAL: self.local}
        self._lock = threading.Lock()
        self._held: dict[str, SessionState] = {}
        self._spawn_pools: dict[str, ThreadPoolExecutor] = {}
        """States of sessions on a node whose link is down (they show "unknown" meanwhile)."""

    def get(self, name: str) -> Node:
        with self._lock:  # spawn threads race here on the first use of a node
            node = self._nodes.get(name)
            if node is None:
                spec = self.node_spec(name)
                if spec is None:
                    raise CortexError(f"unknown node {name!r}")
                ctx = self.local_ctx
                node = make_node(NodeContext(ctx.run, ctx.socket, ctx.repo, spec))
                self._nodes[name] = node
            return node

    def get_for(self, rec: SessionRecord) -> Node:
        inner = self.get(rec.node)
        if not rec.sandbox:
            return inner
        with self._lock:  # the sandbox wraps the node that places the session (backends/sandbox_node.py)
            key = f"{rec.node}+{rec.sandbox}"
            node = self._nodes.get(key)
            if node is None:
                ctx = replace(self.local_ctx, tmux=self.local.tmux, spec=self.node_spec(rec.node), inner=inner)
                node = self._nodes[key] = make_node(ctx, kind=rec.sandbox)
            return node

    def polled(self, rec: SessionRecord) -> bool:
        """Whether the session is observed by polls (not this machine's watcher). A node that is no longer
        in the layout is not this machine's either."""
        try:
            return self.get(rec.node).polled
        except CortexError:
            return True

    def spawn_pool(self, rec: SessionRecord) -> ThreadPoolExecutor | None:
        """The threads that run spawns on ``rec``'s node when it is not this machine (None: the default pool)."""
        if rec.node == LOCAL:
            return None
        with self._lock:
            pool = self._spawn_pools.get(rec.node)
            if pool is None:
                pool = self._spawn_pools[rec.node] = ThreadPoolExecutor(NODE_SPAWN_WORKERS,
                                                                        thread_name_prefix=f"spawn-{rec.node}")
            return pool

    def close(self) -> None:
        for pool in self._spawn_pools.values():
            pool.shutdown(wait=False)
        self.streams.close()
        for node in list(self._nodes.values()):
            try:
                node.close()
            except (SshError, OSError) as e:  # closing a dead link: nothing is lost, the agent runs on the node
                log.info("closing node %s: %s", node.name, e)

    async def sample_watched(self, live: list[SessionRuntime], sampler: ProcessSampler, *, disk: bool) -> None:
        """CPU/RSS of this machine's live process trees (one /proc scan), and their worktrees' disk use
        when ``disk`` (polled nodes measure their own, with their poll)."""
        now = self.clock.time()
        every = [rt for rt in live if not self.polled(rt.rec)]
        watched = self.pacer.due(every, now)  # quiet sessions less often (engine/sampling.py)
        self.pacer.sampled(watched, now)
        roots = [rt.rec.pane_pid for rt in watched if rt.rec.pane_pid]
        ui = {rt.rec.pane_pid: rt.adapter.ui_processes for rt in watched if rt.rec.pane_pid and rt.adapter.ui_processes}
        samples = await asyncio.to_thread(sampler.sample, [r for r in roots if r], ui) if roots else {}
        sizes = await asyncio.to_thread(self.local.disk_usage, [rt.rec for rt in every]) if disk else {}
        for rt in every:
            if rt.rec.slug in sizes:
                rt.rec.disk_bytes = sizes[rt.rec.slug]
        for rt in watched:
            s = samples.get(rt.rec.pane_pid or -1)
            if s is not None:
                self.on_sample(rt, s, now)

    async def poll(self, live: Iterable[SessionRuntime], base: str) -> None:
        """One round trip per polled node for its live sessions; what it says is applied at once."""
        by_name: dict[str, SessionRuntime] = {}
        groups: dict[str, tuple[PolledNode, list[SessionRecord]]] = {}
        for rt in live:
            try:
                node = self.get(rt.rec.node)
            except CortexError as e:  # its node left the layout: nothing to poll it with
                log.warning("session %s: %s", rt.rec.name, e.message)
                continue
            if isinstance(node, PolledNode):
                groups.setdefault(rt.rec.node, (node, []))[1].append(rt.rec)
                by_name[rt.rec.name] = rt
        if not groups:
            return
        updates = await self.links.poll(groups, base)
        now = self.clock.time()
        for u in updates:
            if isinstance(u, SessionPoll):
                rt = by_name[u.name]
                self.streams.stats_for(rt.rec.node).poll_log_bytes += mirror(
                    rt.rec, session_paths(self.store, rt.rec), u.result)
                new = {p: k for p, k in u.result.changed.items() if p not in rt.rec.changed_files}
                if new:
                    self.ingest.apply_changed(rt, new)
                self.on_dirty()
            elif isinstance(u, SessionSample):
                self.on_sample(by_name[u.name], u.sample, now)
            elif isinstance(u, DiskUse):
                for name, size in u.sizes.items():
                    by_name[name].rec.disk_bytes = size
            else:
                self._link_changed(u, [by_name[r.name] for r in groups[u.node][1]])
                if isinstance(u, LinkDown):
                    self.streams.stop(u.node)
        for u in updates:  # once the poll's catch-up is applied: the watchers go on from there
            if isinstance(u, LinkUp):
                self.streams.sync(u.node, groups[u.node][0], [by_name[r.name] for r in groups[u.node][1]], base)

    def _link_changed(self, u: LinkDown | LinkUp, rts: list[SessionRuntime]) -> None:
        if isinstance(u, LinkUp):
            if u.recovered:
                self.emit("node_up", None, node=u.node, latency_ms=u.latency_ms)
            for rt in rts:
                if rt.rec.state is SessionState.UNKNOWN:
                    self.book.set_state(rt, self._held.pop(rt.rec.name, SessionState.RUNNING), None)
            return
        if not u.known:  # never reached by this supervisor: nothing to hold
            for rt in rts:
                self.book.set_state(rt, SessionState.UNKNOWN, f"node {u.node} unreachable: {u.error}")
            return
        if u.first:
            self.emit("node_down", None, node=u.node, error=u.error)
        for rt in rts:
            if rt.rec.state is not SessionState.UNKNOWN:
                self._held[rt.rec.name] = rt.rec.state
                self.book.set_state(rt, SessionState.UNKNOWN, f"link down to node {u.node}")
