"""``Q``: the run's task queue — the pool (size or min/max, slots in use, warm slots here and on each node),
counts per type (label), and every task by phase: pending with why it waits, running, done.

It reads only the engine's :meth:`queue` command (``Supervisor.queue``; ``GET /v1/queue`` on a remote engine):
the same :class:`~cortex_tui.engine.queue_view.TaskQueue` as ``cortex-tui queue --json``. It reloads on the
engine's events (the app calls :meth:`QueueScreen.queue_changed`) and every :data:`REFRESH_S` for the pool's
numbers, which change without an event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from cortex_tui.engine.queue_view import QueueTask, TaskQueue
from cortex_tui.errors import CortexError
from cortex_tui.text import visible
from cortex_tui.ui.engine_protocol import Queues
from cortex_tui.ui.messages import OpenSession
from cortex_tui.ui.present import Palette, palette_of
from cortex_tui.ui.present.format import error_text
from cortex_tui.ui.widgets.key_bar import KeyBar

REFRESH_S = 2.0
PHASES = ("pending", "running", "done")


def pool_text(q: TaskQueue, pal: Palette) -> Text:
    """One line about the pool: its limits, the slots in use, the warm slots (here and per node)."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{visible(q.run)}  ", style="bold")
    lim, pool = q.limits, q.pool
    if lim is None:
        t.append("no [pool]: every ready task starts", style=pal.muted)
    else:
        t.append("pool ", style="bold")
        t.append(f"size {lim.size}" if lim.size is not None else f"min {lim.min or 1} · max {lim.max or '-'}")
        slots = pool.get("slots")
        if slots is not None:
            t.append(f" · {pool.get('running', 0)}/{slots} slots in use")
        t.append(f" · {q.pending.count} queued")
        t.append(f" · {lim.strategy}", style=pal.muted)
        if lim.warm:
            t.append(" · warm ", style="bold")
            warm: dict[str, Any] = pool.get("warm") or {}
            t.append(f"{warm.get('ready', 0)}/{lim.warm} here", style=pal.success if warm.get("ready") else "")
            for node, w in sorted((warm.get("nodes") or {}).items()):
                t.append(f", {w.get('ready', 0)}/{w.get('wanted', lim.warm)} on {visible(node)}")
                if w.get("error") or w.get("broken"):  # a link down, a setup that fails there
                    t.append(f" ({visible(str(w.get('broken') or w.get('error')))[:60]})", style=pal.error)
            if warm.get("broken"):
                t.append(f" (stopped: {visible(str(warm['broken']))})", style=pal.error)
    return t


def types_table(q: TaskQueue) -> Table:
    table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, header_style="bold")
    table.add_column("type")
    for phase in PHASES:
        table.add_column(phase, justify="right")
    for label, counts in sorted(q.by_type.items()):
        table.add_row(visible(label), *(str(counts.get(p, 0)) for p in PHASES))
    table.add_row(Text("all", style="bold"), *(str(getattr(q, p).count) for p in PHASES))
    return table


def ordered(q: TaskQueue) -> list[QueueTask]:
    """Pending first (in queue order), then running, then done."""
    return sorted(q.tasks, key=lambda t: PHASES.index(t.phase))


def task_row(t: QueueTask, pal: Palette) -> tuple[Text, ...]:
    style = {"pending": pal.warning, "running": pal.accent, "done": pal.muted}[t.phase]
    why = t.reason if t.phase == "pending" or t.state in ("failed", "stopped", "blocked") else ""
    return (Text(t.phase, style=style), Text(visible(t.name), style="bold"), Text(t.state),
            Text(visible(", ".join(t.labels) or "-")), Text(visible(t.agent)), Text(visible(t.node)),
            Text(visible(why or "")))


class QueueScreen(Screen[None]):
    """The task queue of the run (see the module doc)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+r", "reload", "Refresh"),
    ]
    DEFAULT_CSS = """
    QueueScreen #queue-pool { height: 1; background: $panel; }
    QueueScreen #queue-types { height: auto; max-height: 12; padding: 0 1; border-bottom: solid $primary 50%; }
    QueueScreen #queue-tasks { height: 1fr; }
    """

    def __init__(self, source: Queues) -> None:
        super().__init__()
        self.source = source
        self.data: TaskQueue | None = None
        self.loads = 0
        """Answers shown so far (tests read it)."""
        self.error: str | None = None
        self._loading = False
        self._again = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="queue-pool")
            yield Static(id="queue-types")
            yield DataTable(id="queue-tasks", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#queue-tasks", DataTable)
        table.add_columns("phase", "task", "state", "type", "agent", "node", "why")
        table.focus()
        self.set_interval(REFRESH_S, self.queue_changed)
        self.queue_changed()

    def queue_changed(self) -> None:
        """Something the queue shows may have changed: load it again (one load at a time; a burst of changes
        during one load makes one more)."""
        if not self.is_mounted:
            return
        if self._loading:
            self._again = True
            return
        self._loading = True
        self.run_worker(self._load(), group="queue", exit_on_error=False)

    async def _load(self) -> None:
        try:
            again = True
            while again:
                self._again = False
                try:
                    q = await self.source.queue()
                except CortexError as e:
                    self.error = error_text(e)
                    self.query_one("#queue-pool", Static).update(Text(f"queue: {self.error}", style="bold red"))
                    return
                self.error = None
                self.show(q)
                again = self._again
        finally:
            self._loading = False

    def show(self, q: TaskQueue) -> None:
        pal = palette_of(self.app)
        self.data = q
        self.query_one("#queue-pool", Static).update(pool_text(q, pal))
        self.query_one("#queue-types", Static).update(types_table(q))
        table = self.query_one("#queue-tasks", DataTable)
        current = self.current
        table.clear()
        for t in ordered(q):
            table.add_row(*task_row(t, pal), key=t.name)
        if current is not None and current in {t.name for t in q.tasks}:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        self.loads += 1

    @property
    def current(self) -> str | None:
        table = self.query_one("#queue-tasks", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        name = event.row_key.value
        if name is not None and (self.data is None or name not in self.data.inbox):  # an inbox task has no session
            self.post_message(OpenSession(str(name)))

    def action_reload(self) -> None:
        self.queue_changed()

    def action_back(self) -> None:
        self.dismiss()


def open_queue(app: App[Any], engine: object) -> None:
    """``Q`` (the app's binding): push the queue view on ``engine``, or say it has no queue."""
    if isinstance(app.screen, QueueScreen):
        return
    if not isinstance(engine, Queues):
        app.notify("this engine has no task queue to show", title="queue", severity="error", timeout=6)
        return
    app.push_screen(QueueScreen(engine))


def queue_changed(screens: Iterable[Screen[Any]]) -> None:
    """An engine event: every open queue view reloads."""
    for screen in screens:
        if isinstance(screen, QueueScreen):
            screen.queue_changed()
