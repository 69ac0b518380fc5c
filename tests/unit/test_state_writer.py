"""state.json and status.md are written off the event loop (engine/state_writer.py): the snapshot is taken on
the loop, a thread writes it, the newest wins, and a forced save is on disk when it returns.

Real files, real fsyncs and renames; the spies only record what was renamed into place (and by which thread)
and hold the writer thread inside its fsync until the test lets it go, so that "while a write is in flight"
is a state of the test, not a matter of timing."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from cortex_tui.engine.clock import FakeClock
from cortex_tui.engine.events import EventBus
from cortex_tui.engine.journal import Journal
from cortex_tui.engine.state_writer import Snapshot
from cortex_tui.model.state import RunState, SessionRecord

WRITER = "cortex-state-writer"


def run_state() -> RunState:
    rec = SessionRecord(name="a", slug="a", agent="sim", branch="cortex/r/a", worktree="/nonexistent/a",
                        created_at=0.0, attempt=1)
    return RunState(run="r", layout_path="x", layout_text="", repo="/r", base="main", base_commit="0" * 40,
                    socket="s", created_at=0.0, sessions={"a": rec})


def on_disk(path: Path) -> int:
    """The log offset of session ``a`` in the state.json at ``path``."""
    return int(json.loads(path.read_text())["sessions"]["a"]["log_offset"])


class Disk:
    """Spies on os.replace (what lands, in order, from which thread) and holds the writer's fsyncs at a gate."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, held_threads: tuple[str, ...] = (WRITER,)) -> None:
        self.landed: list[tuple[int, str]] = []
        """(state.json's log offset, thread) for each state.json renamed into place."""
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()
        """The writer thread is waiting at the gate."""
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            if threading.current_thread().name in held_threads and not self.gate.is_set():
                self.held.set()
                self.gate.wait(30)
            real_fsync(fd)

        def replace(src: str | Path, dst: str | Path) -> None:
            if Path(dst).name == "state.json":
                self.landed.append((on_disk(Path(src)), threading.current_thread().name))
            real_replace(src, dst)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)


def journal_for(tmp_path: Path, state: RunState, clock: FakeClock,
                on_fatal: Callable[[], None] = lambda: None) -> Journal:
    from cortex_tui.store.files import RunStore

    return Journal(clock=clock, store=RunStore(tmp_path, "r"), bus=EventBus("r"), status_path=tmp_path / "status.md",
                   state=lambda: state, on_fatal=on_fatal)


def change(journal: Journal, state: RunState, clock: FakeClock, offset: int) -> None:
    """The state changes (the session's log read further) and the throttle's window passes."""
    state.sessions["a"].log_offset = offset
    journal.mark_dirty()
    clock.advance(1.0)


async def until(pred: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if pred():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


def test_a_newer_snapshot_is_never_overwritten_and_after_save_runs_once_its_snapshot_is_on_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = Disk(monkeypatch)
    state, clock = run_state(), FakeClock()
    journal = journal_for(tmp_path, state, clock)
    path = journal.store.state_path
    after: list[tuple[int, int, str]] = []  # (offset the snapshot held, offset on disk then, thread)

    def hook(s: RunState) -> Callable[[], None]:
        held = s.sessions["a"].log_offset
        return lambda: after.append((held, on_disk(path), threading.current_thread().name))

    journal.after_save = hook

    async def main() -> None:
        disk.gate.clear()
        change(journal, state, clock, 100)
        journal.save()  # snapshot 1: the writer thread takes it and stops inside its fsync
        await until(disk.held.is_set, "the writer holds snapshot 1")
        assert not path.exists() and after == []  # not on disk yet: its after_save has not run
        change(journal, state, clock, 200)
        journal.save()  # snapshot 2 waits…
        change(journal, state, clock, 300)
        journal.save()  # …and snapshot 3 replaces it
        state.sessions["a"].log_offset = 999  # the live state moves on: what is written is what was taken
        disk.gate.set()
        await until(lambda: len(after) == 2, "both after_saves")
        await asyncio.to_thread(journal.close)

    asyncio.run(main())
    assert [off for off, _ in disk.landed] == [100, 300]  # 2 was superseded; nothing older after a newer one
    assert all(t == WRITER for _, t in disk.landed)  # never written on the loop
    assert on_disk(path) == 300
    # each after_save saw its own snapshot's offsets, ran on the loop, after that snapshot was on disk
    assert [(held, t) for held, _, t in after] == [(100, "MainThread"), (300, "MainThread")]
    assert all(seen >= held for held, seen, _ in after)
    assert "a" in (tmp_path / "status.md").read_text()


def test_a_forced_save_is_on_disk_when_it_returns_even_with_a_write_in_flight(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = Disk(monkeypatch)
    state, clock = run_state(), FakeClock()
    journal = journal_for(tmp_path, state, clock)
    path = journal.store.state_path
    after: list[int] = []

    def hook(s: RunState) -> Callable[[], None]:
        held = s.sessions["a"].log_offset
        return lambda: after.append(held)

    journal.after_save = hook

    async def main() -> None:
        disk.gate.clear()
        change(journal, state, clock, 100)
        journal.save()
        await until(disk.held.is_set, "the writer holds snapshot 1")
        change(journal, state, clock, 200)
        journal.save()  # waiting behind 1: the forced save below makes it stale
        state.sessions["a"].log_offset = 300
        threading.Timer(0.2, disk.gate.set).start()  # (lets the write in flight end; its timing decides nothing)
        journal.save(force=True)  # waits for the write in flight, then writes its own: on disk now
        assert on_disk(path) == 300
        assert after == [300]  # the forced save's after_save ran at once
        await asyncio.sleep(0.1)  # the loop runs what the writer thread sent it (snapshot 1's after_save)
        await asyncio.to_thread(journal.close)

    asyncio.run(main())
    assert [off for off, _ in disk.landed] == [100, 300]  # 200 was never written after 300
    assert disk.landed[1][1] == "MainThread"  # the forced one: in the caller's thread
    assert on_disk(path) == 300
    assert after == [300]  # snapshot 1 was on disk before 300's after_save, which covers it: not run after


def test_an_older_snapshot_that_waited_for_the_lock_is_not_written_after_a_newer_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = Disk(monkeypatch, held_threads=("forced",))
    state, clock = run_state(), FakeClock()
    journal = journal_for(tmp_path, state, clock)
    writer = journal.writer
    durable: list[int] = []
    writer.on_durable = lambda snap: durable.append(snap.seq)
    older = Snapshot(1, journal.store.dump_parts(state.model_copy(deep=True)), "old", None)
    state.sessions["a"].log_offset = 5
    newer = Snapshot(2, journal.store.dump_parts(state), "new", None)

    async def main() -> None:
        disk.gate.clear()
        forced = threading.Thread(target=writer.write_now, args=(newer,), name="forced")
        forced.start()  # the newer snapshot's forced write holds the write lock, stopped inside its fsync
        await until(disk.held.is_set, "the forced write is in flight")
        writer.submit(older, asyncio.get_running_loop())  # the thread takes the older one and waits for the lock
        disk.gate.set()
        await asyncio.to_thread(forced.join)
        await asyncio.to_thread(writer.close)

    asyncio.run(main())
    assert disk.landed == [(5, "forced")]  # the older one was dropped, not written over the newer one
    assert (tmp_path / "status.md").read_text() == "new" and durable == []


def test_save_durable_awaits_the_write_without_blocking_the_loop(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    disk = Disk(monkeypatch)
    state, clock = run_state(), FakeClock()
    journal = journal_for(tmp_path, state, clock)
    path = journal.store.state_path

    async def main() -> None:
        disk.gate.clear()

        async def release() -> None:  # runs only if the loop is free while the save is written
            await until(disk.held.is_set, "the writer holds the save")
            disk.gate.set()

        helper = asyncio.create_task(release())
        state.sessions["a"].log_offset = 42
        await journal.save_durable()
        assert on_disk(path) == 42  # on disk when the await returns
        await helper
        await asyncio.to_thread(journal.close)

    asyncio.run(main())
    assert disk.landed == [(42, WRITER)]


def test_a_disk_error_in_the_writer_thread_reaches_fatal_on_the_loop(tmp_path: Path) -> None:
    (tmp_path / "runs").write_text("not a directory")  # runs/r/state.json cannot be written: a real OSError
    state, clock = run_state(), FakeClock()
    stopped: list[str] = []
    journal = journal_for(tmp_path, state, clock, on_fatal=lambda: stopped.append(threading.current_thread().name))

    async def main() -> None:
        change(journal, state, clock, 100)
        journal.save()
        await until(lambda: bool(stopped), "on_fatal")
        await asyncio.to_thread(journal.close)

    asyncio.run(main())
    assert journal.fatal is not None and "state.json" in journal.fatal.message
    assert stopped == ["MainThread"]  # on the loop, as a DiskError on the loop did


def test_without_a_running_loop_a_save_is_written_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = Disk(monkeypatch)
    state, clock = run_state(), FakeClock()
    journal = journal_for(tmp_path, state, clock)
    change(journal, state, clock, 7)
    journal.save()
    assert disk.landed == [(7, "MainThread")] and on_disk(journal.store.state_path) == 7


def test_the_snapshot_text_is_the_state_and_follows_a_new_layout_text(tmp_path: Path) -> None:
    """RunStore.dump encodes the layout text once (it is most of the file and the same all run long): the text
    still reads back as the state, field for field, and a new layout text (a re-attach) is what is written."""
    from cortex_tui.store.files import RunStore

    store, state = RunStore(tmp_path, "r"), run_state()
    state.layout_text = '[run]\nname = "r"\n# "quotes", \\ backslashes, ünïcode, \t tabs\n'
    first = store.dump(state)
    assert RunState.model_validate_json(first) == state
    assert json.loads(first) == json.loads(state.model_dump_json(indent=1))
    state.layout_text += '[[session]]\nname = "b"\n'
    state.sessions["a"].log_offset = 9
    again = RunState.model_validate_json(store.dump(state))
    assert again.layout_text.endswith('name = "b"\n') and again.sessions["a"].log_offset == 9


def test_an_unexpected_error_in_the_writer_thread_is_reported_and_the_thread_goes_on(tmp_path: Path) -> None:
    """Not only a DiskError: whatever a write raises reaches on_error on the loop as a DiskError naming the file,
    the snapshot's waiters are released, and the next snapshot is still written (a dead writer thread left every
    later save, and every spawn awaiting one, waiting forever)."""
    from cortex_tui.engine.state_writer import StateWriter
    from cortex_tui.errors import DiskError

    errors: list[DiskError] = []
    durable: list[int] = []
    state_path, status_path = tmp_path / "state.json", tmp_path / "status.md"
    writer = StateWriter(state_path, status_path, on_durable=lambda s: durable.append(s.seq), on_error=errors.append)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        writer.submit(Snapshot(1, ("{}",), "bad \udc80 text"), loop)  # cannot be encoded: UnicodeEncodeError
        await asyncio.wait_for(writer.durable(1), 10)
        await until(lambda: bool(errors), "on_error")
        writer.submit(Snapshot(2, ('{"ok": 2}',), "fine\n"), loop)
        await asyncio.wait_for(writer.durable(2), 10)
        await until(lambda: durable == [2], "the next snapshot written")
        await asyncio.to_thread(writer.close)

    asyncio.run(main())
    assert "state.json" in errors[0].message and "UnicodeEncodeError" in errors[0].message
    assert json.loads(state_path.read_text()) == {"ok": 2} and status_path.read_text() == "fine\n"
