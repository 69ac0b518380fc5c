"""clean: every removal is backed up and read back first; nothing outside cortex's own worktrees is touched."""

from __future__ import annotations

import os
import time
from pathlib import Path

from test_review_support import Fleet, backup_refs, commit_file, file_in_some_ref, git, reachable_from_refs

from cortex_tui.model.state import SessionState
from cortex_tui.review.clean import clean
from cortex_tui.review.decisions import approve


def ended(fl: Fleet, name: str, ago: float = 7 * 3600) -> None:
    fl.set_state(name, SessionState.FINISHED, finished_at=time.time() - ago)


def run_clean(fl: Fleet, **kw: object):  # type: ignore[no-untyped-def]
    kw.setdefault("older_than_s", 6 * 3600)
    return clean(fl.repo, fl.state_dir, **kw)  # type: ignore[arg-type]


def test_clean_and_merged_worktree_goes_without_backup(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    commit_file(wt, "f.txt", "f\n")
    fl.finish("a")
    approve(fl.queue(), "a")
    ended(fl, "a")
    rep = run_clean(fl)
    assert [r.session for r in rep.removed] == ["a"] and rep.backed_up == []
    assert not wt.exists()
    assert git(git_repo, "rev-parse", "--verify", fl.branch("a")).strip()  # branch kept
    assert [w.window_id for w in rep.windows] == ["@1"]
    assert fl.events("clean")[-1]["data"]["action"] == "removed"  # type: ignore[index]


def test_dirty_worktree_is_backed_up_then_removed(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    (wt / "README.md").write_text("modified, unstaged\n")
    (wt / "src" / "app.py").write_text("staged change\n")
    git(wt, "add", "src/app.py")
    git(wt, "rm", "-q", "--cached", "README.md")  # staged deletion, file still on disk
    (wt / "README.md").write_text("modified, unstaged\n")
    ended(fl, "a")
    rep = run_clean(fl)
    assert [r.session for r in rep.removed] == ["a"] and not wt.exists()
    assert len(rep.backed_up) == 1 and rep.backed_up[0].endswith("-wip")
    assert git(git_repo, "show", f"{rep.backed_up[0]}:README.md") == "modified, unstaged\n"
    assert git(git_repo, "show", f"{rep.backed_up[0]}:src/app.py") == "staged change\n"
    assert "backup: refs/cortex/backup/r1/a/" in rep.render()


def test_unpushed_commits_get_a_backup_ref(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    c1 = commit_file(wt, "one.txt", "1\n")
    c2 = commit_file(wt, "two.txt", "2\n")
    ended(fl, "a")
    rep = run_clean(fl)
    assert not wt.exists()
    (ref,) = rep.backed_up
    assert git(git_repo, "rev-parse", ref).strip() == c2
    git(git_repo, "branch", "-D", fl.branch("a"))  # even if the branch is deleted later
    assert {c1, c2} <= reachable_from_refs(git_repo)
    assert git(git_repo, "show", f"{ref}:one.txt") == "1\n"


def test_untracked_files_are_saved(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    (wt / "new" / "deep").mkdir(parents=True)
    (wt / "new" / "deep" / "notes.md").write_bytes(b"untracked \xff bytes\n")
    (wt / "top.txt").write_text("top\n")
    (wt / "name with spaces.txt").write_text("spaced\n")
    ended(fl, "a")
    rep = run_clean(fl)
    assert not wt.exists()
    assert sorted(rep.removed[0].saved_files) == ["name with spaces.txt", "new/deep/notes.md", "top.txt"]
    assert file_in_some_ref(git_repo, "new/deep/notes.md", b"untracked \xff bytes\n")
    assert file_in_some_ref(git_repo, "top.txt", b"top\n")
    assert file_in_some_ref(git_repo, "name with spaces.txt", b"spaced\n")


def test_symlinks_pointing_outside_are_not_followed(git_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data.txt").write_text("do not delete\n")
    fl = Fleet(git_repo)
    wt = fl.add("a")
    os.symlink(outside, wt / "link-dir")
    os.symlink(outside / "data.txt", wt / "link-file")
    ended(fl, "a")
    rep = run_clean(fl)
    assert [r.session for r in rep.removed] == ["a"] and not wt.exists()
    assert (outside / "data.txt").read_text() == "do not delete\n"
    (ref,) = rep.backed_up
    tree = git(git_repo, "ls-tree", ref)
    assert "120000" in tree and "link-dir" in tree
    assert git(git_repo, "cat-file", "blob", f"{ref}:link-dir") == str(outside)


def test_worktree_path_that_is_a_symlink_is_refused(git_repo: Path, tmp_path: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    target = tmp_path / "outside-wt"
    git(git_repo, "worktree", "move", str(wt), str(target))
    os.symlink(target, wt)  # state still names the old path, now a symlink out
    (target / "keep.txt").write_text("keep\n")
    ended(fl, "a")
    rep = run_clean(fl)
    assert rep.removed == []
    assert any("symlink" in k.reason for k in rep.kept)
    assert (target / "keep.txt").read_text() == "keep\n" and wt.is_symlink()


def test_paths_outside_cortex_dir_or_unregistered_are_refused(git_repo: Path, tmp_path: Path) -> None:
    fl = Fleet(git_repo)
    fl.add("a")
    fl.add("b")
    user_dir = tmp_path / "users-project"
    user_dir.mkdir()
    (user_dir / "x").write_text("x")
    fl.state.sessions["a"].worktree = str(user_dir)
    stray = git_repo / ".cortex" / "worktrees" / "r1" / "stray"
    stray.mkdir()
    (stray / "y").write_text("y")
    fl.state.sessions["b"].worktree = str(stray)
    fl._save()
    ended(fl, "a")
    ended(fl, "b")
    rep = run_clean(fl)
    assert rep.removed == []
    reasons = {k.session: k.reason for k in rep.kept}
    assert "not under" in reasons["a"] and "not a registered" in reasons["b"]
    assert (user_dir / "x").read_text() == "x" and (stray / "y").read_text() == "y"


def test_worktree_deleted_by_hand_is_pruned_and_branch_kept(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    c = commit_file(wt, "a.txt", "a\n")
    git(wt, "checkout", "-q", "--detach")
    detached = commit_file(wt, "d.txt", "detached work\n")  # only the worktree's HEAD knows this one
    import shutil

    shutil.rmtree(wt)
    ended(fl, "a")
    rep = run_clean(fl)
    assert rep.removed[0].pruned
    assert str(wt) not in git(git_repo, "worktree", "list", "--porcelain")
    assert git(git_repo, "rev-parse", fl.branch("a")).strip() == c
    assert detached in reachable_from_refs(git_repo)
    assert file_in_some_ref(git_repo, "d.txt", b"detached work\n")
    assert "prune" in rep.render()


def test_branch_checked_out_elsewhere_is_left_alone(git_repo: Path, tmp_path: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    on_branch = commit_file(wt, "a.txt", "on branch\n")
    git(wt, "checkout", "-q", "--detach")
    detached = commit_file(wt, "b.txt", "detached\n")
    (wt / "wip.txt").write_text("wip\n")
    elsewhere = tmp_path / "elsewhere"
    git(git_repo, "worktree", "add", "-q", str(elsewhere), fl.branch("a"))
    (elsewhere / "a.txt").write_text("user editing elsewhere\n")
    ended(fl, "a")
    rep = run_clean(fl)
    assert [r.session for r in rep.removed] == ["a"] and not wt.exists()
    assert (elsewhere / "a.txt").read_text() == "user editing elsewhere\n"
    assert str(elsewhere) in git(git_repo, "worktree", "list")
    assert {on_branch, detached} <= reachable_from_refs(git_repo)
    assert file_in_some_ref(git_repo, "wip.txt", b"wip\n")
    assert file_in_some_ref(git_repo, "b.txt", b"detached\n")


def test_policy_keeps_live_young_and_awaiting_review(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    for n in ("live", "young", "queued", "old"):
        fl.add(n)
    fl.set_state("young", SessionState.FINISHED, finished_at=time.time() - 60)
    fl.finish("queued")
    fl.state.sessions["queued"].finished_at = time.time() - 10 * 3600
    fl._save()
    ended(fl, "old")
    rep = run_clean(fl)
    assert [r.session for r in rep.removed] == ["old"]
    reasons = {k.session: k.reason for k in rep.kept}
    assert "running" in reasons["live"] and "younger" in reasons["young"] and "awaiting review" in reasons["queued"]
    assert fl.worktree("live").exists() and fl.worktree("young").exists() and fl.worktree("queued").exists()


def test_max_removes_oldest_beyond_the_limit(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    now = time.time()
    for i in range(4):
        fl.add(f"s{i}")
        fl.set_state(f"s{i}", SessionState.FINISHED, finished_at=now - 60 * (i + 1))
    rep = run_clean(fl, max_keep=2)
    assert sorted(r.session for r in rep.removed) == ["s2", "s3"]
    assert all("--max 2" in r.reason for r in rep.removed)
    assert fl.worktree("s0").exists() and fl.worktree("s1").exists()


def test_dry_run_changes_nothing(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    commit_file(wt, "a.txt", "a\n")
    (wt / "wip.txt").write_text("wip\n")
    ended(fl, "a")
    refs_before = backup_refs(git_repo)
    rep = run_clean(fl, dry_run=True)
    assert [r.session for r in rep.removed] == ["a"] and rep.dry_run
    assert wt.exists() and (wt / "wip.txt").read_text() == "wip\n"
    assert backup_refs(git_repo) == refs_before
    assert fl.events("clean") == []
    assert "would remove" in rep.render() and "dry run" in rep.render()
