"""The review queue of a run: pick an entry, read its diff (file by file), verify output and commits, decide.

Every read and decision is a command of the engine's review desk (``ReviewCommands``: the supervisor's
``review``, in this process or through the local API), awaited in a worker; the desk runs the git work off
the loop. Refusals (dirty base, conflicts, a moved branch) are shown as error notifications with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Awaitable, Coroutine
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import OptionList, Static

from cortex_tui.engine.review_desk import no_sender
from cortex_tui.engine.review_view import Decision, QueueView
from cortex_tui.review.models import QueueEntry
from cortex_tui.ui.engine_protocol import ReviewCommands
from cortex_tui.ui.present.review import (
    AWAITING,
    QUEUE_COLUMNS,
    DiffFiles,
    entry_info,
    entry_title,
    file_label,
    no_changes,
    queue_row,
    queue_title,
    render_diff,
    render_session_diff,
    verify_text,
)
from cortex_tui.ui.screens.confirm import ConfirmScreen
from cortex_tui.ui.screens.diff_browser import DiffBrowserScreen
from cortex_tui.ui.screens.integration import integration_line_for, open_integration
from cortex_tui.ui.screens.text_prompt import TextPromptScreen
from cortex_tui.ui.terminal import run_suspended
from cortex_tui.ui.widgets.diff_view import DiffView
from cortex_tui.ui.widgets.file_list import FileList
from cortex_tui.ui.widgets.key_bar import KeyBar
from cortex_tui.ui.widgets.keyed_table import KeyedTable


class ReviewScreen(DiffBrowserScreen[DiffFiles]):
    """Review one run's queue through the engine's review desk."""

    DIFF_ID = "review-diff"
    DIFF_GROUP = "review-diff"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("c", "request_changes", "Changes"),
        Binding("v", "reverify", "Re-verify"),
        Binding("s", "toggle_squash", "Squash"),
        Binding("exclamation_mark", "shell", "Shell"),
        Binding("ctrl+r", "reload", "Refresh"),
        Binding("I", "integration", "Integration", show=False),  # in ? help; the key bar is full
    ]

    squash: reactive[bool] = reactive(False, init=False)
    """Approve merges as one squashed commit."""

    def __init__(self, desk: ReviewCommands, run: str, *, poll_interval: float | None = 15.0) -> None:
        super().__init__(desk, run)
        self.poll_interval = poll_interval
        """Re-read the queue this long after each load; None: never. The engine's review events reload it at
        once (:meth:`queue_changed`); the poll only catches changes made by other processes (the CLI)."""
        self._poll_pending = False
        self.entries: dict[str, QueueEntry] = {}
        self.order: list[str] = []
        self.base: str | None = None
        self.verifying: set[str] = set()

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Static(id="review-title")
        yield from integration_line_for(self.desk, self.app)
        yield KeyedTable(QUEUE_COLUMNS, key_column="session", id="review-queue")
        with Horizontal(id="review-body"):
            with Vertical(id="review-side"):
                yield Static(id="review-entry")
                yield FileList(id="review-files")
                with VerticalScroll(id="review-details"):
                    yield Static(id="review-info")
                    yield Static("verify", classes="rv-section")
                    yield Static(id="review-verify")
            yield DiffView(id="review-diff")
        yield KeyBar()

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#review-queue", KeyedTable)

    def on_mount(self) -> None:
        self.query_one("#review-diff", DiffView).border_title = "diff"
        self.query_one("#review-files", FileList).border_title = "files"
        self._title()
        self.table.focus()
        self.load()

    def _title(self) -> None:
        entries = [self.entries[k] for k in self.order]
        self.query_one("#review-title", Static).update(queue_title(self.run, self.base, entries, self.squash,
                                                                   self.palette))

    def watch_squash(self, _squash: bool) -> None:
        self._title()

    # ------------------------------------------------------------------ workers (the engine's review desk)
    @work(exclusive=True, group="review-load", exit_on_error=False, name="load review queue")
    async def load(self, refresh: bool = True) -> None:
        """Read the queue; ``refresh`` re-checks conflicts against the base tip first (takes the queue lock)."""
        self.queue_loaded(await self.desk.entries(refresh=refresh))

    def start_diff(self, session: str) -> None:
        self.load_diff(self.entries[session])

    @work(exclusive=True, group="review-diff", exit_on_error=False, name="diff")
    async def load_diff(self, entry: QueueEntry) -> None:
        d = await self.desk.diff(entry.session)
        if d.gone:
            files = DiffFiles(head=entry.head, whole=render_diff("", empty="merged; its commits are gone"))
        else:  # highlighting is the slow part: off the loop
            files = await asyncio.to_thread(render_session_diff, d.text, entry.head, entry.files)
        self.diff_loaded(entry.session, files)

    @work(group="review-verify", exit_on_error=False, name="re-verify")
    async def _reverify(self, session: str) -> None:
        entry: QueueEntry | None = None
        try:
            entry = (await self.desk.reverify(session)).entry
        finally:
            self.verify_ended(session, entry)

    async def _decided(self, decision: Awaitable[Decision]) -> None:
        """A decision went through: say so and reload the queue."""
        self.notify((await decision).summary, title="review", timeout=5, markup=False)
        self.load()

    # ------------------------------------------------------------------ results
    def queue_loaded(self, view: QueueView) -> None:
        before = self.entries
        self.base = view.base
        self.entries = {e.session: e for e in view.entries}
        # branches with nothing to review go last: the top row is always one with changes
        self.order = [e.session for e in sorted(view.entries, key=no_changes)]
        self.loaded += 1
        stale = [k for k, d in self.diffs.items() if k not in self.entries or d.head != self.entries[k].head]
        for k in stale:
            del self.diffs[k]
        self._show_rows()
        self._title()
        key = self.table.current_key
        if key != self.current or key is None or before.get(key) != self.entries.get(key):
            self._show_entry(key)
        self._schedule_poll()

    def _schedule_poll(self) -> None:
        if self.poll_interval and not self._poll_pending:
            self._poll_pending = True
            self.set_timer(self.poll_interval, self._poll)

    def _poll(self) -> None:
        self._poll_pending = False
        if self.is_current:
            self.load(refresh=False)
        else:  # hidden (another screen or a dialog on top): look again later
            self._schedule_poll()

    def reload_full(self) -> None:
        self.load()

    def reload_now(self) -> None:
        """The engine changed the queue (a session joined it or was re-verified)."""
        self.load(refresh=False)

    def _show_rows(self) -> None:
        pal = self.palette
        self.table.apply([(k, queue_row(self.entries[k], pal, k in self.verifying)) for k in self.order])

    @on(KeyedTable.RowHighlighted, "#review-queue")
    def _row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._show_entry(event.key)

    def _show_entry(self, session: str | None) -> None:
        entry = self.entries.get(session) if session else None
        files = self.query_one("#review-files", FileList)
        pal = self.palette
        if entry is None:
            self.current = None
            self.query_one("#review-entry", Static).update("")
            files.show_files([])
            self.query_one("#review-info", Static).update(Text("nothing to review", style=pal.muted))
            self.query_one("#review-verify", Static).update("")
            self.diff_view.show(Text(""), title="diff")
            return
        changed = session != self.current
        self.current = entry.session
        self.query_one("#review-entry", Static).update(entry_title(entry, pal))
        files.show_files([(f.path, file_label(f, pal)) for f in entry.files], keep=files.current_path)
        self.query_one("#review-info", Static).update(entry_info(entry, pal))
        self.query_one("#review-verify", Static).update(verify_text(entry, pal, entry.session in self.verifying))
        self.want_diff(entry.session, changed)

    def show_diff(self, session: str, diff: DiffFiles) -> None:
        self._show_file()

    @on(OptionList.OptionHighlighted, "#review-files")
    def _file_highlighted(self, _event: OptionList.OptionHighlighted) -> None:
        self._show_file()

    def _show_file(self) -> None:
        if self.current is None or self.current not in self.diffs:
            return
        d = self.diffs[self.current]
        path = self.query_one("#review-files", FileList).current_path
        part = d.files.get(path) if path else None
        if part is None:
            self.diff_view.show(d.whole.text, d.whole.hunks, title=self.current)
        else:
            n = len(part.hunks)
            self.diff_view.show(part.text, part.hunks, title=f"{path} · {n} hunk{'s' if n != 1 else ''}")

    def verify_ended(self, session: str, entry: QueueEntry | None) -> None:
        self.verifying.discard(session)
        if entry is not None:
            self.entries[session] = entry
            e = entry
            self.notify(f"{e.session}: verify {'passed' if e.verify and e.verify.exit_code == 0 else 'failed'}",
                        severity="information" if e.ready else "warning", timeout=4, markup=False)
        self.load()  # readiness may have changed the order
        self._show_rows()
        if session == self.current:
            self._show_entry(self.current)

    # ------------------------------------------------------------------ actions
    def _selected(self) -> QueueEntry | None:
        key = self.table.current_key
        entry = self.entries.get(key) if key else None
        if entry is None:
            self.notify("no entry selected", severity="warning", timeout=3, markup=False)
        return entry

    def action_integration(self) -> None:
        """``I``: the integration entry (run through the engine's review desk)."""
        open_integration(self.desk, self.app)

    def action_toggle_squash(self) -> None:
        self.squash = not self.squash
        self.notify(f"approve will {'squash into one commit' if self.squash else 'merge the commits'}", timeout=2)

    def action_approve(self) -> None:
        entry = self._selected()
        if entry is None:
            return
        if no_changes(entry):
            self.notify(f"{entry.session} has no changes: nothing to merge (r rejects it to close it)",
                        severity="warning", timeout=5, markup=False)
            return
        pal = self.palette
        squash = self.squash
        body = Text(f"Merge {entry.branch} into {self.base or 'the base'}")
        body.append(" as one squashed commit" if squash else " (fast-forward when possible, else a merge commit)")
        body.append(f"\n{len(entry.commits)} commit(s), {len(entry.files)} file(s)")
        if entry.status not in AWAITING:
            body.append(f"\nThis entry is {entry.status}.", style=f"bold {pal.warning}")
        if entry.conflicts:
            body.append(f"\nConflicts with the base: {', '.join(entry.conflicts)}", style=f"bold {pal.error}")
        elif not entry.ready:
            body.append("\nVerify did not pass.", style=f"bold {pal.warning}")
        if entry.out_of_scope:
            body.append(f"\nOutside its scope: {', '.join(entry.out_of_scope)}", style=pal.warning)

        def decided(yes: bool | None) -> None:
            if yes:
                self._decide("approve", self.desk.approve(entry.session, squash=squash))

        self.app.push_screen(ConfirmScreen(f"Approve {entry.session}?", body, confirm_label="Approve"), decided)

    def action_reject(self) -> None:
        entry = self._selected()
        if entry is None:
            return

        def decided(reason: str | None) -> None:
            if reason is not None:
                self._decide("reject", self.desk.reject(entry.session, reason=reason.strip()))

        self.app.push_screen(TextPromptScreen(
            f"Reject {entry.session}? Its head is kept under refs/cortex/rejected/{self.run}/{entry.slug}.",
            placeholder="reason (optional)", hint="Enter rejects · Esc cancels", allow_empty=True), decided)

    def action_request_changes(self) -> None:
        entry = self._selected()
        if entry is None:
            return
        if not self.desk.sends:
            self.notify(no_sender(entry.session), severity="error", timeout=8, markup=False)
            return

        def decided(text: str | None) -> None:
            if text is not None:
                self._decide("request changes", self.desk.request_changes(entry.session, text))

        self.app.push_screen(TextPromptScreen(f"Request changes from {entry.session}",
                                              placeholder="what should change — sent to the agent",
                                              hint="Enter sends it to the agent · Esc cancels"), decided)

    def _decide(self, name: str, decision: Coroutine[Any, Any, Decision]) -> None:
        self.run_worker(self._decided(decision), name=name, group="review-decide", exclusive=True,
                        exit_on_error=False)

    def action_reverify(self) -> None:
        entry = self._selected()
        if entry is None:
            return
        if not entry.verify_command:
            self.notify(f"{entry.session} has no verify command (set `verify` in the layout)", severity="error",
                        timeout=6, markup=False)
            return
        if entry.session in self.verifying:
            return
        self.verifying.add(entry.session)
        self._show_rows()
        if entry.session == self.current:
            self.query_one("#review-verify", Static).update(verify_text(entry, self.palette, True))
        self._reverify(entry.session)

    def action_shell(self) -> None:
        entry = self._selected()
        if entry is None:
            return
        path = Path(entry.worktree)
        if not entry.worktree or not path.is_dir():
            self.notify(f"the worktree of {entry.session} is gone ({entry.worktree or 'not recorded'})",
                        severity="error", timeout=6, markup=False)
            return
        self.run_worker(self._shell(path), name=f"shell {entry.session}", group="shell", exclusive=True,
                        exit_on_error=False)

    async def _shell(self, path: Path) -> None:
        shell = os.environ.get("SHELL") or "/bin/sh"
        if await run_suspended(self.app, [shell], cwd=path) is None:
            self.notify(f"a shell needs a real terminal; run: cd {shlex.quote(str(path))}", title="shell",
                        timeout=10, markup=False)
