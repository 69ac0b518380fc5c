"""What watches or drives the engine from the side: notifications and the metrics endpoint (optional, in
threads of their own so a slow sink or scraper never slows supervision) and the local API (in the loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cortex_tui.engine.events import EventKind
from cortex_tui.errors import CortexError
from cortex_tui.metrics import Snapshot, registry_for
from cortex_tui.metrics.server import MetricsServer
from cortex_tui.notify import Notifier, attach_notifier, sinks_for
from cortex_tui.review.queue import ReviewQueue
from cortex_tui.settings import load_user_config

if TYPE_CHECKING:
    from pathlib import Path

    from cortex_tui.engine.events import Event
    from cortex_tui.model.layout import Layout
    from cortex_tui.model.state import RunState


def review_counts(entries: list[Any]) -> tuple[dict[str, int], dict[str, int]]:
    """Review entries by status, and verify results (pass/fail) over them."""
    by_status: dict[str, int] = {}
    verify = {"pass": 0, "fail": 0}
    for e in entries:
        by_status[e.status] = by_status.get(e.status, 0) + 1
        if e.verify is not None:
            verify["pass" if e.verify.exit_code == 0 else "fail"] += 1
    return by_status, verify


@dataclass
class Observers:
    notifier: Notifier | None = None
    metrics: MetricsServer | None = None
    plugins: list[Plugin] = field(default_factory=list)
    """Front ends that run inside the engine's loop (the local API), started and closed with it."""
    spawn_durations: list[float] = field(default_factory=list)
    _starting: dict[str, float] = field(default_factory=dict)

    def on_event(self, ev: Event) -> None:
        if ev.kind == "state" and ev.data.get("state") == "starting" and ev.session:
            self._starting[ev.session] = ev.ts
        elif ev.kind == "spawned" and ev.session in self._starting:
            self.spawn_durations.append(max(0.0, ev.ts - self._starting.pop(ev.session)))

    async def close(self) -> None:
        for p in reversed(self.plugins):
            await p.close()
        self.plugins.clear()
        await asyncio.to_thread(self._close_threads)

    def _close_threads(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        if self.notifier is not None:
            self.notifier.close()
            self.notifier = None


class Plugin(Protocol):
    """Something a front end hands the engine to run in its loop while it supervises (e.g. the local API)."""

    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class Observed(Protocol):
    """What the observers need of the engine (the Supervisor), without importing it (no import circle)."""

    run_id: str
    repo: Path
    state_dir: Path
    layout: Layout
    state: RunState

    def subscribe(self, cb: Callable[[Any], None]) -> Callable[[], None]: ...

    def note(self, kind: EventKind, session: str | None, data: dict[str, Any]) -> None: ...


async def start_observers(sup: Observed, metrics_addr: tuple[str, int] | None,
                          plugins: list[Plugin] | None = None) -> Observers:
    """Call inside the engine's loop, after the run state exists."""
    obs = Observers()
    for p in plugins or []:
        try:
            await p.start()
            obs.plugins.append(p)
        except (OSError, CortexError) as e:  # the run goes on without it, and says so
            await p.close()
            sup.note("plugin_error", None, {"plugin": p.name, "error": getattr(e, "message", None) or str(e)})
    sup.subscribe(obs.on_event)
    obs.notifier = attach_notifier(sup, sinks_for(sup.layout.notify, load_user_config().notify))
    if metrics_addr is not None:
        loop = asyncio.get_running_loop()

        async def snap_on_loop() -> Snapshot:
            return Snapshot(state=sup.state.model_copy(deep=True), spawn_durations=list(obs.spawn_durations))

        def snapshot() -> Snapshot:  # on the HTTP thread
            snap = asyncio.run_coroutine_threadsafe(snap_on_loop(), loop).result(timeout=5)
            snap.review, snap.verify = review_counts(ReviewQueue.open(sup.repo, sup.state_dir, sup.run_id).entries())
            return snap

        obs.metrics = MetricsServer(registry_for(snapshot), *metrics_addr)
        sup.note("metrics_serving", None, {"url": obs.metrics.url})
    return obs
