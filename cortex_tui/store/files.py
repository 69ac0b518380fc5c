"""The coordination/ directory: atomic state.json, append-only events.jsonl, status.md, supervisor lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cortex_tui.errors import StateError, disk_error
from cortex_tui.private import private_dir
from cortex_tui.store import events

if TYPE_CHECKING:  # the models (pydantic) are imported when a file is parsed: finding a run, its lock and its
    # API socket (`status --json` answered by the live supervisor) never needs them
    from cortex_tui.model.events import Event
    from cortex_tui.model.state import RunState


@contextlib.contextmanager
def io_at(path: Path, doing: str = "writing") -> Iterator[None]:
    """An ``OSError`` in the block becomes a :class:`DiskError` naming ``path`` and what to do (exit code 4)."""
    try:
        yield
    except OSError as e:
        raise disk_error(path, e, doing) from e


def atomic_write(path: Path, data: str | tuple[str, ...]) -> None:
    """Write ``data`` (or its parts, one after the other) to ``path`` via tmp + fsync + rename, so readers never
    see half a file."""
    with io_at(path):
        _atomic_write(path, data)


def _atomic_write(path: Path, data: str | tuple[str, ...]) -> None:
    import tempfile  # not at the top: reading a run (`status --json`) never needs it

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for part in (data,) if isinstance(data, str) else data:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class RunStore:
    """Files of one run under ``<state_dir>/runs/<run>/``."""

    def __init__(self, state_dir: Path, run: str) -> None:
        self.state_dir = state_dir
        self.run = run
        self.dir = state_dir / "runs" / run
        self.state_path = self.dir / "state.json"
        self.events_path = self.dir / "events.jsonl"
        self.logs_dir = self.dir / "logs"
        self.exit_dir = self.dir / "exit"
        self.sessions_dir = self.dir / "sessions"
        self.lock_path = self.dir / "supervisor.lock"
        self._lock_fd: int | None = None
        self._layout_json: tuple[str, str] | None = None
        """The layout text last saved and its JSON (:meth:`dump`)."""
        self.bad_event_lines = 0
        """Lines of events.jsonl that :meth:`read_events` skipped (not an event: cut off, unknown kind, bad field)."""

    # paths of one session (by slug) ----------------------------------------
    def log_path(self, slug: str) -> Path:
        """The session's terminal log (every byte its pane printed, attempt headers between)."""
        return self.logs_dir / f"{slug}.log"

    def exit_path(self, slug: str) -> Path:
        """Where the shell wrapper writes the agent's exit code."""
        return self.exit_dir / f"{slug}.code"

    def session_dir(self, slug: str) -> Path:
        """The session's private files (hook settings, mirrored transcripts)."""
        return self.sessions_dir / slug

    def events_file(self, slug: str) -> Path:
        """The agent's structured events (JSON lines, appended by its hooks)."""
        return self.sessions_dir / slug / "events.jsonl"

    def ensure(self) -> None:
        for d in (self.dir, self.logs_dir, self.exit_dir, self.sessions_dir):
            with io_at(d, "creating the directory"):
                private_dir(d, top=self.state_dir)

    # state ---------------------------------------------------------------
    def load(self) -> RunState | None:
        from pydantic import ValidationError

        from cortex_tui.model.state import RunState

        try:
            text = self.state_path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return None
        try:
            return RunState.model_validate_json(text)
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise StateError(
                f"{self.state_path}: unreadable run state (field '{loc}': {first['msg']})",
                "move the file aside to start the run afresh; worktrees and branches are untouched",
            ) from None

    def save(self, state: RunState) -> None:
        atomic_write(self.state_path, self.dump(state))

    def dump(self, state: RunState) -> str:
        """state.json's text for ``state`` (stamped now)."""
        return "".join(self.dump_parts(state))

    def dump_parts(self, state: RunState) -> tuple[str, ...]:
        """state.json's text for ``state`` (stamped now), in parts to write one after the other. The layout's
        text, the same all run long and often most of the file (100 sessions' scripts and prompts), is encoded
        once, not on every save, and never copied into one string with the rest."""
        state.updated_at = time.time()
        layout = state.layout_text
        if self._layout_json is None or self._layout_json[0] is not layout:
            self._layout_json = (layout, json.dumps(layout, ensure_ascii=False))
        rest = state.model_dump_json(indent=1, exclude={"layout_text"})  # "{\n <the other fields>\n}"
        return '{\n "layout_text": ', self._layout_json[1], ",", rest[1:]

    # events --------------------------------------------------------------
    def append_event(self, event: Event, *, fsync: bool = True) -> None:
        """Append ``event`` (``fsync=False``: the caller syncs the file later, e.g. engine/event_sync.py)."""
        line = json.dumps(event.model_dump(), separators=(",", ":"), default=str) + "\n"
        with io_at(self.events_path, "appending an event"):
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            events.append(self.dir, line.encode("utf-8"), fsync=fsync)

    def events_end(self) -> int:
        """The offset the next event will start at (events.jsonl rotates: ``store/events.py``)."""
        return events.end_offset(self.dir)

    def read_events(self, offset: int = 0) -> tuple[list[Event], int]:
        """Events from byte ``offset``; returns (events, new offset). Half-written last lines wait; lines that are
        not an event (cut off by a crash, an unknown kind) are skipped and counted in ``bad_event_lines``."""
        from cortex_tui.model.events import parse_event

        out: list[Event] = []
        while True:  # part by part (the rotated segments, then the live file)
            data, at = events.read(self.dir, offset)
            end = data.rfind(b"\n")
            if end < 0:
                return out, max(offset, at) if not data else offset
            for raw in data[: end + 1].splitlines():
                if not raw.strip():
                    continue
                ev = parse_event(raw)
                if ev is not None:
                    out.append(ev)
                else:  # e.g. the cut-off line of a crash mid-write: skipped, counted
                    self.bad_event_lines += 1
            offset = at + end + 1

    def iter_events(self) -> Iterator[Event]:
        events, _ = self.read_events(0)
        yield from events

    # lock ----------------------------------------------------------------
    def try_lock(self) -> bool:
        """Take the supervisor lock (one supervisor per run). False if another process holds it."""
        self.ensure()
        with io_at(self.lock_path, "taking the supervisor lock"):
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
            except OSError:
                os.close(fd)
                raise
        self._lock_fd = fd
        return True

    def lock_holder(self) -> int | None:
        """PID of the live supervisor holding the lock, if any."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)  # flock needs no write access (a read-only disk)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                deadline = time.monotonic() + 2.0
                while True:  # the holder writes its pid just after taking the lock: wait for it, not "pid -1"
                    raw = os.pread(fd, 32, 0).decode(errors="replace").strip()
                    if raw.isdigit() or time.monotonic() > deadline:
                        return int(raw) if raw.isdigit() else -1
                    time.sleep(0.01)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def unlock(self) -> None:
        if self._lock_fd is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None


def list_runs(state_dir: Path) -> list[str]:
    """Run ids under ``state_dir``, most recently updated last."""
    runs = state_dir / "runs"
    if not runs.is_dir():
        return []
    found = [(p.stat().st_mtime, p.parent.name) for p in runs.glob("*/state.json")]
    return [name for _, name in sorted(found)]
