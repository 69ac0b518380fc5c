"""When to notify whom: one notification per session and kind until it clears, bursts merged into one digest,
a rate limit per sink and optional quiet hours. Pure (no I/O, no clock of its own): fake-clock testable."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cortex_tui.model.notify import SEVERITY_RANK, NotifySpec

Key = tuple[str | None, str, str]
"""(session, kind, trigger key): what one notification is about."""


@dataclass(frozen=True)
class Item:
    """One thing a human should know about."""

    kind: str
    session: str | None
    severity: str
    evidence: dict[str, Any]
    at: float
    key: str = ""

    @property
    def ident(self) -> Key:
        return (self.session, self.kind, self.key)


def item_of(kind: str, session: str | None, data: dict[str, Any], ts: float) -> Item | Key | None:
    """An engine event as a notification item, a key that cleared, or None when it means nothing here."""
    if kind == "trigger":
        return Item(str(data.get("kind")), session, str(data.get("severity", "warning")),
                    dict(data.get("evidence") or {}), ts, str(data.get("key", "")))
    if kind == "trigger_cleared":
        return (session, str(data.get("kind")), str(data.get("key", "")))
    if kind == "state":
        if data.get("state") == "idle":
            return Item("idle", session, "info", {"reason": data.get("reason")}, ts)
        if data.get("prev") == "idle":
            return (session, "idle", "")
        return None
    if kind == "run_done":
        return Item("run_done", None, "info", {"states": data.get("states", {})}, ts)
    if kind == "run_budget":
        exceeded = data.get("threshold") == "exceed"
        return Item("run_budget", None, "error" if exceeded else "warning", dict(data), ts, str(data.get("threshold")))
    if kind == "engine_error":
        return Item("engine_error", session, "error", dict(data), ts, str(data.get("task", "")))
    return None


@dataclass
class SinkPolicy:
    """The decisions for one sink."""

    spec: NotifySpec
    pending: list[Item] = field(default_factory=list)
    window_start: float | None = None
    outstanding: set[Key] = field(default_factory=set)
    """Notified (or about to be) and not cleared since: not sent again."""
    sent_at: deque[float] = field(default_factory=deque)

    def wants(self, item: Item) -> bool:
        return item.kind in self.spec.on and SEVERITY_RANK.get(item.severity, 1) >= SEVERITY_RANK[self.spec.min_severity]

    def offer(self, item: Item, now: float) -> None:
        if not self.wants(item) or item.ident in self.outstanding:
            return
        self.outstanding.add(item.ident)
        self.pending.append(item)
        if self.window_start is None:
            self.window_start = now

    def cleared(self, key: Key) -> None:
        """The condition ended: the next time it fires it is news again; a notice not sent yet is dropped."""
        self.outstanding.discard(key)
        self.pending = [i for i in self.pending if i.ident != key]
        if not self.pending:
            self.window_start = None

    def next_due(self, now: float) -> float | None:
        """When a message could go out (None: nothing pending)."""
        if self.window_start is None:
            return None
        due = self.window_start + self.spec.digest_window
        while self.sent_at and self.sent_at[0] <= now - 60.0:
            self.sent_at.popleft()
        if len(self.sent_at) >= self.spec.max_per_minute:
            due = max(due, self.sent_at[0] + 60.0)
        return due

    def take(self, now: float, minutes_of_day: int) -> list[Item] | None:
        """The items to send now as one message, or None (not yet due, rate-limited, or quiet hours)."""
        due = self.next_due(now)
        if due is None or now < due or self.spec.quiet_at(minutes_of_day):
            return None
        items, self.pending, self.window_start = self.pending, [], None
        self.sent_at.append(now)
        return items


class NotifyPolicy:
    """Every sink's policy, fed with engine events."""

    def __init__(self, specs: list[NotifySpec]) -> None:
        self.sinks = [SinkPolicy(s) for s in specs]

    def observe(self, kind: str, session: str | None, data: dict[str, Any], ts: float, now: float) -> None:
        got = item_of(kind, session, data, ts)
        if got is None:
            return
        for sink in self.sinks:
            if isinstance(got, Item):
                sink.offer(got, now)
            else:
                sink.cleared(got)

    def take(self, now: float, minutes_of_day: int) -> list[tuple[int, list[Item]]]:
        out = []
        for i, sink in enumerate(self.sinks):
            items = sink.take(now, minutes_of_day)
            if items:
                out.append((i, items))
        return out

    def next_due(self, now: float) -> float | None:
        dues = [d for s in self.sinks if (d := s.next_due(now)) is not None]
        return min(dues) if dues else None
