"""engine/typed_prompt.py: a session whose agent takes its prompt typed (aider) gets it once its input prompt is
on the screen — exactly once per attempt, never in headless runs, never for agents that take it in argv."""

from __future__ import annotations

import asyncio
from pathlib import Path

from claude_harness import make_session

from cortex_tui.agents import get_adapter
from cortex_tui.engine.clock import FakeClock
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.tasks import TaskSet
from cortex_tui.engine.typed_prompt import GRACE_S, TypedPrompts
from cortex_tui.model.state import SessionRecord, SessionState

FIX = Path(__file__).parent / "fixtures" / "agents" / "aider" / "0.86.2"
READY = (FIX / "screen-ready.txt").read_text().splitlines()
DIALOG = (FIX / "screen-run-shell.txt").read_text().splitlines()


def _rt(agent: str, prompt: str) -> SessionRuntime:
    spec = make_session(agent=agent, prompt=prompt)
    rec = SessionRecord(name="s", slug="s", agent=agent, branch="b", worktree="/w", state=SessionState.RUNNING)
    return SessionRuntime.from_record(spec, rec, 0.0, adapter=get_adapter(agent))


async def _typer(clock: FakeClock, headless: bool = False) -> tuple[TypedPrompts, list[tuple[str, str]],
                                                                     list[str], TaskSet]:
    sent: list[tuple[str, str]] = []
    looked: list[str] = []
    errors: list[BaseException] = []
    tasks = TaskSet(lambda name, e: errors.append(e))

    async def send(name: str, text: str) -> None:
        sent.append((name, text))

    t = TypedPrompts(tasks=tasks, clock=clock, headless=lambda: headless, send=send,
                     look_again=lambda rt: looked.append(rt.rec.name), save=lambda: looked.append("saved"))
    return t, sent, looked, tasks


async def test_typed_once_when_the_input_prompt_shows() -> None:
    clock = FakeClock()
    t, sent, looked, tasks = await _typer(clock)
    rt = _rt("aider", "fix the parser\nand test it")
    assert t.on_screen(rt, DIALOG) is False and sent == []  # not at its input prompt yet
    assert t.on_screen(rt, READY) is True  # typed now: not idle
    await asyncio.sleep(0.01)
    assert sent == [("s", "fix the parser\nand test it")]
    assert rt.rec.prompt_typed_at == clock.time()
    assert t.on_screen(rt, READY) is True  # the keys are on their way: still not idle
    clock.advance(GRACE_S + 0.1)
    assert t.on_screen(rt, READY) is False  # back at its prompt after the turn: idle, and never typed again
    await asyncio.sleep(GRACE_S + 0.2)
    assert sent == [("s", "fix the parser\nand test it")] and looked == ["saved", "s"]  # saved before typing
    rt.reset_for_attempt(clock.time())  # a restart: the new attempt gets its prompt again
    assert t.on_screen(rt, READY) is True
    await asyncio.sleep(0.01)
    assert len(sent) == 2
    await tasks.cancel()


async def test_never_typed_headless_or_for_argv_agents() -> None:
    clock = FakeClock()
    t, sent, _, tasks = await _typer(clock, headless=True)
    assert t.on_screen(_rt("aider", "x"), READY) is False
    t2, sent2, _, tasks2 = await _typer(clock)
    assert t2.on_screen(_rt("claude-code", "x"), READY) is False
    assert t2.on_screen(_rt("aider", "   "), READY) is False  # no prompt: nothing to type
    await asyncio.sleep(0.01)
    assert sent == [] and sent2 == []
    await tasks.cancel()
    await tasks2.cancel()
