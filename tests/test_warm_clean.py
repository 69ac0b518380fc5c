"""``cortex-tui down`` and ``clean`` remove a run's warm slots (``[pool] warm``: worktrees, their branches), which
hold no work, and never a session's worktree with unmerged commits or uncommitted files. Real tmux, git, sim."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import git, wait_until
from engine_helpers import cli, make_sup, run_to_end

from cortex_tui.backends.tmux import Tmux
from cortex_tui.backends.warm_slots import local_root, sweep_local
from cortex_tui.model.state import SessionState

WORK = '"write w.txt work", "commit work on w", "write dirty.txt not committed"'


def slots(repo: Path, run: str) -> list[Path]:
    root = local_root(repo, run)
    return sorted(d for d in root.glob("w-*") if (d / ".git").exists()) if root.is_dir() else []


def warm_branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/cortex-warm/").split()


def assert_work_kept(repo: Path, worktree: Path, branch: str) -> None:
    assert (worktree / "dirty.txt").read_text() == "not committed\n"  # uncommitted: still there
    assert (worktree / "w.txt").read_text() == "work\n"
    assert git(repo, "log", "-1", "--format=%s", branch).strip() == "work on w"  # unmerged commit: kept
    assert subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", branch, "main"]).returncode == 1


def test_down_removes_warm_slots_and_keeps_the_sessions_work(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "wd.toml"
    layout.write_text('[run]\nname = "wdown"\n[pool]\nsize = 1\nwarm = 2\n[defaults]\nagent = "sim"\n'
                      f'[[session]]\nname = "worker"\nscript = [{WORK}, "sleep 120"]\n')
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    wt = git_repo / ".cortex/worktrees/wdown/worker"
    wait_until(lambda: (wt / "dirty.txt").exists(), timeout=60, what="the worker's uncommitted file")
    wait_until(lambda: len(slots(git_repo, "wdown")) == 2, timeout=60, what="two warm slots")
    assert len(warm_branches(git_repo)) >= 2

    r = cli("down", "--repo", str(git_repo))
    assert "stopped worker" in r.stdout
    assert r.stdout.count("removed warm slot local:w-") == 2, r.stdout
    assert slots(git_repo, "wdown") == [] and not local_root(git_repo, "wdown").exists()
    assert warm_branches(git_repo) == []
    assert_work_kept(git_repo, wt, "cortex/wdown/worker")
    assert wt.resolve() in {Path(p.split()[1]).resolve() for p in
                            git(git_repo, "worktree", "list", "--porcelain").splitlines() if p.startswith("worktree ")}


def test_clean_removes_warm_slots_of_an_ended_run_and_keeps_unmerged_work(git_repo: Path, tmp_path: Path) -> None:
    text = ('[run]\nname = "wclean"\n[pool]\nsize = 1\nwarm = 2\n[defaults]\nagent = "sim"\n'
            f'[[session]]\nname = "worker"\nscript = ["sleep 2", {WORK}]\n')
    sup = make_sup(git_repo, text, tmp_path)

    async def during(_s: object) -> None:
        import asyncio
        for _ in range(600):
            if len(slots(git_repo, "wclean")) == 2:
                return
            await asyncio.sleep(0.1)

    run_to_end(sup, timeout=120, during=during)
    assert sup.rt["worker"].rec.state is SessionState.FINISHED
    assert len(slots(git_repo, "wclean")) == 2  # kept for the next supervisor, until clean
    wt = Path(sup.rt["worker"].rec.worktree)

    tmux = Tmux(sup.tmux.socket)
    idle = {w.window_id for w in tmux.list_windows() if w.warm} if tmux.alive() else set()
    dry = cli("clean", "--repo", str(git_repo), "--older-than", "0s", "--dry-run")
    assert dry.stdout.count("would remove warm slot local:w-") == 2, dry.stdout
    assert len(slots(git_repo, "wclean")) == 2
    r = cli("clean", "--repo", str(git_repo), "--older-than", "0s")
    assert r.stdout.count("removed warm slot local:w-") == 2, r.stdout
    assert "kept: wclean/worker" in r.stdout  # awaiting review: its worktree stays
    assert slots(git_repo, "wclean") == [] and warm_branches(git_repo) == []
    assert r.stdout.count("closed the idle window") == len(idle), (idle, r.stdout)
    assert not (tmux.alive() and any(w.warm for w in tmux.list_windows()))  # their idle windows went too
    assert_work_kept(git_repo, wt, "cortex/wclean/worker")


def test_a_slot_that_is_no_longer_a_plain_warm_slot_is_kept(git_repo: Path) -> None:
    from cortex_tui.engine.warm import WarmSlots

    base = git(git_repo, "rev-parse", "HEAD").strip()
    warm = WarmSlots(repo=git_repo, run="r", count=4, base_commit=lambda: base, emit=lambda *a, **k: None)
    warm.fill()
    a, b, c, d = warm.ready
    (a / "notes.txt").write_text("someone's notes\n")  # untracked only (setup output looks like this): it goes
    (b / "README.md").write_text("edited by hand\n")  # a tracked change
    git(c, "commit", "-q", "--allow-empty", "-m", "made in a warm slot")  # a commit on the warm branch
    git(d, "checkout", "-q", "-b", "cortex/r/task")  # a claim cut off half-way: on a task's branch
    git(git_repo, "branch", "-q", "cortex-warm/r/w-orphan", base)  # a claimed slot's branch, not deleted yet

    out = sweep_local(git_repo, "r", "main")
    assert [s.slot for s in out.removed] == [a.name]
    kept = {k.slot: k.reason for k in out.kept}
    assert kept == {b.name: "tracked files changed in it", c.name: "its HEAD has commits that are not on the base",
                    d.name: "on cortex/r/task, not its warm branch (a task may have taken it)"}
    assert sorted(out.branches) == sorted(f"cortex-warm/r/{n}" for n in (a.name, d.name, "w-orphan"))  # at the base
    assert not a.exists() and b.exists() and c.exists() and d.exists()
    assert (b / "README.md").read_text() == "edited by hand\n"
    assert git(git_repo, "log", "-1", "--format=%s", f"cortex-warm/r/{c.name}").strip() == "made in a warm slot"
    assert sorted(warm_branches(git_repo)) == sorted([f"cortex-warm/r/{b.name}", f"cortex-warm/r/{c.name}"])
