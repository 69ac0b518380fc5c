"""Gemini CLI's own session record ("chat file"): where the gemini adapter reads turn progress, tool
outcomes and token usage.

Gemini CLI (tested 0.61.0) keeps, per project, ``~/.gemini/tmp/<slug>/.project_root`` (the project's
absolute path) and appends JSON lines to ``~/.gemini/tmp/<slug>/chats/session-<time>-<id>.jsonl``
(``GEMINI_CLI_HOME`` replaces ``~``). The first line is the session header (``sessionId``, ``startTime``);
then messages and ``{"$set": …}`` metadata updates. A message is written again (same ``id``) when it
changes — a model message is first written when its stream ends, then rewritten with its ``toolCalls``
once they ran — so the last line of an id wins:

* ``{"type": "user", "content": [{"text": …}]}`` — the user's prompt: a turn starts (busy);
  ``content`` of ``functionResponse`` parts are tool results being sent back (busy);
* ``{"type": "gemini", "tokens": {"input", "output", "cached", "thoughts", "tool", "total"}, "model"}`` —
  one model response; ``input`` *includes* ``cached``;
* ``toolCalls: [{"name", "args", "status": "success" | "error" | "cancelled", "result": […]}]`` on a model
  message — what its tools did (``error``: fed to the repeated-error rule; ``write_file``/``replace`` name
  the ``file_path`` they wrote: outside the worktree that is ``outside`` when it was written, ``blocked``
  when Gemini refused it itself).

The turn's end and approval requests are not recorded there: the screen shows them (see
:mod:`cortex_tui.agents.gemini`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cortex_tui.agents.base import AgentSignal
from cortex_tui.agents.jsonl_tail import JsonlTail, iso_epoch
from cortex_tui.model.state import TokenUsage

FIND_EVERY_S = 0.5
"""Looking for the chat file at most this often, until it is found."""
WRITE_TOOLS = ("write_file", "replace")


def gemini_home(env: dict[str, str]) -> Path:
    """The directory holding ``.gemini`` for a session (its env, else ours, else ~)."""
    raw = env.get("GEMINI_CLI_HOME") or os.environ.get("GEMINI_CLI_HOME")
    if raw:
        return Path(raw)
    return Path(env.get("HOME") or os.path.expanduser("~"))


def _int(v: object) -> int:
    return max(0, int(v)) if isinstance(v, int | float) and not isinstance(v, bool) else 0


def usage_of(tokens: dict[str, Any]) -> TokenUsage:
    inp = _int(tokens.get("input"))
    cached = min(_int(tokens.get("cached")), inp)
    return TokenUsage(input=inp - cached, cache_read=cached, output=_int(tokens.get("output")) + _int(tokens.get("thoughts")))


def _epoch(v: object) -> float:
    """An ISO timestamp of the chat file as epoch seconds (now when unreadable)."""
    at = iso_epoch(v)
    return time.time() if at is None else at


def _result_text(call: dict[str, Any]) -> str:
    """The error text of a failed tool call (its functionResponse output/error), one line."""
    res = call.get("result")
    texts: list[str] = []
    if isinstance(res, list):
        for part in res:
            fr = part.get("functionResponse") if isinstance(part, dict) else None
            resp = fr.get("response") if isinstance(fr, dict) else None
            if isinstance(resp, dict):
                for k in ("error", "output"):
                    if isinstance(resp.get(k), str):
                        texts.append(resp[k])
    disp = call.get("resultDisplay")
    if not texts and isinstance(disp, str):
        texts.append(disp)
    lines = [ln.strip() for t in texts for ln in t.splitlines() if ln.strip() and not ln.strip().startswith("<")]
    err = [ln for ln in lines if "rror" in ln or "xit code" in ln]
    return (err[-1] if err else lines[-1] if lines else f"{call.get('name')} failed")[:500]


@dataclass
class ChatTail(JsonlTail):
    """Finds the chat file of the session started in ``cwd`` (after ``since``) and reads it incrementally."""

    _tokens: dict[str, tuple[str, TokenUsage]] = field(default_factory=dict)
    """message id -> (model, usage): a rewritten message replaces its earlier figure."""
    _calls_seen: set[str] = field(default_factory=set)
    answered_at: float | None = None
    """When the model's latest message ended its turn (text, or only refused/failed tools), as the chat
    records it (epoch seconds); None while a prompt or tool result waits for the model."""
    _project: Path | None = None
    """The project directory whose ``.project_root`` is ``cwd``, once seen (not looked up again)."""

    def _find(self) -> Path | None:
        now = time.monotonic()
        if now - self._last_find < FIND_EVERY_S:
            return None
        self._last_find = now
        proj = self._project or self._find_project()
        if proj is not None:
            self._project = proj
            cands = []
            for f in (proj / "chats").glob("session-*.jsonl"):
                try:
                    mtime = f.stat().st_mtime
                except OSError:
                    continue
                if mtime >= self.since - 5:
                    cands.append((mtime, f))
            if cands:
                return max(cands)[1]
        return None

    def _find_project(self) -> Path | None:
        base = self.home / ".gemini" / "tmp"
        want = os.path.realpath(self.cwd)
        try:
            projects = list(base.iterdir())
        except OSError:
            return None
        for proj in projects:
            try:
                root = (proj / ".project_root").read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if os.path.realpath(root) == want:
                return proj
        return None

    def signals_of(self, msg: dict[str, Any]) -> list[AgentSignal]:
        kind = msg.get("type")
        if kind == "user":
            self.answered_at = None
            return [AgentSignal("busy", text="prompt sent")]
        if kind != "gemini":
            return []
        calls = [c for c in msg.get("toolCalls") or [] if isinstance(c, dict)]
        ended = (not calls and bool(msg.get("content"))) or (
            bool(calls) and all(c.get("status") in ("cancelled", "error") for c in calls))
        self.answered_at = _epoch(msg.get("timestamp")) if ended else None
        out: list[AgentSignal] = [AgentSignal("progress", text="model answered")]
        mid = msg.get("id")
        tokens = msg.get("tokens")
        model = msg.get("model") if isinstance(msg.get("model"), str) else None
        if isinstance(mid, str) and isinstance(tokens, dict):
            self._tokens[mid] = (model or "", usage_of(tokens))
            out += self.totals()
        for call in calls:
            cid = call.get("id")
            key = f"{cid}:{call.get('status')}"
            if not isinstance(cid, str) or key in self._calls_seen:
                continue
            self._calls_seen.add(key)
            if call.get("status") == "error":
                out.append(AgentSignal("error", text=_result_text(call)))
            args = call.get("args")
            path = args.get("file_path") if isinstance(args, dict) else None
            if call.get("name") in WRITE_TOOLS and isinstance(path, str):
                full = os.path.realpath(os.path.join(self.cwd, path))
                base = os.path.realpath(self.cwd)
                if full != base and not full.startswith(base.rstrip(os.sep) + os.sep):
                    # written (success) or tried and refused by Gemini itself (error: outside its workspace)
                    out.append(AgentSignal("outside" if call.get("status") == "success" else "blocked", text=full))
        return out

    def totals(self) -> list[AgentSignal]:
        """The session's running total per model (every message counted once, at its latest figure)."""
        per: dict[str, TokenUsage] = {}
        for model, u in self._tokens.values():
            t = per.get(model)
            per[model] = u if t is None else TokenUsage(input=t.input + u.input, output=t.output + u.output,
                                                        cache_read=t.cache_read + u.cache_read)
        return [AgentSignal("usage", usage=u, model=m or None, total=True) for m, u in per.items()]

    def checkpoint(self) -> dict[str, Any]:
        return {"path": str(self.path) if self.path else None}
