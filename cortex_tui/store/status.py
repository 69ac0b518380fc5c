"""The shape shared by ``status --json`` and the headless report, and the human ``status.md``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from cortex_tui.durations import format_duration
from cortex_tui.model.state import RunState, SessionRecord
from cortex_tui.text import md_cell, visible

STATE_GLYPH = {
    "pending": "·", "starting": "◌", "running": "▶", "waiting": "⚠", "idle": "◇",
    "finished": "✓", "failed": "✗", "stopped": "■", "unknown": "?",
}


def session_dict(rec: SessionRecord, budget_usd: float | None = None, budget_tokens: int | None = None) -> dict[str, Any]:
    tokens = rec.tokens.as_dict() if rec.tokens is not None else None
    fractions = []
    if budget_usd and rec.cost_usd is not None:
        fractions.append(rec.cost_usd / budget_usd)
    if budget_tokens and tokens is not None:
        fractions.append(tokens["total"] / budget_tokens)
    return {
        "name": rec.name,
        "agent": rec.agent,
        "node": rec.node,
        "state": rec.state.value,
        "reason": rec.reason,
        "branch": rec.branch,
        "worktree": rec.worktree,
        "exit_code": rec.exit_code,
        "window": rec.window_id,
        "started_at": rec.started_at,
        "finished_at": rec.finished_at,
        "last_activity": rec.last_output_at,
        "restarts": rec.restarts,
        "head_commit": rec.head_commit,
        "triggers": [
            {"kind": t.kind, "active": t.active, "severity": t.severity, "evidence": t.evidence, "at": t.at,
             "cleared_at": t.cleared_at}
            for t in rec.triggers
        ],
        "tokens": tokens,
        "cost_usd": rec.cost_usd,
        "budget": {"usd": budget_usd, "tokens": budget_tokens,
                   "used_fraction": max(fractions) if fractions else None},
        "cpu_percent": rec.cpu_percent,
        "rss_bytes": rec.rss_bytes,
        "disk_bytes": rec.disk_bytes,
        "phase": rec.phase,
        "ports": rec.ports,
        "serving": [f"http://127.0.0.1:{p}" for p in rec.serving] if rec.state.live else [],
        "sandbox": rec.sandbox,
        "changed_files": rec.changed_files,
        "diff": {"added": rec.diff_added, "removed": rec.diff_removed},
    }


def status_dict(state: RunState, budgets: dict[str, tuple[float | None, int | None]] | None = None,
                supervisor_alive: bool | None = None, nodes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``budgets``: per session (usd, tokens) where the record's own (the resolved spec's) are not to be used."""
    budgets = budgets or {}
    return {
        "run": state.run,
        "repo": state.repo,
        "base": state.base,
        "base_commit": state.base_commit,
        "socket": state.socket,
        "updated_at": state.updated_at,
        "supervisor": {"pid": state.supervisor_pid, "alive": supervisor_alive},
        "sessions": [session_dict(r, *budgets.get(r.name, (r.budget_usd, r.budget_tokens)))
                     for r in state.sessions.values()],
        "nodes": nodes if nodes is not None else list(state.nodes.values()),
    }


class ReviewEntry(Protocol):
    """What ``status`` shows of a review queue entry (``review.models.QueueEntry``)."""

    @property
    def status(self) -> str: ...
    @property
    def verify(self) -> Any: ...


def add_review(data: dict[str, Any], entries: Mapping[str, ReviewEntry]) -> dict[str, Any]:
    """Each session of :func:`status_dict`'s ``data`` gets its verify result and review status (from the
    review queue, where the verdicts live: ``entries`` by session name)."""
    for s in data["sessions"]:
        e = entries.get(s["name"])
        s["verify"] = e.verify.model_dump() if e is not None and e.verify is not None else None
        s["review_status"] = e.status if e is not None else None
    return data


def _cell(s: str) -> str:
    return md_cell(s)


def render_status_md(state: RunState, now: float | None = None) -> str:
    now = now or time.time()
    counts: dict[str, int] = {}
    for r in state.sessions.values():
        counts[r.state.value] = counts.get(r.state.value, 0) + 1
    lines = [
        f"# cortex-tui run `{state.run}`",
        "",
        f"Repo `{visible(state.repo)}` · base `{state.base}` @ `{state.base_commit[:10]}` · tmux socket `{state.socket}`  ",
        f"Updated {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(state.updated_at or now))} · "
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
        "",
        "| Session | Agent | Node | Branch | State | Last activity | Exit | Triggers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in state.sessions.values():
        last = f"{format_duration(now - r.last_output_at)} ago" if r.last_output_at else "–"
        active = r.active_triggers()
        trig = ", ".join(f"**{t.kind}**" + (f" `{t.key}`" if t.key else "") for t in active) or "–"
        state_txt = f"{STATE_GLYPH.get(r.state.value, '')} {r.state.value}"
        if r.reason:
            state_txt += f" ({r.reason})"
        lines.append("| " + " | ".join(_cell(x) for x in (
            r.name, r.agent, r.node, f"`{r.branch}`", state_txt, last,
            "–" if r.exit_code is None else str(r.exit_code), trig)) + " |")
    lines.append("")
    return "\n".join(lines)
