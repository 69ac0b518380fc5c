"""Keep full garbage collections out of keystrokes.

With 100 live sessions the TUI process holds a few hundred thousand objects (Textual's caches, rendered
strips, run state); a generation-2 collection over them pauses the event loop for 20–60 ms, at a random
moment, often in the middle of a keystroke. :class:`IdleCollector` freezes the start-up objects out of the
collector, turns off *automatic* generation-2 collections and runs them itself when no key was pressed for
a while. Generations 0 and 1 stay automatic, so short-lived cycles are still freed promptly.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from textual.app import App

NEVER = 2**31 - 1
"""A generation-2 threshold the allocation counter does not reach."""


class IdleCollector:
    """Full collections every ``every`` seconds, but only after ``idle`` seconds without input."""

    def __init__(self, app: App[None], last_input: Callable[[], float], *, every: float = 15.0,
                 idle: float = 1.0) -> None:
        self.app = app
        self.last_input = last_input
        self.every = every
        self.idle = idle
        self.collections = 0
        self._saved: tuple[int, int, int] | None = None

    @property
    def active(self) -> bool:
        return self._saved is not None

    def start(self) -> None:
        if self._saved is not None:
            return
        gc.collect()
        gc.freeze()  # everything alive after start-up is long-lived: never scan it again
        self._saved = gc.get_threshold()
        gc.set_threshold(self._saved[0], self._saved[1], NEVER)
        self.app.set_timer(self.every, self._due)

    def stop(self) -> None:
        """Give the process its normal collector back (the app is leaving)."""
        if self._saved is None:
            return
        gc.set_threshold(*self._saved)
        self._saved = None
        gc.unfreeze()

    def _due(self) -> None:
        if self._saved is None:
            return
        quiet = time.monotonic() - self.last_input()
        if quiet < self.idle:
            self.app.set_timer(self.idle - quiet, self._due)
            return
        gc.collect(2)
        self.collections += 1
        self.app.set_timer(self.every, self._due)
