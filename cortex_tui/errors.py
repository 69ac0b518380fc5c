"""One error hierarchy. Users see ``message`` (+ ``hint``); tracebacks only with ``--debug``."""

from __future__ import annotations


class CortexError(Exception):
    """Base error: a one-line message saying what/where, and an optional hint saying how to fix."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

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
