"""The TUI's task queue (``Q``) against the real engine, and the same queue through ``cortex-tui queue --json``,
``GET /v1/queue``, the MCP ``queue`` tool and the remote engine (the browser view's). Real tmux, git, sim."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from conftest import wait_until
from engine_helpers import cli
from mcp import ClientSession
from mcp.client.stdio import stdio_client
from test_mcp import params, text_of
from test_ui_engine import until
from test_ui_review import Host

from cortex_tui.api.client import ApiClient
from cortex_tui.api.remote_engine import RemoteEngine
from cortex_tui.api.server import ApiServer, find_socket
from cortex_tui.engine.queue_view import TaskQueue
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout
from cortex_tui.model.state import SessionState
from cortex_tui.ui.app import CortexApp
from cortex_tui.ui.engine_protocol import Queues
from cortex_tui.ui.screens.help import KEYS, HelpScreen
from cortex_tui.ui.screens.queue import QueueScreen
from cortex_tui.ui.screens.session import SessionScreen
from cortex_tui.ui.widgets.key_bar import KeyBar

LAYOUT = """
[run]
name = "{name}"
[pool]
size = 1
warm = 1
[defaults]
agent = "sim"
[[session]]
name = "first"
labels = ["fix"]
script = ["ask Go on?", "write a.txt a", "commit a"]
[[session]]
name = "second"
labels = ["docs"]
script = ["write b.txt b", "commit b"]
[[session]]
name = "third"
labels = ["fix"]
script = ["write c.txt c", "commit c"]
"""
WAIT = "waiting for a free slot (pool of 1)"
STABLE = ("run", "pending", "running", "done", "inbox", "waiting", "limits", "by_type", "tasks")
"""What cannot change while ``first`` waits for its approval (the pool's numbers can: warm slots fill)."""


def stable(q: TaskQueue | dict[str, Any]) -> dict[str, Any]:
    d = q.model_dump(mode="json") if isinstance(q, TaskQueue) else q
    return {k: d[k] for k in STABLE}


def cells(screen: QueueScreen) -> dict[str, list[str]]:
    from textual.widgets import DataTable

    table = screen.query_one("#queue-tasks", DataTable)
    return {str(key.value): [str(c) for c in table.get_row(key)] for key in table.rows}


def order(screen: QueueScreen) -> list[str]:
    from textual.coordinate import Coordinate
    from textual.widgets import DataTable

    table = screen.query_one("#queue-tasks", DataTable)
    return [str(table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value) for i in range(table.row_count)]


async def test_queue_view_on_the_real_engine(git_repo: Path, tmp_path: Path) -> None:
    text = LAYOUT.format(name="uiq")
    path = tmp_path / "q.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), git_repo)
    sup.plugins.append(ApiServer(sup))
    assert isinstance(sup, Queues)
    app = CortexApp(sup)
    async with app.run_test(size=(140, 36)) as pilot:
        await until(pilot, lambda: app.sessions.get("first") is not None
                    and app.sessions["first"].state is SessionState.WAITING, timeout=60, what="first asks")
        bar = app.dashboard.query_one(KeyBar)
        assert any(h.key == "Q" and h.description == "Queue" for h in bar.hints), bar.hints  # in the footer
        assert "Q" not in bar.dropped
        assert any(k == "Q" for _, keys in KEYS for k, _ in keys)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.press("escape")

        await pilot.press("Q")
        await until(pilot, lambda: isinstance(app.screen, QueueScreen) and app.screen.loads > 0, what="queue view")
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        await until(pilot, lambda: screen.data is not None and (screen.data.pool.get("warm") or {}).get("ready") == 1,
                    timeout=60, what="the warm slot ready")
        q = screen.data
        assert q is not None
        assert q.pending.sessions == ["second", "third"] and q.running.sessions == ["first"] and q.done.count == 0
        assert q.waiting == {"second": WAIT, "third": WAIT}
        assert q.by_type == {"fix": {"pending": 1, "running": 1, "done": 0},
                             "docs": {"pending": 1, "running": 0, "done": 0}}
        assert q.limits is not None and (q.limits.size, q.limits.warm) == (1, 1)
        assert order(screen) == ["second", "third", "first"]  # pending first, in queue order
        rows = cells(screen)
        assert rows["second"][0] == "pending" and rows["second"][-1] == WAIT
        assert rows["first"][:3] == ["running", "first", "waiting"] and rows["first"][3] == "fix"
        pool = str(screen.query_one("#queue-pool").render())
        assert "size 1" in pool and "1/1 slots in use" in pool and "2 queued" in pool and "warm 1/1 here" in pool

        # the CLI asks the live supervisor's API: the same queue
        out = await asyncio.to_thread(cli, "queue", "--repo", str(git_repo), "--json")
        assert stable(json.loads(out.stdout)) == stable(await sup.queue())
        assert stable(json.loads(out.stdout)) == stable(q)

        # enter opens the task's session; esc comes back to the queue
        for _ in range(3):
            if screen.current == "first":
                break
            await pilot.press("down")
        assert screen.current == "first"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SessionScreen), what="session view")
        assert app.current_session == "first"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, what="back to the queue")

        n = screen.loads
        await sup.approve("first")  # the pool moves on; the view follows the engine's events
        await until(pilot, lambda: screen.data is not None and screen.data.done.count == 3, timeout=90,
                    what="all three done")
        assert screen.loads > n
        assert order(screen) == ["first", "second", "third"]
        assert all(cells(screen)[n][0] == "done" for n in ("first", "second", "third"))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.dashboard, what="dashboard")
        await pilot.press("q")


def test_queue_is_the_same_through_the_cli_the_api_mcp_and_the_remote_engine(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "q.toml"
    layout.write_text(LAYOUT.format(name="apiq"))
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    run_dir = git_repo / "coordination" / "runs" / "apiq"
    try:
        wait_until(lambda: json.loads(cli("queue", "--repo", str(git_repo), "--json").stdout)["waiting"]
                   == {"second": WAIT, "third": WAIT}, timeout=60, what="two tasks waiting for the slot")
        from_cli = json.loads(cli("queue", "--repo", str(git_repo), "--json").stdout)
        text = cli("queue", "--repo", str(git_repo)).stdout
        assert "pool     size 1" in text and f"  second: {WAIT}" in text
        assert "type fix          pending 1  running 1  done 0" in text

        async def through_api() -> tuple[dict[str, Any], dict[str, Any], TaskQueue, TaskQueue]:
            sock = find_socket(run_dir)
            async with ApiClient(sock, origin="api") as c:
                api = await c.get("/v1/queue")
            async with stdio_client(params(git_repo)) as (read, write), ClientSession(read, write) as s:
                await s.initialize()
                tools = {t.name: t for t in (await s.list_tools()).tools}
                assert tools["queue"].annotations is not None and tools["queue"].annotations.read_only_hint
                mcp = json.loads(text_of(await s.call_tool("queue", {})))
            eng = RemoteEngine(sock, origin="web")
            await eng.start()
            try:
                app = Host(lambda: QueueScreen(eng))
                async with app.run_test(size=(140, 30)) as pilot:
                    await until(pilot, lambda: isinstance(app.screen, QueueScreen) and app.screen.loads > 0,
                                what="the queue view on the remote engine")
                    screen = app.screen
                    assert isinstance(screen, QueueScreen) and screen.data is not None
                    shown = screen.data
                    assert order(screen) == ["second", "third", "first"]
                    assert cells(screen)["third"][-1] == WAIT
                direct = await eng.queue()
            finally:
                await eng.shutdown()
            return api, mcp, shown, direct

        api, mcp, shown, direct = asyncio.run(through_api())
        assert stable(api) == stable(from_cli) == stable(mcp) == stable(shown) == stable(direct)
        assert api["limits"] == {"size": 1, "min": None, "max": None, "warm": 1, "strategy": "least-loaded",
                                 "node": "local"}
        assert api["pool"]["slots"] == 1
    finally:
        cli("down", "--repo", str(git_repo), check=False)


def test_the_pool_line_names_each_nodes_warm_slots_and_a_link_down() -> None:
    from cortex_tui.engine.queue_view import PoolLimits
    from cortex_tui.ui.present import Palette
    from cortex_tui.ui.screens.queue import pool_text

    q = TaskQueue(run="r", limits=PoolLimits(min=2, max=6, warm=2),
                  pool={"slots": 4, "running": 3, "warm": {"ready": 2, "wanted": 2, "nodes": {
                      "box1": {"ready": 1, "wanted": 3}, "box2": {"ready": 0, "wanted": 2, "error": "link\x1b[2J down"}}}})
    line = str(pool_text(q, Palette()))
    assert "min 2 · max 6 · 3/4 slots in use" in line
    assert "warm 2/2 here, 1/3 on box1, 0/2 on box2 (link\\x1b[2J down)" in line  # an escape is shown, not run
