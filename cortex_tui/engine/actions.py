"""Talking to a session's pane: send, approve, deny, interrupt, stop. Used by the engine and the CLI."""

from __future__ import annotations

import time

from cortex_tui.agents import get_adapter
from cortex_tui.agents.base import AgentAdapter, ApprovalPrompt
from cortex_tui.backends.procs import kill_tree
from cortex_tui.backends.tmux import Tmux
from cortex_tui.errors import CortexError
from cortex_tui.model.state import SessionRecord


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
    if rec.state.value == "waiting":  # announced (by a hook or the screen): give a slow redraw a moment more
        wait = max(wait, 8.0)
    deadline = time.monotonic() + wait
    prompt = current_prompt(tmux, rec, adapter)
    while prompt is None and time.monotonic() < deadline:
        time.sleep(0.1)
        prompt = current_prompt(tmux, rec, adapter)
    if prompt is None:
        raise CortexError(f"session {rec.name!r} is not waiting for approval",
                          "check `cortex-tui status` or attach to look at its screen",
                          key_hint="t attaches to it to look at its screen")
    keys = adapter.approve_keys(prompt) if yes else adapter.deny_keys(prompt)
    tmux.send_keys(_target(rec), keys)
    return prompt


def interrupt(tmux: Tmux, rec: SessionRecord, adapter: AgentAdapter | None = None) -> None:
    adapter = adapter or get_adapter(rec.agent)
    tmux.send_keys(_target(rec), adapter.interrupt_keys())


__all__ = ["answer", "current_prompt", "interrupt", "kill_tree", "send_text"]
