"""The plan screen: read a plan, edit a task's prompt, scope or model, then start it or save it.

Opened by ``cortex-tui plan … --run`` in a terminal, before anything runs. Its model is
:class:`cortex_tui.planner.draft.Draft` (every edit re-runs the layout loader and the independence test);
this module only shows it. ``PlanApp`` exits with ``("start" | "save", layout text)`` or None (quit).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Input, Label, Static, TextArea

from cortex_tui.independence import waves
from cortex_tui.planner.draft import Draft
from cortex_tui.planner.render import estimated_minutes, printable

CSS = """
#plan-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
#plan-tasks { height: 1fr; min-height: 5; }
#plan-edit { height: 2fr; padding: 0 1; }
#plan-edit Label { margin-top: 1; }
#plan-fields { height: auto; }
#plan-fields Vertical { width: 1fr; height: auto; }
#plan-prompt { height: 1fr; min-height: 4; }
#plan-why { height: auto; color: $text-muted; }
#plan-status { height: auto; max-height: 6; padding: 0 1; background: $panel; }
"""


class PlanApp(App[tuple[str, str] | None]):
    """A plan, editable; ``ctrl+r`` starts it, ``ctrl+s`` saves it, ``escape`` quits leaving the file as it is."""

    CSS = CSS
    TITLE = "cortex-tui plan"
    BINDINGS = [
        Binding("ctrl+r", "finish('start')", "Start", priority=True),
        Binding("ctrl+s", "finish('save')", "Save", priority=True),
        Binding("ctrl+e", "apply", "Apply edits", priority=True),
        Binding("escape", "quit_plan", "Quit"),
    ]

    def __init__(self, draft: Draft) -> None:
        super().__init__()
        self.draft = draft
        self.selected = draft.plan.tasks[0].name
        self.message = ""

    def compose(self) -> ComposeResult:
        yield Static(id="plan-title")
        yield DataTable(id="plan-tasks", cursor_type="row", zebra_stripes=True)
        with Vertical(id="plan-edit"):
            yield Static(id="plan-why")
            with Horizontal(id="plan-fields"):
                with Vertical():
                    yield Label("model")
                    yield Input(id="plan-model")
                with Vertical():
                    yield Label("scope (comma-separated globs)")
                    yield Input(id="plan-scope")
            yield Label("prompt")
            yield TextArea(id="plan-prompt", soft_wrap=True)
        yield Static(id="plan-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("wave", "task", "agent / model", "budget", "est", "after", "scope")
        self._fill_table()
        self._load(self.selected)
        table.focus()

    # ------------------------------------------------------------------------------------------ view
    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        plan = self.draft.plan
        ws = waves({t.name: list(t.depends_on) for t in plan.tasks})
        by = {t.name: t for t in plan.tasks}
        with self.prevent(DataTable.RowHighlighted):  # refilling is not the user moving to another task
            table.clear()
            for k, w in enumerate(ws, 1):
                for n in w:
                    t = by[n]
                    table.add_row(str(k), printable(n), printable(f"{t.agent} / {t.model}"), f"${t.budget_usd:.2f}",
                                  f"{t.estimate_minutes:g}m", printable(", ".join(t.depends_on) or "-"),
                                  printable(", ".join(t.scope))[:60], key=n)
            table.move_cursor(row=table.get_row_index(self.selected))
        total = sum(t.budget_usd for t in plan.tasks)
        self.query_one("#plan-title", Static).update(Text(printable(
            f"Plan: {self.draft.meta.goal} — {len(plan.tasks)} task(s), {len(ws)} wave(s), ~"
            f"{estimated_minutes(plan):g} min, ${total:.2f}"), no_wrap=True, overflow="ellipsis"))
        self._status()

    def _status(self) -> None:
        lines: list[Text] = []
        if self.message:
            lines.append(Text(printable(self.message), style="bold"))
        for e in self.draft.errors:
            lines.append(Text("error: " + printable(e), style="red"))
        for w in self.draft.warnings:
            lines.append(Text("warning: " + printable(w.splitlines()[0]), style="yellow"))
        if not self.draft.errors and not self.draft.warnings:
            lines.append(Text("valid; parallel sessions pass the independence test", style="green"))
        lines.append(Text("ctrl+e apply · ctrl+r start · ctrl+s save · esc quit", style="dim"))
        self.query_one("#plan-status", Static).update(Text("\n").join(lines))

    def _load(self, name: str) -> None:
        self.selected = name
        t = self.draft.task(name)
        why = f"{name}: {t.complexity}, {t.agent}" + (f" — {t.reasoning}" if t.reasoning else "")
        self.query_one("#plan-why", Static).update(Text(printable(why)))
        self.query_one("#plan-model", Input).value = t.model
        self.query_one("#plan-scope", Input).value = ", ".join(t.scope)
        self.query_one("#plan-prompt", TextArea).text = self.draft.prompt(name)

    # ------------------------------------------------------------------------------------------ edits
    def _apply(self, *, refill: bool = True) -> bool:
        """Apply the editors to the selected task; False when refused (the message says why)."""
        scope = [g.strip() for g in self.query_one("#plan-scope", Input).value.split(",") if g.strip()]
        model = self.query_one("#plan-model", Input).value.strip()
        prompt = self.query_one("#plan-prompt", TextArea).text
        t = self.draft.task(self.selected)
        changed = scope != t.scope or model != t.model or prompt != self.draft.prompt(self.selected)
        if not changed:
            return True
        problems = self.draft.edit(self.selected, prompt=prompt, scope=scope, model=model)
        self.message = "; ".join(problems) if problems else f"{self.selected}: edited"
        if refill:
            self._fill_table()
        return not problems

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value
        if name is None or name == self.selected:
            return
        if self._apply(refill=False):
            self._load(name)
        self._fill_table()  # a refused edit keeps the cursor on its task

    @on(Input.Submitted)
    def _submitted(self, _: Input.Submitted) -> None:
        self._apply()

    def action_apply(self) -> None:
        self._apply()

    def action_finish(self, how: str) -> None:
        if not self._apply():
            return
        if self.draft.errors:
            self.message = f"cannot {how}: fix the errors first"
            self._status()
            return
        self.exit((how, self.draft.text()))

    def action_quit_plan(self) -> None:
        self.exit(None)
