"""Gemini CLI's hooks for a supervised session: its own ``GEMINI_CLI_HOME`` whose settings add our hooks.

Gemini CLI (tested 0.61.0) reads hooks from its settings. A system settings file
(``GEMINI_CLI_SYSTEM_SETTINGS_PATH``) is refused unless it and every directory above it are owned by root
and not group/world-writable — never true of a session's own directory for an ordinary user — and the
workspace's ``.gemini/settings.json`` would be a file in the agent's worktree (its diff, its commits). So
the session gets a home of its own: ``<session dir>/gemini-home/.gemini/`` holds a copy of the user's
``settings.json`` with our hooks added to theirs, and a symlink to every other entry of the user's
``~/.gemini`` (credentials, trusted folders, ``tmp/`` with the chat files, extensions, memory). The user's
own files are never written; what Gemini itself writes to ``settings.json`` during the session (a
``/settings`` change) stays in the session's copy.

Each hook appends one line ``{"source": "gemini", "event": <name>, "payload": <Gemini's hook input>}`` to the
session's events file with ``/bin/sh`` (no interpreter start-up in the agent's path; at most
:data:`MAX_PAYLOAD` bytes of input, a longer one is a cut line the engine skips):

* ``BeforeAgent`` — a prompt is being worked on (busy); ``AfterAgent`` — the turn ended (idle);
* ``Notification`` with ``notification_type: ToolPermission`` — an approval dialog is shown (waiting;
  ``details.command`` / ``details.filePath`` as evidence);
* ``AfterTool`` — a tool ran (busy).

A session ``env`` with ``CORTEX_GEMINI_HOOKS = "0"`` keeps Gemini on the user's own home (no hooks: the
chat file and the screen are used, as before).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
from pathlib import Path
from typing import Any

from cortex_tui.agents.base import AgentSignal

log = logging.getLogger("cortex_tui.agents")

HOOK_EVENTS = ("BeforeAgent", "AfterAgent", "Notification", "AfterTool")
MAX_PAYLOAD = 262144
SOURCE = "gemini"
_COMMENTS = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.S)


def hook_command(event: str, events_file: Path) -> str:
    """The shell command of one hook: Gemini's JSON input (stdin) as one events-file line."""
    return (f"printf '{{\"source\":\"{SOURCE}\",\"event\":\"{event}\",\"payload\":%s}}\\n' "
            f"\"$(head -c {MAX_PAYLOAD})\" >> {shlex.quote(str(events_file))}")


def _user_settings(path: Path) -> dict[str, Any] | None:
    """The user's settings.json (Gemini allows comments in it); None when it cannot be read as an object."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as e:
        log.warning("gemini: cannot read %s (%s): its hooks are not used", path, e)
        return None
    try:
        got = json.loads(_COMMENTS.sub(lambda m: m.group(1) or "", raw))
    except ValueError:
        log.warning("gemini: %s is not JSON: its hooks are not used", path)
        return None
    return got if isinstance(got, dict) else None


def prepare_home(user_home: Path, own: Path, events_file: Path) -> Path | None:
    """Make ``own`` a Gemini home mirroring ``user_home``'s ``.gemini`` with our hooks; None when the user's
    settings cannot be read (the session then runs on the user's own home, without hooks)."""
    theirs = user_home / ".gemini"
    settings = _user_settings(theirs / "settings.json")
    if settings is None:
        return None
    mine = own / ".gemini"
    mine.mkdir(parents=True, exist_ok=True)
    if theirs.is_dir() and not (theirs / "tmp").exists():  # Gemini's own layout: chats stay in the user's place
        (theirs / "tmp").mkdir()
    try:
        entries = list(theirs.iterdir())
    except OSError:
        entries = []
    for entry in entries:
        link = mine / entry.name
        if entry.name == "settings.json" or link.is_symlink() or link.exists():
            continue
        link.symlink_to(entry)
    hooks = dict(settings.get("hooks") or {}) if isinstance(settings.get("hooks"), dict) else {}
    for ev in HOOK_EVENTS:
        ours = {"matcher": "*", "hooks": [{"type": "command", "command": hook_command(ev, events_file),
                                           "name": f"cortex-tui {ev}"}]}
        have = hooks.get(ev)
        hooks[ev] = [*(have if isinstance(have, list) else []), ours]
    (mine / "settings.json").write_text(json.dumps({**settings, "hooks": hooks}, indent=1), encoding="utf-8")
    return own


def hook_signals(event: dict[str, Any]) -> list[AgentSignal]:
    """Signals of one hook line (``source: gemini``)."""
    name = event.get("event")
    p = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    assert isinstance(p, dict)
    if name == "BeforeAgent":
        return [AgentSignal("busy", text="prompt submitted")]
    if name == "AfterAgent":
        return [AgentSignal("idle", text="turn ended")]
    if name == "AfterTool":
        return [AgentSignal("busy", text=f"{p.get('tool_name') or 'tool'} ran")]
    if name == "Notification" and p.get("notification_type") == "ToolPermission":
        d = p.get("details") if isinstance(p.get("details"), dict) else {}
        assert isinstance(d, dict)
        what = d.get("command") or d.get("filePath") or d.get("title")
        msg = str(p.get("message") or "permission requested")
        return [AgentSignal("waiting", text=f"{msg}: {what}" if what else msg)]
    return [AgentSignal("progress", text=str(name))]


def hooks_wanted(env: dict[str, str]) -> bool:
    return env.get("CORTEX_GEMINI_HOOKS", os.environ.get("CORTEX_GEMINI_HOOKS", "1")) != "0"
