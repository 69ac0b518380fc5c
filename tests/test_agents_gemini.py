"""gemini adapter: command lines, boxed approval dialogs, headless result usage."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from claude_harness import make_ctx, make_session

from cortex_tui.agents import get_adapter
from cortex_tui.agents.gemini import GeminiAdapter
from cortex_tui.model.state import TokenUsage

SHELL_DIALOG = """
╭──────────────────────────────────────────────────────────────────╮
│ ?  Shell ls -la (list files)                                     │
│                                                                  │
│ ls -la                                                           │
│                                                                  │
│ Allow execution of: 'ls'?                                        │
│                                                                  │
│ ● 1. Yes, allow once                                             │
│   2. Yes, allow always ...                                       │
│   3. No, suggest changes (esc)                                   │
│                                                                  │
╰──────────────────────────────────────────────────────────────────╯
""".splitlines()

EDIT_DIALOG = """
│ Apply this change?                                               │
│                                                                  │
│ ● 1. Yes, allow once                                             │
│   2. Yes, allow always                                           │
│   3. Modify with external editor                                 │
│   4. No, suggest changes (esc)                                   │
""".splitlines()


def test_command_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORTEX_GEMINI_BIN", raising=False)
    a = get_adapter("gemini")
    s = make_session(agent="gemini", prompt="explain", model="gemini-2.5-pro", permission_mode="auto_edit")
    assert a.command(s, make_ctx(tmp_path, tmp_path)) == [
        "gemini", "--approval-mode", "auto_edit", "--model=gemini-2.5-pro", "--prompt-interactive", "explain"]
    assert a.command(s, make_ctx(tmp_path, tmp_path, headless=True))[-4:] == [
        "--output-format", "stream-json", "--prompt", "explain"]


@pytest.mark.parametrize("lines,no", [(SHELL_DIALOG, "3"), (EDIT_DIALOG, "4")])
def test_boxed_dialogs(lines: list[str], no: str) -> None:
    a = get_adapter("gemini")
    p = a.find_approval(lines)
    assert p is not None and "1. Yes, allow once" in p.text
    assert a.approve_keys(p) == [("literal", "1")]
    assert a.deny_keys(p) == [("literal", no)]


def test_idle_screen_is_not_a_dialog() -> None:
    a = get_adapter("gemini")
    assert a.find_approval(["│ > Type your message or @path/to/file │", "~/repo  no sandbox  gemini-2.5-pro"]) is None


def test_headless_result_usage() -> None:
    a = get_adapter("gemini")
    per_model = {"type": "result", "status": "success", "stats": {"models": {"gemini-2.5-pro": {
        "tokens": {"prompt": 24939, "candidates": 20, "total": 25113, "cached": 21263, "thoughts": 154}}}}}
    sig = a.interpret_event(per_model)
    assert [s.kind for s in sig] == ["usage", "finished"]
    assert sig[0].model == "gemini-2.5-pro" and sig[0].total
    assert sig[0].usage == TokenUsage(input=3676, cache_read=21263, output=174)
    flat = a.interpret_event({"type": "result", "stats": {"input_tokens": 100, "output_tokens": 7}})
    assert flat[0].usage == TokenUsage(input=100, output=7) and flat[0].model is None
    assert a.exposes_usage is True  # interactive: from its chat file (test_chat_file_* below)


FIX = Path(__file__).parent / "fixtures" / "agents" / "gemini" / "0.61.0"


def _screen(name: str) -> list[str]:
    return (FIX / f"screen-{name}.txt").read_text(encoding="utf-8").splitlines()


def _chat_home(tmp_path: Path, wt: Path) -> Path:
    """A HOME whose ~/.gemini/tmp/<slug> belongs to ``wt``, with the recorded chat file in it."""
    proj = tmp_path / "home" / ".gemini" / "tmp" / "agent"
    (proj / "chats").mkdir(parents=True)
    (proj / ".project_root").write_text(str(wt))
    shutil.copy(FIX / "chat-approved.jsonl", proj / "chats" / "session-2026-12-01T23-46-57b1e9a4.jsonl")
    return tmp_path / "home"


def _prepared(tmp_path: Path) -> tuple[GeminiAdapter, Path]:
    wt = tmp_path / "wt"
    wt.mkdir()
    home = _chat_home(tmp_path, wt)
    a = get_adapter("gemini")
    assert isinstance(a, GeminiAdapter)
    a.prepare(make_session(agent="gemini", env={"HOME": str(home)}), make_ctx(tmp_path, wt))
    return a, home


def test_recorded_dialog_names_the_command() -> None:
    a = get_adapter("gemini")
    p = a.find_approval(_screen("dialog"))
    assert p is not None and "echo hi > made.txt" in p.text and "Allow execution of [Shell]?" in p.text
    assert a.approve_keys(p) == [("literal", "1")] and a.deny_keys(p) == [("literal", "3")]
    assert a.find_approval(_screen("idle")) is None and a.find_approval(_screen("busy")) is None


def test_chat_file_usage_and_busy(tmp_path: Path) -> None:
    """Usage totals from the chat file: a rewritten message (same id) counts once; input includes cached."""
    a, _ = _prepared(tmp_path)
    sigs = a.poll_usage()
    assert sigs[0].kind == "busy"
    usage = [s for s in sigs if s.kind == "usage"]
    assert usage[-1].total and usage[-1].model == "gemini-2.5-pro"
    # recorded: 100 in / 20 out (the tool call, written twice), then 1234 in (200 cached) / 56 out
    assert usage[-1].usage == TokenUsage(input=100 + 1034, cache_read=200, output=20 + 56)
    assert a.poll_usage() == []  # nothing new


def test_idle_needs_the_chat_turn_end_and_the_screen(tmp_path: Path) -> None:
    """The input box alone is not idle (it shows before the first prompt is taken): the chat must have
    recorded the model's answer too; a spinner or a dialog is never idle."""
    a = get_adapter("gemini")
    assert isinstance(a, GeminiAdapter)
    assert a.screen_idle(_screen("idle")) is False  # no chat file read yet
    b, _ = _prepared(tmp_path)
    b.poll_usage()
    assert b.screen_idle(_screen("busy")) is False
    assert b.screen_idle(_screen("dialog")) is False
    assert b.screen_idle(_screen("idle")) is True
    # the idle signal also comes from the chat poll when the screen was seen idle after the answer
    chat = next((tmp_path / "home" / ".gemini" / "tmp" / "agent" / "chats").iterdir())
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 60))
    with chat.open("a") as fh:
        fh.write(json.dumps({"id": "u2", "timestamp": now, "type": "user", "content": [{"text": "again"}]}) + "\n")
    assert [s.kind for s in b.poll_usage()] == ["busy"]
    assert b.screen_idle(_screen("idle")) is False  # the new prompt is not answered yet
    with chat.open("a") as fh:
        fh.write(json.dumps({"id": "g2", "timestamp": now, "type": "gemini", "content": "ok",
                             "tokens": {"input": 10, "output": 1}, "model": "gemini-2.5-pro"}) + "\n")
    assert "idle" not in [s.kind for s in b.poll_usage()]  # answered in the future: the screen seen is older


def test_cancelled_turn_is_idle(tmp_path: Path) -> None:
    """After a denied approval Gemini records nothing; ``Request cancelled.`` under the prompt is idle."""
    a = get_adapter("gemini")
    assert a.screen_idle(_screen("cancelled")) is True
    assert a.screen_idle(_screen("idle")) is False


def test_chat_file_failed_tool_and_outside_write(tmp_path: Path) -> None:
    a, home = _prepared(tmp_path)
    a.poll_usage()
    chat = next((home / ".gemini" / "tmp" / "agent" / "chats").iterdir())
    fail = {"id": "g9", "timestamp": "2026-12-01T23:50:00.000Z", "type": "gemini", "content": "",
            "tokens": {"input": 5, "output": 1}, "model": "gemini-2.5-pro", "toolCalls": [
                {"id": "c1", "name": "run_shell_command", "args": {"command": "false"}, "status": "error",
                 "result": [{"functionResponse": {"response": {"output": "ValueError: boom\nExit Code: 1"}}}]},
                {"id": "c2", "name": "write_file", "args": {"file_path": "../../etc/x", "content": "x"},
                 "status": "success"}]}
    with chat.open("a") as fh:
        fh.write(json.dumps(fail) + "\n" + json.dumps(fail) + "\n")  # rewritten: reported once
    sigs = a.poll_usage()
    assert [s.text for s in sigs if s.kind == "error"] == ["ValueError: boom"]
    assert [s.text for s in sigs if s.kind == "outside"] == [str((tmp_path / "wt" / "../../etc/x").resolve())]


def test_trusts_only_its_own_worktree_unless_told(tmp_path: Path) -> None:
    a = get_adapter("gemini")
    ctx = make_ctx(tmp_path, tmp_path)
    assert a.env(make_session(agent="gemini"), ctx) == {"GEMINI_CLI_TRUST_WORKSPACE": "true"}
    assert a.env(make_session(agent="gemini", env={"GEMINI_CLI_TRUST_WORKSPACE": "false"}), ctx) == {}


def test_headless_result_061_shape() -> None:
    """0.61's result: per-model flat counts (input_tokens includes cached); the router's all-zero entry is skipped."""
    a = get_adapter("gemini")
    ev = {"type": "result", "status": "success", "stats": {"models": {
        "gemini-3.5-flash-lite": {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0, "cached": 0, "input": 0},
        "gemini-2.5-pro": {"total_tokens": 1410, "input_tokens": 1334, "output_tokens": 76, "cached": 200,
                           "input": 1134}}}}
    sig = a.interpret_event(ev)
    assert [(s.kind, s.model) for s in sig] == [("usage", "gemini-2.5-pro"), ("finished", None)]
    assert sig[0].usage == TokenUsage(input=1134, cache_read=200, output=76)


def _user_home(tmp_path: Path) -> Path:
    home = tmp_path / "user"
    gem = home / ".gemini"
    (gem / "tmp").mkdir(parents=True)
    (gem / "settings.json").write_text('{\n  // the user\'s own comment\n  "security": {"auth": {"selectedType": '
                                       '"gemini-api-key"}},\n  "hooks": {"AfterAgent": [{"matcher": "*", "hooks": '
                                       '[{"type": "command", "command": "notify-me"}]}]}\n}\n')
    (gem / "oauth_creds.json").write_text("{}")
    return home


def test_hooks_come_from_a_home_of_its_own_mirroring_the_users(tmp_path: Path) -> None:
    """GEMINI_CLI_HOME = the session's own home: the user's settings with our hooks added to theirs, every
    other entry of their ~/.gemini linked; the user's files untouched; opt-out and ssh nodes keep theirs."""
    home = _user_home(tmp_path)
    before = (home / ".gemini" / "settings.json").read_bytes()
    a = get_adapter("gemini")
    s = make_session(agent="gemini", prompt="go", env={"HOME": str(home)})
    ctx = make_ctx(tmp_path, tmp_path / "wt")
    a.prepare(s, ctx)
    own = ctx.session_dir / "gemini-home"
    assert a.env(s, ctx)["GEMINI_CLI_HOME"] == str(own)
    mine = own / ".gemini"
    assert (mine / "oauth_creds.json").resolve() == (home / ".gemini" / "oauth_creds.json").resolve()
    assert (mine / "tmp").is_symlink() and (mine / "tmp").resolve() == (home / ".gemini" / "tmp").resolve()
    cfg = json.loads((mine / "settings.json").read_text())
    assert cfg["security"]["auth"]["selectedType"] == "gemini-api-key"
    after = [h["command"] for d in cfg["hooks"]["AfterAgent"] for h in d["hooks"]]
    assert after[0] == "notify-me" and str(ctx.events_file) in after[1]  # theirs first, then ours
    assert set(cfg["hooks"]) >= {"BeforeAgent", "AfterAgent", "Notification", "AfterTool"}
    assert (home / ".gemini" / "settings.json").read_bytes() == before
    remote = make_ctx(tmp_path / "node", tmp_path / "wt")  # prepared here, run on a node: its links are not there
    assert "GEMINI_CLI_HOME" not in a.env(s, remote)
    b = get_adapter("gemini")
    off = make_session(agent="gemini", prompt="go", env={"HOME": str(home), "CORTEX_GEMINI_HOOKS": "0"})
    b.prepare(off, make_ctx(tmp_path / "off", tmp_path / "wt"))
    assert "GEMINI_CLI_HOME" not in b.env(off, make_ctx(tmp_path / "off", tmp_path / "wt"))


def test_hook_commands_write_what_the_adapter_reads(tmp_path: Path) -> None:
    """Each hook's shell command, fed what Gemini CLI 0.61.0 sent it (events-hooks.jsonl, recorded from a turn
    with an approved shell command), appends a line the adapter reads: busy, waiting (the command), busy, idle."""
    from cortex_tui.agents.gemini_hooks import hook_command

    events = tmp_path / "events.jsonl"
    recorded = [json.loads(ln) for ln in (FIX / "events-hooks.jsonl").read_text().splitlines()]
    tricky = {"hook_event_name": "AfterTool", "tool_name": "run_shell_command", "out": "it's 100% done\n\"ok\" \\ $HOME"}
    for ev, payload in [*((r["event"], r["payload"]) for r in recorded), ("AfterTool", tricky)]:
        subprocess.run(["/bin/sh", "-c", hook_command(ev, events)], input=json.dumps(payload).encode(), check=True)
    got = [json.loads(ln) for ln in events.read_text().splitlines()]
    assert [g["payload"] for g in got] == [r["payload"] for r in recorded] + [tricky]
    a = get_adapter("gemini")
    sigs = [s for g in got[:4] for s in a.interpret_event(g)]
    assert [s.kind for s in sigs] == ["busy", "waiting", "busy", "idle"]
    assert "echo hi > made.txt" in (sigs[1].text or "")


def test_with_hooks_the_chat_file_never_moves_the_state(tmp_path: Path) -> None:
    """Hook lines and chat records arrive in separate watcher batches, in either order: once its hooks are heard
    from, a chat record read after AfterAgent (the tool result, the prompt) is progress, not busy — no
    idle → running → idle flap, no waiting ended by a record older than the dialog."""
    home = _user_home(tmp_path)
    wt = tmp_path / "wt"
    wt.mkdir()
    a = get_adapter("gemini")
    assert isinstance(a, GeminiAdapter)
    s = make_session(agent="gemini", prompt="go", env={"HOME": str(home)})
    a.prepare(s, make_ctx(tmp_path, wt))
    proj = home / ".gemini" / "tmp" / "wt"
    (proj / "chats").mkdir(parents=True)
    (proj / ".project_root").write_text(str(wt))
    chat = proj / "chats" / "session-1.jsonl"
    chat.write_text((FIX / "chat-approved.jsonl").read_text())
    hooks = [json.loads(ln) for ln in (FIX / "events-hooks.jsonl").read_text().splitlines()]
    for h in hooks:  # every hook names the chat file: point it at this one (through the session's own home)
        h["payload"]["transcript_path"] = str(tmp_path / "session" / "gemini-home" / ".gemini" / "tmp" / "wt" /
                                              "chats" / "session-1.jsonl")
    kinds = [x.kind for h in hooks for x in a.interpret_event(h)]
    assert kinds == ["busy", "waiting", "busy", "idle"]
    late = a.poll_usage()  # the whole turn's chat records, read after the AfterAgent line
    assert late and "busy" not in [x.kind for x in late] and "idle" not in [x.kind for x in late]
    assert [x for x in late if x.kind == "usage"]  # usage still comes from the chat file
    assert not a.look_at_screen()
