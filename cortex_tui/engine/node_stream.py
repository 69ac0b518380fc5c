"""Streams from polled nodes: one long-lived watcher per node (:mod:`cortex_tui.backends.remote_stream`) over
the ssh master, so a node's output, agent events, exit codes and worktree changes land here as they happen
instead of with the next poll.

Records are read in a thread per node and applied on the event loop, into the same local mirror files
the poll writes (:mod:`cortex_tui.engine.mirror`), by byte offset: whatever the poll or the stream brings,
only bytes that continue a session's offset are written, so after a link cut the poll catches up exactly
once and the restarted watcher goes on from the offsets then reached. A worktree's changed files (paths
that differ from the session's base, as the node's git says) are applied like the poll's: only paths not
known yet. The poll stays (every second: link health, the node's process table, changed files, transcripts)
and is the catch-up for everything else.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cortex_tui.backends.node import SessionPaths
from cortex_tui.backends.remote_poll import parse_changed
from cortex_tui.backends.remote_stream import (
    MAX_LINE,
    BadRecord,
    ChangedRecord,
    DataRecord,
    ExitRecord,
    Hello,
    Record,
    WatchItem,
    parse_record,
    watch_line,
)
from cortex_tui.engine.clock import Clock
from cortex_tui.engine.mirror import append_events, append_log
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.model.state import SessionRecord
from cortex_tui.store.files import atomic_write

log = logging.getLogger("cortex_tui.engine")

RESTART_S = 2.0
"""A watcher that ended is started again at most this often (while its node's polls succeed)."""
GIVE_UP = 3
"""Watchers that end this many times in a row without a word (no python3 on the node?): poll only."""



@runtime_checkable
class StreamingNode(Protocol):
    """A polled node that can also run a watcher (an ssh node)."""

    def open_stream(self) -> subprocess.Popen[bytes]:
        """Start the node's watcher over the link (blocking: may connect first)."""
        ...

    def stream_paths(self, rec: SessionRecord) -> tuple[str, str, str]:
        """The session's log, events and exit-code files on the node."""
        ...


@dataclass
class StreamStats:
    """What a node's stream did (also what tests and ``state.nodes[..]["stream"]`` look at)."""

    starts: int = 0
    ends: int = 0
    records: int = 0
    log_bytes: int = 0
    """Log bytes the stream wrote into the local mirrors."""
    event_bytes: int = 0
    exits: int = 0
    changes: int = 0
    """Worktree records that brought paths not known yet (applied as the poll's changed files are)."""
    skipped: int = 0
    """Records already applied (by the poll) or beyond a gap (left to the poll)."""
    poll_log_bytes: int = 0
    """Log bytes the poll wrote (catch-up: the stream was down or behind)."""
    up: bool = False
    error: str | None = None
    silent_ends: int = 0
    """Watchers in a row that ended before saying hello (:data:`GIVE_UP` of them: the poll alone)."""

    def info(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class _Watcher:
    proc: subprocess.Popen[bytes] | None = None
    thread: threading.Thread | None = None
    sent: list[WatchItem] = field(default_factory=list)
    ended: bool = False
    ended_at: float = float("-inf")


class NodeStreams:
    """Watchers of polled nodes, and applying their records."""

    def __init__(self, *, clock: Clock, local_paths: Callable[[SessionRecord], SessionPaths],
                 on_dirty: Callable[[], None],
                 on_changed: Callable[[SessionRuntime, dict[str, str]], None] | None = None) -> None:
        self.clock = clock
        self.local_paths = local_paths
        self.on_dirty = on_dirty
        self.on_changed = on_changed
        """Changed files of a session's worktree (path -> kind), only paths it had not changed before."""
        self.stats: dict[str, StreamStats] = {}
        self._w: dict[str, _Watcher] = {}
        self._ids: dict[str, dict[str, tuple[SessionRuntime, str]]] = {}

    def stats_for(self, node: str) -> StreamStats:
        return self.stats.setdefault(node, StreamStats())

    def sync(self, node: str, target: object, rts: list[SessionRuntime], base: str = "") -> None:
        """After a good poll of ``node``: make sure its watcher runs and watches ``rts`` (their worktrees
        against their base commit, else ``base``)."""
        if not isinstance(target, StreamingNode) or self.stats_for(node).silent_ends >= GIVE_UP:
            return
        ids: dict[str, tuple[SessionRuntime, str]] = {}
        items: list[WatchItem] = []
        for rt in rts:
            r = rt.rec
            key = f"{r.slug}.{r.attempt}"  # a restart's offsets start afresh: a new watch
            lg, ev, ex = target.stream_paths(r)
            for kind, path, off, mode in (("log", lg, r.remote_log_offset, "bytes"),
                                          ("events", ev, r.remote_events_offset, "lines"), ("exit", ex, 0, "exit")):
                ids[f"{key}:{kind}"] = (rt, kind)
                items.append((f"{key}:{kind}", path, off, mode, ""))
            wt_base = r.base_commit or base
            if self.on_changed is not None and r.worktree and wt_base:
                ids[f"{key}:tree"] = (rt, "tree")
                items.append((f"{key}:tree", r.worktree, 0, "tree", wt_base))
        self._ids[node] = ids
        w = self._w.get(node)
        if w is not None and w.ended:
            if self.clock.monotonic() - w.ended_at < RESTART_S:
                return
            w = None
        if w is None:
            if not items:
                return
            w = self._w[node] = _Watcher()
            self._start(node, w, target.open_stream, items)
            return
        if {i[0] for i in items} != {i[0] for i in w.sent}:
            self._send(node, w, items)

    def _start(self, node: str, w: _Watcher, opener: Callable[[], subprocess.Popen[bytes]],
               items: list[WatchItem]) -> None:
        loop = asyncio.get_running_loop()
        st = self.stats_for(node)
        st.starts += 1
        w.sent = items

        def run() -> None:
            err = "ended"
            try:
                w.proc = proc = opener()
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(watch_line(items))
                proc.stdin.flush()
                out = proc.stdout
                for line in iter(lambda: out.readline(MAX_LINE + 1024), b""):  # bounded: refused past that
                    loop.call_soon_threadsafe(self._apply, node, parse_record(line))
            except BadRecord as e:
                err = f"bad record: {e}"
            except (OSError, ValueError) as e:  # the link or the process went away
                err = str(e) or type(e).__name__
            finally:
                if w.proc is not None:
                    _stop(w.proc)
                try:
                    loop.call_soon_threadsafe(self._ended, node, w, err)
                except RuntimeError:  # the loop is closed: the supervisor is gone
                    pass

        w.thread = threading.Thread(target=run, name=f"node-stream-{node}", daemon=True)
        w.thread.start()

    def _send(self, node: str, w: _Watcher, items: list[WatchItem]) -> None:
        w.sent = items
        proc = w.proc
        if proc is None or proc.stdin is None:
            return  # still starting: it started with an older set; the next sync sends this one
        try:
            proc.stdin.write(watch_line(items))
            proc.stdin.flush()
        except (OSError, ValueError) as e:
            log.info("node %s: stream: %s", node, e)

    def _ended(self, node: str, w: _Watcher, err: str) -> None:
        w.ended = True
        w.ended_at = self.clock.monotonic()
        st = self.stats_for(node)
        st.ends += 1
        if not st.up:
            st.silent_ends += 1
        st.up = False
        st.error = err
        if w.sent and self._w.get(node) is w and w.proc is not None and w.proc.returncode not in (0, None, -15):
            log.info("node %s: watcher ended (%s, exit %s); the poll catches up", node, err, w.proc.returncode)

    def _apply(self, node: str, rec: Record) -> None:
        st = self.stats_for(node)
        st.records += 1
        if isinstance(rec, Hello):
            st.up = True
            st.error = None
            st.silent_ends = 0
            return
        target = self._ids.get(node, {}).get(rec.id)
        if target is None:
            st.skipped += 1
            return
        rt, kind = target
        paths = self.local_paths(rt.rec)
        if isinstance(rec, DataRecord):
            data = rec.payload()
            if kind == "log":
                n = append_log(rt.rec, paths, rec.at, data)
                st.log_bytes += n
            elif kind == "events":
                n = append_events(rt.rec, paths, rec.at, data)
                st.event_bytes += n
            else:
                n = 0
            if not n:
                st.skipped += 1
                return
        elif isinstance(rec, ExitRecord):
            code = rec.code
            if kind != "exit" or code is None or rt.rec.remote_log_offset < rec.log_at:
                st.skipped += 1  # the output before it is not all here yet: the poll brings both in order
                return
            atomic_write(paths.exit, f"{code}\n")
            st.exits += 1
        elif isinstance(rec, ChangedRecord):
            changed = parse_changed(rec.payload()) if kind == "tree" and rt.rec.state.live else {}
            new = {p: k for p, k in changed.items() if p not in rt.rec.changed_files}
            if not new or self.on_changed is None:
                st.skipped += 1
                return
            st.changes += 1
            self.on_changed(rt, new)
        self.on_dirty()

    def process(self, node: str) -> subprocess.Popen[bytes] | None:
        """The local end (the ssh client) of the node's running watcher, if any."""
        w = self._w.get(node)
        return None if w is None or w.ended else w.proc

    def stop(self, node: str) -> None:
        """The node's link is down (or the run ends): stop its watcher; the poll catches up later."""
        w = self._w.pop(node, None)
        if w is not None and w.proc is not None:
            _stop(w.proc)

    def close(self) -> None:
        for node in list(self._w):
            self.stop(node)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
