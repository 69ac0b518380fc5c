"""The engine's session commands: send, approve, deny, interrupt, stop, restart, revive, continue, attach, screen.

One path for every front end (TUI, CLI through the API, MCP, headless, ``on_trigger`` actions): each command
finds the session, talks to its pane through the node the session runs on (in a thread: tmux and ssh block),
changes its state through the :class:`~cortex_tui.engine.triggers.TriggerBook` and records an ``action``
event with who asked (``origin``); :meth:`SessionCommands.on_trigger` runs the ``on_trigger`` policy's
pause/stop/recycle as tasks. The :class:`~cortex_tui.engine.supervisor.Supervisor` exposes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

from cortex_tui.backends.node import Node
from cortex_tui.backends.tmux import Tmux
from cortex_tui.engine import actions
from cortex_tui.engine.events import Emit
from cortex_tui.engine.handover import continue_blocked
from cortex_tui.engine.lifecycle import Lifecycle
from cortex_tui.engine.reattach import revive_plan
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.tasks import TaskSet
from cortex_tui.engine.triggers import Action, TriggerBook
from cortex_tui.errors import CortexError
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import SessionRecord, SessionState

ANSWER_LOOK_S = 0.5
"""How long approve/deny look for a prompt on the screen of a session the engine does not see waiting."""


class SessionCommands:
    """What a person (or a trigger) can do to one session of the run."""

    def __init__(self, *, get: Callable[[str], SessionRuntime], node_for: Callable[[SessionRecord], Node],
                 book: TriggerBook, life: Lifecycle, emit: Emit, repo: Path, run: str,
                 base_commit: Callable[[], str], wake: Callable[[], None], tasks: TaskSet, tmux: Tmux,
                 runtimes: Mapping[str, SessionRuntime], specs: Mapping[str, ResolvedSession],
                 on_revived: Callable[[], None]) -> None:
        self.get = get
        """The session's runtime by name (raises a :class:`CortexError` naming the run for an unknown one)."""
        self.node_for = node_for
        self.book = book
        self.life = life
        self.emit = emit
        self.repo = repo
        self.run = run
        self.base_commit = base_commit
        self.wake = wake
        self.tasks = tasks
        self.tmux = tmux
        """The run's own tmux server (on this machine)."""
        self.runtimes = runtimes
        self.specs = specs
        self.on_revived = on_revived
        """Trigger actions in flight (pause/stop/recycle): the run is not done while one runs."""

    def on_trigger(self, rt: SessionRuntime, action: Action, kind: str) -> None:
        """``on_trigger`` asked for ``action``: run it as a task (it may wait on tmux)."""
        name = rt.rec.name
        if action == "pause":
            self.tasks.spawn(lambda: self.interrupt(name), f"pause:{name}")
        elif action == "stop":
            self.tasks.spawn(lambda: self.stop(name, reason=f"stopped by trigger {kind}"), f"stop:{name}")
        else:
            self.tasks.spawn(lambda: self.restart(name), f"recycle:{name}")

    def _pane(self, name: str) -> tuple[SessionRuntime, Tmux]:
        rt = self.get(name)
        return rt, self.node_for(rt.rec).tmux

    async def send(self, name: str, text: str, *, origin: str = "user") -> None:
        rt, tmux = self._pane(name)
        await asyncio.to_thread(actions.send_text, tmux, rt.rec, text, rt.adapter)
        self.emit("action", name, action="send", detail=text, origin=origin)

    async def answer(self, name: str, yes: bool, *, origin: str = "user") -> None:
        """Approve (``yes``) or deny the approval prompt on the session's screen."""
        rt, tmux = self._pane(name)
        # the engine's state is live (not a state file behind it): a session it does not see waiting gets one
        # short look at the screen (a prompt drawn a moment ago), not the CLI's 3 s of looking
        try:
            prompt = await asyncio.to_thread(actions.answer, tmux, rt.rec, yes, rt.adapter, ANSWER_LOOK_S)
        except actions.AnswerNotTaken as e:  # said, not dropped: the event, the error, the trigger stays
            self.emit("action", name, action="approve" if yes else "deny", detail=e.message, origin=origin,
                      taken=False)
            raise
        # the answer's own look saw the dialog drawn: a waiting a hook announced now ends when a later look no
        # longer shows it (it waited for the engine's own look, which a quick answer can beat: stuck waiting)
        rt.approval.structured_pending = False
        self.emit("action", name, action="approve" if yes else "deny", detail=prompt.text, origin=origin)

    async def interrupt(self, name: str, *, origin: str = "user") -> None:
        rt, tmux = self._pane(name)
        await asyncio.to_thread(actions.interrupt, tmux, rt.rec, rt.adapter)
        self.emit("action", name, action="interrupt", detail="", origin=origin)

    async def stop(self, name: str, reason: str = "stopped by user", *, origin: str = "user") -> None:
        rt = self.get(name)
        if rt.rec.state.terminal:
            return
        rt.restart_at = None
        was_pending = rt.rec.state is SessionState.PENDING
        self.book.set_state(rt, SessionState.STOPPED, reason)
        if not was_pending:
            await asyncio.to_thread(self.life.stop_sync, rt)
        self.emit("action", name, action="stop", detail=reason, origin=origin)

    async def restart(self, name: str, *, origin: str = "user") -> None:
        rt = self.get(name)
        if rt.rec.state.live:
            rt.rec.state = SessionState.STOPPED
            await asyncio.to_thread(self.life.stop_sync, rt)
        self.emit("action", name, action="restart", detail="", origin=origin)
        await self.life.spawn(rt, restart=True)

    async def revive(self, *, origin: str = "user") -> list[str]:
        """After the run's tmux server died (what ``cortex-tui up`` does): start the server again, then the
        sessions that failed because of it and their dependents. Returns their names (none: nothing to do)."""
        plan = revive_plan([rt.rec for rt in self.runtimes.values()],
                           {n: list(s.depends_on) for n, s in self.specs.items()})
        if plan:
            await asyncio.to_thread(self.tmux.ensure_server, self.repo, f"cortex-tui run {self.run} · {self.repo}")
        for name, reason in plan:
            self.runtimes[name].restart_at = None
            self.book.set_state(self.runtimes[name], SessionState.PENDING, reason)
        self.emit("action", None, action="revive", detail=", ".join(n for n, _ in plan), origin=origin)
        self.on_revived()
        return [n for n, _ in plan]

    async def continue_blocked(self, name: str, *, from_base: bool = False, origin: str = "user") -> str:
        """A ``blocked`` session starts: with the merge resolved in its worktree, or from the base anyway."""
        rt = self.get(name)
        done = await asyncio.to_thread(continue_blocked, self.repo, self.run, rt.rec, self.base_commit(),
                                       from_base=from_base)
        self.book.set_state(rt, SessionState.PENDING, None)
        self.emit("action", name, action="continue", detail=done, origin=origin)
        self.wake()
        return done

    def attach_argv(self, name: str) -> list[str]:
        rt = self.get(name)
        if not rt.rec.window_id:
            raise CortexError(f"session {name!r} has no tmux window yet (state: {rt.rec.state.value})")
        return self.node_for(rt.rec).attach_argv(rt.rec.window_id)

    async def screen(self, name: str, *, escapes: bool = True, lines: int = 200) -> str:
        rt = self.get(name)
        if not rt.rec.pane_id:
            return ""
        return await asyncio.to_thread(self.node_for(rt.rec).tmux.capture, rt.rec.pane_id, lines, escapes)
