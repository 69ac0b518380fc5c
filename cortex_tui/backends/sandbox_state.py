"""An agent's own state inside the bubblewrap sandbox (docs/isolation.md): what a session may write of it
besides the directories of :data:`~cortex_tui.backends.sandbox.AGENT_STATE`.

Claude Code keeps its global config in ``~/.claude.json`` and rewrites it atomically: a temp file *next to
it* in HOME, then a rename over it (and a ``~/.claude.json.lock`` directory around that). HOME is read-only
in the sandbox, and bwrap 0.8 has no overlay to make one file's directory writable, so every rewrite was
refused (its trust answers, onboarding, per-project state were lost). A sandboxed Claude session runs with
``CLAUDE_CONFIG_DIR`` at a state directory of its own in the session's directory (writable there):

- its ``.claude.json`` is a copy of the user's (made once, on the session's first attempt: later attempts
  keep what the session wrote) — the user's own file is never written;
- every other entry of the user's config directory (``~/.claude``: settings, credentials, ``projects/``
  transcripts, agents, commands, plugins…) is a symlink to the real one, so Claude reads the user's
  settings and writes its transcripts where it always does; that directory is bound writable as before.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

FILE_MODE = 0o600
"""This module stays stdlib-only: an ssh node's sandbox launcher runs it there (``backends/sandbox_remote.py``)."""

log = logging.getLogger("cortex_tui.backends")

CLAUDE_STATE = "claude-config"
"""The per-session ``CLAUDE_CONFIG_DIR`` (in the session's directory of the run)."""
CLAUDE_JSON = ".claude.json"


def _home(env: dict[str, str]) -> Path:
    return Path(env.get("HOME") or os.path.expanduser("~"))


def claude_state(session_dir: Path, env: dict[str, str]) -> list[Path]:
    """Point ``env``'s ``CLAUDE_CONFIG_DIR`` at the session's own config directory (made and seeded here);
    returns the user's config directory (to bind writable: the symlinks lead there)."""
    given = env.get("CLAUDE_CONFIG_DIR") or os.environ.get("CLAUDE_CONFIG_DIR")  # the user's own choice
    own = session_dir / CLAUDE_STATE
    source_dir = Path(given) if given else _home(env) / ".claude"
    source_json = source_dir / CLAUDE_JSON if given else _home(env) / CLAUDE_JSON
    own.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = own / CLAUDE_JSON
    if not target.exists() and source_json.is_file():
        tmp = own / f"{CLAUDE_JSON}.seed"
        shutil.copyfile(source_json, tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    if source_dir.is_dir():
        (source_dir / "projects").mkdir(mode=0o700, exist_ok=True)  # transcripts where `claude --resume` looks
        for entry in source_dir.iterdir():
            if entry.name.startswith(CLAUDE_JSON):  # its .claude.json (and .lock, .tmp.*, .backup) are the copy's
                continue
            link = own / entry.name
            if not link.exists() and not link.is_symlink():
                link.symlink_to(entry)
    env["CLAUDE_CONFIG_DIR"] = str(own)
    log.debug("claude-code state in the sandbox: %s (seeded from %s)", own, source_json)
    return [source_dir] if source_dir.is_dir() else []


def prepare_state(agent: str, session_dir: Path, env: dict[str, str]) -> list[Path]:
    """What ``agent`` needs of its own state in the sandbox, set up in ``env``; returns extra paths to bind
    writable."""
    if agent == "claude-code":
        return claude_state(session_dir, env)
    return []
