"""The cortex-tui Textual app: wires the engine's event stream to the screens. Keep this file small."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import time
from collections.abc import Callable, Mapping
from typing import ClassVar

from textual import events, on
from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from cortex_tui.engine.events import Event
from cortex_tui.model.layout import ResolvedSession, SessionSpec
from cortex_tui.model.state import SessionRecord
from cortex_tui.notify.terminal import TerminalNotify
from cortex_tui.ui import review_flow, revive
from cortex_tui.ui.commands import CortexCommands
from cortex_tui.ui.engine_protocol import AddsSessions, Engine, ReviewCommands
from cortex_tui.ui.gc_tuning import IdleCollector
from cortex_tui.ui.messages import Attach, EngineBatch, EventQueue, OpenSession, SessionAction, ShowScreen
from cortex_tui.ui.present import Palette, SessionExtras, event_summary, severity_style
from cortex_tui.ui.present.format import error_text
from cortex_tui.ui.screens.compare import CompareScreen
from cortex_tui.ui.screens.dashboard import DashboardScreen
from cortex_tui.ui.screens.help import HelpScreen
from cortex_tui.ui.screens.new_session import NewSessionScreen
from cortex_tui.ui.screens.queue import open_queue, queue_changed
from cortex_tui.ui.screens.review import ReviewScreen
from cortex_tui.ui.screens.session import SessionScreen
from cortex_tui.ui.terminal import run_suspended
from cortex_tui.ui.terminal_notify import TerminalNotifier
from cortex_tui.ui.trigger_toasts import TriggerNote, TriggerToasts
from cortex_tui.ui.view import RunView
from cortex_tui.ui.widgets.events_panel import EventLine

REVIEW_EVENTS = frozenset({"review", "review_error"})
"""Engine events after which the review queue (and a best-of comparison) may look different."""
ACTION_METHODS = {"approve": "approve", "deny": "deny", "interrupt": "interrupt", "stop": "stop_session",
                  "restart": "restart_session"}


class CortexApp(App[None]):
    """Supervise a run. The engine shares this event loop; quitting leaves the agents running in tmux."""

    CSS_PATH = "app.tcss"
    TITLE = "cortex-tui"
    COMMANDS = App.COMMANDS | {CortexCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("V", "review", "Review"),
        Binding("C", "compare", "Compare"),
        Binding("Q", "queue", "Queue"),
        Binding(revive.KEY, "revive", "Bring back", show=False),
    ]

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time, start_engine: bool = False,
                 flush_interval: float = 0.1, ticking: bool = True, bell: bool = False, tune_gc: bool = False,
                 judge_top: int = 3, terminal_notify: bool | TerminalNotify = False) -> None:
        super().__init__()
        self._exit_message: str | None = None
        self._said_server_gone = False
        self.engine = engine
        self.clock = clock
        self.start_engine = start_engine
        self.flush_interval = flush_interval
        """The dashboard's coalescing window for table refreshes (0.1 s = at most 10 redraws/s)."""
        self.last_input_at = 0.0
        """When the last key was pressed (time.monotonic): the dashboard holds re-sorts while keys arrive."""
        self.ticking = ticking
        """Refresh "12 s ago" columns every second (snapshot tests turn it off)."""
        self.terminal_notifier = TerminalNotifier(self, terminal_notify, bell=bell)
        self.trigger_toasts = TriggerToasts(self, terminal=self.terminal_notifier or None)
        """Trigger notifications, batched so a burst of triggers is one toast."""
        self.judge_top = judge_top
        """Best-of runs: how many top variants the judge compares."""
        self.comparisons = 0
        """Best-of comparisons finished (tests read this)."""
        self.tune_gc = tune_gc
        """Run full GC collections only while input is idle (whole-process; run_tui turns it on): without
        it a gen-2 collection over Textual's caches stalls a keystroke by 20–300 ms now and then."""
        self.gc = IdleCollector(self, lambda: self.last_input_at)
        self.extras: dict[str, SessionExtras] = {}
        self.engine_events = EventQueue(self.post_message)
        """Engine events waiting for the UI (drained once per EngineBatch message)."""
        self.supervising = False
        self._seq = 0
        self._unsubscribe: Callable[[], None] | None = None
        self.palette = Palette()
        self.attach_returncode: int | None = None
        """Exit status of the last attach (tests read it)."""
        self.view = RunView(engine, self.extras, clock=clock, palette=lambda: self.palette,
                            supervising=lambda: self.supervising)
        """What the screens read (read-only); they post messages up for everything they do."""

    # ------------------------------------------------------------------ engine views
    @property
    def run_id(self) -> str:
        return self.engine.run_id

    @property
    def sessions(self) -> Mapping[str, SessionRecord]:
        return self.view.sessions

    @property
    def specs(self) -> Mapping[str, ResolvedSession]:
        return self.view.specs

    @property
    def best_of(self) -> bool:
        """A best-of run (``[run] mode = "best-of"``): its variants are compared when they have all ended."""
        return self.view.best_of

    @property
    def dashboard(self) -> DashboardScreen:
        return self.get_screen("dashboard")  # type: ignore[return-value]

    @property
    def current_session(self) -> str | None:
        if isinstance(self.screen, SessionScreen):
            return self.screen.session
        return self.dashboard.current if self.dashboard.is_mounted else None

    # ------------------------------------------------------------------ lifecycle
    def on_mount(self) -> None:
        self._update_palette()
        self.theme_changed_signal.subscribe(self, lambda _theme: self._on_theme())
        self._unsubscribe = self.engine.subscribe(self._engine_callback)
        self.install_screen(DashboardScreen(self.view, flush_interval=self.flush_interval, ticking=self.ticking,
                                            last_input_at=lambda: self.last_input_at), "dashboard")
        self.push_screen("dashboard")
        self.run_worker(self._supervise(), name="supervise", group="engine", exit_on_error=False)
        try:  # another supervisor taking the run over (or `cortex-tui down`) asks us to leave with SIGUSR1
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, self._handed_over)
        except (NotImplementedError, RuntimeError):
            pass

    def on_unmount(self) -> None:
        self.gc.stop()

    def _handed_over(self) -> None:
        self._exit_message = f"another cortex-tui took over run {self.run_id}; agents keep running"
        self.run_worker(self.action_quit(), name="handover", exit_on_error=False)

    async def _supervise(self) -> None:
        if self.start_engine:
            await self.engine.start()
        self.supervising = True
        self.dashboard.mark_dirty(None)
        if self.tune_gc:
            self.set_timer(1.0, self.gc.start)
        try:
            await self.engine.supervise(until_done=False)
        finally:
            self.supervising = False

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.last_input_at = time.monotonic()
        await super().on_event(event)

    def _engine_callback(self, event: Event) -> None:
        """Runs on the engine's callback: queue the event; never touch widgets here."""
        self.engine_events.push(event)

    async def action_quit(self) -> None:
        """Stop supervising and leave; sessions keep running in tmux."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.engine.request_stop()
        try:
            await self.engine.shutdown()
        finally:
            self.exit(message=self._exit_message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            err = event.worker.error
            self.notify(f"{event.worker.name or 'task'}: {error_text(err)}", title="error", severity="error",
                        timeout=8, markup=False)

    def _on_theme(self) -> None:
        self._update_palette()
        self.dashboard.mark_dirty(None)

    def _update_palette(self) -> None:
        v = self.theme_variables
        self.palette = Palette(success=v.get("success", "green"), warning=v.get("warning", "yellow"),
                               error=v.get("error", "red"), accent=v.get("secondary", "cyan"), muted="dim",
                               primary=v.get("primary", "blue"))

    # ------------------------------------------------------------------ engine messages
    def on_engine_batch(self, _message: EngineBatch) -> None:
        screen = self.screen
        viewing = screen.session if isinstance(screen, SessionScreen) else None
        for ev in self.engine_events.drain():
            if ev.kind == "output" and ev.session is not None:
                self._touch(ev.session, ev.ts)
                if ev.session == viewing:
                    screen.request_capture()  # type: ignore[attr-defined]
                else:
                    self.dashboard.session_output(ev.session)
            elif ev.kind == "stats" and ev.session is not None:
                self._stats(ev.session, ev.data)
            else:
                self._event(ev, viewing)

    def _stats(self, session: str, data: Mapping[str, object]) -> None:
        ex = self.extras.setdefault(session, SessionExtras())
        added, removed = data.get("diff_added"), data.get("diff_removed")
        if isinstance(added, int) and isinstance(removed, int):
            ex.diff_added, ex.diff_removed = added, removed
        self.dashboard.mark_dirty(session)

    def _event(self, ev: Event, viewing: str | None) -> None:
        if ev.session is not None:
            self._touch(ev.session, None)
        else:
            self.dashboard.mark_dirty(None)
        self._seq += 1
        style = ""
        if ev.kind == "trigger":
            style = f"bold {severity_style(str(ev.data.get('severity', 'warning')), self.palette)}"
        elif ev.kind in ("finished", "run_done"):
            style = self.palette.success
        self.dashboard.events_panel.add(EventLine(
            seq=self._seq, when=time.strftime("%H:%M:%S", time.localtime(ev.ts)), session=ev.session, kind=ev.kind,
            summary=event_summary(ev.kind, ev.data), style=style))
        if viewing is not None and viewing == ev.session:
            screen = self.screen
            if isinstance(screen, SessionScreen):
                screen.refresh_info()
                screen.request_capture()
        queue_changed(self.screen_stack)
        if ev.kind in REVIEW_EVENTS:
            for screen in self.screen_stack:
                if isinstance(screen, ReviewScreen | CompareScreen):
                    screen.queue_changed()
        if ev.kind == "trigger" and ev.data.get("active", True):
            self.trigger_toasts.add(TriggerNote(ev.session or "run", event_summary(ev.kind, ev.data),
                                                str(ev.data.get("severity", "warning"))))
        elif revive.server_gone(ev) and not self._said_server_gone:
            self._said_server_gone = True  # once per loss (the key brings them back)
            self.notify(revive.HINT, title=self.run_id, severity="error", timeout=30)
        elif ev.kind == "run_done":
            self.notify("every session is done", title=self.run_id, timeout=8)
            if self.best_of:
                self.compare_variants()
        elif ev.kind == "run_budget":
            exceeded = ev.data.get("threshold") == "exceed"
            self.notify(event_summary(ev.kind, ev.data), title="run budget", timeout=10,
                        severity="error" if exceeded else "warning")

    def _touch(self, session: str, ts: float | None) -> None:
        if ts is not None:
            self.extras.setdefault(session, SessionExtras()).last_event_at = ts
        self.dashboard.mark_dirty(session)

    # ------------------------------------------------------------------ messages from screens and the palette
    @on(SessionAction)
    def _on_session_action(self, message: SessionAction) -> None:
        self.act(message.action, message.session, message.text)

    @on(OpenSession)
    def _on_open_session(self, message: OpenSession) -> None:
        self.open_session(message.session)

    @on(Attach)
    def _on_attach(self, message: Attach) -> None:
        self.attach(message.session)

    @on(ShowScreen)
    def _on_show_screen(self, message: ShowScreen) -> None:
        show: dict[str, Callable[[], object]] = {"review": self.action_review, "compare": self.action_compare,
                                                 "help": self.action_help, "new-session": self.action_new_session,
                                                 "queue": self.action_queue}
        show[message.target]()

    # ------------------------------------------------------------------ commands
    def open_session(self, name: str) -> None:
        if name not in self.sessions:
            self.notify(f"no session named {name!r}", severity="warning")
            return
        if isinstance(self.screen, SessionScreen):
            self.screen.show_session(name)
            return
        self.dashboard.table.focus_key(name)
        if self.is_screen_installed("session"):
            screen = self.get_screen("session")
            assert isinstance(screen, SessionScreen)
            screen.show_session(name)
        else:
            self.install_screen(SessionScreen(self.view, name), "session")
        self.push_screen("session")

    def act(self, action: str, name: str, text: str | None = None) -> Worker[None]:
        """Run one engine action in a worker; failures become a notification."""
        return self.run_worker(self._act(action, name, text), name=f"{action} {name}", group="actions",
                               exit_on_error=False)

    async def _act(self, action: str, name: str, text: str | None) -> None:
        if action == "send":
            await self.engine.send(name, text or "")
            self.notify(f"sent to {name}: {text}", timeout=2)
            return
        method = getattr(self.engine, ACTION_METHODS[action])
        await method(name)
        self.notify(f"{action}: {name}", timeout=2)

    def attach(self, name: str) -> None:
        self.run_worker(self._attach_terminal(name), name=f"attach {name}", group="attach", exclusive=True,
                        exit_on_error=False)

    async def _attach_terminal(self, name: str) -> None:
        argv = self.engine.attach_argv(name)
        env = {k: v for k, v in os.environ.items() if k != "TMUX"}  # attaching from inside tmux is fine
        code = await run_suspended(self, argv, env=env)
        if code is None:
            self.notify(f"attach needs a real terminal; run: {shlex.join(argv)}", title="attach", timeout=10,
                        markup=False)
            return
        self.attach_returncode = code

    def action_revive(self) -> None:
        """``U``: the run's tmux server died — start it and the sessions it took down again (as `up` does)."""
        self._said_server_gone = False
        self.run_worker(revive.revive(self, self.engine), name="bring back", group="actions", exit_on_error=False)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_queue(self) -> None:
        """``Q``: the task queue (pending and why, running, done, per type; the pool and its warm slots)."""
        open_queue(self, self.engine)

    def action_new_session(self) -> None:
        """``n``: ask for a new session (defaults from the layout) and hand it to the engine's add command."""
        if isinstance(self.screen, NewSessionScreen):
            return
        engine = self.engine
        if not isinstance(engine, AddsSessions):
            self.notify("this engine cannot add sessions to a live run", title="new session", severity="error",
                        timeout=6)
            return

        def created(spec: SessionSpec | None) -> None:
            if spec is not None:
                self.run_worker(self._add(engine, spec), name=f"add {spec.name}", group="actions",
                                exit_on_error=False)

        self.push_screen(NewSessionScreen(engine.layout, self.sessions), created)

    async def _add(self, engine: AddsSessions, spec: SessionSpec) -> None:
        await engine.add_session(spec)
        self.notify(f"added {spec.name} ({spec.agent})", title="new session", timeout=3, markup=False)

    def action_review(self) -> None:
        if (desk := review_flow.desk_of(self, self.engine)) is not None:
            review_flow.open_review(self, desk, self.run_id)

    def compare_variants(self) -> None:
        """Score and rank a best-of run's variants (the engine's command), then show them."""
        if (desk := review_flow.desk_of(self, self.engine)) is not None:
            self.notify("all variants ended: comparing them…", title="best-of", timeout=4)
            self.run_worker(self._compare(desk), name="compare variants", group="compare", exclusive=True,
                            exit_on_error=False)

    async def _compare(self, desk: ReviewCommands) -> None:
        await review_flow.compare(self, desk, self.run_id, self.judge_top)
        self.comparisons += 1

    def action_compare(self) -> None:
        if (desk := review_flow.desk_of(self, self.engine)) is not None:
            review_flow.open_compare(self, desk, self.run_id)


def run_tui(supervisor: Engine, *, start: bool = False, bell: bool = False, judge_top: int = 3) -> None:
    """Open the TUI on ``supervisor`` and block until the user quits (agents keep running in tmux).

    ``supervise()`` starts the run itself when needed; ``start=True`` awaits ``start()`` explicitly first.
    ``terminal_notify`` comes from the user config (a malformed one is an error naming file and line).
    """
    from cortex_tui.settings import load_user_config

    app = CortexApp(supervisor, start_engine=start, bell=bell, tune_gc=True, judge_top=judge_top,
                    terminal_notify=load_user_config().terminal_notify)
    try:
        app.run()
    finally:
        app.gc.stop()
