"""Helpers to run the real engine (real tmux, git, sim agents) from tests."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.layout import parse_layout


def make_sup(repo: Path, text: str, tmp_path: Path, name: str = "layout.toml") -> Supervisor:
    path = tmp_path / name
    path.write_text(text)
    return Supervisor(parse_layout(text, path), repo, headless=True)


def run_to_end(sup: Supervisor, timeout: float = 60.0,
               during: Callable[[Supervisor], Awaitable[None]] | None = None) -> list[Event]:
    """Supervise until every session ended; returns every event seen."""
    seen: list[Event] = []
    sup.subscribe(seen.append)

    async def main() -> None:
        await sup.start()
        task = asyncio.create_task(sup.supervise(until_done=True))
        if during is not None:
            await during(sup)
        await asyncio.wait_for(task, timeout)
        await sup.shutdown()

    asyncio.run(main())
    return seen


def triggers(events: list[Event], kind: str, session: str | None = None) -> list[Event]:
    return [e for e in events if e.kind == "trigger" and e.data["kind"] == kind
            and (session is None or e.session == session)]


def cli(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "cortex_tui.cli", *args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"cortex-tui {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def status_json(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cli("status", "--repo", str(repo), "--json").stdout)
    return data


async def wait_for(pred: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


REVIVE_LAYOUT = """
[run]
name = "RUN"
[[session]]
name = "done"
agent = "sim"
script = ["write a.txt a", "commit done work"]
[[session]]
name = "slow"
agent = "shell"
command = "while [ ! -f GATE ]; do sleep 0.2; done; echo s > s.txt; git add -A && git commit -qm 'slow work'"
[[session]]
name = "after"
agent = "sim"
depends_on = ["slow"]
script = ["write b.txt b", "commit after work"]
"""


def revive_layout(run: str, gate: Path) -> str:
    """A run for tmux-server-death tests: ``done`` finishes at once, ``slow`` waits for the file ``gate`` to
    exist, ``after`` depends on ``slow`` (so a dead server leaves one finished, one failed, one pending)."""
    return REVIVE_LAYOUT.replace("RUN", run).replace("GATE", str(gate))
