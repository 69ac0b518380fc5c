"""Session logs that never fill the disk: the head of a log is dropped in place once it passes ``log_max``.

A session printing 100 lines/s writes ~34 MB/h, for as long as it runs. Its log is appended to by the pane's
``cat >> log`` (pipe-pane), which holds the file open: renaming it away would lose nothing but could not make
the writer move, and copy-then-truncate loses what is written in between. So the head is *punched out*
(``fallocate(PUNCH_HOLE | KEEP_SIZE)``): its blocks go back to the filesystem, atomically with respect to the
writer, and every byte offset stays what it was — re-attach catch-up from a saved offset works across any
number of rotations, and ``tail -f`` goes on. The log's *index* (``<slug>.log.idx``, JSON) records where the
kept part starts; readers (:func:`log_start`) never read the hole.

Only bytes the run's saved state has consumed are dropped (the offset in ``state.json`` at the save that
triggered the rotation), at most down to half of ``log_max`` — a supervisor crash right after a rotation
re-attaches from an offset at or after the hole.

Filesystems without hole punching (rare on Linux: ext4, xfs, btrfs and tmpfs have it) are reported once
and their logs grow as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

from pydantic import BaseModel, ValidationError

from cortex_tui.store.files import atomic_write

LOG_MAX = 50 << 20
"""Default ``[run] log_max``: a log keeps at most this many bytes on disk (then half of it after a rotation)."""

_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02


class LogIndex(BaseModel):
    """``<slug>.log.idx``: where the kept part of a log starts."""

    start: int = 0
    """Byte offset of the first byte still in the log (everything before it was dropped)."""
    rotations: int = 0
    dropped: int = 0
    """Bytes dropped so far (== start)."""


def index_path(path: Path) -> Path:
    return path.with_name(path.name + ".idx")


def read_index(path: Path) -> LogIndex:
    try:
        return LogIndex.model_validate_json(index_path(path).read_bytes())
    except FileNotFoundError:
        return LogIndex()
    except ValidationError:  # a torn or foreign file: the filesystem knows where data starts
        return LogIndex(start=_first_data(path))


def _first_data(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return 0
    try:
        return os.lseek(fd, 0, os.SEEK_DATA)
    except OSError:
        return 0
    finally:
        os.close(fd)


def log_start(path: Path) -> int:
    """Where a (possibly rotated) log's kept bytes start; 0 for a log never rotated."""
    return read_index(path).start


_libc: ctypes.CDLL | None = None


def _punch(fd: int, length: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        _libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    if _libc.fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, 0, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def rotate(path: Path, consumed: int, log_max: int, index: LogIndex | None = None) -> LogIndex | None:
    """Drop the head of ``path`` when more than ``log_max`` bytes of it are kept: everything before
    ``min(consumed, size - log_max // 2)`` (block-aligned). Returns the new index, or None (nothing to do).
    ``index``: the log's index as last read or written by the caller (read from disk when None)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if st.st_size <= log_max:  # nothing kept beyond log_max whatever the index says
        return None
    idx = read_index(path) if index is None else index
    if st.st_size - idx.start <= log_max:
        return None
    block = st.st_blksize or 4096
    cut = min(consumed, st.st_size - log_max // 2)
    cut -= cut % block
    if cut <= idx.start:
        return None
    fd = os.open(path, os.O_WRONLY)
    try:
        _punch(fd, cut)
    finally:
        os.close(fd)
    new = LogIndex(start=cut, rotations=idx.rotations + 1, dropped=cut)
    atomic_write(index_path(path), new.model_dump_json())
    return new


