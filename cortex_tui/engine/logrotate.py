"""Rotating the run's session logs (see :mod:`cortex_tui.store.logs`) and its ``events.jsonl``
(:mod:`cortex_tui.store.events`, at the same ``log_max``) after each save of its state."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from cortex_tui.model.state import RunState, SessionRecord
from cortex_tui.store import events
from cortex_tui.store.logs import LOG_MAX, LogIndex, read_index, rotate

CHECK_S = 5.0
"""Log sizes are looked at this often (one stat per live session)."""


class SavedLog(NamedTuple):
    """A session's log as one save of the state holds it."""

    slug: str
    attempt: int
    log_offset: int


class LogRotator:
    """Called after each save of the run's state: rotates the logs that grew past ``log_max``."""

    def __init__(self, log_path: Callable[[str], Path], log_max: int | None,
                 on_error: Callable[[str], None], *, events_dir: Path | None = None) -> None:
        self.log_path = log_path
        self.events_dir = events_dir
        """The run's directory: its events.jsonl rotates into segments past ``log_max`` too."""
        self.log_max = LOG_MAX if log_max is None else log_max
        self.on_error = on_error
        self._checked = float("-inf")
        self._broken = False
        self.rotations = 0
        self._index: dict[Path, LogIndex] = {}
        """Each log's index as this rotator last read or wrote it (only the run's supervisor rotates)."""

    def after_save(self, state: RunState) -> Callable[[], None] | None:
        """(At a save's snapshot.) What to run once that save is on disk: rotate up to the offsets it holds
        (the live ones may be newer than any saved state by then). None when no rotation is due."""
        if self.log_max <= 0 or time.monotonic() - self._checked < CHECK_S:
            return None
        logs = [SavedLog(r.slug, r.attempt, r.log_offset) for r in state.sessions.values()]
        return lambda: self.saved(logs)

    def saved(self, records: Iterable[SessionRecord | SavedLog]) -> None:
        """``records`` as they were saved (their ``log_offset`` is durable)."""
        if self.log_max <= 0:
            return
        now = time.monotonic()
        if now - self._checked < CHECK_S:
            return
        self._checked = now
        if self.events_dir is not None:  # a rename: any filesystem can
            try:
                if events.rotate(self.events_dir, self.log_max) is not None:
                    self.rotations += 1
            except OSError as e:
                self.on_error(f"rotating {self.events_dir / events.LIVE}: {e.strerror or e}")
        if self._broken:
            return
        for rec in records:
            if rec.attempt == 0:
                continue
            path = self.log_path(rec.slug)
            try:
                idx = self._index.get(path)
                if idx is not None and rec.log_offset <= idx.start:
                    continue  # nothing read past the kept head since: nothing may be dropped
                new = rotate(path, rec.log_offset, self.log_max, idx)
                if new is not None:
                    self.rotations += 1
                    self._index[path] = new
                elif idx is None and path.exists():
                    self._index[path] = read_index(path)
            except OSError as e:
                if e.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    self._broken = True
                    self.on_error(f"log rotation is not possible on the filesystem of {path} ({e.strerror}): "
                                  "session logs grow without bound; keep the state dir on ext4, xfs, btrfs or "
                                  "tmpfs")
                    return
                self.on_error(f"rotating {path}: {e.strerror or e}")
