"""A synthetic engine: deterministic fake sessions that satisfy :class:`~cortex_tui.ui.engine_protocol.Engine`.

A test double (it lives with the tests, not in the shipped package): used by the UI tests, the snapshot
tests, the UI benchmark and ``python tests/synthetic_engine.py`` (a preview of the TUI without tmux). It never spawns anything. With ``live=True`` its ``supervise()`` feeds output,
stats, state changes and triggers at a configurable rate, like a busy real run.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Callable
from typing import Any

from cortex_tui.engine.events import Event, EventBus, EventKind
from cortex_tui.model.layout import Layout, ResolvedSession, RunSpec, SessionSpec
from cortex_tui.model.resolve import resolve_session
from cortex_tui.model.state import RunState, SessionRecord, SessionState, TokenUsage, TriggerRecord

EPOCH = 1_700_000_000.0
"""Fixed 'now' of the deterministic data set (tests pin the app clock to it)."""

_WORDS = ("auth", "billing", "search", "ingest", "docs", "cli", "cache", "api", "ui", "infra", "metrics", "sync",
          "export", "parser", "queue", "review")
_TASKS = ("refactor", "tests", "fix", "migrate", "perf", "types", "cleanup", "feature")
_AGENTS = ("claude-code", "codex", "aider", "sim", "gemini", "shell")

# deterministic state mix for the first sessions (the rest cycle through it)
_MIX: tuple[SessionState, ...] = (
    SessionState.RUNNING, SessionState.WAITING, SessionState.RUNNING, SessionState.FAILED, SessionState.IDLE,
    SessionState.RUNNING, SessionState.FINISHED, SessionState.PENDING, SessionState.RUNNING, SessionState.STOPPED,
    SessionState.STARTING, SessionState.RUNNING,
)


def session_name(i: int) -> str:
    return f"{_WORDS[i % len(_WORDS)]}-{_TASKS[(i // len(_WORDS)) % len(_TASKS)]}" + (
        f"-{i // (len(_WORDS) * len(_TASKS))}" if i >= len(_WORDS) * len(_TASKS) else "")


def _screen_for(name: str, agent: str, state: SessionState, extra: list[str]) -> str:
    lines = [
        f"\x1b[1;36m╭─ {agent} · session {name}\x1b[0m",
        "╰─ cwd .cortex/worktrees/synthetic/" + name,
        "\x1b[32m●\x1b[0m Reading src/app.py",
        "\x1b[32m●\x1b[0m Editing src/app.py (+12 -3)",
        "\x1b]0;pwned-title\x07\x1b[2J\x1b[H\x1b[31mError:\x1b[0m test_login failed (assert 401 == 200)",
        "\x1b[32m●\x1b[0m Running pytest -q \x1b]8;;http://evil.invalid\x1b\\link\x1b]8;;\x1b\\",
    ]
    if state is SessionState.WAITING:
        lines.append("\x1b[33m?\x1b[0m Allow `rm -rf build/`? [y/n]")
    elif state is SessionState.FAILED:
        lines.append("\x1b[31mTraceback (most recent call last):\x1b[0m")
        lines.append("\x1b[31mRuntimeError: database is locked\x1b[0m")
    lines.extend(extra)
    return "\r\n".join(lines) + "\r\n"


class SyntheticEngine:
    """Fake supervisor with ``n`` sessions; every action is recorded in :attr:`calls`."""

    def __init__(self, n: int = 12, *, run_id: str = "synthetic", live: bool = False, rate: float = 200.0,
                 seed: int = 7, clock: Callable[[], float] | None = None) -> None:
        self.run_id = run_id
        self.live = live
        self.rate = rate
        """Events per second while live."""
        self.clock: Callable[[], float] = clock or (lambda: EPOCH)
        self._rng = random.Random(seed)
        self.bus = EventBus(run_id)
        self._stop = asyncio.Event()
        self.calls: list[tuple[str, str, str]] = []
        """(method, session, argument) for every action the UI requested."""
        self.started = False
        self.paused = False
        """While True, a live engine generates no events (the benchmark isolates bursts this way)."""
        self.shut_down = False
        self.screen_calls = 0
        self._extra_lines: dict[str, list[str]] = {}
        specs: list[SessionSpec] = []
        for i in range(n):
            agent = _AGENTS[i % len(_AGENTS)]
            specs.append(SessionSpec(
                name=session_name(i), agent=agent,
                command="make" if agent == "shell" else None,
                scope=[f"src/{_WORDS[i % len(_WORDS)]}/**", "tests/**"],
                budget_usd=None if i % 5 == 4 else 2.0 + (i % 3),
                budget_tokens=None if i % 4 else 2_000_000,
                node="local" if i % 7 else "gpu-1",
            ))
        layout = Layout(run=RunSpec(name=run_id, budget_usd=50.0), session=specs)
        self.layout = layout
        self.specs: dict[str, ResolvedSession] = {s.name: resolve_session(layout, s) for s in layout.session}
        self.state = RunState(run=run_id, layout_path="layouts/synthetic.toml",
                              layout_text=f'[run]\nname = "{run_id}"\nbudget_usd = 50.0\n', repo="/tmp/synthetic",
                              base="main", base_commit="0" * 40, socket=f"cortex-{run_id}", created_at=EPOCH - 3600)
        for i, spec in enumerate(self.specs.values()):
            self.state.sessions[spec.name] = self._record(i, spec)

    # ------------------------------------------------------------------ data
    def _record(self, i: int, spec: ResolvedSession) -> SessionRecord:
        st = _MIX[i % len(_MIX)]
        known_usage = spec.agent not in ("shell", "aider") and st is not SessionState.PENDING
        rec = SessionRecord(
            name=spec.name, slug=spec.name, agent=spec.agent, node=spec.node, state=st,
            branch=f"cortex/{self.run_id}/{spec.name}", worktree=f"/tmp/synthetic/.cortex/worktrees/{spec.name}",
            created_at=EPOCH - 3000, started_at=None if st is SessionState.PENDING else EPOCH - 2400 + i,
            last_output_at=None if st is SessionState.PENDING else EPOCH - (i * 37) % 900 - 2,
            tokens=TokenUsage(input=40_000 + 9_000 * i, output=3_000 + 700 * i) if known_usage else None,
            cost_usd=round(0.15 + 0.11 * (i % 23), 2) if known_usage else None,
            cpu_percent=None if st is SessionState.PENDING else float((i * 13) % 97),
            rss_bytes=None if st is SessionState.PENDING else (80 + (i * 53) % 900) * 1024 * 1024,
            disk_bytes=(3 + i % 40) * 1024 * 1024,
            head_commit=None if st is SessionState.PENDING else f"{i:040x}",
            changed_files=[] if st is SessionState.PENDING else
            [f"src/{_WORDS[i % len(_WORDS)]}/mod{j}.py" for j in range(i % 4)] + (["README.md"] if i % 6 == 3 else []),
            exit_code=1 if st is SessionState.FAILED else 0 if st is SessionState.FINISHED else None,
        )
        if st is SessionState.WAITING:
            rec.triggers.append(TriggerRecord(kind="approval_waiting", severity="warning", at=EPOCH - 42,
                                              evidence={"prompt": "? Allow `rm -rf build/`? [y/n]"}))
        if st is SessionState.FAILED:
            rec.triggers.append(TriggerRecord(kind="exited", severity="error", at=EPOCH - 300,
                                              evidence={"exit_code": 1, "last_lines": ["RuntimeError: database is locked"]}))
        if i % 6 == 3:
            rec.triggers.append(TriggerRecord(kind="out_of_scope", severity="warning", at=EPOCH - 120, key="README.md",
                                              evidence={"path": "README.md", "change": "modified",
                                                        "scope": list(spec.scope)}))
        if i % 8 == 5:
            rec.triggers.append(TriggerRecord(
                kind="repeated_error", severity="error", at=EPOCH - 60,
                evidence={"fingerprint": "Error: test_login failed (assert N == N)", "count": 3,
                          "first": "Error: test_login failed (assert 401 == 200)",
                          "last": "Error: test_login failed (assert 401 == 200)"}))
        if i % 8 == 7:
            rec.triggers.append(TriggerRecord(kind="silence", severity="warning", at=EPOCH - 900, active=False,
                                              cleared_at=EPOCH - 600, evidence={"quiet_s": 600, "cpu_percent": 0.4}))
        return rec

    # ------------------------------------------------------------------ events
    def subscribe(self, cb: Callable[[Event], None]) -> Callable[[], None]:
        return self.bus.subscribe(cb)

    def publish(self, kind: EventKind, session: str | None = None, /, **data: Any) -> None:
        self.bus.publish(Event(ts=self.clock(), run=self.run_id, kind=kind, session=session, data=data))

    def set_state(self, name: str, state: SessionState, reason: str | None = None) -> None:
        rec = self.state.sessions[name]
        prev = rec.state
        rec.state = state
        rec.reason = reason
        self.publish("state", name, state=state.value, prev=prev.value, reason=reason)

    def raise_trigger(self, name: str, kind: str, severity: str = "warning", **evidence: Any) -> None:
        t = TriggerRecord(kind=kind, severity=severity, at=self.clock(), evidence=evidence)
        self.state.sessions[name].triggers.append(t)
        self.publish("trigger", name, kind=kind, key="", active=True, severity=severity, evidence=evidence, at=t.at)

    def clear_trigger(self, name: str, kind: str) -> None:
        for t in self.state.sessions[name].triggers:
            if t.kind == kind and t.active:
                t.active = False
                t.cleared_at = self.clock()
                self.publish("trigger_cleared", name, kind=kind, key=t.key, active=False, severity=t.severity,
                             evidence=t.evidence, at=t.at)

    def tick_stats(self, name: str) -> None:
        """New resource/usage numbers for one session (as the engine's sampler would report)."""
        rec = self.state.sessions[name]
        rec.cpu_percent = round(self._rng.uniform(0, 100), 1)
        rec.rss_bytes = self._rng.randint(50, 900) * 1024 * 1024
        if rec.tokens is not None:
            rec.tokens = TokenUsage(input=rec.tokens.input + self._rng.randint(100, 5000),
                                    output=rec.tokens.output + self._rng.randint(10, 500))
            rec.cost_usd = round((rec.cost_usd or 0.0) + self._rng.uniform(0.001, 0.05), 4)
        self.publish("stats", name, cpu_percent=rec.cpu_percent, rss_bytes=rec.rss_bytes, disk_bytes=rec.disk_bytes,
                     tokens=rec.tokens.as_dict() if rec.tokens else None, cost_usd=rec.cost_usd)

    def emit_output(self, name: str, line: str) -> None:
        rec = self.state.sessions[name]
        rec.last_output_at = self.clock()
        self._extra_lines.setdefault(name, []).append(line)
        del self._extra_lines[name][:-50]
        self.publish("output", name, lines=[line])

    def burst(self) -> None:
        """Every session gets new stats and output at once (benchmark: full refresh)."""
        for name in self.state.sessions:
            self.tick_stats(name)
            self.emit_output(name, "● burst")

    def step(self) -> None:
        """One random event, roughly the mix a busy real run produces."""
        names = list(self.state.sessions)
        name = self._rng.choice(names)
        r = self._rng.random()
        if r < 0.6:
            self.emit_output(name, f"● step {self._rng.randint(1, 999)}")
        elif r < 0.95:
            self.tick_stats(name)
        elif r < 0.98:
            live = [SessionState.RUNNING, SessionState.IDLE, SessionState.WAITING]
            self.set_state(name, self._rng.choice(live), "synthetic")
        else:
            self.raise_trigger(name, "repeated_error", "error", fingerprint="Error: flaky", count=3)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.started = True
        self.publish("run_started")

    async def supervise(self, *, until_done: bool) -> None:
        if not self.started:
            await self.start()
        self._stop.clear()
        if not self.live:
            await self._stop.wait()
            return
        interval = 0.02
        per_tick = max(1, round(self.rate * interval))
        while not self._stop.is_set():
            for _ in range(0 if self.paused else per_tick):
                self.step()
            try:
                await asyncio.wait_for(self._stop.wait(), interval)
            except TimeoutError:
                pass

    def request_stop(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        self.shut_down = True

    # ------------------------------------------------------------------ actions
    def _check(self, name: str) -> SessionRecord:
        if name not in self.state.sessions:
            raise KeyError(f"no session named {name!r}")
        return self.state.sessions[name]

    async def send(self, name: str, text: str) -> None:
        self._check(name)
        self.calls.append(("send", name, text))
        self.publish("action", name, action="send", detail=text)
        for line in text.split("\n"):
            self.emit_output(name, f"received: {line}")

    async def approve(self, name: str) -> None:
        self._check(name)
        self.calls.append(("approve", name, ""))
        self.publish("action", name, action="approve", detail=None)
        self.emit_output(name, "✓ approved")
        self.clear_trigger(name, "approval_waiting")
        self.set_state(name, SessionState.RUNNING, "approved")

    async def deny(self, name: str) -> None:
        self._check(name)
        self.calls.append(("deny", name, ""))
        self.publish("action", name, action="deny", detail=None)
        self.emit_output(name, "✗ denied")
        self.clear_trigger(name, "approval_waiting")
        self.set_state(name, SessionState.RUNNING, "denied")

    async def interrupt(self, name: str) -> None:
        self._check(name)
        self.calls.append(("interrupt", name, ""))
        self.publish("action", name, action="interrupt", detail=None)

    async def stop_session(self, name: str) -> None:
        self._check(name)
        self.calls.append(("stop", name, ""))
        self.publish("action", name, action="stop", detail=None)
        self.set_state(name, SessionState.STOPPED, "stopped by user")

    async def restart_session(self, name: str) -> None:
        rec = self._check(name)
        self.calls.append(("restart", name, ""))
        rec.restarts += 1
        self.publish("action", name, action="restart", detail=None)
        self.set_state(name, SessionState.RUNNING, "restarted by user")

    async def add_session(self, spec: SessionSpec) -> None:
        """``n`` in the TUI: a new session joins the run as pending, then starts."""
        if spec.name in self.state.sessions:
            raise ValueError(f"a session named {spec.name!r} already exists")
        self.calls.append(("add", spec.name, spec.prompt))
        resolved = resolve_session(self.layout, spec)
        self.specs[spec.name] = resolved
        self.state.sessions[spec.name] = SessionRecord(
            name=spec.name, slug=spec.name, agent=resolved.agent, node=resolved.node, state=SessionState.PENDING,
            branch=f"cortex/{self.run_id}/{spec.name}", worktree=f"/tmp/synthetic/.cortex/worktrees/{spec.name}",
            created_at=self.clock())
        self.set_state(spec.name, SessionState.RUNNING, "added from the TUI")

    def attach_argv(self, name: str) -> list[str]:
        self._check(name)
        return [sys.executable, "-c", f"print('attached to {name}')"]

    async def screen(self, name: str, *, escapes: bool = True, lines: int = 200) -> str:
        rec = self._check(name)
        self.screen_calls += 1
        return _screen_for(name, rec.agent, rec.state, self._extra_lines.get(name, []))


def main() -> None:  # pragma: no cover - manual preview
    import argparse

    from cortex_tui.ui.app import run_tui

    ap = argparse.ArgumentParser(description="Preview the cortex-tui UI with a synthetic engine")
    ap.add_argument("-n", type=int, default=24)
    ap.add_argument("--rate", type=float, default=50.0)
    ns = ap.parse_args()
    import time

    run_tui(SyntheticEngine(ns.n, live=True, rate=ns.rate, clock=time.time))


if __name__ == "__main__":  # pragma: no cover
    main()
