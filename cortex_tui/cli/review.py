"""``cortex-tui review list|show|approve|reject|request-changes`` and ``cortex-tui clean``.

Exit 0 on success, 1 when refused (the reason on stderr), 2 on usage errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cortex_tui.cli._app import app
from cortex_tui.cli._options import JsonOpt, RepoOpt, RunOpt, StateOpt, fail
from cortex_tui.errors import CortexError, UsageError

if TYPE_CHECKING:
    from cortex_tui.review.queue import ReviewQueue

review_app = typer.Typer(add_completion=False, no_args_is_help=True, help="The review queue of finished sessions.")


def _queue(repo: Path, state_dir: Path | None, run: str | None) -> ReviewQueue:
    from cortex_tui.review.queue import ReviewQueue

    return ReviewQueue.open(repo, state_dir, run, announce=lambda msg: typer.echo(f"warning: {msg}", err=True))


@review_app.command("list")
def list_cmd(repo: RepoOpt = Path("."), state_dir: StateOpt = None, run: RunOpt = None, as_json: JsonOpt = False,
             status: Annotated[str | None, typer.Option(help="Only entries with this status.")] = None) -> None:
    """The queue: awaiting entries first, ready ones first among them, then by completion time."""
    from cortex_tui.review.render import list_line

    try:
        q = _queue(repo, state_dir, run)
        q.refresh()
        entries = q.entries(status)
    except CortexError as e:
        fail(e)
    if as_json:
        typer.echo(json.dumps([x.contract() for x in entries], indent=1))
        return
    if not entries:
        typer.echo("the review queue is empty")
    for entry in entries:
        typer.echo(list_line(entry))


@review_app.command("show")
def show_cmd(session: str, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run: RunOpt = None,
             as_json: JsonOpt = False) -> None:
    """One entry: commits, files (+/-, scope), conflicts, verify tail, decisions."""
    from cortex_tui.review.render import show_text

    try:
        q = _queue(repo, state_dir, run)
        q.refresh()
        e = q.get(session)
    except CortexError as err:
        fail(err)
    typer.echo(json.dumps(e.contract(), indent=1) if as_json else show_text(e))


@review_app.command("approve")
def approve_cmd(session: Annotated[str, typer.Argument(help="The session (not with --integration).")] = "",
                repo: RepoOpt = Path("."), state_dir: StateOpt = None, run: RunOpt = None,
                squash: Annotated[bool, typer.Option("--squash", help="One squashed commit instead of a merge.")] = False,
                integration: Annotated[bool, typer.Option("--integration", help="Fast-forward the base to the last "
                                                          "passing `integrate` combination.")] = False,
                ) -> None:
    """Merge the branch into the base (fast-forward when possible); --integration: the whole combination."""
    from cortex_tui.review.decisions import approve

    if integration:
        _approve_integration(repo, state_dir, run)
        return
    if not session:
        fail(UsageError("review approve needs a SESSION (or --integration)"))
    try:
        res = approve(_queue(repo, state_dir, run), session, squash=squash)
    except CortexError as e:
        fail(e)
    typer.echo(f"approved {session}: {res.merge.method} into base at {res.merge.commit[:12]}")
    for other in res.refreshed:
        typer.echo(f"  re-checked {other}")


@review_app.command("reject")
def reject_cmd(session: str, repo: RepoOpt = Path("."), state_dir: StateOpt = None, run: RunOpt = None,
               reason: Annotated[str, typer.Option(help="Why (kept in the event log).")] = "",
               remove_worktree: Annotated[bool, typer.Option(
                   "--remove-worktree", help="Then remove the worktree (backed up first, like clean).")] = False,
               ) -> None:
    """Keep the branch under refs/cortex/rejected/<run>/<slug>; optionally remove the worktree."""
    from cortex_tui.review.decisions import reject

    try:
        q = _queue(repo, state_dir, run)
        res = reject(q, session, reason=reason)
        typer.echo(f"rejected {session}: kept at {res.ref}")
        if remove_worktree:
            from cortex_tui.backends.tmux import Tmux
            from cortex_tui.errors import RefusedError
            from cortex_tui.review.clean import remove_session_worktree

            state = q.ctx.state()
            rec = q.ctx.session(session, state)
            if not rec.state.terminal:
                raise RefusedError(f"session {session!r} is {rec.state.value}; worktree kept",
                                   "stop it first, or run `cortex-tui clean` later")
            removed = remove_session_worktree(q.ctx.repo, state, rec, q.ctx.store, reason="rejected")
            typer.echo(f"removed worktree {removed.path}" + "".join(f"\n  backup: {r}" for r in removed.backups))
            if rec.window_id:
                Tmux(state.socket).kill_window(rec.window_id)
    except CortexError as e:
        fail(e)


@review_app.command("request-changes")
def request_changes_cmd(session: str, text: Annotated[str, typer.Argument(help="What should change.")],
                        repo: RepoOpt = Path("."), state_dir: StateOpt = None, run: RunOpt = None) -> None:
    """Send the text to the agent's tmux window; the entry re-enters the queue when the session finishes."""
    from cortex_tui.backends.tmux import Tmux
    from cortex_tui.errors import RefusedError
    from cortex_tui.review.decisions import request_changes

    try:
        q = _queue(repo, state_dir, run)
        state = q.ctx.state()
        rec = q.ctx.session(session, state)
        if not rec.window_id:
            raise RefusedError(f"session {session!r} has no tmux window to send to")
        window = rec.window_id
        tmux = Tmux(state.socket)

        def send(_name: str, body: str) -> None:
            tmux.send_keys(window, [("literal", body), ("key", "Enter")])

        request_changes(q, session, text, send)
    except CortexError as e:
        fail(e)
    typer.echo(f"sent to {session}; it re-enters the queue when it finishes")


@app.command("clean")
def clean_command(
    repo: RepoOpt = Path("."),
    state_dir: StateOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would go.")] = False,
    older_than: Annotated[str, typer.Option("--older-than", help="Remove worktrees of sessions ended this long ago.")] = "6h",
    max_keep: Annotated[int, typer.Option("--max", min=0, help="Keep at most this many ended worktrees.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Remove worktrees (and tmux windows) of ended sessions; never loses work (backup refs first)."""
    from cortex_tui.backends.tmux import Tmux
    from cortex_tui.durations import parse_duration
    from cortex_tui.review.clean import clean

    try:
        try:
            secs = parse_duration(older_than)
        except ValueError as e:
            raise UsageError(str(e)) from None
        report = clean(repo, state_dir, older_than_s=secs, max_keep=max_keep, dry_run=dry_run)
    except CortexError as e:
        fail(e)
    if not dry_run:
        for w in report.windows:
            try:
                Tmux(w.socket).kill_window(w.window_id)
            except CortexError as e:
                typer.echo(f"warning: could not kill window {w.window_id} of {w.session}: {e.message}", err=True)
    typer.echo(json.dumps(report.to_dict(), indent=1) if as_json else report.render())


app.add_typer(review_app, name="review", help="Review queue: list, show, approve, reject, request changes.")


def _approve_integration(repo: Path, state_dir: Path | None, run: str | None) -> None:
    from cortex_tui.cli._runs import open_run
    from cortex_tui.review import integration_entry

    try:
        store, state = open_run(repo, state_dir, run)
        res = integration_entry.approve(Path(state.repo), store.dir)
    except CortexError as e:
        fail(e)
    typer.echo(f"approved the integration: {res.base} {res.old[:12]} -> {res.new[:12]} ({res.method}); "
               f"the old tip is kept at {res.backup}")
