"""Decisions with real git: approve (ff, merge, squash, by ref), refusals, reject, request changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_review_support import Fleet, commit_file, git

from cortex_tui.errors import RefusedError
from cortex_tui.review.decisions import approve, reject, request_changes


def parents(repo: Path, rev: str) -> list[str]:
    return git(repo, "rev-list", "--parents", "-n1", rev).split()[1:]


def test_approve_fast_forwards_the_checked_out_base(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "alice")
    fl = Fleet(git_repo)
    wt = fl.add("a")
    head = commit_file(wt, "src/feature.py", "x = 1\n")
    fl.finish("a")
    res = approve(fl.queue(), "a")
    assert res.merge.method == "fast-forward" and res.merge.where == "checkout"
    assert git(git_repo, "rev-parse", "main").strip() == head
    assert (git_repo / "src" / "feature.py").read_text() == "x = 1\n"
    assert git(git_repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert fl.queue().get("a").status == "approved"
    ev = fl.events("review")[-1]
    assert ev["session"] == "a" and ev["run"] == "r1" and isinstance(ev["ts"], float)
    assert ev["data"]["decision"] == "approve" and ev["data"]["by"] == "alice"  # type: ignore[index]
    assert "fast-forward" in ev["data"]["detail"]  # type: ignore[index]


def test_approve_makes_a_merge_commit_when_base_moved(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    head = commit_file(wt, "feature.txt", "f\n")
    fl.finish("a")
    base_before = commit_file(git_repo, "other.txt", "o\n")
    res = approve(fl.queue(), "a")
    assert res.merge.method == "merge"
    tip = git(git_repo, "rev-parse", "main").strip()
    assert parents(git_repo, tip) == [base_before, head]
    assert (git_repo / "feature.txt").read_text() == "f\n" and (git_repo / "other.txt").read_text() == "o\n"


def test_approve_squash(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    base = git(git_repo, "rev-parse", "main").strip()
    commit_file(wt, "f1.txt", "1\n", "first")
    commit_file(wt, "f2.txt", "2\n", "second")
    fl.finish("a")
    res = approve(fl.queue(), "a", squash=True)
    assert res.merge.method == "squash"
    tip = git(git_repo, "rev-parse", "main").strip()
    assert parents(git_repo, tip) == [base]
    assert git(git_repo, "show", "main:f2.txt") == "2\n"
    assert "second" in git(git_repo, "log", "-1", "--format=%B", "main")


def test_conflict_is_detected_before_merge_and_approve_refused_naming_paths(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    commit_file(wt, "README.md", "# session\n")
    commit_file(wt, "src/app.py", "print('session')\n")
    commit_file(git_repo, "README.md", "# base\n")
    commit_file(git_repo, "src/app.py", "print('base')\n")
    base_tip = git(git_repo, "rev-parse", "main").strip()
    e = fl.finish("a")
    assert sorted(e.conflicts) == ["README.md", "src/app.py"]
    with pytest.raises(RefusedError) as ei:
        approve(fl.queue(), "a")
    assert "README.md" in ei.value.message and "src/app.py" in ei.value.message
    assert git(git_repo, "rev-parse", "main").strip() == base_tip
    assert git(git_repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert fl.queue().get("a").status == "pending"
    assert fl.events("review") == []


def test_approve_refuses_a_dirty_base_checkout(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    commit_file(wt, "f.txt", "f\n")
    fl.finish("a")
    (git_repo / "README.md").write_text("user's unsaved work\n")
    tip = git(git_repo, "rev-parse", "main").strip()
    with pytest.raises(RefusedError, match=r"uncommitted changes: README\.md"):
        approve(fl.queue(), "a")
    assert git(git_repo, "rev-parse", "main").strip() == tip
    assert (git_repo / "README.md").read_text() == "user's unsaved work\n"


def test_approve_by_ref_when_base_is_not_checked_out(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    head = commit_file(wt, "feature.txt", "f\n")
    fl.finish("a")
    base_before = commit_file(git_repo, "other.txt", "o\n")
    git(git_repo, "checkout", "-q", "-b", "user-topic")
    (git_repo / "README.md").write_text("dirty on topic\n")
    res = approve(fl.queue(), "a")
    assert res.merge.where == "ref" and res.merge.method == "merge"
    tip = git(git_repo, "rev-parse", "main").strip()
    assert parents(git_repo, tip) == [base_before, head]
    assert git(git_repo, "show", "main:feature.txt") == "f\n"
    assert git(git_repo, "symbolic-ref", "--short", "HEAD").strip() == "user-topic"
    assert (git_repo / "README.md").read_text() == "dirty on topic\n"
    assert not (git_repo / "feature.txt").exists()
    assert "cortex review" in git(git_repo, "reflog", "-1", "main")


def test_approve_refuses_when_base_is_checked_out_in_another_worktree(git_repo: Path, tmp_path: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    commit_file(wt, "f.txt", "f\n")
    fl.finish("a")
    git(git_repo, "checkout", "-q", "-b", "topic")
    git(git_repo, "worktree", "add", "-q", str(tmp_path / "elsewhere"), "main")
    tip = git(git_repo, "rev-parse", "main").strip()
    with pytest.raises(RefusedError, match="checked out in"):
        approve(fl.queue(), "a")
    assert git(git_repo, "rev-parse", "main").strip() == tip


def test_approve_refuses_when_branch_moved_since_review(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    commit_file(wt, "f.txt", "1\n")
    fl.finish("a")
    commit_file(wt, "f.txt", "2\n")
    tip = git(git_repo, "rev-parse", "main").strip()
    with pytest.raises(RefusedError, match="moved since it was reviewed"):
        approve(fl.queue(), "a")
    assert git(git_repo, "rev-parse", "main").strip() == tip


def test_approve_rechecks_conflicts_for_the_rest_of_the_queue(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    for name, text in (("a", "# A\n"), ("b", "# B\n")):
        commit_file(fl.add(name), "README.md", text)
        assert fl.finish(name).conflicts == []
    res = approve(fl.queue(), "a")
    assert res.refreshed == ["b"]
    assert fl.queue().get("b").conflicts == ["README.md"]


def test_reject_keeps_commits_reachable_under_the_rejected_ref(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("bad idea")
    c1 = commit_file(wt, "a.txt", "first\n")
    c2 = commit_file(wt, "b.txt", "second\n")
    fl.finish("bad idea")
    res = reject(fl.queue(), "bad idea", reason="wrong approach")
    slug = fl.state.sessions["bad idea"].slug
    assert res.ref == f"refs/cortex/rejected/r1/{slug}"
    assert git(git_repo, "rev-parse", res.ref).strip() == c2
    # even with the worktree and branch gone, the work is there
    git(git_repo, "worktree", "remove", "--force", str(wt))
    git(git_repo, "branch", "-D", fl.branch("bad idea"))
    assert set(git(git_repo, "rev-list", res.ref).split()) >= {c1, c2}
    assert git(git_repo, "show", f"{res.ref}:a.txt") == "first\n"
    assert fl.queue().get("bad idea").status == "rejected"
    data = fl.events("review")[-1]["data"]
    assert data["decision"] == "reject" and "wrong approach" in data["detail"]  # type: ignore[index]


def test_rejecting_again_keeps_the_earlier_rejected_head(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    first = commit_file(wt, "a.txt", "1\n")
    fl.finish("a")
    reject(fl.queue(), "a")
    git(wt, "reset", "-q", "--hard", "main")  # agent starts over: the first attempt is off the branch
    second = commit_file(wt, "a.txt", "2\n")
    fl.finish("a")
    res = reject(fl.queue(), "a")
    assert git(git_repo, "rev-parse", res.ref).strip() == second
    assert res.previous_backup is not None
    assert git(git_repo, "rev-parse", res.previous_backup).strip() == first


def test_request_changes_calls_send_and_reenters_queue_on_finish(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    wt = fl.add("a")
    commit_file(wt, "a.txt", "1\n")
    fl.finish("a")
    sent: list[tuple[str, str]] = []
    e = request_changes(fl.queue(), "a", "please add tests", lambda s, t: sent.append((s, t)))
    assert sent == [("a", "please add tests")]
    assert e.status == "changes_requested" and fl.queue().get("a").status == "changes_requested"
    assert fl.events("review")[-1]["data"]["decision"] == "request_changes"  # type: ignore[index]
    commit_file(wt, "test_a.py", "def test(): pass\n")
    again = fl.finish("a")
    assert again.status == "pending" and again.round == 2
    assert [d.decision for d in again.decisions] == ["request_changes"]


def test_request_changes_send_failure_leaves_status(git_repo: Path) -> None:
    fl = Fleet(git_repo)
    commit_file(fl.add("a"), "a.txt", "1\n")
    fl.finish("a")

    def boom(_s: str, _t: str) -> None:
        raise RefusedError("window gone")

    with pytest.raises(RefusedError):
        request_changes(fl.queue(), "a", "x", boom)
    assert fl.queue().get("a").status == "pending"
