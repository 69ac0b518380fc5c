"""Messages the engine bridge posts to the app: small dataclasses; high-rate ones merge in bursts."""

from __future__ import annotations

from textual.message import Message

from cortex_tui.engine.events import Event


class EngineEvent(Message):
    """A persisted, low-rate engine event (state, trigger, spawned, action, finished, ...)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class SessionOutput(Message):
    """A session printed something (the lines themselves stay in the engine)."""

    def __init__(self, session: str, ts: float) -> None:
        super().__init__()
        self.session = session
        self.ts = ts

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SessionOutput) and message.session == self.session


class SessionStats(Message):
    """New resource/usage numbers for a session (values are read from the live RunState)."""

    def __init__(self, session: str, data: dict[str, object]) -> None:
        super().__init__()
        self.session = session
        self.data = data

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SessionStats) and message.session == self.session


def to_message(event: Event) -> Message:
    """Map one engine event to the message the UI handles."""
    if event.kind == "output" and event.session is not None:
        return SessionOutput(event.session, event.ts)
    if event.kind == "stats" and event.session is not None:
        return SessionStats(event.session, dict(event.data))
    return EngineEvent(event)
