"""``events.jsonl`` made durable off the event loop (group commit).

Each event is appended on the loop with one ``write`` (``O_APPEND``): from then on it is in the kernel's page
cache, so a crash or a ``kill -9`` of the supervisor loses nothing. The ``fsync`` that also makes it survive a
power loss takes 1–70 ms on a busy disk and used to run on the loop for every event (a spawn writes four or
five): :class:`EventSync` runs it in a thread instead, one at a time, each one covering every append made
before it started. :meth:`EventSync.close` syncs what is left before the supervisor ends.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from pathlib import Path

from cortex_tui.errors import DiskError, disk_error


class EventSync:
    """fsyncs one file in a background thread when asked (asks while one runs make one more)."""

    def __init__(self, path: Path, on_error: Callable[[DiskError], None]) -> None:
        self.path = path
        self.on_error = on_error
        """Called in the loop that asked, with a DiskError naming the file (an fsync that failed)."""
        self._cond = threading.Condition()
        self._wanted = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def request(self, loop: asyncio.AbstractEventLoop) -> None:
        """(The loop.) An fsync soon, after what was appended up to now."""
        with self._cond:
            if self._closed:
                self._sync_here()
                return
            self._loop = loop
            self._wanted = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cortex-event-sync", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """(The loop's thread, or any once it is gone.) Sync what is left now and stop the thread (a later
        request syncs in place)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        self._thread = None
        self._sync_here()

    def _sync_here(self) -> None:
        try:
            self._sync()
        except DiskError as e:
            self.on_error(e)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._wanted and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                self._wanted = False
                loop = self._loop
            try:
                self._sync()
            except DiskError as e:
                if loop is not None and not loop.is_closed():
                    loop.call_soon_threadsafe(self.on_error, e)

    def _sync(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        except OSError as e:
            raise disk_error(self.path, e, "syncing the events") from e
        try:
            os.fsync(fd)
        except OSError as e:
            raise disk_error(self.path, e, "syncing the events") from e
        finally:
            os.close(fd)
