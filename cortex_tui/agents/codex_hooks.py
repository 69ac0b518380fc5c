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

**Carried trust.** Codex keys a project hook's trust by its config file's path
(``"<dir>/.codex/config.toml:<event>:<group>:<handler>"``). :func:`carried_trust` copies each entry the user's
own ``$CODEX_HOME/config.toml`` has under the repository's main checkout (its ``trusted_hash``, and
``enabled`` when they turned it off) to the same key under the session's worktree, on the command line
only. Safe: the hash is of the hook's content, so a worktree hook whose content differs from what the user
trusted (an agent or a branch changed it) is still asked about, and nothing the user did not trust is
trusted. Where it matters (0.171.0, measured): a worktree whose ``.git`` leads to no main checkout — a remote
session's worktree of the node's bare repository — is read from its own ``.codex/config.toml`` (keyed by its
own path: new in every worktree). A local linked worktree is read from the *main checkout's*
``.codex/config.toml`` instead (Codex resolves a linked worktree to its main checkout), whose trust the
user's config already has: the carried keys are then never consulted.

``hooks.state`` given with ``-c`` merges key by key with the config file's table (its entries stay), but a
second ``-c hooks.state=…`` replaces the first: ours and the carried entries are one override
(:func:`state_args`).

Known effect: with any hook on its command line Codex 0.171.0 runs its app server in process and starts no
``app-server`` daemon. A session ``env`` with ``CORTEX_CODEX_HOOKS = "0"`` starts Codex without the hook
(``waiting`` then comes from the screen only, and the daemon is started as before).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cortex_tui.agents.base import AgentSignal

log = logging.getLogger("cortex_tui.agents")

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


class HookState(BaseModel):
    """One ``hooks.state`` entry of the user's config (what is carried of it)."""

    model_config = ConfigDict(extra="ignore")

    trusted_hash: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")
    enabled: bool | None = None


class _Hooks(BaseModel):
    model_config = ConfigDict(extra="ignore")

    state: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Each entry validated on its own: an odd one is not carried, the others still are."""


class _UserConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    hooks: _Hooks = Field(default_factory=_Hooks)


_HOOK_ID = re.compile(r"^[a-z_]{1,64}:\d{1,6}:\d{1,6}$")
"""The ``<event>:<group>:<handler>`` tail of a trust key (anything else is not carried)."""
PROJECT_CONFIG = ".codex/config.toml"


def _dirs(p: Path) -> list[str]:
    """``p`` as given and resolved (Codex may key by either)."""
    try:
        resolved = str(p.resolve())
    except OSError:
        resolved = str(p)
    return list(dict.fromkeys([str(p), resolved]))


def carried_trust(home: Path, repo: Path, worktree: Path) -> dict[str, HookState]:
    """The user's ``hooks.state`` entries for the main checkout's project hooks, keyed for ``worktree``.

    Only entries with a ``trusted_hash`` (the user reviewed that content) are carried, with their
    ``enabled``; nothing when the worktree is the checkout itself. A config that cannot be read or parsed
    carries nothing (a log line says why); a missing one, silently."""
    path = home / "config.toml"
    if _dirs(repo) == _dirs(worktree):
        return {}
    try:
        raw = path.read_text(encoding="utf-8")
        cfg = _UserConfig.model_validate(tomllib.loads(raw))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValidationError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        log.warning("codex: %s could not be read (%s): the trust of the repository's own hooks is not carried "
                    "to the worktree (Codex may ask about them)", path, why)
        return {}
    prefixes = [f"{d}/{PROJECT_CONFIG}:" for d in _dirs(repo)]
    out: dict[str, HookState] = {}
    for key, entry in cfg.hooks.state.items():
        pre = next((p for p in prefixes if key.startswith(p)), None)
        if pre is None or not _HOOK_ID.match(key[len(pre):]):
            continue
        try:
            st = HookState.model_validate(entry)
        except ValidationError:
            log.info("codex: hooks.state.%s in %s is not understood: not carried", json.dumps(key), path)
            continue
        if st.trusted_hash is None:
            continue
        for d in _dirs(worktree):
            out[f"{d}/{PROJECT_CONFIG}:{key[len(pre):]}"] = st
    return out


def _state_entry(st: HookState) -> str:
    parts = [f"trusted_hash={_toml_str(st.trusted_hash)}"] if st.trusted_hash is not None else []
    if st.enabled is not None:
        parts.append(f"enabled={'true' if st.enabled else 'false'}")
    return "{" + ",".join(parts) + "}"


def state_args(entries: dict[str, HookState]) -> list[str]:
    """One ``-c hooks.state={…}`` with ``entries`` (none: no override). One only: a second would replace it."""
    if not entries:
        return []
    return ["-c", "hooks.state={" + ",".join(f"{_toml_str(k)}={_state_entry(v)}" for k, v in entries.items()) + "}"]


def own_state() -> dict[str, HookState]:
    """The trust of our ``PermissionRequest`` hook."""
    return {f"{LAYER}:permission_request:0:0": HookState(trusted_hash=trusted_hash("permission_request", COMMAND))}


def hook_args(carried: dict[str, HookState] | None = None) -> list[str]:
    """The ``-c`` overrides adding our trusted ``PermissionRequest`` hook to this invocation only (with the
    ``carried`` trust in the same ``hooks.state`` override)."""
    return ["-c", f"hooks.PermissionRequest=[{{hooks=[{{type=\"command\",command={_toml_str(COMMAND)}}}]}}]",
            *state_args({**(carried or {}), **own_state()})]


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
