"""Crash soak: kill -9 the supervisor N times at random moments while sessions run; afterwards every
session must be finished exactly once, with its commit on its branch, and no window duplicated.

    python benchmarks/crash.py [--cycles 100] [--sessions 6]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, make_repo, scratch

from cortex_tui.backends.tmux import Tmux


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cortex_tui.cli", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--sessions", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    add_keep(ap)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    with scratch(args.keep) as root:
        repo = make_repo(root / "repo")
        # sessions long enough to outlive many cycles, chained by dependencies
        span = args.cycles * 1.2  # about how long the cycles take: sessions outlive most of them
        n = args.sessions
        body = "".join(
            f'[[session]]\nname = "s{i}"\nscript = ["sleep {span * (i + 1) / (2 * n):.1f}", "write f{i}.txt {i}", '
            f'"commit s{i} work", "sleep {span / (2 * n):.1f}"]\n' + (f'depends_on = ["s{i - 2}"]\n' if i >= 2 else "")
            for i in range(n))
        layout = root / "crash.toml"
        layout.write_text(f'[run]\nname = "soak"\n[defaults]\nagent = "sim"\n{body}')
        lock = repo / "coordination/runs/soak/supervisor.lock"
        t0 = time.perf_counter()
        kills = 0
        for _ in range(args.cycles):
            r = cli("up", str(layout), "--repo", str(repo), "--detach")
            if r.returncode != 0:
                raise SystemExit(f"up failed: {r.stderr}")
            time.sleep(rnd.uniform(0.0, 0.4))
            try:
                os.kill(int(lock.read_text()), signal.SIGKILL)
                kills += 1
            except (ValueError, ProcessLookupError):
                pass
            st = json.loads(cli("status", "--repo", str(repo), "--json").stdout)
            if all(s["state"] == "finished" for s in st["sessions"]):
                break
        r = subprocess.run([sys.executable, "-m", "cortex_tui.cli", "run", str(layout), "--repo", str(repo),
                            "--headless"], capture_output=True, text=True, timeout=300)
        st = json.loads(cli("status", "--repo", str(repo), "--json").stdout)
        states = {s["name"]: s["state"] for s in st["sessions"]}
        events = (repo / "coordination/runs/soak/events.jsonl").read_text().splitlines()
        spawned = sum('"kind":"spawned"' in ln for ln in events)
        tags = [w.tag for w in Tmux(st["socket"]).list_windows() if w.tag]
        lost_commits = [n for n in states if subprocess.run(
            ["git", "-C", str(repo), "log", "-1", "--format=%s", f"cortex/soak/{n}"],
            capture_output=True, text=True).stdout.strip() != f"{n} work"]
        print(f"kill -9 cycles: {kills}  final run exit {r.returncode}  wall {time.perf_counter() - t0:.0f}s")
        print(f"sessions finished: {sum(v == 'finished' for v in states.values())}/{len(states)}  "
              f"spawned events: {spawned} (expected {len(states)})  duplicate windows: {len(tags) - len(set(tags))}  "
              f"lost commits: {len(lost_commits)}")
        ok = r.returncode == 0 and spawned == len(states) and len(tags) == len(set(tags)) and not lost_commits
        print("PASS" if ok else "FAIL")
        if not ok:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
