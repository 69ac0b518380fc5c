"""100 sessions, proven (#18): sim sessions run headless by the real engine (real tmux, real git), against the
ideal of the same scripted durations.

    python benchmarks/scale.py [--sessions 100] [--duration 4] [--slots 10,20] [--idle 30] [--quick]

* all at once, and through ``[run] max_parallel`` slots of 10 and of 20 (the pool engineer's ``[pool]`` had
  not landed when this was written): wall time until every session ended vs the ideal
  (``ceil(N / slots) × duration``), parallel efficiency (ideal / wall), supervisor CPU seconds (this process
  and its finished children), peak RSS, tmux server CPU seconds;
* idle: supervisor CPU with 50 and 100 quiet sessions (``listen``), over ``--idle`` seconds;
* ``status --json`` (the real CLI, another process) with 100 live sessions, beside its floor measured in the
  same run: ``python -c "import cortex_tui.cli"`` (interpreter start-up and imports — what a CLI call costs
  before it reads anything).

Reviews are off (``review_enabled = False``): this measures scheduling and supervision, not verify commands.
Trigger latency while 20 sessions flood output is ``benchmarks/flood.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
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


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return 0.0
    fields = raw[raw.rfind(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tmux_pid(socket: str) -> int:
    out = subprocess.run(["tmux", "-L", socket, "display", "-p", "#{pid}"], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def make_sup(root: Path, tag: str, n: int, script: str, slots: int | None) -> Supervisor:
    repo = make_repo(root / f"repo-{tag}")
    run = f'[run]\nname = "scale{tag}"\n' + (f"max_parallel = {slots}\n" if slots else "")
    text = run + '[defaults]\nagent = "sim"\nsilence_after = "1h"\n' + "".join(
        f'[[session]]\nname = "s{i:03d}"\nscript = [{script}]\n' for i in range(n))
    path = root / f"scale-{tag}.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    sup.review_enabled = False
    return sup


async def batch(sup: Supervisor) -> dict[str, float]:
    t0, c0 = time.perf_counter(), self_cpu()
    await sup.start()
    pid = await asyncio.to_thread(tmux_pid, sup.tmux.socket)
    s0 = proc_cpu(pid)
    await sup.supervise(until_done=True)
    wall = time.perf_counter() - t0
    out = {"wall": wall, "cpu": self_cpu() - c0, "tmux": proc_cpu(pid) - s0,
           "failed": float(sum(r.state.value != "finished" for r in sup.state.sessions.values()))}
    await sup.shutdown()
    sup.tmux.kill_server()
    return out


def status_once(repo: Path) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "cortex_tui.cli", "status", "--repo", str(repo), "--json"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    assert r.returncode == 0 and '"sessions"' in r.stdout, r.stderr
    return dt


def import_floor() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import cortex_tui.cli"], check=True)
    return time.perf_counter() - t0


async def idle(sup: Supervisor, n: int, idle_s: float, status_samples: int) -> dict[str, float | list[float]]:
    spawned: set[str] = set()
    ready = asyncio.Event()

    def on(ev: Event) -> None:
        if ev.kind == "spawned" and ev.session:
            spawned.add(ev.session)
            if len(spawned) == n:
                ready.set()

    sup.subscribe(on)
    await sup.start()
    task = asyncio.create_task(sup.supervise(until_done=False))
    await asyncio.wait_for(ready.wait(), 600)
    await asyncio.sleep(15.0)  # settle: first samples, first quiet period
    pid = await asyncio.to_thread(tmux_pid, sup.tmux.socket)
    c0, s0, t0 = self_cpu(), proc_cpu(pid), time.perf_counter()
    await asyncio.sleep(idle_s)
    wall = time.perf_counter() - t0
    out: dict[str, float | list[float]] = {"cpu_pct": (self_cpu() - c0) / wall * 100,
                                           "tmux_pct": (proc_cpu(pid) - s0) / wall * 100}
    if status_samples:
        out["status"] = [await asyncio.to_thread(status_once, sup.repo) for _ in range(status_samples)]
        out["floor"] = [await asyncio.to_thread(import_floor) for _ in range(status_samples)]
    sup.request_stop()
    await task
    await sup.shutdown()
    sup.tmux.kill_server()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--slots", default="10,20")
    ap.add_argument("--idle", type=float, default=30.0)
    ap.add_argument("--status-samples", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="10 sessions, 1 s, slots of 5, 5 s idle (the smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.sessions, args.duration, args.slots, args.idle, args.status_samples = 10, 1.0, "5", 5.0, 2
    n, d = args.sessions, args.duration
    root = isolate()
    try:
        print(f"{n} sim sessions, each 'sleep {d:g}' then exit 0 (reviews off)")
        print(f"{'mode':<14} {'ideal':>7} {'wall':>7} {'efficiency':>10} {'sup CPU':>8} {'tmux CPU':>8} {'failed':>6}")
        for slots in [None, *(int(s) for s in args.slots.split(",") if s)]:
            sup = make_sup(root, f"b{slots or 0}", n, f'"sleep {d:g}"', slots)
            res = asyncio.run(batch(sup))
            ideal = math.ceil(n / (slots or n)) * d
            label = f"slots of {slots}" if slots else "all at once"
            print(f"{label:<14} {ideal:>6.1f}s {res['wall']:>6.1f}s {ideal / res['wall'] * 100:>9.1f}% "
                  f"{res['cpu']:>7.1f}s {res['tmux']:>7.1f}s {res['failed']:>6.0f}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"supervisor peak RSS over the batches: {peak:.0f} MB")
        for m in sorted({max(1, n // 2), n}):
            sup = make_sup(root, f"i{m}", m, '"listen 600"', None)
            res = asyncio.run(idle(sup, m, args.idle, args.status_samples if m == n else 0))
            print(f"idle, {m} quiet sessions over {args.idle:g}s: supervisor {float(res['cpu_pct']):.2f}% of a "
                  f"core, tmux server {float(res['tmux_pct']):.2f}%")
            if "status" in res:
                st, fl = list(res["status"]), list(res["floor"])  # type: ignore[arg-type]
                print(f"status --json with {m} live sessions: p50 {pct(st, 50) * 1000:.0f} ms, max "
                      f"{max(st) * 1000:.0f} ms; floor (python + import cortex_tui.cli) p50 "
                      f"{pct(fl, 50) * 1000:.0f} ms → status's own work p50 {(pct(st, 50) - pct(fl, 50)) * 1000:.0f} ms")
    finally:
        kill_servers(root)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
