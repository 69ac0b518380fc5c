"""The integration entry in the engine (issue #16): the review desk runs the gate, marks it stale when a member
branch gets new commits, and re-runs it by itself with ``[run] integrate = "auto"``. Real git, real verify;
the last test runs the real supervisor (real tmux, sim agents)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from conftest import git
from engine_helpers import make_sup, wait_for
from registry_runs import VERIFY, registry_layout
from test_review_support import Fleet, commit_file

from cortex_tui.engine.events import Event
from cortex_tui.engine.integration_desk import IntegrationDesk
from cortex_tui.model.layout import RunSpec
from cortex_tui.review.integration_entry import load


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, session: str | None, /, **data: Any) -> None:
        self.seen.append((kind, data))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [d for k, d in self.seen if k == kind]


def _fleet(git_repo: Path) -> Fleet:
    fl = Fleet(git_repo)
    for name, word in (("a", "parse"), ("c", "parse")):
        commit_file(fl.add(name, verify=VERIFY), f"registry/{name}.txt", f"{word}\n", f"{name}: register {word}")
    return fl


def _desk(fl: Fleet, emit: Events, mode: str) -> IntegrationDesk:
    spec = RunSpec(name="r1", verify=VERIFY, integrate=mode, integrate_debounce_s=0.2)
    return IntegrationDesk(repo=fl.repo, run_dir=fl.store.dir, emit=emit, state=lambda: fl.state, queue=fl.queue,
                           run_spec=lambda: spec)


def test_manual_gate_then_a_new_commit_marks_it_stale_without_a_rerun(git_repo: Path) -> None:
    fl = _fleet(git_repo)
    fl.finish("a")
    fl.finish("c")
    emit = Events()

    async def main() -> None:
        desk = _desk(fl, emit, "manual")
        res = await desk.integrate()
        assert res.order == ["a", "c"] and res.failing_set == ["a", "c"] and not res.ok
        assert emit.of("integration")[-1]["failing"] == ["a", "c"]
        assert emit.of("integration")[-1]["trigger"] == "manual"
        desk.changed()  # nothing moved: not stale
        await wait_for(lambda: desk._check is not None and desk._check.done(), 30, "check done")
        assert emit.of("integration_stale") == []
        # request changes -> the agent fixes its branch -> it finishes into the queue again
        commit_file(fl.worktree("c"), "registry/c.txt", "format\n", "c: register format instead")
        fl.finish("c")
        desk.changed()
        await wait_for(lambda: emit.of("integration_stale"), 30, "stale")
        (stale,) = emit.of("integration_stale")
        assert stale["rerun"] is False and any(r.startswith("c has new commits") for r in stale["reasons"])
        await desk.aclose()

    asyncio.run(main())
    kept = load(fl.store.dir)
    assert kept is not None and kept.stale and not kept.ok  # the kept entry says it is stale; no re-run
    assert len(emit.of("integration")) == 1


def test_auto_reruns_when_a_member_changes_and_then_passes(git_repo: Path) -> None:
    fl = _fleet(git_repo)
    emit = Events()

    async def main() -> None:
        desk = _desk(fl, emit, "auto")
        fl.finish("a")
        desk.changed()  # one entry: nothing to integrate with yet
        await wait_for(lambda: desk._check is not None and desk._check.done(), 30, "check done")
        assert desk._timer is None
        fl.finish("c")
        desk.changed()  # two entries: the gate runs by itself
        await wait_for(lambda: emit.of("integration"), 60, "first auto run")
        first = emit.of("integration")[0]
        assert first["trigger"] == "auto" and first["ok"] is False and first["failing"] == ["a", "c"]
        commit_file(fl.worktree("c"), "registry/c.txt", "format\n", "c: register format instead")
        fl.finish("c")
        desk.changed()
        desk.changed()  # changes close together: debounced into one re-run
        await wait_for(lambda: len(emit.of("integration")) >= 2, 60, "re-run")
        await asyncio.sleep(0.5)  # a second re-run would have started by now (debounce 0.2 s)
        assert len(emit.of("integration")) == 2
        # the base moves by hand, outside the engine: the watch sees it, and the gate re-runs on the new tip
        desk.poll_s = 0.1
        commit_file(git_repo, "docs/by-hand.md", "a commit on main by hand\n", "main: by hand")
        await wait_for(lambda: len(emit.of("integration")) >= 3, 60, "re-run after the base moved")
        await desk.aclose()

    asyncio.run(main())
    runs = emit.of("integration")
    assert len(runs) == 3 and runs[1]["ok"] is True and runs[1]["trigger"] == "auto"
    assert any(r.startswith("the base main moved") for r in emit.of("integration_stale")[-1]["reasons"])
    assert emit.of("integration_stale")[0]["rerun"] is True
    kept = load(fl.store.dir)
    assert kept is not None and kept.ok and kept.stale == [] and kept.trigger == "auto"
    assert kept.base_tip == git(git_repo, "rev-parse", "main").strip()
    assert kept.heads["c"] == git(git_repo, "rev-parse", fl.branch("c")).strip()


AUTO = registry_layout("auto", "ac", run_extra='integrate = "auto"\nintegrate_debounce_s = 0.2\n')


def test_the_supervisor_runs_the_gate_when_branches_join_the_queue(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, AUTO, tmp_path)
    events: list[Event] = []
    sup.subscribe(events.append)

    async def main() -> None:
        await sup.start()
        task = asyncio.create_task(sup.supervise(until_done=False))
        await wait_for(lambda: any(e.kind == "integration" for e in events), 90, "an automatic integration")
        entry = await sup.review.gate.entry()
        assert entry is not None and entry.failing_set == ["a", "c"]
        sup.request_stop()
        await asyncio.wait_for(task, 30)
        await sup.shutdown()

    asyncio.run(main())
    ev = [e for e in events if e.kind == "integration"]
    assert ev[0].data["trigger"] == "auto" and ev[0].data["failing"] == ["a", "c"]
    assert ev[0].payload()
    assert any(e.kind == "integration" for e in sup.store.iter_events())  # written to events.jsonl too


def _bestof(git_repo: Path) -> Fleet:
    """Two variants of one task: v1 passes verify (it adds ok.txt), v2 does not."""
    fl = Fleet(git_repo, run="bo")
    for name, files in (("v1", {"ok.txt": "yes\n", "src/feature.py": "x = 1\n"}), ("v2", {"src/feature.py": "x = 2\n"})):
        wt = fl.add(name, verify="test -f ok.txt")
        for rel, text in files.items():
            commit_file(wt, rel, text, f"{name}: {rel}")
        fl.state.sessions[name].exit_code = 0
        fl.finish(name)
    return fl


def test_best_of_winner_is_checked_through_the_gate(git_repo: Path) -> None:
    from cortex_tui.bestof.compare import compare_run
    from cortex_tui.engine.review_desk import ReviewDesk

    fl = _bestof(git_repo)
    assert compare_run(git_repo, fl.state_dir, "bo").winner == "v1"
    desk = ReviewDesk.offline(git_repo, fl.state_dir, "bo")
    seen: list[Event] = []
    desk.bus.subscribe(seen.append)

    def gate_runs() -> list[Event]:
        return [e for e in seen if e.kind == "integration"]

    async def main() -> None:
        await desk.choose_winner("v1", by="t")
        await wait_for(lambda: gate_runs(), 60, "the winner's integration")
        # work approved in the run since then touched the same file: the winner no longer fits the base
        commit_file(git_repo, "src/feature.py", "x = 'approved elsewhere'\n", "other: approved into main")
        await desk.choose_winner("v1", by="t")
        await wait_for(lambda: len(gate_runs()) >= 2, 60, "the second integration")
        await desk.gate.aclose()

    asyncio.run(main())
    first, second = gate_runs()[:2]
    assert first.data["trigger"] == "bestof" and first.data["sessions"] == ["v1"] and first.data["ok"] is True
    assert first.data["verify"] == 0  # the winner's verify ran on the combination
    assert second.data["ok"] is False and second.data["left_out"] == ["v1"]
    kept = load(fl.store.dir)
    assert kept is not None and kept.trigger == "bestof" and kept.cumulative_conflicts == ["src/feature.py"]
