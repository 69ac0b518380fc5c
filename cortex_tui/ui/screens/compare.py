"""A best-of run's variants side by side: the score table in rank order, the selected variant's diff and
verify output; ``w`` makes the selected variant the winner (it enters the review queue, the others are
kept under backup refs and rejected).

Reads the comparison and the review queue, and picks the winner, through the engine's review desk
(``ReviewCommands``: in this process or through the local API), awaited in workers.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from cortex_tui.bestof.models import Comparison
from cortex_tui.review.models import QueueEntry
from cortex_tui.ui.engine_protocol import ReviewCommands
from cortex_tui.ui.present.review import (
    SCORE_COLUMNS,
    RenderedDiff,
    compare_title,
    render_diff,
    score_row,
    variant_info,
    variant_verify,
)
from cortex_tui.ui.screens.confirm import ConfirmScreen
from cortex_tui.ui.screens.diff_browser import DiffBrowserScreen
from cortex_tui.ui.widgets.diff_view import DiffView
from cortex_tui.ui.widgets.key_bar import KeyBar
from cortex_tui.ui.widgets.keyed_table import KeyedTable


class CompareScreen(DiffBrowserScreen[RenderedDiff]):
    """Compare the variants of best-of run ``run`` and pick the winner."""

    DIFF_ID = "compare-diff"
    DIFF_GROUP = "compare-diff"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("w", "pick_winner", "Pick winner"),
        Binding("ctrl+r", "reload", "Refresh"),
    ]

    def __init__(self, desk: ReviewCommands, run: str) -> None:
        super().__init__(desk, run)
        self.comparison: Comparison | None = None
        self.entries: dict[str, QueueEntry] = {}

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Static(id="compare-title")
        yield KeyedTable(SCORE_COLUMNS, key_column="name", id="compare-scores")
        with Horizontal(id="compare-body"):
            yield DiffView(id="compare-diff")
            with VerticalScroll(id="compare-side"):
                yield Static(id="compare-info")
                yield Static("verify", classes="rv-section")
                yield Static(id="compare-verify")
        yield KeyBar()

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#compare-scores", KeyedTable)

    def on_mount(self) -> None:
        self.diff_view.border_title = "diff"
        self.query_one("#compare-title", Static).update(compare_title(None, self.run, self.palette))
        self.table.focus()
        self.load()

    # ------------------------------------------------------------------ workers (the engine's review desk)
    @work(exclusive=True, group="compare-load", exit_on_error=False, name="load comparison")
    async def load(self) -> None:
        await self._show(await self.desk.comparison())

    def reload_full(self) -> None:
        self.load()

    def start_diff(self, session: str) -> None:
        self.load_diff(session)

    @work(exclusive=True, group="compare-diff", exit_on_error=False, name="diff")
    async def load_diff(self, session: str) -> None:
        d = await self.desk.diff(session)
        self.diff_loaded(session, await asyncio.to_thread(render_diff, d.text, "no committed changes"))

    @work(exclusive=True, group="compare-pick", exit_on_error=False, name="pick winner")
    async def _choose(self, session: str) -> None:
        await self._show(await self.desk.choose_winner(session),
                         note=f"{session} is the winner; it waits in the review queue")

    # ------------------------------------------------------------------ results
    async def _show(self, cmp: Comparison | None, note: str = "") -> None:
        self.entries = {e.session: e for e in (await self.desk.entries()).entries}
        self.comparison = cmp
        self.loaded += 1
        pal = self.palette
        self.query_one("#compare-title", Static).update(compare_title(cmp, self.run, pal))
        if cmp is None:
            self.table.apply([])
            self._show_variant(None)
        else:
            self.table.apply([(n, score_row(n, cmp.scores[n], cmp.winner, pal)) for n in cmp.ranking
                              if n in cmp.scores])
            self._show_variant(self.table.current_key)
        if note:
            self.notify(note, title="best-of", timeout=5, markup=False)

    @on(KeyedTable.RowHighlighted, "#compare-scores")
    def _row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._show_variant(event.key)

    def _show_variant(self, name: str | None) -> None:
        cmp = self.comparison
        pal = self.palette
        if cmp is None or name is None or name not in cmp.scores:
            self.current = None
            self.query_one("#compare-info", Static).update(Text("no variant selected", style=pal.muted))
            self.query_one("#compare-verify", Static).update("")
            self.diff_view.show(Text(""), title="diff")
            return
        changed = name != self.current
        self.current = name
        entry = self.entries.get(name)
        self.query_one("#compare-info", Static).update(variant_info(name, cmp, entry, pal))
        self.query_one("#compare-verify", Static).update(variant_verify(entry, pal))
        self.want_diff(name, changed)

    def show_diff(self, session: str, diff: RenderedDiff) -> None:
        self.diff_view.show(diff.text, diff.hunks, title=f"{session} · {len(diff.hunks)} hunks")

    # ------------------------------------------------------------------ actions
    def action_pick_winner(self) -> None:
        cmp = self.comparison
        name = self.table.current_key
        if cmp is None or name is None:
            self.notify("nothing to pick: the run has not been compared", severity="warning", timeout=4)
            return
        if name == cmp.winner:
            self.notify(f"{name} is already the winner", timeout=3, markup=False)
            return
        pal = self.palette
        body = Text(f"{name} enters the review queue as pending.")
        others = [n for n in cmp.ranking if n != name]
        if others:
            body.append(f"\n{', '.join(others)} will be rejected and kept under refs/cortex/bestof/{self.run}/….")
        s = cmp.scores[name]
        if not s.ok:
            body.append(f"\n{name} did not pass verify ({s.verify}).", style=f"bold {pal.warning}")

        def decided(yes: bool | None) -> None:
            if yes:
                self._choose(name)

        self.app.push_screen(ConfirmScreen(f"Make {name} the winner?", body, confirm_label="Pick"), decided)
