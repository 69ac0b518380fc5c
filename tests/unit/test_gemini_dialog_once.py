"""One approval dialog, one approval_waiting — when Gemini's chat file is read after the dialog is drawn.

The flake of ``test_approve[gemini]`` under load: the screen raised ``waiting`` for the dialog, then the chat
file's first read (found late, on the tick) delivered the prompt recorded *before* the dialog as ``busy``,
which ended the waiting while the dialog was still drawn; the next screen check raised it again. A dialog
only the screen showed is ended by the screen: a ``busy`` from the agent's records meanwhile only asks for a
look. Recorded Gemini CLI 0.61.0 chat file and screens (tests/fixtures/agents/gemini/0.61.0/).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from claude_harness import make_ctx
from unit_helpers import Recorder, runtimes, set_state

from cortex_tui.budgets import BudgetTracker
from cortex_tui.engine.clock import FakeClock
from cortex_tui.engine.events import EventBus
from cortex_tui.engine.ingest import Ingest
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.usage import UsageBook
from cortex_tui.model.state import SessionState
from cortex_tui.store.files import RunStore
from cortex_tui.watch.rules import OverlapTracker

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "agents" / "gemini" / "0.61.0"


def _setup(tmp_path: Path) -> tuple[SessionRuntime, Ingest, Recorder, list[str], Path]:
    home, wt = tmp_path / "home", tmp_path / "wt"
    proj = home / ".gemini" / "tmp" / "wt"
    (proj / "chats").mkdir(parents=True)
    wt.mkdir()
    (proj / ".project_root").write_text(str(wt))
    clock = FakeClock()
    rec = Recorder(clock)
    rts = runtimes(f'[[session]]\nname = "g"\nagent = "gemini"\nprompt = "do it"\nenv = {{ HOME = "{home}" }}\n', clock)
    rt = rts["g"]
    rt.adapter.prepare(rt.spec, make_ctx(tmp_path, wt))
    set_state(rt, SessionState.RUNNING)
    looks: list[str] = []
    bus = EventBus("u")
    usage = UsageBook(clock=clock, book=rec.book, bus=bus, emit=rec.emit, runtimes=rts,
                      records=lambda: [r.rec for r in rts.values()], prices={}, run_budget=BudgetTracker(), on_dirty=lambda: None)
    ingest = Ingest(clock=clock, store=RunStore(tmp_path / "state", "u"), book=rec.book, bus=bus, usage=usage,
                    overlap=OverlapTracker(), runtimes=rts, best_of=False,
                    saw_output=lambda r, hint: looks.append(r.rec.name), on_dirty=lambda: None)
    return rt, ingest, rec, looks, proj / "chats" / "session-2026-12-01T23-46-57d1e9a4.jsonl"


def _screen(rt: SessionRuntime, rec: Recorder, name: str) -> None:
    """What a screen check does with a capture (cortex_tui/engine/screen.py)."""
    lines = (FIX / name).read_text(encoding="utf-8").splitlines()
    prompt = rt.adapter.find_approval(lines)
    rec.book.apply(rt, rt.approval.screen(prompt.text if prompt else None))


def test_a_chat_record_read_after_the_dialog_does_not_raise_it_twice(tmp_path: Path) -> None:
    rt, ingest, rec, looks, chat = _setup(tmp_path)
    lines = (FIX / "chat-approved.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    chat.write_text("".join(lines[:3]), encoding="utf-8")  # the header and the prompt, recorded before the dialog

    async def go() -> None:
        _screen(rt, rec, "screen-dialog.txt")  # the dialog is drawn and seen first
        assert rt.rec.state is SessionState.WAITING
        for _ in range(20):  # the chat file is found (at most every 0.5 s) and read: the prompt says busy
            ingest.poll_usage(rt)
            if rt.adapter.watch_files():
                break
            await asyncio.sleep(0.05)
        assert [p.resolve() for p in rt.adapter.watch_files()] == [chat.resolve()]
        assert rt.rec.state is SessionState.WAITING, "a record older than the dialog ended the waiting"
        assert looks == ["g"]  # it asked for a look at the screen instead
        _screen(rt, rec, "screen-dialog.txt")  # the next look: still the same dialog
        with chat.open("a", encoding="utf-8") as f:  # approved: the tool ran, its result went back
            f.write("".join(lines[3:8]))
        ingest.poll_usage(rt)
        _screen(rt, rec, "screen-busy.txt")  # the dialog is gone from the screen: the waiting ends
        assert rt.rec.state.value == "running"

    asyncio.run(go())
    raised = [d for d in rec.kinds("trigger") if d["kind"] == "approval_waiting"]
    cleared = [d for d in rec.kinds("trigger_cleared") if d["kind"] == "approval_waiting"]
    assert len(raised) == 1 and len(cleared) == 1, rec.events
    assert "echo hi > made.txt" in raised[0]["evidence"]["prompt"]
