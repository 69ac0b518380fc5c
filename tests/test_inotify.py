"""The inotify watcher on real directories: recursion, new directories, skipped ones, deletes, a vanished root."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from watchfiles import Change

from cortex_tui.watch import inotify

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux-only")


def keep_all(change: Change, path: str) -> bool:
    return not path.endswith(".tmp")


def skip_noise(path: str) -> bool:
    return os.path.basename(path) in {"node_modules", ".git"}


async def collect(w: inotify.InotifyWatcher, stop: asyncio.Event, until: set[tuple[Change, str]],
                  timeout: float = 10.0) -> set[tuple[Change, str]]:
    seen: set[tuple[Change, str]] = set()

    async def run() -> None:
        async for batch in w.batches(stop):
            seen.update(batch)
            if until <= seen:
                return

    await asyncio.wait_for(run(), timeout)
    return seen


async def test_reports_changes_recursively_including_new_directories(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "old.txt").write_text("x")
    (tmp_path / "node_modules").mkdir()
    stop = asyncio.Event()
    with inotify.InotifyWatcher([str(tmp_path)], keep_all, skip_noise) as w:
        assert w.watched_dirs == 2  # tmp_path and a/, not node_modules/
        (tmp_path / "a" / "old.txt").write_text("y")
        (tmp_path / "node_modules" / "ignored.js").write_text("1")
        deep = tmp_path / "b" / "c"
        deep.mkdir(parents=True)
        (deep / "new.py").write_text("z")  # possibly before the new directory's watch exists: still reported
        (tmp_path / "a" / "scratch.tmp").write_text("t")
        want = {(Change.modified, str(tmp_path / "a" / "old.txt")), (Change.added, str(deep / "new.py"))}
        seen = await collect(w, stop, want)
        assert want <= seen
        assert not any("node_modules" in p or p.endswith(".tmp") for _, p in seen)
        (deep / "new.py").write_text("again")  # the new directory is watched now
        os.unlink(tmp_path / "a" / "old.txt")
        more = {(Change.modified, str(deep / "new.py")), (Change.deleted, str(tmp_path / "a" / "old.txt"))}
        assert more <= await collect(w, stop, more)
        os.rename(tmp_path / "b", tmp_path / "moved")  # a directory moved within the tree: watched under its new name
        (tmp_path / "moved" / "c" / "after.py").write_text("m")
        after = {(Change.added, str(tmp_path / "moved" / "c" / "after.py"))}
        assert after <= await collect(w, stop, after)


async def test_a_vanished_root_ends_the_watch_with_an_error(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    stop = asyncio.Event()
    with inotify.InotifyWatcher([str(root)], keep_all, skip_noise) as w:
        root.rmdir()
        with pytest.raises(OSError, match="went away"):
            await collect(w, stop, {(Change.added, "never")}, timeout=10)


async def test_stop_ends_an_idle_watch(tmp_path: Path) -> None:
    stop = asyncio.Event()
    batches: list[set[tuple[Change, str]]] = []
    with inotify.InotifyWatcher([str(tmp_path)], keep_all, skip_noise) as w:

        async def run() -> None:
            async for b in w.batches(stop):
                batches.append(b)

        task = asyncio.create_task(run())
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert batches == [] and w.fd == -1


async def test_a_tree_watched_off_the_loop_keeps_what_changed_while_it_was_walked(tmp_path: Path) -> None:
    """A worktree skipped while it was made is then watched by a worker thread (its walk is no work for the loop).
    A directory made while that walk runs, after its parent was listed, is known only by an event on a watch the
    loop does not have yet: that event is kept and handled once it has, so the directory and its files count."""
    import threading
    import time

    wt = tmp_path / "wt"
    for d in ("a", "b", "c"):
        (wt / d).mkdir(parents=True)
    (wt / "a" / "f.txt").write_text("checked out")
    paused = [True]
    made = threading.Event()
    loop_thread = threading.get_ident()

    def skip(path: str) -> bool:
        if path == str(wt):
            return paused[0]
        if threading.get_ident() != loop_thread and not made.is_set():  # the walk, in its worker thread
            made.set()
            (wt / "late").mkdir()  # wt/ is listed already: only its watch's event tells of late/
            (wt / "late" / "early.txt").write_text("1")
            time.sleep(0.3)  # the loop reads that event while the walk still runs
        return False

    stop = asyncio.Event()
    with inotify.InotifyWatcher([str(tmp_path)], keep_all, skip) as w:
        assert w.watched_dirs == 1  # tmp_path only: wt/ is paused
        paused[0] = False
        assert await w.add_tree_off_loop(str(wt)) is True
        assert made.is_set()
        assert {str(wt), str(wt / "a"), str(wt / "b"), str(wt / "c"), str(wt / "late")} <= set(w._wds)
        (wt / "late" / "after.txt").write_text("2")  # late/ is watched
        (wt / "b" / "new.txt").write_text("3")
        want = {(Change.added, str(wt / "late" / "early.txt")), (Change.added, str(wt / "late" / "after.txt")),
                (Change.added, str(wt / "b" / "new.txt"))}
        seen = await collect(w, stop, want)
        assert want <= seen
        assert (Change.added, str(wt / "a" / "f.txt")) not in seen  # the checkout itself is not reported


async def test_a_checkout_watched_from_a_spawns_thread_misses_nothing_written_after(tmp_path: Path) -> None:
    """A fresh checkout is watched from its spawn's thread (``add_tree_in_thread``), not from the loop: the
    thread's walk adds the watches, the loop registers them a moment later. ``watching`` says so at once (no
    second walk after the spawn); what is written meanwhile — a file in a watched directory before the loop
    knows that watch, a directory made during the walk — is reported once the loop has the watches; the
    checkout itself is not."""
    import threading
    import time

    wt = tmp_path / "wt"
    for d in ("a", "b", "c"):
        (wt / d).mkdir(parents=True)
        (wt / d / "f.txt").write_text("checked out")
    paused = [True]
    in_walk = threading.Event()

    def skip(path: str) -> bool:
        if path == str(wt):
            return paused[0]
        if not paused[0] and not in_walk.is_set():  # the walk, in the spawn's thread
            in_walk.set()
            (wt / "late").mkdir()  # wt/ is listed already: only its watch's event tells of late/
            (wt / "late" / "early.txt").write_text("1")
            time.sleep(0.3)  # the loop reads that event while the walk still runs
        return False

    stop = asyncio.Event()
    with inotify.InotifyWatcher([str(tmp_path)], keep_all, skip) as w:
        assert not w.watching(str(wt))

        def spawn() -> tuple[bool, bool]:
            paused[0] = False
            ok = w.add_tree_in_thread(str(wt))
            told = w.watching(str(wt))  # whether or not the loop has taken the watches yet
            (wt / "b" / "f.txt").write_text("the agent's first write")  # at once, as a sim agent does
            return ok, told

        ok, told = await asyncio.to_thread(spawn)
        assert ok and told and in_walk.is_set()
        want = {(Change.added, str(wt / "late" / "early.txt")), (Change.modified, str(wt / "b" / "f.txt"))}
        seen = await collect(w, stop, want)
        assert want <= seen
        assert {str(wt), str(wt / "a"), str(wt / "b"), str(wt / "c"), str(wt / "late")} <= set(w._wds)
        (wt / "late" / "after.txt").write_text("2")  # late/ is watched
        assert {(Change.added, str(wt / "late" / "after.txt"))} <= await collect(
            w, stop, {(Change.added, str(wt / "late" / "after.txt"))})
        assert not any(p == str(wt / "a" / "f.txt") for _, p in seen)  # the checkout itself is not reported
        assert w.watching(str(wt)) and not w._handing and w._adding == 0 and not w._early
