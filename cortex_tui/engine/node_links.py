"""Link health of polled nodes, and what their polls say, as typed updates the Supervisor applies.

:class:`NodeLinks` holds no Supervisor: it is given the nodes and the records to poll, and returns
:data:`NodeUpdate` values (a link went down or came back, a session's poll result, a process sample,
disk use). A link that failed is retried with a growing backoff (:data:`BACKOFF_S`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cortex_tui.backends.node import Node
from cortex_tui.backends.remote_poll import PollResult, parse_ps
from cortex_tui.engine.clock import Clock
from cortex_tui.errors import SshError
from cortex_tui.model.state import SessionRecord
from cortex_tui.private import open_private, private_dir
from cortex_tui.resources import DISK_S, TreeSample, tree_totals

if TYPE_CHECKING:
    from cortex_tui.review.models import QueueEntry

log = logging.getLogger("cortex_tui.engine")

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


@runtime_checkable
class PolledNode(Node, Protocol):
    @property
    def reached(self) -> bool:
        """Whether this supervisor has set the node up (connected once)."""
        ...

    def poll(self, recs: list[SessionRecord], base: str, *, reconnect: bool) -> tuple[dict[str, PollResult], str]:
        ...

    def run_verify(self, slug: str, command: str) -> tuple[int, bool, str, bytes]: ...


@dataclass(frozen=True)
class LinkDown:
    node: str
    error: str
    first: bool
    """The link was up until now (a ``node_down`` event is due)."""
    known: bool = True
    """False: the node was never reached by this supervisor (its sessions are "unreachable")."""


@dataclass(frozen=True)
class LinkUp:
    node: str
    latency_ms: float | None
    recovered: bool
    """It was down until now (a ``node_up`` event is due; held states come back)."""


@dataclass(frozen=True)
class SessionPoll:
    name: str
    result: PollResult


@dataclass(frozen=True)
class SessionSample:
    name: str
    sample: TreeSample


@dataclass(frozen=True)
class DiskUse:
    sizes: dict[str, int | None]
    """Session name -> bytes of its worktree on the node."""


NodeUpdate = LinkDown | LinkUp | SessionPoll | SessionSample | DiskUse


@dataclass
class LinkState:
    up: bool = True
    known: bool = False
    failures: int = 0
    next_try: float = 0.0
    latency_ms: float | None = None
    error: str | None = None
    cpu_prev: dict[int, tuple[float, float]] = field(default_factory=dict)
    """Remote pid -> (monotonic time, cpu seconds) of the previous poll, for CPU %."""
    disk_at: float = float("-inf")
    """Monotonic time of the last ``du`` of the node's worktrees."""


class NodeLinks:
    """Polls polled nodes; keeps each link's health."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.links: dict[str, LinkState] = {}

    async def poll(self, groups: Mapping[str, tuple[PolledNode, list[SessionRecord]]], base: str) -> list[NodeUpdate]:
        """One round trip per node whose link may be tried now; the updates, in the order to apply them."""
        out: list[NodeUpdate] = []
        now = self.clock.monotonic()
        for name, (node, recs) in groups.items():
            lk = self.links.setdefault(name, LinkState())
            lk.known = lk.known or node.reached
            if lk.known and not lk.up and now < lk.next_try:
                continue
            t0 = time.perf_counter()  # a real round-trip time
            try:
                results, ps = await asyncio.to_thread(node.poll, recs, base, reconnect=lk.known and not lk.up)
            except (SshError, OSError) as e:
                out.append(self._down(name, lk, str(e)))
                continue
            lk.latency_ms = round((time.perf_counter() - t0) * 1000, 1)
            out.append(self._up(name, lk))
            out += [SessionPoll(r.name, results[r.name]) for r in recs]
            out += self._samples(lk, recs, ps)
            if now - lk.disk_at >= DISK_S:
                lk.disk_at = now
                try:
                    sizes = await asyncio.to_thread(node.disk_usage, recs)
                except (SshError, OSError) as e:
                    log.info("disk use on node %s: %s", name, e)
                    continue  # the next poll notices a dead link; disk use waits for the next round
                by_slug = {r.slug: r.name for r in recs}
                out.append(DiskUse({by_slug[s]: v for s, v in sizes.items() if s in by_slug}))
        return out

    def _down(self, name: str, lk: LinkState, error: str) -> LinkDown:
        if not lk.known:
            return LinkDown(name, error, first=False, known=False)
        first = lk.up
        lk.up = False
        lk.error = error
        lk.next_try = self.clock.monotonic() + BACKOFF_S[min(lk.failures, len(BACKOFF_S) - 1)]
        lk.failures += 1
        return LinkDown(name, error, first=first)

    def _up(self, name: str, lk: LinkState) -> LinkUp:
        recovered = lk.known and not lk.up
        lk.known = True
        lk.up = True
        lk.failures = 0
        lk.error = None
        return LinkUp(name, lk.latency_ms, recovered)

    def _samples(self, lk: LinkState, recs: list[SessionRecord], ps: str) -> list[NodeUpdate]:
        if not ps:
            return []
        children, info = parse_ps(ps)
        mono = self.clock.monotonic()
        out: list[NodeUpdate] = []
        for rec in recs:
            pid = rec.remote_pid
            if not pid or pid not in info:
                continue
            cpu, rss, n = tree_totals(pid, children, info)
            prev = lk.cpu_prev.get(pid)
            lk.cpu_prev[pid] = (mono, cpu)
            pct = max(0.0, (cpu - prev[1]) / (mono - prev[0]) * 100.0) if prev and mono > prev[0] else None
            out.append(SessionSample(rec.name, TreeSample(cpu_percent=pct, rss_bytes=rss, processes=n)))
        return out

    def health(self) -> dict[str, dict[str, object]]:
        """What ``state.nodes`` shows: every node reached so far."""
        return {n: {"name": n, "reachable": lk.up, "latency_ms": lk.latency_ms, "error": lk.error,
                    "checked_at": self.clock.time()}
                for n, lk in self.links.items() if lk.known}


def verify_on_node(node: PolledNode, rec: SessionRecord, command: str, head: str | None, *,
                   repo: Path, state_dir: Path, run: str) -> QueueEntry:
    """Run a session's verify command on its node (blocking) and record it in the review queue."""
    from cortex_tui.review.models import VerifyResult
    from cortex_tui.review.queue import ReviewQueue

    q = ReviewQueue.open(repo, state_dir, run)
    start = time.perf_counter()  # a real duration
    code, timed_out, tail, output = node.run_verify(rec.slug, command)
    path = q.verify_log_path(rec.slug)
    private_dir(path.parent)
    with open_private(path, "wb") as f:
        f.write(output)
    if code == 127 and not output:
        tail = f"worktree {rec.worktree} is missing on node {rec.node}"
    return q.set_verify(rec.name, VerifyResult(
        exit_code=code, duration_s=round(time.perf_counter() - start, 3), tail=tail, command=command,
        timed_out=timed_out, head=head, log_path=str(path)))
