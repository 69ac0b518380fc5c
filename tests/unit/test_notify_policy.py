"""Notification policy and messages: pure, on a fake clock (no tmux, no network)."""

from __future__ import annotations

from typing import Any

import pytest

from cortex_tui.model.notify import NotifySpec
from cortex_tui.notify.deliver import Notifier
from cortex_tui.notify.message import Message, render
from cortex_tui.notify.policy import Item, NotifyPolicy

NOON = 12 * 60


def trig(kind: str, key: str = "", severity: str = "warning", **evidence: Any) -> dict[str, Any]:
    return {"kind": kind, "key": key, "severity": severity, "evidence": evidence, "active": True}


def spec(**kw: Any) -> NotifySpec:
    return NotifySpec(url="json://127.0.0.1:9/hook", **kw)


def test_a_burst_of_20_triggers_is_one_digest() -> None:
    p = NotifyPolicy([spec(on=["approval_waiting", "silence"], digest_window=0.5)])
    for i in range(20):
        p.observe("trigger", f"s{i}", trig("approval_waiting", prompt=f"edit file {i}?"), 100.0, 100.0 + i * 0.01)
    assert p.take(100.3, NOON) == []  # still inside the window
    out = p.take(100.6, NOON)
    assert len(out) == 1 and len(out[0][1]) == 20
    msg = render(out[0][1], "run1", "/repo")
    assert "20 sessions need you" in msg.title and "s0 (approval)" in msg.title and "+14 more" in msg.title
    assert msg.body.count("prompt: edit file") == 20
    assert p.take(200.0, NOON) == []  # nothing left


def test_the_same_trigger_is_not_sent_twice_until_it_clears_and_fires_again() -> None:
    p = NotifyPolicy([spec(on=["silence"], digest_window=0)])
    p.observe("trigger", "api", trig("silence", silent_for_s=600), 1.0, 1.0)
    assert len(p.take(1.0, NOON)) == 1
    p.observe("trigger", "api", trig("silence", silent_for_s=620), 2.0, 2.0)  # the same condition again
    assert p.take(2.0, NOON) == []
    p.observe("trigger_cleared", "api", {"kind": "silence", "key": ""}, 3.0, 3.0)
    p.observe("trigger", "api", trig("silence", silent_for_s=700), 4.0, 4.0)
    got = p.take(4.0, NOON)
    assert len(got) == 1 and got[0][1][0].evidence["silent_for_s"] == 700


def test_kinds_severity_rate_limit_and_quiet_hours() -> None:
    p = NotifyPolicy([spec(on=["repeated_error", "exited"], min_severity="error", digest_window=0,
                           max_per_minute=2, quiet_hours="22:00-07:00")])
    p.observe("trigger", "a", trig("silence"), 0, 0)  # not asked for
    p.observe("trigger", "a", trig("exited", severity="warning"), 0, 0)  # below min_severity
    assert p.take(0, NOON) == []
    for i, t in enumerate((10.0, 11.0, 12.0)):
        p.observe("trigger", f"s{i}", trig("repeated_error", key=f"fp{i}", severity="error"), t, t)
        if i < 2:
            assert len(p.take(t, NOON)) == 1
    assert p.take(12.0, NOON) == []  # third message in the same minute: held
    assert len(p.take(70.1, NOON)) == 1  # and sent once the minute has passed
    p.observe("trigger", "late", trig("repeated_error", key="x", severity="error"), 200, 200)
    assert p.take(200, 23 * 60) == []  # quiet hours: held
    assert len(p.take(200, 7 * 60)) == 1  # sent when they end


def test_idle_run_done_and_engine_errors_are_notifications_too() -> None:
    p = NotifyPolicy([spec(on=["idle", "run_done", "engine_error"], digest_window=0)])
    p.observe("state", "api", {"state": "idle", "prev": "running"}, 1, 1)
    p.observe("run_done", None, {"states": {"api": "finished", "web": "failed"}}, 1, 1)
    p.observe("engine_error", None, {"task": "watcher", "error": "KeyError"}, 1, 1)
    (_, items), = p.take(1, NOON)
    assert [i.kind for i in items] == ["idle", "run_done", "engine_error"]
    text = render(items, "r", "/repo")
    assert "1 failed, 1 finished" in text.body
    p.observe("state", "api", {"state": "running", "prev": "idle"}, 2, 2)  # the idle ended: news again next time
    p.observe("state", "api", {"state": "idle", "prev": "running"}, 3, 3)
    assert len(p.take(3, NOON)) == 1


def test_agent_controlled_text_never_reaches_a_sink_raw() -> None:
    item = Item("approval_waiting", "x\x1b]52;c;SGVsbG8=\x07", "attention",
                {"prompt": "ok?\n::error::pwned \x1b[2J"}, 0.0)
    msg = render([item], "run", "/r")
    assert "\x1b" not in msg.title + msg.body and "\x07" not in msg.body
    assert "\\x1b]52" in msg.title and "ok?\\n::error::pwned \\x1b[2J" in msg.body
    assert "cortex-tui approve" in msg.body  # the command that acts on it


def test_notifier_thread_delivers_reports_and_never_raises() -> None:
    sent: list[tuple[str, Message]] = []
    reports: list[tuple[str, dict[str, Any]]] = []

    def send(url: str, msg: Message, timeout: float) -> str | None:
        sent.append((url, msg))
        return "connection refused" if "bad" in url else None

    n = Notifier([NotifySpec(url="json://good/hook", on=["exited"], digest_window=0.05),
                  NotifySpec(url="json://user:secret@bad/hook", on=["exited"], digest_window=0.05)],
                 run="r", repo="/repo", report=lambda k, d: reports.append((k, d)), send=send)
    n.start()
    n.feed("trigger", "api", trig("exited", exit_code=2, last_lines=["boom"]), 0.0)
    n.close()
    assert len(sent) == 2 and "exited 2" in sent[0][1].title
    kinds = sorted(k for k, _ in reports)
    assert kinds == ["notify_error", "notify_sent"]
    err = next(d for k, d in reports if k == "notify_error")
    assert err["error"] == "connection refused" and err["sink"] == "json://…"  # the secret never shows


def test_layout_rejects_unknown_kinds_and_bad_quiet_hours() -> None:
    with pytest.raises(ValueError, match="unknown notification kind 'approval'"):
        NotifySpec(url="json://x", on=["approval"])
    with pytest.raises(ValueError, match="quiet_hours"):
        NotifySpec(url="json://x", quiet_hours="late")
