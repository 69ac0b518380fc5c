"""Agent adapters, one module per kind. ``get_adapter(kind)`` returns a fresh adapter."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not at run time: `python -m cortex_tui.agents.sim` (every sim agent) imports this package
    # first, and the adapters' base pulls in the layout's pydantic models (~0.3 s of CPU per agent start)
    from cortex_tui.agents.base import AgentAdapter

_MODULES = {
    "sim": "cortex_tui.agents.sim_adapter",
    "shell": "cortex_tui.agents.shell",
    "claude-code": "cortex_tui.agents.claude_code",
    "codex": "cortex_tui.agents.codex",
    "aider": "cortex_tui.agents.aider",
    "gemini": "cortex_tui.agents.gemini",
    "opencode": "cortex_tui.agents.opencode",
}


def get_adapter(kind: str) -> AgentAdapter:
    try:
        mod = importlib.import_module(_MODULES[kind])
    except KeyError:
        raise ValueError(f"unknown agent kind {kind!r}") from None
    adapter: AgentAdapter = mod.make()
    return adapter
