"""The real Codex CLI starts an app-server daemon in a session of its own that outlives its TUI: when Codex
exits (the user quits it with Ctrl-C), the daemon is re-parented to init and kept running — the session's
end must end it too (and only the daemon this session started).

Codex 0.171.0 starts that daemon only when no hook is given on its command line: the adapter's
PermissionRequest hook (the default) runs it in process, so the daemon case runs with the hook off
(``CORTEX_CODEX_HOOKS=0``, as a user may choose) and the hooked case checks that no daemon appears."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from drivers import CodexDriver, driver
from engine_helpers import triggers
from test_conformance import NAME, answer, expect, finish, state, supervise

from cortex_tui.backends.procs import procs_with_env
from cortex_tui.engine.supervisor import Supervisor

pytestmark = pytest.mark.conformance


def _daemons(events_file: Path) -> list[int]:
    return [p.pid for p in procs_with_env("CORTEX_EVENTS_FILE", str(events_file), cmd_has="app-server")]


def test_codex_exit_ends_its_app_server_daemon(git_repo: Path, tmp_path: Path) -> None:
    d = driver("codex", CodexDriver, daemon=True, hooks=False)
    seen: dict[str, list[int]] = {}

    async def during(sup: Supervisor, api: object) -> None:
        events = sup.store.events_file(sup.state.sessions[NAME].slug)
        await expect(sup, lambda: state(sup) == "idle", 90, "codex: idle after the turn")
        await expect(sup, lambda: _daemons(events), 30, "codex: its app-server daemon running")
        seen["before"] = _daemons(events)
        rec = sup.state.sessions[NAME]
        assert rec.pane_id
        for _ in range(2):  # Codex quits on a second Ctrl-C
            sup.tmux.send_keys(rec.pane_id, [("key", "C-c")])
            await asyncio.sleep(0.5)
        await expect(sup, lambda: state(sup) in ("finished", "failed", "stopped"), 30, "codex: exited")
        seen["after"] = _daemons(events)

    supervise(d, git_repo, tmp_path, [d.say("Hello.")], during=during)
    assert seen["before"], "Codex started no app-server daemon (precondition of this test)"
    leftover = [p for p in seen["before"] if os.path.exists(f"/proc/{p}")]
    deadline = time.monotonic() + 10
    while leftover and time.monotonic() < deadline:
        time.sleep(0.1)
        leftover = [p for p in leftover if os.path.exists(f"/proc/{p}")]
    assert seen["after"] == [] and not leftover, f"daemon(s) outlived the session: {seen} {leftover}"


def test_codex_waiting_comes_from_its_permission_request_hook(git_repo: Path, tmp_path: Path) -> None:
    """With the daemon allowed and the adapter's hook on: waiting is the hook's (the command and the model's
    justification as evidence), one trigger for the dialog; Codex runs in process (no daemon to outlive it)."""
    d = driver("codex", CodexDriver, daemon=True)
    seen: dict[str, list[int]] = {}

    async def during(sup: Supervisor, api: object) -> None:
        events = sup.store.events_file(sup.state.sessions[NAME].slug)
        await expect(sup, lambda: state(sup) == "waiting", 90, "codex: waiting for approval")
        seen["hook_lines"] = [1] if events.exists() and b'"PermissionRequest"' in events.read_bytes() else []
        await answer(sup, True)
        await expect(sup, lambda: state(sup) == "idle", 30, "codex: idle after the turn")
        seen["daemons"] = _daemons(events)
        await finish(sup)

    events, _, _ = supervise(d, git_repo, tmp_path, [d.shell("echo hi > made.txt"), d.say("Made it.")],
                             during=during)
    assert seen["hook_lines"], "no PermissionRequest line in the events file"
    ap = triggers(events, "approval_waiting", NAME)
    assert len(ap) == 1, [e.data for e in ap]
    assert ap[0].data["evidence"]["prompt"] == "Codex asks to run: $ echo hi > made.txt — Run echo hi > made.txt?"
    assert seen["daemons"] == []
