"""Large repos (#18): ten sessions spawn in a repo of thousands of files; `status --json` stays correct the
whole time, the checkouts are never taken for the agents' writes, and a write made at once is still seen.

Real git (a 3,000-file repo), real tmux, real sim agents; `status --json` is the real CLI in another process.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import cli, make_sup, triggers, wait_for

from cortex_tui.engine.events import Event

N = 10
STATES = {"pending", "starting", "running", "idle", "waiting", "finished", "failed", "stopped", "unknown"}


def big_repo(path: Path, files: int = 3000) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for i in range(files):
        d = path / "lib" / f"pkg{i % 60}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"mod{i}.py").write_text(f"VALUE = {i}\n" * 20)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "big"], check=True)
    return path


def _all_running(look: dict[str, object]) -> bool:
    """Whether a ``status --json`` look shows every session running."""
    sessions = look.get("sessions")
    return isinstance(sessions, list) and all(s.get("state") == "running" for s in sessions)


@pytest.mark.parametrize("api", [False, True], ids=["files", "api"])
def test_status_json_correct_while_ten_sessions_spawn_in_a_large_repo(tmp_path: Path, api: bool) -> None:
    """``api``: the supervisor serves its API as under ``cortex-tui up`` (status is answered by it); else the
    CLI reads the run's files."""
    from cortex_tui.api.server import ApiServer

    repo = big_repo(tmp_path / "big")
    text = '[run]\nname = "big"\n[defaults]\nagent = "sim"\nsilence_after = "1h"\n' + "".join(
        f'[[session]]\nname = "s{i}"\nscope = ["lib/pkg{i}/**"]\n'
        f'script = ["write lib/pkg{i}/new_{i}.py x = 1", "write docs/out_{i}.md oops", "listen 600"]\n'
        for i in range(N))
    sup = make_sup(repo, text, tmp_path)
    if api:
        sup.plugins.append(ApiServer(sup))
    seen: list[Event] = []
    sup.subscribe(seen.append)
    looks: list[dict[str, object]] = []

    async def main() -> None:
        await sup.start()
        task = asyncio.create_task(sup.supervise(until_done=False))

        async def poll_status() -> None:
            # until a look itself shows all running (the files path reads state.json, saved up to 0.25 s after
            # the engine's own state changed: a stop on the engine's state left a last look from before)
            while not looks or not _all_running(looks[-1]) or len(looks) < 3:
                r = await asyncio.to_thread(cli, "status", "--repo", str(repo), "--json")
                looks.append(json.loads(r.stdout))
                await asyncio.sleep(0.05)

        try:
            await asyncio.wait_for(poll_status(), 180)
            await wait_for(lambda: len(triggers(seen, "out_of_scope")) >= N, 60, "each session's write out of scope")
        finally:
            sup.request_stop()
            await task
            await sup.shutdown()
            sup.tmux.kill_server()

    asyncio.run(main())
    assert len(looks) >= 3
    for data in looks:  # every look during the spawn is a whole, valid status
        assert data["supervisor"] == {"pid": sup.state.supervisor_pid, "alive": True}
        sessions = data["sessions"]
        assert isinstance(sessions, list) and sorted(s["name"] for s in sessions) == sorted(f"s{i}" for i in range(N))
        assert all(s["state"] in STATES for s in sessions)
        assert not any(s["state"] == "failed" for s in sessions)
    last = looks[-1]["sessions"]
    assert isinstance(last, list) and all(s["state"] == "running" for s in last)
    # the checkout of 3,000 files is no agent's work: only what each agent wrote counts
    oos = triggers(seen, "out_of_scope")
    assert sorted(e.data["evidence"]["path"] for e in oos) == sorted(f"docs/out_{i}.md" for i in range(N))
    for i in range(N):
        assert sorted(sup.state.sessions[f"s{i}"].changed_files) == sorted([f"lib/pkg{i}/new_{i}.py",
                                                                            f"docs/out_{i}.md"])


def test_the_apis_status_does_not_wait_for_the_loops_default_pool(git_repo: Path, tmp_path: Path) -> None:
    """In a large repo the loop's default pool is held for seconds (ten checkouts, the worktree watches' walks,
    whole-worktree git looks): ``GET /v1/status`` read the review queue there, and ``status --json`` gave up on
    the API after its 1 s and read the files (1.1–1.25 s a call during benchmarks/large_repo.py's spawns). Here
    every worker of that pool is held: the status answers, with no review queue yet and with one."""
    from concurrent.futures import ThreadPoolExecutor

    from cortex_tui.api.server import ApiServer

    sup = make_sup(git_repo, '[run]\nname = "busy"\n[defaults]\nagent = "sim"\n' + "".join(
        f'[[session]]\nname = "s{i}"\nscript = ["listen 120"]\n' for i in range(2)), tmp_path)
    sup.plugins.append(ApiServer(sup))

    async def ask(path: str) -> dict[str, Any]:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"GET /v1/status HTTP/1.0\r\nHost: cortex\r\n\r\n")
        await writer.drain()
        head, _, body = (await asyncio.wait_for(reader.read(), 30)).partition(b"\r\n\r\n")
        writer.close()
        assert head.split()[1] == b"200", head
        data: dict[str, Any] = json.loads(body)
        return data

    async def main() -> list[dict[str, Any]]:
        await sup.start()
        task = asyncio.create_task(sup.supervise(until_done=False))
        await wait_for(lambda: all(r.state.value == "running" for r in sup.state.sessions.values()), 60,
                       "every session running")
        sock, pointer = sup.store.dir / "api.sock", sup.store.dir / "api.sock.path"
        await wait_for(lambda: sock.exists() or pointer.exists(), 30, "the API socket")
        path = pointer.read_text().strip() if pointer.exists() else str(sock)
        loop = asyncio.get_running_loop()
        release = threading.Event()
        loop.set_default_executor(ThreadPoolExecutor(2))
        held = [loop.run_in_executor(None, release.wait) for _ in range(2)]
        try:
            answers = [await ask(path)]
            (sup.store.dir / "review.json").write_text(json.dumps({"run": "busy", "entries": {"s1": {
                "session": "s1", "branch": "b", "status": "rejected"}}}))
            answers.append(await ask(path))
        finally:
            release.set()
            await asyncio.gather(*held)
        for name in list(sup.rt):
            await sup.stop_session(name)
        sup.request_stop()
        await task
        await sup.shutdown()
        sup.tmux.kill_server()
        return answers

    before, after = asyncio.run(main())
    assert [(x["name"], x["review_status"]) for x in before["sessions"]] == [("s0", None), ("s1", None)]
    assert [(x["name"], x["review_status"]) for x in after["sessions"]] == [("s0", None), ("s1", "rejected")]


@pytest.mark.parametrize("setup", [False, True], ids=["plain", "setup"])
def test_a_fresh_checkout_is_watched_before_its_agent_starts(tmp_path: Path, setup: bool) -> None:
    """A session's brand-new worktree is watched from its spawn's thread right after the checkout, before the
    agent starts: by its ``spawned`` event it is watched already, and no whole-worktree look follows (in a
    5,000-file repo that look, a ``git diff`` + ``ls-files`` of the whole tree per session, was most of what
    cortex-tui added to ten cold spawns). What the agent writes at once — a new directory's file, a tracked
    file changed — still counts. With a ``setup`` step (something else wrote there before the agent) the
    worktree is watched after the spawn and looked at whole, as before."""
    repo = big_repo(tmp_path / "big", files=300)
    extra = 'setup = ["echo made > made_by_setup.txt"]\n' if setup else ""
    text = '[run]\nname = "fresh"\n[defaults]\nagent = "sim"\nsilence_after = "1h"\n' + "".join(
        f'[[session]]\nname = "s{i}"\n{extra}'
        f'script = ["write lib/new{i}/deep/x.py x = 1", "write lib/pkg{i}/mod{i}.py changed", "listen 600"]\n'
        for i in range(3))
    sup = make_sup(repo, text, tmp_path)
    looks: list[tuple[str, list[str]]] = []
    real = sup.local.worktree_changes

    def worktree_changes(rec: Any, base: str, paths: list[str]) -> Any:  # the real look, recorded
        looks.append((rec.name, list(paths)))
        return real(rec, base, paths)

    sup.local.worktree_changes = worktree_changes  # type: ignore[method-assign]
    watched_at_spawn: dict[str, bool] = {}

    def on(ev: Event) -> None:
        if ev.kind == "spawned" and ev.session:
            w = sup.router.watcher
            ino = w._inotify if w is not None else None
            watched_at_spawn[ev.session] = ino is not None and str(ev.data["worktree"]) in ino._wds

    sup.subscribe(on)
    expect = {f"s{i}": sorted([f"lib/new{i}/deep/x.py", f"lib/pkg{i}/mod{i}.py"]
                              + (["made_by_setup.txt"] if setup else [])) for i in range(3)}

    async def main() -> None:
        await sup.start()
        task = asyncio.create_task(sup.supervise(until_done=False))
        try:
            await wait_for(lambda: all(sorted(sup.state.sessions[n].changed_files) == files
                                       for n, files in expect.items()), 60, "each agent's writes")
        finally:
            sup.request_stop()
            await task
            await sup.shutdown()
            sup.tmux.kill_server()

    asyncio.run(main())
    whole = sorted(name for name, paths in looks if paths == ["."])
    if setup:
        assert watched_at_spawn == {"s0": False, "s1": False, "s2": False}
        assert whole == ["s0", "s1", "s2"]
    else:
        assert watched_at_spawn == {"s0": True, "s1": True, "s2": True}
        assert whole == []
    for name, files in expect.items():
        assert sorted(sup.state.sessions[name].changed_files) == files
