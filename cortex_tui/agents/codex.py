"""``agent = "codex"``: OpenAI's Codex CLI.

Started as ``codex [-a POLICY] [--model M] [extra args] -- PROMPT`` (interactive TUI; ``permission_mode`` is
passed as ``--ask-for-approval``: untrusted, on-failure, on-request or never), or headless as
``codex exec --json --sandbox workspace-write [--model M] [extra args] -- PROMPT``, whose stdout is JSONL
(``thread.started``, ``turn.started``, ``item.*``, ``turn.completed`` with ``usage``, ``turn.failed``,
``error``). ``CORTEX_CODEX_BIN`` overrides the binary.

Usage: only the headless JSONL carries it (``turn.completed.usage``: ``input_tokens`` *including*
``cached_input_tokens``, ``output_tokens``), one increment per turn; the interactive TUI exposes none to
us, so ``exposes_usage`` is False and usage stays unknown unless such lines are fed to
:meth:`CodexAdapter.interpret_event`.

Approval dialogs ("Would you like to run the following command?", "… make the following edits?",
"… grant these permissions?") list numbered choices with letter shortcuts — ``1. Yes, proceed (y)`` …
``3. No, and tell Codex what to do differently (esc)``; they are answered with the shortcut (or the
number), never a blind Enter.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cortex_tui.agents.base import AgentAdapter, AgentSignal, ApprovalPrompt, KeyInput, SpawnContext
from cortex_tui.agents.dialogs import NumberedDialogAdapter, choice_number, choices
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import TokenUsage

QUESTIONS = [
    re.compile(r"^Would you like to (?:run the following command|make the following edits|grant these permissions)\?"),
    re.compile(r"^Would you like to .+\?\s*$"),
    re.compile(r"^Allow .+ to (?:run|access|connect) .+\?\s*$"),
]
_SHORTCUT = re.compile(r"\((\w|esc)\)\s*$")


class _ExecUsage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input_tokens: int = Field(default=0, ge=0)
    cached_input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_write_input_tokens: int = Field(default=0, ge=0)


def usage_from_exec_line(obj: dict[str, Any]) -> TokenUsage | None:
    """The usage increment of a ``codex exec --json`` ``turn.completed`` line (None for other lines)."""
    if obj.get("type") != "turn.completed" or not isinstance(obj.get("usage"), dict):
        return None
    try:
        u = _ExecUsage.model_validate(obj["usage"])
    except ValidationError:
        return None
    cached = min(u.cached_input_tokens, u.input_tokens)
    return TokenUsage(input=u.input_tokens - cached, cache_read=cached, output=u.output_tokens,
                      cache_write=u.cache_write_input_tokens)


def _key_for(prompt: ApprovalPrompt | None, label: re.Pattern[str]) -> list[KeyInput] | None:
    for num, text in choices(prompt):
        if label.search(text):
            m = _SHORTCUT.search(text)
            if m and m.group(1) == "esc":
                return [("key", "Escape")]
            return [("literal", m.group(1) if m else num)]
    return None


@dataclass
class CodexAdapter(NumberedDialogAdapter):
    def command(self, session: ResolvedSession, ctx: SpawnContext) -> list[str]:
        if session.command:
            return ["/bin/sh", "-c", session.command]
        binary = os.environ.get("CORTEX_CODEX_BIN") or "codex"
        if ctx.headless:
            argv = [binary, "exec", "--json", "--sandbox", "workspace-write"]
        else:
            argv = [binary]
            if session.permission_mode:
                argv += ["--ask-for-approval", session.permission_mode]
        if session.model:
            argv += ["--model", session.model]
        argv += list(session.extra_args)
        if session.prompt:
            argv += ["--", session.prompt]
        return argv

    def approve_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        return _key_for(prompt, re.compile(r"^Yes\b")) or [("literal", "1")]

    def deny_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        keys = _key_for(prompt, re.compile(r"^No\b"))
        if keys:
            return keys
        num = choice_number(prompt, re.compile(r"^No\b"))
        return [("literal", num)] if num else [("key", "Escape")]

    def interpret_event(self, event: dict[str, Any]) -> list[AgentSignal]:
        """Signals from a ``codex exec --json`` line."""
        kind = event.get("type")
        if kind == "turn.completed":
            usage = usage_from_exec_line(event)
            out = [AgentSignal("usage", usage=usage)] if usage is not None else []
            return [*out, AgentSignal("idle", text="turn completed")]
        if kind in ("turn.started", "item.started", "item.updated", "item.completed"):
            return [AgentSignal("busy")]
        if kind == "thread.started":
            return [AgentSignal("progress", text="thread started")]
        if kind in ("turn.failed", "error"):
            err = event.get("error")
            msg = err.get("message") if isinstance(err, dict) else event.get("message")
            return [AgentSignal("progress", text=f"error: {msg}")]
        return super().interpret_event(event)


def make() -> AgentAdapter:
    return CodexAdapter(kind="codex", approval_patterns=list(QUESTIONS), progress="output", exposes_usage=False)
