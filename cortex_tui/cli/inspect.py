"""Reading a run: ``status`` (sessions, states, triggers) and ``events`` (events.jsonl, optionally followed)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import JsonOpt, RepoOpt, RunOpt, StateOpt
from cortex_tui.cli._runs import open_run
from cortex_tui.text import visible, visible_data


@app.command()
def status(
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    run_id: RunOpt = None,
    as_json: JsonOpt = False,
    tmux: Annotated[bool, typer.Option("--tmux", help="One short segment for tmux's status-right (e.g. ⚠2 ▶5).")] = False,
) -> None:
    """Show the sessions of a run (state, branch, triggers)."""
    from cortex_tui.cli.status_fast import from_files, status_data
    from cortex_tui.store.status import STATE_GLYPH

    if as_json and not tmux:  # usually answered before this CLI loads (cli/status_fast.py); the same data
        typer.echo(json.dumps(status_data(repo, state_dir, run_id), indent=2, default=str))
        return
    store, state = open_run(repo, state_dir, run_id)
    if tmux:
        from cortex_tui.cli.observe import tmux_segment

        typer.echo(f"cortex {tmux_segment(state)}".replace("#", "##"))  # a tmux format: no # expansion
        return
    holder = store.lock_holder()
    data = from_files(store, state, holder)
    sup = f"supervisor pid {holder}" if holder else "no supervisor running (state as last seen)"
    typer.echo(f"run {state.run} · base {state.base} · {sup}")
    for s in data["sessions"]:
        trig = ", ".join(dict.fromkeys(t["kind"] for t in s["triggers"] if t["active"]))
        typer.echo(f"  {STATE_GLYPH.get(s['state'], ' ')} {visible(s['name']):<20} {s['state']:<9} "
                   f"{visible(s['branch']):<32} "
                   f"exit={'' if s['exit_code'] is None else s['exit_code']:<4} {_verify_word(s['verify']):<10} {trig}")


def _verify_word(v: dict[str, Any] | None) -> str:
    if v is None:
        return ""
    return "verify ok" if v.get("exit_code") == 0 else f"verify exit {v.get('exit_code')}"


@app.command()
def events(
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    run_id: RunOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print the run's events (events.jsonl)."""
    store, _ = open_run(repo, state_dir, run_id)
    offset = 0
    while True:
        evs, offset = store.read_events(offset)
        for ev in evs:
            if as_json:
                typer.echo(json.dumps(ev.model_dump(), default=str))
            else:
                t = time.strftime("%H:%M:%S", time.localtime(ev.ts))
                detail = " ".join(f"{k}={v}" for k, v in visible_data(ev.data).items() if k not in ("at",))[:160]
                typer.echo(f"{t} {visible(ev.session or '-'):<16} {visible(ev.kind):<16} {detail}")
        if store.bad_event_lines:
            typer.echo(f"warning: {store.events_path}: skipped {store.bad_event_lines} unreadable line(s) "
                       "(cut off by a crash?)", err=True)
            store.bad_event_lines = 0
        if not follow:
            return
        time.sleep(0.2)
