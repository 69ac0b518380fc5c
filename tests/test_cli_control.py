"""`cortex-tui stop|restart|logs SESSION`, `down` (one run, several runs, --all), `--version`, completion.

Real parts: a background supervisor (`up --detach`), real tmux, real git, the sim agent, a real bash
sourcing the completion script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until
from engine_helpers import cli, status_json

LAYOUT = """
[run]
name = "ctl"
[defaults]
agent = "sim"
[[session]]
name = "talker"
script = ["say line one", "say line two", "say \\u001b]0;pwned\\u0007 title attempt", "listen 120"]
[[session]]
name = "sleeper"
script = ["say sleeping now", "sleep 120"]
"""


def _state(repo: Path, name: str) -> str:
    return str(next(s["state"] for s in status_json(repo)["sessions"] if s["name"] == name))


def _log(repo: Path, run: str, slug: str) -> str:
    p = repo / "coordination" / "runs" / run / "logs" / f"{slug}.log"
    return p.read_text(errors="replace") if p.exists() else ""


@pytest.fixture
def live_run(git_repo: Path, tmp_path: Path) -> Path:
    layout = tmp_path / "ctl.toml"
    layout.write_text(LAYOUT)
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    wait_until(lambda: _state(git_repo, "sleeper") == "running" and _state(git_repo, "talker") == "running",
               timeout=30, what="both running")
    wait_until(lambda: "sleeping now" in _log(git_repo, "ctl", "sleeper"), timeout=20, what="sleeper printed")
    return git_repo


def test_stop_restart_logs_through_the_background_supervisor(live_run: Path) -> None:
    repo = live_run
    r = cli("stop", "sleeper", "--repo", str(repo))
    assert "stopped 'sleeper'" in r.stdout and "kept" in r.stdout
    assert _state(repo, "sleeper") == "stopped"
    assert _state(repo, "talker") == "running"  # only that one
    assert status_json(repo)["supervisor"]["alive"]  # the supervisor did it and still runs

    r = cli("restart", "sleeper", "--repo", str(repo))
    assert "restarted 'sleeper'" in r.stdout
    wait_until(lambda: _state(repo, "sleeper") == "running", timeout=20, what="running again")
    wait_until(lambda: _log(repo, "ctl", "sleeper").count("sleeping now") >= 2, timeout=20, what="second run")

    wait_until(lambda: "title attempt" in _log(repo, "ctl", "talker"), timeout=20, what="talker printed")
    r = cli("logs", "talker", "--repo", str(repo), "--lines", "200")
    assert "line one" in r.stdout and "line two" in r.stdout
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout  # the agent's escape sequences never reach us
    last = cli("logs", "talker", "--repo", str(repo), "--lines", "1").stdout.splitlines()
    assert len(last) == 1

    bad = cli("stop", "nobody", "--repo", str(repo), check=False)
    assert bad.returncode == 2 and "no session named 'nobody'" in bad.stderr

    r = cli("down", "--repo", str(repo))
    assert "detached" not in r.stdout
    assert "stopped supervisor" in r.stdout and "stopped talker" in r.stdout


def test_attach_takes_the_window_from_the_live_supervisor_not_a_lagging_state_file(live_run: Path,
                                                                                    tmp_path: Path) -> None:
    """state.json is saved behind the engine (up to 0.25 s, and not at all for a quiet session): `attach` asks the
    live supervisor which window the session has. Here the saved window id is wrong on purpose."""
    from cortex_tui.backends.tmux import socket_name

    repo = live_run
    state_file = repo / "coordination/runs/ctl/state.json"

    def saved() -> dict[str, Any]:
        return dict(json.loads(state_file.read_text()))
    # the state file follows the engine (the spawn's own save is from before its window existed)
    wait_until(lambda: saved()["sessions"]["sleeper"]["window_id"], timeout=20, what="the window id saved")
    data = saved()
    real = data["sessions"]["sleeper"]["window_id"]
    data["sessions"]["sleeper"]["window_id"] = "@999"
    state_file.write_text(json.dumps(data))
    inner = ["tmux", "-L", socket_name("ctl", repo / "coordination")]
    outer = ["tmux", "-S", str(tmp_path / "outer.sock"), "-f", "/dev/null"]
    subprocess.run([*outer, "new-session", "-d", "-x", "120", "-y", "32",
                    f"{sys.executable} -m cortex_tui.cli attach sleeper --repo {repo}; sleep 60"], check=True)
    try:
        def attached() -> list[str]:
            r = subprocess.run([*inner, "list-clients", "-F", "#{window_id}"], capture_output=True, text=True)
            return r.stdout.split()

        wait_until(lambda: attached() == [real], timeout=30, what="a client attached to the sleeper's real window")
    finally:
        subprocess.run([*outer, "kill-server"], capture_output=True)


def test_logs_follow_ends_when_the_session_ends(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "f.toml"
    layout.write_text('[run]\nname = "fol"\n[defaults]\nagent = "sim"\n[[session]]\nname = "short"\n'
                      'script = ["say first", "sleep 2", "say second", "exit 3"]\n')
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    wait_until(lambda: "first" in _log(git_repo, "fol", "short"), timeout=30, what="first line")
    r = cli("logs", "short", "--repo", str(git_repo), "-f", "--lines", "5", timeout=60)
    assert "first" in r.stdout and "second" in r.stdout  # printed while following
    assert "ended: failed (exit 3)" in r.stderr


def test_stop_without_a_supervisor_and_restart_starts_one(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "n.toml"
    layout.write_text('[run]\nname = "nos"\n[defaults]\nagent = "sim"\n[[session]]\nname = "quick"\n'
                      'script = ["say hi there", "exit 0"]\n')
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", timeout=90)
    assert r.returncode == 0
    st = status_json(git_repo)
    assert not st["supervisor"]["alive"] and st["sessions"][0]["state"] == "finished"
    r = cli("stop", "quick", "--repo", str(git_repo))
    assert "not running" in r.stdout
    r = cli("restart", "quick", "--repo", str(git_repo), timeout=90)
    assert "restarted 'quick'" in r.stdout
    wait_until(lambda: _log(git_repo, "nos", "quick").count("hi there") >= 2, timeout=30, what="ran again")
    cli("down", "--repo", str(git_repo), check=False)


def test_stop_and_restart_with_a_supervisor_that_serves_no_api_say_so_and_touch_nothing(git_repo: Path,
                                                                                          tmp_path: Path) -> None:
    layout = tmp_path / "noapi.toml"
    layout.write_text('[run]\nname = "noapi"\n[defaults]\nagent = "sim"\n[[session]]\nname = "s"\n'
                      'script = ["say up", "sleep 120"]\n')
    cli("up", str(layout), "--repo", str(git_repo), "--detach", "--api-port", "-1")
    try:
        wait_until(lambda: _state(git_repo, "s") == "running", timeout=30, what="s running")
        pid = status_json(git_repo)["supervisor"]["pid"]
        for what in ("stop", "restart"):
            r = cli(what, "s", "--repo", str(git_repo), check=False)
            assert r.returncode != 0, r.stdout
            assert f"(pid {pid}) serves no API" in r.stderr and "--api-port -1" in r.stderr, r.stderr
            assert "is a supervisor running?" not in r.stderr
        assert _state(git_repo, "s") == "running"
    finally:
        cli("down", "--repo", str(git_repo), check=False)


def test_down_with_several_live_runs_lists_them_and_all_stops_them(git_repo: Path, tmp_path: Path) -> None:
    for name in ("one", "two"):
        layout = tmp_path / f"{name}.toml"
        layout.write_text(f'[run]\nname = "{name}"\n[defaults]\nagent = "sim"\n[[session]]\nname = "s"\n'
                          'script = ["sleep 120"]\n')
        cli("up", str(layout), "--repo", str(git_repo), "--detach")
    r = cli("down", "--repo", str(git_repo), check=False)
    assert r.returncode == 2
    assert "2 live runs" in r.stdout and "one (" in r.stdout and "two (" in r.stdout
    assert "--all" in r.stderr
    assert status_json(git_repo)["supervisor"]["alive"]  # nothing was stopped
    r = cli("down", "--repo", str(git_repo), "--all")
    assert r.stdout.count("stopped supervisor") == 2
    again = cli("down", "--repo", str(git_repo))
    assert "not running" in again.stdout


def test_version() -> None:
    from importlib.metadata import version

    r = cli("--version")
    assert r.stdout.strip() == f"cortex-tui {version('cortex-tui')}"


def test_completion_scripts_and_session_names(live_run: Path, tmp_path: Path) -> None:
    repo = live_run
    for shell in ("bash", "zsh", "fish"):
        assert "_CORTEX_TUI_COMPLETE" in cli("completion", shell).stdout
    assert cli("completion", "tcsh", check=False).returncode == 2
    bash = shutil.which("bash")
    assert bash is not None
    script = tmp_path / "c.bash"
    script.write_text(cli("completion", "bash").stdout)
    prog_dir = tmp_path / "bin"
    prog_dir.mkdir()
    (prog_dir / "cortex-tui").write_text(f"#!/bin/sh\nexec {sys.executable} -m cortex_tui.cli \"$@\"\n")
    (prog_dir / "cortex-tui").chmod(0o755)

    def complete(line: str) -> list[str]:
        words = line.split(" ")
        prog = (f'source {script}; COMP_WORDS=({" ".join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; '
                '_cortex_tui_completion cortex-tui; printf "%s\\n" "${COMPREPLY[@]}"')
        r = subprocess.run([bash, "-c", prog], capture_output=True, text=True, cwd=repo, timeout=60,
                           env={"PATH": f"{prog_dir}:/usr/bin:/bin", "HOME": str(tmp_path)})
        return [w for w in r.stdout.splitlines() if w]

    assert set(complete("cortex-tui logs ")) == {"talker", "sleeper"}
    assert complete("cortex-tui stop sl") == ["sleeper"]
    assert "restart" in complete("cortex-tui res")
    fish = subprocess.run([sys.executable, "-m", "cortex_tui.cli"], capture_output=True, text=True, cwd=repo,
                          env={"PATH": "/usr/bin:/bin", "_CORTEX_TUI_COMPLETE": "complete_fish",
                               "_TYPER_COMPLETE_FISH_ACTION": "get-args",
                               "_TYPER_COMPLETE_ARGS": "cortex-tui attach ta", "HOME": str(tmp_path)}, timeout=60)
    assert fish.stdout.split() == ["talker"]
    zsh = subprocess.run([sys.executable, "-m", "cortex_tui.cli"], capture_output=True, text=True, cwd=repo,
                         env={"PATH": "/usr/bin:/bin", "_CORTEX_TUI_COMPLETE": "complete_zsh",
                              "_TYPER_COMPLETE_ARGS": "cortex-tui restart ", "HOME": str(tmp_path)}, timeout=60)
    assert '"talker"' in zsh.stdout and '"sleeper"' in zsh.stdout


def test_status_json_shows_verify_of_an_interactive_run(git_repo: Path, tmp_path: Path) -> None:
    """Today: `verify: null` in `status --json` after the session finished and verified (only `review` had it)."""
    layout = tmp_path / "v.toml"
    layout.write_text('[run]\nname = "ver"\nverify = "test -f v.txt"\n[defaults]\nagent = "sim"\n'
                      '[[session]]\nname = "work"\nscript = ["write v.txt v", "commit v"]\n'
                      '[[session]]\nname = "idle"\nscript = ["sleep 120"]\n')
    cli("up", str(layout), "--repo", str(git_repo), "--detach")

    def verified() -> bool:
        s = next(s for s in status_json(git_repo)["sessions"] if s["name"] == "work")
        return s["verify"] is not None

    wait_until(verified, timeout=60, what="verify recorded")
    work = next(s for s in status_json(git_repo)["sessions"] if s["name"] == "work")
    assert work["verify"]["exit_code"] == 0 and work["review_status"] == "pending"
    assert "verify ok" in cli("status", "--repo", str(git_repo)).stdout
    cli("down", "--repo", str(git_repo))


def test_quitting_the_tui_hands_the_run_back_to_a_background_supervisor(git_repo: Path, tmp_path: Path) -> None:
    """`up --detach`, then `up` (the TUI takes over), then `q`: a background supervisor watches the run again,
    and the TUI says what keeps running. Real terminal: the TUI runs in a pane of a tmux server of its own."""
    from cortex_tui.backends.tmux import Tmux
    from cortex_tui.store.files import RunStore

    layout = tmp_path / "h.toml"
    layout.write_text('[run]\nname = "hand"\n[defaults]\nagent = "sim"\n[[session]]\nname = "s"\n'
                      'script = ["say hello", "sleep 300"]\n')
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    store = RunStore(git_repo / "coordination", "hand")
    first = store.lock_holder()
    assert first
    term = Tmux("ctx-test-term")
    out = tmp_path / "tui.out"
    cmd = (f"{sys.executable} -m cortex_tui.cli up {layout} --repo {git_repo} > /dev/tty 2>&1; "
           f"echo EXIT=$? > {out}; sleep 120")
    term.run("new-session", "-d", "-x", "120", "-y", "40", "-s", "t", cmd)
    try:
        wait_until(lambda: store.lock_holder() not in (None, first), timeout=60, what="the TUI took the run over")
        tui_pid = store.lock_holder()
        time.sleep(2.0)  # let the app settle before the key
        term.run("send-keys", "-t", "t", "q")

        def pane() -> str:
            return term.run("capture-pane", "-p", "-J", "-t", "t", "-S", "-60")

        wait_until(lambda: "keep supervising in the background? [Y/n]" in pane(), timeout=60, what="the question")
        term.run("send-keys", "-t", "t", "Enter")  # the default: yes
        wait_until(lambda: out.exists(), timeout=60, what="the TUI exited")
        screen = term.run("capture-pane", "-p", "-J", "-t", "t", "-S", "-60")
        assert "EXIT=0" in out.read_text()
        holder = store.lock_holder()
        assert holder not in (None, first, tui_pid)  # a new background supervisor has the run
        assert "still running: 1 session(s)" in screen and "supervised in the background" in screen, screen
        assert "cortex-tui down" in screen and "to come back" in screen
        assert _state(git_repo, "s") == "running"
    finally:
        term.kill_server()
        cli("down", "--repo", str(git_repo), check=False)


ASKER = """
[run]
name = "asks"
[defaults]
agent = "sim"
[[session]]
name = "asker"
script = ["ask Go on?", "say went on", "listen 120"]
"""


def _saved(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "state.json").read_text())
    return data


def _stale(run_dir: Path, session: str) -> None:
    """state.json as a supervisor that has not saved yet would leave it: the session not started (no pane)."""
    data = _saved(run_dir)
    data["sessions"][session].update(state="pending", pane_id=None, window_id=None, pane_pid=None)
    tmp = run_dir / "state.json.test"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, run_dir / "state.json")


def test_approve_send_interrupt_go_through_the_live_supervisor(git_repo: Path, tmp_path: Path) -> None:
    """With a supervisor holding the run, approve/deny/send act through its API (it knows the pane and the
    state now), never on the state.json it saves up to 0.25 s later."""
    layout = tmp_path / "asks.toml"
    layout.write_text(ASKER)
    cli("up", str(layout), "--repo", str(git_repo), "--detach")
    run_dir = git_repo / "coordination" / "runs" / "asks"
    wait_until(lambda: _saved(run_dir)["sessions"]["asker"]["state"] == "waiting", timeout=60, what="waiting")
    _stale(run_dir, "asker")
    r = cli("approve", "asker", "--repo", str(git_repo), check=False)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: "went on" in _log(git_repo, "asks", "asker"), timeout=30, what="approved and went on")
    _stale(run_dir, "asker")
    cli("send", "asker", "hello; $(touch pwned) #{pane_pid}", "--repo", str(git_repo))
    wait_until(lambda: "received: hello; $(touch pwned) #{pane_pid}" in _log(git_repo, "asks", "asker"),
               timeout=30, what="the text arrived literally")
    assert not (git_repo / "pwned").exists()
    # nothing is waiting now: the supervisor refuses, no keypress goes to the pane
    again = cli("approve", "asker", "--repo", str(git_repo), check=False)
    assert again.returncode != 0 and "not waiting for approval" in again.stderr
    nobody = cli("send", "nobody", "x", "--repo", str(git_repo), check=False)
    assert nobody.returncode == 2 and "no session named 'nobody'" in nobody.stderr
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    acts = [(e["data"]["action"], e["data"].get("origin")) for e in events if e["kind"] == "action"]
    assert acts == [("approve", "cli"), ("send", "cli")]  # the supervisor did both, and said who asked
    cli("down", "--repo", str(git_repo))
