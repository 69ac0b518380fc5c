"""TriggerBook with a fake clock: waiting on a human is not silence, the answer restarts the silence clock,
and the on_trigger policy (replaces the real-time 4 s wait of the end-to-end approval test)."""

from __future__ import annotations

from unit_helpers import Recorder, runtimes

from cortex_tui.engine.clock import FakeClock
from cortex_tui.model.state import SessionState
from cortex_tui.watch.rules import TriggerChange

ASKER = '[[session]]\nname = "asker"\nsilence_after = "2s"\nscript = ["ask ok?"]\n'


def test_waiting_on_a_human_is_not_silence_and_the_answer_is_progress() -> None:
    clock = FakeClock()
    r = Recorder(clock)
    rt = runtimes(ASKER, clock)["asker"]
    rt.reset_for_attempt(clock.time())
    r.book.set_state(rt, SessionState.RUNNING, None)
    r.book.apply(rt, rt.silence.cpu(clock.time(), 0.0))  # the process tree is idle
    r.book.apply(rt, rt.approval.screen("? ok? [y/n]"))
    assert rt.rec.state is SessionState.WAITING and rt.rec.reason == "approval requested"
    clock.advance(60)  # far longer than silence_after
    r.book.apply(rt, rt.silence.check(clock.time()))
    assert [t["kind"] for t in r.kinds("trigger")] == ["approval_waiting"]
    # the answer: the prompt is gone from the screen
    r.book.apply(rt, rt.approval.screen(None))
    assert rt.rec.state.value == "running"
    assert [c["kind"] for c in r.kinds("trigger_cleared")] == ["approval_waiting"]
    clock.advance(1.9)
    r.book.apply(rt, rt.silence.check(clock.time()))
    assert not rt.silence.active  # the silence clock restarted at the answer
    clock.advance(0.2)
    r.book.apply(rt, rt.silence.check(clock.time()))
    assert [t["kind"] for t in r.kinds("trigger")] == ["approval_waiting", "silence"]


def test_a_prompt_ends_an_active_silence() -> None:
    clock = FakeClock()
    r = Recorder(clock)
    rt = runtimes(ASKER, clock)["asker"]
    rt.reset_for_attempt(clock.time())
    r.book.set_state(rt, SessionState.RUNNING, None)
    r.book.apply(rt, rt.silence.cpu(clock.time(), 0.0))
    clock.advance(3)
    r.book.apply(rt, rt.silence.check(clock.time()))
    assert rt.silence.active
    r.book.apply(rt, rt.approval.screen("? ok? [y/n]"))
    assert not rt.silence.active
    assert [c["kind"] for c in r.kinds("trigger_cleared")] == ["silence"]
    assert all(not t.active for t in rt.rec.triggers if t.kind == "silence")


def test_on_trigger_policy_acts_once_and_recycling_is_capped() -> None:
    clock = FakeClock()
    r = Recorder(clock)
    rts = runtimes('[[session]]\nname = "hog"\non_trigger = { memory = "recycle", silence = "stop" }\n'
                   'restart = { max = 1 }\nscript = ["alloc 9"]\n', clock)
    rt = rts["hog"]
    r.book.set_state(rt, SessionState.RUNNING, None)
    r.book.apply(rt, TriggerChange("memory", True, {"value": 1}))
    r.book.apply(rt, TriggerChange("silence", True, {}))
    r.book.apply(rt, TriggerChange("budget", True, {}, key="warn:usd"), act=False)
    r.book.apply(rt, TriggerChange("overlap", True, {}))  # no policy: notify only
    assert r.actions == [("hog", "recycle", "memory"), ("hog", "stop", "silence")]
    rt.rec.restarts = 1
    r.book.apply(rt, TriggerChange("memory", True, {"value": 2}, key="again"))
    assert len(r.actions) == 2
    assert r.kinds("action") == [{"action": "recycle_skipped", "detail": "1 restarts already"}]
    # a session that is not live any more is never acted on
    r.book.set_state(rt, SessionState.FAILED, "exit 1")
    r.book.apply(rt, TriggerChange("silence", True, {}, key="late"))
    assert len(r.actions) == 2


def test_a_new_attempt_clears_the_attempts_triggers_but_keeps_scope_ones() -> None:
    clock = FakeClock()
    r = Recorder(clock)
    rt = runtimes(ASKER, clock)["asker"]
    for kind in ("silence", "exited", "out_of_scope"):
        r.book.apply(rt, TriggerChange(kind, True, {}), act=False)
    clock.advance(5)
    rt.reset_for_attempt(clock.time())
    active = sorted(t.kind for t in rt.rec.triggers if t.active)
    assert active == ["out_of_scope"]
    assert all(t.cleared_at == clock.time() for t in rt.rec.triggers if not t.active)
    assert rt.rec.started_at == clock.time() and rt.rec.exit_code is None
