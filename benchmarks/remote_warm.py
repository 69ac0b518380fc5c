"""Warm vs cold pick-up on an ssh node (#17): the worktree a task placed on a loopback sshd node starts in.

    python benchmarks/remote_warm.py [--files 3000] [--tasks 8]

Cold: :meth:`RemoteNode.prepare_worktree` (push the base and the branch over the master, ``git worktree add`` on
the node) — what a spawn on a node did before warm slots. Warm: :meth:`NodeWarm.claim` from a slot made ahead
(``checkout -f -B`` + ``clean`` + ``worktree move`` on the node, one round trip). Floor: one round trip over the
same master (``true``). All in the same run, same repo, same node; read the ratios.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import isolate, make_repo, pct
from sshd import SshServer

from cortex_tui.backends.git import rev_parse
from cortex_tui.backends.remote_node import make_remote_node
from cortex_tui.engine.remote_warm import NodeWarm
from cortex_tui.model.layout import NodeSpec
from cortex_tui.model.state import SessionRecord


def ms(values: list[float]) -> str:
    return f"p50 {pct(values, 50):8.1f} ms  mean {statistics.fmean(values):8.1f} ms  n={len(values)}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--tasks", type=int, default=8)
    args = ap.parse_args()
    root = isolate()
    server = SshServer(root / "node")
    server.start()
    try:
        repo = make_repo(root / "repo", files=args.files)
        base = rev_parse(repo, "HEAD")
        assert base is not None
        spec = NodeSpec(name="box1", ssh_options=[f"UserKnownHostsFile={server.known_hosts}"],
                        **server.node_kwargs())
        rn = make_remote_node(spec, "bench", "cortex-bench-warm")
        rn.setup()
        rn.transport.connect()
        floor = []
        for _ in range(max(10, args.tasks)):
            t0 = time.perf_counter()
            rn.sh("true")
            floor.append((time.perf_counter() - t0) * 1000)
        cold = []
        for i in range(args.tasks):
            t0 = time.perf_counter()
            rn.prepare_worktree(repo, f"cortex/bench/cold{i}", base, f"cold{i}")
            cold.append((time.perf_counter() - t0) * 1000)
        nw = NodeWarm(node="box1", remote=lambda: rn, repo=repo, run="bench", count=args.tasks,
                      base_commit=lambda: base, emit=lambda *a, **k: None, setup=[], env={},
                      checkout=None)
        t0 = time.perf_counter()
        nw.fill()
        fill_s = time.perf_counter() - t0
        warm = []
        for i in range(args.tasks):
            rec = SessionRecord(name=f"w{i}", slug=f"w{i}", agent="sim", branch=f"cortex/bench/w{i}",
                                worktree=str(repo / f"x{i}"))
            t0 = time.perf_counter()
            assert nw.claim(rec, base, [])
            warm.append((time.perf_counter() - t0) * 1000)
        print(f"repo: {args.files} files; node: loopback sshd; {args.tasks} tasks each")
        print(f"floor (one round trip)  {ms(floor)}")
        print(f"cold (push + add)       {ms(cold)}")
        print(f"warm (claim a slot)     {ms(warm)}")
        print(f"background fill of {args.tasks} slots: {fill_s:.1f} s")
        print(f"warm / cold p50: {pct(warm, 50) / pct(cold, 50):.2f}   warm / floor p50: "
              f"{pct(warm, 50) / pct(floor, 50):.1f}x   cold / floor p50: {pct(cold, 50) / pct(floor, 50):.1f}x")
        rn.transport.close()
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
