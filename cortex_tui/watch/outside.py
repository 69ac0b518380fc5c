"""Writes that land outside a session's worktree: seen in the agent's tool calls (Claude Code hook payloads
name the file a Write/Edit/MultiEdit/NotebookEdit targets), resolved through symlinks and ``..``.

A lexical check is not enough: ``link/x`` where ``link`` is a symlink committed in the base tree, an
absolute path, or ``../x`` all leave the worktree. The path is resolved (``os.path.realpath``) relative to
the tool call's working directory and compared with the resolved worktree.
"""

from __future__ import annotations

import os
from typing import Any

WRITE_TOOLS = {"Edit": "file_path", "Write": "file_path", "MultiEdit": "file_path", "NotebookEdit": "notebook_path"}
TOOL_EVENTS = ("PreToolUse", "PostToolUse")


def written_path(event: dict[str, Any]) -> tuple[str, str | None, str] | None:
    """(path, cwd, tool) of a file-writing tool call recorded by the hook, or None."""
    if event.get("event") not in TOOL_EVENTS:
        return None
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return None
    tool = payload.get("tool_name")
    inp = payload.get("tool_input")
    if not isinstance(tool, str) or tool not in WRITE_TOOLS or not isinstance(inp, dict):
        return None
    path = inp.get(WRITE_TOOLS[tool])
    cwd = payload.get("cwd")
    if not isinstance(path, str) or not path:
        return None
    return path, cwd if isinstance(cwd, str) else None, tool


def outside_worktree(path: str, cwd: str | None, worktree: str) -> str | None:
    """The resolved target of ``path`` when it is outside ``worktree`` (None when inside)."""
    root = os.path.realpath(worktree)
    target = os.path.realpath(os.path.join(cwd or worktree, path))
    if target == root or target.startswith(root.rstrip(os.sep) + os.sep):
        return None
    return target
