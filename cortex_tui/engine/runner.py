"""Run a Supervisor to completion from a command line: signals, stderr progress, timeouts."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable
from typing import TextIO

from cortex_tui.budgets import run_budget_summary
from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.model.describe import describe_trigger
from cortex_tui.text import visible


def progress_printer(stream: TextIO) -> Callable[[Event], None]:
    """One line per state change / trigger on ``stream`` (stderr in headless mode)."""

    def show(ev: Event) -> None:
        t = time.strftime("%H:%M:%S", time.localtime(ev.ts))
        who = f"[{ev.session}]" if ev.session else f"[{ev.run}]"
        d = ev.data
        if ev.kind == "state":
            msg = f"{d['prev']} → {d['state']}" + (f" ({d['reason']})" if d.get("reason") else "")
        elif ev.kind == "trigger":
            msg = f"TRIGGER {d['kind']}: {describe_trigger(d['kind'], d.get('evidence') or {})}"
        elif ev.kind == "trigger_cleared":
            msg = f"cleared {d['kind']}"
        elif ev.kind in ("run_started", "attached"):
            msg = f"{ev.kind.replace('_', ' ')} (tmux socket {d.get('socket')})" + (
                f"; warning: {d['foreign']}" if d.get("foreign") else "")
        elif ev.kind == "finished":
            msg = f"exited with code {d.get('exit_code')}"
        elif ev.kind == "run_done":
            msg = "all sessions ended"
        elif ev.kind == "run_budget":
            msg = f"RUN BUDGET {run_budget_summary(d)}"
        else:
            return
        print(visible(f"{t} {who} {msg}"), file=stream, flush=True)  # names and evidence are agent-chosen

    return show


async def supervise_to_end(sup: Supervisor, *, timeout: float | None = None, stop_on_signal: bool = True,
                           until_done: bool = True) -> str:
    """Supervise; returns "done", "timeout", "handover", or "signal:<NAME>".

    SIGUSR1 = another supervisor takes over (sessions keep running). SIGINT/SIGTERM = stop the
    sessions when ``stop_on_signal`` (headless CI), otherwise just detach.
    """
    loop = asyncio.get_running_loop()
    outcome = {"why": "done"}

    def on_signal(why: str) -> None:
        outcome["why"] = why
        sup.request_stop()

    loop.add_signal_handler(signal.SIGUSR1, on_signal, "handover")
    loop.add_signal_handler(signal.SIGTERM, on_signal, "signal:SIGTERM")
    loop.add_signal_handler(signal.SIGINT, on_signal, "signal:SIGINT")
    timer = loop.call_later(timeout, on_signal, "timeout") if timeout else None
    try:
        await sup.start()
        await sup.supervise(until_done=until_done)
        if outcome["why"] in ("timeout", "signal:SIGTERM", "signal:SIGINT") and stop_on_signal:
            for name, rt in sup.rt.items():
                if not rt.rec.state.terminal:
                    await sup.stop_session(name, reason=outcome["why"].replace("signal:", "received "))
            sup._save(force=True)
    finally:
        if timer:
            timer.cancel()
        for s in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(s)
        await sup.shutdown()
    return outcome["why"]


def attach_progress(sup: Supervisor) -> None:
    sup.subscribe(progress_printer(sys.stderr))
