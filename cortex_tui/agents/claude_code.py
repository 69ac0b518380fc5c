"""``agent = "claude-code"``: Anthropic's Claude Code CLI.

How it is started: ``claude --permission-mode MODE --settings <session_dir>/claude-settings.json
[--model M] [extra args] -- PROMPT`` (interactive), or with ``-p --output-format stream-json --verbose``
when the run is headless. ``CORTEX_CLAUDE_BIN`` overrides the binary.

What it is watched by, best first:

* **hooks** — ``prepare()`` writes a settings file whose hooks run ``python -m cortex_tui.hook`` (see
  :mod:`cortex_tui.hook`) for every lifecycle event; each appends a line to the session's events file.
  :meth:`ClaudeCodeAdapter.interpret_event` turns those lines into :class:`AgentSignal` s. In enforce
  mode the PreToolUse hook also refuses writes outside the session's scope.
* **the transcript** ``~/.claude/projects/<munged cwd>/<session_id>.jsonl`` (named by every hook
  payload) — per-message ``usage``, deduplicated by message id; read incrementally and reported as
  usage increments per model.
* **stream-json** (headless) — the final ``result`` line has usage and ``total_cost_usd``.
* **the screen**, last — only for the permission dialog (numbered choices, answered by number).

Progress is ``events``: Claude Code animates its spinner even when its API has gone silent.

The parts: hook settings and hook lines in :mod:`~cortex_tui.agents.claude_code_hooks`, transcripts and
stream-json usage in :mod:`~cortex_tui.agents.claude_code_usage`, the dialogs and start-up menus in
:mod:`~cortex_tui.agents.claude_code_screen`; their public names are importable from here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cortex_tui.agents.base import AgentAdapter, AgentSignal, ApprovalPrompt, KeyInput, SpawnContext
from cortex_tui.agents.claude_code_hooks import (
    HOOK_EVENTS,
    HOOK_TIMEOUT_S,
    SCOPE_FILE,
    SETTINGS_FILE,
    SOURCE,
    HookLine,
    hook_command,
    hook_signals,
    settings_json,
)
from cortex_tui.agents.claude_code_screen import MENU_TAG, QUESTIONS, YES_ITEM, find_startup_menu, menu_moves
from cortex_tui.agents.claude_code_usage import (
    StreamResult,
    TranscriptReader,
    transcript_path,
    usage_by_model_from_transcript,
    usage_from_stream_result,
    usage_from_transcript,
)
from cortex_tui.agents.dialogs import NumberedDialogAdapter, find_numbered_dialog
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import TokenUsage

__all__ = ["HOOK_EVENTS", "HOOK_TIMEOUT_S", "QUESTIONS", "SCOPE_FILE", "SETTINGS_FILE", "SOURCE", "ClaudeCodeAdapter",
           "StreamResult", "TranscriptReader", "find_startup_menu", "hook_command", "make", "settings_json",
           "transcript_path", "usage_by_model_from_transcript", "usage_from_stream_result", "usage_from_transcript"]


@dataclass
class ClaudeCodeAdapter(NumberedDialogAdapter):
    _readers: dict[str, TranscriptReader] = field(default_factory=dict, repr=False, compare=False)
    _reported: dict[tuple[str, str], TokenUsage] = field(default_factory=dict, repr=False, compare=False)
    """Per (transcript, model): the totals already turned into usage increments."""

    def binary(self) -> str:
        return os.environ.get("CORTEX_CLAUDE_BIN") or "claude"

    def command(self, session: ResolvedSession, ctx: SpawnContext) -> list[str]:
        if session.command:
            return ["/bin/sh", "-c", session.command]
        argv = [self.binary(), "--permission-mode", session.permission_mode or "default",
                "--settings", str(ctx.session_dir / SETTINGS_FILE)]
        if session.model:
            argv += [f"--model={session.model}"]  # one token: a model "-x" is not read as a flag
        if ctx.headless:
            argv += ["-p", "--output-format", "stream-json", "--verbose"]
        argv += list(session.extra_args)
        if session.prompt:
            argv += ["--", session.prompt]
        return argv

    def prepare(self, session: ResolvedSession, ctx: SpawnContext) -> None:
        ctx.session_dir.mkdir(parents=True, exist_ok=True)
        enforce = session.scope_mode == "enforce"
        if enforce:
            (ctx.session_dir / SCOPE_FILE).write_text(json.dumps(list(session.scope)), encoding="utf-8")
        (ctx.session_dir / SETTINGS_FILE).write_text(
            json.dumps(settings_json(ctx, enforce=enforce), indent=2), encoding="utf-8")

    # -- screen ----------------------------------------------------------------------------------------
    def find_approval(self, screen_lines: list[str]) -> ApprovalPrompt | None:
        """The permission dialog, with the lines above its question (the tool and its command) as evidence;
        else a start-up menu (workspace trust, bypass-permissions warning) that waits for a human."""
        return find_numbered_dialog(screen_lines, self.approval_patterns, before=4) or find_startup_menu(screen_lines)

    def approve_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        moves = menu_moves(prompt, YES_ITEM)
        return moves if moves is not None else super().approve_keys(prompt)

    def deny_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        if prompt is not None and prompt.text.startswith(MENU_TAG):
            return [("key", "Escape")]  # the start-up menus: Esc = no (Claude exits)
        return super().deny_keys(prompt)

    def screen_idle(self, screen_lines: list[str]) -> bool:
        """At its input box after a turn: the footer says ``? for shortcuts`` and nowhere ``esc to
        interrupt``, above it ``· done`` or ``Interrupted ·`` (after a denied approval Claude shows "Interrupted · What should Claude do
        instead?" and no Stop hook fires)."""
        tail = [ln for ln in screen_lines if ln.strip()][-8:]
        text = "\n".join(tail)
        ended = "Interrupted ·" in text or "· done" in text  # a turn ended (not the start-up screen)
        return ended and "? for shortcuts" in text and "esc to interrupt" not in text.lower()

    # -- structured events -----------------------------------------------------------------------------
    def usage_checkpoint(self) -> dict[str, Any]:
        return {"reported": [[path, model, u.model_dump()] for (path, model), u in self._reported.items()]}

    def restore_usage_checkpoint(self, data: dict[str, Any]) -> None:
        """Totals already reported per (transcript, model); the transcripts are re-read for what is new."""
        for item in data.get("reported") or []:
            try:
                path, model, usage = item
                self._reported[(str(path), str(model))] = TokenUsage.model_validate(usage)
            except (ValueError, TypeError):
                continue
            self._readers.setdefault(str(path), TranscriptReader(Path(str(path))))

    def interpret_event(self, event: dict[str, Any]) -> list[AgentSignal]:
        """Signals from a hook line (``source: claude-code``) or a stream-json line (``type: result`` …).

        On tool completion, Stop and SessionEnd it reads what was appended to the transcript named in the
        payload and emits usage *increments* per model (what grew since the last signal). A stream-json
        ``result`` line gives the run's totals instead (``total=True``, with the CLI's own cost): feed the
        engine one source or the other, not both.
        """
        if event.get("source") == SOURCE:
            try:
                line = HookLine.model_validate(event)
            except ValidationError:
                return []
            return self._from_hook(line)
        if event.get("type") in ("result", "assistant", "user", "system"):
            return self._from_stream(event)
        return super().interpret_event(event)

    def _from_hook(self, line: HookLine) -> list[AgentSignal]:
        out = hook_signals(line)
        if line.event in ("PostToolUse", "PostToolUseFailure", "Stop", "SessionEnd"):
            out.extend(self._usage_signals(line.payload.get("transcript_path")))
        return out

    def poll_usage(self) -> list[AgentSignal]:
        """Re-read every transcript seen so far; usage increments for those that grew.

        Claude Code may fire ``Stop`` a moment *before* it appends the turn's last assistant message to
        the transcript (observed with 2.1.331), so the usage read at ``Stop`` can lag by one message. Call
        this periodically while the session lives (a few seconds apart) and once after it ends.
        """
        out: list[AgentSignal] = []
        for path in list(self._readers):
            out.extend(self._usage_signals(path))
        return out

    def _usage_signals(self, path: object) -> list[AgentSignal]:
        if not isinstance(path, str) or not path:
            return []
        reader = self._readers.get(path)
        if reader is None:
            reader = self._readers[path] = TranscriptReader(Path(path))
        if not reader.read():
            return []
        out: list[AgentSignal] = []
        for model, now in reader.by_model().items():
            before = self._reported.get((path, model), TokenUsage())
            delta = TokenUsage(input=max(0, now.input - before.input), output=max(0, now.output - before.output),
                               cache_read=max(0, now.cache_read - before.cache_read),
                               cache_write=max(0, now.cache_write - before.cache_write))
            self._reported[(path, model)] = now
            if delta.total:
                out.append(AgentSignal("usage", usage=delta, model=model or None))
        return out

    def _from_stream(self, obj: dict[str, Any]) -> list[AgentSignal]:
        if obj.get("type") != "result":
            return [AgentSignal("busy")] if obj.get("type") == "assistant" else []
        try:
            res = StreamResult.model_validate(obj)
        except ValidationError:
            return []
        out: list[AgentSignal] = []
        if res.modelUsage:
            for model, mu in res.modelUsage.items():
                out.append(AgentSignal("usage", model=model, total=True, cost_usd=mu.costUSD, usage=TokenUsage(
                    input=mu.inputTokens, output=mu.outputTokens, cache_read=mu.cacheReadInputTokens,
                    cache_write=mu.cacheCreationInputTokens)))
        else:
            got = usage_from_stream_result(obj)
            if got is not None:
                out.append(AgentSignal("usage", usage=got[0], total=True, cost_usd=got[1]))
        text = "error" if res.is_error else (res.subtype or "done")
        out.append(AgentSignal("finished", text=text))
        return out


def make() -> AgentAdapter:
    return ClaudeCodeAdapter(
        kind="claude-code",
        approval_patterns=list(QUESTIONS),
        progress="events",
        exposes_usage=True,
        ui_processes=frozenset({"claude", "node"}),
    )
