"""Safety refs under ``refs/cortex/``: rejected branches and backups. Written, then read back."""

from __future__ import annotations

import time
from pathlib import Path

from cortex_tui.backends.git import git, rev_parse
from cortex_tui.errors import GitError


def stamp(now: float | None = None) -> str:
    t = time.time() if now is None else now
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f"-{int((t % 1) * 1_000_000):06d}Z"


def rejected_ref(run: str, slug: str) -> str:
    return f"refs/cortex/rejected/{run}/{slug}"


def backup_prefix(run: str, slug: str) -> str:
    return f"refs/cortex/backup/{run}/{slug}"


def write_ref(repo: Path, ref: str, commit: str, reason: str) -> str:
    """Point ``ref`` at ``commit`` and read it back; raise :class:`GitError` if it does not hold."""
    git(repo, "update-ref", "-m", reason, ref, commit)
    got = rev_parse(repo, ref)
    if got != commit:
        raise GitError(f"wrote {ref} -> {commit[:12]} but it reads back as {got}")
    return ref


def unique_backup_ref(repo: Path, run: str, slug: str, suffix: str = "") -> str:
    """A fresh ``refs/cortex/backup/<run>/<slug>/<timestamp><suffix>`` that does not exist yet."""
    while True:
        ref = f"{backup_prefix(run, slug)}/{stamp()}{suffix}"
        if rev_parse(repo, ref) is None:
            return ref
        time.sleep(0.000_01)
