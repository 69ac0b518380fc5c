"""The dashboard's rows: columns, cells, sort keys per mode, filters, and the header summary line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import SessionRecord, SessionState, TriggerRecord
from cortex_tui.text import visible
from cortex_tui.ui.present.format import (
    AGENT_SHORT,
    SEVERITY_RANK,
    STATE_LOOK,
    STATE_RANK,
    TRIGGER_SHORT,
    UNKNOWN,
    Palette,
    cost_cell,
    fmt_ago,
    fmt_bytes,
    fmt_cost,
    fmt_count,
    severity_style,
    state_cell,
)


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


def triggers_cell(active: list[TriggerRecord], pal: Palette) -> Text:
    if not active:
        return Text("")
    text = Text()
    kinds = Counter(t.kind for t in active)
    worst = {t.kind: t.severity for t in sorted(active, key=lambda t: SEVERITY_RANK.get(t.severity, 9), reverse=True)}
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
    return rec.state in (SessionState.WAITING, SessionState.FAILED, SessionState.BLOCKED) or bool(rec.active_triggers())


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
    return (band, STATE_RANK.get(rec.state, 5), oldest, rec.name)


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
    name = Text(visible(rec.name), style="bold" if needs_attention(rec) else "")
    cells = (
        name,
        state_cell(rec.state, pal) if rec.phase is None else Text(f"◌ {rec.phase}", style=pal.accent),
        activity_cell(act, now, pal),
        triggers_cell(active, pal),
        Text(fmt_count(tokens)),
        cost_cell(rec.cost_usd, budget, pal),
        Text(UNKNOWN if rec.cpu_percent is None else f"{rec.cpu_percent:.0f}%"),
        Text(fmt_bytes(rec.rss_bytes)),
        diff_cell(rec, extras, pal),
        Text(AGENT_SHORT.get(rec.agent, rec.agent)),
        Text(visible(rec.node)),
        Text.assemble(*[(f":{p} ", pal.accent) for p in rec.serving], (visible(rec.branch), pal.muted))
        if rec.serving else Text(visible(rec.branch), style=pal.muted),
    )
    sort = {
        "attention": attention_key(rec),
        "name": (rec.name.lower(),),
        "state": (STATE_RANK.get(rec.state, 5), rec.name.lower()),
        "activity": (-(act or 0.0), rec.name.lower()),
        "cost": (-(rec.cost_usd if rec.cost_usd is not None else -1.0), rec.name.lower()),
        "cpu": (-(rec.cpu_percent if rec.cpu_percent is not None else -1.0), rec.name.lower()),
    }
    return RowView(key=rec.name, cells=cells, sort=sort, state=rec.state, attention=needs_attention(rec))


# ---------------------------------------------------------------- header summary


_SUMMARY_ORDER = sorted(SessionState, key=lambda st: STATE_RANK.get(st, 5))


def run_summary(run_id: str, sessions: Mapping[str, SessionRecord], run_budget: float | None, pal: Palette,
                *, supervising: bool, sort_mode: str, filter_mode: str,
                nodes: Mapping[str, Mapping[str, Any]] | None = None) -> Text:
    """Header line: run, totals, triggers, cost vs run budget, then sessions by state (most urgent first)."""
    counts = Counter(r.state for r in sessions.values())
    text = Text()
    text.append(f" {visible(run_id)} ", style="bold reverse")
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
            text.append(f"⇄ {visible(name)} {'' if lat is None else f'{lat:.0f}ms'}  ", style=pal.success)
        else:
            text.append(f"⇄ {visible(name)} link down  ", style=f"bold {pal.error}")
    text.append(f"sort:{sort_mode} filter:{filter_mode}", style=pal.muted)
    return text

