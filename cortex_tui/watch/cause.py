"""The cause of a crash, in one line, from a session's last output lines.

An agent CLI that cannot start its work says why in a short message buried in what it printed: Claude Code's
stream-json ends with ``{"type":"result","is_error":true,"result":"Not logged in · Please run /login",…}``
(kilobytes of JSON around it); a TUI shows ``Unable to connect to API`` inside ASCII art. The ``exited``
trigger's evidence leads with that line (``cause``) instead of leaving the reader to dig.
"""

from __future__ import annotations

import json
from typing import Any

_PHRASES = ("not logged in", "please run /login", "unable to connect", "invalid api key", "credit balance",
            "authentication_error", "authentication failed", "api error", "connection refused", "econnrefused",
            "could not resolve host", "rate limit", "overloaded", "permission denied", "command not found",
            "no such file or directory", "traceback (most recent call last)")
MAX_CAUSE = 300


def _json_cause(obj: dict[str, Any]) -> str | None:
    if obj.get("type") == "result" and obj.get("is_error"):
        res = obj.get("result")
        if isinstance(res, str) and res.strip():
            return res.strip()
        errs = obj.get("errors")
        if isinstance(errs, list) and errs:
            return str(errs[0])
        return f"error result ({obj.get('subtype') or obj.get('terminal_reason') or 'no message'})"
    if obj.get("type") == "assistant" and obj.get("error"):
        content = (obj.get("message") or {}).get("content") or []
        texts = [c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"]
        return next((t.strip() for t in texts if t.strip()), str(obj["error"]))
    return None


def exit_cause(lines: list[str]) -> str | None:
    """The one line that says why the agent stopped, or None when nothing in ``lines`` says it."""
    for ln in reversed(lines):
        s = ln.strip()
        if s.startswith("{") and s.endswith("}"):
            try:
                obj = json.loads(s)
            except ValueError:  # not JSON after all (a brace-wrapped line): look at it as text below
                continue
            if isinstance(obj, dict):
                cause = _json_cause(obj)
                if cause:
                    return " ".join(cause.split())[:MAX_CAUSE]
    for ln in reversed(lines):
        s = " ".join(ln.split())  # ASCII art's runs of spaces and box glyphs collapse to one space
        low = s.lower()
        if not s.startswith("{") and any(p in low for p in _PHRASES):
            return s.strip("│|╭╮╰╯─ ")[:MAX_CAUSE]
    return None
