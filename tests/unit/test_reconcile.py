"""reattach.reconcile: what a record becomes, given tmux windows and exit files (pure)."""

from __future__ import annotations

from cortex_tui.backends.tmux import WindowInfo
from cortex_tui.engine.reattach import Decision, reconcile, strays
from cortex_tui.model.state import SessionRecord, SessionState


def rec(name: str, state: SessionState) -> SessionRecord:
    return SessionRecord(name=name, slug=name, agent="sim", branch=f"b/{name}", worktree=f"/w/{name}", state=state)


def win(tag: str, *, dead: bool = False, status: int | None = None) -> WindowInfo:
    return WindowInfo(window_id=f"@{tag}", pane_id=f"%{tag}", pane_pid=100, dead=dead, dead_status=status, tag=tag,
                      name=tag)


def test_after_a_crash_between_starting_and_the_window_it_starts_again() -> None:
    assert reconcile([rec("a", SessionState.STARTING)], [], {}, initial=True) == [Decision("a", "pending")]
    assert reconcile([rec("a", SessionState.PENDING)], [], {}, initial=True) == [Decision("a", "pending")]


def test_a_window_made_just_before_a_crash_is_adopted_not_twinned() -> None:
    w = win("a")
    assert reconcile([rec("a", SessionState.STARTING)], [w], {}, initial=True) == [
        Decision("a", "adopt", window=w), Decision("a", "attach", window=w)]
    # it had already ended: adopted, then its exit is handled
    assert reconcile([rec("a", SessionState.STARTING)], [w], {"a": 0}, initial=True) == [
        Decision("a", "adopt", window=w), Decision("a", "exited", code=0)]


def test_live_windows_are_attached_only_when_re_attaching() -> None:
    w = win("a")
    assert reconcile([rec("a", SessionState.RUNNING)], [w], {"a": None}, initial=True) == [
        Decision("a", "attach", window=w)]
    assert reconcile([rec("a", SessionState.RUNNING)], [w], {"a": None}) == []


def test_exits_dead_panes_and_vanished_windows() -> None:
    recs = [rec("coded", SessionState.RUNNING), rec("dead", SessionState.WAITING), rec("deadnocode", SessionState.IDLE),
            rec("gone", SessionState.RUNNING), rec("done", SessionState.FINISHED), rec("other", SessionState.FAILED)]
    windows = [win("coded"), win("dead", dead=True, status=3), win("deadnocode", dead=True), win("x")]
    assert reconcile(recs, windows, {"coded": 0}) == [
        Decision("coded", "exited", code=0),  # the exit file wins over a live-looking window
        Decision("dead", "exited", code=3),
        Decision("deadnocode", "exited", code=-1),
        Decision("gone", "vanished"),
    ]


def test_stopped_sessions_are_only_re_attached() -> None:
    w = win("s")
    assert reconcile([rec("s", SessionState.STOPPED)], [w], {}, initial=True) == [Decision("s", "attach", window=w)]
    assert reconcile([rec("s", SessionState.STOPPED)], [], {}, initial=True) == []  # no window: nothing to say
    assert reconcile([rec("s", SessionState.STOPPED)], [w], {}) == []


def test_strays_are_live_windows_named_like_sessions() -> None:
    ws = [win("a"), win("b", dead=True), win("zzz"), win("")]
    assert strays(ws, {"a", "b", "c"}) == ["a"]


def test_windows_of_another_run_instance_are_never_matched() -> None:
    from dataclasses import replace

    from cortex_tui.engine.reattach import foreign, foreign_note

    old = replace(win("a", dead=True, status=3), instance="0ld")
    mine = replace(win("a"), window_id="@9", instance="n3w")
    # a new run (pending) finds an earlier run's dead window of the same name: it starts its own
    assert reconcile([rec("a", SessionState.PENDING)], [old], {}, initial=True, instance="n3w") == [
        Decision("a", "pending")]
    # before the run id existed, that dead window was adopted and its exit code taken as the new run's
    assert reconcile([rec("a", SessionState.PENDING)], [old], {}, initial=True)[0].action == "adopt"
    # its own window (made later on the same socket) is the one that counts, whatever the listing order
    assert reconcile([rec("a", SessionState.RUNNING)], [mine, old], {"a": None}, initial=True,
                     instance="n3w") == [Decision("a", "attach", window=mine)]
    assert foreign([old, mine, win("")], "n3w") == [old]
    note = foreign_note([old, mine], "n3w", "sock")["foreign"]
    assert "1 window of an earlier run" in note and "a (dead, exit 3, @a)" in note and "not adopted" in note
    assert foreign_note([mine], "n3w", "sock") == {}
