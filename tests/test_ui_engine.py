"""The TUI against the real engine: real tmux server, real git repo, the bundled sim agent."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from conftest import wait_until
from textual.pilot import Pilot

from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout
from cortex_tui.model.state import SessionState
from cortex_tui.ui.app import CortexApp
from cortex_tui.ui.screens.confirm import ConfirmScreen
from cortex_tui.ui.screens.session import SessionScreen
from cortex_tui.ui.widgets.pane_mirror import PaneMirror
from cortex_tui.ui.widgets.trigger_history import TriggerHistory

LAYOUT = """
[run]
name = "uitest"
base = "main"

[defaults]
agent = "sim"

[[session]]
name = "talker"
script = ["say hello from talker", "listen 60", "say bye"]

[[session]]
name = "asker"
script = ["say about to ask", "ask Deploy to prod?", "say continuing after approval", "listen 60"]

[[session]]
name = "sleeper"
script = ["say sleeping now", "sleep 120"]
"""


def make_supervisor(repo: Path, tmp_path: Path) -> Supervisor:
    path = tmp_path / "layout.toml"
    path.write_text(LAYOUT)
    return Supervisor(parse_layout(LAYOUT, path), repo)


async def until(pilot: Pilot[None], pred: object, timeout: float = 20.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}")


async def select_row(pilot: Pilot[None], app: CortexApp, name: str) -> None:
    """Move the cursor with real key presses until ``name`` is under it."""
    await pilot.press("home")
    for _ in range(len(app.sessions)):
        if app.dashboard.table.current_key == name:
            return
        await pilot.press("down")
    assert app.dashboard.table.current_key == name


def log_text(sup: Supervisor, slug: str) -> str:
    p = sup.store.logs_dir / f"{slug}.log"
    return p.read_text(errors="replace") if p.exists() else ""


async def test_real_run_message_approve_stop_restart_quit(git_repo: Path, tmp_path: Path) -> None:
    sup = make_supervisor(git_repo, tmp_path)
    app = CortexApp(sup)
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: app.dashboard.table.row_count == 3, what="3 rows")
        await until(pilot, lambda: app.sessions["asker"].state is SessionState.WAITING, what="asker waiting")
        await until(pilot, lambda: app.dashboard.table.keys_in_order()[0] == "asker", what="waiting row on top")

        # open the talker, type a message; the sim agent echoes it
        await select_row(pilot, app, "talker")
        await pilot.press("enter")
        assert isinstance(app.screen, SessionScreen) and app.screen.session == "talker"
        mirror = app.screen.query_one(PaneMirror)
        await until(pilot, lambda: "hello from talker" in mirror.plain, what="pane mirror")
        await pilot.press("m", *"ping from the ui", "enter")
        await until(pilot, lambda: "received: ping from the ui" in mirror.plain, what="echo in the mirror")
        assert "received: ping from the ui" in log_text(sup, "talker")

        # approve the waiting ask from its session view
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, type(app.dashboard))
        await select_row(pilot, app, "asker")
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, SessionScreen) and screen.session == "asker"
        mirror = screen.query_one(PaneMirror)
        await until(pilot, lambda: "Deploy to prod? [y/n]" in mirror.plain, what="the question")
        history = screen.query_one(TriggerHistory)
        assert "approval_waiting" in str(history.render())
        assert "Deploy to prod?" in str(history.render())  # evidence: the prompt text
        await pilot.press("a")
        await until(pilot, lambda: "continuing after approval" in mirror.plain, what="sim continues")
        assert "✓ approved" in log_text(sup, "asker")

        # stop and restart the sleeper from the dashboard
        await pilot.press("escape")
        await select_row(pilot, app, "sleeper")
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="stop asks first")
        await pilot.press("y")
        await until(pilot, lambda: app.sessions["sleeper"].state is SessionState.STOPPED, what="stopped")
        stopped_row = app.dashboard.table.get_row("sleeper")
        await until(pilot, lambda: "stopped" in app.dashboard.table.get_row("sleeper")[1].plain, what="row shows it")
        assert stopped_row is not None
        # wait for the stop to finish: a restart during its 1.5 s grace period gets the new agent killed
        # (Supervisor._stop_pane reads rec.pane_pid after the restart replaced it; reported to the engine)
        await until(pilot, lambda: not any(w.name == "stop sleeper" and not w.is_finished for w in app.workers),
                    what="stop done")
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="restart asks first")
        await pilot.press("y")
        await until(pilot, lambda: app.sessions["sleeper"].state is SessionState.RUNNING, what="restarted")
        await until(pilot, lambda: log_text(sup, "sleeper").count("sleeping now") >= 2, timeout=20,
                    what="second run printed")

        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, what="app exit")

    # quitting left every agent running in tmux
    windows = {w.tag: w for w in sup.tmux.list_windows() if w.tag}
    assert {"talker", "asker", "sleeper"} <= set(windows)
    assert not any(w.dead for w in windows.values())
    assert sup.store.try_lock()  # the UI released the run's lock on the way out
    sup.store.unlock()


async def test_approve_clears_the_waiting_state(git_repo: Path, tmp_path: Path) -> None:
    sup = make_supervisor(git_repo, tmp_path)
    app = CortexApp(sup)
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: app.sessions.get("asker") is not None
                    and app.sessions["asker"].state is SessionState.WAITING, what="asker waiting")
        await select_row(pilot, app, "asker")
        await pilot.press("a")
        await until(pilot, lambda: "continuing after approval" in log_text(sup, "asker"), what="sim continues")
        await until(pilot, lambda: app.sessions["asker"].state is SessionState.RUNNING, timeout=10,
                    what="asker running again")
        assert not [t for t in app.sessions["asker"].active_triggers() if t.kind == "approval_waiting"]
        def row() -> list[str]:
            return [c.plain for c in app.dashboard.table.get_row("asker")]

        await until(pilot, lambda: "running" in row()[1] and "approval" not in row()[3], what="row shows running")
        await pilot.press("q")


APP_SCRIPT = """
import sys
from pathlib import Path
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import load_layout
from cortex_tui.ui.app import run_tui
run_tui(Supervisor(load_layout(sys.argv[1]), Path(sys.argv[2])))
"""


def test_attach_suspends_and_returns_in_a_real_terminal(git_repo: Path, tmp_path: Path) -> None:
    """Run the TUI in a real terminal (an outer tmux pane), attach with `t`, detach, and be back."""
    layout = tmp_path / "layout.toml"
    layout.write_text(LAYOUT)
    script = tmp_path / "app.py"
    script.write_text(APP_SCRIPT)
    outer = ["tmux", "-L", "outer-term", "-f", "/dev/null"]

    def capture() -> str:
        return subprocess.run([*outer, "capture-pane", "-p", "-t", "ui"], capture_output=True, text=True).stdout

    subprocess.run([*outer, "new-session", "-d", "-s", "ui", "-x", "120", "-y", "32",
                    f"{sys.executable} {script} {layout} {git_repo}; sleep 30"], check=True)
    try:
        wait_until(lambda: "asker" in capture() and "waiting" in capture(), timeout=60, what="dashboard in terminal")
        wait_until(lambda: capture().split("\n")[2].lstrip().startswith("asker"), timeout=40, what="asker row first")
        # the cursor stays on the session it is on while rows re-sort: Home puts it on the asker's row
        subprocess.run([*outer, "send-keys", "-t", "ui", "Home"], check=True)
        subprocess.run([*outer, "send-keys", "-t", "ui", "t"], check=True)  # attach to the highlighted session
        # the inner tmux takes over the terminal: the sim's screen and tmux's status line
        wait_until(lambda: "Deploy to prod? [y/n]" in capture() and "Session" not in capture(), timeout=30,
                   what="attached view of the asker window")
        # answer the prompt directly in the attached agent, then detach the inner client
        subprocess.run([*outer, "send-keys", "-t", "ui", "y", "Enter"], check=True)
        wait_until(lambda: "continuing after approval" in capture(), what="typed into the agent itself")
        from cortex_tui.backends.tmux import socket_name

        inner = ["tmux", "-L", socket_name("uitest", git_repo / "coordination")]
        subprocess.run([*inner, "detach-client", "-s", "=cortex"], check=True)
        wait_until(lambda: "Session" in capture() and "uitest" in capture(), timeout=30, what="dashboard back")
        # supervision went on while attached: the engine read the agent's new output
        wait_until(lambda: "continuing after approval" in
                   (git_repo / "coordination" / "runs" / "uitest" / "logs" / "asker.log").read_text(errors="replace"),
                   what="log written while attached")
        subprocess.run([*outer, "send-keys", "-t", "ui", "q"], check=True)
        wait_until(lambda: "Session" not in capture(), timeout=30, what="app quit")
        wins = subprocess.run([*inner, "list-windows", "-a", "-F", "#{window_name}"], capture_output=True,
                              text=True).stdout
        assert {"talker", "asker", "sleeper"} <= set(wins.split())
    finally:
        subprocess.run([*outer, "kill-server"], capture_output=True)


async def test_handover_signal_closes_the_app_and_leaves_agents_running(git_repo: Path, tmp_path: Path) -> None:
    import os
    import signal

    sup = make_supervisor(git_repo, tmp_path)
    app = CortexApp(sup)
    async with app.run_test(size=(120, 32)) as pilot:
        await until(pilot, lambda: app.sessions.get("sleeper") is not None
                    and app.sessions["sleeper"].state is SessionState.RUNNING, what="sleeper running")
        os.kill(os.getpid(), signal.SIGUSR1)  # what another supervisor sends when it takes the run over
        await until(pilot, lambda: not app.is_running, what="app left")
    assert app._exit_message is not None and "took over" in app._exit_message
    windows = {w.tag: w for w in sup.tmux.list_windows() if w.tag}
    assert "sleeper" in windows and not windows["sleeper"].dead
    assert sup.store.try_lock()
    sup.store.unlock()


def test_best_of_in_a_terminal_opens_compare_when_all_variants_ended(git_repo: Path, tmp_path: Path) -> None:
    """`best-of` without --headless in a real terminal: the TUI supervises the variants, compares them when the
    last one ended, shows Compare; quitting prints the ranking and exits like headless."""
    import json

    from test_bestof import SCRIPTS, TASK, VERIFY

    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps(SCRIPTS))
    outer = ["tmux", "-L", "outer-bestof", "-f", "/dev/null"]

    def capture() -> str:
        return subprocess.run([*outer, "capture-pane", "-p", "-t", "ui"], capture_output=True, text=True).stdout

    cmd = (f"{sys.executable} -m cortex_tui.cli best-of 3 --task '{TASK}' --agents sim --repo {git_repo} "
           f"--verify '{VERIFY}' --scope 'ok.txt,src/**' --sim-scripts {scripts} --name boui; echo EXIT=$?; sleep 60")
    subprocess.run([*outer, "new-session", "-d", "-s", "ui", "-x", "140", "-y", "40", cmd], check=True)
    try:
        wait_until(lambda: "variant-2" in capture() and "Session" in capture(), timeout=60, what="dashboard")
        wait_until(lambda: "Compare" in capture() and "winner" in capture() and "★" in capture(), timeout=90,
                   what="Compare screen opened by itself")
        assert (git_repo / "coordination" / "runs" / "boui" / "bestof.json").exists()
        subprocess.run([*outer, "send-keys", "-t", "ui", "q"], check=True)
        wait_until(lambda: "EXIT=" in capture(), timeout=30, what="app quit")
        out = capture()
        assert "EXIT=0" in out and "Winner: variant-3" in out, out
    finally:
        subprocess.run([*outer, "kill-server"], capture_output=True)
        from cortex_tui.backends.tmux import socket_name

        subprocess.run(["tmux", "-L", socket_name("boui", git_repo / "coordination"), "kill-server"],
                       capture_output=True)
