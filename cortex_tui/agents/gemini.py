"""``agent = "gemini"``: Google's Gemini CLI (tested 0.61.0).

Started as ``gemini [--approval-mode MODE] [--model M] [extra args] --prompt-interactive PROMPT``
(interactive; MODE from ``permission_mode``: default, auto_edit, yolo, plan), or headless as
``gemini … --output-format stream-json --prompt PROMPT`` whose JSONL ends with a ``result`` line carrying
token statistics. ``CORTEX_GEMINI_BIN`` overrides the binary.

Approval dialogs sit in a box: ``Allow execution of [Shell]?`` (0.61; older: ``Allow execution of: 'ls'?``)
/ ``Apply this change?`` / ``Do you want to proceed?`` followed by ``● 1. Allow once``,
``2. Allow for this session``, ``3. No, suggest changes (esc)``; answered by number (or Esc to refuse),
never a blind Enter. The lines above the question (the tool and its command) are part of the evidence.

Structured signals: Gemini's hooks (:mod:`cortex_tui.agents.gemini_hooks`, through a home of the
session's own, ``GEMINI_CLI_HOME``): ``BeforeAgent``/``AfterTool`` → busy, ``Notification``
(``ToolPermission``) → waiting with the command as evidence, ``AfterAgent`` → idle; and Gemini's chat file
(:mod:`cortex_tui.agents.gemini_chat`; every hook names it, else it is found by the worktree it was started
in), read on change by :meth:`GeminiAdapter.poll_usage`: prompts and tool results → busy, each model
response's ``tokens`` → usage (running totals per model), failed tool calls → the repeated-error rule,
``write_file``/``replace`` outside the worktree → out_of_scope. Without hooks (``CORTEX_GEMINI_HOOKS=0``,
or a settings file that cannot be read) the turn's end comes from the chat file and the screen: idle when
the input box shows its placeholder and no spinner (``esc to cancel``) or dialog is drawn after the chat
recorded the model's answer. Progress for silence detection is structured records only
(``progress = "events"``): the spinner animates while the API hangs, and the CLI's own node processes do
not count as work.
Headless, the ``result`` line of ``stream-json`` carries the per-model token statistics.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cortex_tui.agents.base import AgentAdapter, AgentSignal, ApprovalPrompt, SpawnContext
from cortex_tui.agents.dialogs import NumberedDialogAdapter, clean, find_numbered_dialog
from cortex_tui.agents.gemini_chat import ChatTail, gemini_home
from cortex_tui.agents.gemini_hooks import SOURCE, hook_signals, hooks_wanted, prepare_home
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import TokenUsage

QUESTIONS = [
    re.compile(r"^Allow execution of\b.*\?\s*$"),
    re.compile(r"^Apply this change\?\s*$"),
    re.compile(r"^Allow (?:edit|write|fetch)\b.*\?\s*$"),
    re.compile(r"^Do you want to proceed\?\s*$"),
]
_PLACEHOLDER = re.compile(r"^>\s+Type your message")
_BUSY = re.compile(r"\(esc to cancel\b")
_CANCELLED = re.compile(r"^ℹ\s*Request cancelled\.")
_ECHOED = re.compile(r"^>\s+\S")


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
            if isinstance(m, dict) and tok is None and ("input_tokens" in m or "output_tokens" in m):
                # 0.61: {"input_tokens" (including "cached"), "output_tokens", "cached", "input", "total_tokens"}
                if _int(m.get("total_tokens")) == 0 and _int(m.get("input_tokens")) + _int(m.get("output_tokens")) == 0:
                    continue  # a model the CLI consulted for nothing (its router)
                cached = min(_int(m.get("cached")), _int(m.get("input_tokens")))
                out.append((str(name), TokenUsage(input=_int(m.get("input_tokens")) - cached, cache_read=cached,
                                                  output=_int(m.get("output_tokens")))))
            elif isinstance(tok, dict):
                cached = min(_int(tok.get("cached")), _int(tok.get("prompt")))
                out.append((str(name), TokenUsage(input=_int(tok.get("prompt")) - cached, cache_read=cached,
                                                  output=_int(tok.get("candidates")) + _int(tok.get("thoughts")))))
        return out
    if "input_tokens" in stats or "output_tokens" in stats:
        cached = min(_int(stats.get("cached")), _int(stats.get("input_tokens")))
        out.append((None, TokenUsage(input=_int(stats.get("input_tokens")) - cached, cache_read=cached,
                                     output=_int(stats.get("output_tokens")))))
    return out


def _cancelled(screen_lines: list[str]) -> bool:
    """The turn was cancelled (a denied approval, Esc): ``ℹ Request cancelled.`` below the last prompt
    echoed on the screen — Gemini records no turn end in its chat file then."""
    lines = [clean(ln) for ln in screen_lines if ln.strip()]
    for ln in reversed(lines):
        if _CANCELLED.match(ln):
            return True
        if _ECHOED.match(ln) and not _PLACEHOLDER.match(ln):
            return False
    return False


@dataclass
class GeminiAdapter(NumberedDialogAdapter):
    _chat: ChatTail | None = field(default=None, repr=False, compare=False)
    _screen_idle_at: float | None = field(default=None, repr=False, compare=False)
    """When the latest screen check showed the input box with no spinner or dialog (None: it did not)."""
    _home: Path | None = field(default=None, repr=False, compare=False)
    """The session's own Gemini home with our hooks (:mod:`cortex_tui.agents.gemini_hooks`), once prepared."""
    _prepared_in: Path | None = field(default=None, repr=False, compare=False)
    _hooked: bool = field(default=False, repr=False, compare=False)
    """Its hooks have been heard from: state comes from them, the chat file gives usage/errors/writes only."""
    _looked_for: float | None = field(default=None, repr=False, compare=False)
    """The turn end (``answered_at``) a screen look was last asked for."""

    def prepare(self, session: ResolvedSession, ctx: SpawnContext) -> None:
        home = gemini_home(dict(session.env))
        self._home = None
        if hooks_wanted(dict(session.env)):
            self._home = prepare_home(home, ctx.session_dir / "gemini-home", ctx.events_file)
            self._prepared_in = ctx.session_dir
        self._chat = ChatTail(self._home or home, str(ctx.worktree), time.time())

    def poll_usage(self) -> list[AgentSignal]:
        """What Gemini appended to its chat file: busy, usage totals, failed tools, outside writes; idle once
        the chat says the model ended its turn and a screen check after that showed the input box."""
        if self._chat is None:
            return []
        sigs = self._chat.read()
        if self._hooked:  # its hooks say busy/idle/waiting: the chat file, read in its own batches (before or
            # after a hook line), only adds usage, errors and writes — never a state a hook already moved past
            return [AgentSignal("progress", text=x.text) if x.kind == "busy" else x for x in sigs]
        done = self._chat.answered_at
        if sigs and done is not None and self._screen_idle_at is not None and self._screen_idle_at >= done:
            sigs.append(AgentSignal("idle", text="turn ended"))
        return sigs

    def _chat_from_hook(self, payload: object) -> None:
        """Every hook names the chat file (``transcript_path``): no need to look for it — when it is one of
        this session's home (anything else is not read)."""
        raw = payload.get("transcript_path") if isinstance(payload, dict) else None
        if self._chat is None or self._chat.path is not None or not isinstance(raw, str):
            return
        base = os.path.realpath(self._chat.home / ".gemini" / "tmp") + os.sep
        if os.path.realpath(raw).startswith(base) and raw.endswith(".jsonl"):
            self._chat.path = Path(raw)

    def look_at_screen(self) -> bool:
        """Once per turn end the chat recorded: is the input box back (idle)? Only the screen shows it (without
        hooks: with them, ``AfterAgent`` says so)."""
        done = self._chat.answered_at if self._chat is not None else None
        if self._hooked or done is None or done == self._looked_for:
            return False
        self._looked_for = done
        return True

    def watch_files(self) -> list[Path]:
        return [self._chat.path] if self._chat is not None and self._chat.path is not None else []

    def finding(self) -> bool:
        return self._chat is not None and self._chat.path is None

    def usage_checkpoint(self) -> dict[str, Any]:
        if self._chat is None:
            return {}
        return {"chat": {**self._chat.checkpoint(), "home": str(self._chat.home), "cwd": self._chat.cwd}}

    def restore_usage_checkpoint(self, data: dict[str, Any]) -> None:
        """Usage is recomputed from the whole chat file (running totals): nothing is counted twice."""
        c = data.get("chat")
        if isinstance(c, dict) and isinstance(c.get("home"), str) and isinstance(c.get("cwd"), str):
            self._chat = ChatTail(Path(c["home"]), c["cwd"], 0.0)
            if isinstance(c.get("path"), str):
                self._chat.path = Path(c["path"])

    def env(self, session: ResolvedSession, ctx: SpawnContext) -> dict[str, str]:
        """The session's own worktree is trusted (``GEMINI_CLI_TRUST_WORKSPACE=true``), so it starts at its
        prompt instead of the folder-trust dialog, without writing the user's trustedFolders.json. A
        session ``env`` that sets the variable itself (e.g. ``"false"``) keeps its value."""
        env = {} if "GEMINI_CLI_TRUST_WORKSPACE" in session.env else {"GEMINI_CLI_TRUST_WORKSPACE": "true"}
        if self._home is not None and self._prepared_in == ctx.session_dir:  # not on a node: its links are here
            env["GEMINI_CLI_HOME"] = str(self._home)
        return env

    def find_approval(self, screen_lines: list[str]) -> ApprovalPrompt | None:
        return find_numbered_dialog(screen_lines, self.approval_patterns, before=6)

    def screen_idle(self, screen_lines: list[str]) -> bool:
        """At its input box (placeholder shown) with no spinner and no dialog drawn, after the chat file
        recorded the end of a turn (before the first prompt is taken the screen looks the same)."""
        tail = [clean(ln) for ln in screen_lines if ln.strip()][-12:]
        raw = (not any(_BUSY.search(ln) for ln in tail) and self.find_approval(screen_lines) is None
               and any(_PLACEHOLDER.match(ln) for ln in tail))
        now = time.time()
        self._screen_idle_at = now if raw else None
        done = self._chat.answered_at if self._chat is not None else None
        return raw and ((done is not None and done <= now) or _cancelled(screen_lines))

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
        """Signals from a hook line (``source: gemini``) or a headless stream-json line."""
        if event.get("source") == SOURCE:
            self._chat_from_hook(event.get("payload"))
            self._hooked = True
            return hook_signals(event)
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
    return GeminiAdapter(kind="gemini", approval_patterns=list(QUESTIONS), progress="events", exposes_usage=True,
                         ui_processes=frozenset({"node", "gemini"}))
