"""``state.json`` and ``status.md`` written off the event loop (latest wins).

:meth:`Journal.save <cortex_tui.engine.journal.Journal.save>` takes a :class:`Snapshot` on the loop — the state
serialised, ``status.md`` rendered, what to do once both are durable — so the loop goes on changing the state
while a thread writes it. The two atomic writes (tmp + fsync + rename each: 1–70 ms on a busy disk, up to
4×/s under load) used to run on the loop; :class:`StateWriter` runs them in one thread, one write at a time.
A snapshot taken while one is being written replaces any still waiting: the newest wins, and a snapshot is
never written after a newer one (each has a sequence number; the writes hold one lock and skip anything not
newer than what is on disk). :meth:`StateWriter.write_now` writes in the calling thread (a forced save: durable
when it returns), :meth:`StateWriter.durable` awaits one. The pattern is :mod:`cortex_tui.engine.event_sync`'s.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cortex_tui.errors import DiskError
from cortex_tui.store.files import atomic_write

log = logging.getLogger("cortex_tui.engine")


@dataclass(frozen=True)
class Snapshot:
    """The run's files as they were at one moment (taken on the loop)."""

    seq: int
    state_json: tuple[str, ...]
    """state.json's text in parts (:meth:`RunStore.dump_parts <cortex_tui.store.files.RunStore.dump_parts>`)."""
    status_md: str
    after: Callable[[], None] | None = None
    """Run on the loop once this snapshot is on disk (log rotation: the offsets it holds are durable)."""


class StateWriter:
    """Writes the newest :class:`Snapshot` in a background thread (asks while one is written: the newest next)."""

    def __init__(self, state_path: Path, status_path: Path, *, on_durable: Callable[[Snapshot], None],
                 on_error: Callable[[DiskError], None]) -> None:
        self.state_path = state_path
        self.status_path = status_path
        self.on_durable = on_durable
        """Called in the loop that submitted, after the snapshot's writes (not for one a newer write superseded)."""
        self.on_error = on_error
        """Called in the loop that submitted, with the DiskError of a write that failed."""
        self._cond = threading.Condition()
        """Guards the fields below (held briefly, never across a write)."""
        self._write_lock = threading.Lock()
        """Held across a write: one at a time, in sequence."""
        self._pending: Snapshot | None = None
        self._written = 0
        """The newest sequence number on disk (or whose write failed: it is not retried, a newer save is)."""
        self._closed = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def written(self) -> int:
        """The newest sequence number whose write ended (on disk, or failed)."""
        with self._cond:
            return self._written

    def submit(self, snap: Snapshot, loop: asyncio.AbstractEventLoop) -> None:
        """(The loop.) Write ``snap`` soon, in place of any snapshot still waiting. After :meth:`close`: now."""
        with self._cond:
            if self._closed:
                closed = True
            else:
                closed = False
                self._loop = loop
                if self._pending is None or self._pending.seq < snap.seq:
                    self._pending = snap
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="cortex-state-writer", daemon=True)
                    self._thread.start()
                self._cond.notify()
        if closed:
            try:
                if self.write_now(snap):
                    self.on_durable(snap)
            except DiskError as e:
                self.on_error(e)

    async def durable(self, seq: int) -> None:
        """(The loop.) Return once snapshot ``seq`` or a newer one was written (or its write failed: the error
        went to ``on_error``)."""
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._written >= seq:
                return
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append((seq, fut))
        await fut

    def write_now(self, snap: Snapshot) -> bool:
        """Write ``snap`` in this thread, after the write in flight (if any); a waiting older snapshot is dropped.
        Raises :class:`DiskError`; False when a newer snapshot was on disk already. The caller runs ``on_durable``
        itself (it is on the loop, or there is none)."""
        with self._cond:
            if self._pending is not None and self._pending.seq <= snap.seq:
                self._pending = None
        return self._write(snap)

    def close(self) -> None:
        """(Any thread but the writer.) Write what is waiting now and stop the thread; a later :meth:`submit`
        writes in place."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        self._thread = None
        with self._cond:
            snap, self._pending = self._pending, None
        if snap is not None:
            try:
                self._write(snap)
            except DiskError as e:
                log.error("%s", e)

    def _write(self, snap: Snapshot) -> bool:
        """Write ``snap`` unless a newer one is on disk already (False then)."""
        with self._write_lock:
            with self._cond:
                if snap.seq <= self._written:
                    return False
            try:
                atomic_write(self.state_path, snap.state_json)
                atomic_write(self.status_path, snap.status_md)
            finally:
                with self._cond:
                    self._written = snap.seq
                    done = [f for s, f in self._waiters if s <= snap.seq]
                    self._waiters = [(s, f) for s, f in self._waiters if s > snap.seq]
                loop = self._loop
                if done and loop is not None:
                    self._call(loop, _resolve, done)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                snap, self._pending = self._pending, None
                loop = self._loop
            if snap is None or loop is None:
                continue
            try:
                if self._write(snap):
                    self._call(loop, self.on_durable, snap)
            except DiskError as e:
                self._call(loop, self.on_error, e)
            except Exception as e:  # anything else (a bug) must not end the thread: saves would wait forever
                log.exception("state writer: writing %s failed", self.state_path)
                self._call(loop, self.on_error, DiskError(
                    f"{self.state_path}: writing failed: {type(e).__name__}: {e}",
                    "an internal error (see supervisor.log); the sessions keep running, `cortex-tui up` re-attaches"))

    @staticmethod
    def _call(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: object) -> None:
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed meanwhile: nobody is left to tell
            log.debug("state writer: the loop closed before %s could run", getattr(fn, "__name__", fn))


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for f in futures:
        if not f.done():
            f.set_result(None)
