"""Spawn benchmark: time for cortex-tui to bring N sessions to "running" vs the raw floor measured in
the same run. Prints the ratio.

    python benchmarks/spawn.py [--rounds 3] [--warm 10,20,50] [--warm-files 10,5000] [--no-cold]

The floor is the same work done by hand, sequentially: ``git worktree add`` of a new branch, the same
script file, and ``tmux new-window`` in the worktree running *the same agent* cortex-tui starts (the bundled
Python sim agent, same argv and environment, same ``sleep 60`` script) — not a bare ``sleep 60``, whose
window costs nothing to start while every cortex-tui window starts a Python interpreter on the same two
cores — and, on both sides, the start of the tmux server. What is left over is cortex-tui's own cost: its
start (lock, state), the exit-code wrapper, window options and ``pipe-pane`` of each window, and the events it
publishes.

The warm table (#17) takes N queued sessions from N warm slots made ahead (``[pool] warm``: worktree and idle
window ready; not timed) in a small and a 5,000-file repository. Its floor is what a pick-up cannot go below:
the same agent started by hand with ``tmux new-window`` in a worktree that already exists. What is left per
session is the pick-up itself (branch rename, worktree move, one tmux command, the agent's files, events).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, make_repo, pct, scratch

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


# ---------------------------------------------------------------- warm (#17): slots made ahead, then picked up
def warm_floor(root: Path, n: int, tag: str, files: int) -> float:
    """What a warm pick-up cannot go below: the agent started by hand in a new window in a worktree that is
    already there (``tmux new-window`` of the same sim agent, argv and environment, sequentially)."""
    repo = make_repo(root / f"wfloor-{tag}", files=files)
    sock = f"wfloor-{tag}"
    subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "f"], check=True)
    env = {"CORTEX_MODEL": "sim-1", "PYTHONPATH": child_pythonpath(None)}
    wts = []
    for i in range(n):  # not timed: the worktrees are what the warm slots hold ahead
        wt = repo / ".wt" / f"s{i}"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "-b", f"b{i}", str(wt), "main"], check=True)
        script = root / f"wfloor-{tag}-sessions" / f"s{i}.json"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(json.dumps(["sleep 60"]), encoding="utf-8")
        wts.append((wt, [sys.executable, "-m", "cortex_tui.agents.sim", "--script-file", str(script), f"--name=s{i}"]))
    t0 = time.perf_counter()
    for wt, argv in wts:
        subprocess.run(["tmux", "-L", sock, "new-window", "-t", "f:", "-c", str(wt),
                        *(a for k, v in env.items() for a in ("-e", f"{k}={v}")), shlex.join(argv)], check=True)
    dt = time.perf_counter() - t0
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    return dt


def cortex_warm(root: Path, n: int, tag: str, files: int) -> tuple[float, list[float], int]:
    """N queued sessions taken up from N warm slots made ahead (``[pool] size = N, warm = N``): seconds from the
    first scheduling pass to the last ``spawned``, each one's ``starting -> spawned``, and how many took a slot."""
    repo = make_repo(root / f"cwarm-{tag}", files=files)
    text = (f'[run]\nname = "wbench"\n[pool]\nsize = {n}\nwarm = {n}\n[defaults]\nagent = "sim"\n'
            + "".join(f'[[session]]\nname = "s{i}"\nscript = ["sleep 60"]\n' for i in range(n)))
    path = root / f"wlayout-{tag}.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    started: dict[str, float] = {}
    took: list[float] = []
    claimed: set[str] = set()

    async def main() -> float:
        done = asyncio.Event()

        def on(ev: Event) -> None:
            if ev.kind == "state" and ev.session and ev.data.get("state") == "starting":
                started[ev.session] = ev.ts
            elif ev.kind == "warm_slot" and ev.session and ev.data.get("action") == "claimed":
                claimed.add(ev.session)
            elif ev.kind == "spawned" and ev.session in started:
                took.append(ev.ts - started[ev.session or ""])
            elif ev.kind == "state" and ev.data.get("state") == "failed":
                raise SystemExit(f"session {ev.session} failed to spawn: {ev.data.get('reason')}")
            if len(took) == n:
                done.set()

        await sup.start()
        warm = sup.pool.warm
        assert warm is not None
        await asyncio.to_thread(warm.scan)  # not timed: the slots (worktree + idle window) are made ahead
        await asyncio.to_thread(warm.fill)
        sup.subscribe(on)
        t0 = time.perf_counter()
        task = asyncio.create_task(sup.supervise(until_done=False))
        await asyncio.wait_for(done.wait(), 300)
        dt = time.perf_counter() - t0
        sup.request_stop()
        await task
        await sup.shutdown()
        return dt

    dt = asyncio.run(main())
    sup.tmux.kill_server()
    return dt, took, len(claimed)


def warm_table(root: Path, sizes: list[int], files_list: list[int], rounds: int) -> None:
    print("\nwarm pick-up: N sessions from N warm slots vs the agent started by hand in a ready worktree")
    print(f"{'files':>5} {'N':>3} {'floor p50':>10} {'warm p50':>9} {'ratio':>6} {'beyond floor/session':>21} "
          f"{'starting->spawned p50':>22} {'took a slot':>11}")
    for files in files_list:
        for n in sizes:
            fl, cx, each, slots = [], [], [], []
            for r in range(rounds):
                fl.append(warm_floor(root, n, f"{files}-{n}-{r}", files))
                dt, took, claimed = cortex_warm(root, n, f"{files}-{n}-{r}", files)
                cx.append(dt)
                each += took
                slots.append(claimed)
            f50, c50 = pct(fl, 50), pct(cx, 50)
            print(f"{files:>5} {n:>3} {f50 * 1000:>8.0f}ms {c50 * 1000:>7.0f}ms {c50 / f50:>6.2f} "
                  f"{(c50 - f50) / n * 1000:>18.1f} ms {pct(each, 50) * 1000:>19.1f} ms {min(slots):>6}/{n}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warm", default="10,20,50", help="warm pick-up: session counts ('' skips the warm table)")
    ap.add_argument("--warm-files", default="10,5000", help="warm pick-up: files in the repository")
    ap.add_argument("--cold", action=argparse.BooleanOptionalAction, default=True, help="the cold table")
    add_keep(ap)
    args = ap.parse_args()
    with scratch(args.keep) as root:
        print(f"{'N':>3} {'floor p50':>10} {'cortex p50':>11} {'ratio':>6} {'overhead/session':>17}")
        for n in ((10, 20) if args.cold else ()):
            fl, cx = [], []
            for r in range(args.rounds):
                fl.append(floor(root, n, f"{n}-{r}"))
                cx.append(cortex(root, n, f"{n}-{r}"))
            f50, c50 = pct(fl, 50), pct(cx, 50)
            per = (c50 - f50) / n
            print(f"{n:>3} {f50 * 1000:>8.0f}ms {c50 * 1000:>9.0f}ms {c50 / f50:>6.2f} {per * 1000:>14.1f} ms")
        if args.warm:
            warm_table(root, [int(x) for x in args.warm.split(",")], [int(x) for x in args.warm_files.split(",")],
                       args.rounds)


if __name__ == "__main__":
    main()
