"""Supervised engine tasks: an unexpected exception is reported with its text, never swallowed.

Long-lived tasks (the file watcher) restart after a failure, with a short growing delay; one-shot tasks
(trigger actions, review work, screen checks) report and end. Cancellation is never treated as a failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("cortex_tui.engine")

OnError = Callable[[str, BaseException], None]
"""Called with the task's name and the exception (the engine turns it into an ``engine_error`` event)."""

RESTART_DELAYS_S = (0.1, 0.5, 2.0, 5.0)
"""Pause before the 1st, 2nd, 3rd, … restart of a long-lived task (the last value repeats)."""


def describe(exc: BaseException) -> str:
    """``KeyError: 'x'`` — the exception's type and text, for an event."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def supervised(coro_factory: Callable[[], Awaitable[None]], name: str, on_error: OnError, *,
                     restart: bool = True, delays: tuple[float, ...] = RESTART_DELAYS_S) -> None:
    """Run ``coro_factory()``; on an unexpected exception call ``on_error`` and (``restart``) run it again.

    Returns when the coroutine returns normally. ``asyncio.CancelledError`` propagates untouched.
    """
    failures = 0
    while True:
        try:
            await coro_factory()
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.error("engine task %s failed", name, exc_info=e)
            on_error(name, e)
            if not restart:
                return
        await asyncio.sleep(delays[min(failures, len(delays) - 1)])
        failures += 1


class Coalesced:
    """``fn`` run as a task of ``tasks`` when asked; asked again while it runs, it runs once more after (any
    number of asks meanwhile make one more run)."""

    def __init__(self, fn: Callable[[], Awaitable[None]], tasks: TaskSet, name: str) -> None:
        self.fn = fn
        self.tasks = tasks
        self.name = name
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def soon(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = self.tasks.spawn(self._run, self.name)

    async def _run(self) -> None:
        while True:
            self._again = False
            await self.fn()
            if not self._again:
                return


class TaskSet:
    """The engine's background tasks: each runs :func:`supervised`; the set knows what is in flight."""

    def __init__(self, on_error: OnError) -> None:
        self.on_error = on_error
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro_factory: Callable[[], Awaitable[None]], name: str, *,
              restart: bool = False) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(
            supervised(coro_factory, name, self.on_error, restart=restart), name=f"cortex-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __bool__(self) -> bool:
        return bool(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    async def wait(self) -> None:
        """Wait for every task in flight (failures were already reported by :func:`supervised`)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def cancel(self) -> None:
        """Cancel every task in flight and wait until they are gone."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks)
