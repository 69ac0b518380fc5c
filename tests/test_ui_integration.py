"""The integration entry in the TUI (issue #16): ``I`` on the review screen runs the gate through the engine's
review desk, the page shows the verdict, ``a`` approves it. Real supervisor, real tmux, real git, sim agents."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from conftest import git
from registry_runs import registry_layout
from textual.pilot import Pilot
from textual.widgets import Static

from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout
from cortex_tui.model.state import SessionState
from cortex_tui.review.integration_models import IntegrationResult, PairConflict, VerifyStep
from cortex_tui.ui.app import CortexApp
from cortex_tui.ui.present.format import Palette
from cortex_tui.ui.present.integration import integration_line, integration_page
from cortex_tui.ui.screens.confirm import ConfirmScreen
from cortex_tui.ui.screens.integration import IntegrationLine, IntegrationScreen
from cortex_tui.ui.screens.review import ReviewScreen

LAYOUT = registry_layout("uigate", "ab")


async def until(pilot: Pilot[None], pred: Callable[[], object], timeout: float = 60.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}")


def page_text(app: CortexApp) -> str:
    return str(app.screen.query_one("#integration-page", Static).render())


async def test_I_runs_the_gate_and_a_approves_it(git_repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "layout.toml"
    path.write_text(LAYOUT)
    sup = Supervisor(parse_layout(LAYOUT, path), git_repo)
    app = CortexApp(sup)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: hasattr(sup, "state"), what="the engine started")
        s = sup.state.sessions
        await until(pilot, lambda: all(s[n].state is SessionState.FINISHED and not s[n].review_due for n in "ab"),
                    90, "both queued")
        await pilot.press("V")
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="review screen")
        line = app.screen.query_one("#review-integration", IntegrationLine)
        await pilot.pause(0.3)
        assert not line.display  # hidden until the gate ran once
        await pilot.press("I")
        await until(pilot, lambda: isinstance(app.screen, IntegrationScreen), what="integration screen")
        screen = app.screen
        assert isinstance(screen, IntegrationScreen)
        await until(pilot, lambda: screen.result is not None and not screen.running, 90, "the gate ran")
        assert screen.runs == 1 and screen.result is not None and screen.result.ok
        assert "works together: verify passed" in page_text(app) and "✓ a  merged cleanly" in page_text(app)
        commit = git(git_repo, "rev-parse", "cortex/uigate/integration").strip()
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await until(pilot, lambda: git(git_repo, "rev-parse", "main").strip() == commit, 30, "base fast-forwarded")
        # the base moved: the entry goes stale, and the page says so
        await until(pilot, lambda: "stale" in page_text(app), 30, "stale shown")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="back on review")
        await until(pilot, lambda: line.display and "works together" in str(line.render()), what="the verdict line")
    assert git(git_repo, "ls-tree", "--name-only", "main", "registry/").split() == ["registry/a.txt",
                                                                                   "registry/b.txt"]


def test_the_page_names_conflicts_and_the_failing_set_and_escapes_agent_text() -> None:
    step = VerifyStep(sessions=["a", "c"], commit="c" * 40, exit_code=1, duration_s=0.5,
                      tail="FAILED test_x\x1b]0;pwned\x07", log_path="/tmp/log")
    res = IntegrationResult(run="r", base="main", base_tip="b" * 40, branch="cortex/r/integration",
                            order=["a", "x\x1b[31m", "c"], pair_conflicts=[PairConflict(a="a", b="x\x1b[31m",
                                                                                          paths=["src/app.py"])],
                            left_out=["x\x1b[31m"], commit="d" * 40, verify_command="pytest", verify=step,
                            failing_set=["a", "c"], steps=[step], stale=["c has new commits (1 -> 2)"])
    pal = Palette()
    page = integration_page(res, pal).plain
    assert "\x1b" not in page and "\x07" not in page
    assert "x\\x1b[31m  conflicts: left out" in page and "✓ a  merged cleanly" in page
    assert "a + c fail together" in page and "FAILED test_x" in page and "c has new commits" in page
    assert "stale: c has new commits" in integration_line(res, pal).plain
    assert "not run yet" in integration_line(None, pal).plain


async def test_the_integration_screen_through_the_api(git_repo: Path, tmp_path: Path) -> None:
    """The same screen on RemoteReviewDesk.gate: the gate runs, is read and approved over the real local API
    (aiohttp on a unix socket) by the supervisor's desk."""
    from aiohttp import web
    from test_review_support import Fleet, commit_file
    from test_ui_review import Host

    from cortex_tui.api.client import ApiClient
    from cortex_tui.api.remote_review import RemoteReviewDesk
    from cortex_tui.api.server import Api
    from cortex_tui.engine.review_desk import ReviewDesk

    fl = Fleet(git_repo, run="remgate")
    for name, word in (("a", "parse"), ("b", "render")):
        commit_file(fl.add(name, verify="true"), f"registry/{name}.txt", f"{word}\n", f"{name}: {word}")
        fl.finish(name)
    sup = Supervisor(parse_layout(LAYOUT, tmp_path / "l.toml"), git_repo)
    sup.review = ReviewDesk.offline(git_repo, fl.state_dir, "remgate")  # the API serves this run's desk
    runner = web.AppRunner(Api(sup, None).app(require_token=False), access_log=None, handle_signals=False)
    await runner.setup()
    sock = tmp_path / "api.sock"
    await web.UnixSite(runner, str(sock)).start()
    try:
        async with ApiClient(sock, origin="web") as client:
            desk = RemoteReviewDesk(lambda: client)
            app = Host(lambda: IntegrationScreen(desk.gate))
            async with app.run_test(size=(120, 40)) as pilot:
                await until(pilot, lambda: isinstance(app.screen, IntegrationScreen), what="screen")
                screen = app.screen
                assert isinstance(screen, IntegrationScreen)
                await until(pilot, lambda: screen.result is not None and not screen.running, 60, "gate over the API")
                assert screen.result is not None and screen.result.ok and screen.result.order == ["a", "b"]
                commit = screen.result.commit
                await pilot.press("a")
                await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
                await pilot.press("y")
                await until(pilot, lambda: git(git_repo, "rev-parse", "main").strip() == commit, 30, "approved")
            assert await desk.gate.entry() is not None
    finally:
        await runner.cleanup()
    assert git(git_repo, "for-each-ref", "--format=%(refname)", "refs/cortex/remgate/backup/").strip()
