"""Tasks into a live run: ``add`` (one task, or a tasks file); ``queue`` is in cli/queue.py."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import JsonOpt, RepoOpt, RunOpt, StateOpt
from cortex_tui.cli._runs import layout_of, open_run
from cortex_tui.errors import CortexError, LayoutError, UsageError


def _split(v: str | None) -> list[str]:
    return [x.strip() for x in v.split(",") if x.strip()] if v else []


def tasks_from_file(path: Path) -> list[dict[str, Any]]:
    """``[[session]]`` tables of a TOML file, or one JSON object per line of a .jsonl file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None
    if path.suffix == ".jsonl":
        out = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise LayoutError(f"{path}:{i}: not JSON ({e.args[0]})") from None
            if not isinstance(obj, dict):
                raise LayoutError(f"{path}:{i}: a task is a JSON object with the fields of a [[session]] table")
            out.append(obj)
        return out
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LayoutError(f"{path}: {e}") from None
    extra = set(data) - {"session"}
    if extra:
        raise LayoutError(f"{path}: a tasks file has only [[session]] tables, not {', '.join(sorted(extra))}")
    sessions = data.get("session", [])
    if not isinstance(sessions, list):
        raise LayoutError(f"{path}: [[session]] must be an array of tables")
    return [dict(s) for s in sessions]


@app.command()
def add(
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    run_id: RunOpt = None,
    prompt: Annotated[str | None, typer.Option(help="What the agent should do.")] = None,
    name: Annotated[str | None, typer.Option(help="Session name (default task-N).")] = None,
    agent: Annotated[str | None, typer.Option(help="Agent kind (default: the layout's).")] = None,
    model: Annotated[str | None, typer.Option(help="Model (default: the layout's).")] = None,
    scope: Annotated[str | None, typer.Option(help="Comma list of globs the task may edit.")] = None,
    depends_on: Annotated[str | None, typer.Option("--depends-on", help="Comma list of sessions to wait for.")] = None,
    labels: Annotated[str | None, typer.Option("--labels", help="Comma list of labels ([[route]] rules match them).")] = None,
    node: Annotated[str | None, typer.Option(help="Node, node group or 'auto' (default: its route's or [pool] node).")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A tasks file: [[session]] tables (.toml) or JSON lines.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a task (a new session in its own worktree) to a run. A running supervisor starts it as its limits
    allow; with none running it waits in the run's inbox for the next `cortex-tui up`."""
    from cortex_tui.engine.intake import check_new, free_name, parse_spec, queue_offline, read_inbox

    store, state = open_run(repo, state_dir, run_id)
    if file is not None:
        if prompt or name:
            raise UsageError("give either --file or --prompt/--name, not both")
        raw = tasks_from_file(file)
        where = str(file)
    else:
        if not prompt:
            raise UsageError("a task needs --prompt (or --file)")
        one: dict[str, Any] = {"prompt": prompt}
        for key, value in (("name", name), ("agent", agent), ("model", model)):
            if value:
                one[key] = value
        if scope:
            one["scope"] = _split(scope)
        if depends_on:
            one["depends_on"] = _split(depends_on)
        if labels:
            one["labels"] = _split(labels)
        if node:
            one["node"] = node
        raw = [one]
        where = "task"
    layout = layout_of(state).layout
    queued, _ = read_inbox(store.dir)
    names = set(state.sessions) | {s.name for s in queued}
    specs = []
    for i, task in enumerate(raw, 1):
        task.setdefault("name", free_name(names))
        spec = parse_spec(task, f"{where}: task {i}" if file else where)
        check_new(spec, layout, names)  # validated like a layout before anything is queued
        names.add(spec.name)
        specs.append(spec)
    results = []
    alive = store.lock_holder() is not None
    sock = _live_socket(store.dir) if alive else None  # a socket left by a killed supervisor answers nobody
    for spec in specs:
        res = asyncio.run(_post(sock, spec.model_dump(mode="json", exclude_defaults=True))) if sock else None
        if res is not None:
            results.append({"session": spec.name, "queued": "supervisor", "state": res.get("state")})
        else:
            path = queue_offline(store.dir, spec)
            results.append({"session": spec.name, "queued": "inbox", "path": str(path)})
    if as_json:
        typer.echo(json.dumps(results))
        return
    for r in results:
        if r["queued"] == "supervisor":
            typer.echo(f"added {r['session']} to run {state.run} (state: {r['state']})")
        else:
            typer.echo(f"queued {r['session']} for run {state.run}: no supervisor is running; "
                       f"`cortex-tui up {state.layout_path} --repo {repo}` starts it")


def _live_socket(run_dir: Path) -> Path | None:
    """The running supervisor's API socket; a supervisor that is still starting gets a few seconds to open it
    (and one without an API takes the inbox within a tick)."""
    import time

    from cortex_tui.api.server import find_socket

    deadline = time.monotonic() + 10.0
    while True:
        try:
            return find_socket(run_dir)
        except CortexError:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)


async def _post(sock: Path, body: dict[str, Any]) -> dict[str, Any] | None:
    """The supervisor's answer, or None when it does not answer (then the task goes to the inbox)."""
    from cortex_tui.api.client import ApiClient, ApiError

    async with ApiClient(sock, origin="api") as c:
        try:
            data: dict[str, Any] = await c.post("/v1/tasks", body)
        except ApiError:
            raise
        except CortexError as e:
            if "does not answer" not in e.message:
                raise
            return None
        return data
