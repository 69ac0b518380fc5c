"""Codex's ``PermissionRequest`` hook for a supervised session: ``waiting`` from Codex itself, not its screen.

Codex (tested 0.171.0) runs command hooks (``[hooks]`` tables, Claude Code's shape) from every config layer,
the command line's ``-c key=value`` overrides ("session flags") included. ``PermissionRequest`` runs in the
approval path *before* the dialog is drawn, with ``tool_name`` and ``tool_input`` (``command``, and the
model's ``description`` — its justification) on stdin.

Codex runs a non-managed hook only once it is trusted: an untrusted one makes it start at a "Hooks need
review" dialog. Trust is a ``trusted_hash`` under ``hooks.state."<layer>:<event>:<group>:<handler>"``, and
only the user's config or the session flags may carry it. So the session gets both on its command line
(never in the user's ``config.toml``):

    -c hooks.PermissionRequest=[{hooks=[{type="command",command=CMD}]}]
    -c hooks.state={"/<session-flags>/config.toml:permission_request:0:0"={trusted_hash="sha256:…"}}

where the hash is Codex's own: SHA-256 of the compact, key-sorted JSON of the normalized hook identity
``{"event_name": "permission_request", "hooks": [{"type": "command", "command": CMD, "timeout": 600,
"async": false}]}`` (:func:`trusted_hash`; checked against the hash Codex 0.171.0 itself wrote when a human
trusted the hook, tests/fixtures/agents/codex/0.171.0/hook-trust.json). Only *our* hook is trusted that way:
the user's own hooks keep their own trust.

``CMD`` is one ``/bin/sh`` ``printf >>`` of the payload (at most :data:`MAX_PAYLOAD` bytes; a longer one is a
cut line the engine skips) as ``{"source": "codex", "event": "PermissionRequest", "payload": …}`` to
``$CORTEX_EVENTS_FILE`` (set in the session's environment by its node): the command is the same for every
session. It prints nothing, so Codex takes no decision from it and draws its dialog as usual.

Known effect: with any hook on its command line Codex 0.171.0 runs its app server in process and starts no
``app-server`` daemon. A session ``env`` with ``CORTEX_CODEX_HOOKS = "0"`` starts Codex without the hook
(``waiting`` then comes from the screen only, and the daemon is started as before).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from cortex_tui.agents.base import AgentSignal

SOURCE = "codex"
MAX_PAYLOAD = 262144
LAYER = "/<session-flags>/config.toml"
DEFAULT_TIMEOUT_S = 600
"""Codex's default hook timeout: part of the hashed identity."""

COMMAND = (f"printf '{{\"source\":\"{SOURCE}\",\"event\":\"PermissionRequest\",\"payload\":%s}}\\n' "
           f"\"$(head -c {MAX_PAYLOAD})\" >> \"$CORTEX_EVENTS_FILE\"")


def trusted_hash(event_key: str, command: str, *, matcher: str | None = None, timeout: int = DEFAULT_TIMEOUT_S,
                 run_async: bool = False) -> str:
    """The ``trusted_hash`` Codex computes for one command hook (``event_key``: ``permission_request``)."""
    handler: dict[str, Any] = {"type": "command", "command": command, "timeout": timeout, "async": run_async}
    identity: dict[str, Any] = {"event_name": event_key, "hooks": [handler]}
    if matcher is not None:
        identity["matcher"] = matcher
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _toml_str(s: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for these characters)."""
    return json.dumps(s, ensure_ascii=False)


def hook_args() -> list[str]:
    """The ``-c`` overrides adding our trusted ``PermissionRequest`` hook to this invocation only."""
    key = f"{LAYER}:permission_request:0:0"
    return ["-c", f"hooks.PermissionRequest=[{{hooks=[{{type=\"command\",command={_toml_str(COMMAND)}}}]}}]",
            "-c", f"hooks.state={{{_toml_str(key)}={{trusted_hash={_toml_str(trusted_hash('permission_request', COMMAND))}}}}}"]


def hooks_wanted(env: dict[str, str]) -> bool:
    return env.get("CORTEX_CODEX_HOOKS", os.environ.get("CORTEX_CODEX_HOOKS", "1")) != "0"


def hook_signals(event: dict[str, Any]) -> list[AgentSignal]:
    """Signals of one hook line (``source: codex``): ``PermissionRequest`` → waiting, its command (and the
    model's justification) as evidence."""
    p = event.get("payload")
    if event.get("event") != "PermissionRequest" or not isinstance(p, dict):
        return [AgentSignal("progress", text=str(event.get("event")))]
    ti = p.get("tool_input")
    cmd = ti.get("command") if isinstance(ti, dict) else None
    why = ti.get("description") if isinstance(ti, dict) else None
    tool = p.get("tool_name") if isinstance(p.get("tool_name"), str) else "tool"
    what = f"$ {cmd}" if isinstance(cmd, str) and cmd else f"{tool} (no command given)"
    text = f"Codex asks to run: {what}" + (f" — {why}" if isinstance(why, str) and why else "")
    return [AgentSignal("waiting", text=text[:2000])]
