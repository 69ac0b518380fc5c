"""What to start and what to give up on, decided from the sessions' states alone (no tmux, no clock reads).

:func:`plan` applies dependencies (a failed or stopped dependency stops its dependents), ``max_parallel``,
restart backoff (a failed session whose ``restart_at`` came is started again) and the run budget (a spent
budget starts nothing new). The Supervisor carries the plan out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from cortex_tui.engine.session import SessionRuntime
from cortex_tui.model.layout import RestartPolicy
from cortex_tui.model.state import SessionState

DEFAULT_BACKOFF_S = (5.0,)


@dataclass
class Plan:
    spawn: list[str] = field(default_factory=list)
    """Sessions to start now, in layout order (restarts included)."""
    stop: list[tuple[str, str]] = field(default_factory=list)
    """Pending sessions that will never start: (name, reason)."""


def dependency_done(dep: SessionRuntime, start_after: str, approved: Collection[str], verify_gate: bool) -> bool | str:
    """Whether a dependent may start after ``dep``: True, False (not yet) or why it never will.

    ``finished``: exit 0, and its verify passed when it has one (``verify_gate``: verify runs, i.e. the
    review queue is on). ``approved``: approved in review (``approved`` names those)."""
    rec = dep.rec
    if rec.state is not SessionState.FINISHED or rec.exit_code != 0:
        return False
    if rec.node != "local" and rec.review_due:
        return False  # a remote dependency's branch is not home yet (it is fetched back when it is queued)
    if start_after == "approved":
        return rec.name in approved
    if verify_gate and dep.spec.verify:
        if rec.verify_exit is None:
            return False  # its verify has not run yet
        if rec.verify_exit != 0:
            return f"dependency {rec.name!r} failed verify (exit {rec.verify_exit})"
    return True


def plan(runtimes: Iterable[SessionRuntime], *, now: float, limit: int | None = None,
         spawning: Collection[str] = (), budget_spent: str | None = None, approved: Collection[str] = (),
         verify_gate: bool = False) -> Plan:
    """Decide which sessions start now. ``limit`` = ``max_parallel`` (None or 0: no limit);
    ``budget_spent`` = why the run's budget forbids new starts (None: it does not); ``approved`` = sessions
    approved in review (for ``start_after = "approved"``); ``verify_gate``: a dependency with a verify
    command must have passed it."""
    rts = list(runtimes)
    by_name = {rt.rec.name: rt for rt in rts}
    stopped: dict[str, SessionState] = {}  # decided in this pass: later dependents see it at once
    running = sum(1 for rt in rts if rt.rec.state.live)
    out = Plan()
    ready: list[str] = []

    def state(name: str) -> SessionState:
        return stopped.get(name, by_name[name].rec.state)

    for rt in rts:
        rec = rt.rec
        if rec.name in spawning:
            continue
        if rt.restart_at is not None and now >= rt.restart_at:
            ready.append(rec.name)
            continue
        if rec.state is not SessionState.PENDING:
            continue
        deps = rt.spec.depends_on
        blocked = [d for d in deps if state(d) in (SessionState.FAILED, SessionState.STOPPED)
                   and by_name[d].restart_at is None]
        if blocked:
            out.stop.append((rec.name, f"dependency {blocked[0]!r} {state(blocked[0]).value}"))
            stopped[rec.name] = SessionState.STOPPED
            continue
        done = [dependency_done(by_name[d], rt.spec.start_after, approved, verify_gate) for d in deps]
        never = [r for r in done if isinstance(r, str)]
        if never:
            out.stop.append((rec.name, never[0]))
            stopped[rec.name] = SessionState.STOPPED
            continue
        if all(r is True and state(d) is SessionState.FINISHED for d, r in zip(deps, done, strict=True)):
            if budget_spent is not None:
                out.stop.append((rec.name, f"not started: {budget_spent}"))
                stopped[rec.name] = SessionState.STOPPED
                continue
            ready.append(rec.name)
    out.spawn = ready[: max(0, (limit or 10**9) - running)]
    return out


def restart_delay(policy: RestartPolicy | None, restarts: int) -> float | None:
    """Seconds until a failed session is started again (None: its policy allows no more restarts)."""
    if policy is None or restarts >= policy.max:
        return None
    delays = policy.backoff_s or list(DEFAULT_BACKOFF_S)
    return float(delays[min(restarts, len(delays) - 1)])


def timed_out(rt: SessionRuntime, now: float) -> str | None:
    """Why a running session must stop now (its ``timeout`` passed), or None."""
    timeout, started = rt.spec.timeout, rt.rec.started_at
    if timeout and started and now - started > timeout:
        return f"timed out after {timeout:.0f}s"
    return None


def settled(runtimes: Iterable[SessionRuntime]) -> bool:
    """Nothing more happens without a human: every session ended (no restart due), is ``blocked``, or waits
    on a blocked dependency (directly or through others)."""
    rts = {rt.rec.name: rt for rt in runtimes}
    memo: dict[str, bool] = {}

    def stuck(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in memo:
            return memo[name]
        rt = rts[name]
        st = rt.rec.state
        if st is SessionState.BLOCKED:
            out = True
        elif st is SessionState.PENDING and rt.restart_at is None:
            out = any(d in rts and d not in seen and stuck(d, seen | {name}) for d in rt.spec.depends_on)
        else:
            out = False
        memo[name] = out
        return out

    return all((rt.rec.state.terminal and rt.restart_at is None) or stuck(n) for n, rt in rts.items())
