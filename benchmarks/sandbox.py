"""Sandbox benchmark (issue #19): what ``sandbox = "bwrap"`` adds to a spawn, against a plain spawn in the same run.

    python benchmarks/sandbox.py [--n 40] [--rounds 3] [--node]

* start: one process start, ``/bin/sh -c true`` (the floor) vs the same inside the session's real jail
  (``backends/sandbox.py`` ``jail_for`` on a real worktree: warn mode, and enforce mode with a 3-glob scope,
  each with ``network = "none"`` too). This is the bwrap start itself.
* node launcher: the same start through what an ssh node runs (``python -S`` of ``backends/sandbox.py``, which
  computes the jail from the node's filesystem and execs bwrap; ``backends/sandbox_remote.py``), here on this
  machine so only the launcher's own cost is added.
* net allowlist: the same start with ``network = [...]``: the session's proxy (a python process outside the
  sandbox, ``backends/sandbox_proxy.py``), bwrap, and the forwarder inside (another python process).
* session: a whole session through the engine (worktree, window, the agent ``true``, its exit seen), plain vs
  ``sandbox = "bwrap"``: what a user waits for; with ``--node`` also on a loopback sshd node (the first sandboxed
  spawn there includes the once-per-node bwrap check and the launcher's upload).

Prints p50/p90 in milliseconds and the ratio to the plain floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import add_keep, make_repo, pct, scratch
from sshd import SshServer

from cortex_tui.backends import sandbox
from cortex_tui.backends.sandbox import bwrap_argv, jail_for, probe
from cortex_tui.backends.sandbox_proxy import PROXY_PORT, SOCKET, socket_dir
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout


def time_starts(argv: list[str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
        out.append(time.perf_counter() - t)
    return out


def node_toml(sshd: SshServer) -> str:
    kw = sshd.node_kwargs()
    return (f'[[node]]\nname = "box1"\nhost = "{kw["host"]}"\nport = {kw["port"]}\nuser = "{kw["user"]}"\n'
            f'identity = "{kw["identity"]}"\nworkdir = "{kw["workdir"]}"\npython = "{kw["python"]}"\n'
            f'ssh_options = ["UserKnownHostsFile={sshd.known_hosts}"]\n')


def session_time(root: Path, tag: str, boxed: bool, node: SshServer | None = None) -> float:
    repo = make_repo(root / f"repo-{tag}")
    text = (f'[run]\nname = "bench{tag}"\n{node_toml(node) if node else ""}[[session]]\nname = "s"\nagent = "shell"\n'
            'command = "true"\n' + ('sandbox = "bwrap"\n' if boxed else "") + ('node = "box1"\n' if node else ""))
    path = root / f"layout-{tag}.toml"
    path.write_text(text)
    sup = Supervisor(parse_layout(text, path), repo, headless=True)
    sup.review_enabled = False

    async def main() -> float:
        t0 = time.perf_counter()
        await sup.start()
        await sup.supervise(until_done=True)
        dt = time.perf_counter() - t0
        await sup.shutdown()
        return dt

    dt = asyncio.run(main())
    rec = sup.state.sessions["s"]
    if rec.state.value != "finished":
        raise SystemExit(f"session ended {rec.state.value}: {rec.reason}")
    sup.tmux.kill_server()
    return dt


def allowlisted(wt: Path, repo: Path, sd: Path, argv: list[str], log: Path) -> list[str]:
    """What ``network = [...]`` runs (backends/sandbox_node.py): the session's proxy outside, bwrap, the
    forwarder inside, then ``argv``."""
    where = socket_dir()  # the proxy removes it when it ends and makes it again (each start here)
    jail = jail_for(worktree=wt, branch="cortex/bench/s", scope=[], enforce=False, agent="shell", session_dir=sd,
                    env={}, network="none", repo=repo)
    jail = replace(jail, readable_tmp=(*jail.readable_tmp, where))
    inside = [sys.executable, "-I", "-m", "cortex_tui.backends.sandbox_fwd", str(where / SOCKET), str(PROXY_PORT),
              "--", *argv]
    return [sys.executable, "-I", "-m", "cortex_tui.backends.sandbox_proxy", str(where), str(log),
            json.dumps(["api.anthropic.com"]), "--", *bwrap_argv(jail, inside)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--node", action="store_true", help="also whole sessions on a loopback sshd node")
    add_keep(ap)
    args = ap.parse_args()
    why = probe()
    if why is not None:
        raise SystemExit(f"no sandbox here: {why}")
    with scratch(args.keep) as root:
        repo = make_repo(root / "jail-repo")
        wt = root / "jail-wt"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "-b", "cortex/bench/s", str(wt), "main"],
                       check=True)
        sd = root / "session"
        sd.mkdir()
        floor_argv = ["/bin/sh", "-c", "true"]

        def jailed(enforce: bool, network: str) -> list[str]:
            jail = jail_for(worktree=wt, branch="cortex/bench/s", scope=["src/**", "docs/*.md", "f1.txt"],
                            enforce=enforce, agent="shell", session_dir=sd, env={}, network=network, repo=repo)
            return bwrap_argv(jail, floor_argv)

        params = {"worktree": str(wt), "branch": "cortex/bench/s", "scope": [], "enforce": False, "agent": "shell",
                  "session_dir": str(sd), "network": "host", "repo": str(repo)}
        launcher = [sys.executable, "-I", "-S", sandbox.__file__, json.dumps(params), "--", *floor_argv]
        cases = [("plain", floor_argv), ("bwrap", jailed(False, "host")), ("bwrap enforce", jailed(True, "host")),
                 ("bwrap net=none", jailed(False, "none")), ("node launcher", launcher),
                 ("net allowlist", allowlisted(wt, repo, sd, floor_argv, root / "bench.log"))]
        time_starts(floor_argv, 5)  # warm the page cache
        print(f"process start ({args.n} each)")
        print(f"{'case':<16} {'p50 ms':>8} {'p90 ms':>8} {'ratio':>6}")
        base = pct(time_starts(floor_argv, args.n), 50)
        for name, argv in cases:
            ts = time_starts(argv, args.n)
            print(f"{name:<16} {pct(ts, 50) * 1000:>8.2f} {pct(ts, 90) * 1000:>8.2f} {pct(ts, 50) / base:>6.1f}x")
        print(f"\nwhole session (spawn to exit seen, {args.rounds} rounds)")
        plain = [session_time(root, f"p{r}", False) for r in range(args.rounds)]
        boxed = [session_time(root, f"b{r}", True) for r in range(args.rounds)]
        p50, b50 = pct(plain, 50), pct(boxed, 50)
        print(f"{'plain':<16} {p50 * 1000:>8.0f}\n{'bwrap':<16} {b50 * 1000:>8.0f}   ratio {b50 / p50:.2f}x, "
              f"+{(b50 - p50) * 1000:.0f} ms")
        if args.node:
            node_rounds(root, args.rounds)


def node_rounds(root: Path, rounds: int) -> None:
    sshd = SshServer(root / "node")
    sshd.start()
    try:
        print(f"\nwhole session on a loopback ssh node ({rounds} rounds; each its own supervisor: the first sandboxed"
              " spawn on a node checks its bwrap and uploads the launcher)")
        session_time(root, "nw", False, sshd)  # warm-up: the node's tmux server, git's first push
        plain: list[float] = []
        boxed: list[float] = []
        for r in range(rounds):  # interleaved: the load of the shared machine hits both alike
            plain.append(session_time(root, f"np{r}", False, sshd))
            boxed.append(session_time(root, f"nb{r}", True, sshd))
        p50, b50 = pct(plain, 50), pct(boxed, 50)
        print(f"{'plain':<16} {p50 * 1000:>8.0f}\n{'bwrap':<16} {b50 * 1000:>8.0f}   ratio {b50 / p50:.2f}x, "
              f"+{(b50 - p50) * 1000:.0f} ms")
    finally:
        sshd.close()


if __name__ == "__main__":
    main()
