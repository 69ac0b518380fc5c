"""Trigger rules as pure functions over observations, driven by a fake clock."""

from __future__ import annotations

import pytest

from cortex_tui.watch.rules import (
    ApprovalRule,
    OverlapTracker,
    RepeatedErrorRule,
    ScopeRule,
    SilenceRule,
    ThresholdRule,
    exited_change,
)
from cortex_tui.watch.text import clean_line, normalize_error


def test_silence_fires_after_quiet_and_idle_then_clears_on_progress() -> None:
    r = SilenceRule(after=600, cpu_threshold=5, last_progress=0)
    assert r.check(700) is None  # no CPU sample yet: idleness unknown
    assert r.cpu(1, 0.0) is None
    assert r.check(599) is None
    ch = r.check(600)
    assert ch is not None and ch.active and ch.kind == "silence" and ch.evidence["silent_for_s"] == 600
    assert r.check(700) is None  # fires once
    cleared = r.progress(701, "back")
    assert cleared is not None and not cleared.active
    assert r.check(1000) is None and r.check(1301) is not None


def test_silence_does_not_fire_while_cpu_is_busy() -> None:
    r = SilenceRule(after=60, cpu_threshold=5, last_progress=0)
    for t in range(0, 300, 2):  # a long quiet build: no output, CPU busy
        assert r.cpu(t, 95.0) is None
    assert r.check(300) is None
    # the build ends; CPU idle for the full window → silence
    for t in range(300, 357, 2):  # last busy sample at t=298
        assert r.cpu(t, 0.5) is None
    fired = r.cpu(358, 0.1)
    assert fired is not None and fired.evidence["cpu_percent"] == 0.1


def test_silence_never_fires_while_latest_sample_is_busy() -> None:
    r = SilenceRule(after=10, cpu_threshold=5, last_progress=0)
    assert r.cpu(1, 80.0) is None
    assert r.check(100) is None  # sampling lagged, but the last look said busy
    unobservable = SilenceRule(after=10, cpu_threshold=5, last_progress=0, cpu_required=False)
    assert unobservable.check(10) is not None


@pytest.mark.parametrize(("a", "b", "same"), [
    ("ValueError: bad at 0x7ffe12 line 3", "ValueError: bad at 0x1234 line 99", True),
    ("2024-05-01T10:00:00Z error: timeout in /tmp/x1/a.py:12:4", "2025-01-01 11:12:13 error: timeout in /tmp/zz/b.py:7:1", True),
    ("\x1b[31mKeyError: 'a'\x1b[0m", "KeyError: 'a'", True),
    ("KeyError: 'a'", "KeyError: 'b'", False),
    ("pid 4242 crashed", "pid 7 crashed", True),
])
def test_normalize_error(a: str, b: str, same: bool) -> None:
    assert (normalize_error(a) == normalize_error(b)) is same


def test_repeated_error_counts_within_window_once() -> None:
    r = RepeatedErrorRule(repeats=3, window=60)
    assert r.error(0, "E: boom at 0x1") is None
    assert r.error(10, "E: boom at 0x2") is None
    ch = r.error(20, "E: boom at 0x3")
    assert ch is not None and ch.evidence["count"] == 3
    assert ch.evidence["first"] == "E: boom at 0x1" and ch.evidence["last"] == "E: boom at 0x3"
    assert r.error(21, "E: boom at 0x4") is None  # already active
    assert [c.active for c in r.check(200)] == [False]


def test_repeated_error_outside_window_does_not_fire() -> None:
    r = RepeatedErrorRule(repeats=3, window=10)
    assert r.error(0, "E: x") is None
    assert r.error(11, "E: x") is None
    assert r.error(22, "E: x") is None


def test_approval_fires_and_clears() -> None:
    r = ApprovalRule()
    ch = r.screen("Do you want to proceed?")
    assert ch is not None and ch.active and ch.evidence["prompt"] == "Do you want to proceed?"
    assert r.screen("Do you want to proceed?") is None
    c2 = r.screen(None)
    assert c2 is not None and not c2.active


def test_scope_rule_once_per_path_and_in_scope_ignored() -> None:
    r = ScopeRule(["src/**", "README.md"])
    assert r.change("src/a/b.py", "modified") is None
    assert r.change("README.md", "modified") is None
    ch = r.change("docs/x.md", "added")
    assert ch is not None and ch.evidence == {"path": "docs/x.md", "change": "added", "scope": ["src/**", "README.md"]}
    assert r.change("docs/x.md", "modified") is None
    assert ScopeRule([]).change("anything", "added") is None  # no scope declared = everything allowed


def test_overlap_between_two_sessions_only() -> None:
    o = OverlapTracker()
    assert o.change("a", "x.py") == []
    out = o.change("b", "x.py")
    assert sorted(s for s, _ in out) == ["a", "b"]
    assert out[0][1].evidence == {"path": "x.py", "sessions": ["a", "b"]}
    assert o.change("b", "x.py") == []
    o.forget("a")
    assert o.change("c", "y.py") == []


def test_threshold_and_exit() -> None:
    m = ThresholdRule("memory", 500)
    assert m.value(400) is None
    ch = m.value(501)
    assert ch is not None and ch.active
    assert m.value(600) is None
    cl = m.value(100)
    assert cl is not None and not cl.active
    assert exited_change(0, []) is None
    e = exited_change(2, ["a", "b"])
    assert e is not None and e.evidence["exit_code"] == 2 and e.evidence["last_lines"] == ["a", "b"]


def test_clean_line_handles_carriage_returns_and_escapes() -> None:
    assert clean_line("progress 10%\rprogress 100%\x1b[K") == "progress 100%"
    assert clean_line("\x1b]0;title\x07hello \x1b[1mworld\x1b[0m") == "hello world"


def test_silence_never_fires_while_waiting_on_a_human() -> None:
    r = SilenceRule(after=10, cpu_threshold=5, last_progress=0)
    r.cpu(1, 0.0)
    r.waiting_on_human = True
    assert r.check(100) is None
    assert r.cpu(101, 0.0) is None
    r.waiting_on_human = False
    assert r.progress(102) is None  # answered: the clock restarts
    assert r.check(111) is None and r.check(112) is not None
