"""engine.tasks.supervised: a failure is reported with its text and the task restarts; cancel is not a failure."""

from __future__ import annotations

import asyncio

import pytest

from cortex_tui.engine.tasks import Coalesced, TaskSet, describe, supervised


async def test_a_failing_task_is_reported_and_restarted() -> None:
    runs: list[int] = []
    errors: list[tuple[str, str]] = []

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise KeyError("boom")

    await supervised(work, "w", lambda n, e: errors.append((n, describe(e))), delays=(0.0,))
    assert runs == [0, 1]
    assert errors == [("w", "KeyError: 'boom'")]


async def test_one_shot_tasks_report_and_end() -> None:
    errors: list[str] = []

    async def work() -> None:
        raise RuntimeError("once")

    ts = TaskSet(lambda n, e: errors.append(f"{n}: {describe(e)}"))
    ts.spawn(work, "review:x")
    assert ts
    await ts.wait()
    assert not ts and errors == ["review:x: RuntimeError: once"]


async def test_cancel_is_not_a_failure() -> None:
    errors: list[str] = []
    ts = TaskSet(lambda n, e: errors.append(n))
    t = ts.spawn(lambda: asyncio.sleep(30), "sleeper", restart=True)
    await asyncio.sleep(0)
    await ts.cancel()
    assert t.cancelled() and errors == []
    with pytest.raises(asyncio.CancelledError):
        await t


async def test_asks_while_a_coalesced_run_is_in_flight_make_one_more_run() -> None:
    runs: list[int] = []
    gate = asyncio.Event()

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            await gate.wait()

    tasks = TaskSet(lambda n, e: None)
    c = Coalesced(work, tasks, "pass")
    c.soon()
    await asyncio.sleep(0)
    assert runs == [0]
    for _ in range(3):  # three asks while the first run waits
        c.soon()
    gate.set()
    await tasks.wait()
    assert runs == [0, 1]  # one more run for all three
    c.soon()
    await tasks.wait()
    assert runs == [0, 1, 2]  # a later ask: a run of its own
