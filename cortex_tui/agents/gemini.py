"""``agent = "gemini"``: Google's Gemini CLI.

Started as ``gemini [--approval-mode MODE] [--model M] [extra args] --prompt-interactive PROMPT``
(interactive; MODE from ``permission_mode``: default, auto_edit, yolo, plan), or headless as
``gemini … --output-format stream-json --prompt PROMPT`` whose JSONL ends with a ``result`` line carrying
token statistics. ``CORTEX_GEMINI_BIN`` overrides the binary.

Approval dialogs sit in a box: ``Allow execution of: 'ls'?`` / ``Apply this change?`` /
``Do you want to proceed?`` followed by ``● 1. Yes, allow once``, ``2. Yes, allow always …``,
``3. No, suggest changes (esc)``; answered by number (or Esc to refuse), never a blind Enter.

Usage: only the headless ``result`` line carries it; the interactive TUI exposes none to us
(``exposes_usage`` is False: unknown, never 0).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from cortex_tui.agents.base import AgentAdapter, AgentSignal, SpawnContext
from cortex_tui.agents.dialogs import NumberedDialogAdapter
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import TokenUsage

QUESTIONS = [
    re.compile(r"^Allow execution of\b.*\?\s*$"),
    re.compile(r"^Apply this change\?\s*$"),
    re.compile(r"^Allow (?:edit|write|fetch)\b.*\?\s*$"),
    re.compile(r"^Do you want to proceed\?\s*$"),
]


def _int(v: object) -> int:
    return max(0, int(v)) if isinstance(v, int | float) and not isinstance(v, bool) else 0


def usage_from_result(obj: dict[str, Any]) -> list[tuple[str | None, TokenUsage]]:
    """Per-model usage from a headless ``result`` (stream-json) or ``--output-format json`` object.

    Reads ``stats.models.<model>.tokens`` (``prompt`` including ``cached``, ``candidates``) when present,
    else the flat ``stats`` totals (``input_tokens``, ``output_tokens``, ``cached``).
    """
    stats = obj.get("stats")
    if not isinstance(stats, dict):
        return []
    out: list[tuple[str | None, TokenUsage]] = []
    models = stats.get("models")
    if isinstance(models, dict) and models:
        for name, m in models.items():
            tok = m.get("tokens") if isinstance(m, dict) else None
            if isinstance(tok, dict):
                cached = min(_int(tok.get("cached")), _int(tok.get("prompt")))
                out.append((str(name), TokenUsage(input=_int(tok.get("prompt")) - cached, cache_read=cached,
                                                  output=_int(tok.get("candidates")) + _int(tok.get("thoughts")))))
        return out
    if "input_tokens" in stats or "output_tokens" in stats:
        cached = min(_int(stats.get("cached")), _int(stats.get("input_tokens")))
        out.append((None, TokenUsage(input=_int(stats.get("input_tokens")) - cached, cache_read=cached,
                                     output=_int(stats.get("output_tokens")))))
    return out


@dataclass
class GeminiAdapter(NumberedDialogAdapter):
    def command(self, session: ResolvedSession, ctx: SpawnContext) -> list[str]:
        if session.command:
            return ["/bin/sh", "-c", session.command]
        argv = [os.environ.get("CORTEX_GEMINI_BIN") or "gemini"]
        if session.permission_mode:
            argv += ["--approval-mode", session.permission_mode]
        if session.model:
            argv += [f"--model={session.model}"]  # one token: a model "-x" is not read as a flag
        argv += list(session.extra_args)
        if ctx.headless:
            argv += ["--output-format", "stream-json", "--prompt", session.prompt]
        elif session.prompt:
            argv += ["--prompt-interactive", session.prompt]
        return argv

    def interpret_event(self, event: dict[str, Any]) -> list[AgentSignal]:
        """Signals from a headless stream-json line."""
        kind = event.get("type")
        if kind == "result":
            sigs = [AgentSignal("usage", usage=u, model=m, total=True) for m, u in usage_from_result(event)]
            return [*sigs, AgentSignal("finished", text=str(event.get("status") or "done"))]
        if kind in ("message", "tool_use", "tool_result"):
            return [AgentSignal("busy")]
        if kind == "init":
            return [AgentSignal("progress", text="session start",
                                model=event.get("model") if isinstance(event.get("model"), str) else None)]
        return super().interpret_event(event)


def make() -> AgentAdapter:
    return GeminiAdapter(kind="gemini", approval_patterns=list(QUESTIONS), progress="output", exposes_usage=False)
