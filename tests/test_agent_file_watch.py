"""An agent's own session file outside the run (Codex's rollout, Gemini's chat file) watched on change: the
run's watcher reports its writes as ``agent_files`` by session slug, not its neighbours', not below it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cortex_tui.engine.watcher import Changes, RunWatcher
from cortex_tui.watch import inotify

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux-only")


async def test_writes_to_a_registered_agent_file_are_reported(tmp_path: Path) -> None:
    run, wt, sessions = tmp_path / "run", tmp_path / "wt", tmp_path / "home" / ".codex" / "sessions" / "2026"
    for d in (run, wt, sessions):
        d.mkdir(parents=True)
    mine, other = sessions / "rollout-a.jsonl", sessions / "rollout-b.jsonl"
    mine.write_text("")
    stop = asyncio.Event()
    batches: list[Changes] = []
    got = asyncio.Event()
    ready = asyncio.Event()

    async def on_batch(c: Changes) -> None:
        batches.append(c)
        if c.agent_files:
            got.set()

    w = RunWatcher(run, wt, stop, on_batch=on_batch, on_error=lambda e: None, everything=Changes,
                   on_watching=ready.set)
    task = asyncio.create_task(w.run())
    await asyncio.wait_for(ready.wait(), 10)
    w.watch_agent_file(str(mine), "agent")  # registered while the watch runs (the adapter found its file)
    other.write_text('{"someone": "else"}\n')  # another session's file in the same directory: not ours
    (sessions / "sub").mkdir()
    (sessions / "sub" / "deeper.jsonl").write_text("{}\n")  # nothing below the directory is watched
    with mine.open("a") as f:
        f.write('{"type": "event_msg"}\n')
    await asyncio.wait_for(got.wait(), 10)
    assert {s for c in batches for s in c.agent_files} == {"agent"}
    assert not any(c.logs or c.events or c.worktrees for c in batches)
    assert w._inotify is not None and str(sessions / "sub") not in w._inotify._wds

    w.forget_agent_file(str(mine))  # its session ended: the directory is not watched any more
    assert str(sessions) not in w._inotify._wds
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_a_restarted_watch_keeps_the_agent_files(tmp_path: Path) -> None:
    """Registered files survive a new watcher (the router restarts it after a failure) and are watched again."""
    run, wt, d = tmp_path / "run", tmp_path / "wt", tmp_path / "chats"
    for x in (run, wt, d):
        x.mkdir()
    chat = d / "session-1.jsonl"
    chat.write_text("")
    shared = {str(chat): "gem"}
    stop = asyncio.Event()
    got = asyncio.Event()
    ready = asyncio.Event()

    async def on_batch(c: Changes) -> None:
        if c.agent_files == {"gem"}:
            got.set()

    w = RunWatcher(run, wt, stop, on_batch=on_batch, on_error=lambda e: None, everything=Changes,
                   on_watching=ready.set, agent_files=shared)
    task = asyncio.create_task(w.run())
    await asyncio.wait_for(ready.wait(), 10)
    with chat.open("a") as f:
        f.write('{"type": "gemini"}\n')
    await asyncio.wait_for(got.wait(), 10)
    stop.set()
    await asyncio.wait_for(task, 10)
