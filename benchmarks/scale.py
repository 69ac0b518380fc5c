"""100 sessions, proven (#18): sim sessions run headless by the real engine (real tmux, real git), against the
ideal of the same scripted durations.

    python benchmarks/scale.py [--sessions 100] [--duration 4] [--slots 10,20] [--pools 10,20] [--warm 10]
                               [--nodes 2] [--idle 30] [--no-all-at-once] [--quick]

* all at once, through ``[run] max_parallel`` slots of 10 and of 20, and as 100 queued tasks through
  ``[pool] size`` = 10 and 20: wall time until every session ended vs the ideal (``ceil(N / slots) ×
  duration``), parallel efficiency (ideal / wall), supervisor CPU seconds (this process and its finished
  children, ssh clients included), peak RSS, tmux server CPU seconds. Each slot count has a floor measured in
  the same run: the same sim agent processes with the same script through a plain thread pool of that size
  (no tmux, git or supervisor) — ``floor`` is its wall time and ``vs floor`` = floor / wall;
* the same queued tasks through ``[pool] size = warm = K`` for each ``--warm`` K: the K warm worktrees (and
  their idle windows) are made before the clock starts, as a warm pool has them ready before work arrives,
  and refilled in the background while the tasks run (the clock includes that);
* across nodes: the same N sessions spread round robin over this machine and ``--nodes`` loopback sshd
  "nodes" (real OpenSSH servers on 127.0.0.1 started by the benchmark as the remote tests do —
  ``tests/sshd.py``; each has its own HOME, workdir and tmux server), all at once; beside it the time until
  every session of each node was spawned, against this machine's in the same run;
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
import json
import math
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import add_keep, all_spawned, make_repo, pct, scratch
from sshd import SshServer
from sshd import missing_reason as sshd_missing

from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout
from cortex_tui.selfpath import child_pythonpath


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


def node_toml(name: str, sshd: SshServer) -> str:
    kw = sshd.node_kwargs()
    return (f'[[node]]\nname = "{name}"\nhost = "{kw["host"]}"\nport = {kw["port"]}\nuser = "{kw["user"]}"\n'
            f'identity = "{kw["identity"]}"\nworkdir = "{kw["workdir"]}"\npython = "{kw["python"]}"\n'
            f'ssh_options = ["UserKnownHostsFile={sshd.known_hosts}"]\n')


def make_sup(root: Path, tag: str, n: int, script: str, slots: int | None, *, pool: int | None = None,
             nodes: list[SshServer] | None = None, warm: int = 0) -> Supervisor:
    repo = make_repo(root / f"repo-{tag}")
    run = f'[run]\nname = "scale{tag}"\n' + (f"max_parallel = {slots}\n" if slots else "")
    run += f"[pool]\nsize = {pool}\n" if pool else ""
    run += f"warm = {warm}\n" if pool and warm else ""
    run += "".join(node_toml(f"box{k + 1}", sshd) for k, sshd in enumerate(nodes or []))
    where = ["local", *(f"box{k + 1}" for k in range(len(nodes or [])))]
    text = run + '[defaults]\nagent = "sim"\nsilence_after = "1h"\n' + "".join(
        f'[[session]]\nname = "s{i:03d}"\nscript = [{script}]\n'
        + (f'node = "{where[i % len(where)]}"\n' if nodes else "") for i in range(n))
    path = root / f"scale-{tag}.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    sup.review_enabled = False
    return sup


async def batch(sup: Supervisor) -> dict[str, float]:
    spawned: dict[str, float] = {}  # node -> when its last session was spawned

    def on(ev: Event) -> None:
        if ev.kind == "spawned":
            spawned[str(ev.data.get("node") or "local")] = time.perf_counter()

    sup.subscribe(on)
    t0, c0 = time.perf_counter(), self_cpu()
    await sup.start()
    if sup.pool.warm is not None:  # made ahead of the work (that is their point): the clock starts once they are
        await asyncio.to_thread(sup.pool.warm.scan)
        await asyncio.to_thread(sup.pool.warm.fill)
        t0, c0 = time.perf_counter(), self_cpu()
    pid = await asyncio.to_thread(tmux_pid, sup.tmux.socket)
    s0 = proc_cpu(pid)
    await sup.supervise(until_done=True)
    wall = time.perf_counter() - t0
    out = {"wall": wall, "cpu": self_cpu() - c0, "tmux": proc_cpu(pid) - s0,
           "failed": float(sum(r.state.value != "finished" for r in sup.state.sessions.values())),
           **{f"spawned:{node}": at - t0 for node, at in spawned.items()}}
    bad = {n: r.reason for n, r in sup.state.sessions.items() if r.state.value != "finished"}
    if bad:
        print(f"  not finished: {dict(list(bad.items())[:5])}", file=sys.stderr)
    await sup.shutdown()
    sup.tmux.kill_server()
    for name in {r.node for r in sup.state.sessions.values()} - {"local"}:
        sup.nodes.get(name).remote.kill_server()  # type: ignore[attr-defined]
    return out


def thread_floor(root: Path, tag: str, n: int, slots: int, d: float) -> float:
    """The same sim agent processes, same script, through a plain thread pool of ``slots`` (no tmux, git or
    supervisor): what this machine gives at best, measured now."""
    base = root / f"floor-{tag}"
    base.mkdir()
    (base / "script.json").write_text(json.dumps([f"sleep {d:g}"]))
    argv = [sys.executable, "-m", "cortex_tui.agents.sim", "--script-file", str(base / "script.json"), "--name=f"]
    env = {**os.environ, "PYTHONPATH": child_pythonpath(None), "CORTEX_MODEL": "sim-1"}

    def one(_: int) -> None:
        subprocess.run(argv, cwd=base, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL, check=True)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(slots) as ex:
        list(ex.map(one, range(n)))
    return time.perf_counter() - t0


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
    ready = all_spawned(sup, n)
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


def row(label: str, ideal: float, res: dict[str, float], floor: float | None) -> None:
    fl = f"{floor:>6.1f}s {floor / res['wall'] * 100:>7.1f}%" if floor else f"{'—':>7} {'—':>8}"
    print(f"{label:<17} {ideal:>6.1f}s {res['wall']:>6.1f}s {ideal / res['wall'] * 100:>9.1f}% {fl} "
          f"{res['cpu']:>7.1f}s {res['tmux']:>7.1f}s {res['failed']:>6.0f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--slots", default="10,20", help="[run] max_parallel values ('' for none)")
    ap.add_argument("--pools", default="10,20", help="[pool] size values ('' for none)")
    ap.add_argument("--warm", default="10", help="[pool] size = warm values ('' for none)")
    ap.add_argument("--all-at-once", action=argparse.BooleanOptionalAction, default=True,
                    help="the all-at-once row")
    ap.add_argument("--nodes", type=int, default=2, help="loopback sshd nodes beside this machine (0: none)")
    ap.add_argument("--idle", type=float, default=30.0)
    ap.add_argument("--status-samples", type=int, default=10)
    ap.add_argument("--quick", action="store_true",
                    help="10 sessions, 1 s, slots and pool of 5, 2 nodes, 5 s idle (the smoke test)")
    add_keep(ap)
    args = ap.parse_args()
    if args.quick:
        args.sessions, args.duration, args.slots, args.pools, args.idle, args.status_samples = 10, 1.0, "5", "5", 5.0, 2
        args.warm = "5"
    n, d = args.sessions, args.duration
    with scratch(args.keep) as root:
        servers: list[SshServer] = []
        try:
            print(f"{n} sim sessions, each 'sleep {d:g}' then exit 0 (reviews off); floor = the same agents through a "
                  "thread pool of the same size, vs floor = floor wall / wall")
            print(f"{'mode':<17} {'ideal':>7} {'wall':>7} {'efficiency':>10} {'floor':>7} {'vs floor':>8} "
                  f"{'sup CPU':>8} {'tmux CPU':>8} {'failed':>6}")
            floors: dict[int, float] = {}

            def floor_for(k: int) -> float:
                if k not in floors:
                    floors[k] = thread_floor(root, f"t{k}", n, k, d)
                return floors[k]

            local: dict[str, float] | None = None
            if args.all_at_once:
                local = asyncio.run(batch(make_sup(root, "b0", n, f'"sleep {d:g}"', None)))
                row("all at once", d, local, floor_for(n))
            for slots in (int(x) for x in args.slots.split(",") if x):
                res = asyncio.run(batch(make_sup(root, f"b{slots}", n, f'"sleep {d:g}"', slots)))
                row(f"slots of {slots}", math.ceil(n / slots) * d, res, floor_for(slots))
            for size in (int(x) for x in args.pools.split(",") if x):
                res = asyncio.run(batch(make_sup(root, f"p{size}", n, f'"sleep {d:g}"', None, pool=size)))
                row(f"pool of {size}", math.ceil(n / size) * d, res, floor_for(size))
            for size in (int(x) for x in args.warm.split(",") if x):
                res = asyncio.run(batch(make_sup(root, f"w{size}", n, f'"sleep {d:g}"', None, pool=size, warm=size)))
                row(f"pool of {size}, warm", math.ceil(n / size) * d, res, floor_for(size))
            if args.nodes:
                why = sshd_missing()
                if why:
                    print(f"across nodes: skipped ({why})")
                else:
                    for k in range(args.nodes):
                        servers.append(SshServer(root / f"node{k + 1}"))
                        servers[-1].start()
                    res = asyncio.run(batch(make_sup(root, "n", n, f'"sleep {d:g}"', None, nodes=servers)))
                    row(f"local+{args.nodes} nodes", d, res, floor_for(n))
                    spawns = "; ".join(f"{node} {res[f'spawned:{node}']:.2f}s"
                                       for node in ["local", *(f"box{k + 1}" for k in range(args.nodes))]
                                       if f"spawned:{node}" in res)
                    alone = f"{local['spawned:local']:.2f}s" if local is not None else "not run"
                    print(f"  all sessions spawned, by node: {spawns} (this machine alone, all {n} at once: {alone})")
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"supervisor peak RSS over the batches: {peak:.0f} MB")
            for m in sorted({max(1, n // 2), n}) if args.idle > 0 else []:
                sup = make_sup(root, f"i{m}", m, '"listen 600"', None)
                ires = asyncio.run(idle(sup, m, args.idle, args.status_samples if m == n else 0))
                cpu_pct, tmux_pct = ires["cpu_pct"], ires["tmux_pct"]
                assert isinstance(cpu_pct, float) and isinstance(tmux_pct, float)
                print(f"idle, {m} quiet sessions over {args.idle:g}s: supervisor {cpu_pct:.2f}% of a "
                      f"core, tmux server {tmux_pct:.2f}%")
                if "status" in ires:
                    st, fl = list(ires["status"]), list(ires["floor"])  # type: ignore[arg-type]
                    print(f"status --json with {m} live sessions: p50 {pct(st, 50) * 1000:.0f} ms, max "
                          f"{max(st) * 1000:.0f} ms; floor (python + import cortex_tui.cli) p50 "
                          f"{pct(fl, 50) * 1000:.0f} ms → status's own work p50 {(pct(st, 50) - pct(fl, 50)) * 1000:.0f} ms")
        finally:
            for sshd in servers:
                sshd.close()


if __name__ == "__main__":
    main()
