"""Pool benchmark: 100 short sim tasks through ``[pool] size = 10`` and ``20`` (wall time vs the ideal, parallel
efficiency, the gap between two agents in one slot) and the pick-up time of a task from a warm slot vs cold,
each against a floor measured in the same run.

* Throughput: the ideal is ``ceil(100 / size) * task_s`` (every slot busy all the time, zero overhead). The
  floor runs the same 100 sim agent processes through a plain thread pool of the same size (no tmux, no git,
  no supervisor): what this machine gives at best. Efficiency = agent time / (size * wall), where an agent's
  time runs from its ``spawned`` event to its exit record (the wrapper writes it as the agent exits): the
  time after an exit that the supervisor spends looking at the session counts as lost, not as busy.
  (``spawned -> finished`` is printed beside it: the measure used before, which counted that look as busy.)
* Slot gap: from one agent's exit record to the next agent's ``spawned`` in the slot it freed (the k-th exit
  frees the slot of the (size+k)-th spawn), split into exit seen (watcher), admitted (the next task's
  ``starting``) and picked up (``spawned``).
* Pick-up: from ``starting`` to ``spawned`` (worktree, agent files, tmux window) for tasks queued behind a
  pool of 1, in a repository of ``--files`` files, with ``warm = 2`` vs ``warm = 0``; floor: a bare
  ``git worktree add`` in the same repository.

    python benchmarks/pool.py [--tasks 100] [--task-s 5] [--files 3000] [--pickups 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, make_repo, pct, scratch

from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout


def run_pool(root: Path, tag: str, *, tasks: int, size: int, warm: int, script: list[str],
             files: int = 10) -> tuple[float, list[Event], Supervisor]:
    repo = make_repo(root / f"repo-{tag}", files=files)
    steps = ", ".join(json.dumps(s) for s in script)
    text = (f'[run]\nname = "bench-{tag}"\n[pool]\nsize = {size}\nwarm = {warm}\n[defaults]\nagent = "sim"\n'
            + "".join(f'[[session]]\nname = "t{i}"\nscript = [{steps}]\n' for i in range(tasks)))
    path = root / f"layout-{tag}.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    seen: list[Event] = []
    sup.subscribe(seen.append)

    async def main() -> float:
        await sup.start()
        if warm:  # the slots are made ahead of the work (that is their point): wait until they are
            await asyncio.to_thread(sup.pool.warm.scan)  # type: ignore[union-attr]
            await asyncio.to_thread(sup.pool.warm.fill)  # type: ignore[union-attr]
        t0 = time.perf_counter()
        await asyncio.wait_for(sup.supervise(until_done=True), 3600)
        dt = time.perf_counter() - t0
        await sup.shutdown()
        return dt

    wall = asyncio.run(main())
    bad = {n: rt.rec.reason for n, rt in sup.rt.items() if rt.rec.state.value != "finished"}
    if bad:
        raise SystemExit(f"{tag}: tasks did not finish: {bad}")
    sup.tmux.kill_server()
    return wall, seen, sup


def floor_pool(root: Path, tag: str, *, tasks: int, size: int, script: list[str]) -> tuple[float, float]:
    """The same sim agent processes through a plain thread pool (no tmux, git or supervisor)."""
    d = root / f"floor-{tag}"
    d.mkdir()
    (d / "script.json").write_text(json.dumps([s for s in script if not s.startswith("commit")]))
    argv = [sys.executable, "-m", "cortex_tui.agents.sim", "--script-file", str(d / "script.json"), "--name=f"]

    def one(_: int) -> float:
        t = time.perf_counter()
        subprocess.run(argv, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                       check=True)
        return time.perf_counter() - t

    t0 = time.perf_counter()
    with ThreadPoolExecutor(size) as ex:
        busy = sum(ex.map(one, range(tasks)))
    return time.perf_counter() - t0, busy


def agent_time(events: list[Event]) -> float:
    """Seconds from ``spawned`` to ``finished`` (the measure used before), summed over the tasks."""
    spawned: dict[str, float] = {}
    total = 0.0
    for e in events:
        if e.kind == "spawned" and e.session:
            spawned[e.session] = e.ts
        elif e.kind == "finished" and e.session in spawned:
            total += e.ts - spawned.pop(e.session or "")
    return total


def timeline(events: list[Event], sup: Supervisor) -> dict[str, dict[str, float]]:
    """Per task: ``starting``, ``spawned``, ``seen`` (its exit seen), ``exit`` (its exit record's mtime)."""
    out: dict[str, dict[str, float]] = {}
    for e in events:
        if not e.session:
            continue
        d = out.setdefault(e.session, {})
        if e.kind == "state" and e.data.get("state") == "starting":
            d.setdefault("starting", e.ts)
        elif e.kind == "spawned":
            d["spawned"] = e.ts
        elif e.kind == "finished":
            d["seen"] = float(e.data.get("exited_at") or e.ts)  # (before exited_at existed: the finished event)
    for name, d in out.items():
        d["exit"] = (sup.store.exit_dir / f"{sup.rt[name].rec.slug}.code").stat().st_mtime
    return out


def slot_gaps(tl: dict[str, dict[str, float]], size: int) -> dict[str, list[float]]:
    """The k-th exit frees the slot the (size+k)-th spawn takes: the gap and its parts, in seconds."""
    exits = sorted(tl.values(), key=lambda d: d["exit"])
    nexts = sorted(tl.values(), key=lambda d: d["starting"])[size:]
    out: dict[str, list[float]] = {"gap": [], "seen": [], "admitted": [], "picked up": []}
    for prev, nxt in zip(exits, nexts, strict=False):
        out["gap"].append(nxt["spawned"] - prev["exit"])
        out["seen"].append(prev["seen"] - prev["exit"])
        out["admitted"].append(nxt["starting"] - prev["seen"])
        out["picked up"].append(nxt["spawned"] - nxt["starting"])
    return out


def pickups(events: list[Event]) -> tuple[list[float], list[float]]:
    """Seconds from ``starting`` to ``spawned`` per task: (from a warm slot, cold)."""
    started: dict[str, float] = {}
    warm_names = {e.session for e in events if e.kind == "warm_slot" and e.data.get("action") == "claimed"}
    warm: list[float] = []
    cold: list[float] = []
    for e in events:
        if e.kind == "state" and e.data.get("state") == "starting" and e.session:
            started[e.session] = e.ts
        elif e.kind == "spawned" and e.session in started:
            (warm if e.session in warm_names else cold).append(e.ts - started.pop(e.session or ""))
    return warm, cold


def worktree_floor(root: Path, files: int, n: int) -> list[float]:
    repo = make_repo(root / "wt-floor", files=files)
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "-b", f"b{i}", str(repo / ".wt" / f"w{i}"),
                        "main"], check=True)
        out.append(time.perf_counter() - t0)
    return out


def ms(v: float) -> str:
    return f"{v * 1000:8.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--task-s", type=float, default=5.0)
    ap.add_argument("--sizes", default="10,20")
    ap.add_argument("--files", type=int, default=3000, help="files in the pick-up benchmark's repository")
    ap.add_argument("--pickups", type=int, default=8)
    add_keep(ap)
    args = ap.parse_args()
    with scratch(args.keep) as root:
        script = [f"sleep {args.task_s:g}", "write out.txt done", "commit done"]
        print(f"throughput: {args.tasks} sim tasks of {args.task_s:g} s (sleep, write, commit)")
        print("ideal = ceil(tasks/size) * task_s; efficiency = agent time (spawned -> exit record) / (size * wall)")
        print(f"{'size':>4} {'ideal':>7} {'floor':>7} {'cortex':>7} {'floor eff':>9} {'cortex eff':>10} "
              f"{'(to finished)':>13} {'ideal/wall':>10}   slot gap p50 / p90 (exit seen + admitted + picked up, p50)")
        for size in (int(x) for x in args.sizes.split(",")):
            ideal = math.ceil(args.tasks / size) * args.task_s
            fl, fl_busy = floor_pool(root, f"{size}", tasks=args.tasks, size=size, script=script)
            wall, events, sup = run_pool(root, f"p{size}", tasks=args.tasks, size=size, warm=size, script=script)
            tl = timeline(events, sup)
            busy = sum(d["exit"] - d["spawned"] for d in tl.values())
            g = slot_gaps(tl, size)
            parts = " + ".join(f"{pct(g[k], 50) * 1000:.0f}" for k in ("seen", "admitted", "picked up"))
            print(f"{size:>4} {ideal:>6.1f}s {fl:>6.1f}s {wall:>6.1f}s {fl_busy / (size * fl):>9.1%} "
                  f"{busy / (size * wall):>10.1%} {agent_time(events) / (size * wall):>13.1%} {ideal / wall:>10.1%}   "
                  f"{pct(g['gap'], 50) * 1000:.0f} / {pct(g['gap'], 90) * 1000:.0f} ms ({parts} ms)")
        print(f"\npick-up in a {args.files}-file repository ({args.pickups} tasks queued behind a pool of 1)")
        short = ["write out.txt done", "commit done"]
        results = {}
        for warm_n in (0, 2):
            _, events, _ = run_pool(root, f"pick{warm_n}", tasks=args.pickups, size=1, warm=warm_n, script=short,
                                    files=args.files)
            results[warm_n] = pickups(events)
        wfl = worktree_floor(root, args.files, args.pickups)
        cold = results[0][1]
        warm = results[2][0]
        print(f"  floor (git worktree add by hand): p50 {ms(pct(wfl, 50))}")
        print(f"  cold  (warm = 0):                 p50 {ms(pct(cold, 50))}  p90 {ms(pct(cold, 90))}  n={len(cold)}")
        print(f"  warm  (warm = 2):                 p50 {ms(pct(warm, 50))}  p90 {ms(pct(warm, 90))}  n={len(warm)}"
              f"  ({len(results[2][1])} of its tasks started cold)")
        if warm and cold:
            print(f"  warm saves {(pct(cold, 50) - pct(warm, 50)) * 1000:.0f} ms per task "
                  f"({pct(cold, 50) / pct(warm, 50):.1f}x faster pick-up); "
                  f"warm beyond the floor-free part: {pct(warm, 50) / pct(wfl, 50):.2f}x a worktree add")


if __name__ == "__main__":
    main()
