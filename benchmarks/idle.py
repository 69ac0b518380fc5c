"""Idle supervisor cost (#18): CPU of the real engine (real tmux, real git) watching N quiet sim sessions,
beside its floor measured in the same run.

    python benchmarks/idle.py [--sessions 100] [--seconds 30] [--rounds 2] [--settle 75] [--profile out.prof]

* supervisor: this process (the engine, headless, reviews off) and its finished children — ``git``, ``tmux``
  calls — over ``--seconds`` once every session has spawned and ``--settle`` seconds passed (the fleet is
  quiet: sampled every 10 s after 10 s without output, every 30 s after 60 s; ``--settle 15`` measures the
  first quiet minute);
* floor: a bare Python process that wakes on the engine's tick (``TICK_S``) and does nothing, over the same
  seconds — what any supervisor with a half-second tick costs on this machine at this moment (wake-up
  accounting inflates on an oversubscribed machine; the ratio is what compares across loads);
* the tmux server's own CPU over the same seconds (the sessions are quiet: what the engine asks of it).

``--profile`` writes a cProfile of the engine over the measured seconds (the first round): what the idle
supervisor spends its CPU on.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, all_spawned, make_repo, scratch

from cortex_tui.engine.supervisor import TICK_S, Supervisor
from cortex_tui.layout import parse_layout

FLOOR = """
import asyncio, os, time
c0 = os.times()
async def main(seconds, tick):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(tick)
asyncio.run(main(float(os.environ["SECONDS"]), float(os.environ["TICK"])))
c1 = os.times()
print(c1.user + c1.system - c0.user - c0.system)
"""


def floor_pct(seconds: float) -> float:
    """CPU % of a bare asyncio loop ticking every TICK_S for ``seconds`` (interpreter start-up excluded)."""
    env = {**os.environ, "SECONDS": str(seconds), "TICK": str(TICK_S)}
    r = subprocess.run([sys.executable, "-c", FLOOR], capture_output=True, text=True, check=True, env=env)
    return float(r.stdout.strip()) / seconds * 100


async def measure(sup: Supervisor, n: int, seconds: float, settle: float,
                  prof: cProfile.Profile | None) -> tuple[float, float]:
    ready = all_spawned(sup, n)
    await sup.start()
    task = asyncio.create_task(sup.supervise(until_done=False))
    await asyncio.wait_for(ready.wait(), 900)
    await asyncio.sleep(settle)  # settle: first samples, sessions become quiet (QUIET_AFTER_S and longer)
    pid = await asyncio.to_thread(tmux_pid, sup.tmux.socket)
    c0, s0, t0 = self_cpu(), proc_cpu(pid), time.perf_counter()
    th0, ch0 = threads_cpu(), os.times()
    if prof is not None:
        prof.enable()
    await asyncio.sleep(seconds)
    if prof is not None:
        prof.disable()
    wall = time.perf_counter() - t0
    th1, ch1 = threads_cpu(), os.times()
    main_tid = f"{os.getpid()}:"
    by = {k: v - th0.get(k, 0.0) for k, v in th1.items()}
    main = sum(v for k, v in by.items() if k.startswith(main_tid))
    print(f"  breakdown: main thread {main / wall * 100:.2f}%, other threads "
          f"{(sum(by.values()) - main) / wall * 100:.2f}% ({len(by) - 1} alive), children "
          f"{(ch1.children_user + ch1.children_system - ch0.children_user - ch0.children_system) / wall * 100:.2f}%")
    out = ((self_cpu() - c0) / wall * 100, (proc_cpu(pid) - s0) / wall * 100)
    sup.request_stop()
    await task
    await sup.shutdown()
    sup.tmux.kill_server()
    return out


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def tmux_pid(socket: str) -> int:
    out = subprocess.run(["tmux", "-L", socket, "display", "-p", "#{pid}"], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def proc_cpu(pid: int) -> float:
    return proc_cpu_path(Path(f"/proc/{pid}/stat"))


def threads_cpu() -> dict[str, float]:
    """CPU seconds per live thread of this process, by ``tid:name``."""
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        out[f"{task.name}:{name}"] = proc_cpu_path(task / "stat")
    return out


def proc_cpu_path(stat: Path) -> float:
    try:
        raw = stat.read_bytes()
    except OSError:
        return 0.0
    fields = raw[raw.rfind(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_sup(root: Path, tag: str, n: int) -> Supervisor:
    repo = make_repo(root / f"repo-{tag}")
    text = f'[run]\nname = "idle{tag}"\n[defaults]\nagent = "sim"\nsilence_after = "1h"\n' + "".join(
        f'[[session]]\nname = "s{i:03d}"\nscript = ["listen 3600"]\n' for i in range(n))
    path = root / f"idle-{tag}.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    sup.review_enabled = False
    return sup


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--settle", type=float, default=75.0,
                    help="seconds after the last spawn before measuring (quiet after 10 s, long quiet after 60 s)")
    ap.add_argument("--profile", type=Path, default=None, help="write a cProfile of the first round here")
    add_keep(ap)
    args = ap.parse_args()
    with scratch(args.keep) as root:
        print(f"{args.sessions} quiet sim sessions ('listen'), {args.seconds:g} s measured per round; "
              f"floor: a bare asyncio loop ticking every {TICK_S:g} s")
        for r in range(args.rounds):
            prof = cProfile.Profile() if args.profile and r == 0 else None
            sup = make_sup(root, f"r{r}", args.sessions)
            sup_pct, tmux_pct = asyncio.run(measure(sup, args.sessions, args.seconds, args.settle, prof))
            fl = floor_pct(args.seconds)
            print(f"round {r + 1}: supervisor {sup_pct:.2f}% of a core (goal ≤ 0.5 %), tmux server "
                  f"{tmux_pct:.2f}%, floor {fl:.3f}% → {sup_pct / max(fl, 1e-3):.0f}× the floor, "
                  f"{sup_pct - fl:.2f} points above it")
            if prof is not None:
                prof.dump_stats(str(args.profile))


if __name__ == "__main__":
    main()
