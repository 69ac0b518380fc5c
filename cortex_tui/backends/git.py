"""Git operations: worktrees on their own branches, diff stats, conflict checks, safe refs.

Plain ``git`` subprocesses with argv lists. Every failure becomes a :class:`GitError` naming the command.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cortex_tui.errors import GitError

_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def slugify(name: str) -> str:
    """A branch- and path-safe form of a session name; hostile names get a short hash suffix."""
    slug = _SLUG_BAD.sub("-", name).strip("-.")
    slug = re.sub(r"\.{2,}", ".", slug)
    slug = re.sub(r"-{2,}", "-", slug)
    slug = slug.removesuffix(".lock")[:48] or "session"
    if slug != name:
        slug = f"{slug}-{hashlib.sha1(name.encode()).hexdigest()[:6]}"
    return slug


GIT = ("git", "--literal-pathspecs")
"""Every git call: a path is a path, never pathspec magic (a file an agent named ``:x`` or ``:(glob)*``)."""


def git(repo: Path, *args: str, check: bool = True, input: str | None = None, timeout: float = 120.0,
        env: dict[str, str] | None = None) -> str:
    import os

    full_env = None
    if env:
        full_env = {**os.environ, **env}
    try:
        r = subprocess.run([*GIT, "-C", str(repo), *args], capture_output=True, text=True, input=input,
                           timeout=timeout, errors="replace", env=full_env,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitError("git is not installed", "run `cortex-tui doctor` for install instructions") from None
    if check and r.returncode != 0:
        raise GitError(f"git {' '.join(args[:3])} failed in {repo}: {(r.stderr or r.stdout).strip()}")
    return r.stdout


def git_ok(repo: Path, *args: str) -> bool:
    r = subprocess.run([*GIT, "-C", str(repo), *args], capture_output=True, stdin=subprocess.DEVNULL)
    return r.returncode == 0


def repo_root(path: Path) -> Path:
    """Top of the main working tree containing ``path``."""
    if not path.exists():
        raise GitError(f"{path}: no such directory")
    try:
        common = git(path, "rev-parse", "--path-format=absolute", "--git-common-dir").strip()
    except GitError:
        raise GitError(f"{path} is not inside a git repository", "run `git init` there or pass --repo") from None
    common_p = Path(common)
    if common_p.name == ".git":
        return common_p.parent
    return Path(git(path, "rev-parse", "--show-toplevel").strip())


def rev_parse(repo: Path, rev: str) -> str | None:
    r = subprocess.run([*GIT, "-C", str(repo), "rev-parse", "--verify", "--quiet", rev + "^{commit}"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return r.stdout.strip() if r.returncode == 0 else None


def branch_exists(repo: Path, branch: str) -> bool:
    return git_ok(repo, "show-ref", "--verify", "--quiet", f"refs/heads/{branch}")


@dataclass(frozen=True)
class Worktree:
    path: Path
    head: str | None
    branch: str | None


def list_worktrees(repo: Path) -> list[Worktree]:
    out = git(repo, "worktree", "list", "--porcelain")
    wts: list[Worktree] = []
    cur: dict[str, str] = {}
    for line in [*out.splitlines(), ""]:
        if not line:
            if "worktree" in cur:
                br = cur.get("branch")
                wts.append(Worktree(Path(cur["worktree"]), cur.get("HEAD"),
                                    br.removeprefix("refs/heads/") if br else None))
            cur = {}
            continue
        k, _, v = line.partition(" ")
        cur[k] = v
    return wts


_WORKTREE_LOCKS: dict[str, threading.Lock] = {}
_WORKTREE_LOCKS_GUARD = threading.Lock()
_TRANSIENT = ("commondir", "index.lock", "config.lock", "cannot lock ref", "Unable to create")
"""Failures of a concurrent ``git worktree add`` (another process adding one at the same moment)."""


def add_worktree(repo: Path, path: Path, branch: str, base_commit: str) -> None:
    """Create ``path`` on a new ``branch`` at ``base_commit`` (or re-use an existing branch).

    Serialised per repository within this process: concurrent ``git worktree add`` calls read each other's
    half-written ``.git/worktrees/<name>/`` and fail ("failed to read …/commondir"). A failure of that
    kind caused by another process is retried a few times. Only the add (``--no-checkout``) holds the lock;
    the files are checked out after it, in parallel with other adds.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _WORKTREE_LOCKS_GUARD:
        lock = _WORKTREE_LOCKS.setdefault(str(repo.resolve()), threading.Lock())
    for attempt in range(4):
        args = [str(path), branch] if branch_exists(repo, branch) else ["-b", branch, str(path), base_commit]
        try:
            with lock:  # only the add itself (without files): it is what reads the other worktrees' admin dirs
                git(repo, "worktree", "add", "--quiet", "--no-checkout", *args)
            break
        except GitError as e:
            if attempt == 3 or not any(t in e.message for t in _TRANSIENT) or (path / ".git").exists():
                raise
            time.sleep(0.05 * (attempt + 1))  # another process was adding one: try again
    try:
        git(path, "reset", "--hard", "--quiet")  # the checkout, outside the lock: touches this worktree only
    except GitError:
        git(repo, "worktree", "remove", "--force", str(path), check=False)  # brand new: nothing of anyone's
        raise


def take_worktree(repo: Path, src: Path, dst: Path, old_branch: str, new_branch: str) -> None:
    """A warm slot becomes a session's worktree: its branch renamed (``git branch -m``, which refuses a
    ``new_branch`` that exists), then the worktree moved to ``dst``. Under :func:`move_worktree`'s lock: two
    renames at once in one repository collide on git's one temporary reflog name (``logs/refs/.tmp-renamed-log``)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with _WORKTREE_LOCKS_GUARD:
        lock = _WORKTREE_LOCKS.setdefault(str(repo.resolve()), threading.Lock())
    with lock:
        git(src, "branch", "-m", old_branch, new_branch)
        if not _move_plain(src, dst):
            git(repo, "worktree", "move", str(src), str(dst))


def _move_plain(src: Path, dst: Path) -> bool:
    """What ``git worktree move`` does for a worktree whose links are absolute paths, without a git process: the
    directory renamed, then its admin dir's ``gitdir`` pointed at the new place. False (nothing done) when the
    links are not plain absolute ones (relative links, a locked worktree...): then git moves it."""
    try:
        link = (src / ".git").read_text()
    except OSError:
        return False
    if not link.startswith("gitdir: /") or link.count("\n") != 1:
        return False
    admin = Path(link[len("gitdir: "):].strip())
    try:
        back = (admin / "gitdir").read_text()
    except OSError:
        return False
    if back.strip() != str(src / ".git") or (admin / "locked").exists() or dst.exists():
        return False
    try:
        os.rename(src, dst)
    except OSError:
        return False
    tmp = admin / "gitdir.tmp"
    try:
        tmp.write_text(f"{dst / '.git'}\n")
        os.replace(tmp, admin / "gitdir")
    except OSError:
        os.rename(dst, src)  # as it was: git tries (and says what is wrong)
        return False
    return True


def move_worktree(repo: Path, src: Path, dst: Path) -> None:
    """A warm slot becoming a session's worktree (one reset to a moved base first), under the same
    per-repository lock as :func:`add_worktree` (both rewrite ``.git/worktrees/<name>/``): the plain move of
    :func:`_move_plain` (no git process), ``git worktree move`` when its links are not plain absolute paths."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with _WORKTREE_LOCKS_GUARD:
        lock = _WORKTREE_LOCKS.setdefault(str(repo.resolve()), threading.Lock())
    with lock:
        if not _move_plain(src, dst):
            git(repo, "worktree", "move", str(src), str(dst))


def is_dirty(worktree: Path) -> bool:
    return bool(git(worktree, "status", "--porcelain", "--untracked-files=all").strip())


def ensure_ignored(repo: Path, pattern: str) -> None:
    """Add ``pattern`` to the repo's ``.git/info/exclude`` (not the user's tracked .gitignore)."""
    common = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").strip())
    exclude = common / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
    if pattern not in text.splitlines():
        with open(exclude, "a", encoding="utf-8") as f:
            f.write(("" if text.endswith("\n") or not text else "\n") + pattern + "\n")


def commit_subjects(repo: Path, base: str, head: str) -> list[str]:
    out = git(repo, "log", "--format=%s", f"{base}..{head}")
    return [s for s in out.splitlines() if s]


def parse_name_status(text: str) -> dict[str, str]:
    """``git diff --name-status -z --no-renames`` output → path -> "added" | "modified" | "deleted"."""
    out: dict[str, str] = {}
    fields = text.split("\0")
    for status, path in zip(fields[0::2], fields[1::2], strict=False):
        if path:
            out[path] = {"A": "added", "D": "deleted"}.get(status[:1], "modified")
    return out


def changed_vs_base(worktree: Path, base: str, paths: list[str]) -> dict[str, str]:
    """Which of ``paths`` differ from ``base`` in the worktree (committed or not), with the change kind.

    Files identical to the base (e.g. written by the initial checkout), directories and files ignored
    by .gitignore are left out, so only real edits by the agent count. A path that is a directory covers
    the files in it. Blocking: call it in a thread.
    """
    if not paths or not worktree.is_dir():
        return {}
    out = parse_name_status(git(worktree, "diff", "--no-renames", "--name-status", "-z", base, "--", *paths))
    untracked = git(worktree, "ls-files", "--others", "--exclude-standard", "-z", "--", *paths)
    for path in untracked.split("\0"):
        if path:
            out[path] = "added"
    return out


UNTRACKED_FILES_COUNTED = 200
UNTRACKED_FILE_MAX = 1 << 20


def diff_size(worktree: Path, base: str) -> tuple[int, int]:
    """(+lines, -lines) of the worktree against ``base``: tracked files (committed or not) plus the lines of
    untracked, not ignored files (bounded: 200 files of at most 1 MB each). Blocking: call it in a thread."""
    added = removed = 0
    for line in git(worktree, "diff", "--numstat", base).splitlines():
        a, _, rest = line.partition("\t")
        d, _, _ = rest.partition("\t")
        if a.isdigit() and d.isdigit():  # binary files show "-"
            added, removed = added + int(a), removed + int(d)
    untracked = git(worktree, "ls-files", "--others", "--exclude-standard", "-z")
    for rel in [p for p in untracked.split("\0") if p][:UNTRACKED_FILES_COUNTED]:
        try:
            f = worktree / rel
            if f.is_file() and not f.is_symlink() and f.stat().st_size <= UNTRACKED_FILE_MAX:
                data = f.read_bytes()
                if b"\0" not in data:
                    added += data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
        except OSError:  # it went away between the listing and the read: it is not counted
            continue
    return added, removed


@dataclass(frozen=True)
class MergeTreeResult:
    """``git merge-tree --write-tree A B``: the merged tree (also on a conflict) and the conflicting paths."""

    tree: str
    conflicts: list[str]

    @property
    def clean(self) -> bool:
        return not self.conflicts


def merge_tree(repo: Path, ours: str, theirs: str) -> MergeTreeResult:
    """Merge two commits in the object database only (no worktree, no index touched; git >= 2.38)."""
    r = subprocess.run([*GIT, "-C", str(repo), "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z",
                        ours, theirs], capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL,
                       timeout=120)
    if r.returncode not in (0, 1):
        raise GitError(f"git merge-tree {ours[:12]} {theirs[:12]} failed in {repo}: {(r.stderr or r.stdout).strip()}",
                       "git 2.38 or newer is needed (`git --version`)")
    tree, *paths = [p for p in r.stdout.split("\0") if p]
    return MergeTreeResult(tree, sorted(set(paths)) if r.returncode == 1 else [])


CORTEX_IDENT = {"GIT_AUTHOR_NAME": "cortex-tui", "GIT_AUTHOR_EMAIL": "cortex-tui@localhost",
                "GIT_COMMITTER_NAME": "cortex-tui", "GIT_COMMITTER_EMAIL": "cortex-tui@localhost"}
"""Identity of the commits cortex-tui itself makes (merges of dependencies, integration merges)."""


def commit_tree(repo: Path, tree: str, parents: list[str], message: str) -> str:
    """A commit of ``tree`` with ``parents`` (no ref moved)."""
    args = ["commit-tree", tree]
    for p in parents:
        args += ["-p", p]
    return git(repo, *args, "-F", "-", input=message, env=CORTEX_IDENT).strip()


def is_ancestor(repo: Path, ancestor: str, commit: str) -> bool:
    return git_ok(repo, "merge-base", "--is-ancestor", ancestor, commit)


def unmerged_paths(worktree: Path) -> list[str]:
    """Paths with unresolved conflicts in a worktree's index."""
    out = git(worktree, "diff", "--name-only", "--diff-filter=U", "-z")
    return sorted({p for p in out.split("\0") if p})


def merge_in_progress(worktree: Path) -> bool:
    return git_ok(worktree, "rev-parse", "--verify", "--quiet", "MERGE_HEAD")
