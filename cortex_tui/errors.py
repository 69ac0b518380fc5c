"""One error hierarchy. Users see ``message`` (+ ``hint``); tracebacks only with ``--debug``."""

from __future__ import annotations


class CortexError(Exception):
    """Base error: a one-line message saying what/where, and an optional hint saying how to fix."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None, *, key_hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.key_hint = key_hint
        """The same hint for the TUI, naming the key that does it (``hint`` names the CLI command)."""

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class LayoutError(CortexError):
    """A layout file is malformed. Exit code 2."""

    exit_code = 2


class UsageError(CortexError):
    """Bad command-line usage. Exit code 2."""

    exit_code = 2


class PrerequisiteError(CortexError):
    """A tool a run needs (tmux, git, python) is missing or too old; nothing was started. Exit code 2."""

    exit_code = 2


class TmuxError(CortexError):
    """A tmux command failed."""


class GitError(CortexError):
    """A git command failed."""


class StateError(CortexError):
    """The coordination/ state is missing or unreadable."""


class SshError(CortexError):
    """An ssh command or connection failed."""


class RefusedError(CortexError):
    """An action was refused to protect work (dirty worktree, unmerged branch, conflicts)."""


class DiskError(CortexError):
    """Reading or writing a file of the run failed (full disk, read-only or unwritable directory). Exit code 4."""

    exit_code = 4


_FULL = (28, 122)  # ENOSPC, EDQUOT
_DENIED = (1, 13, 30)  # EPERM, EACCES, EROFS


def disk_error(path: object, exc: OSError, doing: str = "writing") -> DiskError:
    """A :class:`DiskError` that names the file, what went wrong and what to do about it."""
    where = exc.filename if path is None and exc.filename else path
    what = exc.strerror or type(exc).__name__
    msg = f"{where}: {doing} failed: {what}"
    if exc.errno in _FULL:
        hint = (f"free space on the disk holding {where} (`df -h`), then run the same command again: the "
                "sessions keep running in tmux and the supervisor re-attaches, nothing is lost")
    elif exc.errno in _DENIED:
        hint = (f"make the directory of {where} writable (or pass --state-dir on a writable disk), then run the "
                "same command again")
    else:
        hint = "fix the file system problem, then run the same command again"
    return DiskError(msg, hint)
