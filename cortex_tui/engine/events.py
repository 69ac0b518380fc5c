"""The engine's event stream: every front end (TUI, headless, CLI) consumes the same events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from cortex_tui.engine.clock import Clock, SystemClock

# Events that are high-rate and for live displays only: never written to events.jsonl.
EPHEMERAL_KINDS = frozenset({"output", "stats"})


@dataclass(frozen=True)
class Event:
    ts: float
    run: str
    kind: str
    session: str | None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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

    def make(self, kind: str, session: str | None = None, /, **data: Any) -> Event:
        return Event(ts=self.clock.time(), run=self.run, kind=kind, session=session, data=data)

    def publish(self, event: Event) -> None:
        for cb in list(self._subs):
            try:
                cb(event)
            except Exception:
                import logging

                logging.getLogger("cortex_tui").exception("event subscriber failed")
