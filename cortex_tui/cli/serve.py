"""Driving a run from elsewhere: ``api`` (where the run's local API listens), ``mcp`` (an MCP server over
stdio for a lead agent), ``serve`` (the TUI in a browser)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import JsonOpt, RepoOpt, RunOpt, StateOpt
from cortex_tui.cli._runs import open_run


@app.command("api")
def api_info(repo: RepoOpt = Path("."), state_dir: StateOpt = None, run_id: RunOpt = None,
             as_json: JsonOpt = False) -> None:
    """Where the running supervisor's local API listens (unix socket; TCP when started with --api-port)."""
    from cortex_tui.api.server import find_socket

    store, state = open_run(repo, state_dir, run_id)
    sock = find_socket(store.dir)
    tcp = None
    for ev in store.iter_events():
        if ev.kind == "api_serving":
            tcp = ev.data.get("tcp")
    if as_json:
        typer.echo(json.dumps({"run": state.run, "socket": str(sock), "tcp": tcp,
                               "token_file": str(store.dir / "api.token") if tcp else None}))
        return
    typer.echo(f"run {state.run}: unix socket {sock}")
    typer.echo(f"  curl --unix-socket {sock} http://cortex/v1/status")
    if tcp:
        typer.echo(f"  TCP {tcp} (bearer token in {store.dir / 'api.token'}, mode 0600)")
    typer.echo("  OpenAPI: GET /v1/openapi.json (also docs/api-openapi.json)")


@app.command()
def mcp(
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    run_id: RunOpt = None,
    destructive: Annotated[bool, typer.Option(
        "--destructive/--no-destructive", help="Offer the tools that stop sessions and decide reviews.")] = True,
) -> None:
    """An MCP server over stdio for a lead agent: `claude mcp add cortex -- cortex-tui mcp --repo R`."""
    from cortex_tui.api.mcp import build_server
    from cortex_tui.api.server import find_socket

    store, _ = open_run(repo, state_dir, run_id)
    server = build_server(find_socket(store.dir), destructive=destructive)
    asyncio.run(server.run_stdio_async())


@app.command()
def serve(
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    run_id: RunOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on (other than loopback only with a token).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8060,
    token: Annotated[str | None, typer.Option(help="Token for a non-loopback address (default: a new one).")] = None,
) -> None:
    """The TUI in a browser (textual-serve): dashboard, session view, approve/deny, review — the same app, as a
    client of the run's supervisor (a page never takes the run over). Loopback only unless --host says otherwise,
    and then only with a token."""
    import secrets
    import shlex
    import sys

    from cortex_tui.api.server import find_socket
    from cortex_tui.api.web import WebServer, needs_token

    store, state = open_run(repo, state_dir, run_id)
    sock = find_socket(store.dir)
    tok = token
    if needs_token(host) and not tok:
        tok = secrets.token_urlsafe(18)
    command = shlex.join([sys.executable, "-m", "cortex_tui.cli", "_remote_tui", "--socket", str(sock)])
    server = WebServer(command, host, port, title=f"cortex-tui · {state.run}", token=tok)
    url = f"http://{host}:{port}/"
    typer.echo(f"serving run {state.run} at {url}" + (f"?token={tok}  (the token is shown once)" if tok else ""),
               err=True)
    try:
        server.serve()
    except OSError as e:
        from cortex_tui.errors import CortexError

        raise CortexError(f"cannot serve on {host}:{port}: {e.strerror or e}", "choose another --port") from None


@app.command("_remote_tui", hidden=True)
def remote_tui(socket: Annotated[Path, typer.Option("--socket")], origin: str = "web") -> None:
    """The TUI on a supervisor in another process, through its API (what `serve` runs per browser tab)."""
    from cortex_tui.api.remote_engine import RemoteEngine
    from cortex_tui.ui.app import run_tui

    engine = RemoteEngine(socket, origin=origin)
    asyncio.run(engine.prefetch())
    run_tui(engine, start=True)
