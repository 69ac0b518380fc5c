"""watcher.classify / Changes: raw (change, path) pairs become typed changes by session slug."""

from __future__ import annotations

import os

from watchfiles import Change

from cortex_tui.engine.watcher import Changes, RunWatcher, classify

RUN = f"{os.sep}s{os.sep}runs{os.sep}r{os.sep}"
WT = f"{os.sep}repo{os.sep}.cortex{os.sep}worktrees{os.sep}r{os.sep}"


def test_classify_sorts_run_files_and_worktree_edits() -> None:
    raw = {(Change.modified, f"{RUN}logs/one.log"), (Change.added, f"{RUN}exit/two.code"),
           (Change.modified, f"{RUN}sessions/three/events.jsonl"), (Change.added, f"{WT}one/src/a.py"),
           (Change.deleted, f"{WT}one/b.txt"), (Change.modified, f"{WT}two"), (Change.modified, "/elsewhere/x")}
    c = classify(raw, RUN, WT)
    assert c.logs == {"one"} and c.exits == {"two"} and c.events == {"three"}
    assert sorted(c.worktrees["one"]) == [("b.txt", "deleted"), ("src/a.py", "added")]
    assert "two" not in c.worktrees  # the worktree directory itself is no file change


def test_everything_and_merge() -> None:
    e = Changes.everything(["a"])
    assert e.logs == e.exits == e.events == {"a"} and e.worktrees == {"a": [(".", "modified")]}
    m = Changes(worktrees={"a": [("x", "added")]}).merge(e)
    assert m.worktrees["a"] == [("x", "added"), (".", "modified")] and m.logs == {"a"}
    assert not Changes() and m


def test_noise_is_dropped() -> None:
    import asyncio
    from pathlib import Path

    async def nothing(_: Changes) -> None:
        return None

    w = RunWatcher(Path(RUN.rstrip(os.sep)), Path(WT.rstrip(os.sep)), asyncio.Event(), on_batch=nothing,
                   on_error=lambda e: None, everything=Changes)
    assert w.keep(Change.modified, f"{WT}one/src/a.py")
    assert not w.keep(Change.modified, f"{WT}one/.git/index")
    assert not w.keep(Change.modified, f"{WT}one/pkg/__pycache__/m.pyc")
    assert not w.keep(Change.modified, f"{WT}one/notes.txt.swp")
    assert w.keep(Change.modified, f"{RUN}logs/one.log") and not w.keep(Change.modified, f"{RUN}state.json")
