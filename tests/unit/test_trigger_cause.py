"""Each trigger records when its cause happened (``cause_at``; ``at - cause_at`` is the latency the
metrics show): a fake clock, no tmux."""

from __future__ import annotations

from unit_helpers import Recorder, runtimes

from cortex_tui.engine.clock import FakeClock
from cortex_tui.metrics import trigger_latencies
from cortex_tui.model.state import RunState, SessionState

ONE = '[[session]]\nname = "s"\nsilence_after = "2s"\nscript = ["say hi"]\n'


def test_silence_is_caused_when_the_quiet_period_reached_its_threshold() -> None:
    clock = FakeClock()
    r = Recorder(clock)
    rt = runtimes(ONE, clock)["s"]
    rt.reset_for_attempt(clock.time())
    r.book.set_state(rt, SessionState.RUNNING, None)
    r.book.apply(rt, rt.silence.cpu(clock.time(), 0.0))
    quiet_since = clock.time()
    clock.advance(2.75)  # the tick that notices comes 0.75 s after the threshold
    r.book.apply(rt, rt.silence.check(clock.time()))
    t = next(t for t in rt.rec.triggers if t.kind == "silence")
    assert t.cause_at == quiet_since + 2.0 and t.at == quiet_since + 2.75
    assert r.kinds("trigger")[0]["cause_at"] == t.cause_at  # the event carries it too


def test_a_batch_context_and_an_explicit_cause() -> None:
    clock = FakeClock()
    r = Recorder(clock)
    rt = runtimes(ONE, clock)["s"]
    rt.reset_for_attempt(clock.time())
    written = clock.time() - 0.5
    with r.book.caused_at(written):
        r.book.apply(rt, rt.approval.structured("Bash: rm"))
    r.book.apply(rt, rt.approval.structured_end())
    r.book.apply(rt, rt.approval.screen(None))  # a look shows the answered dialog gone: a new one is raised
    r.book.apply(rt, rt.approval.screen("? ok? [y/n]"), cause_at=clock.time() + 9)  # a clock skew: clamped
    clock.advance(1)
    r.book.apply(rt, rt.errors.error(clock.time(), "Error: x"))  # outside any batch: not known
    waits = [t for t in rt.rec.triggers if t.kind == "approval_waiting"]
    assert [t.cause_at for t in waits] == [written, waits[1].at]
    st = RunState(run="u", layout_path="x", layout_text="", repo="/r", base="main", base_commit="0" * 40,
                  socket="s", created_at=0.0, sessions={"s": rt.rec})
    assert trigger_latencies(st) == {"approval_waiting": [0.5, 0.0]}
