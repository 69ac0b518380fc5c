"""Remote trigger latency (#18): a line on a loopback ssh node → the trigger event, and a file written outside
the scope in the node's worktree → ``out_of_scope``, each beside the same on this machine and one ssh round
trip over the same master, all measured in the same run.

    python benchmarks/remote_trigger.py [--samples 40] [--no-poll-phase]

Cause: the benchmark appends an error line to the session's log where pipe-pane writes it (on the node:
the node's log file; locally: the run's log), with ``error_repeats = 1``; latency until the engine publishes
the ``repeated_error`` trigger. Then it writes ``docs/oos-<n>.md`` into each session's worktree (``scope =
["src/**"]``); latency until ``out_of_scope`` for that path. Phases: the node's watcher streaming (the default), then the poll alone
(the watcher disabled: what the engine did before streaming). Floor: ``ssh -O``-multiplexed ``true`` round
trips (:meth:`SshTransport.ping`). Goal: remote p50 <= one round trip + 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import add_keep, make_repo, pct, scratch, summary
from sshd import SshServer

from cortex_tui.engine import node_stream
from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout


def layout(sshd: SshServer, run: str) -> str:
    kw = sshd.node_kwargs()
    return (f'[run]\nname = "{run}"\n[defaults]\nagent = "shell"\nerror_repeats = 1\nsilence_after = "1h"\n'
            f'[[node]]\nname = "box1"\nhost = "{kw["host"]}"\nport = {kw["port"]}\nuser = "{kw["user"]}"\n'
            f'identity = "{kw["identity"]}"\nworkdir = "{kw["workdir"]}"\npython = "{kw["python"]}"\n'
            f'ssh_options = ["UserKnownHostsFile={sshd.known_hosts}"]\n'
            '[[session]]\nname = "far"\nnode = "box1"\ncommand = "sleep 600"\nscope = ["src/**"]\n'
            '[[session]]\nname = "near"\ncommand = "sleep 600"\nscope = ["src/**"]\n')


async def measure(sup: Supervisor, sshd: SshServer, run: str, samples: int) -> dict[str, list[float]]:
    waiting: dict[tuple[str, str], asyncio.Future[float]] = {}
    loop = asyncio.get_running_loop()

    def on(ev: Event) -> None:
        if ev.kind == "trigger" and ev.session and ev.data.get("kind") in ("repeated_error", "out_of_scope"):
            what = str(ev.data.get("key")) + str(ev.data.get("evidence", {}).get("path"))
            for (name, tag), fut in waiting.items():
                if name == ev.session and tag in what and not fut.done():
                    fut.set_result(time.perf_counter())

    sup.subscribe(on)
    await sup.start()
    task = asyncio.create_task(sup.supervise(until_done=False))
    deadline = time.monotonic() + 120
    while not all(r.state.value == "running" for r in sup.state.sessions.values()):
        if time.monotonic() > deadline:
            raise SystemExit(f"sessions did not start: {[(n, r.state.value, r.reason) for n, r in sup.state.sessions.items()]}")
        await asyncio.sleep(0.1)
    await asyncio.sleep(3.0)  # the first polls are done; the node's watcher (if any) is up
    logs = {"far": sshd.workdir / "runs" / run / "logs" / f"{sup.state.sessions['far'].slug}.log",
            "near": sup.store.logs_dir / f"{sup.state.sessions['near'].slug}.log"}
    out: dict[str, list[float]] = {"far": [], "near": []}
    for i in range(samples):
        for name in ("far", "near"):
            tag = f"{run} case {i}"
            fut: asyncio.Future[float] = loop.create_future()
            waiting[(name, tag)] = fut
            t0 = time.perf_counter()
            with open(logs[name], "ab") as f:
                f.write(f"Error: {tag}\n".encode())
            out[name].append(await asyncio.wait_for(fut, 30) - t0)
            await asyncio.sleep(0.05 + (i % 7) * 0.03)  # not in step with the 1 s poll
    trees = {name: Path(sup.state.sessions[name].worktree) for name in ("far", "near")}
    for name in trees:
        out[f"{name}_oos"] = []
    for i in range(samples):
        for name, wt in trees.items():
            tag = f"docs/oos-{run}-{i}.md"
            fut = loop.create_future()
            waiting[(name, tag)] = fut
            t0 = time.perf_counter()
            (wt / "docs").mkdir(exist_ok=True)
            (wt / tag).write_text("outside the scope\n")
            out[f"{name}_oos"].append(await asyncio.wait_for(fut, 30) - t0)
            await asyncio.sleep(0.05 + (i % 7) * 0.03)
    transport = sup.nodes.get("box1").remote.transport  # type: ignore[attr-defined]
    rtt: list[float] = []
    for _ in range(samples):
        ms = await asyncio.to_thread(transport.ping)
        if ms is not None:
            rtt.append(ms / 1000)
    out["rtt"] = rtt
    out["stream_log_bytes"] = [float(sup.nodes.streams.stats_for("box1").log_bytes)]
    out["stream_changes"] = [float(sup.nodes.streams.stats_for("box1").changes)]
    sup.request_stop()
    await task
    await sup.shutdown()
    return out


def phase(root: Path, sshd: SshServer, run: str, samples: int) -> dict[str, list[float]]:
    repo = make_repo(root / f"repo-{run}")
    text = layout(sshd, run)
    path = root / f"{run}.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    try:
        return asyncio.run(measure(sup, sshd, run, samples))
    finally:
        sup.tmux.kill_server()
        sup.nodes.get("box1").remote.kill_server()  # type: ignore[attr-defined]


def report(name: str, r: dict[str, list[float]]) -> None:
    far, near, rtt = r["far"], r["near"], r["rtt"]
    print(f"[{name}] remote trigger : {summary(far)}  max {max(far) * 1000:7.1f} ms")
    print(f"[{name}] local trigger  : {summary(near)}  max {max(near) * 1000:7.1f} ms")
    print(f"[{name}] ssh round trip : {summary(rtt)}")
    print(f"[{name}] remote p50 beyond one round trip: {(pct(far, 50) - pct(rtt, 50)) * 1000:.1f} ms "
          f"(goal <= 50 ms); remote/local p50 {pct(far, 50) / pct(near, 50):.1f}x; "
          f"log bytes via the stream {int(r['stream_log_bytes'][0])}")
    far, near = r["far_oos"], r["near_oos"]
    print(f"[{name}] remote out_of_scope: {summary(far)}  max {max(far) * 1000:7.1f} ms")
    print(f"[{name}] local out_of_scope : {summary(near)}  max {max(near) * 1000:7.1f} ms")
    print(f"[{name}] remote out_of_scope p50 beyond one round trip: {(pct(far, 50) - pct(rtt, 50)) * 1000:.1f} ms; "
          f"remote/local p50 {pct(far, 50) / pct(near, 50):.1f}x; worktree records via the stream "
          f"{int(r['stream_changes'][0])}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--no-poll-phase", action="store_true", help="skip the poll-only phase")
    add_keep(ap)
    args = ap.parse_args()
    with scratch(args.keep) as root:
        sshd = SshServer(root / "node")
        sshd.start()
        try:
            report("stream", phase(root, sshd, "rts", args.samples))
            if not args.no_poll_phase:
                node_stream.GIVE_UP = 0  # no watcher: the 1 s poll alone (the engine before streaming)
                report("poll only", phase(root, sshd, "rtp", args.samples))
        finally:
            sshd.close()


if __name__ == "__main__":
    main()
