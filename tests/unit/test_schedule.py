"""schedule.plan / restart_delay / timed_out: dependencies, max_parallel, backoff, run budget (fake clock)."""

from __future__ import annotations

from unit_helpers import runtimes, set_state

from cortex_tui.budgets import BudgetTracker
from cortex_tui.engine.clock import FakeClock
from cortex_tui.engine.schedule import plan, restart_delay, timed_out
from cortex_tui.engine.usage import budget_spent
from cortex_tui.model.layout import RestartPolicy
from cortex_tui.model.state import SessionState

CHAIN = """
[[session]]
name = "a"
script = ["say a"]
[[session]]
name = "b"
depends_on = ["a"]
script = ["say b"]
[[session]]
name = "c"
depends_on = ["b"]
script = ["say c"]
"""


def test_restart_backoff_is_5_30_120_then_no_more() -> None:
    policy = RestartPolicy()  # the default policy
    assert [restart_delay(policy, n) for n in range(4)] == [5.0, 30.0, 120.0, None]
    assert restart_delay(RestartPolicy(max=5, backoff_s=[1.0, 2.0]), 4) == 2.0  # the last delay repeats
    assert restart_delay(None, 0) is None


def test_a_restart_starts_only_when_its_backoff_passed() -> None:
    clock = FakeClock()
    rts = runtimes(CHAIN, clock)
    a = rts["a"]
    set_state(a, SessionState.FAILED, 1)
    a.rec.attempt = 1
    a.restart_at = clock.time() + 5.0
    clock.advance(4.9)
    p = plan(rts.values(), now=clock.time())
    assert "a" not in p.spawn and p.stop == []  # b waits: its dependency will be restarted
    clock.advance(0.1)
    assert plan(rts.values(), now=clock.time()).spawn == ["a"]
    # one being spawned already is never planned twice
    assert plan(rts.values(), now=clock.time(), spawning={"a"}).spawn == []


def test_dependencies_order_and_block_in_one_pass() -> None:
    clock = FakeClock()
    rts = runtimes(CHAIN, clock)
    assert plan(rts.values(), now=clock.time()).spawn == ["a"]  # b and c wait on their dependencies
    set_state(rts["a"], SessionState.RUNNING)
    assert plan(rts.values(), now=clock.time()).spawn == []
    set_state(rts["a"], SessionState.FINISHED, 0)
    assert plan(rts.values(), now=clock.time()).spawn == ["b"]
    # a dependency that finished with a non-zero code does not start its dependents (nor stop them)
    set_state(rts["a"], SessionState.FINISHED, 2)
    assert plan(rts.values(), now=clock.time()).spawn == []
    # a failed dependency stops the whole chain at once
    set_state(rts["a"], SessionState.FAILED, 2)
    p = plan(rts.values(), now=clock.time())
    assert p.spawn == []
    assert p.stop == [("b", "dependency 'a' failed"), ("c", "dependency 'b' stopped")]


def test_max_parallel_counts_the_live_ones() -> None:
    clock = FakeClock()
    rts = runtimes("".join(f'[[session]]\nname = "s{i}"\nscript = ["say {i}"]\n' for i in range(5)), clock)
    set_state(rts["s0"], SessionState.RUNNING)
    set_state(rts["s1"], SessionState.WAITING)
    assert plan(rts.values(), now=clock.time(), limit=3).spawn == ["s2"]
    assert plan(rts.values(), now=clock.time(), limit=2).spawn == []
    assert plan(rts.values(), now=clock.time(), limit=None).spawn == ["s2", "s3", "s4"]
    assert plan(rts.values(), now=clock.time(), limit=0).spawn == ["s2", "s3", "s4"]  # 0 = no limit


def test_a_spent_run_budget_starts_nothing_new() -> None:
    clock = FakeClock()
    tracker = BudgetTracker(budget_usd=1.0)
    assert budget_spent(tracker) is None
    tracker.set_totals(10, 1.25, clock.time())
    why = budget_spent(tracker)
    assert why == "run budget spent ($1.25 of $1.00)"
    rts = runtimes(CHAIN, clock)
    p = plan(rts.values(), now=clock.time(), budget_spent=why)
    assert p.spawn == []
    assert p.stop == [("a", f"not started: {why}"), ("b", "dependency 'a' stopped"), ("c", "dependency 'b' stopped")]
    tokens = BudgetTracker(budget_tokens=1000)
    tokens.set_totals(1000, None, clock.time(), cost_known=False)
    assert budget_spent(tokens) == "run budget spent (1,000 of 1,000 tokens)"


def test_timeout_is_measured_from_the_attempt_start() -> None:
    clock = FakeClock()
    rts = runtimes('[[session]]\nname = "slow"\ntimeout = "2s"\nscript = ["sleep 9"]\n', clock)
    rt = rts["slow"]
    rt.reset_for_attempt(clock.time())
    clock.advance(2.0)
    assert timed_out(rt, clock.time()) is None  # not *past* 2 s yet
    clock.advance(0.01)
    assert timed_out(rt, clock.time()) == "timed out after 2s"
    rt.reset_for_attempt(clock.time())  # a new attempt starts its own clock
    assert timed_out(rt, clock.time()) is None
