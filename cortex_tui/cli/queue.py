"""``cortex-tui queue``: the run's tasks by phase (pending with why each waits, running, done), per label, and
the pool's limits and warm slots — the same :class:`~cortex_tui.engine.queue_view.TaskQueue` as ``GET
/v1/queue``, the MCP ``queue`` tool and the TUI's queue view. A live supervisor answers through its API (its
pool numbers are the current ones); otherwise it is read from the run's files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import JsonOpt, RepoOpt, RunOpt, StateOpt
from cortex_tui.cli._runs import layout_of, open_run
from cortex_tui.errors import CortexError

if TYPE_CHECKING:
    from cortex_tui.engine.queue_view import TaskQueue
    from cortex_tui.model.state import RunState
    from cortex_tui.store.files import RunStore


def read_queue(store: RunStore, state: RunState) -> TaskQueue:
    from cortex_tui.cli.control import live_api
    from cortex_tui.engine.intake import read_inbox
    from cortex_tui.engine.queue_view import TaskQueue, build_queue

    sock = live_api(store)
    if sock is not None:
        from cortex_tui.api.client import ApiClient

        async def ask() -> TaskQueue:
            async with ApiClient(sock, origin="cli") as c:
                return TaskQueue.model_validate(await c.get("/v1/queue"))

        try:
            return asyncio.run(ask())
        except CortexError:
            pass  # a supervisor without /v1/queue (older) or gone meanwhile: the files say it too
    inbox, _ = read_inbox(store.dir)
    try:
        layout = layout_of(state).layout
    except CortexError:
        layout = None  # a layout that no longer parses: its sessions count as "-"
    return build_queue(state, layout, inbox)


def render(q: TaskQueue) -> list[str]:
    from cortex_tui.text import visible

    out = [f"{k:<8} {getattr(q, k).count:>3}  {visible(', '.join(getattr(q, k).sessions))}"
           for k in ("pending", "running", "done")]
    pool, lim = q.pool, q.limits
    if lim is not None:
        size = f"size {lim.size}" if lim.size is not None else f"min {lim.min or 1}, max {lim.max or '-'}"
        line = f"pool     {size}"
        if pool.get("slots") is not None:
            line += f"; {pool.get('running', 0)}/{pool['slots']} slots in use"
        warm = pool.get("warm") or {}
        if lim.warm:
            line += f"; warm {warm.get('ready', 0)}/{lim.warm} ready here"
            for node, w in sorted((warm.get("nodes") or {}).items()):
                line += f", {w.get('ready', 0)}/{w.get('wanted', lim.warm)} on {visible(node)}"
            if warm.get("broken"):
                line += f" (no more: {visible(str(warm['broken']))})"
        out.append(line)
    for label, counts in sorted(q.by_type.items()):
        out.append(f"type {visible(label):<12} " + "  ".join(f"{k} {counts[k]}" for k in ("pending", "running", "done")))
    for name, why in q.waiting.items():
        out.append(f"  {visible(name)}: {visible(why)}")
    return out


@app.command()
def queue(repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None, as_json: JsonOpt = False) -> None:
    """The run's tasks by phase: pending (incl. the inbox, with why each waits), running, done; per label; the
    pool's limits and warm slots."""
    store, state = open_run(repo, state_dir, run_id)
    q = read_queue(store, state)
    if as_json:
        typer.echo(json.dumps(q.model_dump(mode="json")))
        return
    for line in render(q):
        typer.echo(line)
