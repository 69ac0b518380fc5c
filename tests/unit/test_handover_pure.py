"""engine/handover.py pure parts and schedule.settled: preamble, merge message, a blocked run settles."""

from __future__ import annotations

from unit_helpers import runtimes, set_state

from cortex_tui.engine.clock import FakeClock
from cortex_tui.engine.handover import Dependency, Handover, merge_message, preamble
from cortex_tui.engine.schedule import plan, settled
from cortex_tui.model.state import SessionState

DIAMOND = """
[[session]]
name = "a"
script = ["say a"]
[[session]]
name = "b"
script = ["say b"]
[[session]]
name = "c"
depends_on = ["a", "b"]
script = ["say c"]
[[session]]
name = "d"
depends_on = ["c"]
script = ["say d"]
"""


def test_merge_message_names_the_dependencies_and_the_dependent() -> None:
    assert merge_message("join", ["left", "right"]) == "cortex: merge dependencies left, right into join\n"


def test_preamble_names_branches_and_subjects_bounded() -> None:
    h = Handover("f" * 40, "merge", [Dependency("a", "cortex/r/a", "1" * 40), Dependency("b", "cortex/r/b", "2" * 40)],
                 {"a": [f"a{i}" for i in range(7)], "b": []})
    text = preamble(h, limit=3)
    assert "- a (branch cortex/r/a): a0; a1; a2 (+4 more)" in text
    assert "- b (branch cortex/r/b): no commits" in text
    assert preamble(Handover("f" * 40)) == ""  # nothing merged: no preamble


def test_a_blocked_session_and_its_waiting_dependents_settle_the_run() -> None:
    clock = FakeClock()
    rts = runtimes(DIAMOND, clock)
    for n in "ab":
        set_state(rts[n], SessionState.FINISHED, 0)
    assert not settled(rts.values())  # c and d can still start
    assert plan(rts.values(), now=clock.time()).spawn == ["c"]
    set_state(rts["c"], SessionState.BLOCKED)
    assert plan(rts.values(), now=clock.time()).spawn == []  # d waits on the blocked c (it is not stopped)
    assert settled(rts.values())
    set_state(rts["c"], SessionState.PENDING)  # `continue`: it starts again
    assert not settled(rts.values())
    assert not SessionState.BLOCKED.live and not SessionState.BLOCKED.terminal


GATED = """
[[session]]
name = "a"
verify = "true"
script = ["say a"]
[[session]]
name = "b"
depends_on = ["a"]
script = ["say b"]
[[session]]
name = "c"
depends_on = ["a"]
start_after = "approved"
script = ["say c"]
"""


def test_finished_waits_for_verify_and_approved_waits_for_the_approval() -> None:
    clock = FakeClock()
    rts = runtimes(GATED, clock)
    set_state(rts["a"], SessionState.FINISHED, 0)
    now = clock.time()
    assert plan(rts.values(), now=now, verify_gate=True).spawn == []  # a's verify has not run yet
    assert plan(rts.values(), now=now, verify_gate=False).spawn == ["b"]  # no review queue: no verify gate
    rts["a"].rec.verify_exit = 0
    assert plan(rts.values(), now=now, verify_gate=True).spawn == ["b"]  # c waits for a's approval
    assert plan(rts.values(), now=now, verify_gate=True, approved={"a"}).spawn == ["b", "c"]
    rts["a"].rec.verify_exit = 1
    p = plan(rts.values(), now=now, verify_gate=True)
    assert p.spawn == [] and p.stop == [("b", "dependency 'a' failed verify (exit 1)")]
