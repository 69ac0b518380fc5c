"""Files and directories only their owner can read: the state dir, ``.cortex/`` and what is in them.

Logs, verify logs, ``events.jsonl``, exit files, ``state.json`` and the review queue carry agent output,
prompts and paths (sometimes secrets): directories are 0700, files 0600. The process umask is left
alone on purpose — agents, git and verify commands inherit it and create the user's normal files.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO, cast

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path, *, top: Path | None = None) -> Path:
    """Create ``path`` (missing parents too) with mode 0700; return it.

    Every directory from ``path`` up to ``top`` (inclusive, when ``path`` is under it) is tightened to
    0700 even if it already existed (an older state dir made 0755), as long as this user owns it.
    Directories above ``top`` that already exist are never touched.
    """
    missing: list[Path] = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=DIR_MODE)
    if top is not None and (path == top or top in path.parents):
        d = path
        while True:
            _tighten(d)
            if d == top:
                break
            d = d.parent
    else:
        _tighten(path)
    return path


def _tighten(d: Path) -> None:
    try:
        st = d.stat()
    except FileNotFoundError:
        return
    if st.st_uid == os.getuid() and st.st_mode & 0o077:
        os.chmod(d, st.st_mode & 0o700 | DIR_MODE)


def tighten_files(d: Path) -> None:
    """Make the files directly in ``d`` 0600 (what an agent adapter wrote there with plain ``write_text``)."""
    for p in d.iterdir():
        with contextlib.suppress(OSError):
            st = p.lstat()
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o077:
                os.chmod(p, stat.S_IMODE(st.st_mode) & 0o700 | FILE_MODE)


def opener(path: str, flags: int) -> int:
    """``open(..., opener=opener)``: a file created 0600 (an existing one keeps its mode)."""
    return os.open(path, flags, FILE_MODE)


def open_private(path: Path, mode: str = "ab") -> BinaryIO:
    """``open(path, mode)`` in binary mode, creating the file 0600 and tightening an existing one."""
    if "b" not in mode:
        raise ValueError(f"open_private is binary only, got mode {mode!r}")
    f = cast(BinaryIO, open(path, mode, opener=opener))
    with contextlib.suppress(OSError):
        if os.fstat(f.fileno()).st_mode & 0o077:
            os.fchmod(f.fileno(), FILE_MODE)
    return f
