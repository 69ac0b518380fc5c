"""The session view's texts: facts, changed files (in or out of scope), triggers with their evidence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text

from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import SessionRecord, TriggerRecord
from cortex_tui.scope import in_scope
from cortex_tui.text import visible
from cortex_tui.ui.present.dashboard import SessionExtras, diff_cell, last_activity
from cortex_tui.ui.present.format import (
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

# ---------------------------------------------------------------- session view


def evidence_text(evidence: Mapping[str, Any], width: int = 100) -> str:
    parts: list[str] = []
    for k, v in evidence.items():
        if isinstance(v, list | tuple):
            v = " | ".join(str(x) for x in v[-3:])
        s = visible(str(v).replace("\n", " ⏎ "))
        if len(s) > width:
            s = s[: width - 1] + "…"
        parts.append(f"{visible(k)}: {s}")
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
            text.append(visible(path))
        else:
            text.append("  ✗ ", style=pal.error)
            text.append(visible(path), style=pal.error)
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
        row("reason", visible(rec.reason))
    row("agent", visible(f"{rec.agent} on {rec.node}"))
    row("branch", visible(rec.branch))
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
    runtime = [f"phase {rec.phase}"] if rec.phase else []  # issue #19: the session's runtime
    runtime += [f"sandbox {rec.sandbox}"] if rec.sandbox else []
    runtime += ["ports " + " ".join(map(str, rec.ports))] if rec.ports else []
    runtime += ["serving " + " ".join(f"http://127.0.0.1:{p}" for p in rec.serving)] if rec.serving else []
    if runtime:
        row("runtime", " · ".join(runtime))
    row("diff", diff_cell(rec, extras, pal))
    if rec.exit_code is not None:
        row("exit", str(rec.exit_code))
    if rec.restarts:
        row("restarts", str(rec.restarts))
    if spec is not None and spec.scope:
        row("scope", ", ".join(spec.scope))
    return text


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
