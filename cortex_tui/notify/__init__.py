"""Notifications: the engine's events routed to apprise sinks (``[[notify]]``), without spam."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from cortex_tui.model.events import EventKind
from cortex_tui.model.notify import NotifySpec
from cortex_tui.notify.deliver import Notifier


class _Ev(Protocol):
    kind: str
    session: str | None
    data: dict[str, Any]
    ts: float


class EventSource(Protocol):
    """What a notifier needs of the engine (the Supervisor): its events, and a way to record one."""

    run_id: str
    repo: Path

    def subscribe(self, cb: Callable[[Any], None]) -> Callable[[], None]: ...

    def note(self, kind: EventKind, session: str | None, data: dict[str, Any]) -> None: ...

__all__ = ["Notifier", "attach_notifier", "sinks_for"]


def sinks_for(layout_sinks: list[NotifySpec], user_sinks: list[NotifySpec]) -> list[NotifySpec]:
    """The layout's sinks and the user's, each URL once (the layout's settings win)."""
    seen = {s.url for s in layout_sinks}
    return [*layout_sinks, *(s for s in user_sinks if s.url not in seen)]


def attach_notifier(sup: EventSource, specs: list[NotifySpec]) -> Notifier | None:
    """Subscribe a notifier to ``sup``'s events (call inside the engine's event loop); None without sinks."""
    if not specs:
        return None
    loop = asyncio.get_running_loop()

    def report(kind: EventKind, data: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(sup.note, kind, None, data)

    n = Notifier(specs, run=sup.run_id, repo=str(sup.repo), report=report)

    def on_event(ev: _Ev) -> None:
        n.feed(ev.kind, ev.session, ev.data, ev.ts)

    sup.subscribe(on_event)
    n.start()
    return n
