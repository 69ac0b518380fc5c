"""How engine events reach the app: queued, and announced by one message per burst.

At 300 events/s a message per event costs Textual's dispatch overhead 300 times a second and, worse, puts
a queue of engine messages in front of every key press. Events are appended to :class:`EventQueue`
instead; the first one of a burst posts an :class:`EngineBatch`, and the app drains the queue when it
handles that message — a key press waits behind at most one batch.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.message import Message

from cortex_tui.engine.events import Event


class EngineBatch(Message):
    """Engine events are waiting in the app's :class:`EventQueue`."""


class EventQueue:
    """Engine events not yet handled by the UI, in arrival order."""

    def __init__(self, post: Callable[[Message], object]) -> None:
        self._post = post
        self._events: list[Event] = []
        self._announced = False
        self.batches = 0
        """Batches announced so far (tests read this)."""

    def push(self, event: Event) -> None:
        self._events.append(event)
        if not self._announced:
            self._announced = True
            self.batches += 1
            self._post(EngineBatch())

    def drain(self) -> list[Event]:
        """Everything queued so far; later events announce a new batch."""
        self._announced = False
        events, self._events = self._events, []
        return events


# ---------------------------------------------------------------------------- screens -> app
# Screens and the command palette post these; the app handles them (messages up, method calls down).


class SessionAction(Message):
    """Run an engine action on a session: approve, deny, interrupt, stop, restart, or send ``text``.

    Destructive actions are confirmed (naming the session) before this is posted.
    """

    def __init__(self, action: str, session: str, text: str | None = None) -> None:
        super().__init__()
        self.action = action
        self.session = session
        self.text = text


class OpenSession(Message):
    """Show the session view of ``session``."""

    def __init__(self, session: str) -> None:
        super().__init__()
        self.session = session


class Attach(Message):
    """Suspend the UI and attach the terminal to ``session``'s tmux window."""

    def __init__(self, session: str) -> None:
        super().__init__()
        self.session = session


class ShowScreen(Message):
    """Show one of the app's screens by name: ``review``, ``compare``, ``help``, ``new-session``."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
