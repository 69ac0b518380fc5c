"""Issue #13's TUI habits: one meaning per key, essential keys at 80 columns, toasts that hide nothing,
the live pane preview, the new-session dialog; and #14's UI cut (messages up, no calls into the app)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from synthetic_engine import EPOCH, SyntheticEngine
from textual.binding import Binding
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Input
from textual.widgets._toast import Toast

from cortex_tui.model.state import SessionState
from cortex_tui.ui.app import CortexApp
from cortex_tui.ui.screens.compare import CompareScreen
from cortex_tui.ui.screens.dashboard import DashboardScreen
from cortex_tui.ui.screens.new_session import NewSessionScreen, build_spec, default_agent
from cortex_tui.ui.screens.review import ReviewScreen
from cortex_tui.ui.screens.session import SessionScreen
from cortex_tui.ui.widgets.key_bar import KeyBar
from cortex_tui.ui.widgets.pane_preview import PanePreview

ROOT = Path(__file__).resolve().parent.parent


def make_app(n: int = 12) -> tuple[CortexApp, SyntheticEngine]:
    eng = SyntheticEngine(n)
    return CortexApp(eng, clock=lambda: EPOCH, ticking=False), eng


async def until(pilot: Pilot[None], pred: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what or pred}")


async def ready(pilot: Pilot[None]) -> CortexApp:
    app = pilot.app
    assert isinstance(app, CortexApp)
    await until(pilot, lambda: app.dashboard.is_mounted and app.dashboard.table.row_count > 0 and app.supervising)
    return app


# ---------------------------------------------------------------------------- item 21: one meaning per key


def _bindings(cls: type) -> list[Binding]:
    return [b for b in getattr(cls, "BINDINGS", []) if isinstance(b, Binding)]


def test_each_key_means_one_thing_on_every_screen() -> None:
    meaning: dict[str, tuple[str, str]] = {}
    clashes: list[str] = []
    for cls in (CortexApp, DashboardScreen, SessionScreen, ReviewScreen, CompareScreen):
        for b in _bindings(cls):
            for key in b.key.split(","):
                seen = meaning.setdefault(key, (b.description, cls.__name__))
                if seen[0] != b.description:
                    clashes.append(f"{key!r}: {seen[0]} ({seen[1]}) vs {b.description} ({cls.__name__})")
    assert not clashes, clashes
    assert meaning["x"][0] == "Stop" and meaning["r"][0] == "Reject" and meaning["o"][0] == "Sort"


# ---------------------------------------------------------------------------- item 22: 80 columns


async def test_quit_and_help_stay_on_the_key_bar_at_80_columns() -> None:
    app, _eng = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.pause(0.2)
        for screen_opener in (None, "enter"):
            if screen_opener:
                await pilot.press(screen_opener)
                await until(pilot, lambda: isinstance(app.screen, SessionScreen))
                await pilot.pause(0.2)
            bar = app.screen.query_one(KeyBar)
            line = bar.render().plain
            assert len(line) <= 80
            assert "q Quit" in line and "? Help" in line, line
            assert bar.dropped  # something had to give way at 80 columns, and it was not q or ?
            assert "q" not in bar.dropped and "question_mark" not in bar.dropped


async def test_no_scrollbar_glyph_under_the_table_at_80_columns() -> None:
    app, _eng = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        table = app.dashboard.table
        assert table.scrollbar_size_horizontal == 0 or not table.show_horizontal_scrollbar
        await pilot.press("right")  # the wide columns are still reachable with the arrow keys
        await until(pilot, lambda: table.scroll_x > 0, what="horizontal scroll")


# ---------------------------------------------------------------------------- item 23: toasts


async def test_toasts_never_cover_the_events_panel_or_the_preview() -> None:
    app, eng = make_app()
    async with app.run_test(size=(120, 32), notifications=True) as pilot:
        await ready(pilot)
        eng.raise_trigger("docs-refactor", "silence", "warning", quiet_s=601)
        app.notify("a second toast\nover two lines", timeout=30)
        await until(pilot, lambda: len(app.screen.query(Toast)) >= 2, what="toasts shown")
        await pilot.pause(0.3)
        dash = app.dashboard
        live = [dash.events_panel.region, dash.table.region]
        preview = dash.query("#preview")
        if preview and preview.first().display:
            live.append(preview.first().region)
        toasts = [t.region for t in app.screen.query(Toast)]
        assert all(r.area for r in toasts)
        for t in toasts:
            for w in live:
                assert not t.overlaps(w), (t, w)
        bar = dash.query_one(KeyBar).region
        assert all(t.y < bar.y for t in toasts)  # above the key bar, which stays put
        assert all(t.overlaps(Region(0, 0, 120, 32)) for t in toasts)


# ---------------------------------------------------------------------------- item 25: pane preview


async def test_dashboard_previews_the_selected_session_live_and_p_toggles_it() -> None:
    app, eng = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        preview = app.dashboard.query_one("#preview", PanePreview)
        assert preview.display
        await until(pilot, lambda: "session billing-refactor" in preview.plain, what="top row previewed")
        assert "pwned-title" not in preview.plain  # the same sanitiser as the session view
        table = app.dashboard.table
        assert preview.region.y > table.region.y and not preview.region.overlaps(table.region)
        assert table.region.height == table.row_count + 1  # the table takes what it needs, the preview the rest
        await pilot.press("down")
        second = table.current_key
        await until(pilot, lambda: f"session {second}" in preview.plain, what="follows the cursor")
        assert second is not None
        eng.emit_output(second, "fresh output line 42")
        await until(pilot, lambda: "fresh output line 42" in preview.plain, what="live output")
        await pilot.press("p")
        await until(pilot, lambda: not preview.display, what="toggled off")
        calls = eng.screen_calls
        eng.emit_output(second, "unseen")
        await pilot.pause(0.5)
        assert eng.screen_calls == calls  # hidden: no captures
        await pilot.press("p")
        await until(pilot, lambda: preview.display and "unseen" in preview.plain, what="toggled on, current")


# ---------------------------------------------------------------------------- item 19: new session


def test_new_session_spec_checks_like_the_layout() -> None:
    eng = SyntheticEngine(3)
    assert default_agent(eng.layout) in ("claude-code", "codex", "aider", "sim", "gemini", "shell")
    spec = build_spec(" fix-login ", "codex", "fix the login test", "src/** , tests/**", eng.state.sessions)
    assert (spec.name, spec.agent, spec.scope) == ("fix-login", "codex", ["src/**", "tests/**"])
    taken = next(iter(eng.state.sessions))
    for args, msg in (((taken, "sim", "x", ""), "already exists"), (("a", "sim", "  ", ""), "prompt"),
                      (("", "sim", "x", ""), "name"), (("a\tb", "sim", "x", ""), "control characters")):
        try:
            build_spec(*args, eng.state.sessions)
        except ValueError as e:
            assert msg in str(e), (args, e)
        else:
            raise AssertionError(f"accepted {args}")


async def test_n_opens_the_dialog_and_adds_the_session_through_the_engine() -> None:
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await ready(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewSessionScreen), what="dialog")
        dialog = app.screen
        assert isinstance(dialog, NewSessionScreen)
        name = dialog.query_one("#new-name", Input)
        assert name.value and name.value not in eng.state.sessions  # a free default name
        await pilot.press("enter")  # no prompt yet: refused, the dialog stays
        assert isinstance(app.screen, NewSessionScreen) and "prompt" in dialog.error
        await pilot.press(*"add a login test")
        name.value = "login-test"
        dialog.query_one("#new-scope", Input).value = "tests/**"
        await pilot.press("enter")
        await until(pilot, lambda: ("add", "login-test", "add a login test") in eng.calls, what="engine add")
        assert eng.specs["login-test"].scope == ["tests/**"]
        await until(pilot, lambda: "login-test" in app.dashboard.table.keys_in_order(), what="new row")
        assert eng.state.sessions["login-test"].state is SessionState.RUNNING


# ---------------------------------------------------------------------------- #14 item 7: the UI cut


def test_screens_and_palette_never_call_the_app() -> None:
    r = subprocess.run(["grep", "-rn", "CortexApp", "cortex_tui/ui/screens", "cortex_tui/ui/commands.py"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and not r.stdout, r.stdout
    assert not (ROOT / "cortex_tui" / "ui" / "synthetic.py").exists()  # the test double left the package
