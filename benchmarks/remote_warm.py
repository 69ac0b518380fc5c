"""Warm vs cold pick-up on an ssh node (#17): a task placed on a loopback sshd node, to its agent started.

    python benchmarks/remote_warm.py [--files 3000] [--tasks 8]

Worktree only — cold: :meth:`RemoteNode.prepare_worktree` (push the base and the branch over the master, ``git
worktree add`` on the node); warm: :meth:`NodeWarm.claim` from a slot made ahead (``checkout -f -B`` + ``clean`` +
``worktree move`` on the node, one round trip).

To the agent started (the claim, then what ``SshNode`` does after it, with one session file and a small env):
cold (``prepare_worktree``, the file uploaded, :meth:`RemoteNode.spawn`: its prepare round trip, the env file, a
new window); warm with a worktree only (the claim, then the same upload and spawn: what a node's slot was before
it had a window); warm with the slot's window (the claim, then :meth:`RemoteNode.respawn`: files, env and the agent
started in the idle window in one round trip). The two warm rows alternate, task by task, on the same slots.

Floor: one round trip over the same master (``true``). All in the same run, same repo, same node; read the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import add_keep, make_repo, pct, scratch
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
    add_keep(ap)
    args = ap.parse_args()
    with scratch(args.keep) as root:
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
            nw = NodeWarm(node="box1", remote=lambda: rn, repo=repo, run="bench", count=3 * args.tasks,
                          base_commit=lambda: base, emit=lambda *a, **k: None, setup=[], env={},
                          checkout=None)
            t0 = time.perf_counter()
            nw.fill()
            fill_s = time.perf_counter() - t0
            windows = len(getattr(nw, "windows", {}))
            warm = []
            for i in range(args.tasks):
                rec = SessionRecord(name=f"w{i}", slug=f"w{i}", agent="sim", branch=f"cortex/bench/w{i}",
                                    worktree=str(repo / f"x{i}"))
                t0 = time.perf_counter()
                got = nw.claim(rec, base, [])
                warm.append((time.perf_counter() - t0) * 1000)
                assert got
                if got.window is not None:
                    rn.kill_window(got.window.window_id)
            files = {"script.json": b'["say hello"]\n' * 4}

            def env(name: str) -> dict[str, str]:
                return {"CORTEX_RUN": "bench", "CORTEX_SESSION": name, "CORTEX_EVENTS_FILE": f"/x/{name}/events.jsonl",
                        "LANG": "C.UTF-8"}

            def start(name: str, wt: PurePosixPath) -> None:  # what SshNode does without a warm window
                for fname, data in files.items():
                    rn.put_file(rn.session_dir(name) / fname, data)
                rn.spawn(name=name, slug=name, argv=["true"], env=env(name), cwd=wt, tag=name, header="")

            cold_start = []
            for i in range(args.tasks):
                t0 = time.perf_counter()
                wt = rn.prepare_worktree(repo, f"cortex/bench/cs{i}", base, f"cs{i}")
                start(f"cs{i}", wt)
                cold_start.append((time.perf_counter() - t0) * 1000)
            bare_start: list[float] = []
            win_start: list[float] = []
            with_window = 0
            for i in range(2 * args.tasks):
                name = f"s{i}"
                rec = SessionRecord(name=name, slug=name, agent="sim", branch=f"cortex/bench/{name}",
                                    worktree=str(repo / f"y{i}"))
                t0 = time.perf_counter()
                got = nw.claim(rec, base, [])
                claim_ms = (time.perf_counter() - t0) * 1000
                assert got
                wt = PurePosixPath(rec.worktree)
                if i % 2 == 0 or got.window is None:  # the slot used as a worktree only (its window closed, untimed)
                    if got.window is not None:
                        rn.kill_window(got.window.window_id)
                    t0 = time.perf_counter()
                    start(name, wt)
                    (bare_start if i % 2 == 0 else win_start).append(claim_ms + (time.perf_counter() - t0) * 1000)
                else:
                    t0 = time.perf_counter()
                    assert rn.respawn(got.window, name=name, slug=name, argv=["true"], env=env(name), cwd=wt, tag=name,
                                      files=files) is not None
                    win_start.append(claim_ms + (time.perf_counter() - t0) * 1000)
                    with_window += 1
            print(f"repo: {args.files} files; node: loopback sshd; {args.tasks} tasks each")
            print(f"floor (one round trip)  {ms(floor)}")
            print(f"cold (push + add)       {ms(cold)}")
            print(f"warm (claim a slot)     {ms(warm)}")
            print(f"background fill of {3 * args.tasks} slots: {fill_s:.1f} s ({windows} with an idle window)")
            print(f"warm / cold p50: {pct(warm, 50) / pct(cold, 50):.2f}   warm / floor p50: "
                  f"{pct(warm, 50) / pct(floor, 50):.1f}x   cold / floor p50: {pct(cold, 50) / pct(floor, 50):.1f}x")
            print("to the agent started:")
            print(f"cold                    {ms(cold_start)}")
            print(f"warm, worktree only     {ms(bare_start)}")
            print(f"warm, slot's window     {ms(win_start)}  ({with_window} of {len(win_start)} in the slot's window)")
            print(f"window / worktree-only p50: {pct(win_start, 50) / pct(bare_start, 50):.2f}   window / floor p50: "
                  f"{pct(win_start, 50) / pct(floor, 50):.1f}x   worktree-only / floor p50: "
                  f"{pct(bare_start, 50) / pct(floor, 50):.1f}x   cold / floor p50: "
                  f"{pct(cold_start, 50) / pct(floor, 50):.1f}x")
            rn.kill_server()
            rn.transport.close()
        finally:
            server.close()


if __name__ == "__main__":
    main()
