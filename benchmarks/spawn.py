"""Spawn benchmark: time for cortex-tui to bring N sessions to "running" vs the raw floor measured in
the same run (``git worktree add`` + ``tmux new-window`` by hand, sequentially). Prints the ratio.

    python benchmarks/spawn.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
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


def floor(root: Path, n: int, tag: str) -> float:
    repo = make_repo(root / f"floor-{tag}")
    sock = f"floor-{tag}"
    subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "f"], check=True)
    t0 = time.perf_counter()
    for i in range(n):
        wt = repo / ".wt" / f"s{i}"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "-b", f"b{i}", str(wt), "main"], check=True)
        subprocess.run(["tmux", "-L", sock, "new-window", "-t", "f:", "-c", str(wt), "sleep 60"], check=True)
    dt = time.perf_counter() - t0
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
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
