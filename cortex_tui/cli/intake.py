"""Tasks into a live run: ``add`` (one task, or a tasks file) and ``queue`` (what is pending, running, done)."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import JsonOpt, RepoOpt, RunOpt, StateOpt
from cortex_tui.cli._runs import layout_of, open_run
from cortex_tui.errors import CortexError, LayoutError, UsageError

if TYPE_CHECKING:
    from cortex_tui.model.layout import SessionSpec
    from cortex_tui.model.state import RunState


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


@app.command()
def queue(repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None, as_json: JsonOpt = False) -> None:
    """The run's tasks by phase: pending (incl. the inbox), running, done."""
    from cortex_tui.engine.intake import read_inbox
    from cortex_tui.text import visible

    store, state = open_run(repo, state_dir, run_id)
    inbox, _ = read_inbox(store.dir)
    phases: dict[str, list[str]] = {"pending": [], "running": [], "done": []}
    waiting: dict[str, str] = {}
    for rec in state.sessions.values():
        phase = "done" if rec.state.terminal else "pending" if rec.state.value == "pending" else "running"
        phases[phase].append(rec.name)
        if phase == "pending" and rec.reason:
            waiting[rec.name] = rec.reason
    phases["pending"] += [s.name for s in inbox]
    for s in inbox:
        waiting[s.name] = "in the inbox: the next supervisor takes it"
    data = {"run": state.run, **{k: {"count": len(v), "sessions": v} for k, v in phases.items()},
            "inbox": [s.name for s in inbox], "waiting": waiting, "pool": state.pool,
            "by_type": _by_type(state, inbox)}
    if as_json:
        typer.echo(json.dumps(data))
        return
    for k in ("pending", "running", "done"):
        typer.echo(f"{k:<8} {len(phases[k]):>3}  {visible(', '.join(phases[k]))}")
    if state.pool.get("slots") is not None:
        typer.echo(f"pool     {state.pool.get('running', 0)}/{state.pool['slots']} slots in use"
                   + (f", {state.pool['warm']['ready']} warm" if state.pool.get("warm") else ""))
    for name, why in waiting.items():
        typer.echo(f"  {visible(name)}: {visible(why)}")


def _by_type(state: RunState, inbox: list[SessionSpec]) -> dict[str, dict[str, int]]:
    """Counts per phase for each label (a task's type; "-" for none), from the added tables and the inbox."""
    labels: dict[str, list[str]] = {}
    for raw in state.added:
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            labels[raw["name"]] = [str(x) for x in raw.get("labels") or []]
    for spec in inbox:
        labels[spec.name] = list(spec.labels)
    try:
        for s in layout_of(state).layout.session:
            labels.setdefault(s.name, list(s.labels))
    except CortexError:
        pass  # a layout that no longer parses: its sessions count as "-"
    out: dict[str, dict[str, int]] = {}
    names = {**{n: r.state for n, r in state.sessions.items()}, **{s.name: None for s in inbox}}
    for name, st in names.items():
        phase = "pending" if st is None or st.value == "pending" else "done" if st.terminal else "running"
        for label in labels.get(name) or ["-"]:
            out.setdefault(label, {"pending": 0, "running": 0, "done": 0})[phase] += 1
    return out
