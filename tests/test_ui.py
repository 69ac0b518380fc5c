"""UI tests against the synthetic engine: presentation, navigation, sorting, filters, actions, coalescing."""

from __future__ import annotations

import shlex
from collections.abc import Callable

import pytest
from synthetic_engine import EPOCH, SyntheticEngine
from textual.pilot import Pilot

from cortex_tui.model.state import SessionRecord, SessionState, TokenUsage, TriggerRecord
from cortex_tui.ui import present
from cortex_tui.ui.ansi import pane_text, strip_unsafe
from cortex_tui.ui.app import CortexApp
from cortex_tui.ui.commands import entries
from cortex_tui.ui.screens.confirm import ConfirmScreen
from cortex_tui.ui.screens.help import HelpScreen
from cortex_tui.ui.screens.session import SessionScreen
from cortex_tui.ui.widgets.events_panel import EventsPanel
from cortex_tui.ui.widgets.pane_mirror import PaneMirror
from cortex_tui.ui.widgets.session_table import SessionTable


def make_app(n: int = 12, **kw: object) -> tuple[CortexApp, SyntheticEngine]:
    eng = SyntheticEngine(n)
    app = CortexApp(eng, clock=lambda: EPOCH, ticking=False, **kw)  # type: ignore[arg-type]
    return app, eng


async def until(pilot: Pilot[None], pred: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what or pred}")


def table(app: CortexApp) -> SessionTable:
    return app.dashboard.table


# ---------------------------------------------------------------------------- pure presentation


def rec(name: str, state: SessionState, triggers: list[TriggerRecord] | None = None) -> SessionRecord:
    return SessionRecord(name=name, slug=name, agent="sim", branch=f"cortex/r/{name}", worktree="/w", state=state,
                         triggers=triggers or [])


def test_fmt_ago_and_unknowns() -> None:
    assert present.fmt_ago(EPOCH - 12.4, EPOCH) == "12 s ago"
    assert present.fmt_ago(EPOCH - 185, EPOCH) == "3 m ago"
    assert present.fmt_ago(None, EPOCH) == "–"
    r = rec("x", SessionState.RUNNING)
    view = present.row_view(r, None, None, EPOCH, present.Palette())
    cells = dict(zip(present.COLUMN_KEYS, (c.plain for c in view.cells), strict=True))
    # nothing known yet: unknown, never 0
    assert cells["tokens"] == cells["cost"] == cells["cpu"] == cells["rss"] == cells["activity"] == "–"
    r.tokens, r.cost_usd, r.cpu_percent, r.rss_bytes = TokenUsage(input=1500, output=500), 0.5, 12.0, 3 * 1024**2
    view = present.row_view(r, None, None, EPOCH, present.Palette())
    cells = dict(zip(present.COLUMN_KEYS, (c.plain for c in view.cells), strict=True))
    assert (cells["tokens"], cells["cost"], cells["cpu"], cells["rss"]) == ("2.0k", "$0.50", "12%", "3.0M")


def test_attention_order_waiting_then_errors_then_triggers() -> None:
    recs = [
        rec("a-finished", SessionState.FINISHED),
        rec("b-running", SessionState.RUNNING),
        rec("c-scope", SessionState.RUNNING, [TriggerRecord(kind="out_of_scope", at=1.0)]),
        rec("d-failed", SessionState.FAILED),
        rec("e-waiting", SessionState.WAITING),
        rec("f-errors", SessionState.RUNNING, [TriggerRecord(kind="repeated_error", severity="error", at=1.0)]),
    ]
    order = [r.name for r in sorted(recs, key=present.attention_key)]
    assert order == ["e-waiting", "d-failed", "f-errors", "c-scope", "b-running", "a-finished"]


def test_cost_bar_against_budget() -> None:
    pal = present.Palette()
    assert present.cost_cell(1.0, 2.0, pal, width=4).plain == "$1.00 ██░░"
    assert present.cost_cell(None, 2.0, pal).plain == "– of $2.00"
    assert present.cost_cell(3.0, None, pal).plain == "$3.00"


def test_pane_sanitiser_keeps_colours_drops_hostile_sequences() -> None:
    raw = ("\x1b]0;pwned\x07\x1b[2J\x1b[H\x1b[31mred\x1b[0m \x1b]52;c;ZXZpbA==\x07plain\x1bPq#0;2;0;0;0\x1b\\"
           "\x1b[?1049h\x1b[5;5Hmoved\x9b31m\x07\x08 \x1b(0x\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\r\n")
    cleaned = strip_unsafe(raw)
    assert "\x1b[31m" in cleaned and "\x1b[0m" in cleaned
    for bad in ("\x1b]", "\x1b[2J", "\x1b[H", "\x1bP", "\x1b[?1049h", "\x1b[5;5H", "\x9b", "\x07", "\x08", "\x1b("):
        assert bad not in cleaned, repr(bad)
    text = pane_text(raw)
    assert text.plain == "red plainmoved xlink"
    assert [text.plain[s.start:s.end] for s in text.spans if "color(1)" in str(s.style)] == ["red"]


# ---------------------------------------------------------------------------- the app


async def test_dashboard_lists_sessions_with_attention_first() -> None:
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12, what="12 rows")
        keys = table(app).keys_in_order()
        assert keys[0] == "billing-refactor"  # the waiting one
        assert eng.state.sessions[keys[0]].state is SessionState.WAITING
        assert set(keys) == set(eng.state.sessions)
        # unknown usage shows "–", never 0
        row = table(app).get_row("search-refactor")
        assert row[present.COLUMN_KEYS.index("tokens")].plain == "–"


async def test_navigate_open_session_view_and_back() -> None:
    app, _eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        await pilot.press("down")
        second = table(app).keys_in_order()[1]
        assert table(app).current_key == second
        await pilot.press("enter")
        assert isinstance(app.screen, SessionScreen) and app.screen.session == second
        mirror = app.screen.query_one(PaneMirror)
        await until(pilot, lambda: "session " + second in mirror.plain, what="pane mirror")
        assert "pwned-title" not in mirror.plain  # OSC title never shown
        await pilot.press("escape")
        assert isinstance(app.screen, type(app.dashboard))
        assert table(app).current_key == second


async def test_rows_wait_under_the_session_view_and_catch_up_after_back() -> None:
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        await pilot.press("enter")
        assert isinstance(app.screen, SessionScreen)
        await pilot.pause(0.3)
        flushes = app.dashboard.flushes
        cpu = present.COLUMN_KEYS.index("cpu")
        for _ in range(3):  # updates while the (opaque) session view covers the dashboard: nobody sees its rows
            eng.tick_stats("auth-refactor")
            await pilot.pause(0.25)
        assert app.dashboard.flushes == flushes
        await pilot.press("escape")
        assert isinstance(app.screen, type(app.dashboard))
        rec = eng.state.sessions["auth-refactor"]
        await until(pilot, lambda: table(app).get_row("auth-refactor")[cpu].plain == f"{rec.cpu_percent:.0f}%",
                    what="the row changed meanwhile, shown after back")
        # under a see-through screen (a modal) the dashboard is visible: its rows stay live
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        flushes = app.dashboard.flushes
        eng.tick_stats("auth-refactor")
        await until(pilot, lambda: table(app).get_row("auth-refactor")[cpu].plain == f"{rec.cpu_percent:.0f}%",
                    what="a live row under the help screen")
        assert app.dashboard.flushes > flushes


async def test_sort_and_filter_cycle() -> None:
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        await pilot.press("o")  # attention -> name
        assert table(app).sort_mode == "name"
        assert table(app).keys_in_order() == sorted(eng.state.sessions, key=str.lower)
        await pilot.press("f")  # all -> attention
        await until(pilot, lambda: app.dashboard.filter_mode == "attention")
        shown = set(table(app).keys_in_order())
        expected = {n for n, r in eng.state.sessions.items() if present.needs_attention(r)}
        assert shown == expected and 0 < len(shown) < 12
        # a session that starts needing attention appears; one that stops needing it disappears
        eng.set_state("auth-refactor", SessionState.WAITING, "asks")
        await eng.approve("billing-refactor")
        await until(pilot, lambda: "auth-refactor" in table(app).keys_in_order(), what="row added by filter")
        await until(pilot, lambda: "billing-refactor" not in table(app).keys_in_order(), what="row removed")


async def test_cursor_stays_on_its_session_through_resorts() -> None:
    # was: an untouched cursor jumped to whichever session floated to the top (Enter opened someone else)
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        tbl = table(app)
        assert tbl.cursor_row == 0 and tbl.current_key == "billing-refactor"  # opens on the top row
        tbl.resort_every = 0.0
        eng.set_state("docs-refactor", SessionState.WAITING, "approval requested")  # floats to the top band
        await until(pilot, lambda: tbl.keys_in_order()[0] == "docs-refactor", what="new top row")
        assert tbl.current_key == "billing-refactor" and tbl.cursor_row == 1  # the cursor kept its session
        await pilot.press("down")
        picked = tbl.current_key
        assert picked is not None and picked != "docs-refactor"
        eng.set_state("cache-refactor", SessionState.WAITING, "approval requested")
        await until(pilot, lambda: tbl.keys_in_order()[0] == "cache-refactor"
                    or tbl.keys_in_order()[1] == "cache-refactor", what="cache-refactor floats up")
        assert tbl.current_key == picked


async def test_rows_do_not_move_while_keys_are_typed_and_resort_at_most_once_a_second() -> None:
    """Item 17: ``k k Enter`` must open the row the user saw, not one that slid under the cursor."""
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        tbl = table(app)
        tbl.resort_quiet = 3.0  # generous, so a slow machine cannot turn the test into a race
        await pilot.press("down", "down")
        seen = tbl.keys_in_order()
        target = seen[3]
        # a session below the cursor starts needing attention: it belongs near the top now
        eng.set_state(seen[-1], SessionState.WAITING, "approval requested")
        await until(pilot, lambda: tbl.get_row(seen[-1])[1].plain.endswith("waiting"), what="cell updated at once")
        await pilot.pause(0.4)  # past the dashboard's coalescing and input-quiet windows
        assert tbl.keys_in_order() == seen  # no re-sort while the user is typing
        await pilot.press("down", "enter")
        assert isinstance(app.screen, SessionScreen) and app.screen.session == target
        await pilot.press("escape")
        await until(pilot, lambda: tbl.keys_in_order()[0] == seen[-1], timeout=8, what="re-sorted once quiet")
        assert tbl.current_key == target  # and the cursor went with its session

    # at most one re-sort per resort_every, however often the order changes
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        tbl = table(app)
        await until(pilot, lambda: tbl.settled)
        tbl.resort_every = 3.0
        before = tbl.resorts
        names = tbl.keys_in_order()
        tbl._last_resort = app.dashboard.monotonic()  # as if it had just re-sorted
        for name in names[-4:]:
            eng.set_state(name, SessionState.WAITING, "approval requested")
            await pilot.pause(0.15)
        await pilot.pause(0.5)
        assert tbl.resorts == before and tbl.keys_in_order() == names
        await until(pilot, lambda: tbl.resorts == before + 1, timeout=8, what="one re-sort after the window")
        assert tbl.keys_in_order()[:4] != names[:4]


async def test_stop_and_restart_ask_first_naming_the_session() -> None:
    """Items 17/18: ``x`` and ``R`` act only after ``y``, and the question names the session."""
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        table(app).focus_key("auth-refactor")
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="a confirmation")
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert confirm.title_text == "Stop auth-refactor?" and "auth-refactor" in str(confirm.body)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert not any(c[0] == "stop" for c in eng.calls)  # declined: nothing stopped
        assert eng.state.sessions["auth-refactor"].state is SessionState.RUNNING
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        # the table moves under the dialog: the answer still acts on the session it named
        eng.set_state("docs-refactor", SessionState.WAITING, "approval requested")
        await pilot.press("y")
        await until(pilot, lambda: ("stop", "auth-refactor", "") in eng.calls)
        assert [c for c in eng.calls if c[0] == "stop"] == [("stop", "auth-refactor", "")]
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.title_text == "Restart auth-refactor?"  # type: ignore[attr-defined]
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert not any(c[0] == "restart" for c in eng.calls)


async def test_activity_tick_updates_only_the_ago_cells() -> None:
    now = [EPOCH]
    eng = SyntheticEngine(12)
    app = CortexApp(eng, clock=lambda: now[0], ticking=False)
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        await pilot.pause(0.3)
        tbl = table(app)
        before = {k: tbl.get_row(k) for k in tbl.keys_in_order()}
        flushes = app.dashboard.flushes
        now[0] += 3600 * 2
        changed = app.dashboard.refresh_activity()
        known = [k for k in before if present.last_activity(eng.state.sessions[k], app.extras.get(k)) is not None]
        assert changed == len(known) > 0
        col = present.COLUMN_KEYS.index("activity")
        for k, cells in before.items():
            after = tbl.get_row(k)
            assert after[:col] + after[col + 1:] == cells[:col] + cells[col + 1:]  # nothing else touched
            if k in known:
                assert after[col].plain.endswith("h ago"), (k, after[col].plain)
        assert app.dashboard.flushes == flushes  # no full row rebuild
        assert app.dashboard.refresh_activity() == 0  # nothing moved since


async def test_live_updates_by_row_key_and_coalesced() -> None:
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        tbl = table(app)
        calls: list[tuple[str, str]] = []
        orig_upsert, _orig_clear = tbl.upsert, tbl.clear

        def spy_upsert(key: str, cells: list[object]) -> int:
            before = tbl.get_row(key)
            n = orig_upsert(key, cells)  # type: ignore[arg-type]
            calls.extend((key, col) for col, a, b in zip(present.COLUMN_KEYS, before, tbl.get_row(key), strict=True)
                         if a != b)
            return n

        def no_clear(*a: object, **k: object) -> SessionTable:
            raise AssertionError("the live table must never be cleared and refilled")

        tbl.upsert = spy_upsert  # type: ignore[method-assign, assignment]
        tbl.clear = no_clear  # type: ignore[method-assign, assignment]
        renders_before = tbl.renders
        flushes_before = app.dashboard.flushes
        batches = app.engine_events.batches
        for _ in range(300):  # a burst of stats for one session
            eng.tick_stats("auth-refactor")
        assert app.engine_events.batches - batches == 1  # 300 events, one message to the app
        await until(pilot, lambda: calls, what="cell update")
        await pilot.pause(0.3)
        assert {row for row, _ in calls} == {"auth-refactor"}
        assert {col for _, col in calls} <= {"cpu", "rss", "tokens", "cost", "activity"}
        assert 1 <= tbl.renders - renders_before <= 4  # only that row was re-rendered, once per flush
        assert app.dashboard.flushes - flushes_before <= 4  # 300 events -> a handful of coalesced refreshes
        rec = eng.state.sessions["auth-refactor"]
        assert tbl.get_row("auth-refactor")[present.COLUMN_KEYS.index("cpu")].plain == f"{rec.cpu_percent:.0f}%"


async def test_actions_from_dashboard_and_session_view() -> None:
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        assert table(app).current_key == "billing-refactor"
        await pilot.press("a")
        await until(pilot, lambda: ("approve", "billing-refactor", "") in eng.calls)
        await until(pilot, lambda: table(app).keys_in_order()[0] != "billing-refactor", what="approved row sinks")
        table(app).focus_key("auth-refactor")
        await pilot.press("enter")
        assert isinstance(app.screen, SessionScreen)
        await pilot.press("m", *"hello agent", "enter")
        await until(pilot, lambda: ("send", "auth-refactor", "hello agent") in eng.calls)
        mirror = app.screen.query_one(PaneMirror)
        await until(pilot, lambda: "received: hello agent" in mirror.plain, what="echo in mirror")
        await pilot.press("escape")  # leave the input
        await pilot.press("i", "x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="stop asks first")
        await pilot.press("y")
        await until(pilot, lambda: eng.state.sessions["auth-refactor"].state is SessionState.STOPPED)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="restart asks first")
        await pilot.press("y")
        await until(pilot, lambda: eng.state.sessions["auth-refactor"].state is SessionState.RUNNING)
        assert [c[0] for c in eng.calls if c[1] == "auth-refactor"] == ["send", "interrupt", "stop", "restart"]
        await pilot.press("d")
        await until(pilot, lambda: ("deny", "auth-refactor", "") in eng.calls)


async def test_failed_action_is_a_notification_not_a_crash() -> None:
    app, eng = make_app()

    async def boom(name: str) -> None:
        raise RuntimeError("tmux went away")

    eng.interrupt = boom  # type: ignore[method-assign]
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        await pilot.press("i")
        await until(pilot, lambda: any("tmux went away" in n.message for n in app._notifications))
        assert app.is_running


async def test_trigger_notifies_and_lands_in_events_panel() -> None:
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        eng.raise_trigger("docs-refactor", "silence", "warning", quiet_s=601)
        await until(pilot, lambda: any("docs-refactor" in n.message and "silence" in n.message
                                       for n in app._notifications), what="notification")
        panel = app.dashboard.query_one(EventsPanel)
        assert panel.visible_count >= 2  # run_started + trigger
        await until(pilot, lambda: table(app).get_row("docs-refactor")[3].plain == "silent", what="trigger cell")


async def test_trigger_burst_is_one_summary_toast_not_a_storm() -> None:
    app, eng = make_app()
    app.trigger_toasts.window = 0.5
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        names = list(eng.state.sessions)[:7]
        for name in names:
            eng.raise_trigger(name, "repeated_error", "warning", fingerprint="Error: flaky", count=3)
        eng.raise_trigger(names[0], "memory", "error", rss_bytes=9 * 1024**3)
        await until(pilot, lambda: app.trigger_toasts.toasts == 2 and not app.trigger_toasts.pending,
                    what="first toast, then one summary")
        await pilot.pause(0.7)
        assert app.trigger_toasts.toasts == 2  # 8 triggers -> 2 toasts
        texts = [n.message for n in app._notifications]
        assert texts[0].startswith(names[0] + ":")
        summary = next(n for n in app._notifications if n.title == "7 triggers")
        assert summary.severity == "error"  # the worst of the batch
        assert "… and 3 more" in summary.message and names[1] in summary.message
        assert app.dashboard.query_one(EventsPanel).visible_count >= 9  # every trigger is in the feed


async def test_events_filter_and_jump_to_session() -> None:
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        eng.set_state("cache-refactor", SessionState.FAILED, "exit 2")
        eng.set_state("docs-refactor", SessionState.RUNNING, "resumed")
        eng.raise_trigger("ui-refactor", "memory", "error", rss_bytes=9 * 1024**3)
        panel = app.dashboard.query_one(EventsPanel)
        await until(pilot, lambda: panel.visible_count == 4)
        await pilot.press("slash", *"cache")
        await until(pilot, lambda: panel.visible_count == 1, what="filtered to one event")
        await pilot.press("tab", "enter")  # into the events table, select the one row
        await until(pilot, lambda: isinstance(app.screen, SessionScreen))
        assert app.screen.session == "cache-refactor"  # type: ignore[attr-defined]


async def test_help_screen_and_palette_entries() -> None:
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, type(app.dashboard))
        titles = {t: cb for t, cb, _ in entries(app)}
        assert "Approve billing-refactor" in titles and "Open cache-refactor" in titles
        assert "Restart billing-refactor" in titles  # current row's actions
        titles["Stop billing-refactor"]()
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the palette's stop asks too")
        await pilot.press("y")
        await until(pilot, lambda: ("stop", "billing-refactor", "") in eng.calls)
        titles["Open cache-refactor"]()
        await until(pilot, lambda: isinstance(app.screen, SessionScreen) and app.screen.captures > 0)


async def test_attach_without_a_terminal_says_what_to_run() -> None:
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        await pilot.press("t")
        argv = shlex.join(eng.attach_argv("billing-refactor"))  # copy-pasteable
        await until(pilot, lambda: any(argv in n.message for n in app._notifications), what="attach hint")


async def test_quit_stops_supervising_and_shuts_down_engine() -> None:
    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: app.supervising)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, what="app exit")
    assert eng.shut_down and eng._stop.is_set()


async def test_mirror_capture_is_throttled() -> None:
    import time

    app, eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        app.open_session("auth-refactor")
        screen = app.screen
        assert isinstance(screen, SessionScreen)
        await until(pilot, lambda: screen.captures >= 1)
        before = eng.screen_calls
        started = time.monotonic()
        for i in range(200):
            eng.emit_output("auth-refactor", f"line {i}")
            if i % 20 == 0:
                await pilot.pause(0.03)
        await pilot.pause(0.5)
        mirror = screen.query_one(PaneMirror)
        await until(pilot, lambda: "line 199" in mirror.plain, what="last line mirrored")
        elapsed = time.monotonic() - started
        # at most one capture per capture_interval (plus the one in flight), however loaded the machine is
        assert 1 <= eng.screen_calls - before <= elapsed / screen.capture_interval + 2
        assert eng.screen_calls - before < 200 / 4  # 200 output events: far fewer captures


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_works_small_and_wide(size: tuple[int, int]) -> None:
    app, _eng = make_app(40)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: table(app).row_count == 40)
        await pilot.press("end")
        assert table(app).cursor_row == 39
        await pilot.press("enter")
        assert isinstance(app.screen, SessionScreen)


async def test_theme_switch_rebuilds_palette() -> None:
    app, _eng = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: table(app).row_count == 12)
        dark = app.palette
        app.theme = "textual-light"
        await until(pilot, lambda: app.palette != dark, what="palette follows theme")


def test_header_shows_remote_node_health() -> None:
    from cortex_tui.ui.present import Palette, run_summary

    text = run_summary("r", {}, None, Palette(), supervising=True, sort_mode="attention", filter_mode="all",
                       nodes={"box1": {"reachable": True, "latency_ms": 9.4}, "box2": {"reachable": False}}).plain
    assert "⇄ box1 9ms" in text and "⇄ box2 link down" in text


async def test_idle_collector_defers_full_gc_to_idle_and_restores_it() -> None:
    import gc

    from cortex_tui.ui.gc_tuning import NEVER

    before = gc.get_threshold()
    app, _eng = make_app(tune_gc=True)
    app.gc.every, app.gc.idle = 0.2, 1.5  # idle well above any pause between keys on a loaded machine
    try:
        async with app.run_test(size=(120, 32)) as pilot:
            await until(pilot, lambda: app.gc.active, timeout=5, what="collector started")
            assert gc.get_threshold()[2] == NEVER and gc.get_freeze_count() > 0
            # keys keep arriving: no full collection runs meanwhile (counted from the first key on: before it
            # the app was idle, and a collection then is right)
            await pilot.press("j")
            n = app.gc.collections
            for _ in range(12):
                await pilot.press("j")
                await pilot.pause(0.05)
            assert app.gc.collections == n
            await until(pilot, lambda: app.gc.collections > n, timeout=10, what="a collection once input is idle")
    finally:
        app.gc.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_event_lines_say_things_in_words_never_python_reprs() -> None:
    from cortex_tui.ui.present.events import event_summary

    verified = event_summary("review_verified", {"verify": {"exit_code": 0, "duration_s": 1.25}, "head": "abc"})
    assert verified == "verify: exit code 0, duration 1.25 s, head: abc"
    assert "{" not in verified and "'" not in verified
    silence = event_summary("trigger", {"kind": "silence", "evidence": {"silent_for_s": 17, "threshold_s": 15,
                                                                        "cpu_percent": 0.0}})
    assert silence == "silence raised: silent for 17 s (threshold 15 s, CPU 0 %)"
    assert event_summary("trigger_cleared", {"kind": "silence", "evidence": {"resumed_after_s": 3}}) \
        == "silence cleared: resumed after: 3 s"
