"""Idle cost of the local API: supervisor CPU with 20 quiet sim sessions, with the API (unix socket + TCP)
and metrics endpoint on and an SSE client following the event stream (what a browser tab or an MCP lead does),
against the same run with them off — alternated in the same run of this script.

    python benchmarks/api_idle.py [--sessions 20] [--seconds 20] [--rounds 2]

Prints the supervisor's CPU as % of one core for each round and the difference on - off (goal: ≤ 0.2 %).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, make_repo, scratch


async def child(mode: str, sessions: int, seconds: float, repo: Path, root: Path) -> dict[str, float]:
    import aiohttp

    from cortex_tui.api.server import ApiServer
    from cortex_tui.engine.supervisor import Supervisor
    from cortex_tui.layout import parse_layout

    text = (f'[run]\nname = "idle-{mode}"\n[defaults]\nagent = "sim"\nsilence_after = "1h"\n'
            + "".join(f'[[session]]\nname = "s{i}"\nscript = ["listen 900"]\n' for i in range(sessions)))
    path = root / f"idle-{mode}.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    if mode == "on":
        sup.plugins.append(ApiServer(sup, tcp=("127.0.0.1", 0)))
        sup.metrics_addr = ("127.0.0.1", 0)
    spawned: set[str] = set()
    sup.subscribe(lambda ev: spawned.add(ev.session) if ev.kind == "spawned" and ev.session else None)
    await sup.start()
    task = asyncio.create_task(sup.supervise(until_done=False))
    while len(spawned) < sessions:
        await asyncio.sleep(0.2)
    await asyncio.sleep(3.0)  # let the spawn burst settle
    follower = None
    if mode == "on":
        sock = sup.store.dir / "api.sock"

        async def follow() -> None:
            conn = aiohttp.UnixConnector(path=str(sock))
            async with aiohttp.ClientSession(connector=conn, base_url="http://cortex") as s, \
                    s.get("/v1/events", params={"since": "0"}) as r:
                async for _ in r.content:
                    pass

        follower = asyncio.create_task(follow())
        await asyncio.sleep(1.0)
    t0, c0 = time.monotonic(), time.process_time()
    await asyncio.sleep(seconds)
    t1, c1 = time.monotonic(), time.process_time()
    if follower is not None:
        follower.cancel()
    sup.request_stop()
    await task
    for name in list(sup.rt):
        await sup.stop_session(name)
    await sup.shutdown()
    return {"cpu_percent": (c1 - c0) / (t1 - t0) * 100}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", choices=["on", "off"])
    ap.add_argument("--root")
    add_keep(ap)
    args = ap.parse_args()
    if args.child:
        root = Path(args.root)
        repo = make_repo(root / f"repo-{args.child}-{os.getpid()}")
        print(json.dumps(asyncio.run(child(args.child, args.sessions, args.seconds, repo, root))))
        return
    with scratch(args.keep) as root:
        results: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(args.rounds):
            for mode in ("off", "on"):
                out = subprocess.run([sys.executable, __file__, "--child", mode, "--root", str(root),
                                      "--sessions", str(args.sessions), "--seconds", str(args.seconds)],
                                     capture_output=True, text=True, check=True)
                cpu = json.loads(out.stdout.strip().splitlines()[-1])["cpu_percent"]
                results[mode].append(cpu)
                print(f"{mode:>3}: supervisor CPU {cpu:.2f} % of a core ({args.sessions} quiet sessions)")
        off = min(results["off"])
        on = min(results["on"])
        print(f"API + metrics + one SSE follower add {on - off:+.2f} % of a core (best of {args.rounds}: "
              f"{on:.2f} on vs {off:.2f} off; goal ≤ 0.2 %)")


if __name__ == "__main__":
    main()
