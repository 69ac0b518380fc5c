"""The app's way to the review desk: opening the Review and Compare screens on the engine's desk, and
comparing a best-of run's variants when they have all ended (the engine's command), then showing them."""

from __future__ import annotations

from typing import Any

from textual.app import App

from cortex_tui.ui.engine_protocol import ReviewCommands, Reviews
from cortex_tui.ui.screens.compare import CompareScreen
from cortex_tui.ui.screens.review import ReviewScreen


def desk_of(app: App[Any], engine: object) -> ReviewCommands | None:
    """The engine's review desk (None, with a notification, for an engine without one)."""
    if not isinstance(engine, Reviews):
        app.notify("this engine has no review queue", severity="warning")
        return None
    return engine.review


def open_review(app: App[Any], desk: ReviewCommands, run: str) -> None:
    if not isinstance(app.screen, ReviewScreen):
        app.push_screen(ReviewScreen(desk, run))


def open_compare(app: App[Any], desk: ReviewCommands, run: str) -> None:
    if not isinstance(app.screen, CompareScreen):
        app.push_screen(CompareScreen(desk, run))


async def compare(app: App[Any], desk: ReviewCommands, run: str, top_k: int) -> None:
    """Score and rank the variants (the judge may call a model); say the winner and show the comparison."""
    winner = (await desk.compare(top_k=top_k)).winner
    app.notify(f"winner: {winner}" if winner else "no variant finished and verified", title="best-of",
               timeout=8, severity="information" if winner else "warning")
    for screen in app.screen_stack:
        if isinstance(screen, CompareScreen):
            screen.queue_changed()
            return
    open_compare(app, desk, run)
