"""Claude Code's hooks: the settings file that installs them, and what each hook line means.

Part of ``agent = "claude-code"`` (:mod:`cortex_tui.agents.claude_code`, which re-exports these names).
``prepare()`` writes ``<session_dir>/claude-settings.json`` whose hooks run ``python -m cortex_tui.hook``
(:mod:`cortex_tui.hook`) for every lifecycle event; each appends a line to the session's events file, read
back here as :class:`~cortex_tui.agents.base.AgentSignal` s. In enforce mode the PreToolUse hook also refuses
writes outside the session's scope (``scope.json``).
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cortex_tui.agents.base import AgentSignal, SpawnContext
from cortex_tui.selfpath import PACKAGE_PARENT

SOURCE = "claude-code"
SETTINGS_FILE = "claude-settings.json"
SCOPE_FILE = "scope.json"
HOOK_EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest", "Notification", "Stop",
               "SessionStart", "SessionEnd", "UserPromptSubmit")
_TOOL_EVENTS = {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest"}
HOOK_TIMEOUT_S = 30


class HookLine(BaseModel):
    """A line written by :mod:`cortex_tui.hook`."""

    model_config = ConfigDict(extra="ignore")

    source: str
    event: str
    ts: float | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


def _summary(payload: dict[str, Any]) -> str:
    tool = payload.get("tool_name") or "?"
    raw = payload.get("tool_input")
    ti: dict[str, Any] = raw if isinstance(raw, dict) else {}
    detail = ti.get("command") or ti.get("file_path") or ti.get("notebook_path") or ti.get("url") or ti.get("pattern")
    text = f"{tool}: {detail}" if detail else str(tool)
    return text if len(text) <= 300 else text[:299] + "…"


_WRITE_KEYS = {"Edit": "file_path", "Write": "file_path", "MultiEdit": "file_path", "NotebookEdit": "notebook_path"}


def _outside_write(p: dict[str, Any]) -> list[AgentSignal]:
    """A write tool that changed a file outside the worktree (the payload's ``cwd``): the watcher, which
    sees only worktrees, cannot flag it, so the hook payload does (warn mode; enforce mode blocks it)."""
    key = _WRITE_KEYS.get(str(p.get("tool_name")))
    ti = p.get("tool_input")
    cwd = p.get("cwd")
    if key is None or not isinstance(ti, dict) or not isinstance(ti.get(key), str) or not isinstance(cwd, str):
        return []
    full = os.path.realpath(os.path.join(cwd, ti[key]))
    base = os.path.realpath(cwd)
    if full == base or full.startswith(base.rstrip(os.sep) + os.sep):
        return []
    return [AgentSignal("outside", text=full)]


def hook_command(ctx: SpawnContext, *, enforce: bool) -> str:
    """The shell command Claude Code runs for each hook (``-S``: skip site, the hook needs only stdlib)."""
    argv = [sys.executable, "-S", "-m", "cortex_tui.hook", "--events", str(ctx.events_file),
            "--root", str(ctx.worktree)]
    if enforce:
        argv += ["--scope-file", str(ctx.session_dir / SCOPE_FILE), "--enforce"]
    return f"PYTHONPATH={shlex.quote(PACKAGE_PARENT)} {shlex.join(argv)}"


def settings_json(ctx: SpawnContext, *, enforce: bool) -> dict[str, Any]:
    cmd = {"type": "command", "command": hook_command(ctx, enforce=enforce), "timeout": HOOK_TIMEOUT_S}
    hooks: dict[str, Any] = {}
    for ev in HOOK_EVENTS:
        entry: dict[str, Any] = {"hooks": [cmd]}
        if ev in _TOOL_EVENTS:
            entry = {"matcher": "*", **entry}
        hooks[ev] = [entry]
    return {"hooks": hooks}


def hook_signals(line: HookLine) -> list[AgentSignal]:
    """What a hook line says (waiting, busy, idle, errors, a write outside the worktree), usage aside."""
    p = line.payload
    ev = line.event
    out: list[AgentSignal] = []
    if ev == "PermissionRequest":
        out.append(AgentSignal("waiting", text=_summary(p)))
    elif ev == "Notification":
        kind = p.get("notification_type")
        if kind == "permission_prompt":
            out.append(AgentSignal("waiting", text=str(p.get("message") or "permission prompt")))
        elif kind == "idle_prompt":
            out.append(AgentSignal("idle", text=str(p.get("message") or "idle")))
    elif ev == "PostToolUseFailure" and not p.get("is_interrupt"):
        # the pane shows only "Ran 3 shell commands · 3 failed": the hook's error feeds repeated_error
        err = p.get("error")
        out.append(AgentSignal("busy", text=_summary(p)))
        out.append(AgentSignal("error", text=f"{_summary(p)}: {err if isinstance(err, str) else 'failed'}"[:500]))
    elif ev in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
        out.append(AgentSignal("busy", text=_summary(p)))
    elif ev == "UserPromptSubmit":
        out.append(AgentSignal("busy", text="prompt submitted"))
    elif ev == "SessionStart":
        out.append(AgentSignal("progress", text=f"session start ({p.get('source') or '?'})",
                               model=p.get("model") if isinstance(p.get("model"), str) else None))
    elif ev == "Stop":
        out.append(AgentSignal("idle", text="turn finished"))
    elif ev == "SessionEnd":
        out.append(AgentSignal("finished", text=f"session ended ({p.get('reason') or '?'})"))
    elif ev == "blocked":  # evidence: the resolved path (the reason is what Claude was told)
        path = p.get("path")
        out.append(AgentSignal("blocked", text=str(path if isinstance(path, str) and path else
                                                   p.get("reason") or _summary(p))))
    if ev == "PostToolUse":
        out.extend(_outside_write(p))
    return out
