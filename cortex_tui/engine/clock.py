"""The engine's clock: wall time and monotonic time behind one small interface, so tests can drive it.

Everything the engine decides by time (silence, timeouts, restart backoff, tick periods, save throttling)
reads a :class:`Clock`. Blocking waits for *real* processes (an exit file, a lock handover) use
:func:`wait_real`, which is always real time: a fake clock must never make a thread spin.
"""

from __future__ import annotations

import time
from typing import Protocol

from cortex_tui.backends.procs import wait_real

__all__ = ["Clock", "FakeClock", "SystemClock", "local_hms", "wait_real"]


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (what records and events carry)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (periods, throttles, deadlines)."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to (:meth:`advance`), for tests."""

    def __init__(self, start: float = 1_700_000_000.0, mono: float = 1000.0) -> None:
        self.now = start
        self.mono = mono

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds
        self.mono += seconds


def local_hms(clock: Clock) -> str:
    """``HH:MM:SS`` of the clock's wall time, local time zone (log headers)."""
    return time.strftime("%H:%M:%S", time.localtime(clock.time()))
