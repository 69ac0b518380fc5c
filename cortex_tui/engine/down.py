"""``cortex-tui down``: stop every session and the run's tmux server; worktrees and branches stay. Warm slots
(``[pool] warm``) go: they hold no work (backends/warm_slots.py)."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from cortex_tui.agents import get_adapter
from cortex_tui.backends.node import LOCAL
from cortex_tui.backends.remote_warm import sweep_run
from cortex_tui.backends.tmux import Tmux
from cortex_tui.engine import actions
from cortex_tui.errors import CortexError
from cortex_tui.model.events import Event
from cortex_tui.model.state import RunState, SessionState
from cortex_tui.store.files import RunStore, atomic_write
from cortex_tui.store.status import render_status_md

log = logging.getLogger("cortex_tui.engine")


def take_down(store: RunStore, state: RunState) -> list[str]:
    out: list[str] = []
    holder = store.lock_holder()
    if holder and holder > 0:
        os.kill(holder, signal.SIGUSR1)  # the supervisor exits; sessions stay until we stop them below
        deadline = time.monotonic() + 10
        while store.lock_holder() and time.monotonic() < deadline:
            time.sleep(0.05)
        out.append(f"stopped supervisor pid {holder} (it has exited; its sessions are stopped next)")
        state = store.load() or state
    tmux = Tmux(state.socket)
    for rec in state.sessions.values():
        if rec.state.live or rec.state is SessionState.PENDING:
            if rec.pane_id and rec.state.live:
                try:
                    actions.interrupt(tmux, rec, get_adapter(rec.agent))
                except CortexError as e:  # the pane may be gone already; its process tree is stopped below
                    log.info("interrupt of %s: %s", rec.name, e.message)
                actions.kill_tree(rec.pane_pid, grace=1.0)
            prev = rec.state
            rec.state = SessionState.STOPPED
            rec.reason = "stopped by `down`"
            rec.finished_at = rec.finished_at or time.time()
            store.append_event(Event(ts=time.time(), run=state.run, kind="state", session=rec.name,
                                     data={"state": "stopped", "prev": prev.value, "reason": rec.reason}))
            out.append(f"stopped {rec.name} (worktree {rec.worktree}, branch {rec.branch} kept)")
    tmux.kill_server()
    if store.lock_holder():
        out.append("warm slots kept: the supervisor has not exited yet (`cortex-tui clean` removes them later)")
    else:
        try:
            out += sweep_run(Path(state.repo), state).lines()
        except CortexError as e:  # the repository moved or broke: the run is down all the same
            out.append(f"warm slots not removed: {e.message}")
    state.supervisor_pid = None
    store.save(state)
    atomic_write(store.state_dir / "status.md", render_status_md(state))
    store.append_event(Event(ts=time.time(), run=state.run, kind="down"))
    out.append(f"tmux server {state.socket} stopped; logs in {store.logs_dir}")
    return out


def stop_one(store: RunStore, state: RunState, name: str) -> str:
    """Stop one session of a run no supervisor holds (interrupt, then its process tree), as ``down`` does."""
    rec = state.sessions[name]
    if not (rec.state.live or rec.state is SessionState.PENDING):
        return f"{name!r} is not running (state: {rec.state.value}); nothing to stop"
    if rec.node != LOCAL and rec.state.live:  # only this machine's agents can be stopped without a supervisor
        raise CortexError(f"{name!r} runs on node {rec.node!r} and no supervisor holds this run",
                          "start one with `cortex-tui up LAYOUT --repo PATH --detach`, then stop it again")
    if rec.pane_id and rec.state.live:
        try:
            actions.interrupt(Tmux(state.socket), rec, get_adapter(rec.agent))
        except CortexError as e:  # the pane may be gone already; the process tree is stopped below either way
            log.info("interrupt of %s: %s", name, e.message)
        actions.kill_tree(rec.pane_pid, grace=1.0)
    prev = rec.state
    rec.state = SessionState.STOPPED
    rec.reason = "stopped by `cortex-tui stop`"
    rec.finished_at = rec.finished_at or time.time()
    store.save(state)
    store.append_event(Event(ts=time.time(), run=state.run, kind="state", session=name,
                             data={"state": "stopped", "prev": prev.value, "reason": rec.reason}))
    atomic_write(store.state_dir / "status.md", render_status_md(state))
    return (f"stopped {name!r} (no supervisor was running; worktree {rec.worktree} and branch {rec.branch} kept; "
            f"`cortex-tui restart {name}` starts it again)")
