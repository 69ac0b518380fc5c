"""Typed events: the kinds are declared once, every kind has a payload model, and a real run's events.jsonl
reads back through the models (model/events.py)."""

from __future__ import annotations

import json
from pathlib import Path

from engine_helpers import cli

from cortex_tui.model.events import EVENT_KINDS, PAYLOADS, Event, parse_event
from cortex_tui.store.files import RunStore

LAYOUT = """
[run]
name = "schema"
[defaults]
agent = "sim"
[[session]]
name = "scoped"
scope = ["src/**"]
verify = "test -f src/ok.py"
script = ["say start", "write src/ok.py x = 1", "sleep 0.3", "write docs/outside.md nope", "sleep 0.3",
          "tokens 300 200", "commit scoped"]
[[session]]
name = "errors"
script = ["error ValueError: bad value at 0x7f01 (/tmp/a1/x.py:3)", "error ValueError: bad value at 0x7f99 (/tmp/b2/x.py:8)",
          "say between", "error ValueError: bad value at 0x1234 (/tmp/c3/x.py:42)", "exit 2"]
"""


def test_every_kind_has_one_payload_model() -> None:
    assert set(PAYLOADS) == EVENT_KINDS


def test_a_real_runs_events_read_back_through_the_models(git_repo: Path, tmp_path: Path) -> None:
    layout = tmp_path / "schema.toml"
    layout.write_text(LAYOUT)
    cli("run", str(layout), "--repo", str(git_repo), "--headless", check=False, timeout=120)
    cli("send", "errors", "hi", "--repo", str(git_repo), check=False)  # not running: refused, nothing appended
    cli("down", "--run", "schema", "--repo", str(git_repo))  # named: a run that ended is taken down anyway
    path = git_repo / "coordination/runs/schema/events.jsonl"
    lines = path.read_bytes().splitlines()
    events = [parse_event(line) for line in lines]
    bad = [line for line, ev in zip(lines, events, strict=True) if ev is None]
    assert bad == [], f"lines of events.jsonl that are not an Event: {bad[:3]}"
    typed = [ev for ev in events if ev is not None]
    for ev in typed:
        ev.payload()  # raises on a payload that does not match its kind's model
    kinds = {ev.kind for ev in typed}
    # the run went through its lifecycle, both sessions, a trigger of each, the review queue and `down`
    assert {"run_started", "spawned", "state", "trigger", "finished", "review_queued", "run_done", "down"} <= kinds
    assert not kinds & {"output", "stats"}, "ephemeral kinds are never persisted"
    store = RunStore(git_repo / "coordination", "schema")
    assert list(store.iter_events()) == typed and store.bad_event_lines == 0
    trig = {(ev.session, ev.payload().model_dump()["kind"]) for ev in typed if ev.kind == "trigger"}
    assert {("scoped", "out_of_scope"), ("errors", "repeated_error")} <= trig


def test_a_line_that_is_not_an_event_is_skipped_and_counted(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r")
    store.append_event(Event(ts=1.0, run="r", kind="action", session="a", data={"action": "send", "detail": "x"}))
    with open(store.events_path, "ab") as f:
        f.write(json.dumps({"ts": 2, "run": "r", "kind": "no_such_kind", "session": None, "data": {}}).encode() + b"\n")
        f.write(b'{"ts": "later", "run": "r", "kind": "down"}\n')
        f.write(b'{"ts": 3, "run": "r", "kind": "do')  # cut off mid-write: waits, not counted yet
    evs, offset = store.read_events()
    assert [e.kind for e in evs] == ["action"] and store.bad_event_lines == 2
    assert offset < store.events_path.stat().st_size
    assert evs[0].payload().model_dump()["action"] == "send"
