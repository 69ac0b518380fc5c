"""API sockets left behind by supervisors that were killed (kill -9): found and removed at the next start.

A run directory whose path is too long for a unix socket gets its API socket in a short per-user directory
(``$XDG_RUNTIME_DIR`` or ``/tmp/cortex-<uid>``) as ``api-<hash>.sock``; next to it ``api-<hash>.sock.run``
names the run directory it serves. A socket there is stale — and removed — only when both hold: nobody
listens on it (connecting fails with ECONNREFUSED) and its run's supervisor lock is free. A socket without
an owner file (made by an older version) is left alone: its run cannot be checked.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
from pathlib import Path

log = logging.getLogger("cortex_tui.api")

OWNER_SUFFIX = ".run"
LOCK_NAME = "supervisor.lock"


def write_owner(sock: Path, run_dir: Path) -> None:
    """Say which run directory ``sock`` serves (mode 0600, next to it)."""
    owner = sock.with_name(sock.name + OWNER_SUFFIX)
    fd = os.open(owner, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(str(run_dir) + "\n")


def remove_owner(sock: Path) -> None:
    sock.with_name(sock.name + OWNER_SUFFIX).unlink(missing_ok=True)


def _refused(sock: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(str(sock))
    except OSError as e:
        return e.errno == errno.ECONNREFUSED
    finally:
        s.close()
    return False  # somebody listens: a live supervisor's


def _lock_free(run_dir: Path) -> bool:
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return True  # no lock file: the run (or its whole directory) is gone
    except OSError:
        return False  # cannot tell: leave it
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def sweep(base: Path, keep: Path | None = None) -> list[Path]:
    """Remove the stale API sockets (and their owner files) in ``base``; returns the sockets removed."""
    removed: list[Path] = []
    try:
        candidates = sorted(base.glob("api-*.sock"))
    except OSError:
        return removed
    for sock in candidates:
        if sock == keep:
            continue
        owner = sock.with_name(sock.name + OWNER_SUFFIX)
        try:
            run_dir = Path(owner.read_text().strip())
        except (OSError, UnicodeDecodeError):
            continue  # no owner file: an older version's, or not ours
        if not run_dir.is_absolute() or not _refused(sock) or not _lock_free(run_dir):
            continue
        try:
            sock.unlink()
            owner.unlink(missing_ok=True)
        except OSError as e:
            log.info("stale API socket %s could not be removed: %s", sock, e)
            continue
        removed.append(sock)
    for owner in sorted(base.glob(f"api-*.sock{OWNER_SUFFIX}")):  # a supervisor killed before it could bind
        sock = owner.with_name(owner.name[: -len(OWNER_SUFFIX)])
        if sock == keep or sock.exists():
            continue
        try:
            run_dir = Path(owner.read_text().strip())
        except (OSError, UnicodeDecodeError):
            continue
        if run_dir.is_absolute() and _lock_free(run_dir):
            owner.unlink(missing_ok=True)
    return removed
