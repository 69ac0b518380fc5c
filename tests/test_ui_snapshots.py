"""Snapshot tests (pytest-textual-snapshot) of the dashboard, session view and help, with frozen synthetic data."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from synthetic_engine import EPOCH, SyntheticEngine
from textual.pilot import Pilot

from cortex_tui.ui.app import CortexApp
from cortex_tui.ui.screens.session import SessionScreen

SIZE = (120, 32)
SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Event times are shown as local clock time: pin the zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def frozen_app(n: int = 12) -> CortexApp:
    # fixed data, fixed clock, no periodic "ago" refresh: every run renders the same frame
    return CortexApp(SyntheticEngine(n), clock=lambda: EPOCH, ticking=False)


async def _settle(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, CortexApp)
    for _ in range(100):
        dash = app.dashboard
        if (dash.is_mounted and dash.table.row_count and app.supervising
                and (not dash.preview.display or dash.preview.captures)):
            break
        await pilot.pause(0.02)
    await pilot.pause(0.2)


def test_dashboard_snapshot(snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(), terminal_size=SIZE, run_before=_settle)


def test_dashboard_small_terminal_snapshot(snap_compare: SnapCompare) -> None:
    """80×24: q and ? stay on the key bar, no scrollbar glyphs under the table."""
    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=_settle)


def test_dashboard_large_terminal_snapshot(snap_compare: SnapCompare) -> None:
    """160×48: the table takes the rows it needs, the selected session's live pane fills the rest."""
    assert snap_compare(frozen_app(), terminal_size=(160, 48), run_before=_settle)


def test_session_view_snapshot(snap_compare: SnapCompare) -> None:
    async def open_waiting(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("enter")  # the top row: the session waiting for approval
        screen = pilot.app.screen
        assert isinstance(screen, SessionScreen) and screen.session == "billing-refactor"
        for _ in range(100):
            if screen.captures:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.2)

    assert snap_compare(frozen_app(), terminal_size=SIZE, run_before=open_waiting)


def test_help_snapshot(snap_compare: SnapCompare) -> None:
    async def open_help(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)

    assert snap_compare(frozen_app(), terminal_size=SIZE, run_before=open_help)
