"""Output flood benchmark (#18): N sessions each printing L lines/s, the supervisor's CPU, the tmux server's,
screen captures per second and repeated_error latency meanwhile — beside floors measured in the same run.

    python benchmarks/flood.py [--sessions 20] [--rate 100] [--seconds 20] [--rounds 1]

* floor: the same flood (the same flooding processes) through bare tmux + ``pipe-pane`` into log files, no
  supervisor: what tmux and ``cat`` cost anyway.
* per-batch: the supervisor with the screen gate opened (a capture per batch of output, the old behaviour).
* gated: the supervisor as shipped (engine/screen.py: quiet / prompt hint / flood cadence / rate cap).

Supervisor CPU = this process (all threads) + its finished children (the tmux clients of captures).
Trigger latency: a 21st session echoes typed lines; an error line typed into it → the repeated_error trigger
(floor: send-keys → the line in its log, 1 ms poll).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, make_repo, pct, scratch, summary

from cortex_tui.engine import screen
from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout

FLOODER = r'''
import sys, time
rate, secs = float(sys.argv[1]), float(sys.argv[2])
t0 = time.monotonic(); i = 0
while time.monotonic() - t0 < secs:
    i += 1
    print(f"{time.strftime('%H:%M:%S')} compiling module_{i:06d}.py ... ok (flood line {i})", flush=True)
    time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
time.sleep(3600)
'''


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    fields = raw[raw.rfind(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def tmux_pid(socket: str) -> int:
    out = subprocess.run(["tmux", "-L", socket, "display", "-p", "#{pid}"], capture_output=True, text=True)
    return int(out.stdout.strip())


def floor(root: Path, script: Path, n: int, rate: float, secs: float, tag: str) -> tuple[float, float]:
    """Bare tmux + pipe-pane: (tmux server % of a core, lines/s written) over the flood."""
    sock = f"floor{tag}"
    logs = root / f"floor-logs-{tag}"
    logs.mkdir()
    subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-s", "f", "-x", "220", "-y", "50"],
                   check=True)
    pid = tmux_pid(sock)
    c0, t0 = proc_cpu(pid), time.perf_counter()
    for i in range(n):
        log = logs / f"{i}.log"
        out = subprocess.run(["tmux", "-L", sock, "new-window", "-d", "-P", "-F", "#{pane_id}", "-t", "f",
                              f"{sys.executable} {script} {rate} {secs}"], capture_output=True, text=True, check=True)
        subprocess.run(["tmux", "-L", sock, "pipe-pane", "-t", out.stdout.strip(), f"exec cat >> {log}"], check=True)
    time.sleep(secs)
    cpu = proc_cpu(pid) - c0
    wall = time.perf_counter() - t0
    lines = sum(p.read_bytes().count(b"\n") for p in logs.glob("*.log"))
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    return cpu / wall * 100, lines / wall


def layout(script: Path, n: int, rate: float, secs: float) -> str:
    out = ['[run]\nname = "flood"\n[defaults]\nagent = "sim"\nsilence_after = "1h"\nerror_repeats = 1\n']
    for i in range(n):
        out.append(f'[[session]]\nname = "f{i}"\ncommand = "{sys.executable} {script} {rate} {secs + 30}"\n')
    out.append('[[session]]\nname = "probe"\nscript = ["listen 600"]\n')
    return "".join(out)


async def supervised(sup: Supervisor, n: int, secs: float, samples: int) -> dict[str, float]:
    waiting: dict[str, asyncio.Future[float]] = {}
    spawned: set[str] = set()
    ready = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on(ev: Event) -> None:
        if ev.kind == "spawned" and ev.session:
            spawned.add(ev.session)
            if len(spawned) == n + 1:
                ready.set()
        if ev.kind == "trigger" and ev.session == "probe":
            fut = waiting.get(str(ev.data.get("key")))
            if fut is not None and not fut.done():
                fut.set_result(time.perf_counter())

    sup.subscribe(on)
    await sup.start()
    task = asyncio.create_task(sup.supervise(until_done=False))
    await asyncio.wait_for(ready.wait(), 180)
    await asyncio.sleep(2.0)
    pid = await asyncio.to_thread(tmux_pid, sup.tmux.socket)
    c0, s0, t0, cap0, k0 = self_cpu(), proc_cpu(pid), time.perf_counter(), sup.screens.captures, children_cpu()
    lag: list[float] = []
    err: list[float] = []
    tail: list[float] = []
    rec = sup.state.sessions["probe"]
    log = sup.store.log_path(rec.slug)
    end = t0 + secs
    i = 0
    while time.perf_counter() < end:
        # event-loop lag: a 20 ms sleep that takes longer
        a = time.perf_counter()
        await asyncio.sleep(0.02)
        lag.append(time.perf_counter() - a - 0.02)
        if i < samples and time.perf_counter() > t0 + 1 + i * (secs - 2) / samples:
            line = f"Error: flood probe {i}"
            fut: asyncio.Future[float] = loop.create_future()
            waiting[f"received: {line}"] = fut
            size = log.stat().st_size
            t_send = time.perf_counter()
            await asyncio.to_thread(sup.tmux.send_keys, rec.pane_id or "", [("literal", line), ("key", "Enter")])
            while True:
                with open(log, "rb") as f:
                    f.seek(size)
                    if f"received: {line}".encode() in f.read():
                        break
                await asyncio.sleep(0.001)
            tail.append(time.perf_counter() - t_send)
            err.append(await asyncio.wait_for(fut, 10) - t_send)
            i += 1
    wall = time.perf_counter() - t0
    out = {"sup_cpu": (self_cpu() - c0) / wall * 100, "children_cpu": (children_cpu() - k0) / wall * 100, "tmux_cpu": (proc_cpu(pid) - s0) / wall * 100,
           "captures_s": (sup.screens.captures - cap0) / wall, "lag_p99": pct(lag, 99) * 1000,
           "err_p50": pct(err, 50) * 1000, "err_p99": pct(err, 99) * 1000, "tail_p99": pct(tail, 99) * 1000}
    print(f"    repeated_error during flood: {summary(err)}")
    print(f"    floor send-keys → line in log: {summary(tail)}")
    sup.request_stop()
    await task
    await sup.shutdown()
    sup.tmux.kill_server()
    return out


def run_supervised(root: Path, script: Path, n: int, rate: float, secs: float, tag: str,
                   samples: int) -> dict[str, float]:
    repo = make_repo(root / f"repo-{tag}")
    text = layout(script, n, rate, secs)
    path = root / f"flood-{tag}.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    return asyncio.run(supervised(sup, n, secs, samples))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--skip-per-batch", action="store_true")
    add_keep(ap)
    args = ap.parse_args()
    with scratch(args.keep) as root:
        script = root / "flooder.py"
        script.write_text(FLOODER)
        gate = (screen.QUIET_S, screen.MIN_GAP_S, screen.FLOOD_S)
        try:
            for r in range(args.rounds):
                f_tmux, f_lines = floor(root, script, args.sessions, args.rate, args.seconds, str(r))
                print(f"round {r + 1}: {args.sessions} sessions × {args.rate:g} lines/s for {args.seconds:g}s "
                      f"({f_lines:.0f} lines/s reached the floor's logs)")
                print(f"  floor  bare tmux + pipe-pane: tmux server {f_tmux:5.1f}% of a core, no supervisor")
                modes = [("gated", gate)] if args.skip_per_batch else [("per-batch", (0.0, 0.0, 0.0)), ("gated", gate)]
                for mode, (q, g, fl) in modes:
                    screen.QUIET_S, screen.MIN_GAP_S, screen.FLOOD_S = q, g, fl
                    res = run_supervised(root, script, args.sessions, args.rate, args.seconds, f"{mode}-{r}",
                                         args.samples)
                    print(f"  {mode:<9} supervisor {res['sup_cpu']:5.1f}% of a core (tmux clients {res['children_cpu']:.1f}%), tmux server {res['tmux_cpu']:5.1f}% "
                          f"({res['tmux_cpu'] / max(f_tmux, 0.1):.2f}× floor), {res['captures_s']:6.1f} captures/s, "
                          f"loop lag p99 {res['lag_p99']:.1f} ms, repeated_error p50 {res['err_p50']:.1f} / p99 "
                          f"{res['err_p99']:.1f} ms (floor p99 {res['tail_p99']:.1f} ms)")
        finally:
            screen.QUIET_S, screen.MIN_GAP_S, screen.FLOOD_S = gate


if __name__ == "__main__":
    main()
