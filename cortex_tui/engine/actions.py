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


ANSWER_SETTLE_S = 0.15
"""A dialog is answered once two looks this far apart show it: Codex 0.171.0 drops a key sent within ~20 ms of
its approval dialog's first frame (its screen then never changes), and a look that raised ``waiting`` can be
that early (test_deny[codex]: 8 of 40 runs lost the deny at 13-21 ms, none at 30 ms or more)."""

ANSWER_TAKE_S = 1.0
"""How long an answered dialog may stay drawn before the answer counts as not taken (``answer_retry``)."""


class AnswerNotTaken(CortexError):
    """The keys of an approve/deny were sent (twice) but the agent's dialog is still on the screen."""


def _look(tmux: Tmux, rec: SessionRecord, adapter: AgentAdapter) -> tuple[str, ApprovalPrompt | None]:
    screen = tmux.capture(_target(rec), lines=60)
    return screen, adapter.find_approval(screen.splitlines())


def current_prompt(tmux: Tmux, rec: SessionRecord, adapter: AgentAdapter) -> ApprovalPrompt | None:
    return _look(tmux, rec, adapter)[1]


def _drawn(tmux: Tmux, rec: SessionRecord, adapter: AgentAdapter,
           deadline: float) -> tuple[str, ApprovalPrompt] | None:
    """The screen and its prompt once two looks ``ANSWER_SETTLE_S`` apart show the same prompt (None: no
    prompt by ``deadline``). A prompt seen is always looked at once more; one whose text never holds still (a
    ticking counter) is taken as it is a moment after the deadline."""
    prev: ApprovalPrompt | None = None
    while True:
        screen, prompt = _look(tmux, rec, adapter)
        if prompt is not None and ((prev is not None and prompt.text == prev.text)
                                   or time.monotonic() >= deadline + 1.0):
            return screen, prompt
        if prompt is None and time.monotonic() >= deadline:
            return None
        prev = prompt
        time.sleep(ANSWER_SETTLE_S if prompt is not None else 0.1)


def _still(tmux: Tmux, rec: SessionRecord, adapter: AgentAdapter, prompt: ApprovalPrompt) -> str | None:
    """The screen if ``prompt`` is still drawn after ``ANSWER_TAKE_S`` (None: it went, or another came)."""
    deadline = time.monotonic() + ANSWER_TAKE_S
    while True:
        time.sleep(0.05)
        screen, now = _look(tmux, rec, adapter)
        if now is None or now.text != prompt.text:
            return None
        if time.monotonic() >= deadline:
            return screen


def send_text(tmux: Tmux, rec: SessionRecord, text: str, adapter: AgentAdapter | None = None) -> None:
    adapter = adapter or get_adapter(rec.agent)
    tmux.send_keys(_target(rec), adapter.message_keys(text))


def answer(tmux: Tmux, rec: SessionRecord, yes: bool, adapter: AgentAdapter | None = None,
           wait: float = 3.0) -> ApprovalPrompt:
    """Answer the approval prompt on screen explicitly; refuse when none shows up within ``wait`` seconds.

    Structured signals (Claude Code's PermissionRequest hook) can announce a dialog a moment before it is
    drawn, so the screen is looked at a few times; keys are only ever sent for a prompt actually shown, and
    seen twice (``ANSWER_SETTLE_S``): a dialog's first frame may not take keys yet. For an ``answer_retry``
    agent the dialog is looked at again: still drawn with nothing changed on the screen after
    ``ANSWER_TAKE_S``, the keys are sent once more; still drawn after that, :class:`AnswerNotTaken`.
    """
    adapter = adapter or get_adapter(rec.agent)
    if rec.state.value == "waiting":  # announced (by a hook or the screen): give a slow redraw a moment more
        wait = max(wait, 8.0)
    seen = _drawn(tmux, rec, adapter, time.monotonic() + wait)
    if seen is None:
        raise CortexError(f"session {rec.name!r} is not waiting for approval",
                          "check `cortex-tui status` or attach to look at its screen",
                          key_hint="t attaches to it to look at its screen")
    before, prompt = seen
    keys = adapter.approve_keys(prompt) if yes else adapter.deny_keys(prompt)
    tmux.send_keys(_target(rec), keys)
    if not adapter.answer_retry:
        return prompt
    after = _still(tmux, rec, adapter, prompt)
    if after is None:
        return prompt
    # the same dialog, the screen as it was before the keys: the agent dropped them (a key it took late
    # would have changed the screen within ANSWER_TAKE_S) — once more, never more
    if after == before:
        tmux.send_keys(_target(rec), keys)
        after = _still(tmux, rec, adapter, prompt)
        if after is None:
            return prompt
    what = "approve" if yes else "deny"
    raise AnswerNotTaken(f"session {rec.name!r} did not take the {what}: its dialog is still on the screen",
                         "attach to it and answer the dialog there",
                         key_hint="t attaches to it to answer the dialog there")


def interrupt(tmux: Tmux, rec: SessionRecord, adapter: AgentAdapter | None = None) -> None:
    adapter = adapter or get_adapter(rec.agent)
    tmux.send_keys(_target(rec), adapter.interrupt_keys())


__all__ = ["ANSWER_SETTLE_S", "ANSWER_TAKE_S", "AnswerNotTaken", "answer", "current_prompt", "interrupt", "kill_tree", "send_text"]
