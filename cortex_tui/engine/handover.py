"""Dependencies hand over their work: a dependent starts from the base with its dependencies' branches merged in.

One dependency: the dependent's branch starts at the dependency's head (a fast-forward of the base). Several:
merged in dependency order in the object database (``git merge-tree --write-tree``, no worktree touched),
each merge a commit named ``cortex: merge dependencies … into <session>`` on the dependent's branch. A
conflict keeps the session from starting (:class:`HandoverBlocked`): its worktree is made with the merge in
progress, so a human resolves it there (``cortex-tui continue SESSION``) or starts it from the base anyway
(``--from-base``; the conflicted attempt is kept under a backup ref).

The pure parts (:func:`merge_message`, :func:`preamble`) take no git; the rest blocks
(call it in a thread).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cortex_tui.backends import git as gitb
from cortex_tui.errors import CortexError, GitError
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import SessionRecord, SessionState

if TYPE_CHECKING:
    from cortex_tui.engine.session import SessionRuntime
    from cortex_tui.review.queue import ReviewQueue

Method = Literal["base", "fast-forward", "merge"]
PREAMBLE_SUBJECTS = 5
"""Commit subjects named per dependency in the prompt preamble (the rest is counted)."""


@dataclass(frozen=True)
class Dependency:
    name: str
    branch: str
    head: str | None
    """Its branch head when the dependent starts (None: the branch is gone)."""


@dataclass
class Handover:
    """Where a dependent starts and what it was handed."""

    start: str
    method: Method = "base"
    merged: list[Dependency] = field(default_factory=list)
    subjects: dict[str, list[str]] = field(default_factory=dict)
    """Dependency name -> subjects of its commits not in the base (newest first)."""


class HandoverBlocked(CortexError):
    """A dependency's branch conflicts with what was merged before it: the session cannot start."""

    def __init__(self, session: str, dependency: str, paths: list[str], worktree: Path) -> None:
        shown = ", ".join(paths[:5]) + (f" (+{len(paths) - 5} more)" if len(paths) > 5 else "")
        super().__init__(f"dependency {dependency!r} conflicts in {shown or 'its merge'}",
                         f"resolve the conflict in {worktree} (git add the files), then "
                         f"`cortex-tui continue {session}`; or `cortex-tui continue {session} --from-base`")
        self.session = session
        self.dependency = dependency
        self.paths = paths
        self.worktree = worktree


def merge_message(session: str, deps: Sequence[str]) -> str:
    """The subject of a merge commit of dependencies on a dependent's branch."""
    return f"cortex: merge dependencies {', '.join(deps)} into {session}\n"


def preamble(h: Handover, *, limit: int = PREAMBLE_SUBJECTS) -> str:
    """A short note for the agent: which branches its worktree already contains (empty: nothing merged)."""
    if not h.merged:
        return ""
    lines = ["This worktree already contains the work of the sessions this task depends on:"]
    for d in h.merged:
        subs = h.subjects.get(d.name, [])
        shown = "; ".join(s[:120] for s in subs[:limit])
        more = f" (+{len(subs) - limit} more)" if len(subs) > limit else ""
        lines.append(f"- {d.name} (branch {d.branch}): {shown or 'no commits'}{more}")
    lines.append("Build on it; do not redo it.")
    return "\n".join(lines)


def _subjects(repo: Path, base: str, deps: list[Dependency]) -> dict[str, list[str]]:
    return {d.name: gitb.commit_subjects(repo, base, d.head) for d in deps if d.head}


def hand_over(repo: Path, session: str, worktree: Path, branch: str, base: str,
              deps: Sequence[Dependency]) -> Handover:
    """The commit ``session`` starts from, its worktree made on a conflict (then :class:`HandoverBlocked`).

    With an existing worktree (after ``cortex-tui continue``) the merge a human resolved is committed and the
    dependencies not in it yet are merged there."""
    if (worktree / ".git").exists():
        return _continue_in(repo, session, worktree, base, deps)
    cur = base
    method: Method = "base"
    merged: list[Dependency] = []
    for d in deps:
        if d.head is None or gitb.is_ancestor(repo, d.head, base):
            continue  # its branch is gone, or it added nothing to the base
        if gitb.is_ancestor(repo, d.head, cur):  # already inside an earlier dependency's work
            merged.append(d)
            continue
        if method != "merge" and gitb.is_ancestor(repo, cur, d.head):
            cur, method = d.head, "fast-forward"
            merged.append(d)
            continue
        res = gitb.merge_tree(repo, cur, d.head)
        if not res.clean:
            gitb.add_worktree(repo, worktree, branch, cur)
            gitb.git(worktree, "merge", "--no-ff", "--no-edit", "-m", merge_message(session, [d.name]).strip(),
                     d.head, check=False, env=gitb.CORTEX_IDENT)
            paths = gitb.unmerged_paths(worktree) or res.conflicts
            raise HandoverBlocked(session, d.name, paths, worktree)
        cur = gitb.commit_tree(repo, res.tree, [cur, d.head], merge_message(session, [d.name]))
        method = "merge"
        merged.append(d)
    return Handover(cur, method, merged, _subjects(repo, base, merged))


def _continue_in(repo: Path, session: str, worktree: Path, base: str, deps: Sequence[Dependency]) -> Handover:
    """Finish a handover in an existing worktree (a human resolved a conflict there)."""
    left = gitb.unmerged_paths(worktree)
    if left:
        raise HandoverBlocked(session, "(unresolved)", left, worktree)
    if gitb.merge_in_progress(worktree):
        gitb.git(worktree, "commit", "--no-edit", "--quiet", env=gitb.CORTEX_IDENT)
    merged: list[Dependency] = []
    for d in deps:
        if d.head is None:
            continue
        head = gitb.git(worktree, "rev-parse", "HEAD").strip()
        if not gitb.is_ancestor(repo, d.head, head):
            r = gitb.git(worktree, "merge", "--no-ff", "--no-edit", "-m", merge_message(session, [d.name]).strip(),
                         d.head, check=False, env=gitb.CORTEX_IDENT)
            paths = gitb.unmerged_paths(worktree)
            if paths or gitb.merge_in_progress(worktree):
                raise HandoverBlocked(session, d.name, paths or [r.strip()[:200]], worktree)
        if not gitb.is_ancestor(repo, d.head, base):
            merged.append(d)
    head = gitb.git(worktree, "rev-parse", "HEAD").strip()
    return Handover(head, "merge" if merged else "base", merged, _subjects(repo, base, merged))


def start_from_base(repo: Path, worktree: Path, branch: str, base: str, run: str) -> str:
    """``continue --from-base``: the conflicted attempt is kept under a backup ref, the worktree reset to the
    base. Returns the backup ref (empty when there was no worktree)."""
    if not (worktree / ".git").exists():
        return ""
    head = gitb.git(worktree, "rev-parse", "HEAD").strip()
    ref = f"refs/cortex/{run}/backup/{branch.rsplit('/', 1)[-1]}-{int(time.time())}"
    gitb.git(repo, "update-ref", ref, head)
    if gitb.merge_in_progress(worktree):
        gitb.git(worktree, "merge", "--abort", check=False)
    try:
        gitb.git(worktree, "reset", "--hard", "--quiet", base)
    except GitError as e:
        raise CortexError(f"could not reset {worktree} to the base: {e.message}", f"the attempt is kept at {ref}") from None
    return ref


@dataclass(frozen=True)
class Prepared:
    """What a spawn starts from: the commit, the spec (prompt with its preamble) and the handover (or None)."""

    base: str
    spec: ResolvedSession
    handover: Handover | None


def prepare_spawn(repo: Path, rec: SessionRecord, spec: ResolvedSession, base: str,
                  records: Mapping[str, SessionRecord], *, polled: bool, base_branch: str | None = None) -> Prepared:
    """The start of a session's first attempt: its dependencies' work merged in (blocking; raises
    :class:`HandoverBlocked` on a conflict). Sessions without dependencies, later attempts (its base is set),
    and ``--from-base`` start from ``base``. ``start_after = "approved"``: from the tip of ``base_branch`` (the
    dependencies were merged there). A session on a polled node (ssh) gets the same start: it is computed
    here, from the dependencies' branches fetched home, and the node is pushed that commit; a conflict
    resolved in a local worktree (``continue``) is committed there, and the clean local checkout removed
    before the branch goes to the node."""
    rec.verify_exit = None  # a new attempt: its verify has not run
    if not spec.depends_on or rec.base_commit is not None or rec.handover_from_base:
        return Prepared(base, spec, None)
    deps = []
    for name in spec.depends_on:
        dep = records[name]
        deps.append(Dependency(name, dep.branch, gitb.rev_parse(repo, dep.branch)))
    if spec.start_after == "approved" and base_branch is not None:
        tip = gitb.rev_parse(repo, base_branch) or base
        merged = [d for d in deps if d.head]
        h = Handover(tip, "base", merged, _subjects(repo, base, merged))
    else:
        h = hand_over(repo, spec.name, Path(rec.worktree), rec.branch, base, deps)
    if polled:
        _release_local_checkout(repo, Path(rec.worktree))
    rec.handover = {d.name: d.head for d in h.merged if d.head}
    rec.blocked_paths = []
    note = preamble(h) if spec.handover_preamble else ""
    if note:
        spec = spec.model_copy(update={"prompt": f"{note}\n\n{spec.prompt}" if spec.prompt else note})
    return Prepared(h.start, spec, h)


def _release_local_checkout(repo: Path, worktree: Path) -> None:
    """A remote dependent's local worktree (made for a conflict, its merge now committed) goes, so its branch
    is pushed to the node and can be fetched home later. ``git worktree remove`` without force: a worktree
    with anything uncommitted is refused, never lost."""
    if (worktree / ".git").exists():
        try:
            gitb.git(repo, "worktree", "remove", str(worktree))
        except GitError as e:
            raise CortexError(f"{worktree} has changes that are not committed: {e.message}",
                              "commit or remove them there, then `cortex-tui continue` again") from None


def continue_blocked(repo: Path, run: str, rec: SessionRecord, base: str, *, from_base: bool) -> str:
    """``cortex-tui continue SESSION [--from-base]`` on a ``blocked`` session (blocking). Checks the human's
    resolution (the spawn then commits the merge and merges what is left) or, ``from_base``, keeps the
    conflicted attempt under a backup ref and resets the worktree to the base. Returns what was done."""
    if rec.state is not SessionState.BLOCKED:
        raise CortexError(f"session {rec.name!r} is not blocked (state: {rec.state.value}); nothing to continue")
    wt = Path(rec.worktree)
    if from_base:
        ref = start_from_base(repo, wt, rec.branch, base, run)
        rec.handover_from_base = True
        rec.handover = {}
        rec.blocked_paths = []
        return f"starting {rec.name!r} from the base" + (f" (the conflicted merge is kept at {ref})" if ref else "")
    if (wt / ".git").exists():
        left = gitb.unmerged_paths(wt)
        if left:
            raise CortexError(f"{rec.name!r} still has unresolved conflicts: {', '.join(left[:10])}",
                              f"edit them in {wt}, `git add` them, then continue again (or --from-base)")
    rec.blocked_paths = []
    return f"continuing {rec.name!r} with the merge resolved in {wt}"


async def approved_for(runtimes: Iterable[SessionRuntime], queue: Callable[[], ReviewQueue],
                       base: str | None = None) -> set[str]:
    """Sessions approved in review, read only while a pending session waits for approvals (in a thread).

    A dependency whose work reached the ``base`` branch outside review (a merge, a squash merge or a rebase
    done by hand: :func:`~cortex_tui.review.landed.landed`) counts as approved, so its dependents start."""
    rts = list(runtimes)
    waited = {d for rt in rts if rt.rec.state is SessionState.PENDING and rt.spec.start_after == "approved"
              for d in rt.spec.depends_on}
    if not waited:
        return set()
    by_name = {rt.rec.name: rt.rec for rt in rts}

    def read() -> set[str]:
        q = queue()
        out = {e.session for e in q.entries() if e.status == "approved"}
        for name in sorted(waited - out):
            rec = by_name.get(name)
            if rec is not None and rec.state is SessionState.FINISHED and rec.exit_code == 0 \
                    and landed_in_base(q.ctx.repo, rec, base or q.ctx.state().base):
                out.add(name)
        return out

    return await asyncio.to_thread(read)


def landed_in_base(repo: Path, rec: SessionRecord, base: str) -> bool:
    """The session's branch has commits of its own and all its work is in the ``base`` branch (blocking)."""
    from cortex_tui.review.landed import session_landed

    return session_landed(repo, rec.branch, rec.base_commit, base) is not None


def stale_dependents(repo: Path, dep: SessionRecord,
                     runtimes: Iterable[SessionRuntime]) -> list[tuple[SessionRecord, list[str]]]:
    """Sessions that started from an older head of ``dep``'s branch, with the subjects of the newer commits
    (blocking). Their records' ``stale_base`` is updated."""
    head = gitb.rev_parse(repo, dep.branch)
    out = []
    for rt in runtimes:
        rec = rt.rec
        old = rec.handover.get(dep.name)
        if old is None or head is None or old == head:
            continue
        newer = gitb.commit_subjects(repo, old, head)
        if newer:
            rec.stale_base[dep.name] = newer
            out.append((rec, newer))
    return out
