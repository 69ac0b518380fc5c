"""opencode adapter: command lines, its plugin's events (recorded from 1.18.33), the permission dialog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claude_harness import make_ctx, make_session

from cortex_tui.agents import get_adapter
from cortex_tui.agents.opencode import OpenCodeAdapter
from cortex_tui.errors import CortexError
from cortex_tui.model.state import TokenUsage

FIX = Path(__file__).parent / "fixtures" / "agents" / "opencode" / "1.18.33"


def _adapter(tmp_path: Path, **kw: object) -> tuple[OpenCodeAdapter, dict[str, str]]:
    a = get_adapter("opencode")
    assert isinstance(a, OpenCodeAdapter)
    s = make_session(agent="opencode", prompt="fix it", model="fake/fake-coder", **kw)
    ctx = make_ctx(tmp_path, tmp_path / "wt")
    a.prepare(s, ctx)
    return a, a.env(s, ctx)


def test_command_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORTEX_OPENCODE_BIN", raising=False)
    a = get_adapter("opencode")
    s = make_session(agent="opencode", prompt="-rf fix", model="fake/fake-coder")
    assert a.command(s, make_ctx(tmp_path, tmp_path)) == ["opencode", "--model=fake/fake-coder", "--prompt=-rf fix"]
    assert a.command(s, make_ctx(tmp_path, tmp_path, headless=True)) == [
        "opencode", "run", "--format", "json", "--model=fake/fake-coder", "--", "-rf fix"]


def test_env_loads_the_plugin_and_keeps_the_users_config_content(tmp_path: Path) -> None:
    user = json.dumps({"plugin": ["file:///mine.js"], "share": "disabled"})
    _, env = _adapter(tmp_path, permission_mode="ask", env={"OPENCODE_CONFIG_CONTENT": user})
    cfg = json.loads(env["OPENCODE_CONFIG_CONTENT"])
    plugin = tmp_path / "session" / "cortex-opencode-plugin.js"
    assert cfg == {"snapshot": False, "plugin": ["file:///mine.js", plugin.as_uri()], "share": "disabled"}
    assert "CortexEvents" in plugin.read_text() and env["CORTEX_OPENCODE_EVENTS"].endswith("events.jsonl")
    assert json.loads(env["OPENCODE_PERMISSION"])["bash"] == "ask"
    with pytest.raises(ValueError, match="permission_mode 'yolo' for opencode must be one of ask, allow"):
        _adapter(tmp_path / "x", permission_mode="yolo")


def test_env_turns_opencodes_snapshots_off_unless_the_session_keeps_them(tmp_path: Path) -> None:
    """OpenCode snapshots the worktree (git) before it records a step's end: off by default, so the turn's
    end is recorded as soon as the model's answer is complete; a session's own ``snapshot`` key, or
    ``CORTEX_OPENCODE_SNAPSHOT=1``, keeps OpenCode's choice."""
    def cfg(env: dict[str, str], sub: str) -> dict[str, object]:
        _, out = _adapter(tmp_path / sub, env=env)
        got = json.loads(out["OPENCODE_CONFIG_CONTENT"])
        assert isinstance(got, dict)
        return got

    assert cfg({}, "a")["snapshot"] is False
    assert cfg({"OPENCODE_CONFIG_CONTENT": json.dumps({"snapshot": True})}, "b")["snapshot"] is True
    assert "snapshot" not in cfg({"CORTEX_OPENCODE_SNAPSHOT": "1"}, "c")


def test_recorded_denied_turn(tmp_path: Path) -> None:
    """busy → waiting (the command as evidence) → the rejection is not a failing command → idle."""
    a, _ = _adapter(tmp_path)
    sigs = [s for line in (FIX / "events-denied.jsonl").read_text().splitlines()
            for s in a.interpret_event(json.loads(line))]
    kinds = [s.kind for s in sigs]
    waiting = [s.text for s in sigs if s.kind == "waiting"]
    assert waiting == ["bash: echo hi > made.txt"]
    assert "error" not in kinds  # "The user rejected permission …" is a deny, not a repeated error
    assert kinds.index("busy") < kinds.index("waiting") < kinds.index("idle")
    assert kinds[-1] in ("idle", "usage")
    # between the ask and the reply nothing is "busy" (it would end the waiting state: two triggers, one dialog)
    asked, replied = kinds.index("waiting"), [s.text for s in sigs].index("permission reject")
    assert "busy" not in kinds[asked + 1:replied]


def test_recorded_approved_turn_is_idle_at_the_models_last_step(tmp_path: Path) -> None:
    """The turn ends at the step-finish whose reason is not tool-calls — not 1-2 s later at session.idle — and
    OpenCode's own busy after it (its diff summary) does not flip the session back to running."""
    a, _ = _adapter(tmp_path)
    seq: list[tuple[str, str | None]] = []
    for ln in (FIX / "events-approved.jsonl").read_text().splitlines():
        ev = json.loads(ln)
        seq += [(s.kind, ev.get("event")) for s in a.interpret_event(ev)
                if s.kind in ("busy", "progress", "idle", "waiting")]
    kinds = [k for k, _ in seq]
    first_idle = kinds.index("idle")
    assert seq[first_idle][1] == "message.part.updated"  # the model's last step, before session.idle
    # nor progress: the engine takes progress of an idle session as running again (idle → running → idle)
    assert "busy" not in kinds[first_idle:] and "progress" not in kinds[first_idle:], seq[first_idle:]
    assert kinds.index("waiting") < kinds.index("busy", kinds.index("waiting")) < first_idle


def test_tool_updates_while_asked_do_not_end_waiting(tmp_path: Path) -> None:
    a, _ = _adapter(tmp_path)
    a.interpret_event({"source": "opencode", "event": "permission.asked", "payload": {"id": "per_1", "permission": "bash",
                                                                                     "metadata": {"command": "ls"}}})
    running = {"source": "opencode", "event": "message.part.updated", "payload": {"part": {
        "type": "tool", "tool": "bash", "callID": "c1", "state": {"status": "running", "input": {"command": "ls"}}}}}
    status = {"source": "opencode", "event": "session.status", "payload": {"status": {"type": "busy"}}}
    assert [s.kind for s in a.interpret_event(running) + a.interpret_event(status)] == ["progress", "progress"]
    a.interpret_event({"source": "opencode", "event": "permission.replied", "payload": {"requestID": "per_1",
                                                                                       "reply": "once"}})
    assert [s.kind for s in a.interpret_event(status)] == ["busy"]


def test_usage_is_a_running_total_per_message(tmp_path: Path) -> None:
    a, _ = _adapter(tmp_path)

    def msg(mid: str, inp: int, out: int, read: int) -> dict[str, object]:
        return {"source": "opencode", "event": "message.updated", "payload": {"info": {
            "id": mid, "role": "assistant", "modelID": "fake-coder", "cost": 0,
            "tokens": {"input": inp, "output": out, "reasoning": 0, "cache": {"read": read, "write": 0}}}}}

    a.interpret_event(msg("m1", 0, 0, 0))
    a.interpret_event(msg("m1", 100, 20, 0))  # the same message, updated: replaces its figure
    last = a.interpret_event(msg("m2", 1034, 56, 200))
    assert len(last) == 1 and last[0].total and last[0].model == "fake-coder"
    assert last[0].usage == TokenUsage(input=1134, output=76, cache_read=200)
    assert last[0].cost_usd is None  # OpenCode's 0 for an unpriced custom model is no cost figure


def test_failed_command_and_outside_write(tmp_path: Path) -> None:
    a, _ = _adapter(tmp_path)

    def part(status: str, tool: str, **state: object) -> dict[str, object]:
        return {"source": "opencode", "event": "message.part.updated", "payload": {"part": {
            "type": "tool", "tool": tool, "callID": f"c-{tool}", "state": {"status": status, **state}}}}

    bash = part("completed", "bash", input={"command": "false"},
                metadata={"exit": 1, "output": "Traceback\nValueError: boom\n"})
    assert [s.text for s in a.interpret_event(bash) if s.kind == "error"] == ["ValueError: boom"]
    assert [s.kind for s in a.interpret_event(bash)] == ["busy"]  # the same update again: counted once
    ok = part("completed", "bash", input={"command": "true"}, metadata={"exit": 0, "output": ""})
    assert [s.kind for s in a.interpret_event(ok)] == ["busy"]
    out = part("completed", "write", input={"filePath": str(tmp_path / "elsewhere.txt")})
    assert [(s.kind, s.text) for s in a.interpret_event(out)][1:] == [("outside", str(tmp_path / "elsewhere.txt"))]
    inside = part("completed", "write", input={"filePath": "src/a.py"})
    assert [s.kind for s in a.interpret_event(inside)] == ["busy"]


def test_permission_dialog(tmp_path: Path) -> None:
    a = get_adapter("opencode")
    lines = (FIX / "screen-permission.txt").read_text().splitlines()
    p = a.find_approval(lines)
    assert p is not None and "echo hi > made.txt" in p.text
    assert a.approve_keys(p) == [("key", "Enter")] and a.deny_keys(p) == [("key", "Escape")]
    assert a.find_approval(lines[:10]) is None
    # choices drawn in another order: Enter would not mean "allow once" — no key is sent, the reason is said
    moved = [ln.replace("Allow once   Allow always", "Allow always   Allow once") for ln in lines]
    with pytest.raises(CortexError, match="does not start with 'Allow once'"):
        a.approve_keys(a.find_approval(moved))
