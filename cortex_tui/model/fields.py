"""The field types shared by the layout models (:mod:`cortex_tui.model.layout`, :mod:`cortex_tui.model.pool`):
kinds of agents and triggers, durations and sizes as written in a layout, the strict base model."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

from cortex_tui.durations import parse_duration, parse_size

AgentKind = Literal["claude-code", "codex", "aider", "gemini", "opencode", "shell", "sim"]
TriggerKind = Literal[
    "silence", "repeated_error", "approval_waiting", "out_of_scope", "overlap", "exited", "budget", "memory"
]
TRIGGER_KINDS: tuple[str, ...] = (
    "silence", "repeated_error", "approval_waiting", "out_of_scope", "overlap", "exited", "budget", "memory",
)
TriggerAction = Literal["notify", "pause", "stop", "recycle"]
ScopeMode = Literal["warn", "enforce"]

RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _duration(v: Any) -> float:
    return parse_duration(v)


def _size(v: Any) -> int:
    return parse_size(v)


Duration = Annotated[float, BeforeValidator(_duration)]
Size = Annotated[int, BeforeValidator(_size)]


class Strict(BaseModel):
    """Unknown keys are errors; a parsed layout never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
