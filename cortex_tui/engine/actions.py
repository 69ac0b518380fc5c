"""Talking to a session's pane: send, approve, deny, interrupt, stop. Used by the engine and the CLI."""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

from cortex_tui.agents import get_adapter
from cortex_tui.agents.base import AgentAdapter, ApprovalPrompt
from cortex_tui.backends.tmux import Tmux
from cortex_tui.errors import CortexError
from cortex_tui.model.state import SessionRecord

if TYPE_CHECKING:
    import psutil


def _target(rec: SessionRecord) -> str:
    if not rec.pane_id:
        raise CortexError(f"session {rec.name!r} has no tmux pane (state: {rec.state.value})")
    return rec.pane_id


def current_prompt(tmux: Tmux, rec: SessionRecord, adapter: AgentAdapter) -> ApprovalPrompt | None:
    screen = tmux.capture(_target(rec), lines=60)
    return adapter.find_approval(screen.splitlines())


def send_text(tmux: Tmux, rec: SessionRecord, text: str, adapter: AgentAdapter | None = None) -> None:
    adapter = adapter or get_adapter(rec.agent)
    tmux.send_keys(_target(rec), adapter.message_keys(text))


def answer(tmux: Tmux, rec: SessionRecord, yes: bool, adapter: AgentAdapter | None = None,
           wait: float = 3.0) -> ApprovalPrompt:
    """Answer the approval prompt on screen explicitly; refuse when none shows up within ``wait`` seconds.

    Structured signals (Claude Code's PermissionRequest hook) can announce a dialog a moment before it is
    drawn, so the screen is looked at a few times; keys are only ever sent for a prompt actually shown.
    """
    adapter = adapter or get_adapter(rec.agent)
    deadline = time.monotonic() + wait
    prompt = current_prompt(tmux, rec, adapter)
    while prompt is None and time.monotonic() < deadline:
        time.sleep(0.1)
        prompt = current_prompt(tmux, rec, adapter)
    if prompt is None:
        raise CortexError(f"session {rec.name!r} is not waiting for approval",
                          "check `cortex-tui status` or attach to look at its screen")
    keys = adapter.approve_keys(prompt) if yes else adapter.deny_keys(prompt)
    tmux.send_keys(_target(rec), keys)
    return prompt


def interrupt(tmux: Tmux, rec: SessionRecord, adapter: AgentAdapter | None = None) -> None:
    adapter = adapter or get_adapter(rec.agent)
    tmux.send_keys(_target(rec), adapter.interrupt_keys())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running(p: psutil.Process) -> bool:
    """True while ``p`` exists and is not a zombie; a process that vanishes between two checks is not running."""
    import psutil

    try:
        return _alive(p.pid) and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_tree(pid: int | None, grace: float = 2.0) -> None:
    """SIGTERM the pane's process group, then SIGKILL what is left after ``grace`` seconds."""
    if not pid:
        return
    import psutil

    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            try:
                p.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_running(p) for p in procs):
            time.sleep(0.05)
        procs = [p for p in procs if _running(p)]
        if not procs:
            return
