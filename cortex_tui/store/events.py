"""``events.jsonl`` in segments: the run's event log rotates, and every byte offset keeps naming the same event.

The live file is ``events.jsonl``. When it grows past the run's ``log_max`` it is renamed (after a save of the
run's state, like the session logs: ``engine/logrotate.py``) to ``events.<start>.jsonl``, ``<start>`` being the
offset of its first byte in the run's whole event stream (16 digits), and appending goes on in a new
``events.jsonl`` whose first byte is offset ``start + size`` of the last segment. So the offsets that readers
keep — the API's event stream ids (``Last-Event-ID``), ``events --follow``, ``up --detach`` waiting for its
daemon — mean what they meant before the rotation; a reader resuming from one reads on from the segment that
holds it. Segments are never rewritten or deleted here: the review queue's rebuild and ``metrics`` read the
whole history (the high-rate kinds, ``output`` and ``stats``, are never written to this file at all).

Appends take a shared ``flock`` on ``events.lock`` and the rotation an exclusive one, so no append lands in a
file as it is renamed (another process — a ``review approve`` without a supervisor — may append meanwhile).
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cortex_tui.store.append import append_line

LIVE = "events.jsonl"
LOCK = "events.lock"
_SEGMENT = re.compile(r"events\.(\d{16})\.jsonl")
READ_LIMIT = 8 << 20
"""One read returns at most this many bytes (a reader loops for more)."""


def segments(run_dir: Path) -> list[tuple[int, Path]]:
    """The rotated segments, (first offset, path), oldest first."""
    try:
        names = os.listdir(run_dir)
    except FileNotFoundError:
        return []
    out = [(int(m.group(1)), run_dir / n) for n in names if (m := _SEGMENT.fullmatch(n))]
    return sorted(out)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def parts(run_dir: Path) -> list[tuple[int, Path]]:
    """Every part of the stream, (first offset, path), ending with the live file."""
    segs = segments(run_dir)
    live_start = segs[-1][0] + _size(segs[-1][1]) if segs else 0
    return [*segs, (live_start, run_dir / LIVE)]


def end_offset(run_dir: Path) -> int:
    """Where the next event will start (the whole stream's size)."""
    start, live = parts(run_dir)[-1]
    return start + _size(live)


@contextmanager
def _locked(run_dir: Path, exclusive: bool, create: bool = True) -> Iterator[None]:
    try:
        fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o600) if create else os.open(run_dir / LOCK, os.O_RDONLY)
    except FileNotFoundError:  # a reader, and nothing was ever rotated or appended: nothing to wait for
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def append(run_dir: Path, line: bytes, *, fsync: bool = True) -> None:
    """Append one event line to the live file (``fsync=False``: the caller syncs it later, engine/event_sync.py;
    a rotation syncs the file before it becomes a segment)."""
    with _locked(run_dir, exclusive=False):
        append_line(run_dir / LIVE, line, 0o600, fsync=fsync)


def rotate(run_dir: Path, max_bytes: int) -> Path | None:
    """Rename the live file to its segment when it holds more than ``max_bytes``; the segment, or None."""
    live = run_dir / LIVE
    if max_bytes <= 0 or _size(live) <= max_bytes:
        return None
    with _locked(run_dir, exclusive=True):
        size = _size(live)
        if size <= max_bytes:
            return None
        start = parts(run_dir)[-1][0]
        if size and not _ends_with_newline(live, size):
            append_line(live, b"", 0o600)  # a crash cut its last line: close it, so the segment ends whole
        seg = run_dir / f"events.{start:016d}.jsonl"
        fd = os.open(live, os.O_RDONLY)
        try:
            os.fsync(fd)  # appends not synced yet (their sync is asked for by the live file's name) are now
        finally:
            os.close(fd)
        os.rename(live, seg)
        fd = os.open(run_dir, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename is durable before anything is appended to the new live file
        finally:
            os.close(fd)
        return seg


def _ends_with_newline(path: Path, size: int) -> bool:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


def read(run_dir: Path, offset: int, limit: int = READ_LIMIT) -> tuple[bytes, int]:
    """Bytes of the stream from ``offset`` on, all from one part (at most ``limit``), and the offset of their
    first byte — ``offset`` itself, or the first offset still on disk when ``offset`` is older. Reading a
    segment to its end moves on to the next part (a segment always ends with a whole line)."""
    with _locked(run_dir, exclusive=False, create=False):  # not while the live file is being renamed
        return _read(run_dir, offset, limit)


def _read(run_dir: Path, offset: int, limit: int) -> tuple[bytes, int]:
    ps = parts(run_dir)
    i = max((k for k, (start, _) in enumerate(ps) if start <= offset), default=0)
    while True:
        start, path = ps[i]
        at = max(offset, start)
        try:
            with open(path, "rb") as f:
                f.seek(at - start)
                data = f.read(limit)
        except FileNotFoundError:
            data = b""
        if data or i == len(ps) - 1:
            return data, at
        i += 1
