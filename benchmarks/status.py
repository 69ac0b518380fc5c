"""`cortex-tui status --json` latency (#18), beside its floors measured in the same run: ``python -c pass``
(the interpreter's start-up with this venv's site — what any command of the installed CLI costs before it does
anything) and ``python -S -c pass`` (the bare interpreter, without site: what no Python CLI can go below).

    python benchmarks/status.py [--sessions 100] [--samples 15]

* live: N sim sessions running under a supervisor that serves its API (answered from the API socket);
* files: the same run once its supervisor is gone (state.json and review.json read);
* full CLI: the same command through the whole command line (``--debug status --json``: the path every
  ``status --json`` took before, typer and every model imported) — for comparison;
* models: the run's files read with the state and review models (``status_fast.status_data``, the API not
  asked) — what the files path cost before ``cli/status_plain.py``, and what it still costs for a state file
  that reader declines (an older version's, a corrupt one).

Each call is a new process (``python -m cortex_tui.cli …``), as a script or a tmux status line runs it, with
bytecode caches as an installed CLI has them (pip compiles them at install; an editable install writes them on
first use): this machine's environment sets ``PYTHONDONTWRITEBYTECODE=1``, under which every call compiled
cortex_tui's modules from source (~3.5 ms of a ~27 ms live call at load 2) — the children run with it unset and
``PYTHONPYCACHEPREFIX`` in the scratch dir (nothing is written into the tree), one warm-up call of each kind
first; ``--no-bytecode`` times them as before, compiling. Reported: p50 / max wall time per call and p50 minus
the floor's p50 (what status itself costs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_keep, all_spawned, make_repo, pct, scratch

from cortex_tui.api.server import ApiServer
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout

MODELS = """
import json, sys
from pathlib import Path
from cortex_tui.cli.status_fast import status_data
sys.stdout.write(json.dumps(status_data(Path(sys.argv[1]), None, None, ask_api=False), indent=2, default=str) + "\\n")
"""


ENV: dict[str, str] | None = None
"""The children's environment (None: this process's, bytecode as it is)."""


def with_bytecode(cache: Path) -> dict[str, str]:
    """This environment with bytecode caches written and read under ``cache`` (not in the tree)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=ENV)
    dt = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    return dt


def series(repo: Path, samples: int) -> dict[str, list[float]]:
    """Floor, status --json and the full CLI, interleaved (the machine's load moves all three alike)."""
    out: dict[str, list[float]] = {"floor": [], "floor_S": [], "status": [], "models": [], "full": []}
    cmd = [sys.executable, "-m", "cortex_tui.cli"]
    models = [sys.executable, "-c", MODELS, str(repo)]
    for argv in ([sys.executable, "-c", "pass"], [*cmd, "status", "--repo", str(repo), "--json"], models,
                 [*cmd, "--debug", "status", "--repo", str(repo), "--json"]):
        timed(argv)  # warm-up (bytecode caches written), not counted
    for _ in range(samples):
        out["floor"].append(timed([sys.executable, "-c", "pass"]))
        out["floor_S"].append(timed([sys.executable, "-S", "-c", "pass"]))
        out["status"].append(timed([*cmd, "status", "--repo", str(repo), "--json"]))
        out["models"].append(timed(models))
        out["full"].append(timed([*cmd, "--debug", "status", "--repo", str(repo), "--json"]))
    return out


def report(label: str, res: dict[str, list[float]]) -> None:
    fl = pct(res["floor"], 50)
    for key, name in (("status", "status --json"), ("models", "files, models"), ("full", "full CLI")):
        xs = res[key]
        print(f"{label:<6} {name:<14} p50 {pct(xs, 50) * 1000:6.0f} ms  max {max(xs) * 1000:6.0f} ms  "
              f"→ {(pct(xs, 50) - fl) * 1000:5.0f} ms over the floor ({pct(xs, 50) / fl:4.1f}×)")
    print(f"{label:<6} {'floor':<14} p50 {fl * 1000:6.0f} ms  max {max(res['floor']) * 1000:6.0f} ms  (python -c pass)")
    print(f"{label:<6} {'floor -S':<14} p50 {pct(res['floor_S'], 50) * 1000:6.0f} ms  max "
          f"{max(res['floor_S']) * 1000:6.0f} ms  (python -S -c pass: no site)")


async def live(sup: Supervisor, n: int, samples: int) -> dict[str, list[float]]:
    ready = all_spawned(sup, n)
    sup.plugins.append(ApiServer(sup))
    await sup.start()
    task = asyncio.create_task(sup.supervise(until_done=False))
    await asyncio.wait_for(ready.wait(), 900)
    await asyncio.sleep(3.0)
    res = await asyncio.to_thread(series, sup.repo, samples)
    for name in list(sup.rt):
        await sup.stop_session(name)
    sup.request_stop()
    await task
    await sup.shutdown()
    sup.tmux.kill_server()
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--no-files", action="store_true", help="only the live supervisor's series")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="the calls without bytecode caches when the environment says so (each compiles cortex_tui)")
    add_keep(ap)
    args = ap.parse_args()
    global ENV
    with scratch(args.keep) as root:
        if not args.no_bytecode:
            ENV = with_bytecode(root / "pycache")
        repo = make_repo(root / "repo")
        text = '[run]\nname = "status"\n[defaults]\nagent = "sim"\nsilence_after = "1h"\nbudget_usd = 5\n' + "".join(
            f'[[session]]\nname = "s{i:03d}"\nscript = ["listen 3600"]\n' for i in range(args.sessions))
        path = root / "status.toml"
        path.write_text(text)
        sup = Supervisor(parse_layout(text, path), repo, headless=True)
        sup.review_enabled = False
        print(f"{args.sessions} sim sessions, {args.samples} calls of each kind, interleaved; bytecode caches: "
              + ("as the environment says" if args.no_bytecode else "written and used"))
        report("live", asyncio.run(live(sup, args.sessions, args.samples)))
        if not args.no_files:
            report("files", series(repo, args.samples))


if __name__ == "__main__":
    main()
