"""``agent = "aider"``: the aider pair-programming CLI.

Started as ``aider --no-check-update --no-gitignore [--model M] [extra args] --load <session_dir>/aider-start.txt``
(interactive; the start file holds ``/code <prompt>`` so the task begins at once), or headless as
``aider … --yes-always --no-pretty --message-file <session_dir>/prompt.txt`` (does the one task, then exits).
``--no-gitignore`` keeps aider from offering to edit ``.gitignore`` (which would dirty the worktree).
``CORTEX_AIDER_BIN`` overrides the binary.

Approval prompts are one-line questions ending in ``(Y)es/(N)o [Yes]:`` (sometimes with ``/(A)ll/(S)kip all``
or ``/(D)on't ask again``). The default is Yes, so answers are always typed: ``y``/``n`` + Enter.

Usage: aider's own analytics log (``--analytics-log``, written locally even with ``--no-analytics``) is
pointed at the session's events file: every reply adds ``{"event": "message_send", "properties":
{"prompt_tokens", "completion_tokens", "cost", …}}`` with the figures the API returned — exact, unlike the
rounded ``Tokens: 13k sent, 830 received. Cost: …`` line it prints (:func:`parse_cost_line`, for reports).
``message_send_starting`` marks a request going out (busy).

The figures are the API's only for non-streamed replies: headless runs add ``--no-stream``; a streamed
(interactive) reply's ``prompt_tokens`` is aider's own estimate (known gap).

Offline: ``LITELLM_LOCAL_MODEL_COST_MAP=True`` keeps litellm from fetching its price table at start.
Known gap (0.86.2): ``--load`` refuses ``/code`` ("only supported in interactive mode"), so an interactive
session does not start on its prompt by itself; headless (``--message-file``) does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from cortex_tui.agents.base import AgentAdapter, AgentSignal, ApprovalPrompt, KeyInput, SpawnContext
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import TokenUsage

START_FILE = "aider-start.txt"
PROMPT_FILE = "prompt.txt"
CONFIRM_RE = re.compile(r"\(Y\)es/\(N\)o(?:/\([A-Z]\)[\w' ]+)*\s*(?:\[(?:Yes|No)\])?:\s*$")
_COST_RE = re.compile(
    r"Tokens:\s*([\d.]+)(k|M)?\s+sent(?:,\s*([\d.]+)(k|M)?\s+cache write)?(?:,\s*([\d.]+)(k|M)?\s+cache hit)?,\s*"
    r"([\d.]+)(k|M)?\s+received\.(?:\s*Cost:\s*\$([\d.]+)\s+message,\s*\$([\d.]+)\s+session\.)?")


def _num(v: str | None, unit: str | None) -> int:
    if v is None:
        return 0
    return round(float(v) * {"k": 1_000, "M": 1_000_000}.get(unit or "", 1))


def parse_cost_line(line: str) -> dict[str, float | int | None] | None:
    """Figures from aider's ``Tokens: … Cost: …`` report line (approximate: aider rounds them)."""
    m = _COST_RE.search(line)
    if not m:
        return None
    g = m.groups()
    return {"sent": _num(g[0], g[1]), "cache_write": _num(g[2], g[3]), "cache_hit": _num(g[4], g[5]),
            "received": _num(g[6], g[7]), "message_usd": float(g[8]) if g[8] else None,
            "session_usd": float(g[9]) if g[9] else None}


@dataclass
class AiderAdapter(AgentAdapter):
    def command(self, session: ResolvedSession, ctx: SpawnContext) -> list[str]:
        if session.command:
            return ["/bin/sh", "-c", session.command]
        argv = [os.environ.get("CORTEX_AIDER_BIN") or "aider", "--no-check-update", "--no-gitignore",
                "--no-analytics", "--analytics-log", str(ctx.events_file)]
        if session.model:
            argv += [f"--model={session.model}"]  # one token: a model "-x" is not read as a flag
        argv += list(session.extra_args)
        if ctx.headless:
            # --no-stream: aider records the API's own usage only for non-streamed replies (streamed, it
            # counts the prompt itself, an estimate)
            argv += ["--yes-always", "--no-pretty", "--no-stream", "--message-file", str(ctx.session_dir / PROMPT_FILE)]
        elif session.prompt:
            argv += ["--load", str(ctx.session_dir / START_FILE)]
        return argv

    def prepare(self, session: ResolvedSession, ctx: SpawnContext) -> None:
        ctx.session_dir.mkdir(parents=True, exist_ok=True)
        (ctx.session_dir / PROMPT_FILE).write_text(session.prompt, encoding="utf-8")
        # /load runs one command per line: the prompt goes on one line
        one_line = " ".join(session.prompt.split())
        (ctx.session_dir / START_FILE).write_text(f"/code {one_line}\n" if one_line else "", encoding="utf-8")

    def env(self, session: ResolvedSession, ctx: SpawnContext) -> dict[str, str]:
        return {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    def interpret_event(self, event: dict[str, Any]) -> list[AgentSignal]:
        """Lines of aider's analytics log: ``message_send`` = one reply's exact usage (and aider's cost)."""
        name = event.get("event")
        props = event.get("properties")
        if name == "message_send" and isinstance(props, dict):
            usage = TokenUsage(input=_count(props.get("prompt_tokens")), output=_count(props.get("completion_tokens")))
            cost = props.get("cost")
            # aider reports 0 when it has no price for the model: that is an unknown cost, not a free one
            known = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) and cost > 0 else None
            return [AgentSignal("usage", usage=usage, cost_usd=known)]
        if name == "message_send_starting":
            return [AgentSignal("busy", text="request sent")]
        if name == "message_send_exception":
            return [AgentSignal("error", text=str(props.get("exception") if isinstance(props, dict) else "")[:500])]
        return super().interpret_event(event)

    def approve_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        return [("literal", "y"), ("key", "Enter")]

    def deny_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        return [("literal", "n"), ("key", "Enter")]


def _count(v: object) -> int:
    return max(0, int(v)) if isinstance(v, int | float) and not isinstance(v, bool) else 0


def make() -> AgentAdapter:
    return AiderAdapter(kind="aider", approval_patterns=[CONFIRM_RE], progress="output", exposes_usage=True)
