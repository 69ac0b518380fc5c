"""Where a run's warm slots live (``[pool] warm``: engine/warm.py on this machine, engine/remote_warm.py on
ssh nodes) and how ``cortex-tui clean`` / ``down`` remove them.

A warm slot holds no work: it is a checkout of the base on branch ``cortex-warm/<run>/w-<id>`` plus what the
layout's ``setup`` built; a task's slot is moved out of the warm directory (and onto the task's branch) before
its agent starts. So a slot goes when it is still exactly that — on its warm branch, no change to a tracked
file, its HEAD on the base. Anything else (a claim cut off half-way leaves a slot on a task's branch; a human
may have committed in one) is kept and named in the report, never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cortex_tui.backends.git import git, is_ancestor, list_worktrees, rev_parse
from cortex_tui.errors import GitError
from cortex_tui.text import visible

BRANCH_ROOT = "cortex-warm"


def local_root(repo: Path, run: str) -> Path:
    """The run's warm slots on this machine."""
    return repo / ".cortex" / "warm" / run


def branch_of(run: str, slot: str) -> str:
    return f"{BRANCH_ROOT}/{run}/{slot}"


@dataclass
class SlotResult:
    where: str
    """``local`` or the node's name."""
    slot: str
    path: str
    reason: str = ""


@dataclass
class WarmSweep:
    """What ``clean``/``down`` did to a run's warm slots."""

    dry_run: bool = False
    removed: list[SlotResult] = field(default_factory=list)
    kept: list[SlotResult] = field(default_factory=list)
    branches: list[str] = field(default_factory=list)
    """Warm branches deleted (each slot's own, and ones whose slot was already gone)."""
    errors: list[str] = field(default_factory=list)
    """Nodes that could not be reached (their slots stay until the next clean)."""
    windows: list[str] = field(default_factory=list)
    """The removed slots' idle tmux windows that were closed."""

    def extend(self, other: WarmSweep) -> None:
        self.removed += other.removed
        self.kept += other.kept
        self.branches += other.branches
        self.errors += other.errors
        self.windows += other.windows

    def lines(self) -> list[str]:
        """For a terminal (a branch name in a reason may be anyone's: made visible)."""
        verb = "would remove" if self.dry_run else "removed"
        out = [f"{verb} warm slot {r.where}:{r.slot} ({r.path})" for r in self.removed]
        out += [f"kept warm slot {k.where}:{k.slot} ({k.path}): {k.reason}" for k in self.kept]
        out += [f"{'would close' if self.dry_run else 'closed'} the idle window {w} of a warm slot" for w in self.windows]
        out += [f"warm slots: {e}" for e in self.errors]
        return [visible(x) for x in out]

    def to_dict(self) -> dict[str, object]:
        return {"removed": [vars(r) for r in self.removed], "kept": [vars(k) for k in self.kept],
                "branches": self.branches, "errors": self.errors, "windows": self.windows}


def _refusal(slot: Path, run: str, tip: str | None) -> str | None:
    """Why ``slot`` is not a plain warm slot (None: it is, and holds nothing of anyone's)."""
    want = f"refs/heads/{branch_of(run, slot.name)}"
    head = git(slot, "symbolic-ref", "-q", "HEAD", check=False).strip()
    if head != want:
        return f"on {head.removeprefix('refs/heads/') or 'a detached HEAD'}, not its warm branch (a task may have " \
               "taken it)"
    if git(slot, "status", "--porcelain", "--untracked-files=no", check=False).strip():
        return "tracked files changed in it"
    commit = rev_parse(slot, "HEAD")
    if commit is None:
        return "its HEAD cannot be read"
    if tip is None or not is_ancestor(slot, commit, tip):
        return "its HEAD has commits that are not on the base"
    return None


def base_tip(repo: Path, base: str) -> str | None:
    return rev_parse(repo, f"refs/heads/{base}") or rev_parse(repo, base)


def sweep_local(repo: Path, run: str, base: str, *, dry_run: bool = False) -> WarmSweep:
    """Remove the run's warm slots on this machine and their branches (see the module doc for what is kept)."""
    out = WarmSweep(dry_run=dry_run)
    root = local_root(repo, run)
    tip = base_tip(repo, base)
    registered = {w.path.resolve(): w for w in list_worktrees(repo)}
    in_use = {w.branch for w in registered.values() if w.branch}
    slots = {p for p in registered if p.parent == root.resolve() and p.name.startswith("w-")}
    if root.is_dir():
        slots |= {d.resolve() for d in root.iterdir() if d.is_dir() and d.name.startswith("w-")}
    for path in sorted(slots):
        name = path.name
        if path not in registered:
            out.kept.append(SlotResult("local", name, str(path), "not a registered git worktree"))
            continue
        if not path.is_dir():
            why = None  # only git's record of it is left
        else:
            try:
                why = _refusal(path, run, tip)
            except GitError as e:
                why = e.message
        if why is not None:
            out.kept.append(SlotResult("local", name, str(path), why))
            continue
        out.removed.append(SlotResult("local", name, str(path), "a warm slot (no work in it)"))
        if dry_run:
            continue
        git(repo, "worktree", "remove", "--force", str(path))  # untracked: the setup's output
        in_use.discard(branch_of(run, name))
        for marker in (root / f"{name}.setup.json", root / f"{name}.setup.log"):
            marker.unlink(missing_ok=True)
    prefix = f"{BRANCH_ROOT}/{run}/"
    listed = git(repo, "for-each-ref", "--format=%(refname:short) %(objectname)", f"refs/heads/{prefix}",
                 check=False)
    for line in listed.splitlines():
        branch, _, commit = line.partition(" ")
        if branch in in_use:
            continue  # a kept slot's (or one checked out elsewhere)
        if tip is None or not is_ancestor(repo, commit, tip):
            out.kept.append(SlotResult("local", branch.removeprefix(prefix), branch,
                                       "its branch has commits that are not on the base"))
            continue
        out.branches.append(branch)
        if not dry_run:
            git(repo, "branch", "-q", "-D", branch)
    if not dry_run and root.is_dir():
        for marker in root.glob("w-*.setup.*"):  # a slot's setup record, its slot gone
            if not (root / marker.name.split(".", 1)[0]).exists():
                marker.unlink(missing_ok=True)
        for logf in root.glob("nodes/*/w-*.setup.log"):  # this machine's copy of node slots' setup output
            logf.unlink()
        for d in [*sorted(root.glob("nodes/*"), reverse=True), root / "nodes"]:
            try:
                d.rmdir()
            except OSError:
                pass  # not empty, or not there
        for d in (root, root.parent):
            try:
                d.rmdir()  # only when nothing is left in it
            except OSError:
                break
    return out
