"""Taking a run over and finding its sessions again: the run lock, stray agents, reconciliation with tmux.

:func:`reconcile` is pure: from the records, the tmux windows and the exit files it decides what each
session's record must become; the Supervisor applies the decisions in order.
"""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cortex_tui.backends import git as gitb
from cortex_tui.backends.tmux import Tmux, WindowInfo
from cortex_tui.engine.clock import wait_real
from cortex_tui.errors import CortexError, StateError
from cortex_tui.layout import LoadedLayout
from cortex_tui.model.state import RunState, SessionRecord, SessionState
from cortex_tui.private import private_dir
from cortex_tui.store.files import RunStore


def open_run(loaded: LoadedLayout, repo: Path, store: RunStore, tmux: Tmux, worktrees_root: Path, *,
             takeover: bool, now: float) -> tuple[RunState, bool]:
    """Take the run (lock, handover), make its directories and ignores, load or create its state with a
    record for every session of the layout, start its tmux server. Returns (state, re-attached?)."""
    run_id = loaded.layout.run.name
    take_lock(store, run_id, takeover=takeover)
    store.ensure()
    gitb.ensure_ignored(repo, "/.cortex/")
    state_dir = store.state_dir
    if state_dir.is_relative_to(repo):
        rel = state_dir.relative_to(repo)
        gitb.ensure_ignored(repo, f"/{rel}/runs/")
        gitb.ensure_ignored(repo, f"/{rel}/status.md")
    private_dir(worktrees_root, top=repo / ".cortex")
    prior = store.load()
    attached = prior is not None
    if prior is None:
        refuse_strays(tmux.list_windows(), {s.name for s in loaded.sessions}, store=store, run_id=run_id,
                      socket=tmux.socket, state_dir=state_dir)
        base = loaded.layout.run.base
        base_commit = gitb.rev_parse(repo, base)
        if base_commit is None:
            raise CortexError(f"base branch {base!r} does not exist in {repo}",
                              "set [run] base to an existing branch, or commit something first")
        prior = RunState(run=run_id, layout_path=str(loaded.path), layout_text=loaded.text, repo=str(repo),
                         base=base, base_commit=base_commit, socket=tmux.socket, created_at=now,
                         instance=secrets.token_hex(8))
    state = prior
    tmux.instance = state.instance or None  # the windows it makes carry the run's id; only those are its own
    state.layout_text = loaded.text
    state.layout_path = str(loaded.path)
    state.supervisor_pid = os.getpid()
    tmux.ensure_server(repo, f"cortex-tui run {run_id} · {repo}")
    revive(state.sessions.values(), {s.name: list(s.depends_on) for s in loaded.sessions})
    for spec in loaded.sessions:
        if spec.name not in state.sessions:
            slug = gitb.slugify(spec.name)
            state.sessions[spec.name] = SessionRecord(
                name=spec.name, slug=slug, agent=spec.agent, node=spec.node, branch=f"cortex/{run_id}/{slug}",
                worktree=str(worktrees_root / slug), created_at=now)
    return state, attached


SERVER_GONE = "the tmux server of this run went away"
"""The reason of a session whose window died with the whole tmux server (not a failure of the agent)."""


def server_gone_reason() -> str:
    return f"{SERVER_GONE} (its agents were killed); `cortex-tui up` restarts it"


def revive_plan(records: Iterable[SessionRecord], depends_on: Mapping[str, list[str]]) -> list[tuple[str, str | None]]:
    """Which sessions start again after the run's tmux server died, with their new reason: those that failed
    because of it, then the dependents stopped because of them (transitively), in that order."""
    recs = {r.name: r for r in records}
    out: list[tuple[str, str | None]] = [
        (r.name, f"restarted: {SERVER_GONE}") for r in recs.values()
        if r.state is SessionState.FAILED and (r.reason or "").startswith(SERVER_GONE)]
    names = {n for n, _ in out}
    changed = bool(out)
    while changed:  # then their dependents (transitively), stopped by the plan because of them
        changed = False
        for r in recs.values():
            if r.name not in names and r.state is SessionState.STOPPED and (r.reason or "").startswith(
                    "dependency ") and any(d in names for d in depends_on.get(r.name, [])):
                out.append((r.name, None))
                names.add(r.name)
                changed = True
    return out


def revive(records: Iterable[SessionRecord], depends_on: Mapping[str, list[str]]) -> list[str]:
    """Apply :func:`revive_plan` to the records (pending, their attempts counted). Returns the names, in order."""
    recs = {r.name: r for r in records}
    plan = revive_plan(recs.values(), depends_on)
    for name, reason in plan:
        r = recs[name]
        r.state, r.reason, r.restart_at = SessionState.PENDING, reason, None
    return [n for n, _ in plan]


HANDOVER_S = 10.0
"""How long a live supervisor gets to hand a run over (SIGUSR1) before we give up."""


def take_lock(store: RunStore, run_id: str, *, takeover: bool) -> None:
    """Take the run's lock; a live supervisor holding it is asked to hand over when ``takeover``."""
    if store.try_lock():
        return
    holder = store.lock_holder()
    if not (takeover and holder and holder > 0 and holder != os.getpid()):
        raise CortexError(f"another supervisor (pid {holder}) is running run {run_id!r}",
                          "stop it, or use `cortex-tui status` to watch")
    os.kill(holder, signal.SIGUSR1)  # hand over: the old supervisor exits, sessions stay
    if not wait_real(store.try_lock, timeout=HANDOVER_S):
        raise CortexError(f"supervisor pid {holder} did not hand over run {run_id!r}")


def strays(windows: Iterable[WindowInfo], names: Collection[str]) -> list[str]:
    """Sessions of this layout that already run in live windows (of an earlier run)."""
    return sorted({w.tag for w in windows if w.tag in names and not w.dead})


def refuse_strays(windows: Iterable[WindowInfo], names: Collection[str], *, store: RunStore, run_id: str,
                  socket: str, state_dir: Path) -> None:
    """A new run must not adopt agents of an earlier one whose state is gone (same run id and directory).

    Their windows live on the same tmux socket under the same names; adopting them would supervise
    processes this run never started (their worktrees may not even exist). Killing them could lose work.
    So: release the lock and stop with an error that says how to look at them and how to clear them.
    """
    found = strays(windows, names)
    if not found:
        return
    store.unlock()
    raise StateError(
        f"run {run_id!r} has no saved state in {state_dir}, but tmux socket {socket!r} still runs "
        f"agents named {', '.join(found)} (an earlier run whose coordination state was removed)",
        f"look at them with `tmux -L {socket} attach`; when they can go: `tmux -L {socket} kill-server`, "
        "or give this run another [run] name")


def foreign(windows: Iterable[WindowInfo], instance: str) -> list[WindowInfo]:
    """Session windows on the run's socket that this run did not make (an earlier run's, same name and dir)."""
    return [w for w in windows if w.tag and w.instance != instance]


def foreign_note(windows: Iterable[WindowInfo], instance: str, socket: str) -> dict[str, str]:
    """What a starting run says about windows it found but will not adopt (``{}`` when there are none)."""
    found = foreign(windows, instance)
    if not found:
        return {}
    def one(w: WindowInfo) -> str:
        if not w.dead:
            return f"{w.tag} (running, {w.window_id})"
        code = f", exit {w.dead_status}" if w.dead_status is not None else ""
        return f"{w.tag} (dead{code}, {w.window_id})"

    what = ", ".join(one(w) for w in found)
    n = len(found)
    return {"foreign": f"tmux socket {socket} holds {n} window{'s' * (n != 1)} of an earlier run that this run did "
                       f"not make: {what}; not adopted, left as they are (look: `tmux -L {socket} attach`; remove "
                       f"one: `tmux -L {socket} kill-window -t ID`)"}


@dataclass(frozen=True)
class Decision:
    name: str
    action: Literal["pending", "adopt", "attach", "exited", "vanished"]
    """``pending``: start it again (nothing ran); ``adopt``: a window made just before a crash becomes the
    running attempt; ``attach``: its live window's ids; ``exited``: it ended with ``code``; ``vanished``:
    its window is gone without an exit code."""
    window: WindowInfo | None = None
    code: int | None = None


def reconcile(records: Iterable[SessionRecord], windows: Iterable[WindowInfo], exit_codes: Mapping[str, int | None],
              *, initial: bool = False, instance: str | None = None) -> list[Decision]:
    """Match ``records`` (this machine's sessions, none being spawned) against tmux windows and exit files.

    With ``instance`` (the run's id), only windows this run made are matched: never an earlier run's."""
    by_tag: dict[str, WindowInfo] = {w.tag: w for w in windows if w.tag and (instance is None or w.instance == instance)}
    out: list[Decision] = []
    for rec in records:
        win = by_tag.get(rec.name)
        code = exit_codes.get(rec.name)
        state = rec.state
        if initial and state in (SessionState.PENDING, SessionState.STARTING):
            if win is None:  # a crash between "starting" and the window: start it again, nothing ran
                out.append(Decision(rec.name, "pending"))
                continue
            # a crash right after the window was made: adopt it rather than spawn a twin
            out.append(Decision(rec.name, "adopt", window=win))
            state = SessionState.RUNNING
        if not (state.live or (initial and state is SessionState.STOPPED)):
            continue
        if win is not None and not win.dead and code is None:
            if initial:
                out.append(Decision(rec.name, "attach", window=win))
            continue
        if state is SessionState.STOPPED:
            continue
        if code is None and win is not None and win.dead:
            code = win.dead_status if win.dead_status is not None else -1
        if code is not None:
            out.append(Decision(rec.name, "exited", code=code))
        elif win is None:
            out.append(Decision(rec.name, "vanished"))
    return out
