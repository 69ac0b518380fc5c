"""The integration entry in the TUI (issue #16): ``I`` on the review screen opens it (and runs the gate when it
never ran or is stale), ``r`` re-runs it, ``a`` approves it (the base fast-forwards to the combination).

Everything goes through the engine's review desk (``Supervisor.review.gate``,
:class:`~cortex_tui.engine.integration_desk.IntegrationDesk`): the gate runs in its thread, its result comes
back as an ``integration`` event, which this screen and :class:`IntegrationLine` (the review queue's line)
reload on — automatic re-runs (``[run] integrate = "auto"``) show up the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Protocol

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from cortex_tui.engine.events import Event
from cortex_tui.errors import CortexError
from cortex_tui.review.integration_models import IntegrationResult
from cortex_tui.ui.present import palette_of
from cortex_tui.ui.present.integration import integration_line, integration_page
from cortex_tui.ui.screens.confirm import ConfirmScreen
from cortex_tui.ui.widgets.key_bar import KeyBar

INTEGRATION_EVENTS = frozenset({"integration", "integration_stale", "review"})
Subscribe = Callable[[Callable[[Event], None]], Callable[[], None]]


class IntegrationGate(Protocol):
    """What the screen needs from the engine's integration desk."""

    async def integrate(self, sessions: list[str] | None = None, verify: str | None = None, *,
                        trigger: str = "manual") -> IntegrationResult: ...

    async def entry(self) -> IntegrationResult | None: ...

    async def approve(self) -> Any: ...


def gate_of(desk: object, app: object) -> tuple[IntegrationGate, Subscribe | None] | None:
    """The review desk's integration gate (else the running engine's) and where its events are published,
    or None (a desk without one: no gate in this process)."""
    engine = getattr(app, "engine", None)
    for gate, bus in ((getattr(desk, "gate", None), getattr(desk, "bus", None)),
                      (getattr(getattr(engine, "review", None), "gate", None), engine)):
        if gate is not None and callable(getattr(gate, "integrate", None)):
            sub = getattr(bus, "subscribe", None)
            return gate, sub if callable(sub) else None
    return None


class _Follows:
    """Reload on the engine's integration events while mounted."""

    _unsubscribe: Callable[[], None] | None = None

    def follow(self, subscribe: Subscribe | None, reload: Callable[[], None]) -> None:
        if subscribe is not None:
            self._unsubscribe = subscribe(lambda ev: reload() if ev.kind in INTEGRATION_EVENTS else None)

    def unfollow(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class IntegrationLine(Static, _Follows):
    """One line in the review queue: the integration entry's verdict (and whether it is stale); hidden until
    the gate ran once."""

    def __init__(self, gate: IntegrationGate, subscribe: Subscribe | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.gate = gate
        self.subscribe_to = subscribe
        self.result: IntegrationResult | None = None
        self.display = False

    def on_mount(self) -> None:
        self.follow(self.subscribe_to, self.reload)
        self.run_worker(self._load(), group="integration-line", exclusive=True, exit_on_error=False)

    def on_unmount(self) -> None:
        self.unfollow()

    def reload(self) -> None:
        if self.is_mounted:
            self.run_worker(self._load(), group="integration-line", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        self.result = await self.gate.entry()
        self.update(integration_line(self.result, palette_of(self.app)))
        self.display = self.result is not None


class IntegrationScreen(Screen[None], _Follows):
    """The integration entry of the run: branches, conflicts, the verify verdict, the failing set."""

    CSS_PATH = "../review.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("r", "rerun", "Re-run"),
        Binding("a", "approve", "Approve all"),
    ]

    def __init__(self, gate: IntegrationGate, subscribe: Subscribe | None = None, *, run_now: bool = True) -> None:
        super().__init__()
        self.gate = gate
        self.subscribe_to = subscribe
        self.run_now = run_now
        self.result: IntegrationResult | None = None
        self.running = False
        self.runs = 0
        """Gate runs started from this screen."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="integration-body"):
            yield Static(id="integration-page")
        yield KeyBar()

    def on_mount(self) -> None:
        self.follow(self.subscribe_to, self.reload)
        self.run_worker(self._open(), group="integration", exit_on_error=False)

    def on_unmount(self) -> None:
        self.unfollow()

    def _paint(self) -> None:
        self.query_one("#integration-page", Static).update(
            integration_page(self.result, palette_of(self.app), running=self.running))

    async def _open(self) -> None:
        self.result = await self.gate.entry()
        self._paint()
        if self.run_now and (self.result is None or self.result.stale):
            await self._run()

    def reload(self) -> None:
        if self.is_mounted and not self.running:
            self.run_worker(self._reload(), group="integration-load", exclusive=True, exit_on_error=False)

    async def _reload(self) -> None:
        self.result = await self.gate.entry()
        self._paint()

    async def _run(self) -> None:
        if self.running:
            return
        self.running, self.runs = True, self.runs + 1
        self._paint()
        try:
            self.result = await self.gate.integrate()
        except CortexError as e:
            self.notify(e.message + (f" ({e.hint})" if e.hint else ""), title="integration", severity="error",
                        timeout=8, markup=False)
        finally:
            self.running = False
            self._paint()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_rerun(self) -> None:
        self.run_worker(self._run(), group="integration", exit_on_error=False)

    def action_approve(self) -> None:
        res = self.result
        if res is None or not res.ok or res.stale:
            self.notify("only a current, passing integration can be approved (r re-runs it)", title="integration",
                        severity="warning", timeout=5)
            return
        body = Text(f"Fast-forward {res.base} to the combination of {', '.join(res.order)}?", style="")

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._approve(), group="integration", exit_on_error=False)

        self.app.push_screen(ConfirmScreen("approve the integration", body, confirm_label="Approve"), answered)

    async def _approve(self) -> None:
        try:
            done = await self.gate.approve()
        except CortexError as e:
            self.notify(e.message, title="integration", severity="error", timeout=8, markup=False)
            return
        self.notify(f"{done.base} fast-forwarded to {done.new[:12]} (backup {done.backup})", title="integration",
                    timeout=8, markup=False)
        await self._reload()


def integration_line_for(desk: object, app: object) -> Iterator[IntegrationLine]:
    """The review queue's integration line, when the desk has a gate (else nothing)."""
    found = gate_of(desk, app)
    if found is not None:
        yield IntegrationLine(found[0], found[1], id="review-integration")


def open_integration(desk: object, app: Any) -> None:
    """Push the integration screen (it runs the gate when it never ran or is stale)."""
    found = gate_of(desk, app)
    if found is None:
        app.notify("the integration gate needs the running supervisor (`cortex-tui up`); or run "
                   "`cortex-tui integrate`", title="integration", severity="error", timeout=6)
        return
    if not isinstance(app.screen, IntegrationScreen):
        app.push_screen(IntegrationScreen(*found))
