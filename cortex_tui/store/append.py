"""Appending whole lines to a JSON-lines file that a crash may have left without its final newline.

A writer killed mid-``write`` leaves a partial last line; gluing the next record onto it would lose that
record too. :func:`append_line` starts a new line first when the file does not end with one (the partial
line stays as it is: readers skip and count it). Cheap to import (the Claude hook uses it).
"""

from __future__ import annotations

import os


def append_line(path: str | os.PathLike[str], data: bytes, mode: int = 0o600, *, fsync: bool = False) -> None:
    """Append ``data`` (one or more complete lines) to ``path`` in one ``write`` (``O_APPEND``)."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # the last line was cut off by a crash: do not glue onto it
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
