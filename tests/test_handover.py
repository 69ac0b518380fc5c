"""Dependencies hand over their work (issue #16): real git, real tmux, sim and shell agents."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import git
from engine_helpers import make_sup, run_to_end, wait_for

from cortex_tui.engine.events import Event
from cortex_tui.errors import CortexError
from cortex_tui.model.state import SessionState

COMMIT = "git -c user.name=t -c user.email=t@t.invalid commit -q -m"

GAMMA = """
[run]
name = "ho"
[defaults]
agent = "sim"
[[session]]
name = "alpha"
script = ["write src/alpha.py A = 1", "commit alpha: add src/alpha.py"]
[[session]]
name = "gamma"
depends_on = ["alpha"]
prompt = "use alpha"
script = ["say gamma"]
"""


def test_gamma_finds_alphas_file(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, GAMMA, tmp_path)
    events = run_to_end(sup)
    s = sup.state.sessions
    assert s["gamma"].state is SessionState.FINISHED, s["gamma"].reason
    wt = Path(s["gamma"].worktree)
    assert (wt / "src" / "alpha.py").read_text().strip() == "A = 1"
    alpha_head = git(git_repo, "rev-parse", "cortex/ho/alpha").strip()
    # one dependency: a fast-forward to its head, and gamma's own diff is measured from there
    assert s["gamma"].base_commit == alpha_head
    assert s["gamma"].handover == {"alpha": alpha_head}
    ho = [e for e in events if e.kind == "handover" and e.session == "gamma"]
    assert ho and ho[0].data["method"] == "fast-forward" and ho[0].data["merged"] == ["alpha"]
    assert ho[0].payload()  # declared payload
    assert ho[0].data["subjects"] == {"alpha": ["alpha: add src/alpha.py"]}


def _shell_step(name: str, needs: list[str]) -> str:
    checks = " && ".join(f"grep -qx {n} chain.txt" for n in needs) or "true"
    return (f"{checks} && echo {name} >> chain.txt && git add chain.txt && {COMMIT} {name}")


def test_a_three_session_chain_builds_on_each_file(git_repo: Path, tmp_path: Path) -> None:
    layout = f"""
[run]
name = "chain"
[[session]]
name = "a"
agent = "shell"
command = "{_shell_step('a', [])}"
[[session]]
name = "b"
agent = "shell"
depends_on = ["a"]
command = "{_shell_step('b', ['a'])}"
[[session]]
name = "c"
agent = "shell"
depends_on = ["b"]
command = "{_shell_step('c', ['a', 'b'])}"
"""
    sup = make_sup(git_repo, layout, tmp_path)
    run_to_end(sup)
    s = sup.state.sessions
    for n in "abc":
        assert s[n].state is SessionState.FINISHED and s[n].exit_code == 0, (n, s[n].reason)
    assert git(git_repo, "show", "cortex/chain/c:chain.txt").split() == ["a", "b", "c"]
    # linear history: each a fast-forward of the previous one's branch
    assert git(git_repo, "rev-parse", "cortex/chain/c~1").strip() == git(git_repo, "rev-parse", "cortex/chain/b").strip()


DIAMOND = """
[run]
name = "{run}"
[defaults]
agent = "sim"
[[session]]
name = "left"
script = ["write {left_path} left", "commit left"]
[[session]]
name = "right"
script = ["write {right_path} right", "commit right"]
[[session]]
name = "join"
depends_on = ["left", "right"]
script = ["say joined"]
"""


def test_diamond_merges_both_dependencies(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, DIAMOND.format(run="dia", left_path="src/left.txt", right_path="src/right.txt"), tmp_path)
    run_to_end(sup)
    j = sup.state.sessions["join"]
    assert j.state is SessionState.FINISHED, j.reason
    wt = Path(j.worktree)
    assert (wt / "src" / "left.txt").read_text().strip() == "left"
    assert (wt / "src" / "right.txt").read_text().strip() == "right"
    # a merge commit on the dependent's branch, named as such, with both heads as parents
    head = j.base_commit or ""
    assert git(git_repo, "log", "-1", "--format=%s", head).strip() == "cortex: merge dependencies right into join"
    parents = git(git_repo, "log", "-1", "--format=%P", head).split()
    assert parents == [git(git_repo, "rev-parse", f"cortex/dia/{n}").strip() for n in ("left", "right")]
    assert set(j.handover) == {"left", "right"}
    assert git(git_repo, "rev-parse", "cortex/dia/join").strip() == head  # sim made no commit of its own


def test_diamond_conflict_blocks_then_continue(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, DIAMOND.format(run="conf", left_path="src/app.py", right_path="src/app.py"), tmp_path)
    events: list[Event] = []
    sup.subscribe(events.append)

    async def main() -> None:  # supervised on (as the TUI does): a blocked run would otherwise end at once
        await sup.start()
        task = asyncio.create_task(sup.supervise(until_done=False))
        await wait_for(lambda: sup.state.sessions["join"].state is SessionState.BLOCKED, 30, "join blocked")
        rec = sup.state.sessions["join"]
        assert rec.blocked_paths == ["src/app.py"]
        wt = Path(rec.worktree)
        assert "<<<<<<<" in (wt / "src" / "app.py").read_text()  # the merge waits in its worktree
        with pytest.raises(CortexError, match=r"unresolved conflicts: src/app\.py"):
            await sup.continue_session("join")  # not resolved yet: refused, still blocked
        assert rec.state is SessionState.BLOCKED
        (wt / "src" / "app.py").write_text("both\n")
        git(wt, "add", "src/app.py")
        await sup.continue_session("join")
        await wait_for(lambda: rec.state is SessionState.FINISHED, 30, "join finished")
        sup.request_stop()
        await asyncio.wait_for(task, 30)
        await sup.shutdown()

    asyncio.run(main())
    j = sup.state.sessions["join"]
    assert (Path(j.worktree) / "src" / "app.py").read_text() == "both\n"
    blocked = [e for e in events if e.kind == "blocked"]
    assert blocked and blocked[0].data["paths"] == ["src/app.py"] and blocked[0].data["dependency"] == "right"
    assert set(j.handover) == {"left", "right"}
    # the resolved merge is a commit on join's branch with both dependencies as parents
    parents = git(git_repo, "log", "-1", "--format=%P", j.base_commit or "").split()
    assert parents == [git(git_repo, "rev-parse", f"cortex/conf/{n}").strip() for n in ("left", "right")]


def test_blocked_run_settles_and_from_base_starts_it_without_the_work(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, DIAMOND.format(run="fb", left_path="src/app.py", right_path="src/app.py"), tmp_path)
    run_to_end(sup)  # a headless run ends: nothing happens without a human
    j = sup.state.sessions["join"]
    assert j.state is SessionState.BLOCKED and "right" in (j.reason or "")

    sup = make_sup(git_repo, DIAMOND.format(run="fb", left_path="src/app.py", right_path="src/app.py"), tmp_path)

    async def again() -> None:  # a new supervisor re-attaches to the run: the session is still blocked
        await sup.start()
        assert sup.state.sessions["join"].state is SessionState.BLOCKED
        task = asyncio.create_task(sup.supervise(until_done=True))
        await sup.continue_session("join", from_base=True)
        await asyncio.wait_for(task, 60)
        await sup.shutdown()

    asyncio.run(again())
    j = sup.state.sessions["join"]
    assert j.state is SessionState.FINISHED, j.reason
    assert (Path(j.worktree) / "src" / "app.py").read_text() == "print('hello')\n"
    assert j.base_commit == sup.state.base_commit and j.handover == {}
    backups = git(git_repo, "for-each-ref", "--format=%(refname)", "refs/cortex/fb/backup/").split()
    assert len(backups) == 1  # the conflicted attempt is kept


APPROVED = """
[run]
name = "appr"
[defaults]
agent = "sim"
[[session]]
name = "alpha"
script = ["write src/alpha.py A = 1", "commit alpha: add src/alpha.py"]
[[session]]
name = "after"
depends_on = ["alpha"]
start_after = "approved"
script = ["say after"]
"""


def test_start_after_approved_waits_for_the_approve_and_starts_from_the_merged_base(git_repo: Path,
                                                                                      tmp_path: Path) -> None:
    sup = make_sup(git_repo, APPROVED, tmp_path)

    async def main() -> None:
        await sup.start()
        task = asyncio.create_task(sup.supervise(until_done=True))
        await wait_for(lambda: sup.state.sessions["alpha"].state is SessionState.FINISHED
                       and not sup.state.sessions["alpha"].review_due, 30, "alpha queued")
        await asyncio.sleep(1.5)  # a few schedule passes: it still waits
        assert sup.state.sessions["after"].state is SessionState.PENDING
        await sup.review.approve("alpha", by="test")
        await asyncio.wait_for(task, 60)
        await sup.shutdown()

    asyncio.run(main())
    rec = sup.state.sessions["after"]
    assert rec.state is SessionState.FINISHED, rec.reason
    tip = git(git_repo, "rev-parse", "main").strip()
    assert rec.base_commit == tip and tip != sup.state.base_commit  # the base after alpha's merge
    assert (Path(rec.worktree) / "src" / "alpha.py").exists()


def test_a_restarted_dependency_makes_its_dependent_stale_base(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, GAMMA.replace('name = "ho"', 'name = "stale"'), tmp_path)
    events: list[Event] = []
    sup.subscribe(events.append)

    async def main() -> None:
        await sup.start()
        task = asyncio.create_task(sup.supervise(until_done=False))
        s = sup.state.sessions
        await wait_for(lambda: s["gamma"].state is SessionState.FINISHED, 40, "gamma finished")
        assert s["gamma"].stale_base == {}
        await sup.restart_session("alpha")  # a new attempt commits again on alpha's branch
        await wait_for(lambda: s["alpha"].state is SessionState.FINISHED and s["alpha"].attempt == 2
                       and s["gamma"].stale_base, 40, "gamma stale")
        sup.request_stop()
        await asyncio.wait_for(task, 30)
        await sup.shutdown()

    asyncio.run(main())
    g = sup.state.sessions["gamma"]
    assert g.stale_base == {"alpha": ["alpha: add src/alpha.py"]}
    assert g.reason == "stale base: alpha has 1 newer commit"
    stale = [e for e in events if e.kind == "stale_base"]
    assert stale and stale[0].session == "gamma" and stale[0].data["dependency"] == "alpha"
