"""What the Review and Compare screens share: a table of branches over a diff browser.

One row per session (queue entry or best-of variant), its diff loaded once (from the engine's review desk) and kept
per session, hunk keys, a reload, "the engine changed something" reloads (now, or when the screen comes
back), and worker failures as notifications with the library's reason.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from cortex_tui.ui.engine_protocol import ReviewCommands
from cortex_tui.ui.present import Palette, palette_of
from cortex_tui.ui.present.format import error_text
from cortex_tui.ui.widgets.diff_view import DiffView

D = TypeVar("D")


class DiffBrowserScreen(Screen[None], Generic[D]):
    """Base of the Review and Compare screens; ``D`` is what one session's loaded diff is."""

    CSS_PATH = "../review.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right_square_bracket", "hunk(1)", "Next hunk", show=False),
        Binding("left_square_bracket", "hunk(-1)", "Prev hunk", show=False),
    ]
    DIFF_ID = "diff"
    """The id of the screen's :class:`DiffView`."""
    DIFF_GROUP = "diff"
    """The worker group that loads diffs."""

    def __init__(self, desk: ReviewCommands, run: str) -> None:
        super().__init__()
        self.desk = desk
        """The engine's review desk: every read and decision goes through it."""
        self.run = run
        self.diffs: dict[str, D] = {}
        """Loaded diffs by session."""
        self.current: str | None = None
        """The session whose details are shown."""
        self.loaded = 0
        """How many times the table was loaded (tests wait on it)."""
        self._diff_loading: str | None = None
        self._stale = False

    @property
    def palette(self) -> Palette:
        return palette_of(self.app)

    @property
    def diff_view(self) -> DiffView:
        return self.query_one(f"#{self.DIFF_ID}", DiffView)

    # ------------------------------------------------------------------ to be provided
    def reload_full(self) -> None:
        """Read everything again, re-checking what can be re-checked (``ctrl+r``)."""
        raise NotImplementedError

    def reload_now(self) -> None:
        """Re-read after an engine event (default: :meth:`reload_full`)."""
        self.reload_full()

    def start_diff(self, session: str) -> None:
        """Load ``session``'s diff in a worker of group :attr:`DIFF_GROUP`; it calls :meth:`diff_loaded`."""
        raise NotImplementedError

    def show_diff(self, session: str, diff: D) -> None:
        """Put a loaded diff in the diff view."""
        raise NotImplementedError

    # ------------------------------------------------------------------ diffs
    def want_diff(self, session: str, changed: bool) -> None:
        """Show ``session``'s diff: at once when loaded (and the selection changed), else load it."""
        if session in self.diffs:
            if changed:
                self.show_diff(session, self.diffs[session])
            return
        if changed:
            self.diff_view.show(Text("loading diff…", style="italic"), title=session)
        if self._diff_loading != session:
            self._diff_loading = session
            self.start_diff(session)

    def diff_loaded(self, session: str, diff: D) -> None:
        if self._diff_loading == session:
            self._diff_loading = None
        self.diffs[session] = diff
        if session == self.current:
            self.show_diff(session, diff)

    # ------------------------------------------------------------------ engine changes, failures
    def queue_changed(self) -> None:
        """The engine changed what this screen shows: reload now, or when the screen is back on top."""
        if self.is_current:
            self.reload_now()
        else:
            self._stale = True

    def on_screen_resume(self) -> None:
        if self._stale:
            self._stale = False
            self.reload_now()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR or event.worker.error is None:
            return
        if event.worker.group == self.DIFF_GROUP:
            self._diff_loading = None
        err = event.worker.error
        self.notify(error_text(err), title=f"{event.worker.name} failed", severity="error", timeout=10, markup=False)

    # ------------------------------------------------------------------ actions
    def action_back(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self.diffs.clear()
        self.current = None
        self._diff_loading = None
        self.reload_full()

    def action_hunk(self, step: int) -> None:
        if step > 0:
            self.diff_view.action_next_hunk()
        else:
            self.diff_view.action_previous_hunk()
