"""Headless mode: supervise to the end with progress on stderr, write reports, return the exit code."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from cortex_tui.engine.reattach import foreign
from cortex_tui.engine.runner import progress_printer, supervise_to_end
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.errors import CortexError, disk_error
from cortex_tui.headless.report import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SUPERVISOR,
    build_report,
    write_report,
)
from cortex_tui.text import visible


def run_headless(sup: Supervisor, *, report: Path | None, junit: Path | None, timeout: float | None,
                 fail_on: list[str], compare: bool = True, integrate: bool = False) -> int:
    """Supervise to the end; ``compare=False`` leaves a best-of layout's scoring to the caller."""
    started = time.time()
    sup.subscribe(progress_printer(sys.stderr))
    try:
        why = asyncio.run(supervise_to_end(sup, timeout=timeout, stop_on_signal=True, until_done=True))
    except CortexError as e:  # e.g. the run's files cannot be written (exit 4): the reports still say so
        failed_reports(sup, report, junit, started, e.exit_code, e.message)
        raise
    except OSError as e:  # a file of ours not wrapped where it is written: still name it, exit 4
        err = disk_error(None, e, "file access")
        failed_reports(sup, report, junit, started, err.exit_code, err.message)
        raise err from e
    except Exception as e:
        why = f"supervisor failed: {type(e).__name__}: {e}"
        print(f"error: {visible(why)}", file=sys.stderr)
        failed_reports(sup, report, junit, started, EXIT_SUPERVISOR, why)
        return EXIT_SUPERVISOR
    if why != "handover" and all(r.state.terminal for r in sup.state.sessions.values()):
        # every session ended: the run's tmux server (dead panes, the _cortex window) goes; the logs stay —
        # unless it also runs agents of an earlier run (never this run's to stop)
        others = [w for w in foreign(sup.tmux.list_windows(), sup.state.instance) if not w.dead]
        if others:
            print(f"tmux server {sup.state.socket} kept: it still runs windows of an earlier run "
                  f"({visible(', '.join(w.tag for w in others))})", file=sys.stderr)
        else:
            sup.tmux.kill_server()
            print(f"tmux server {sup.state.socket} stopped (every session ended); logs in {sup.store.logs_dir}",
                  file=sys.stderr)
    from cortex_tui.headless.verdict import apply

    data = build_report(sup, exit_code=EXIT_FAILED, reason="", started=started)
    code, reason = apply(data, fail_on, why)  # one verdict: report, JUnit, annotations, summary, exit code
    if integrate and why == "done":
        code, reason = integration_verdict(sup, data, code, reason)
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
    print(f"cortex-tui: {visible(reason)} (run exit code {code})", file=sys.stderr)
    return code


def failed_reports(sup: Supervisor, report: Path | None, junit: Path | None, started: float, code: int,
                   why: str) -> None:
    """The run stopped early (supervisor error, unwritable run files: exit 4): report.json and JUnit still
    say what happened, with that exit code. A report that cannot be written is said, never a traceback."""
    if not hasattr(sup, "state") or not (report or junit):
        return
    try:
        data = build_report(sup, exit_code=code, reason=why, started=started)
    except (CortexError, OSError) as e:
        print(f"warning: no report: {visible(str(e))}", file=sys.stderr)
        return
    data["exit_code"], data["reason"] = code, why
    data["failures"] = {}
    for path, write in ((report, write_report), (junit, _junit)):
        if path is None:
            continue
        try:
            write(path, data)
        except (CortexError, OSError) as e:
            print(f"warning: could not write {visible(str(path))}: {visible(str(e))}", file=sys.stderr)


def _junit(path: Path, data: dict[str, Any]) -> None:
    from cortex_tui.headless.junit import write_junit

    write_junit(path, data)


def integration_verdict(sup: Supervisor, data: dict[str, Any], code: int, reason: str) -> tuple[int, str]:
    """``run --headless --integrate``: the gate over every session that finished with exit 0; a failing
    combination fails the run (``exit_reason = "integration"``) even when every branch passed alone."""
    from cortex_tui.review.integrate import run_gate, summary

    names = [n for n, r in sup.state.sessions.items() if r.state.value == "finished" and r.exit_code == 0]
    if len(names) < 1:
        return code, reason
    try:
        res = run_gate(sup.repo, sup.store.dir, sup.state, names, sup.layout.run.verify)
    except CortexError as e:
        data["integration"] = {"ok": False, "error": e.message, "sessions": names}
        res_ok, line = False, f"integration: {e.message}"
    else:
        data["integration"] = {**res.model_dump(mode="json"), "ok": res.ok}
        res_ok, line = res.ok, summary(res)
    print(f"cortex-tui: {visible(line)}", file=sys.stderr)
    if res_ok:
        if code == EXIT_OK:
            reason = data["reason"] = f"{reason}; {line}"
        return code, reason
    data["exit_reason"] = "integration"
    code = EXIT_FAILED
    reason = line if not data.get("failures") else f"{reason}; {line}"
    data["exit_code"], data["reason"] = code, reason
    return code, reason
