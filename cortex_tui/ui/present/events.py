"""One line per engine event for the events panel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortex_tui.budgets import run_budget_summary
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
        first = next(iter(ev.values()), "") if isinstance(ev, Mapping) else ev
        verb = "raised" if kind == "trigger" else "cleared"
        s = f"{data.get('kind', '?')} {verb}"
        if first:
            s += f": {str(first).splitlines()[0] if str(first) else ''}"
        return s[:200]
    if kind == "finished":
        return f"exit code {data.get('exit_code')}"
    if kind == "run_budget":
        return run_budget_summary(data)
    if kind == "action":
        detail = data.get("detail")
        return f"{data.get('action', '?')}" + (f": {detail}" if detail else "")
    if data:
        return ", ".join(f"{k}={v}" for k, v in list(data.items())[:4])[:200]
    return ""

