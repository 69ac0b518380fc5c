"""events.jsonl's fsync runs off the event loop (engine/event_sync.py): every event is appended on the loop
(one write: a kill -9 of the supervisor loses none), and synced by a background thread; what is left is synced
when the journal closes. A real file and real fsyncs; the spy only records which thread called fsync."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from cortex_tui.engine.clock import SystemClock
from cortex_tui.engine.events import EventBus
from cortex_tui.engine.journal import Journal
from cortex_tui.store.files import RunStore


def test_events_are_appended_on_the_loop_and_synced_by_another_thread(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(tmp_path, "r")
    journal = Journal(clock=SystemClock(), store=store, bus=EventBus("r"), status_path=tmp_path / "status.md",
                      state=lambda: None, on_fatal=lambda: None)
    synced: list[str] = []  # the thread of each fsync of events.jsonl
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}") == str(store.events_path):
            synced.append(threading.current_thread().name)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)

    async def main() -> None:
        loop_thread = threading.current_thread().name
        # an earlier test of this worker may have left its (daemon) sync thread: only this journal's counts
        earlier = {t for t in threading.enumerate() if t.name == "cortex-event-sync"}
        for i in range(20):
            journal.emit("session_added", f"s{i}", origin="user")
        assert len(store.events_path.read_text().splitlines()) == 20  # each one written before emit returned
        for _ in range(200):
            if synced:
                break
            await asyncio.sleep(0.01)
        assert synced and loop_thread not in synced  # synced, and never on the loop
        assert len(synced) < 20  # one fsync covers the appends made before it
        n = len(synced)
        journal.emit("session_added", "last", origin="user")
        await asyncio.to_thread(journal.sync.close)
        assert len(synced) > n  # closing synced the last one
        assert not [t for t in threading.enumerate() if t.name == "cortex-event-sync" and t not in earlier]

    asyncio.run(main())
    assert len(store.events_path.read_text().splitlines()) == 21


def test_without_a_running_loop_an_event_is_synced_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(tmp_path, "r")
    journal = Journal(clock=SystemClock(), store=store, bus=EventBus("r"), status_path=tmp_path / "status.md",
                      state=lambda: None, on_fatal=lambda: None)
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(threading.current_thread().name)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    journal.emit("session_added", "s", origin="user")
    assert synced == [threading.current_thread().name]
