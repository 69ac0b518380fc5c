"""Formatting shared by every view: the palette, state looks, numbers, durations, bars, cost and state cells.

No Textual imports (only Rich text objects). Unknown values are shown as "–" (never as 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from cortex_tui.errors import CortexError
from cortex_tui.model.state import SessionState

UNKNOWN = "–"


@dataclass(frozen=True)
class Palette:
    """Rich style strings per meaning; built from the active Textual theme so light and dark both read well."""

    success: str = "green"
    warning: str = "yellow"
    error: str = "red"
    accent: str = "cyan"
    muted: str = "bright_black"
    primary: str = "blue"


def palette_of(app: object) -> Palette:
    """The app's current palette (a default one for hosts that have none, e.g. test apps)."""
    pal = getattr(app, "palette", None)
    return pal if isinstance(pal, Palette) else Palette()


# state -> (glyph, palette attribute)
STATE_LOOK: dict[SessionState, tuple[str, str]] = {
    SessionState.PENDING: ("◌", "muted"),
    SessionState.STARTING: ("◔", "accent"),
    SessionState.RUNNING: ("●", "success"),
    SessionState.WAITING: ("◆", "warning"),
    SessionState.IDLE: ("○", "primary"),
    SessionState.FINISHED: ("✔", "success"),
    SessionState.FAILED: ("✖", "error"),
    SessionState.STOPPED: ("■", "muted"),
    SessionState.UNKNOWN: ("?", "warning"),
    SessionState.BLOCKED: ("⊘", "error"),
}

# lower = needs the human sooner
STATE_RANK: dict[SessionState, int] = {
    SessionState.WAITING: 0,
    SessionState.BLOCKED: 1,
    SessionState.FAILED: 2,
    SessionState.UNKNOWN: 3,
    SessionState.RUNNING: 4,
    SessionState.STARTING: 5,
    SessionState.IDLE: 6,
    SessionState.PENDING: 7,
    SessionState.FINISHED: 8,
    SessionState.STOPPED: 9,
}
SEVERITY_RANK = {"critical": 0, "error": 1, "attention": 2, "warning": 2, "info": 3}

AGENT_SHORT: dict[str, str] = {"claude-code": "claude"}

TRIGGER_SHORT: dict[str, str] = {
    "silence": "silent",
    "repeated_error": "errors",
    "approval_waiting": "approval",
    "out_of_scope": "scope",
    "overlap": "overlap",
    "exited": "exited",
    "budget": "budget",
    "memory": "memory",
}


def fmt_ago(ts: float | None, now: float) -> str:
    """``12 s ago``, ``3 m ago``, ``2 h ago``; "–" when unknown."""
    if ts is None:
        return UNKNOWN
    d = max(0.0, now - ts)
    if d < 1:
        return "now"
    if d < 60:
        return f"{int(d)} s ago"
    if d < 3600:
        return f"{int(d // 60)} m ago"
    if d < 86400:
        return f"{int(d // 3600)} h ago"
    return f"{int(d // 86400)} d ago"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return UNKNOWN
    v = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if v < 1024 or unit == "T":
            return f"{v:.0f}{unit}" if unit in ("B", "K") or v >= 100 else f"{v:.1f}{unit}"
        v /= 1024
    return f"{v:.0f}T"  # pragma: no cover


def fmt_count(n: int | None) -> str:
    if n is None:
        return UNKNOWN
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k" if n < 10_000 else f"{n // 1000}k"
    return f"{n / 1_000_000:.1f}M"


def fmt_cost(usd: float | None) -> str:
    if usd is None:
        return UNKNOWN
    return f"${usd:.2f}" if usd < 100 else f"${usd:.0f}"


def bar(fraction: float, width: int) -> str:
    """A small horizontal bar: ``███▌░░``."""
    fraction = max(0.0, min(1.0, fraction))
    eighths = round(fraction * width * 8)
    full, rem = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[rem].strip() if rem else ""
    s = "█" * full + partial
    return s + "░" * (width - len(s))


def cost_cell(cost: float | None, budget: float | None, pal: Palette, width: int = 4) -> Text:
    text = Text(fmt_cost(cost))
    if budget and cost is None:
        text.append(f" of {fmt_cost(budget)}", style=pal.muted)
    elif budget:
        frac = (cost or 0.0) / budget
        style = pal.error if frac >= 1 else pal.warning if frac >= 0.8 else pal.success
        text.append(" ")
        text.append(bar(frac, width), style=style)
    return text


def state_cell(state: SessionState, pal: Palette) -> Text:
    glyph, attr = STATE_LOOK.get(state, ("?", "muted"))
    return Text(f"{glyph} {state.value}", style=getattr(pal, attr))


def severity_style(severity: str, pal: Palette) -> str:
    if severity in ("error", "critical"):
        return pal.error
    return pal.warning if severity in ("warning", "attention") else pal.accent



def error_text(err: BaseException) -> str:
    """A failure as the TUI says it: the message and the hint, naming the key that fixes it when one does
    (an error's ``key_hint``) instead of the CLI command of its ``hint``."""
    if not isinstance(err, CortexError):
        return f"{type(err).__name__}: {err}"
    hint = err.key_hint or err.hint
    return err.message if not hint else f"{err.message}\n  hint: {hint}"
