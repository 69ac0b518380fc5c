"""The engine's event bus: every front end (TUI, headless, CLI) consumes the same events (model/events.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from cortex_tui.engine.clock import Clock, SystemClock
from cortex_tui.model.events import EPHEMERAL_KINDS, Event, EventKind

__all__ = ["EPHEMERAL_KINDS", "Emit", "Event", "EventBus", "EventKind"]


class Emit(Protocol):
    """``emit(kind, session, **data)``: how the engine's parts record an event (``Supervisor._emit``)."""

    def __call__(self, kind: EventKind, session: str | None, /, **data: Any) -> None: ...


class EventBus:
    """Synchronous fan-out to subscribers; a failing subscriber never breaks the engine."""

    def __init__(self, run: str, clock: Clock | None = None) -> None:
        self.run = run
        self.clock: Clock = clock or SystemClock()
        self._subs: list[Callable[[Event], None]] = []

    def subscribe(self, cb: Callable[[Event], None]) -> Callable[[], None]:
        self._subs.append(cb)

        def unsubscribe() -> None:
            if cb in self._subs:
                self._subs.remove(cb)

        return unsubscribe

    def make(self, kind: EventKind, session: str | None = None, /, **data: Any) -> Event:
        return Event(ts=self.clock.time(), run=self.run, kind=kind, session=session, data=data)

    def publish(self, event: Event) -> None:
        for cb in list(self._subs):
            try:
                cb(event)
            except Exception:
                import logging

                logging.getLogger("cortex_tui").exception("event subscriber failed")
