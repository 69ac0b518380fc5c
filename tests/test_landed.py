"""Squash- and rebase-aware "merged" (issue #16): real git for merge, squash, rebase, cherry-pick and not merged,
and what clean, the review queue and start_after = "approved" make of it."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from conftest import git
from test_review_support import Fleet, backup_refs, commit_file

from cortex_tui.engine.handover import approved_for, landed_in_base
from cortex_tui.model.state import SessionState
from cortex_tui.review.clean import clean
from cortex_tui.review.decisions import approve
from cortex_tui.review.landed import landed


def _branch(repo: Path, name: str, files: dict[str, str], start: str = "main") -> str:
    """Branch ``name`` from ``start`` with one commit per file; returns its head."""
    git(repo, "branch", name, start)
    wt = repo.parent / f"wt-{name}"
    git(repo, "worktree", "add", "-q", str(wt), name)
    for rel, text in files.items():
        commit_file(wt, rel, text, f"{name}: {rel}")
    git(repo, "worktree", "remove", str(wt))
    return git(repo, "rev-parse", name).strip()


def _on_main(repo: Path, *args: str) -> str:
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args)
    return git(repo, "rev-parse", "main").strip()


def _main_moves_on(repo: Path) -> None:
    commit_file(repo, "other.txt", "someone else's work\n", "main: other work")


def tip(repo: Path) -> str:
    return git(repo, "rev-parse", "main").strip()


def test_a_plain_merge_is_merged(git_repo: Path) -> None:
    head = _branch(git_repo, "b", {"a.txt": "a\n", "b.txt": "b\n"})
    _main_moves_on(git_repo)
    assert landed(git_repo, head, tip(git_repo)) is None
    _on_main(git_repo, "merge", "-q", "--no-ff", "-m", "merge b", "b")
    assert landed(git_repo, head, tip(git_repo)) == "merge"


def test_a_squash_merge_is_merged_even_after_the_base_changed_those_lines(git_repo: Path) -> None:
    head = _branch(git_repo, "b", {"a.txt": "a\n", "b.txt": "b\n"})
    _main_moves_on(git_repo)
    _on_main(git_repo, "merge", "-q", "--squash", "b")
    t = _on_main(git_repo, "commit", "-q", "-m", "b (squashed)")
    assert subprocess.run(["git", "-C", str(git_repo), "merge-base", "--is-ancestor", head, t]).returncode == 1
    assert landed(git_repo, head, t) == "content"  # merging it again would change nothing
    commit_file(git_repo, "a.txt", "a, edited after the squash\n", "main: edit a.txt")  # now a merge conflicts
    assert landed(git_repo, head, tip(git_repo)) == "squash"


def test_a_rebase_and_a_cherry_pick_are_merged(git_repo: Path) -> None:
    head = _branch(git_repo, "b", {"a.txt": "a\n", "b.txt": "b\n"})
    _main_moves_on(git_repo)
    commits = git(git_repo, "rev-list", "--reverse", "main..b").split()
    _on_main(git_repo, "cherry-pick", *commits)  # what a rebase-and-merge does
    commit_file(git_repo, "b.txt", "b, edited after the rebase\n", "main: edit b.txt")
    assert landed(git_repo, head, tip(git_repo)) == "rebase"


def test_not_merged_work_stays_unmerged(git_repo: Path) -> None:
    head = _branch(git_repo, "b", {"a.txt": "a\n", "b.txt": "b\n"})
    _main_moves_on(git_repo)
    assert landed(git_repo, head, tip(git_repo)) is None
    first = git(git_repo, "rev-list", "--reverse", "main..b").split()[0]
    _on_main(git_repo, "cherry-pick", first)  # only half of it
    commit_file(git_repo, "a.txt", "a, edited\n", "main: edit a.txt")
    assert landed(git_repo, head, tip(git_repo)) is None
    # a squash whose result was changed before committing is not the branch's work either
    h2 = _branch(git_repo, "c", {"c.txt": "c\n", "d.txt": "d\n"})
    _on_main(git_repo, "merge", "-q", "--squash", "c")
    (git_repo / "d.txt").write_text("d, changed during the squash\n")
    git(git_repo, "add", "d.txt")
    _on_main(git_repo, "commit", "-q", "-m", "c (squashed, edited)")
    commit_file(git_repo, "c.txt", "c, edited\n", "main: edit c.txt")
    assert landed(git_repo, h2, tip(git_repo)) is None


def _squash_by_hand(repo: Path, branch: str) -> None:
    _on_main(repo, "merge", "-q", "--squash", branch)
    _on_main(repo, "commit", "-q", "-m", f"{branch} (squashed by hand)")


def test_clean_removes_a_squash_merged_worktree_without_backup_and_keeps_unmerged_work(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wa, wb = fl.add("a"), fl.add("b")
    commit_file(wa, "fa.txt", "a\n")
    commit_file(wa, "fa2.txt", "a2\n")  # two commits: one squash commit is patch-equivalent to neither
    commit_file(wb, "fb.txt", "b\n")
    ea, eb = fl.finish("a"), fl.finish("b")
    assert ea.status == eb.status == "pending" and ea.landed is None
    _main_moves_on(git_repo)
    _squash_by_hand(git_repo, fl.branch("a"))  # merged outside review, no ancestry
    commit_file(git_repo, "fa.txt", "a, edited on main\n", "main: edit fa.txt")
    assert fl.queue().refresh()  # the base moved: the queue sees a landed, b did not
    entries = {e.session: e for e in fl.queue().entries()}
    assert entries["a"].landed == "squash" and entries["b"].landed is None
    from cortex_tui.review.render import list_line, show_text

    assert "already in the base (squash-merged)" in list_line(entries["a"]) and "already" not in list_line(entries["b"])
    assert "landed    already in the base (squash-merged)" in show_text(entries["a"])
    for n in ("a", "b"):
        fl.set_state(n, SessionState.FINISHED, finished_at=time.time() - 7 * 3600)
    rep = clean(fl.repo, fl.state_dir, older_than_s=6 * 3600)
    assert [r.session for r in rep.removed] == ["a"] and rep.backed_up == []
    assert "clean and merged (squash-merged)" in rep.removed[0].reason
    assert not wa.exists() and wb.exists()
    assert [(k.session, k.reason) for k in rep.kept] == [("b", "awaiting review (pending)")]
    assert backup_refs(git_repo) == []


def test_clean_backs_up_unmerged_commits_of_a_finished_entry(git_repo: Path) -> None:
    """Not merged (half cherry-picked) and decided: it goes only with a backup ref of its commits."""
    fl = Fleet(git_repo)
    wa = fl.add("a")
    first = commit_file(wa, "one.txt", "1\n")
    second = commit_file(wa, "two.txt", "2\n")
    fl.finish("a")
    _on_main(git_repo, "cherry-pick", first)
    q = fl.queue()
    from cortex_tui.review.decisions import reject

    reject(q, "a", reason="half of it is enough", by="t")
    fl.set_state("a", SessionState.FINISHED, finished_at=time.time() - 7 * 3600)
    rep = clean(fl.repo, fl.state_dir, older_than_s=6 * 3600)
    assert [r.session for r in rep.removed] == ["a"]
    (ref,) = [r for r in rep.backed_up if "/backup/" in r]
    assert git(git_repo, "rev-parse", ref).strip() == second


def test_approving_a_squash_merged_entry_merges_nothing(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wa = fl.add("a")
    commit_file(wa, "fa.txt", "a\n")
    commit_file(wa, "fa2.txt", "a2\n")
    fl.finish("a")
    _squash_by_hand(git_repo, fl.branch("a"))
    commit_file(git_repo, "fa.txt", "a, edited on main\n", "main: edit fa.txt")  # a real merge would conflict
    before = tip(git_repo)
    res = approve(fl.queue(), "a", by="t")
    assert res.merge.method == "up-to-date" and tip(git_repo) == before
    assert res.entry.status == "approved" and "squash-merged" in res.entry.decisions[-1].detail


def test_a_dependency_squash_merged_by_hand_unblocks_its_approved_dependent(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wa = fl.add("a")
    fl.add("after")
    commit_file(wa, "fa.txt", "a\n")
    fl.finish("a")
    rec_a, rec_after = fl.state.sessions["a"], fl.state.sessions["after"]
    rec_a.exit_code = 0
    rec_after.state = SessionState.PENDING

    # approved_for reads only each runtime's record and its spec's depends_on / start_after
    rts: list[Any] = [SimpleNamespace(rec=rec_a, spec=SimpleNamespace(depends_on=[], start_after="finished")),
                 SimpleNamespace(rec=rec_after, spec=SimpleNamespace(depends_on=["a"], start_after="approved"))]
    assert asyncio.run(approved_for(rts, fl.queue, "main")) == set()  # pending review: it waits
    assert not landed_in_base(git_repo, rec_a, "main")
    _main_moves_on(git_repo)
    _squash_by_hand(git_repo, fl.branch("a"))
    assert asyncio.run(approved_for(rts, fl.queue, "main")) == {"a"}
    # a dependency with no commit of its own has nothing that landed: it never counts as merged
    rec_a.base_commit = git(git_repo, "rev-parse", fl.branch("a")).strip()
    assert not landed_in_base(git_repo, rec_a, "main")
