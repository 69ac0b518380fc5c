"""The Review screen on a supervisor in another place (#14 item 5): the same screen, driven by Pilot, on
``RemoteEngine.review`` — the engine's review desk over the real local API (aiohttp on the run's unix socket)
of a live sim run (real tmux, git, verify). No review library runs in the screen's process path."""

from __future__ import annotations

from pathlib import Path

from engine_helpers import make_sup, run_to_end, wait_for
from test_ui_review import SIZE, Host, opened, reloaded, until

from cortex_tui.api.remote_engine import RemoteEngine
from cortex_tui.api.server import ApiServer
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.review.queue import ReviewQueue
from cortex_tui.ui.engine_protocol import ReviewCommands, Reviews
from cortex_tui.ui.screens.confirm import ConfirmScreen
from cortex_tui.ui.screens.review import ReviewScreen
from cortex_tui.ui.screens.text_prompt import TextPromptScreen

LAYOUT = """
[run]
name = "remote-review"
verify = "test -f done.txt"
[defaults]
agent = "sim"
[[session]]
name = "alpha"
script = ["say working", "write done.txt yes", "commit add done.txt"]
[[session]]
name = "beta"
script = ["say working", "write notes.md hi", "commit add notes"]
[[session]]
name = "keeper"
script = ["say keeping the run alive", "listen 120"]
"""


def test_review_screen_decides_through_the_remote_engine(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, LAYOUT, tmp_path)
    server = ApiServer(sup)
    sup.plugins.append(server)
    notes: list[tuple[str, str]] = []

    async def during(s: Supervisor) -> None:
        def queued() -> bool:
            entries = {e.session: e for e in ReviewQueue.open(s.repo, s.state_dir, s.run_id).entries()}
            return all(n in entries and entries[n].verify is not None for n in ("alpha", "beta"))

        await wait_for(lambda: server.unix_path is not None and queued(), timeout=60, what="alpha, beta queued")
        assert server.unix_path is not None
        eng = RemoteEngine(server.unix_path, origin="web")
        await eng.start()
        try:
            assert isinstance(eng, Reviews)
            desk: ReviewCommands = eng.review  # mypy: the remote desk is the UI's ReviewCommands
            app = Host(lambda: ReviewScreen(desk, s.run_id, poll_interval=None))
            async with app.run_test(size=SIZE) as pilot:
                screen = await opened(pilot)
                assert screen.table.keys_in_order() == ["alpha", "beta"]  # beta's verify fails
                assert "+yes" in screen.diff_view.source  # alpha's diff, read through the API
                assert screen.base == s.state.base
                n = screen.loaded
                await pilot.press("a")
                await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
                await pilot.press("y")
                await reloaded(pilot, screen, n)
                await until(pilot, lambda: screen.entries["alpha"].status == "approved", what="approved")
                keys = screen.table.keys_in_order()  # the approved entry sorts last
                step = keys.index("beta") - keys.index("alpha")
                await pilot.press(*(["down"] * step if step > 0 else ["up"] * -step))
                await until(pilot, lambda: screen.current == "beta", what="beta")
                n = screen.loaded
                await pilot.press("c")
                await until(pilot, lambda: isinstance(app.screen, TextPromptScreen), what="prompt")
                await pilot.press(*"write done.txt")
                await pilot.press("enter")
                await reloaded(pilot, screen, n)
                await until(pilot, lambda: screen.entries["beta"].status == "changes_requested", what="changes")
            notes.extend(app.notes)
        finally:
            await eng.shutdown()
        await s.stop_session("keeper")
        await s.stop_session("beta")

    events = run_to_end(sup, during=during, timeout=90)
    assert any("approved alpha: " in m and sev == "information" for m, sev in notes), notes
    assert any(m == "changes requested from beta" for m, _ in notes), notes
    # the decisions were the supervisor's desk commands, published on its bus, made by the web origin
    decided = [(e.session, e.data.get("decision")) for e in events if e.kind == "review" and "decision" in e.data]
    assert ("alpha", "approve") in decided and ("beta", "request_changes") in decided
    actions = [(e.session, e.data.get("action"), e.data.get("origin")) for e in events if e.kind == "action"]
    assert ("beta", "send", "web") in actions  # the change request was typed in as the web origin's
    q = ReviewQueue.open(sup.repo, sup.state_dir, sup.run_id)
    alpha, beta = q.get("alpha"), q.get("beta")
    assert alpha.status == "approved" and alpha.decisions[-1].by == "web"
    assert beta.decisions[-1].detail == "write done.txt" and beta.decisions[-1].by == "web"
    assert (git_repo / "done.txt").read_text() == "yes\n"  # merged into the base checkout


async def test_compare_screen_picks_the_winner_through_the_api(git_repo: Path, tmp_path: Path) -> None:
    """The Compare screen on RemoteReviewDesk: the comparison, the variants' diffs and the pick travel over
    the real API (aiohttp on a unix socket) to a review desk over a prepared best-of run (real worktrees)."""
    from aiohttp import web
    from test_ui_review import bestof_fleet, compare_opened

    from cortex_tui.api.client import ApiClient
    from cortex_tui.api.remote_review import RemoteReviewDesk
    from cortex_tui.api.server import Api
    from cortex_tui.bestof.compare import load_comparison
    from cortex_tui.engine.review_desk import ReviewDesk
    from cortex_tui.ui.screens.compare import CompareScreen

    fl = bestof_fleet(git_repo)
    sup = make_sup(git_repo, LAYOUT, tmp_path)
    sup.review = ReviewDesk.offline(git_repo, fl.state_dir, "bo")  # the API serves this run's desk
    runner = web.AppRunner(Api(sup, None).app(require_token=False), access_log=None, handle_signals=False)
    await runner.setup()
    sock = tmp_path / "api.sock"
    await web.UnixSite(runner, str(sock)).start()
    try:
        async with ApiClient(sock, origin="web") as client:
            desk = RemoteReviewDesk(lambda: client)
            app = Host(lambda: CompareScreen(desk, "bo"))
            async with app.run_test(size=SIZE) as pilot:
                screen = await compare_opened(pilot)
                assert screen.table.keys_in_order() == ["variant-3", "variant-1", "variant-2"]
                assert "+x = 3" in screen.diff_view.source
                await pilot.press("down", "down")
                await until(pilot, lambda: screen.current == "variant-2" and "variant-2" in screen.diffs, what="v2")
                assert "+x = 2" in screen.diff_view.source
                n = screen.loaded
                await pilot.press("w")
                await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
                await pilot.press("y")
                await until(pilot, lambda: screen.loaded > n, what="reload")
                assert screen.table.cell_text("variant-2", "rank") == "3 ★"
    finally:
        await runner.cleanup()
    cmp = load_comparison(git_repo, fl.state_dir, "bo")
    assert cmp is not None and cmp.winner == "variant-2" and cmp.chosen_by == "web"
    assert fl.queue().get("variant-2").status == "pending" and fl.queue().get("variant-3").status == "rejected"
