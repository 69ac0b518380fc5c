"""Can each installed agent CLI authenticate? (``cortex-tui doctor``): an API key in the environment or a
login state on disk — checked without a network call, and said which one it is.

A CLI that is installed but can neither use a key nor a login fails its first turn with a short message
(``Not logged in · Please run /login``) after the run started; doctor says so before.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AgentAuthSpec:
    agent: str
    """The layout's agent name."""
    binary: str
    env_keys: tuple[str, ...]
    """Any one of these set (non-empty) means the CLI can authenticate with a key."""
    login_files: tuple[str, ...]
    """Any one of these (relative to HOME) existing means a login was done."""
    how: str
    """How to log in or provide a key."""


AGENTS: tuple[AgentAuthSpec, ...] = (
    AgentAuthSpec("claude-code", "claude", ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
                  (".claude/.credentials.json",),
                  "run `claude` and type /login, or set ANTHROPIC_API_KEY"),
    AgentAuthSpec("codex", "codex", ("OPENAI_API_KEY", "CODEX_API_KEY"), (".codex/auth.json",),
                  "run `codex login`, or set OPENAI_API_KEY"),
    AgentAuthSpec("gemini", "gemini", ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS"),
                  (".gemini/oauth_creds.json",),
                  "run `gemini` and sign in, or set GEMINI_API_KEY"),
    AgentAuthSpec("opencode", "opencode", ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"),
                  (".local/share/opencode/auth.json",),
                  "run `opencode auth login`, or set the provider's API key (e.g. ANTHROPIC_API_KEY)"),
    AgentAuthSpec("aider", "aider", ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY",
                                     "OPENROUTER_API_KEY"), (),
                  "set the API key of the model aider uses (e.g. ANTHROPIC_API_KEY or OPENAI_API_KEY)"),
)


@dataclass(frozen=True)
class AuthResult:
    ok: bool
    how: str
    """What was found ("ANTHROPIC_API_KEY set", "logged in (~/.claude/.credentials.json)") or what is missing."""


def _claude_json_login(home: Path) -> bool:
    """``~/.claude.json`` records the account of an OAuth login (credentials may sit in a keychain)."""
    try:
        data = json.loads((home / ".claude.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool(data.get("oauthAccount"))


def check_auth(spec: AgentAuthSpec, env: dict[str, str] | None = None, home: Path | None = None) -> AuthResult:
    env = dict(os.environ) if env is None else env
    home = home or Path(env.get("HOME") or Path.home())
    keys = [k for k in spec.env_keys if env.get(k, "").strip()]
    if keys:
        extra = f", endpoint {env['ANTHROPIC_BASE_URL']}" if spec.binary == "claude" and env.get(
            "ANTHROPIC_BASE_URL") else ""
        return AuthResult(True, f"API key: {keys[0]} set{extra}")
    for rel in spec.login_files:
        if (home / rel).is_file():
            return AuthResult(True, f"logged in (~/{rel})")
    if spec.binary == "claude" and _claude_json_login(home):
        return AuthResult(True, "logged in (account in ~/.claude.json)")
    none = " or ".join(spec.env_keys[:2])
    return AuthResult(False, f"not logged in and no {none}: {spec.how}")
