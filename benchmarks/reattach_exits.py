"""Exits a reconcile finds (#17): N sessions end while no supervisor watches; the next supervisor's start finds
them all in one reconcile (``Reconciler.run``). Timed from the start's reconcile on: when each exit was seen
(``exited_at`` of its ``finished`` event: its pool slot free) and when the last one was finished (its final look
recorded).

    python benchmarks/reattach_exits.py [--sessions 20] [--files 1000]

Floor, in the same run: one session's final look alone (``LocalNode.final_look``: head, diff size, changed
files, symlink sweep, disk use), ``--sessions`` times one after another — what looking at them one by one costs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, make_repo, pct, scratch

from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout
from cortex_tui.model.state import SessionState


def layout_text(n: int, gate: Path) -> str:
    return '[run]\nname = "reexit"\n' + "".join(
        f'[[session]]\nname = "s{i}"\nagent = "shell"\ncommand = "while [ ! -f {gate} ]; do sleep 0.2; done; '
        f'echo {i} > f{i}.txt; git add -A && git commit -qm s{i}"\n' for i in range(n))


def sup_of(repo: Path, text: str, root: Path) -> Supervisor:
    path = root / "layout.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    sup.review_enabled = False
    return sup


async def first_run(sup: Supervisor, n: int) -> None:
    await sup.start()
    task = asyncio.create_task(sup.supervise(until_done=True))
    end = time.monotonic() + 120
    while sum(rt.rec.state is SessionState.RUNNING for rt in sup.rt.values()) < n:
        if time.monotonic() > end:
            raise SystemExit("the sessions did not all start")
        await asyncio.sleep(0.1)
    sup.request_stop()
    await asyncio.wait_for(task, 60)
    await sup.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--files", type=int, default=1000)
    add_keep(ap)
    args = ap.parse_args()
    n = args.sessions
    with scratch(args.keep) as root:
        repo = make_repo(root / "repo", files=args.files)
        gate = root / "GATE"
        text = layout_text(n, gate)
        first = sup_of(repo, text, root)
        asyncio.run(first_run(first, n))
        gate.write_text("")
        exits = [first.router.exit_file(rt.rec) for rt in first.rt.values()]
        end = time.monotonic() + 120
        while not all(p.exists() for p in exits):
            if time.monotonic() > end:
                raise SystemExit("the agents did not end")
            time.sleep(0.1)
        sup = sup_of(repo, text, root)
        seen: list[Event] = []
        sup.subscribe(seen.append)
        t0 = 0.0

        async def reattach() -> float:
            nonlocal t0
            t0 = time.time()
            await sup.start()
            took = time.time() - t0
            await sup.shutdown()
            return took

        took = asyncio.run(reattach())
        fin = [e for e in seen if e.kind == "finished"]
        seen_ms = [(float(e.data["exited_at"]) - t0) * 1000 for e in fin]
        done_ms = [(e.ts - t0) * 1000 for e in fin]
        states = {rt.rec.state for rt in sup.rt.values()}
        rec = next(iter(sup.rt.values())).rec
        looks = []
        for _ in range(n):  # the floor: one final look at a time, the same worktree
            t1 = time.perf_counter()
            sup.local.final_look(rec, rec.base_commit or "HEAD")
            looks.append((time.perf_counter() - t1) * 1000)
        serial = sum(looks)
        print(f"{n} sessions ended while no supervisor ran ({args.files}-file repo); the next start's reconcile:")
        print(f"  finished: {len(fin)} of {n}; states {sorted(s.value for s in states)}")
        print(f"  exit seen after the start began:   p50 {pct(seen_ms, 50):7.0f} ms  max {max(seen_ms):7.0f} ms")
        print(f"  finished after the start began:    p50 {pct(done_ms, 50):7.0f} ms  max {max(done_ms):7.0f} ms")
        print(f"  start() took {took * 1000:.0f} ms")
        print(f"  floor: one final look p50 {pct(looks, 50):.0f} ms; {n} one after another {serial:.0f} ms; "
              f"last finished / that: {max(done_ms) / serial:.2f}")


if __name__ == "__main__":
    main()
