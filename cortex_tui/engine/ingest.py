"""Observations into rules: new log bytes, agent events, usage, changed files and process samples.

:class:`Ingest` reads what the watcher (or a remote poll's mirror) reported, turns it into rule inputs
and applies the resulting trigger changes through the :class:`~cortex_tui.engine.triggers.TriggerBook`.
It runs no tmux and no git: the files it reads are local, the changed paths come already computed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cortex_tui.agents.base import AgentAdapter, AgentSignal
from cortex_tui.backends.sandbox import EROFS, REFUSED_MARK, blocked_path, refused_target
from cortex_tui.engine.clock import Clock
from cortex_tui.engine.events import EventBus
from cortex_tui.engine.log_lines import Lines, split_chunk
from cortex_tui.engine.sampling import worth_saving
from cortex_tui.engine.sandbox_writes import flag_blocked
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.triggers import TriggerBook
from cortex_tui.engine.usage import UsageBook
from cortex_tui.model.state import SessionState
from cortex_tui.resources import TreeSample
from cortex_tui.scope import in_scope
from cortex_tui.store.files import RunStore
from cortex_tui.watch.outside import outside_worktree, written_path
from cortex_tui.watch.rules import OverlapTracker, TriggerChange
from cortex_tui.watch.text import clean_line

_CURSOR_MOVE = re.compile(rb"\x1b\[\d*[CG]")
"""Cursor-forward / to-column sequences (CSI n C, CSI n G)."""
_CURSOR_DOWN = re.compile(rb"\x1b\[\d*B")
"""Cursor-down (CSI n B): a TUI's next line."""

log = logging.getLogger("cortex_tui.engine")
REFUSED = REFUSED_MARK.encode()

MAX_PARTIAL = 65536
"""A line longer than this many bytes without a newline is taken as it is."""


CHUNK = 256 << 10
"""A log is read this many bytes at a time (a TUI agent's chunk is cleaned whole, then skimmed: ~3 ms per turn)."""
OUTPUT_SAVE_S = 1.0
"""New output alone (log offsets) marks the state dirty at most this often; triggers and states at once."""


def read_stamped(path: Path, offset: int, size: int = -1) -> tuple[bytes, float | None]:
    """:func:`read_from`, and when the file was last written (its mtime: the newest bytes' time)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(size), os.fstat(f.fileno()).st_mtime
    except FileNotFoundError:
        return b"", None


def read_from(path: Path, offset: int, size: int = -1) -> bytes:
    """Up to ``size`` bytes of ``path`` from ``offset`` on (nothing when it does not exist yet)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(size)
    except FileNotFoundError:
        return b""


HINT_LINES = 10
"""How many of the new lines are matched against the prompt patterns (a dialog: question and options)."""
_HINTS: dict[int, tuple[list[re.Pattern[str]], list[re.Pattern[str]]]] = {}


def prompt_hint(adapter: AgentAdapter, lines: list[str], partial: bytes) -> bool:
    """Whether new output looks like an approval prompt (the adapter's patterns, per line, over the new
    lines and the unfinished last one: a ``[y/n]`` question waits without a newline)."""
    own = adapter.approval_patterns
    cached = _HINTS.get(id(own))
    if cached is None or cached[0] is not own:
        cached = _HINTS[id(own)] = (own, [re.compile(p.pattern, p.flags | re.MULTILINE) for p in own])
    pats = cached[1]
    if not pats:
        return False
    tail = lines[-HINT_LINES:]
    if partial and len(partial) < 4096:
        tail = [*tail, clean_line(partial.decode("utf-8", errors="replace"))]
    text = "\n".join(tail)
    return any(p.search(text) for p in pats)


class Ingest:
    """Feeds one run's observations into its sessions' rules."""

    def __init__(self, *, clock: Clock, store: RunStore, book: TriggerBook, bus: EventBus, usage: UsageBook,
                 overlap: OverlapTracker, runtimes: Mapping[str, SessionRuntime], best_of: bool,
                 saw_output: Callable[[SessionRuntime, bool], None], on_dirty: Callable[[], None]) -> None:
        self.clock = clock
        self.store = store
        self.book = book
        self.bus = bus
        self.usage = usage
        self.overlap = overlap
        self.runtimes = runtimes
        self.best_of = best_of
        """Variants of one task always overlap: no overlap triggers in best-of runs."""
        self.saw_output = saw_output
        """New output (and whether it looks like a prompt): the screen checks decide when to look."""
        self.on_dirty = on_dirty
        self._draining: set[str] = set()
        """Sessions whose log has more to read (a continuation is scheduled on the loop)."""
        self._output_saved = float("-inf")
        self.watch_agent_file: Callable[[SessionRuntime, Path], None] = lambda rt, path: None
        """Set by the change router: an adapter's own session file is read on change from then on."""

    def read_log(self, rt: SessionRuntime) -> None:
        """New bytes of the session's terminal log: output lines, error rule, progress, prompt check.

        At most :data:`CHUNK` bytes at a time: a large unread log (a re-attach after a long absence) is read
        in turns on the event loop (bounded memory, the loop stays responsive); :meth:`drain_log` reads all."""
        if self._read_chunk(rt) and rt.rec.name not in self._draining:
            self._draining.add(rt.rec.name)
            asyncio.get_running_loop().call_soon(self._continue, rt)

    def _continue(self, rt: SessionRuntime) -> None:
        self._draining.discard(rt.rec.name)
        self.read_log(rt)

    async def drain_log(self, rt: SessionRuntime) -> None:
        """Read the log to its end (in turns), e.g. before an exit is judged on the session's tail."""
        while self._read_chunk(rt):
            await asyncio.sleep(0)

    def _read_chunk(self, rt: SessionRuntime) -> bool:
        """One chunk; True when more is waiting."""
        rec = rt.rec
        data, written = read_stamped(self.store.log_path(rec.slug), rec.log_offset, CHUNK)
        if not data:
            return False
        rt.output_written_at = written
        with self.book.caused_at(written):  # triggers from these lines were caused when they were written
            return self._lines(rt, data)

    def _lines(self, rt: SessionRuntime, data: bytes) -> bool:
        rec = rt.rec
        rec.log_offset += len(data)
        buf = rt.partial + data
        cut = buf.rfind(b"\n")
        complete, rt.partial = (buf[:cut], buf[cut + 1:]) if cut >= 0 else (None, buf)
        if len(rt.partial) > MAX_PARTIAL:
            complete = rt.partial if complete is None else complete + b"\n" + rt.partial
            rt.partial = b""
        now = self.clock.time()
        got = split_chunk(rt.adapter, complete) if complete is not None else Lines([], [])
        lines = got.lines
        rt.tail.extend(lines)
        for line in got.errors:
            self.book.apply(rt, rt.errors.error(now, line))
        if lines and rec.state.live:
            for sig in rt.adapter.output_signals(lines):
                self.on_signal(rt, sig)
        if rec.sandbox and complete is not None and REFUSED in complete:  # the allowlist proxy's refusals
            for raw in complete.split(b"\n"):
                if (target := refused_target(raw.decode("utf-8", "replace"))) is not None:
                    self.book.emit("network_refused", rec.name, host=target[0], port=target[1])
        refused = bool(rec.sandbox) and b"Read-only" in buf
        if refused:  # writes the sandbox refused, the unfinished line's too: a
            # full-screen TUI (OpenCode) may write no newline for minutes; a path is flagged once, however often
            # it is seen. It draws spaces as cursor moves (Claude Code): those are read as spaces
            for raw in _CURSOR_DOWN.sub(b"\n", _CURSOR_MOVE.sub(b" ", buf)).split(b"\n"):
                if EROFS in raw and (blocked := blocked_path(clean_line(raw.decode("utf-8", "replace")))):
                    flag_blocked(self.book, rt, blocked, clean_line(raw.decode("utf-8", "replace")))
        rec.last_output_at = now
        if rt.adapter.progress == "output" or (rt.adapter.progress == "lines" and lines):
            self.book.progress(rt, lines[-1] if lines else None)
        if lines:
            self.bus.publish(self.bus.make("output", rec.name, lines=lines))
        if rec.state.live and rt.detects_approval:  # a refused write asks for a look too (engine/sandbox_writes.py)
            self.saw_output(rt, prompt_hint(rt.adapter, lines, rt.partial) or refused)
        mono = time.monotonic()  # real time: this paces disk writes
        if mono - self._output_saved >= OUTPUT_SAVE_S:  # output alone is saved (offsets) at this pace
            self._output_saved = mono
            self.on_dirty()
        return len(data) == CHUNK

    def read_agent_events(self, rt: SessionRuntime) -> None:
        """New whole lines of the agent's events file: each is progress, and may carry signals."""
        rec = rt.rec
        data, written = read_stamped(self.store.events_file(rec.slug), rec.events_offset)
        end = data.rfind(b"\n")
        if end < 0:
            return
        with self.book.caused_at(written):  # the records' triggers were caused when they were appended
            self._records(rt, data, end)

    def _records(self, rt: SessionRuntime, data: bytes, end: int) -> None:
        rec = rt.rec
        rec.events_offset += end + 1
        bad = 0
        for raw in data[: end + 1].splitlines():
            try:
                ev = json.loads(raw)
            except ValueError:
                bad += 1
                continue
            if not isinstance(ev, dict):
                bad += 1
                continue
            self.book.progress(rt)
            self._outside(rt, ev)
            for sig in rt.adapter.interpret_event(ev):
                self.on_signal(rt, sig)
        if bad:  # an agent (or its hook) wrote something that is not an event: skipped, but not silently
            log.warning("%s: %d line(s) of %s are not JSON objects; skipped", rec.name, bad,
                        self.store.events_file(rec.slug))
        self.on_dirty()

    def _outside(self, rt: SessionRuntime, ev: dict[str, Any]) -> None:
        """A tool call that writes outside the worktree (through a symlink, ``..`` or an absolute path)."""
        call = written_path(ev)
        if call is None:
            return
        target = outside_worktree(call[0], call[1], rt.rec.worktree)
        if target is not None:
            self.flag_outside(rt, target, tool=call[2], requested=call[0])

    def flag_outside(self, rt: SessionRuntime, target: str, **extra: str) -> None:
        """One out_of_scope per resolved path outside the worktree (Pre- and PostToolUse both name it)."""
        key = f"outside:{target}"
        if any(t.kind == "out_of_scope" and t.key == key for t in rt.rec.triggers):
            return
        self.book.apply(rt, TriggerChange("out_of_scope", True, {
            "path": target, "change": "outside worktree", **extra, "scope": list(rt.spec.scope)},
            key=key, severity="error"))

    def on_signal(self, rt: SessionRuntime, sig: AgentSignal) -> None:
        rec = rt.rec
        if sig.kind == "usage" and sig.usage is not None:
            self.usage.add(rt, sig.usage, sig.model or rt.spec.model, total=sig.total, cost=sig.cost_usd)
        elif sig.kind == "waiting":
            self.book.apply(rt, rt.approval.structured(sig.text or "permission requested"))
        elif sig.kind == "blocked":
            self.book.apply(rt, TriggerChange("out_of_scope", True, {"path": sig.text, "change": "blocked",
                                                                     "scope": list(rt.spec.scope)},
                                              key=f"blocked:{sig.text}", severity="warning"))
        elif sig.kind == "error" and sig.text:  # a failed tool call the agent reported (not in its output)
            self.book.apply(rt, rt.errors.error(self.clock.time(), sig.text))
        elif sig.kind == "outside" and sig.text:  # a write outside the worktree (the watcher cannot see it)
            self.flag_outside(rt, sig.text)
        elif sig.kind in ("busy", "progress") and rec.state is SessionState.IDLE:
            self.book.set_state(rt, SessionState.RUNNING, None)
        elif sig.kind == "idle" and rec.state is SessionState.RUNNING:
            self.book.set_state(rt, SessionState.IDLE, None)
        if sig.kind == "busy" and rt.approval.prompt is not None and rt.approval.by_screen:
            self.saw_output(rt, True)  # a dialog only the screen showed: the screen says whether it is gone
        elif sig.kind in ("busy", "idle", "finished") and rt.approval.prompt is not None and sig.text != "waiting":
            self.book.apply(rt, rt.approval.structured_end())
            if sig.kind == "idle" and rec.state is SessionState.RUNNING:
                self.book.set_state(rt, SessionState.IDLE, None)

    def poll_usage(self, rt: SessionRuntime) -> None:
        """Adapters whose usage lives in files the agent appends to (transcripts) are re-read."""
        poll = getattr(rt.adapter, "poll_usage", None)
        if poll is None:
            return
        sigs = poll()
        for path in rt.adapter.watch_files():
            self.watch_agent_file(rt, path)
        if sigs and rt.rec.state.live and rt.adapter.look_at_screen():
            self.saw_output(rt, True)
        if sigs:  # what the agent appended to its own records is progress (as an events-file line is)
            self.book.progress(rt)
        for sig in sigs:
            self.on_signal(rt, sig)

    def apply_changed(self, rt: SessionRuntime, changed: dict[str, str]) -> None:
        """Files that differ from the base (path -> added/modified/deleted): scope, overlap, progress."""
        # pathspecs of new directories cover the files inside them (inotify may miss those)
        ignore = [*rt.spec.ignore, *rt.adapter.own_files]
        for path, real in sorted(changed.items()):
            if ignore and in_scope(path, ignore):
                continue
            if path not in rt.rec.changed_files:
                rt.rec.changed_files.append(path)
            self.book.apply(rt, rt.scope.change(path, real))
            if rt.rec.state.live and not self.best_of:
                for name, change in self.overlap.change(rt.rec.name, path):
                    self.book.apply(self.runtimes[name], change)
        if rt.adapter.progress in ("output", "lines"):
            self.book.progress(rt)
        self.on_dirty()

    def apply_sample(self, rt: SessionRuntime, s: TreeSample, now: float) -> bool:
        """CPU/RSS of a session's process tree (local /proc scan or the node's `ps`). Returns whether what the
        record shows changed enough to be worth a save (:func:`~cortex_tui.engine.sampling.worth_saving`)."""
        if rt.rec.state.terminal:  # a sample taken while it still ran arrives after its end: not shown as 0
            return False
        before = (rt.rec.cpu_percent, rt.rec.rss_bytes, rt.rec.serving)
        rt.rec.rss_bytes = s.rss_bytes
        rt.rec.serving = list(s.serving)
        if s.cpu_percent is not None:
            rt.rec.cpu_percent = round(s.cpu_percent, 1)
            # an agent whose UI animates while it waits (adapter.ui_processes): only its commands' CPU is work
            work = s.work_cpu_percent if rt.adapter.ui_processes else s.cpu_percent
            if work is not None:
                self.book.apply(rt, rt.silence.cpu(now, work))
        if rt.memory is not None:
            self.book.apply(rt, rt.memory.value(s.rss_bytes, processes=s.processes))
        self.bus.publish(self.bus.make("stats", rt.rec.name, cpu_percent=rt.rec.cpu_percent,
                                       rss_bytes=rt.rec.rss_bytes, disk_bytes=rt.rec.disk_bytes))
        return worth_saving(before, (rt.rec.cpu_percent, rt.rec.rss_bytes, rt.rec.serving))
