"""What a notification says: the evidence and the command that acts on it, one message per batch of items."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from cortex_tui.durations import format_duration
from cortex_tui.notify.policy import Item

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_FIELD = 300


def _visible(text: Any) -> str:
    """Agent-controlled text made inert for any sink (chat markdown, a terminal, an email): control characters
    and escapes shown as ``\\xNN``/``\\n``, never passed through; long values cut."""
    s = str(text)
    s = _CONTROL.sub(lambda m: {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(m[0], f"\\x{ord(m[0]):02x}"), s)
    return s if len(s) <= _MAX_FIELD else s[: _MAX_FIELD - 1] + "…"


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    severity: str


_SHORT = {
    "approval_waiting": "approval", "silence": "silent", "repeated_error": "repeated error",
    "out_of_scope": "out of scope", "overlap": "overlap", "exited": "exited", "budget": "budget",
    "memory": "memory", "idle": "idle", "run_done": "run done", "run_budget": "run budget",
    "engine_error": "engine error",
}


def _fraction(ev: dict[str, Any]) -> str:
    try:
        return f" {float(ev['value']) / float(ev['limit']) * 100:.0f} %"
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return ""


def headline(item: Item) -> str:
    """A few words: ``api (approval)``, ``web (silent 12m00s)``, ``docs (budget 100 %)``."""
    ev = item.evidence
    what = _SHORT.get(item.kind, item.kind)
    if item.kind == "silence" and isinstance(ev.get("silent_for_s"), int | float):
        what = f"silent {format_duration(float(ev['silent_for_s']))}"
    elif item.kind in ("budget", "memory"):
        what += _fraction(ev)
    elif item.kind == "exited" and ev.get("exit_code") is not None:
        what = f"exited {ev['exit_code']}"
    who = _visible(item.session) if item.session else "run"
    return f"{who} ({what})"


def detail(item: Item) -> str:
    """The evidence as one or two readable lines."""
    ev = item.evidence
    k = item.kind
    if k == "approval_waiting":
        return f"prompt: {_visible(ev.get('prompt', ''))}"
    if k == "silence":
        line = f"no progress for {format_duration(float(ev.get('silent_for_s', 0)))}"
        if ev.get("cpu_percent") is not None:
            line += f", CPU {float(ev['cpu_percent']):.1f} %"
        if ev.get("last_line"):
            line += f"; last line: {_visible(ev['last_line'])}"
        return line
    if k == "repeated_error":
        return f"{ev.get('count', '?')}× {_visible(ev.get('normalized', ''))}; last: {_visible(ev.get('last', ''))}"
    if k == "out_of_scope":
        scope = ", ".join(_visible(g) for g in ev.get("scope", []) or []) or "(none)"
        return f"{ev.get('change', 'changed')} {_visible(ev.get('path', ''))} outside scope {scope}"
    if k == "overlap":
        return f"{_visible(ev.get('path', ''))} changed by {', '.join(_visible(s) for s in ev.get('sessions', []))}"
    if k == "exited":
        tail = [_visible(x) for x in (ev.get("last_lines") or [])[-3:]]
        return f"exit code {ev.get('exit_code')}" + (f"; last lines: {' / '.join(tail)}" if tail else "")
    if k in ("budget", "memory", "run_budget"):
        return f"{_visible(ev.get('metric', k))}: {ev.get('value', ev.get('used'))} of {ev.get('limit')}"
    if k == "idle":
        return "finished its turn; waiting for the next instruction"
    if k == "run_done":
        states = ev.get("states") or {}
        counts: dict[str, int] = {}
        for s in states.values():
            counts[str(s)] = counts.get(str(s), 0) + 1
        return "every session ended: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return "; ".join(f"{_visible(a)}={_visible(b)}" for a, b in ev.items())


def action(item: Item, repo: str) -> str:
    """The command that acts on it."""
    r = shlex.quote(repo)
    s = shlex.quote(item.session) if item.session else ""
    if item.kind == "approval_waiting":
        return f"cortex-tui approve {_visible(s)} --repo {r}   (or: cortex-tui deny …)"
    if item.kind in ("idle", "silence", "repeated_error"):
        return f"cortex-tui attach {_visible(s)} --repo {r}   (or: cortex-tui send {_visible(s)} 'text' --repo {r})"
    if item.kind == "run_done":
        return f"cortex-tui review list --repo {r}"
    if item.session:
        return f"cortex-tui status --repo {r}"
    return f"cortex-tui status --repo {r}"


def render(items: list[Item], run: str, repo: str) -> Message:
    """One message for a batch: a single item in full, several as a digest."""
    worst = max(items, key=lambda i: {"info": 0, "warning": 1, "attention": 2, "error": 3}.get(i.severity, 1))
    if len(items) == 1:
        it = items[0]
        title = f"cortex-tui {_visible(run)}: {headline(it)}"
        body = f"{detail(it)}\n→ {action(it, repo)}"
        return Message(title, body, worst.severity)
    sessions = {i.session for i in items if i.session}
    who = f"{len(sessions)} session{'s' if len(sessions) != 1 else ''}" if sessions else "the run"
    title = f"cortex-tui {_visible(run)}: {who} need{'s' if who in ('1 session', 'the run') else ''} you: " + \
        ", ".join(headline(i) for i in items[:6]) + (f", +{len(items) - 6} more" if len(items) > 6 else "")
    body = "\n".join(f"• {headline(i)}: {detail(i)}\n  → {action(i, repo)}" for i in items)
    return Message(title, body, worst.severity)
