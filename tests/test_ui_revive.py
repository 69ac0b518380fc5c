"""The run's tmux server dies under the TUI: it says so, and one key (U) brings the sessions back — the
server, the session it took down, then the dependent stopped because of it (what `cortex-tui up` does).

Real parts: the TUI on the real engine, real tmux (killed for real), real git, the sim and shell agents.
"""

from __future__ import annotations

import time
from pathlib import Path

from conftest import git
from engine_helpers import revive_layout
from textual.pilot import Pilot

from cortex_tui.backends.tmux import Tmux
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout
from cortex_tui.model.state import SessionState
from cortex_tui.ui.app import CortexApp
from cortex_tui.ui.revive import HINT


async def until(pilot: Pilot[None], pred: object, timeout: float = 60.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}")


async def test_one_key_brings_the_sessions_back_after_the_tmux_server_died(git_repo: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    text = revive_layout("rev", gate)
    path = tmp_path / "rev.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), git_repo)
    app = CortexApp(sup, start_engine=True)
    async with app.run_test(size=(120, 32)) as pilot:
        def state(name: str) -> SessionState | None:
            rec = app.sessions.get(name)
            return rec.state if rec is not None else None

        await until(pilot, lambda: state("done") is SessionState.FINISHED and state("slow") is SessionState.RUNNING,
                    what="done finished, slow running")
        Tmux(sup.state.socket).kill_server()
        await until(pilot, lambda: state("slow") is SessionState.FAILED and state("after") is SessionState.STOPPED,
                    what="slow failed with the server, after stopped")
        await until(pilot, lambda: any(HINT in n.message for n in app._notifications), what="the TUI says so")
        gate.touch()
        await pilot.press("U")
        await until(pilot, lambda: state("slow") is SessionState.FINISHED and state("after") is SessionState.FINISHED,
                    timeout=90, what="slow and then after finished")
        assert Tmux(sup.state.socket).alive()
        assert sup.state.sessions["slow"].attempt == 2 and sup.state.sessions["done"].attempt == 1
        await pilot.press("q")
    for name in ("done", "slow", "after"):
        assert git(git_repo, "log", "--format=%s", f"main..cortex/rev/{name}").split("\n")[0] == f"{name} work"



async def test_the_browser_view_brings_them_back_through_the_api(git_repo: Path, tmp_path: Path) -> None:
    """The same key in a view mirroring a supervisor that serves its API (RemoteEngine, POST /v1/revive)."""
    import asyncio
    import json

    from cortex_tui.api.remote_engine import RemoteEngine
    from cortex_tui.api.server import ApiServer, find_socket
    from cortex_tui.ui.revive import RevivesSessions

    gate = tmp_path / "gate"
    text = revive_layout("rev", gate)
    path = tmp_path / "rev.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), git_repo)
    sup.plugins.append(ApiServer(sup))

    def states() -> dict[str, str]:
        return {n: r.state.value for n, r in sup.state.sessions.items()}

    async def wait(pred: object, what: str, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():  # type: ignore[operator]
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}: {states()}")

    await sup.start()
    task = asyncio.create_task(sup.supervise(until_done=False))  # as under a TUI: it supervises on
    engine = RemoteEngine(find_socket(sup.store.dir))
    try:
        await wait(lambda: states() == {"done": "finished", "slow": "running", "after": "pending"}, "slow running")
        await engine.start()
        assert isinstance(engine, RevivesSessions)
        assert await engine.revive_sessions() == []  # the server is fine: nothing to bring back
        Tmux(sup.state.socket).kill_server()
        await wait(lambda: states()["slow"] == "failed" and states()["after"] == "stopped", "the loss noticed")
        gate.touch()
        assert await engine.revive_sessions() == ["slow", "after"]
        await wait(lambda: states() == dict.fromkeys(["done", "slow", "after"], "finished"), "all finished", 90)
    finally:
        await engine.shutdown()
        sup.request_stop()
        await task
        await sup.shutdown()
    events = [json.loads(x) for x in sup.store.events_path.read_text().splitlines()]
    assert [(e["data"]["detail"], e["data"]["origin"]) for e in events
            if e["kind"] == "action" and e["data"]["action"] == "revive"] == [("", "web"), ("slow, after", "web")]
