"""Spawn benchmark: time for cortex-tui to bring N sessions to "running" vs the raw floor measured in
the same run. Prints the ratio.

    python benchmarks/spawn.py [--rounds 3]

The floor is the same work done by hand, sequentially: ``git worktree add`` of a new branch, the same
script file, and ``tmux new-window`` in the worktree running *the same agent* cortex-tui starts (the bundled
Python sim agent, same argv and environment, same ``sleep 60`` script) — not a bare ``sleep 60``, whose
window costs nothing to start while every cortex-tui window starts a Python interpreter on the same two
cores — and, on both sides, the start of the tmux server. What is left over is cortex-tui's own cost: its
start (lock, state), the exit-code wrapper, window options and ``pipe-pane`` of each window, and the events it
publishes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import isolate, kill_servers, make_repo, pct

from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout
from cortex_tui.selfpath import child_pythonpath


def floor(root: Path, n: int, tag: str) -> float:
    repo = make_repo(root / f"floor-{tag}")
    sock = f"floor-{tag}"
    env = {"CORTEX_MODEL": "sim-1", "PYTHONPATH": child_pythonpath(None)}  # what SimAdapter.env gives
    t0 = time.perf_counter()  # the tmux server's start is timed on both sides (cortex-tui's start() makes its own)
    subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "f"], check=True)
    for i in range(n):
        wt = repo / ".wt" / f"s{i}"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "-b", f"b{i}", str(wt), "main"], check=True)
        sdir = root / f"floor-{tag}-sessions" / f"s{i}"
        sdir.mkdir(parents=True)
        script = sdir / "script.json"
        script.write_text(json.dumps(["sleep 60"]), encoding="utf-8")
        argv = [sys.executable, "-m", "cortex_tui.agents.sim", "--script-file", str(script), f"--name=s{i}"]
        subprocess.run(["tmux", "-L", sock, "new-window", "-t", "f:", "-c", str(wt),
                        *(a for k, v in env.items() for a in ("-e", f"{k}={v}")), shlex.join(argv)], check=True)
    dt = time.perf_counter() - t0
    time.sleep(2.0)  # not timed: every agent must have started and still run (a window closes when it exits)
    panes = subprocess.run(["tmux", "-L", sock, "list-panes", "-a", "-F", "#{pane_current_command}"],
                           capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    if len(panes) != n + 1:
        raise SystemExit(f"floor: {n + 1 - len(panes)} of {n} hand-started sim agents exited: {panes}")
    return dt


def cortex(root: Path, n: int, tag: str) -> float:
    repo = make_repo(root / f"cortex-{tag}")
    text = '[run]\nname = "bench"\n[defaults]\nagent = "sim"\n' + "".join(
        f'[[session]]\nname = "s{i}"\nscript = ["sleep 60"]\n' for i in range(n))
    path = root / f"layout-{tag}.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    running: set[str] = set()

    async def main() -> float:
        done = asyncio.Event()

        def on(ev: Event) -> None:
            if ev.kind == "spawned" and ev.session:
                running.add(ev.session)
            elif ev.kind == "state" and ev.data.get("state") == "failed":
                raise SystemExit(f"session {ev.session} failed to spawn: {ev.data.get('reason')}")
            if len(running) == n:
                done.set()

        sup.subscribe(on)
        t0 = time.perf_counter()
        await sup.start()
        task = asyncio.create_task(sup.supervise(until_done=False))
        await asyncio.wait_for(done.wait(), 120)
        dt = time.perf_counter() - t0
        sup.request_stop()
        await task
        await sup.shutdown()
        return dt

    dt = asyncio.run(main())
    sup.tmux.kill_server()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    root = isolate()
    print(f"{'N':>3} {'floor p50':>10} {'cortex p50':>11} {'ratio':>6} {'overhead/session':>17}")
    try:
        for n in (10, 20):
            fl, cx = [], []
            for r in range(args.rounds):
                fl.append(floor(root, n, f"{n}-{r}"))
                cx.append(cortex(root, n, f"{n}-{r}"))
            f50, c50 = pct(fl, 50), pct(cx, 50)
            per = (c50 - f50) / n
            print(f"{n:>3} {f50 * 1000:>8.0f}ms {c50 * 1000:>9.0f}ms {c50 / f50:>6.2f} {per * 1000:>14.1f} ms")
    finally:
        kill_servers(root)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
