"""Headless reports: ``report.json`` (same shape as ``status --json``) and the exit code."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.errors import CortexError
from cortex_tui.store.files import atomic_write
from cortex_tui.store.status import status_dict

log = logging.getLogger("cortex_tui.headless")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_SUPERVISOR = 4


def budgets_of(sup: Supervisor) -> dict[str, tuple[float | None, int | None]]:
    return {n: (s.budget_usd, s.budget_tokens) for n, s in sup.specs.items()}


def review_of(sup: Supervisor) -> dict[str, Any]:
    """Review-queue entries by session (verify result, conflicts, diff files)."""
    from cortex_tui.review.queue import ReviewQueue

    try:
        return {e.session: e for e in ReviewQueue.open(sup.repo, sup.state_dir, sup.run_id).entries()}
    except (CortexError, OSError, ValueError) as e:  # an unreadable queue: the report says so, it still gets written
        log.warning("report: the review queue could not be read: %s", getattr(e, "message", e))
        return {}


def build_report(sup: Supervisor, *, exit_code: int, reason: str, started: float) -> dict[str, Any]:
    # written when supervision has ended (the lock is released): nobody supervises the run any more
    data = status_dict(sup.state, budgets_of(sup), supervisor_alive=False)
    entries = review_of(sup)
    for s in data["sessions"]:
        e = entries.get(s["name"])
        s["verify"] = e.verify.model_dump() if e is not None and e.verify is not None else None
        s["conflicts"] = list(e.conflicts) if e is not None else []
        s["review_status"] = e.status if e is not None else None
        s["verify_passed"] = verify_passed(sup, s["name"], e)
    data["budget"] = run_budget(sup)
    data["exit_code"] = exit_code
    data["reason"] = reason
    data["duration_s"] = round(time.time() - started, 3)
    return data


def run_budget(sup: Supervisor) -> dict[str, Any]:
    """Run-level budget efficiency: used vs allotted (seed 002's final report)."""
    recs = list(sup.state.sessions.values())
    tokens = sum(r.tokens.total for r in recs if r.tokens is not None)
    costs = [r.cost_usd for r in recs if r.cost_usd is not None]
    unknown_cost = any(r.tokens is not None and r.tokens.total and r.cost_usd is None for r in recs)
    usd = None if unknown_cost else round(sum(costs), 6)
    run = sup.layout.run
    fractions = [f for f in ((usd / run.budget_usd) if usd is not None and run.budget_usd else None,
                             (tokens / run.budget_tokens) if run.budget_tokens else None) if f is not None]
    return {"usd": run.budget_usd, "tokens": run.budget_tokens, "used_usd": usd, "used_tokens": tokens,
            "used_fraction": round(max(fractions), 4) if fractions else None}


def verify_passed(sup: Supervisor, name: str, e: Any) -> bool | None:
    """None when no verify is configured; False when it failed or its result is missing (a lost verdict)."""
    spec = sup.specs.get(name)
    if e is not None and e.verify is not None:
        return bool(e.verify.exit_code == 0)
    if (spec is not None and spec.verify) or (e is not None and e.verify_command):
        return False
    return None


def write_report(path: Path, report: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(report, indent=2, default=str) + "\n")


def outcome(sup: Supervisor) -> tuple[int, str]:
    """Exit code and reason from the sessions' final states and verify results."""
    bad = [f"{r.name}: {r.state.value}" + (f" ({r.reason})" if r.reason else "")
           for r in sup.state.sessions.values() if not (r.state.value == "finished" and r.exit_code == 0)]
    entries = review_of(sup)
    for name, rec in sup.state.sessions.items():
        e = entries.get(name)
        spec = sup.specs.get(name)
        if e is not None and e.verify is not None:
            if e.verify.exit_code != 0:
                bad.append(f"{name}: verify failed (exit {e.verify.exit_code})")
        elif rec.state.value == "finished" and rec.exit_code == 0 and (
                (spec is not None and spec.verify) or (e is not None and e.verify_command)):
            bad.append(f"{name}: verify not run (no verify result recorded)")  # a lost verdict is no pass
    if not bad:
        return EXIT_OK, "all sessions finished with exit code 0"
    return EXIT_FAILED, "; ".join(bad)
