"""The conformance suite: every real agent CLI, supervised by the real engine (tmux, git worktree), against a
loopback fake of its provider's API — the same scenarios for each agent.

One test per agent × scenario (``pytest -m conformance``). An agent whose CLI is not installed (or not at a
tested version) skips with the reason; a scenario an agent cannot support skips with the reason too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from drivers import DRIVERS, Driver
from engine_helpers import run_to_end, triggers, wait_for
from fake_llm import ScriptedLLM, Step

from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.errors import CortexError
from cortex_tui.layout import parse_layout

pytestmark = pytest.mark.conformance

AGENTS = sorted(DRIVERS)
RUN = "conf"
NAME = "agent"


def _toml(v: Any) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(x)}" for k, x in v.items()) + " }"
    return json.dumps(v)


def _driver(agent: str, scenario: str) -> Driver:
    d = DRIVERS[agent]
    why = d.available()
    if why:
        pytest.skip(why)
    if scenario in d.unsupported:
        pytest.skip(f"{agent} cannot do {scenario}: {d.unsupported[scenario]}")
    return d


def worktree_of(repo: Path) -> Path:
    return repo / ".cortex" / "worktrees" / RUN / NAME


def supervise(d: Driver, repo: Path, tmp_path: Path, script: list[Step], *, prompt: str = "do the task",
              headless: bool = False, session: dict[str, Any] | None = None,
              during: Callable[[Supervisor, ScriptedLLM], Awaitable[None]] | None = None,
              timeout: float = 150) -> tuple[list[Event], Supervisor, ScriptedLLM]:
    home = tmp_path / "agent-home"
    home.mkdir()
    api = d.fake(script)
    with api:
        env = d.env(home, worktree_of(repo), api)
        keys = {"name": NAME, "agent": d.kind, "model": d.model, "prompt": prompt, **d.layout_extra(),
                **(session or {}), "env": {k: v for k, v in env.items() if k != "PATH"}}
        text = f'[run]\nname = "{RUN}"\n[[session]]\n' + "".join(f"{k} = {_toml(v)}\n" for k, v in keys.items())
        path = tmp_path / "layout.toml"
        path.write_text(text)
        sup = Supervisor(parse_layout(text, path), repo, headless=headless)

        async def body(s: Supervisor) -> None:
            if during is not None:
                await during(s, api)

        events = run_to_end(sup, timeout=timeout + d.start_s, during=body)
    return events, sup, api


async def expect(sup: Supervisor, pred: Callable[[], object], timeout: float, what: str) -> None:
    """wait_for, failing with what the agent's screen and the session showed (for diagnosis)."""
    try:
        await wait_for(pred, timeout, what)
    except AssertionError as e:
        rec = sup.state.sessions[NAME]
        try:
            screen = await sup.screen(NAME, escapes=False, lines=40)
        except Exception as se:  # the window may be gone; the timeout is what matters
            screen = f"(no screen: {se!r})"
        raise AssertionError(f"{e}\nstate={rec.state.value} cpu={rec.cpu_percent} tokens={rec.tokens}\n"
                             f"triggers={[(t.kind, t.active) for t in rec.triggers]}\n--- screen ---\n{screen}") from None


async def answer(sup: Supervisor, yes: bool) -> None:
    """approve/deny, failing with the screen when the engine refuses (no dialog on it)."""
    try:
        await (sup.approve(NAME) if yes else sup.deny(NAME))
    except CortexError as e:
        screen = await sup.screen(NAME, escapes=False, lines=40)
        raise AssertionError(f"{e.message}\n--- screen ---\n{screen}") from None


def state(sup: Supervisor) -> str:
    return sup.state.sessions[NAME].state.value


async def finish(sup: Supervisor) -> None:
    await asyncio.sleep(0.2)
    await sup.stop_session(NAME)


def dump(sup: Supervisor, events: list[Event]) -> str:
    """What to show when a scenario fails: the states and triggers seen."""
    seen = [f"{e.kind}:{e.data.get('state') or e.data.get('kind')}" for e in events if e.kind in ("state", "trigger",
                                                                                                  "trigger_cleared")]
    return " → ".join(seen)


# ---------------------------------------------------------------------------------------------------------
# scenarios


@pytest.mark.parametrize("agent", AGENTS)
def test_approve(agent: str, git_repo: Path, tmp_path: Path) -> None:
    """start → working → approval prompt (waiting, prompt text as evidence) → approve → the tool runs → idle."""
    d = _driver(agent, "approve")
    wt = worktree_of(git_repo)
    seen: dict[str, Any] = {}

    async def during(sup: Supervisor, api: ScriptedLLM) -> None:
        await expect(sup, lambda: state(sup) == "waiting", 60 + d.start_s, f"{agent}: waiting for approval")
        seen["prompt"] = sup.state.sessions[NAME].reason
        assert not (wt / "made.txt").exists()
        await answer(sup, True)
        await expect(sup, lambda: (wt / "made.txt").exists(), 30, f"{agent}: the approved command ran")
        await expect(sup, lambda: state(sup) == "idle", 30, f"{agent}: idle after the turn")
        await finish(sup)

    events, sup, _ = supervise(d, git_repo, tmp_path, [d.shell("echo hi > made.txt"), d.say("Made it.")],
                               during=during)
    ap = triggers(events, "approval_waiting", NAME)
    assert len(ap) == 1, dump(sup, events)
    assert "made.txt" in ap[0].data["evidence"]["prompt"]
    assert (wt / "made.txt").read_text() == "hi\n"


@pytest.mark.parametrize("agent", AGENTS)
def test_deny(agent: str, git_repo: Path, tmp_path: Path) -> None:
    """deny → the agent's idle state (never `running` forever), the command never ran."""
    d = _driver(agent, "deny")
    wt = worktree_of(git_repo)

    async def during(sup: Supervisor, api: ScriptedLLM) -> None:
        await expect(sup, lambda: state(sup) == "waiting", 60 + d.start_s, f"{agent}: waiting for approval")
        await answer(sup, False)
        await expect(sup, lambda: state(sup) == "idle", 20, f"{agent}: idle after deny (state {state(sup)})")
        await finish(sup)

    events, sup, _ = supervise(d, git_repo, tmp_path, [d.shell("echo no > denied.txt"), d.say("Understood.")],
                               during=during)
    assert not (wt / "denied.txt").exists()
    assert any(e.kind == "trigger_cleared" and e.data["kind"] == "approval_waiting" for e in events), dump(sup, events)


@pytest.mark.parametrize("agent", AGENTS)
def test_repeated_error(agent: str, git_repo: Path, tmp_path: Path) -> None:
    """The same failing shell command three times → repeated_error."""
    d = _driver(agent, "repeated_error")
    cmd = "python3 -c 'raise ValueError(\"conformance boom\")'"
    seen: list[Event] = []

    async def during(sup: Supervisor, api: ScriptedLLM) -> None:
        sup.subscribe(seen.append)
        await expect(sup, lambda: triggers(seen, "repeated_error", NAME), 60 + d.start_s, f"{agent}: repeated_error")
        await finish(sup)

    script = [d.failing(cmd), d.failing(cmd), d.failing(cmd), d.say("It keeps failing.")]
    events, sup, _ = supervise(d, git_repo, tmp_path, script, during=during, session=d.repeat_session(cmd))
    rep = triggers(events, "repeated_error", NAME)
    assert rep, dump(sup, events)
    assert "boom" in json.dumps(rep[0].data["evidence"])


@pytest.mark.parametrize("agent", AGENTS)
def test_silence(agent: str, git_repo: Path, tmp_path: Path) -> None:
    """The API hangs while the agent's spinner moves → silence within 2 s of silence_after; no clear while hung."""
    d = _driver(agent, "silence")
    after = 4.0
    seen: list[Event] = []
    got: dict[str, float] = {}

    async def during(sup: Supervisor, api: ScriptedLLM) -> None:
        sup.subscribe(seen.append)
        await expect(sup, lambda: api.hung_at is not None, 60 + d.start_s, f"{agent}: the hung request")
        # what the agent records just after sending the request (Gemini's chat file, read on the ~1 s tick) is
        # progress: a silence that began before the hang (a slow start under load) may end there, once
        await asyncio.sleep(2.5)

        def active() -> list[Any]:
            return [tr for tr in sup.state.sessions[NAME].triggers
                    if tr.kind == "silence" and tr.active and tr.at >= (api.hung_at or 0.0)]

        await expect(sup, active, after + 20, f"{agent}: silence after the hang")
        looked = time.time()
        got["fired"] = active()[-1].at
        got["hung"] = api.hung_at or 0.0
        await asyncio.sleep(4)  # still hung: the silence must stay
        got["cleared_while_hung"] = float(any(e.kind == "trigger_cleared" and e.data["kind"] == "silence"
                                              and e.ts > looked for e in seen))
        api.release()
        await finish(sup)

    events, sup, _ = supervise(d, git_repo, tmp_path, [Step.hung()], session={"silence_after": f"{after:g}s"},
                               during=during)
    lag = got["fired"] - got["hung"]
    print(f"{agent}: silence fired {lag:.2f} s after the API went silent (silence_after {after:g} s)")
    assert got["cleared_while_hung"] == 0.0, dump(sup, events)
    # the quiet clock starts at the agent's last progress (just before its request), not at the hang itself
    # +1: sampling jitter, +2.5: a silence that began before the hang and ended on the agent's own record of it
    assert 0 < lag <= after + 2.0 + 1.0 + 2.5, f"fired {lag:.2f}s after the hang"


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("where", ["scope", "worktree"])
def test_out_of_scope(agent: str, where: str, git_repo: Path, tmp_path: Path) -> None:
    """An edit outside scope (or outside the worktree) → out_of_scope naming the resolved path."""
    d = _driver(agent, f"out_of_scope_{where}")
    outside = tmp_path / "elsewhere.txt"
    target = str(worktree_of(git_repo) / "notes.txt") if where == "scope" else str(outside)
    want = "notes.txt" if where == "scope" else str(outside.resolve())
    seen: list[Event] = []

    def flagged() -> bool:
        return any(o.data["evidence"]["path"] == want for o in triggers(seen, "out_of_scope", NAME))

    async def during(sup: Supervisor, api: ScriptedLLM) -> None:
        sup.subscribe(seen.append)
        await expect(sup, flagged, 60 + d.start_s, f"{agent}: out_of_scope {want}")
        await finish(sup)

    session: dict[str, Any] = {"scope": ["src/**"]}
    if d.auto_mode():
        session["permission_mode"] = d.auto_mode()
    events, sup, _ = supervise(d, git_repo, tmp_path, [d.write(target, "changed\n"), d.say("Edited.")],
                               session=session, during=during)
    oos = triggers(events, "out_of_scope", NAME)
    assert oos, dump(sup, events)
    assert any(o.data["evidence"]["path"] == want for o in oos), [o.data["evidence"] for o in oos]
    if d.only_written_flagged:  # nothing the agent keeps for itself in the worktree (aider's repo-map cache)
        assert {o.data["evidence"]["path"] for o in oos} == {want}, [o.data["evidence"] for o in oos]


@pytest.mark.parametrize("agent", AGENTS)
def test_usage(agent: str, git_repo: Path, tmp_path: Path) -> None:
    """The turn's tokens equal what the fake billed, read from the agent's own records — or unknown, never 0."""
    d = _driver(agent, "usage")

    async def during(sup: Supervisor, api: ScriptedLLM) -> None:
        await expect(sup, lambda: state(sup) == "idle", 60 + d.start_s, f"{agent}: idle after the turn")
        rec = sup.state.sessions[NAME]
        want = api.totals()
        await expect(sup, lambda: rec.tokens is not None and rec.tokens.total == want["input"] + want["output"], 15,
                       f"{agent}: tokens {want} (have {rec.tokens})")
        await finish(sup)

    script = [d.say("All done.", input_tokens=1234, output_tokens=56, cached_tokens=200)]
    if d.usage_headless:  # the agent cannot be driven interactively: a headless run, judged when it ended
        _, sup, _ = supervise(d, git_repo, tmp_path, script, headless=True)
    else:
        _, sup, _ = supervise(d, git_repo, tmp_path, script, during=during)
    rec = sup.state.sessions[NAME]
    assert rec.tokens is not None, "usage unknown"
    assert rec.tokens.input + rec.tokens.cache_read == 1234 and rec.tokens.output == 56
    if d.reports_cache:
        assert rec.tokens.cache_read == 200


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("outcome", ["finished", "failed"])
def test_exit(agent: str, outcome: str, git_repo: Path, tmp_path: Path) -> None:
    """The agent's own exit → finished (code 0) or failed (its non-zero code); headless runs end by themselves."""
    d = _driver(agent, f"exit_{outcome}")
    script = [d.say("Nothing to do.")] if outcome == "finished" else [Step.error(500)] * 8
    t0 = time.time()
    events, sup, _ = supervise(d, git_repo, tmp_path, script, headless=True, timeout=120,
                               session=d.fail_session() if outcome == "failed" else None)
    rec = sup.state.sessions[NAME]
    assert rec.state.value == outcome, dump(sup, events)
    assert rec.exit_code is not None and (rec.exit_code == 0) == (outcome == "finished"), rec.exit_code
    assert rec.finished_at is not None and rec.finished_at >= t0
