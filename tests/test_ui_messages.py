"""#13 item 15: a hint the TUI shows names the key that does it, not the CLI command (the CLI keeps the
command). Real engine: a tmux server of its own, a git repo, the sim agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_ui_engine import make_supervisor, select_row, until

from cortex_tui.errors import CortexError, RefusedError
from cortex_tui.model.state import SessionState
from cortex_tui.ui import app as app_module
from cortex_tui.ui.app import CortexApp
from cortex_tui.ui.present.format import error_text


class NotingApp(CortexApp):
    CSS_PATH = str(Path(app_module.__file__).parent / "app.tcss")  # relative paths resolve from the subclass

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.notes: list[str] = []

    def notify(self, message: str, *args: Any, **kw: Any) -> None:
        self.notes.append(message)
        super().notify(message, *args, **kw)


def test_error_text_prefers_the_key_hint() -> None:
    both = CortexError("session 'x' is not waiting", "check `cortex-tui status`", key_hint="t attaches to it")
    assert error_text(both) == "session 'x' is not waiting\n  hint: t attaches to it"
    assert str(both) == "session 'x' is not waiting\n  hint: check `cortex-tui status`"  # the CLI's
    assert error_text(RefusedError("no", "run `cortex-tui review show`")).endswith("`cortex-tui review show`")
    assert error_text(KeyError("k")) == "KeyError: 'k'"


async def test_approve_on_a_session_not_waiting_names_the_key(git_repo: Path, tmp_path: Path) -> None:
    sup = make_supervisor(git_repo, tmp_path)
    app = NotingApp(sup)
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: app.dashboard.table.row_count == 3, what="3 rows")
        await until(pilot, lambda: app.sessions["talker"].state is SessionState.RUNNING, what="talker runs")
        await select_row(pilot, app, "talker")
        await pilot.press("a")
        await until(pilot, lambda: any("is not waiting for approval" in n for n in app.notes), timeout=30,
                    what="the refusal")
        note = next(n for n in app.notes if "is not waiting for approval" in n)
        assert "t attaches to it" in note and "cortex-tui" not in note, note
