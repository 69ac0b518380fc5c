"""``agent = "codex"``: OpenAI's Codex CLI.

Started as ``codex [-a POLICY] [--model M] [extra args] -- PROMPT`` (interactive TUI; ``permission_mode`` is
passed as ``--ask-for-approval``: untrusted, on-failure, on-request or never), or headless as
``codex exec --json --sandbox workspace-write [--model M] [extra args] -- PROMPT``, whose stdout is JSONL
(``thread.started``, ``turn.started``, ``item.*``, ``turn.completed`` with ``usage``, ``turn.failed``,
``error``). ``CORTEX_CODEX_BIN`` overrides the binary.

Structured signals: Codex's ``PermissionRequest`` hook (:mod:`cortex_tui.agents.codex_hooks`, given on the
interactive command line with its trust; off with ``CORTEX_CODEX_HOOKS=0`` in the session env) → waiting,
with the command and the model's justification as evidence, before the dialog is drawn; Codex's own session file (the "rollout", :mod:`cortex_tui.agents.codex_rollout`),
found by the worktree it was started in and tailed by :meth:`CodexAdapter.poll_usage`: ``task_started`` →
busy, ``task_complete``/``turn_aborted`` → idle, ``token_count`` → the thread's usage totals (input
*including* cached input, output). The screen's approval dialogs stay the fallback (and give the choices). The headless JSONL
(``turn.completed.usage``) maps the same way when fed to :meth:`CodexAdapter.interpret_event`.

Approval dialogs ("Would you like to run the following command?", "… make the following edits?",
"… grant these permissions?") list numbered choices with letter shortcuts — ``1. Yes, proceed (y)`` …
``3. No, and tell Codex what to do differently (esc)``; they are answered with the shortcut (or the
number), never a blind Enter.

At start, a hook in any config layer that Codex has not been told to trust (the user's own ``config.toml``, a
project's ``.codex/config.toml`` — its trust is keyed by the file's path; the user's trust of the repo's own
hooks is carried to the worktree, bound to their content: :func:`~cortex_tui.agents.codex_hooks.carried_trust`
— or ours at an untested version whose trust hash differs) stops Codex at "Hooks need review"
(``1. Review hooks`` / ``2. Trust all and continue`` / ``3. Continue without trusting (hooks won't run)``):
a screen-detected ``waiting`` with that text; approve picks "Trust all and continue" (Codex itself then
records the trust in ``$CODEX_HOME/config.toml``), deny "Continue without trusting". The adapter trusts no
hook but its own and, on the command line only, those whose content the user already trusted in the
repository's main checkout.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cortex_tui.agents.base import AgentAdapter, AgentSignal, ApprovalPrompt, KeyInput, SpawnContext
from cortex_tui.agents.codex_hooks import SOURCE, carried_trust, hook_args, hook_signals, hooks_wanted, state_args
from cortex_tui.agents.codex_rollout import RolloutTail, codex_home
from cortex_tui.agents.dialogs import NumberedDialogAdapter, choice_number, choices
from cortex_tui.errors import CortexError
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import TokenUsage

QUESTIONS = [
    re.compile(r"^Would you like to (?:run the following command|make the following edits|grant these permissions)\?"),
    re.compile(r"^Would you like to .+\?\s*$"),
    re.compile(r"^Allow .+ to (?:run|access|connect) .+\?\s*$"),
    re.compile(r"^Trust this folder\?"),  # first start in a folder Codex does not know (answered with 1)
    re.compile(r"^Hooks need review\b"),  # a hook Codex has not been told to trust (answered by number + Enter)
]
_TRUST_HOOKS = "Trust all and continue"
_SKIP_HOOKS = "Continue without trusting"
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


def _hooks_review_keys(prompt: ApprovalPrompt | None, label: str) -> list[KeyInput] | None:
    """Keys answering Codex's start-up "Hooks need review" dialog with the choice ``label`` (None: not that dialog).

    Its choices have no shortcut letters and a digit only moves the cursor (0.171.0): the number, then Enter —
    never Enter alone, whose choice (the cursor starts on "1. Review hooks") answers nothing asked."""
    if prompt is None or not prompt.text.startswith("Hooks need review"):
        return None
    num = choice_number(prompt, re.compile("^" + re.escape(label) + r"\b"))
    if num is None:
        raise CortexError(f"the Codex 'Hooks need review' dialog has no {label!r} choice "
                          "(untested layout): no key sent", "attach to the session and answer it there")
    return [("literal", num), ("key", "Enter")]


@dataclass
class CodexAdapter(NumberedDialogAdapter):
    _rollout: RolloutTail | None = field(default=None, repr=False, compare=False)

    def prepare(self, session: ResolvedSession, ctx: SpawnContext) -> None:
        self._rollout = RolloutTail(codex_home(dict(session.env)), str(ctx.worktree), time.time())

    def poll_usage(self) -> list[AgentSignal]:
        """What Codex appended to its session file: turn state and the thread's usage totals."""
        return self._rollout.read() if self._rollout is not None else []

    def watch_files(self) -> list[Path]:
        return [self._rollout.path] if self._rollout is not None and self._rollout.path is not None else []

    def finding(self) -> bool:
        return self._rollout is not None and self._rollout.path is None

    def usage_checkpoint(self) -> dict[str, Any]:
        if self._rollout is None:
            return {}
        return {"rollout": {**self._rollout.checkpoint(), "home": str(self._rollout.home), "cwd": self._rollout.cwd}}

    def restore_usage_checkpoint(self, data: dict[str, Any]) -> None:
        """Usage in the rollout is a running total: re-reading it from the start counts nothing twice."""
        r = data.get("rollout")
        if isinstance(r, dict) and isinstance(r.get("home"), str) and isinstance(r.get("cwd"), str):
            self._rollout = RolloutTail(Path(r["home"]), r["cwd"], 0.0)
            if isinstance(r.get("path"), str):
                self._rollout.path = Path(r["path"])

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
            carried = carried_trust(codex_home(dict(session.env)), ctx.repo, ctx.worktree)
            argv += hook_args(carried) if hooks_wanted(dict(session.env)) else state_args(carried)
        if session.model:
            argv += [f"--model={session.model}"]  # one token: a model "-x" is not read as a flag
        argv += list(session.extra_args)
        if session.prompt:
            argv += ["--", session.prompt]
        return argv

    def approve_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        hooks = _hooks_review_keys(prompt, _TRUST_HOOKS)
        if hooks is not None:
            return hooks
        return _key_for(prompt, re.compile(r"^Yes\b")) or [("literal", "1")]

    def deny_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        hooks = _hooks_review_keys(prompt, _SKIP_HOOKS)
        if hooks is not None:
            return hooks
        keys = _key_for(prompt, re.compile(r"^No\b"))
        if keys:
            return keys
        num = choice_number(prompt, re.compile(r"^No\b"))
        return [("literal", num)] if num else [("key", "Escape")]

    def interpret_event(self, event: dict[str, Any]) -> list[AgentSignal]:
        """Signals from a hook line (``source: codex``) or a ``codex exec --json`` line."""
        if event.get("source") == SOURCE:
            sigs = hook_signals(event)
            if self._rollout is not None and any(s.kind == "waiting" for s in sigs):
                self._rollout.quiet_before = time.time()
            return sigs
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
    return CodexAdapter(kind="codex", approval_patterns=list(QUESTIONS), progress="events", exposes_usage=True,
                        ui_processes=frozenset({"node", "codex", "MainThread"}), answer_retry=True,
                        # 0.171.0 starts `…/app-server-daemon/…/codex app-server` in a session of its own: it
                        # outlives the TUI (and `codex app-server daemon …` with it)
                        detached=("app-server",))
