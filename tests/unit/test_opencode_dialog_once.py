"""One approval dialog, one approval_waiting — when OpenCode's reply event beats its TUI's redraw.

The flake of ``test_approve[opencode]``: our plugin heard ``permission.asked`` (waiting, raised by the
structured signal), the dialog was answered, and the plugin heard ``permission.replied`` (in OpenCode's
server, before its TUI took the dialog down): the waiting ended — and the next screen check, still showing
the answered dialog, raised it a second time. A structured-raised waiting that a structured event ended is
not raised again by the screen until a look has shown the dialog gone. Recorded OpenCode 1.18.33 plugin
events and dialog (tests/fixtures/agents/opencode/1.18.33/).
"""

from __future__ import annotations

from pathlib import Path

import pytest
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

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "agents" / "opencode" / "1.18.33"
DIALOG = (FIX / "screen-permission.txt").read_text(encoding="utf-8").splitlines()
GONE = DIALOG[:10]  # the same screen above the dialog: the turn goes on, no dialog drawn


def _setup(tmp_path: Path) -> tuple[SessionRuntime, Ingest, Recorder, Path]:
    wt = tmp_path / "wt"
    wt.mkdir()
    clock = FakeClock()
    rec = Recorder(clock)
    rts = runtimes('[[session]]\nname = "o"\nagent = "opencode"\nprompt = "do it"\n', clock)
    rt = rts["o"]
    rt.adapter.prepare(rt.spec, make_ctx(tmp_path, wt))
    set_state(rt, SessionState.RUNNING)
    bus = EventBus("u")
    store = RunStore(tmp_path / "state", "u")
    usage = UsageBook(clock=clock, book=rec.book, bus=bus, emit=rec.emit, runtimes=rts,
                      records=lambda: [r.rec for r in rts.values()], prices={}, run_budget=BudgetTracker(), on_dirty=lambda: None)
    ingest = Ingest(clock=clock, store=store, book=rec.book, bus=bus, usage=usage, overlap=OverlapTracker(),
                    runtimes=rts, best_of=False, saw_output=lambda r, hint: None, on_dirty=lambda: None)
    events = store.events_file(rt.rec.slug)
    events.parent.mkdir(parents=True, exist_ok=True)
    events.write_bytes(b"")
    return rt, ingest, rec, events


def _state(rt: SessionRuntime) -> SessionState:
    return rt.rec.state  # read afresh at each assert (mypy would narrow rt.rec.state across them)


def _screen(rt: SessionRuntime, rec: Recorder, lines: list[str]) -> None:
    """What a screen check does with a capture (cortex_tui/engine/screen.py)."""
    prompt = rt.adapter.find_approval(lines)
    rec.book.apply(rt, rt.approval.screen(prompt.text if prompt else None))


def _append_until(ingest: Ingest, rt: SessionRuntime, events: Path, lines: list[str], event: str) -> list[str]:
    """Append the recorded plugin lines up to and including the first ``event``; the engine reads them."""
    i = next(n for n, ln in enumerate(lines) if f'"event":"{event}"' in ln)
    with events.open("a", encoding="utf-8") as f:
        f.write("".join(lines[: i + 1]))
    ingest.read_agent_events(rt)
    return lines[i + 1:]


@pytest.mark.parametrize("seen_first", [True, False], ids=["engine-saw-the-dialog", "only-the-answer-saw-it"])
def test_a_reply_heard_before_the_redraw_does_not_raise_the_dialog_twice(tmp_path: Path, seen_first: bool) -> None:
    rt, ingest, rec, events = _setup(tmp_path)
    rest = (FIX / "events-approved.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    _screen(rt, rec, GONE)  # a look before the dialog is drawn
    rest = _append_until(ingest, rt, events, rest, "permission.asked")
    assert _state(rt) is SessionState.WAITING  # the plugin's event raised it
    _screen(rt, rec, GONE)  # a look that ran before the dialog was drawn does not end it
    assert _state(rt) is SessionState.WAITING
    if seen_first:
        _screen(rt, rec, DIALOG)
    else:  # answered at once: only the answer's own look saw it (cortex_tui/engine/commands.py answer)
        rt.approval.structured_pending = False
    rest = _append_until(ingest, rt, events, rest, "permission.replied")
    assert _state(rt) is SessionState.RUNNING  # the reply ended the waiting
    _screen(rt, rec, DIALOG)  # OpenCode's TUI has not redrawn yet: the answered dialog is still drawn
    assert _state(rt) is SessionState.RUNNING, "the answered dialog was raised again"
    _screen(rt, rec, GONE)
    _append_until(ingest, rt, events, rest, "session.idle")
    assert _state(rt) is SessionState.IDLE
    raised = [d for d in rec.kinds("trigger") if d["kind"] == "approval_waiting"]
    cleared = [d for d in rec.kinds("trigger_cleared") if d["kind"] == "approval_waiting"]
    assert len(raised) == 1 and len(cleared) == 1, rec.events
    assert raised[0]["evidence"]["prompt"] == "bash: echo hi > made.txt"


def test_a_new_dialog_after_the_answered_one_is_gone_is_raised(tmp_path: Path) -> None:
    """Only the answered dialog is ignored: once a look showed it gone, a dialog on the screen is raised."""
    rt, ingest, rec, events = _setup(tmp_path)
    rest = (FIX / "events-approved.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    rest = _append_until(ingest, rt, events, rest, "permission.asked")
    _screen(rt, rec, DIALOG)
    _append_until(ingest, rt, events, rest, "permission.replied")
    _screen(rt, rec, GONE)
    _screen(rt, rec, DIALOG)
    assert _state(rt) is SessionState.WAITING
    assert len([d for d in rec.kinds("trigger") if d["kind"] == "approval_waiting"]) == 2, rec.events


def test_another_dialog_drawn_before_a_look_showed_the_answered_one_gone_is_raised(tmp_path: Path) -> None:
    """The answered dialog is recognised by its text: a different dialog on the next look (a screen-only one —
    Codex's edit approvals have no structured signal) is raised, not taken for the answered one."""
    rt, ingest, rec, events = _setup(tmp_path)
    rest = (FIX / "events-approved.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    rest = _append_until(ingest, rt, events, rest, "permission.asked")
    _screen(rt, rec, DIALOG)
    _append_until(ingest, rt, events, rest, "permission.replied")
    assert _state(rt) is SessionState.RUNNING
    other = [ln.replace("echo hi > made.txt", "rm -rf build") for ln in DIALOG]
    _screen(rt, rec, other)  # no look in between showed the answered one gone
    assert _state(rt) is SessionState.WAITING, "a new dialog was taken for the answered one"
    raised = [d for d in rec.kinds("trigger") if d["kind"] == "approval_waiting"]
    assert len(raised) == 2 and "rm -rf build" in raised[1]["evidence"]["prompt"], rec.events
