"""The real OpenCode CLI with the adapter's configuration takes no snapshots of the worktree: it snapshots it (a
git store of its own under ``~/.local/share/opencode/snapshot/``) before it records each step's end, which put
the turn's end — cortex-tui's ``idle`` — 240-390 ms after the answer was complete (benchmarks/detect.py). With
``CORTEX_OPENCODE_SNAPSHOT=1`` in the session's env OpenCode's own setting stands (here: its default, on)."""

from __future__ import annotations

from pathlib import Path

import pytest
from drivers import OpenCodeDriver, driver
from test_conformance import expect, finish, state, supervise

from cortex_tui.engine.supervisor import Supervisor

pytestmark = pytest.mark.conformance


@pytest.mark.parametrize("kept", [False, True], ids=["default", "kept"])
def test_opencode_snapshots_off_unless_kept(kept: bool, git_repo: Path, tmp_path: Path) -> None:
    d = driver("opencode", OpenCodeDriver, snapshot=kept)

    async def during(sup: Supervisor, api: object) -> None:
        await expect(sup, lambda: state(sup) == "idle", 90 + d.start_s, "opencode: idle after the turn")
        await finish(sup)

    _, _, api = supervise(d, git_repo, tmp_path, [d.say("Hello.")], during=during)
    assert api.used == 1, "the prompt's turn never reached the model"
    store = tmp_path / "agent-home" / ".local" / "share" / "opencode" / "snapshot"
    assert (store.is_dir() and any(store.iterdir())) is kept, sorted(p.name for p in store.glob("*"))
