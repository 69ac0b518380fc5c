"""Pure presentation: turn engine state into table cells, sort keys and summaries.

No Textual imports here (only Rich text objects), so this is unit-testable and the widgets stay dumb.
Unknown values are shown as "–" (never as 0).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from cortex_tui.budgets import run_budget_summary
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import SessionRecord, SessionState, TriggerRecord
from cortex_tui.scope import in_scope

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
}

# lower = needs the human sooner
_STATE_RANK: dict[SessionState, int] = {
    SessionState.WAITING: 0,
    SessionState.FAILED: 2,
    SessionState.UNKNOWN: 3,
    SessionState.RUNNING: 4,
    SessionState.STARTING: 5,
    SessionState.IDLE: 6,
    SessionState.PENDING: 7,
    SessionState.FINISHED: 8,
    SessionState.STOPPED: 9,
}
_SEVERITY_RANK = {"critical": 0, "error": 1, "attention": 2, "warning": 2, "info": 3}

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


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int


COLUMNS: tuple[Column, ...] = (
    Column("name", "Session", 17),
    Column("state", "State", 10),
    Column("activity", "Activity", 8),
    Column("triggers", "Triggers", 14),
    Column("tokens", "Tokens", 6),
    Column("cost", "Cost/budget", 12),
    Column("cpu", "CPU", 4),
    Column("rss", "RSS", 6),
    Column("diff", "Diff", 8),
    Column("agent", "Agent", 7),
    Column("node", "Node", 7),
    Column("branch", "Branch", 30),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)

SORT_MODES: tuple[str, ...] = ("attention", "name", "state", "activity", "cost", "cpu")
FILTER_MODES: tuple[str, ...] = ("all", "attention", "live", "waiting", "running", "failed", "done")


@dataclass
class SessionExtras:
    """Per-session facts the UI learns from ephemeral events (not kept in RunState)."""

    diff_added: int | None = None
    diff_removed: int | None = None
    last_event_at: float | None = None


@dataclass(frozen=True)
class RowView:
    """One dashboard row, ready to show."""

    key: str
    cells: tuple[Text, ...]
    sort: Mapping[str, Any] = field(default_factory=dict)
    """Sort key per sort mode."""
    state: SessionState = SessionState.UNKNOWN
    attention: bool = False


# ---------------------------------------------------------------- formatting helpers


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


def triggers_cell(active: list[TriggerRecord], pal: Palette) -> Text:
    if not active:
        return Text("")
    text = Text()
    kinds = Counter(t.kind for t in active)
    worst = {t.kind: t.severity for t in sorted(active, key=lambda t: _SEVERITY_RANK.get(t.severity, 9), reverse=True)}
    for i, (kind, n) in enumerate(sorted(kinds.items())):
        if i:
            text.append(" ")
        label = TRIGGER_SHORT.get(kind, kind) + (f"×{n}" if n > 1 else "")
        text.append(label, style=f"bold {severity_style(worst[kind], pal)}")
    return text


def last_activity(rec: SessionRecord, extras: SessionExtras | None) -> float | None:
    candidates = [rec.last_output_at, rec.last_progress_at, rec.started_at]
    if extras is not None:
        candidates.append(extras.last_event_at)
    known = [t for t in candidates if t is not None]
    return max(known) if known else None


def diff_cell(rec: SessionRecord, extras: SessionExtras | None, pal: Palette) -> Text:
    if extras is not None and extras.diff_added is not None and extras.diff_removed is not None:
        text = Text(f"+{extras.diff_added}", style=pal.success)
        text.append(f" -{extras.diff_removed}", style=pal.error)
        return text
    if rec.changed_files:
        n = len(rec.changed_files)
        return Text(f"{n} file{'s' if n != 1 else ''}")
    return Text(UNKNOWN if rec.head_commit is None else "0 files", style=pal.muted)


def activity_cell(act: float | None, now: float, pal: Palette) -> Text:
    """The "Activity" column: how long ago the session last did something."""
    return Text(fmt_ago(act, now), style=pal.muted if act is None else "")


def needs_attention(rec: SessionRecord) -> bool:
    return rec.state in (SessionState.WAITING, SessionState.FAILED) or bool(rec.active_triggers())


def attention_key(rec: SessionRecord) -> tuple[int, int, float, str]:
    """Sort key: waiting/approval first, then errors, then other triggers, then by state."""
    active = rec.active_triggers()
    if rec.state is SessionState.WAITING or any(t.kind == "approval_waiting" for t in active):
        band = 0
    elif rec.state is SessionState.FAILED or any(t.severity in ("error", "critical") for t in active):
        band = 1
    elif active:
        band = 2
    else:
        band = 3
    oldest = min((t.at for t in active), default=0.0)
    return (band, _STATE_RANK.get(rec.state, 5), oldest, rec.name)


def matches_filter(rec: SessionRecord, mode: str) -> bool:
    st = rec.state
    if mode == "all":
        return True
    if mode == "attention":
        return needs_attention(rec)
    if mode == "live":
        return st.live
    if mode == "waiting":
        return st is SessionState.WAITING
    if mode == "running":
        return st in (SessionState.RUNNING, SessionState.STARTING, SessionState.IDLE)
    if mode == "failed":
        return st is SessionState.FAILED
    if mode == "done":
        return st.terminal
    return True


def row_view(rec: SessionRecord, spec: ResolvedSession | None, extras: SessionExtras | None, now: float,
             pal: Palette) -> RowView:
    active = rec.active_triggers()
    budget = spec.budget_usd if spec is not None else None
    tokens = rec.tokens.total if rec.tokens is not None else None
    act = last_activity(rec, extras)
    name = Text(rec.name, style="bold" if needs_attention(rec) else "")
    cells = (
        name,
        state_cell(rec.state, pal),
        activity_cell(act, now, pal),
        triggers_cell(active, pal),
        Text(fmt_count(tokens)),
        cost_cell(rec.cost_usd, budget, pal),
        Text(UNKNOWN if rec.cpu_percent is None else f"{rec.cpu_percent:.0f}%"),
        Text(fmt_bytes(rec.rss_bytes)),
        diff_cell(rec, extras, pal),
        Text(AGENT_SHORT.get(rec.agent, rec.agent)),
        Text(rec.node),
        Text(rec.branch, style=pal.muted),
    )
    sort = {
        "attention": attention_key(rec),
        "name": (rec.name.lower(),),
        "state": (_STATE_RANK.get(rec.state, 5), rec.name.lower()),
        "activity": (-(act or 0.0), rec.name.lower()),
        "cost": (-(rec.cost_usd if rec.cost_usd is not None else -1.0), rec.name.lower()),
        "cpu": (-(rec.cpu_percent if rec.cpu_percent is not None else -1.0), rec.name.lower()),
    }
    return RowView(key=rec.name, cells=cells, sort=sort, state=rec.state, attention=needs_attention(rec))


# ---------------------------------------------------------------- header summary


_SUMMARY_ORDER = sorted(SessionState, key=lambda st: _STATE_RANK.get(st, 5))


def run_summary(run_id: str, sessions: Mapping[str, SessionRecord], run_budget: float | None, pal: Palette,
                *, supervising: bool, sort_mode: str, filter_mode: str,
                nodes: Mapping[str, Mapping[str, Any]] | None = None) -> Text:
    """Header line: run, totals, triggers, cost vs run budget, then sessions by state (most urgent first)."""
    counts = Counter(r.state for r in sessions.values())
    text = Text()
    text.append(f" {run_id} ", style="bold reverse")
    if not supervising:
        text.append(" ⏸ not supervising", style=f"bold {pal.error}")
    text.append(f"  {len(sessions)} sessions  ")
    costs = [r.cost_usd for r in sessions.values() if r.cost_usd is not None]
    text.append_text(cost_cell(sum(costs) if costs else None, run_budget, pal, width=6))
    if run_budget:
        text.append(f" of {fmt_cost(run_budget)}")
    n_trig = sum(len(r.active_triggers()) for r in sessions.values())
    text.append(f"  ⚑ {n_trig}  ", style=f"bold {pal.warning}" if n_trig else pal.muted)
    for st in _SUMMARY_ORDER:
        n = counts.get(st, 0)
        if n:
            glyph, attr = STATE_LOOK[st]
            text.append(f"{glyph}{n} {st.value}  ", style=getattr(pal, attr))
    for name, health in sorted((nodes or {}).items()):  # remote nodes: reachable? latency
        if health.get("reachable"):
            lat = health.get("latency_ms")
            text.append(f"⇄ {name} {'' if lat is None else f'{lat:.0f}ms'}  ", style=pal.success)
        else:
            text.append(f"⇄ {name} link down  ", style=f"bold {pal.error}")
    text.append(f"sort:{sort_mode} filter:{filter_mode}", style=pal.muted)
    return text


# ---------------------------------------------------------------- session view


def evidence_text(evidence: Mapping[str, Any], width: int = 100) -> str:
    parts: list[str] = []
    for k, v in evidence.items():
        if isinstance(v, list | tuple):
            v = " | ".join(str(x) for x in v[-3:])
        s = str(v).replace("\n", " ⏎ ")
        if len(s) > width:
            s = s[: width - 1] + "…"
        parts.append(f"{k}: {s}")
    return "\n".join(parts)


def trigger_rows(rec: SessionRecord) -> list[TriggerRecord]:
    """Active triggers first, then history, newest first."""
    return sorted(rec.triggers, key=lambda t: (not t.active, -t.at))


def files_text(rec: SessionRecord, spec: ResolvedSession | None, pal: Palette, limit: int = 50) -> Text:
    text = Text()
    if not rec.changed_files:
        text.append("no changed files yet", style=pal.muted)
        return text
    scope = spec.scope if spec is not None else []
    for i, path in enumerate(rec.changed_files[:limit]):
        if i:
            text.append("\n")
        if not scope or in_scope(path, scope):
            text.append("  ✓ ", style=pal.success)
            text.append(path)
        else:
            text.append("  ✗ ", style=pal.error)
            text.append(path, style=pal.error)
            text.append("  out of scope", style=f"italic {pal.error}")
    if len(rec.changed_files) > limit:
        text.append(f"\n  … {len(rec.changed_files) - limit} more", style=pal.muted)
    return text


def facts_text(rec: SessionRecord, spec: ResolvedSession | None, extras: SessionExtras | None, now: float,
               pal: Palette) -> Text:
    text = Text()

    def row(label: str, value: str | Text) -> None:
        if text:
            text.append("\n")
        text.append(f"{label:<10}", style=pal.muted)
        if isinstance(value, Text):
            text.append_text(value)
        else:
            text.append(value)

    row("state", state_cell(rec.state, pal))
    if rec.reason:
        row("reason", rec.reason)
    row("agent", f"{rec.agent} on {rec.node}")
    row("branch", rec.branch)
    row("activity", fmt_ago(last_activity(rec, extras), now))
    tok = rec.tokens
    budget_tok = spec.budget_tokens if spec is not None else None
    tok_s = UNKNOWN if tok is None else f"{fmt_count(tok.total)} ({fmt_count(tok.input)} in / {fmt_count(tok.output)} out)"
    if budget_tok:
        tok_s += f" of {fmt_count(budget_tok)}"
    row("tokens", tok_s)
    budget = spec.budget_usd if spec is not None else None
    cost = cost_cell(rec.cost_usd, budget, pal, width=10)
    if budget:
        cost.append(f" of {fmt_cost(budget)}")
    row("cost", cost)
    row("cpu", UNKNOWN if rec.cpu_percent is None else f"{rec.cpu_percent:.1f}%")
    mem = fmt_bytes(rec.rss_bytes)
    if spec is not None and spec.memory_limit:
        mem += f" of {fmt_bytes(spec.memory_limit)}"
    row("rss", mem)
    row("disk", fmt_bytes(rec.disk_bytes))
    row("diff", diff_cell(rec, extras, pal))
    if rec.exit_code is not None:
        row("exit", str(rec.exit_code))
    if rec.restarts:
        row("restarts", str(rec.restarts))
    if spec is not None and spec.scope:
        row("scope", ", ".join(spec.scope))
    return text


def event_summary(kind: str, data: Mapping[str, Any]) -> str:
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


def trigger_table(rec: SessionRecord, now: float, pal: Palette) -> Text:
    """A session's triggers with evidence, active ones first, newest first."""
    rows = trigger_rows(rec)
    if not rows:
        return Text("no triggers", style=pal.muted)
    text = Text()
    for i, t in enumerate(rows):
        if i:
            text.append("\n")
        style = severity_style(t.severity, pal) if t.active else pal.muted
        text.append("⚑ " if t.active else "· ", style=style)
        text.append(t.kind, style=f"bold {style}" if t.active else style)
        text.append(f"  {t.severity}  {fmt_ago(t.at, now)}", style=pal.muted)
        if not t.active:
            text.append(f"  cleared {fmt_ago(t.cleared_at, now)}" if t.cleared_at is not None else "  cleared",
                        style=pal.muted)
        for line in evidence_text(t.evidence, 160).splitlines():
            text.append("\n    ")
            key, _, value = line.partition(": ")
            text.append(f"{key}: ", style=pal.muted)
            text.append(value)
    return text
