"""Trigger latency benchmark: cause → trigger event, with 20 sessions running, beside raw floors
measured in the same run; plus the supervisor's idle CPU with 20 quiet sessions.

    python benchmarks/triggers.py [--samples 100] [--idle 30]

* out_of_scope: the benchmark writes a file outside scope into a session's worktree; latency until the
  engine publishes the trigger. Floors: the raw inotify event reaching the event loop (what the engine's
  watcher is built on, before its 3 ms batching), and watchfiles (the fallback, tuned as the engine
  uses it) alone, write → yield.
* repeated_error (error_repeats = 1): the benchmark types an error line into a sim agent that echoes it
  (tmux send-keys → agent prints → pipe-pane → log → engine); latency until the trigger. Floor: the same
  send-keys → the line appearing in the log file, watched by a 1 ms poll loop (a bare tail).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, make_repo, scratch, summary

from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout

N_SESSIONS = 20


def inotify_floor(root: Path, samples: int) -> list[float]:
    """write → the inotify descriptor readable in the asyncio loop (no batching)."""
    from cortex_tui.watch import inotify

    d = root / "in-floor"
    d.mkdir()

    async def run() -> list[float]:
        loop = asyncio.get_running_loop()
        out: list[float] = []
        with inotify.InotifyWatcher([str(d)], lambda c, p: True, lambda p: False) as w:
            loop.remove_reader(w.fd)
            got = asyncio.Event()
            seen: list[float] = []

            def readable() -> None:
                seen.append(time.perf_counter())
                w._readable()  # drain
                got.set()

            loop.add_reader(w.fd, readable)
            for i in range(samples):
                got.clear()
                seen.clear()
                t0 = time.perf_counter()
                await asyncio.to_thread((d / f"f{i}.txt").write_text, "x")
                await asyncio.wait_for(got.wait(), 5)
                out.append(seen[0] - t0)
                await asyncio.sleep(0.005)
        return out

    return asyncio.run(run())


def watchfiles_floor(root: Path, samples: int) -> list[float]:
    from watchfiles import watch

    d = root / "wf-floor"
    d.mkdir()
    out: list[float] = []
    stop = threading.Event()
    ready = threading.Event()
    seen: dict[str, float] = {}

    def watcher() -> None:
        ready.set()
        for changes in watch(d, debounce=50, step=10, stop_event=stop, rust_timeout=200):
            t = time.perf_counter()
            for _, p in changes:
                seen.setdefault(os.path.basename(p), t)

    th = threading.Thread(target=watcher, daemon=True)
    th.start()
    ready.wait()
    time.sleep(0.3)
    for i in range(samples):
        name = f"f{i}.txt"
        t0 = time.perf_counter()
        (d / name).write_text("x")
        while name not in seen:
            time.sleep(0.001)
        out.append(seen[name] - t0)
        time.sleep(0.02)
    stop.set()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--idle", type=float, default=30.0)
    add_keep(ap)
    args = ap.parse_args()
    with scratch(args.keep) as root:
        floor_fs = watchfiles_floor(root, args.samples)
        floor_in = inotify_floor(root, args.samples)
        repo = make_repo(root / "repo")
        text = ('[run]\nname = "trg"\n[defaults]\nagent = "sim"\nerror_repeats = 1\nsilence_after = "1h"\n'
                + "".join(f'[[session]]\nname = "s{i}"\nscope = ["src/**"]\nscript = ["listen 600"]\n'
                          for i in range(N_SESSIONS)))
        path = root / "trg.toml"
        path.write_text(text)
        sup = Supervisor(parse_layout(text, path), repo, headless=True)
        asyncio.run(run_bench(sup, args.samples, args.idle))
        print(f"out_of_scope floor (raw inotify event in the loop): {summary(floor_in)}")
        print(f"out_of_scope floor (watchfiles tuned alone, the fallback): {summary(floor_fs)}")


async def run_bench(sup: Supervisor, samples: int, idle_s: float) -> None:
    import psutil

    waiting: dict[tuple[str, str], asyncio.Future[float]] = {}
    spawned: set[str] = set()
    all_spawned = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on(ev: Event) -> None:
        if ev.kind == "spawned" and ev.session:
            spawned.add(ev.session)
            if len(spawned) == N_SESSIONS:
                all_spawned.set()
        if ev.kind == "trigger" and ev.session:
            key = (ev.session, str(ev.data.get("key")))
            fut = waiting.get(key)
            if fut is not None and not fut.done():
                fut.set_result(time.perf_counter())

    sup.subscribe(on)
    await sup.start()
    task = asyncio.create_task(sup.supervise(until_done=False))
    await asyncio.wait_for(all_spawned.wait(), 120)
    await asyncio.sleep(2.0)
    # idle CPU of this process (engine) incl. its subprocesses, 20 quiet sessions
    proc = psutil.Process()
    c0 = proc.cpu_times()
    t0 = time.perf_counter()
    await asyncio.sleep(idle_s)
    c1 = proc.cpu_times()
    wall = time.perf_counter() - t0
    cpu = (c1.user + c1.system + c1.children_user + c1.children_system
           - c0.user - c0.system - c0.children_user - c0.children_system)
    idle_pct = cpu / wall * 100
    # out_of_scope latency
    oos: list[float] = []
    for i in range(samples):
        name = f"s{i % N_SESSIONS}"
        rel = f"docs/bench-{i}.md"
        fut: asyncio.Future[float] = loop.create_future()
        waiting[(name, rel)] = fut
        t_write = time.perf_counter()
        (Path(sup.state.sessions[name].worktree) / rel).parent.mkdir(exist_ok=True)
        (Path(sup.state.sessions[name].worktree) / rel).write_text("out of scope\n")
        oos.append(await asyncio.wait_for(fut, 10) - t_write)
        await asyncio.sleep(0.02)
    # repeated_error latency and its floor
    err: list[float] = []
    tail_floor: list[float] = []
    for i in range(samples):
        name = f"s{i % N_SESSIONS}"
        rec = sup.state.sessions[name]
        line = f"Error: bench case {i}"
        fp = f"received: Error: bench case {i}"
        fut = loop.create_future()
        waiting[(name, fp)] = fut
        log = sup.store.logs_dir / f"{rec.slug}.log"
        size = log.stat().st_size
        t_send = time.perf_counter()
        await asyncio.to_thread(sup.tmux.send_keys, rec.pane_id or "", [("literal", line), ("key", "Enter")])
        # floor: poll the log for the echoed line
        while True:
            with open(log, "rb") as f:
                f.seek(size)
                if fp.encode() in f.read():
                    break
            await asyncio.sleep(0.001)
        tail_floor.append(time.perf_counter() - t_send)
        err.append(await asyncio.wait_for(fut, 10) - t_send)
        await asyncio.sleep(0.02)
    sup.request_stop()
    await task
    await sup.shutdown()
    sup.tmux.kill_server()
    print(f"sessions running: {N_SESSIONS}")
    print(f"out_of_scope  cause→trigger: {summary(oos)}")
    print(f"repeated_error cause→trigger: {summary(err)}")
    print(f"repeated_error floor (send-keys → line in log, 1 ms poll): {summary(tail_floor)}")
    print(f"supervisor idle CPU with {N_SESSIONS} quiet sessions over {idle_s:.0f}s: {idle_pct:.2f}% of one core")


if __name__ == "__main__":
    main()
