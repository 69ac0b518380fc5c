"""One line per engine event for the events panel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortex_tui.budgets import run_budget_summary
from cortex_tui.model.describe import describe_trigger
from cortex_tui.text import visible


def event_summary(kind: str, data: Mapping[str, Any]) -> str:
    """One line describing an engine event for the events panel (agent-chosen text made visible)."""
    return visible(_event_summary(kind, data))


def _event_summary(kind: str, data: Mapping[str, Any]) -> str:
    """One line describing an engine event for the events panel."""
    if kind == "state":
        s = f"{data.get('prev', '?')} → {data.get('state', '?')}"
        if data.get("reason"):
            s += f" ({data['reason']})"
        return s
    if kind in ("trigger", "trigger_cleared"):
        ev = data.get("evidence") or {}
        verb = "raised" if kind == "trigger" else "cleared"
        s = f"{data.get('kind', '?')} {verb}"
        if kind == "trigger" and isinstance(ev, Mapping):
            said = describe_trigger(str(data.get("kind", "")), ev)
            if said:
                s += f": {said.splitlines()[0]}"
        elif isinstance(ev, Mapping) and ev:
            s += f": {_plain(ev)}"
        return s[:200]
    if kind == "finished":
        return f"exit code {data.get('exit_code')}"
    if kind == "run_budget":
        return run_budget_summary(data)
    if kind == "action":
        detail = data.get("detail")
        return f"{data.get('action', '?')}" + (f": {detail}" if detail else "")
    if data:
        return _plain(data)[:200]
    return ""


def _plain(value: Any, depth: int = 0) -> str:
    """Event details as words, never a Python repr: ``verify: exit code 0, duration 1.2``."""
    if isinstance(value, Mapping):
        parts = []
        for k, v in list(value.items())[:4]:
            key, text = str(k), _plain(v, depth + 1)
            if key.endswith("_s") and isinstance(v, int | float):  # seconds: the unit goes on the value
                key, text = key[:-2], f"{text} s"
            label = key.replace("_", " ")
            parts.append(f"{label} {text}" if depth else f"{label}: {text}")
        return ", ".join(parts)
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v, depth + 1) for v in value[:4]) + (" …" if len(value) > 4 else "")
    if isinstance(value, float):
        return f"{value:g}"
    return "–" if value is None else str(value)

