"""The TUI never writes agent-chosen control characters to the terminal (#12 item 2): a real run (real
tmux, git, sim agent) whose agent creates a file named with an OSC 52 clipboard write and ``\\e[2J``
(content with escapes too), and ``x\\n::error::y``; the dashboard, events panel, session view and review
screen (file list and diff) are rendered and their screenshots checked for raw ESC/BEL/C1 bytes, and
for the names shown as visible escapes."""

from __future__ import annotations

import time
from pathlib import Path

from textual.pilot import Pilot

from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout
from cortex_tui.model.state import SessionState
from cortex_tui.ui.app import CortexApp
from cortex_tui.ui.screens.session import SessionScreen

LAYOUT = r"""
[run]
name = "uinames"
[defaults]
agent = "sim"
[[session]]
name = "evil"
scope = ["src/**"]
script = ["write 'osc\u001b]52;c;cHduZWQ=\u0007-\u001b[2J.txt' clip\u001b]52;c;cHduZWQ=\u0007board",
          "write 'x\n::error::y' b", "commit add \u001b[2J files", "say done"]
"""

RAW = ("\x1b", "\x07", "\x9b")


async def until(pilot: Pilot[None], pred: object, timeout: float = 30.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}")


def _clean(where: str, app: CortexApp) -> str:
    shot = app.export_screenshot()
    raw = [c for c in RAW if c in shot]
    assert not raw, f"{where}: raw {raw!r} on screen"
    return shot


async def test_hostile_file_names_never_reach_the_terminal(git_repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "layout.toml"
    path.write_text(LAYOUT)
    sup = Supervisor(parse_layout(LAYOUT, path), git_repo)
    app = CortexApp(sup)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.sessions.get("evil") is not None
                    and app.sessions["evil"].state is SessionState.FINISHED
                    and len(app.sessions["evil"].changed_files) >= 2, what="evil finished with its files")
        await pilot.press("e")  # the events panel: trigger evidence carries the names
        await pilot.pause(0.3)
        _clean("dashboard + events", app)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SessionScreen), what="session view")
        await pilot.pause(0.5)
        shot = _clean("session view", app)
        assert "x\\n::error::y" in shot.replace("&#160;", " ") or "x\\n::error::y" in shot, "escaped name shown"
        await pilot.press("escape")
        await pilot.press("V")
        await pilot.pause(1.5)
        shot = _clean("review screen", app)
        assert "x1b]52" in shot
        await pilot.press("q")
