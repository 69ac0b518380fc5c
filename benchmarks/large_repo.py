"""Large-repo benchmark (#18): N sessions spawned in a repo of F files (default 10 × 5,000, ~60 MB), against
floors measured in the same run.

    python benchmarks/large_repo.py [--sessions 10] [--files 5000] [--rounds 2]

* floor (parallel): the same N ``git worktree add`` run by hand at once (as cortex-tui does them: the add
  serialised per repo with ``--no-checkout``, the checkouts in parallel), plus nothing else; measured before
  and again after cortex-tui's round (this machine's floor drifts 2–5× between rounds), the ratio against
  their mean.
* floor (sequential): the N adds one after another.
* cortex-tui: start → every session running (worktree, window, agent), the event loop's worst stall meanwhile
  (a 10 ms ticker), and ``status --json`` (the real CLI, another process) during the spawn and once settled —
  answered by the supervisor's API as under ``cortex-tui up`` (``--no-api``: from the run's files);
  its floor: ``python -c pass`` with the same interpreter (process start-up, which no change here can cut),
  once before and, during the spawn, after each status call (what the checkouts leave of 2 cores).
* CPU: cortex-tui's (the supervisor's process and its git and tmux client children, start → every session
  running, less the benchmark's own status probes) against the parallel floors' git (their mean): on a
  shared machine whose floor moves 2–5× between rounds, the work cortex-tui adds is steadier than its wall.
* git: ``changed_vs_base`` with every checked-out path as a pathspec vs the whole tree (what the engine does
  now past 64 paths).
* ``--trace-stalls MS``: a watchdog thread samples the event loop thread's stack every 5 ms while the loop has
  not ticked for MS; the stacks seen most during stalls are printed (what the loop was doing, not a guess).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, pct, scratch

from cortex_tui.api.server import ApiServer
from cortex_tui.backends import git as gitb
from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout


def big_repo(path: Path, files: int) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    body = "".join(f"def f{j}(x):\n    return x * {j}  # padding padding padding padding padding\n"
                   for j in range(80))
    for i in range(files):
        d = path / "src" / f"pkg{i % 100}" / f"sub{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"mod{i}.py").write_text(f"# module {i}\n" + body)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "big"], check=True)
    return path


def git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True)


def cpu_children() -> float:
    """CPU (user + system) of this process's waited-for children so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def cpu_self() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def floor_parallel(repo: Path, n: int, tag: str, cpu: list[float] | None = None) -> float:
    """Wall time; with ``cpu``, the CPU of its git processes is appended to it."""
    base = repo.parent / f"floor-{tag}"
    c0 = cpu_children()
    t0 = time.perf_counter()
    for i in range(n):  # the adds (serialised, no checkout), then the checkouts at once
        git("-C", str(repo), "worktree", "add", "-q", "--no-checkout", "-b", f"fl-{tag}-{i}", str(base / str(i)))
    with ThreadPoolExecutor(n) as ex:
        list(ex.map(lambda i: git("-C", str(base / str(i)), "reset", "-q", "--hard"), range(n)))
    wall = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(cpu_children() - c0)
    return wall


def floor_sequential(repo: Path, n: int, tag: str) -> float:
    base = repo.parent / f"floor-seq-{tag}"
    t0 = time.perf_counter()
    for i in range(n):
        git("-C", str(repo), "worktree", "add", "-q", "-b", f"fs-{tag}-{i}", str(base / str(i)))
    return time.perf_counter() - t0


PROBE_CPU = [0.0]
"""CPU of the benchmark's own probes (status calls, ``python -c pass``) so far: not cortex-tui's spawn work."""


def _probe(argv: list[str]) -> tuple[float, str]:
    """Run a probe; its wall time and output (its CPU, from its own rusage, added to :data:`PROBE_CPU`)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                         text=True)
    assert p.stdout is not None
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    PROBE_CPU[0] += ru.ru_utime + ru.ru_stime
    return time.perf_counter() - t0, out


def pass_s() -> float:
    """``python -c pass``: the process start-up any status call pays, at the same moment."""
    return _probe([sys.executable, "-c", "pass"])[0]


def status_s(repo: Path) -> float:
    dt, out = _probe([sys.executable, "-m", "cortex_tui.cli", "status", "--repo", str(repo), "--json"])
    json.loads(out)
    return dt


class Spawned(TypedDict):
    wall: float
    cpu: float
    """CPU from start to every session running: the supervisor's process and its waited-for children (git,
    tmux clients), less the benchmark's probes; not the tmux server or the agents (not its children)."""
    stall_max: float
    stall_p99: float
    during: list[float]
    floor_during: list[float]
    settled: list[float]


class StallTracer(threading.Thread):
    """Samples the loop thread's stack every 5 ms while ``beat`` (the ticker's last tick) is older than
    ``after`` seconds; :meth:`report` prints the innermost frames seen most during those stalls."""

    def __init__(self, beat: list[float], after: float) -> None:
        super().__init__(daemon=True)
        self.beat, self.after, self.loop_thread = beat, after, threading.get_ident()
        self.samples: Counter[tuple[str, ...]] = Counter()
        self.stopped = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.stopped.wait(0.005):
            if time.perf_counter() - self.beat[0] < self.after:
                continue
            frame = sys._current_frames().get(self.loop_thread)
            if frame is not None:
                stack = traceback.extract_stack(frame)[-8:]
                self.samples[tuple(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack)] += 1

    def report(self) -> None:
        self.stopped.set()
        self.join()
        total = sum(self.samples.values())
        print(f"  stall samples (5 ms each, loop late by > {self.after * 1000:.0f} ms): {total}")
        for stack, k in self.samples.most_common(8):
            print(f"    {k:4d}  " + " <- ".join(reversed(stack[-5:])))


async def cortex(repo: Path, root: Path, n: int, tag: str, trace_ms: float = 0, api: bool = True) -> Spawned:
    text = f'[run]\nname = "big{tag}"\n[defaults]\nagent = "sim"\nsilence_after = "1h"\n' + "".join(
        f'[[session]]\nname = "s{i}"\nscript = ["listen 600"]\n' for i in range(n))
    path = root / f"big-{tag}.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    if api:
        sup.plugins.append(ApiServer(sup))
    spawned: set[str] = set()
    done = asyncio.Event()

    def on(ev: Event) -> None:
        if ev.kind == "spawned" and ev.session:
            spawned.add(ev.session)
            if len(spawned) == n:
                done.set()

    sup.subscribe(on)
    stalls: list[float] = []
    stop = asyncio.Event()
    beat = [time.perf_counter()]

    async def ticker() -> None:
        while not stop.is_set():
            a = time.perf_counter()
            await asyncio.sleep(0.01)
            beat[0] = b = time.perf_counter()
            stalls.append(b - a - 0.01)

    watchdog = StallTracer(beat, trace_ms / 1000) if trace_ms else None

    during: list[float] = []
    floor_during: list[float] = []

    async def statuses() -> None:  # each call beside a bare interpreter start (the CPU the checkouts leave)
        while not done.is_set():
            during.append(await asyncio.to_thread(status_s, repo))
            floor_during.append(await asyncio.to_thread(pass_s))

    t0 = time.perf_counter()
    c0 = cpu_self() + cpu_children() - PROBE_CPU[0]
    tick = asyncio.create_task(ticker())
    await sup.start()
    task = asyncio.create_task(sup.supervise(until_done=False))
    st = asyncio.create_task(statuses())
    await asyncio.wait_for(done.wait(), 600)
    wall = time.perf_counter() - t0
    cpu = cpu_self() + cpu_children() - PROBE_CPU[0] - c0  # (a probe still running is counted when it ends)
    await st
    await asyncio.sleep(3)
    settled = [await asyncio.to_thread(status_s, repo) for _ in range(5)]
    stop.set()
    await tick
    if watchdog is not None:
        watchdog.report()
    sup.request_stop()
    await task
    await sup.shutdown()
    sup.tmux.kill_server()
    return {"wall": wall, "cpu": cpu, "stall_max": max(stalls), "stall_p99": pct(stalls, 99), "during": during,
            "floor_during": floor_during, "settled": settled}


def pathspecs(repo: Path) -> tuple[float, float]:
    files = subprocess.run(["git", "-C", str(repo), "ls-files"], capture_output=True, text=True).stdout.split()
    head = gitb.rev_parse(repo, "main") or "main"
    t0 = time.perf_counter()
    gitb.changed_vs_base(repo, head, files)
    t1 = time.perf_counter()
    gitb.changed_vs_base(repo, head, ["."])
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--trace-stalls", type=float, default=0, metavar="MS")
    ap.add_argument("--no-api", action="store_true", help="no API server: status --json reads the run's files")
    add_keep(ap)
    args = ap.parse_args()
    with scratch(args.keep) as root:
        repo = big_repo(root / "repo", args.files)
        size = sum(p.stat().st_size for p in (repo / "src").rglob("*.py"))
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        py = time.perf_counter() - t0
        all_paths, whole = pathspecs(repo)
        print(f"{args.sessions} sessions, repo of {args.files} files ({size / 1e6:.0f} MB); status --json from the "
              + ("run's files" if args.no_api else "supervisor's API"))
        print(f"changed_vs_base: {all_paths * 1000:.0f} ms with every path as a pathspec, {whole * 1000:.0f} ms "
              f"for the whole tree ({all_paths / whole:.1f}×)")
        for r in range(args.rounds):
            fcpu: list[float] = []
            par = floor_parallel(repo, args.sessions, str(r), fcpu)
            seq = floor_sequential(repo, args.sessions, str(r))
            res = asyncio.run(cortex(repo, root, args.sessions, str(r), args.trace_stalls, not args.no_api))
            par2 = floor_parallel(repo, args.sessions, f"{r}b", fcpu)  # the floor again: it drifts within a round
            wall = res["wall"]
            during, settled = res["during"], res["settled"]
            mid = (par + par2) / 2
            print(f"round {r + 1}: floor parallel {par:.2f}s before, {par2:.2f}s after, sequential {seq:.2f}s; "
                  f"cortex-tui {wall:.2f}s ({wall / mid:.2f}× the parallel floors' mean); loop stall max "
                  f"{res['stall_max'] * 1000:.0f} ms (p99 {res['stall_p99'] * 1000:.0f} ms)")
            fc = sum(fcpu) / 2
            print(f"  CPU: cortex-tui {res['cpu']:.2f}s (supervisor + its git/tmux children until all ran) vs the "
                  f"parallel floor's git {fc:.2f}s ({res['cpu'] / fc:.2f}×)")
            fd = res["floor_during"]
            print(f"  status --json during spawn: p50 {pct(during, 50) * 1000:.0f} ms max "
                  f"{max(during) * 1000:.0f} ms (n={len(during)}), python -c pass beside it p50 "
                  f"{pct(fd, 50) * 1000:.0f} ms max {max(fd) * 1000:.0f} ms; settled p50 "
                  f"{pct(settled, 50) * 1000:.0f} ms; python start-up floor {py * 1000:.0f} ms")


if __name__ == "__main__":
    main()
