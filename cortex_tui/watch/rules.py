"""Trigger rules: pure state machines over observations, driven by an explicit clock value.

Each rule returns a :class:`TriggerChange` only on a transition (fired or cleared), so feeding it the
same observation twice never raises the same trigger twice. Observers (pane output, worktree
watcher, process sampler) and the engine feed them; tests drive them with a fake clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cortex_tui.scope import in_scope
from cortex_tui.watch.text import normalize_error


@dataclass(frozen=True)
class TriggerChange:
    kind: str
    active: bool
    evidence: dict[str, Any]
    key: str = ""
    severity: str = "warning"


@dataclass
class SilenceRule:
    """No progress for ``after`` seconds *and* the process tree idle (CPU below threshold) as long."""

    after: float
    cpu_threshold: float
    last_progress: float
    last_busy: float = float("-inf")
    active: bool = False
    last_line: str = ""
    last_cpu: float | None = None
    waiting_on_human: bool = False
    """While an approval prompt waits, the session is waiting on a human, not silent."""
    cpu_required: bool = True
    """Fire only once the process tree has been sampled idle (False where CPU cannot be observed)."""

    def progress(self, t: float, line: str | None = None) -> TriggerChange | None:
        self.last_progress = max(self.last_progress, t)
        if line:
            self.last_line = line
        return self.check(t)

    def cpu(self, t: float, percent: float) -> TriggerChange | None:
        self.last_cpu = percent
        if percent >= self.cpu_threshold:
            self.last_busy = t
        return self.check(t)

    def check(self, t: float) -> TriggerChange | None:
        quiet_since = max(self.last_progress, self.last_busy)
        cpu_idle = (self.last_cpu < self.cpu_threshold) if self.last_cpu is not None else not self.cpu_required
        silent = t - quiet_since >= self.after and cpu_idle and not self.waiting_on_human
        if silent and not self.active:
            self.active = True
            return TriggerChange("silence", True, {
                "silent_for_s": round(t - self.last_progress, 1),
                "threshold_s": self.after,
                "cpu_percent": self.last_cpu,
                "cpu_threshold": self.cpu_threshold,
                "last_line": self.last_line,
            })
        if not silent and self.active:
            self.active = False
            return TriggerChange("silence", False, {"resumed_after_s": round(t - (quiet_since - 0), 1)})
        return None


@dataclass
class _ErrorSeen:
    times: deque[float]
    first_raw: str
    last_raw: str
    active: bool = False


@dataclass
class RepeatedErrorRule:
    """The same error fingerprint ``repeats`` times within ``window`` seconds."""

    repeats: int
    window: float
    seen: dict[str, _ErrorSeen] = field(default_factory=dict)

    def error(self, t: float, raw: str) -> TriggerChange | None:
        fp = normalize_error(raw)
        if not fp:
            return None
        e = self.seen.get(fp)
        if e is None:
            e = self.seen[fp] = _ErrorSeen(deque(), raw.strip(), raw.strip())
        e.times.append(t)
        e.last_raw = raw.strip()
        while e.times and t - e.times[0] > self.window:
            e.times.popleft()
        if len(e.times) >= self.repeats and not e.active:
            e.active = True
            return TriggerChange("repeated_error", True, {
                "normalized": fp, "count": len(e.times), "window_s": self.window,
                "first": e.first_raw, "last": e.last_raw,
            }, key=fp, severity="error")
        return None

    def check(self, t: float) -> list[TriggerChange]:
        """Clear fingerprints not seen again within the window."""
        out: list[TriggerChange] = []
        for fp, e in self.seen.items():
            while e.times and t - e.times[0] > self.window:
                e.times.popleft()
            if e.active and not e.times:
                e.active = False
                out.append(TriggerChange("repeated_error", False, {"normalized": fp}, key=fp))
        return out


@dataclass
class ApprovalRule:
    """The agent shows an approval prompt and waits.

    Raised by a screen check (:meth:`screen`) or by the agent's own structured signal (:meth:`structured`,
    e.g. a PermissionRequest hook). A structured waiting is not ended by a screen check that ran before
    the dialog was drawn: only once the dialog has been seen on the screen and then gone, or by a later
    structured event (:meth:`structured_end`) — one trigger per dialog, no flapping. A structured end can
    also come before the agent's UI took the dialog down (OpenCode's plugin hears ``permission.replied``
    before its TUI redraws): the screen raises nothing new until a look shows the dialog gone.
    """

    prompt: str | None = None
    structured_pending: bool = False
    """Raised by a structured signal and not yet seen on the screen."""
    ended_drawn: bool = False
    """A structured-raised waiting was ended by a structured event and no look has shown the dialog gone
    since: the dialog still on the screen is the answered one, not a new one (a new one is announced by its
    own structured signal, or — a screen-only dialog of the same agent, e.g. Codex's edit approvals — shows
    other text than :attr:`drawn`)."""
    drawn: str | None = None
    """The screen's text of the structured-raised dialog, once a look saw it (None: no look saw it)."""
    by_screen: bool = False
    """Raised by a screen check (no structured signal announced it): the screen says when it is gone; an
    agent's record of work read meanwhile may predate the dialog (a chat file read late), so it only asks
    for a look (see :meth:`cortex_tui.engine.ingest.Ingest.on_signal`)."""

    def screen(self, prompt: str | None) -> TriggerChange | None:
        if not prompt:
            self.ended_drawn = False
        elif self.ended_drawn and self.prompt is None:
            if self.drawn is None or prompt == self.drawn:
                return None  # the answered dialog, not redrawn away yet
            self.ended_drawn = False  # another dialog (its text differs from the answered one's): raised below
        if prompt and self.prompt is None:
            self.prompt = prompt
            self.by_screen = True
            return TriggerChange("approval_waiting", True, {"prompt": prompt}, severity="attention")
        if prompt and self.structured_pending:
            self.structured_pending = False  # the dialog is drawn: its going away ends the waiting
            self.drawn = prompt
            return None
        if prompt is None and self.prompt is not None and not self.structured_pending:
            old, self.prompt = self.prompt, None
            return TriggerChange("approval_waiting", False, {"prompt": old})
        return None

    def structured(self, prompt: str) -> TriggerChange | None:
        if self.prompt is not None:
            return None
        self.structured_pending = True
        self.ended_drawn = False
        self.drawn = None
        self.by_screen = False
        self.prompt = prompt
        return TriggerChange("approval_waiting", True, {"prompt": prompt}, severity="attention")

    def structured_end(self) -> TriggerChange | None:
        """A later structured event (the tool ran, the turn ended): whatever waited is answered."""
        self.structured_pending = False
        if self.prompt is None:
            return None
        self.ended_drawn = not self.by_screen  # a dialog only the screen showed: the screen says when it is gone
        old, self.prompt = self.prompt, None
        return TriggerChange("approval_waiting", False, {"prompt": old})


@dataclass
class ScopeRule:
    """A file created/modified/deleted outside the session's scope globs; fires once per path."""

    scope: list[str]
    fired: set[str] = field(default_factory=set)

    def change(self, path: str, kind: str) -> TriggerChange | None:
        if not self.scope or in_scope(path, self.scope) or path in self.fired:
            return None
        self.fired.add(path)
        return TriggerChange("out_of_scope", True, {"path": path, "change": kind, "scope": list(self.scope)},
                             key=path, severity="error")


@dataclass
class OverlapTracker:
    """Two running sessions modify the same repo-relative path."""

    touched: dict[str, set[str]] = field(default_factory=dict)
    fired: set[tuple[str, str]] = field(default_factory=set)

    def change(self, session: str, path: str) -> list[tuple[str, TriggerChange]]:
        owners = self.touched.setdefault(path, set())
        owners.add(session)
        out: list[tuple[str, TriggerChange]] = []
        if len(owners) < 2:
            return out
        names = sorted(owners)
        for s in names:
            if (s, path) in self.fired:
                continue
            self.fired.add((s, path))
            out.append((s, TriggerChange("overlap", True, {"path": path, "sessions": names}, key=path,
                                         severity="error")))
        return out

    def forget(self, session: str) -> None:
        """A session ended: its paths no longer count for new overlaps."""
        for owners in self.touched.values():
            owners.discard(session)


@dataclass
class ThresholdRule:
    """A value over a limit (memory RSS; budget fraction). Fires once; clears below ``clear_ratio``."""

    kind: str
    limit: float
    clear_ratio: float = 0.9
    active: bool = False

    def value(self, v: float, **evidence: Any) -> TriggerChange | None:
        if v > self.limit and not self.active:
            self.active = True
            return TriggerChange(self.kind, True, {"value": v, "limit": self.limit, **evidence}, severity="error")
        if self.active and v < self.limit * self.clear_ratio:
            self.active = False
            return TriggerChange(self.kind, False, {"value": v, "limit": self.limit, **evidence})
        return None


def exited_change(exit_code: int, last_lines: list[str]) -> TriggerChange | None:
    """A non-zero exit is a trigger (crash); exit 0 is a normal finish."""
    if exit_code == 0:
        return None
    from cortex_tui.watch.cause import exit_cause

    evidence: dict[str, Any] = {}
    cause = exit_cause(last_lines[-40:])
    if cause:
        evidence["cause"] = cause  # first: the line that says why (not logged in, cannot connect, …)
    evidence["exit_code"] = exit_code
    evidence["last_lines"] = [ln if len(ln) <= 300 else ln[:300] + " …" for ln in last_lines[-10:]]
    return TriggerChange("exited", True, evidence, severity="error")
