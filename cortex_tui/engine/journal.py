"""Writing the run down: each event appended to ``events.jsonl`` then published, ``state.json`` and
``status.md`` saved (throttled), and what a disk that cannot take them means.

A state change saves at most every 0.25 s; CPU/RSS samples alone at most every :data:`STATS_SAVE_S`. Such a
save is serialised on the loop and written by a thread (engine/state_writer.py); a forced save
(``save(force=True)``: spawn placements, verdicts, start, shutdown) is written before it returns, and
:meth:`Journal.save_durable` awaits one without blocking the loop. A :class:`~cortex_tui.errors.DiskError`
(full disk, read-only) is kept in :attr:`Journal.fatal` and stops supervising through ``on_fatal`` — the
sessions keep running in tmux, the next start re-attaches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cortex_tui.engine.clock import Clock
from cortex_tui.engine.event_sync import EventSync
from cortex_tui.engine.events import EPHEMERAL_KINDS, EventBus, EventKind
from cortex_tui.engine.state_writer import Snapshot, StateWriter
from cortex_tui.errors import DiskError
from cortex_tui.model.state import RunState
from cortex_tui.store.files import RunStore
from cortex_tui.store.status import render_status_md

log = logging.getLogger("cortex_tui.engine")

DIRTY_SAVE_S = 0.25
"""A state change rewrites state.json at most this often."""
STATS_SAVE_S = 10.0
"""CPU/RSS samples alone rewrite state.json at most this often."""


class Journal:
    """The run's files as the engine writes them (events, state, status)."""

    def __init__(self, *, clock: Clock, store: RunStore, bus: EventBus, status_path: Path,
                 state: Callable[[], RunState | None], on_fatal: Callable[[], None]) -> None:
        self.clock = clock
        self.store = store
        self.bus = bus
        self.status_path = status_path
        self.state = state
        """The run's state, or None before ``start()`` made it (nothing to save yet)."""
        self.on_fatal = on_fatal
        self.dirty = False
        """The state changed: save soon."""
        self.stats_dirty = False
        """Only samples changed: save when :data:`STATS_SAVE_S` have passed."""
        self.last_save = 0.0
        self.fatal: DiskError | None = None
        """Why supervision stopped early: the run's files could not be written."""
        self.after_save: Callable[[RunState], Callable[[], None] | None] | None = None
        """Called on the loop as each save's snapshot is taken; what it returns runs on the loop once that
        snapshot is on disk (log rotation: the offsets it holds are durable then, not the live ones)."""
        self.sync = EventSync(store.events_path, self.disk_failed)
        """events.jsonl's fsync, off the loop (each append is one write on the loop: engine/event_sync.py)."""
        self.writer = StateWriter(store.state_path, status_path, on_durable=self._durable, on_error=self.disk_failed)
        """state.json and status.md written off the loop, newest first (engine/state_writer.py)."""
        self._seq = 0
        self._durable_seq = 0
        self._shared: asyncio.Future[None] | None = None
        """The save that callers of :meth:`durable_now` in this loop turn wait for (one snapshot for them all)."""

    def mark_dirty(self) -> None:
        self.dirty = True

    def emit(self, kind: EventKind, session: str | None, /, **data: Any) -> None:
        ev = self.bus.make(kind, session, **data)
        if kind not in EPHEMERAL_KINDS:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None  # (no loop: synced in place)
            try:
                self.store.append_event(ev, fsync=loop is None)
            except DiskError as e:
                self.disk_failed(e)
            else:
                if loop is not None:
                    self.sync.request(loop)
        self.bus.publish(ev)

    def disk_failed(self, e: DiskError) -> None:
        """The first disk error is kept (the supervisor raises it: exit code 4) and supervision stops."""
        if self.fatal is None:
            self.fatal = e
            log.error("%s", e)
        self.on_fatal()

    def save(self, force: bool = False) -> None:
        """Save the state (throttled unless ``force``). Forced or without a running loop: on disk when this
        returns; otherwise written by the writer thread soon."""
        snap = self._snapshot(force)
        if snap is None:
            return
        loop = None
        if not force:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
        if loop is not None:
            self.writer.submit(snap, loop)
            return
        try:
            written = self.writer.write_now(snap)
        except DiskError as e:
            self.disk_failed(e)
            return
        if written:
            self._durable(snap)

    async def save_durable(self) -> None:
        """(The loop.) A forced save that does not block the loop: returns once it is on disk (or failed:
        :meth:`disk_failed` ran)."""
        snap = self._snapshot(True)
        if snap is None:
            return
        self.writer.submit(snap, asyncio.get_running_loop())
        await self.writer.durable(snap.seq)

    async def durable_now(self) -> None:
        """(The loop.) The state as it is now is on disk when this returns, the loop free meanwhile; callers in
        the same loop turn share one snapshot (a pass that starts twenty spawns saves once, not twenty times).

        A spawn waits for it before its window is made: a supervisor killed after that finds the record as
        ``starting`` with its sandbox, node and attempt, and adopts the window (engine/reattach.py). Raises the
        :class:`~cortex_tui.errors.DiskError` when the run's files cannot be written (:meth:`disk_failed` ran)."""
        loop = asyncio.get_running_loop()
        if self._shared is None:
            self._shared = loop.create_future()
            loop.call_soon(self._save_shared, loop)
        await asyncio.shield(self._shared)
        if self.fatal is not None:
            raise self.fatal

    def _save_shared(self, loop: asyncio.AbstractEventLoop) -> None:
        shared, self._shared = self._shared, None
        assert shared is not None

        def done(_: object = None) -> None:
            if not shared.done():
                shared.set_result(None)

        snap = self._snapshot(True)
        if snap is None:
            done()
            return
        self.writer.submit(snap, loop)
        loop.create_task(self.writer.durable(snap.seq)).add_done_callback(done)

    def close(self) -> None:
        """(Off the loop, at the end.) The writer thread stops (a save still waiting is written first)."""
        self.writer.close()

    def _snapshot(self, force: bool) -> Snapshot | None:
        state = self.state()
        if state is None:
            return None
        mono = self.clock.monotonic()
        if not force:
            if self.dirty and mono - self.last_save < DIRTY_SAVE_S:
                return None
            if not self.dirty and not (self.stats_dirty and mono - self.last_save >= STATS_SAVE_S):
                return None
        self.dirty = False
        self.stats_dirty = False
        self.last_save = mono
        self._seq += 1
        after = self.after_save(state) if self.after_save is not None else None
        return Snapshot(self._seq, self.store.dump_parts(state), render_status_md(state), after)

    def _durable(self, snap: Snapshot) -> None:
        """(The loop.) ``snap`` is on disk: its ``after`` runs unless a newer snapshot's ran already."""
        if snap.seq <= self._durable_seq:
            return
        self._durable_seq = snap.seq
        if snap.after is not None:
            snap.after()
