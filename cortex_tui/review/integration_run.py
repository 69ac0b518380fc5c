"""One integration of a run, as every front end runs it: which sessions, which verify, the entry kept.

:func:`integrate_run` picks the sessions (default: every review entry awaiting a decision, in layout order —
dependencies first), runs the gate (:mod:`cortex_tui.review.integrate`) and keeps the result as the run's
integration entry (:mod:`cortex_tui.review.integration_entry`). :func:`stale_reasons` says why a kept entry
no longer describes the queue. Blocking: call them in a thread.
"""

from __future__ import annotations

from pathlib import Path

from cortex_tui.backends import git as gitb
from cortex_tui.errors import UsageError
from cortex_tui.model.state import RunState
from cortex_tui.review.integrate import VERIFY_TIMEOUT_S, IntegrationResult, run_gate
from cortex_tui.review.integration_entry import save
from cortex_tui.review.queue import AWAITING, ReviewQueue


def awaiting_names(queue: ReviewQueue, state: RunState) -> list[str]:
    """Sessions whose review entry awaits a decision, in layout order (dependencies come first) — not those
    whose branch is already in the base (an approved integration merged them, or they landed by hand)."""
    repo = queue.ctx.repo
    tip = gitb.rev_parse(repo, f"refs/heads/{state.base}") or gitb.rev_parse(repo, state.base)
    waiting = set()
    for e in queue.entries():
        if e.status not in AWAITING or e.landed is not None:
            continue
        head = gitb.rev_parse(repo, f"refs/heads/{e.branch}")
        if head is not None and tip is not None and gitb.is_ancestor(repo, head, tip):
            continue
        waiting.add(e.session)
    return [n for n in state.sessions if n in waiting]


def integrate_run(queue: ReviewQueue, run_dir: Path, state: RunState, names: list[str] | None,
                  verify: str | None, *, timeout: float = VERIFY_TIMEOUT_S, trigger: str = "manual") -> IntegrationResult:
    """The gate over ``names`` (None: :func:`awaiting_names`), its result saved as the integration entry.
    ``verify`` None: the command the members share, if they do (else the combination is only merged)."""
    if names is None:
        names = awaiting_names(queue, state)
    unknown = [n for n in names if n not in state.sessions]
    if unknown:
        raise UsageError(f"--sessions: no session {unknown[0]!r} in run {state.run!r}",
                         f"sessions: {', '.join(state.sessions)}")
    if not names:
        raise UsageError("nothing to integrate: no session given and no review entry awaits a decision",
                         "pass --sessions a,b,c")
    if verify is None:  # no [run] verify: the members' own command, when they share one
        from cortex_tui.review.context import resolve_spec

        own = {spec.verify if spec else None for spec in (resolve_spec(state, n) for n in names)}
        verify = own.pop() if len(own) == 1 else None
    res = run_gate(queue.ctx.repo, run_dir, state, names, verify, timeout)
    res.trigger = trigger
    save(run_dir, res)  # the integration entry: `review approve --integration` fast-forwards the base to it
    return res


def stale_reasons(repo: Path, res: IntegrationResult, state: RunState, awaiting: list[str]) -> list[str]:
    """Why ``res`` no longer describes the queue: the base or a member branch moved, a member's branch is
    gone, a branch joined the queue since (empty: it is current)."""
    out: list[str] = []
    tip = gitb.rev_parse(repo, f"refs/heads/{res.base}") or gitb.rev_parse(repo, res.base)
    if tip != res.base_tip:
        out.append(f"the base {res.base} moved ({res.base_tip[:12]} -> {(tip or 'gone')[:12]})")
    for name in res.order:
        rec = state.sessions.get(name)
        head = gitb.rev_parse(repo, f"refs/heads/{rec.branch}") if rec else None
        old = res.heads.get(name)
        if head is None:
            out.append(f"the branch of {name} is gone")
        elif old is not None and head != old:
            out.append(f"{name} has new commits ({old[:12]} -> {head[:12]})")
    out += [f"{n} joined the review queue" for n in awaiting if n not in res.order]
    return out
