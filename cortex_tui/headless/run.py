"""Headless mode: supervise to the end with progress on stderr, write reports, return the exit code."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from cortex_tui.engine.runner import progress_printer, supervise_to_end
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.errors import CortexError
from cortex_tui.headless.report import (
    EXIT_FAILED,
    EXIT_SUPERVISOR,
    EXIT_TIMEOUT,
    build_report,
    outcome,
    write_report,
)
from cortex_tui.text import visible


def run_headless(sup: Supervisor, *, report: Path | None, junit: Path | None, timeout: float | None,
                 fail_on: list[str], compare: bool = True) -> int:
    """Supervise to the end; ``compare=False`` leaves a best-of layout's scoring to the caller."""
    started = time.time()
    sup.subscribe(progress_printer(sys.stderr))
    try:
        why = asyncio.run(supervise_to_end(sup, timeout=timeout, stop_on_signal=True, until_done=True))
    except CortexError:
        raise
    except Exception as e:
        print(f"error: supervisor failed: {e!r}", file=sys.stderr)
        if report and hasattr(sup, "state"):
            write_report(report, build_report(sup, exit_code=EXIT_SUPERVISOR, reason=repr(e), started=started))
        return EXIT_SUPERVISOR
    code, reason = outcome(sup)
    fired = sorted({t.kind for r in sup.state.sessions.values() for t in r.triggers if t.kind in fail_on})
    if fired:
        msg = f"--fail-on trigger(s) fired: {', '.join(fired)}"
        reason = msg if code == 0 else f"{reason}; {msg}"
        code = EXIT_FAILED
    if why == "timeout":
        code, reason = EXIT_TIMEOUT, "timed out; sessions stopped"
    elif why.startswith("signal:"):
        code = 143 if why.endswith("SIGTERM") else 130
        reason = f"{why[7:]} received; sessions stopped"
    elif why == "handover":
        reason = "handed over to another supervisor; sessions keep running"
    data = build_report(sup, exit_code=code, reason=reason, started=started)
    if compare and sup.layout.run.mode == "best-of":
        from cortex_tui.bestof.compare import add_to_report, compare_run

        try:
            add_to_report(data, compare_run(sup.repo, sup.state_dir, sup.run_id))
        except CortexError as e:
            print(f"warning: best-of comparison failed: {e.message}", file=sys.stderr)
    if report:
        write_report(report, data)
    if junit:
        from cortex_tui.headless.junit import write_junit

        write_junit(junit, data)
    from cortex_tui.headless.github import emit

    emit(data, sys.stdout)
    print(f"cortex-tui: {visible(reason)} (exit {code})", file=sys.stderr)
    return code
