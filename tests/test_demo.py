"""The demo keeps its promise: all 8 trigger kinds, headless and in the TUI (no key pressed), verify needs
no pytest, the run's tmux server goes when it ends, old demo folders do not pile up.

Real parts: the bundled demo layout, sim agents, real tmux and git; the TUI through Textual's Pilot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from test_ui_engine import until

from cortex_tui.backends.tmux import Tmux
from cortex_tui.demo import PLANNED_FAILURE, fired_kinds, make_demo_repo, new_demo_root
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import load_layout
from cortex_tui.model.layout import TRIGGER_KINDS
from cortex_tui.ui.app import CortexApp


def test_headless_demo_fires_all_eight_and_verifies_without_pytest(tmp_path: Path) -> None:
    d = tmp_path / "demo"
    # a PATH with python3 and the tools, but this venv's pytest nowhere importable by the verify command
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/bin:/bin"
    r = subprocess.run([sys.executable, "-m", "cortex_tui.cli", "demo", "--headless", "--dir", str(d)],
                       capture_output=True, text=True, timeout=240, env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"session {PLANNED_FAILURE!r} fails on purpose" in r.stderr
    assert "demo: all 8 triggers fired" in r.stderr, r.stderr[-3000:]
    report = json.loads((d / "repo" / "coordination" / "demo-report.json").read_text())
    kinds = {t["kind"] for s in report["sessions"] for t in s["triggers"]}
    assert kinds == set(TRIGGER_KINDS)
    for s in report["sessions"]:
        if s["name"] == PLANNED_FAILURE:
            assert s["failure"] and "exit code 1" in s["failure"]
        else:
            assert s["failure"] is None, s
            assert s["verify"] is not None and s["verify"]["exit_code"] == 0, s  # stdlib unittest, no pytest
    state = json.loads((d / "repo" / "coordination" / "runs" / "demo" / "state.json").read_text())
    assert not Tmux(state["socket"]).alive()  # every session ended: the run's tmux server is gone
    assert (d / "repo" / "coordination" / "runs" / "demo" / "logs" / "api.log").exists()  # logs stay
    assert "TRIGGER memory: memory " in r.stderr and "MiB over the limit" in r.stderr  # units, no raw bytes
    assert "{'" not in r.stderr and "=[" not in r.stderr  # no Python reprs in what a person reads


async def test_tui_demo_shows_all_eight_without_a_key(tmp_path: Path) -> None:
    repo, layout = make_demo_repo(tmp_path / "demo")
    sup = Supervisor(load_layout(layout), repo)
    app = CortexApp(sup)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: hasattr(sup, "state") and set(fired_kinds(sup)) >= set(TRIGGER_KINDS),
                    timeout=90, what="all 8 trigger kinds")  # sup.state exists once the app started the engine
        ui = sup.state.sessions["ui"]
        assert {t.kind for t in ui.triggers} >= {"out_of_scope", "approval_waiting"}  # scope fired, no approval
        await pilot.press("q")


def test_demo_folders_keep_the_last_three(tmp_path: Path) -> None:
    home = tmp_path / "demos"
    made = []
    for _ in range(5):
        root, _removed = new_demo_root(home)
        made.append(root)
        time.sleep(0.01)
        os.utime(root, None)
    left = sorted(p for p in home.iterdir())
    assert left == sorted(made[-3:])
