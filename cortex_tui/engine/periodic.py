"""The tick's timed looks at the sessions' machines: remote nodes polled, process trees and disk sampled.

Every :data:`REMOTE_POLL_S` while a session runs on a polled node, one round trip per node
(:meth:`NodeSet.poll`: output, events, exit codes, changed files, link health); every :data:`SAMPLE_S`
while any session is live, CPU/RSS of this machine's trees (quiet ones less often:
:mod:`cortex_tui.engine.sampling`), their worktrees' disk use every :data:`~cortex_tui.resources.DISK_S`,
and usage the adapters read from transcripts (every tick while an adapter still looks for its session file;
once found, the run's watcher reads it on change).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from cortex_tui.engine.ingest import Ingest
from cortex_tui.engine.nodes import NodeSet
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.tasks import OnError, supervised
from cortex_tui.model.state import RunState
from cortex_tui.resources import DISK_S, ProcessSampler

SAMPLE_S = 2.0
"""CPU/RSS of the live process trees (and transcripts' usage) this often."""
REMOTE_POLL_S = 1.0
"""Remote sessions: one ssh round trip per node this often (output, events, exit codes, changed files)."""


class Periodic:
    """When the last poll and samples were taken; takes the next ones when they are due."""

    def __init__(self, *, nodes: NodeSet, ingest: Ingest, runtimes: Mapping[str, SessionRuntime],
                 spawning: Collection[str], state: Callable[[], RunState], on_error: OnError) -> None:
        self.nodes = nodes
        self.ingest = ingest
        self.runtimes = runtimes
        self.spawning = spawning
        self.state = state
        self.on_error = on_error
        self.sampler = ProcessSampler()
        self.last_sample = 0.0
        self.last_disk = 0.0
        self.last_remote_poll = 0.0

    async def run(self, live: list[SessionRuntime], mono: float) -> None:
        """``live``: the sessions live (and not being spawned) when the tick began."""
        if mono - self.last_remote_poll >= REMOTE_POLL_S and any(
                rt.rec.state.live and self.nodes.polled(rt.rec) for rt in self.runtimes.values()):
            self.last_remote_poll = mono
            await supervised(self.poll_nodes, "node-poll", self.on_error, restart=False)
        if live and mono - self.last_sample >= SAMPLE_S:
            self.last_sample = mono
            disk = mono - self.last_disk >= DISK_S
            if disk:
                self.last_disk = mono
            await self.nodes.sample_watched(live, self.sampler, disk=disk)
            for rt in live:
                self.ingest.poll_usage(rt)
        else:  # an adapter still looking for its session file looks every tick (read on change once found)
            for rt in live:
                if rt.adapter.finding():
                    self.ingest.poll_usage(rt)

    async def poll_nodes(self) -> None:
        live = [rt for rt in self.runtimes.values() if rt.rec.state.live and rt.rec.name not in self.spawning]
        state = self.state()
        await self.nodes.poll(live, state.base_commit)
        state.nodes = self.nodes.links.health()
        for name, h in state.nodes.items():
            h["stream"] = self.nodes.streams.stats_for(name).info()
