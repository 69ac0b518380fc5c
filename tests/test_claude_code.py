"""The claude-code adapter and its hook: unit tests on captured fixtures, integration tests on the real CLI.

Integration tests (``-m claude``) run the real ``claude`` binary offline in a private tmux server against
tests/fake_anthropic.py; they skip, naming the reason, when the CLI is not installed.
Regenerate the fixtures with ``python tests/fixtures/claude/capture.py``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from claude_harness import (
    MODEL,
    Tmux,
    claude_bin,
    claude_env,
    make_ctx,
    make_session,
    prepare_home,
    read_events,
    wait_for,
)
from fake_anthropic import FakeAnthropic, Reply

from cortex_tui.agents import get_adapter
from cortex_tui.agents.base import AgentSignal
from cortex_tui.agents.claude_code import (
    HOOK_EVENTS,
    SETTINGS_FILE,
    ClaudeCodeAdapter,
    TranscriptReader,
    transcript_path,
    usage_from_stream_result,
    usage_from_transcript,
)
from cortex_tui.budgets import UsageLedger, cost_usd
from cortex_tui.model.layout import ResolvedSession
from cortex_tui.model.state import TokenUsage

FIX = Path(__file__).parent / "fixtures" / "claude"
REPO = Path(__file__).resolve().parents[1]


def adapter() -> ClaudeCodeAdapter:
    a = get_adapter("claude-code")
    assert isinstance(a, ClaudeCodeAdapter)
    return a


def screen(name: str) -> list[str]:
    return (FIX / name).read_text(encoding="utf-8").splitlines()


# ---------------------------------------------------------------------------------------------------------
# command line and settings


def test_command_line_interactive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORTEX_CLAUDE_BIN", raising=False)
    ctx = make_ctx(tmp_path, tmp_path / "wt")
    argv = adapter().command(make_session(prompt="-fix the bug", model="claude-opus-4-6", extra_args=["--effort", "low"]), ctx)
    assert argv == ["claude", "--permission-mode", "default", "--settings", str(ctx.session_dir / SETTINGS_FILE),
                    "--model=claude-opus-4-6", "--effort", "low", "--", "-fix the bug"]


def test_command_line_headless_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORTEX_CLAUDE_BIN", "/opt/claude/bin/claude")
    ctx = make_ctx(tmp_path, tmp_path / "wt", headless=True)
    argv = adapter().command(make_session(prompt="go", permission_mode="acceptEdits"), ctx)
    assert argv[:3] == ["/opt/claude/bin/claude", "--permission-mode", "acceptEdits"]
    assert not any(a.startswith("--model") for a in argv)
    i = argv.index("-p")
    assert argv[i:i + 4] == ["-p", "--output-format", "stream-json", "--verbose"]
    assert argv[-2:] == ["--", "go"]
    # a session command replaces the agent's command line
    assert adapter().command(make_session(command="echo hi"), ctx) == ["/bin/sh", "-c", "echo hi"]


def test_settings_file_has_every_hook(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, tmp_path / "wt")
    adapter().prepare(make_session(prompt="x", scope=["src/**"], scope_mode="enforce"), ctx)
    settings = json.loads((ctx.session_dir / SETTINGS_FILE).read_text())
    assert set(settings["hooks"]) == set(HOOK_EVENTS)
    assert settings["hooks"]["PreToolUse"][0]["matcher"] == "*"
    assert "matcher" not in settings["hooks"]["Stop"][0]
    cmd = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    argv = shlex.split(cmd)
    assert argv[0] == f"PYTHONPATH={REPO}"
    assert argv[1:5] == [sys.executable, "-S", "-m", "cortex_tui.hook"]
    assert argv[argv.index("--events") + 1] == str(ctx.events_file)
    assert argv[argv.index("--root") + 1] == str(ctx.worktree)
    assert argv[-1] == "--enforce"
    assert json.loads(Path(argv[argv.index("--scope-file") + 1]).read_text()) == ["src/**"]


def test_settings_without_enforce_does_not_block(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, tmp_path / "wt")
    adapter().prepare(make_session(prompt="x", scope=["src/**"]), ctx)  # scope_mode defaults to warn
    cmd = json.loads((ctx.session_dir / SETTINGS_FILE).read_text())["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    assert "--enforce" not in cmd and "--scope-file" not in cmd


# ---------------------------------------------------------------------------------------------------------
# the hook command (run as Claude Code runs it: a subprocess with JSON on stdin)


def run_hook(payload: dict[str, object] | str, *args: str) -> subprocess.CompletedProcess[str]:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-S", "-m", "cortex_tui.hook", *args], input=data, text=True,
                          capture_output=True, env=env, timeout=30)


def write_payload(wt: Path, path: str, tool: str = "Write") -> dict[str, object]:
    key = "notebook_path" if tool == "NotebookEdit" else "file_path"
    return {"session_id": "s1", "transcript_path": "/nonexistent.jsonl", "cwd": str(wt), "hook_event_name": "PreToolUse",
            "tool_name": tool, "tool_input": {key: path, "content": "x"}, "tool_use_id": "t1"}


@pytest.fixture
def enforce_args(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    wt = tmp_path / "wt"
    (wt / "src").mkdir(parents=True)
    scope = tmp_path / "scope.json"
    scope.write_text(json.dumps(["src/**", "docs/*.md"]))
    events = tmp_path / "events.jsonl"
    return wt, events, ["--events", str(events), "--root", str(wt), "--scope-file", str(scope), "--enforce"]


@pytest.mark.parametrize("tool", ["Write", "Edit", "MultiEdit", "NotebookEdit"])
def test_hook_blocks_out_of_scope_write(enforce_args: tuple[Path, Path, list[str]], tool: str) -> None:
    wt, events, args = enforce_args
    r = run_hook(write_payload(wt, str(wt / "README.md"), tool), *args)
    assert r.returncode == 2
    assert "README.md is outside this session's scope (src/**, docs/*.md)" in r.stderr
    assert r.stdout == ""
    lines = read_events(events)
    assert [e["event"] for e in lines] == ["PreToolUse", "blocked"]
    assert lines[1]["source"] == "claude-code" and lines[1]["payload"]["tool_name"] == tool  # type: ignore[index]
    # the evidence path is the resolved path; the reason (what Claude shows the model) starts with it
    assert lines[1]["payload"]["path"] == os.path.realpath(wt / "README.md")  # type: ignore[index]
    assert r.stderr.startswith("README.md is outside this session's scope")
    sig = adapter().interpret_event(lines[1])
    assert [(s.kind, s.text) for s in sig] == [("blocked", os.path.realpath(wt / "README.md"))]


@pytest.mark.parametrize("path", ["src/app.py", "src/deep/er/x.py", "docs/guide.md"])
def test_hook_allows_in_scope_write(enforce_args: tuple[Path, Path, list[str]], path: str) -> None:
    wt, events, args = enforce_args
    r = run_hook(write_payload(wt, str(wt / path)), *args)
    assert r.returncode == 0, r.stderr
    assert [e["event"] for e in read_events(events)] == ["PreToolUse"]
    # relative paths are taken relative to the worktree
    assert run_hook(write_payload(wt, path), *args).returncode == 0


@pytest.mark.parametrize("path", ["../other/src/x.py", "/etc/passwd", "src/../../escape.py"])
def test_hook_blocks_writes_outside_the_worktree(enforce_args: tuple[Path, Path, list[str]], path: str) -> None:
    wt, _, args = enforce_args
    r = run_hook(write_payload(wt, path), *args)
    assert r.returncode == 2
    assert "outside this session's worktree" in r.stderr


def test_hook_blocks_symlink_escape(enforce_args: tuple[Path, Path, list[str]], tmp_path: Path) -> None:
    wt, _, args = enforce_args
    (tmp_path / "elsewhere").mkdir()
    (wt / "src" / "link").symlink_to(tmp_path / "elsewhere")
    assert run_hook(write_payload(wt, "src/link/x.py"), *args).returncode == 2


def test_hook_records_but_never_blocks_without_enforce(tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    wt.mkdir()
    events = tmp_path / "ev.jsonl"
    r = run_hook(write_payload(wt, "/etc/passwd"), "--events", str(events))
    assert r.returncode == 0
    # non-write tools and other events are recorded too, and never blocked
    bash = {**write_payload(wt, "x"), "tool_name": "Bash", "tool_input": {"command": "rm -rf /"}}
    assert run_hook(bash, "--events", str(events), "--root", str(wt), "--enforce").returncode == 0
    assert run_hook("not json", "--events", str(events)).returncode == 0
    got = read_events(events)
    assert [e["event"] for e in got] == ["PreToolUse", "PreToolUse", "unknown"]
    assert all(isinstance(e["ts"], float) for e in got)


def test_hook_trims_huge_payloads(tmp_path: Path) -> None:
    events = tmp_path / "ev.jsonl"
    big: dict[str, object] = {"hook_event_name": "PostToolUse", "tool_name": "Read", "tool_response": {"content": "x" * 100_000}}
    assert run_hook(big, "--events", str(events)).returncode == 0
    assert events.stat().st_size < 5_000
    assert "more chars" in read_events(events)[0]["payload"]["tool_response"]["content"]  # type: ignore[index]


def test_hook_refuses_when_scope_file_is_broken(tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    wt.mkdir()
    r = run_hook(write_payload(wt, "a.py"), "--events", str(tmp_path / "e"), "--root", str(wt),
                 "--scope-file", str(tmp_path / "missing.json"), "--enforce")
    assert r.returncode == 2 and "cannot check scope" in r.stderr


def test_hook_stays_import_light(enforce_args: tuple[Path, Path, list[str]]) -> None:
    """It runs on every tool call: stdlib + cortex_tui.scope only (≈25-35 ms on an idle 2-core VM)."""
    wt, _, args = enforce_args
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONPROFILEIMPORTTIME="1")
    r = subprocess.run([sys.executable, "-S", "-m", "cortex_tui.hook", *args], input=json.dumps(
        write_payload(wt, "src/a.py")), text=True, capture_output=True, env=env, timeout=30)
    assert r.returncode == 0
    imported = {ln.split("|")[-1].strip() for ln in r.stderr.splitlines() if ln.startswith("import time:")}
    assert "cortex_tui.scope" in imported and "json" in imported
    heavy = {m for m in imported if m.split(".")[0] in ("pydantic", "textual", "libtmux", "git", "psutil", "typing")}
    assert not heavy
    assert not {m for m in imported if m.startswith("cortex_tui.") and m not in ("cortex_tui.hook", "cortex_tui.scope")}
    times = []
    for _ in range(5):
        t = time.perf_counter()
        assert run_hook(write_payload(wt, "src/a.py"), *args).returncode == 0
        times.append(time.perf_counter() - t)
    print(f"hook round trip median {sorted(times)[2] * 1000:.1f} ms")
    assert sorted(times)[2] < 1.0  # only a gross regression; the import check above is the real guard


# ---------------------------------------------------------------------------------------------------------
# screen patterns on real screens


@pytest.mark.parametrize("name,question", [
    ("dialog-bash.txt", "Do you want to proceed?"),
    ("dialog-write.txt", "Do you want to create notes.txt?"),
    ("dialog-edit.txt", "Do you want to make this edit to notes.txt?"),
])
def test_find_approval_on_real_dialogs(name: str, question: str) -> None:
    a = adapter()
    prompt = a.find_approval(screen(name))
    assert prompt is not None
    assert question in prompt.text.splitlines()
    assert "1. Yes" in prompt.text
    assert a.approve_keys(prompt) == [("literal", "1")]
    assert a.deny_keys(prompt) == [("literal", "3")]


@pytest.mark.parametrize("name", ["idle.txt", "working.txt"])
def test_no_approval_on_idle_or_working_screen(name: str) -> None:
    assert adapter().find_approval(screen(name)) is None


def test_deny_picks_the_no_choice_by_number() -> None:
    lines = ["Do you want to proceed?", "❯ 1. Yes", "  2. Yes, and don't ask again", "  3. Maybe",
             "  4. No, and tell Claude what to do differently (esc)", "Esc to cancel"]
    a = adapter()
    assert a.deny_keys(a.find_approval(lines)) == [("literal", "4")]
    assert a.deny_keys(None) == [("key", "Escape")]


def test_question_without_choices_is_not_a_dialog() -> None:
    assert adapter().find_approval(["● Do you want to proceed? I can also stop here.", "❯ "]) is None


def test_working_screen_shows_interrupt_hint_and_interrupt_is_escape() -> None:
    assert any("esc to interrupt" in ln for ln in screen("working.txt"))
    assert adapter().interrupt_keys() == [("key", "Escape")]
    assert adapter().progress == "events"


# ---------------------------------------------------------------------------------------------------------
# usage: transcripts, stream-json, hook events


def test_usage_from_real_transcript_matches_what_the_api_sent() -> None:
    expected = json.loads((FIX / "transcript-interactive.expected.json").read_text())
    usage = usage_from_transcript(FIX / "transcript-interactive.jsonl")
    assert usage is not None
    assert {k: usage.as_dict()[k] for k in expected["usage"]} == expected["usage"]
    # every assistant message is repeated per content block: counting lines would double it
    lines = [json.loads(ln) for ln in (FIX / "transcript-interactive.jsonl").read_text().splitlines()]
    assistant = [ln for ln in lines if ln.get("type") == "assistant"]
    assert len(assistant) > expected["messages"]


def test_transcript_reader_is_incremental(tmp_path: Path) -> None:
    src = (FIX / "transcript-interactive.jsonl").read_bytes()
    path = tmp_path / "t.jsonl"
    cut = src.index(b'"type":"assistant"') + 200  # mid-line: the partial line must wait
    path.write_bytes(src[:cut])
    r = TranscriptReader(path)
    assert r.read() is False and r.total() is None
    with open(path, "ab") as f:
        f.write(src[cut:])
    assert r.read() is True
    assert r.read() is False  # nothing new
    assert r.total() == usage_from_transcript(FIX / "transcript-interactive.jsonl")


def test_missing_transcript_is_unknown_not_zero(tmp_path: Path) -> None:
    assert usage_from_transcript(tmp_path / "nope.jsonl") is None


def test_transcript_path_munging(tmp_path: Path) -> None:
    p = transcript_path("/tmp/cc-capture_x/wt.2", "abc", home=tmp_path)
    assert p == tmp_path / ".claude" / "projects" / "-tmp-cc-capture-x-wt-2" / "abc.jsonl"


def test_usage_from_stream_result() -> None:
    obj = json.loads((FIX / "stream-result.json").read_text())
    got = usage_from_stream_result(obj)
    assert got is not None
    usage, cost = got
    assert usage.input == obj["usage"]["input_tokens"] and usage.cache_read == obj["usage"]["cache_read_input_tokens"]
    assert cost == obj["total_cost_usd"]
    # our price table agrees with the CLI's own cost
    assert cost_usd(usage, next(iter(obj["modelUsage"]))) == pytest.approx(cost, rel=1e-9)
    assert usage_from_stream_result({"type": "assistant"}) is None


def test_interpret_real_hook_events(tmp_path: Path) -> None:
    events = [json.loads(ln) for ln in (FIX / "hook-events.jsonl").read_text().splitlines()]
    # point the payloads at the committed transcript
    for e in events:
        e["payload"]["transcript_path"] = str(FIX / "transcript-interactive.jsonl")
    a = adapter()
    signals: list[tuple[str, AgentSignal]] = [(e["event"], s) for e in events for s in a.interpret_event(e)]
    kinds = [(ev, s.kind) for ev, s in signals]
    assert ("PermissionRequest", "waiting") in kinds
    assert ("PreToolUse", "busy") in kinds and ("UserPromptSubmit", "busy") in kinds
    assert ("Stop", "idle") in kinds
    waiting = [s for ev, s in signals if s.kind == "waiting"]
    assert waiting[0].text == "Bash: echo hi > bash.txt"
    usage = [s for _, s in signals if s.kind == "usage"]
    assert usage and all(not s.total and s.model == MODEL for s in usage)  # increments
    ledger = UsageLedger()
    for s in usage:
        assert s.usage is not None
        ledger.apply(s.model, s.usage, total=s.total)
    expected = json.loads((FIX / "transcript-interactive.expected.json").read_text())["usage"]
    assert {k: ledger.usage.as_dict()[k] for k in expected} == expected


def test_interpret_blocked_notification_and_end() -> None:
    a = adapter()
    blocked = a.interpret_event({"source": "claude-code", "event": "blocked", "payload": {"reason": "nope"}})
    assert blocked == [AgentSignal("blocked", text="nope")]  # an older hook line without a path: the reason
    note = a.interpret_event({"source": "claude-code", "event": "Notification",
                              "payload": {"notification_type": "permission_prompt", "message": "needs you"}})
    assert [s.kind for s in note] == ["waiting"]
    end = a.interpret_event({"source": "claude-code", "event": "SessionEnd", "payload": {"reason": "other"}})
    assert [s.kind for s in end] == ["finished"]
    assert a.interpret_event({"source": "claude-code"}) == []  # malformed: ignored


def test_interpret_stream_result_line() -> None:
    obj = json.loads((FIX / "stream-result.json").read_text())
    sig = adapter().interpret_event(obj)
    assert [s.kind for s in sig] == ["usage", "finished"]
    assert sig[0].total and sig[0].cost_usd == pytest.approx(obj["total_cost_usd"])


# ---------------------------------------------------------------------------------------------------------
# integration: the real CLI

needs_claude = pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed (npm i -g @anthropic-ai/claude-code)")


def _setup(tmp_path: Path, **session_kw: object) -> tuple[Path, Path, ClaudeCodeAdapter, ResolvedSession]:
    wt = tmp_path / "wt"
    (wt / "src").mkdir(parents=True)
    home = tmp_path / "claude-home"
    prepare_home(home, wt)
    return wt, home, adapter(), make_session(model=MODEL, **session_kw)


@pytest.mark.claude
@needs_claude
def test_real_cli_dialog_approve_hooks_and_usage(tmp_path: Path) -> None:
    wt, home, a, session = _setup(tmp_path, prompt="make a file")
    ctx = make_ctx(tmp_path, wt)
    a.prepare(session, ctx)
    script = [Reply.tool("Bash", {"command": "echo hi > made.txt", "description": "Make a file"},
                         input_tokens=2950, cache_write=11500, output_tokens=74),
              Reply.text("Made it.", input_tokens=120, cache_read=11500, cache_write=80, output_tokens=12)]
    tmux = Tmux()
    with FakeAnthropic(script) as api:
        try:
            tmux.start(a.command(session, ctx), wt, claude_env(home, api.url))
            wait_for(lambda: a.find_approval(tmux.screen()) is not None, 25, "permission dialog")
            assert not (wt / "made.txt").exists()
            prompt = a.find_approval(tmux.screen())
            assert prompt is not None and "echo hi > made.txt" not in prompt.text.splitlines()[0]
            tmux.send(a.approve_keys(prompt))
            wait_for(lambda: any(e["event"] == "Stop" for e in read_events(ctx.events_file)), 20, "Stop hook")
        finally:
            tmux.kill()
        assert (wt / "made.txt").read_text() == "hi\n"
        events = read_events(ctx.events_file)
        names = [e["event"] for e in events]
        for ev in ("SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop"):
            assert ev in names, names
        assert names.index("PermissionRequest") < names.index("PostToolUse") < names.index("Stop")
        ledger = UsageLedger()

        def apply(signals: list[AgentSignal]) -> bool:
            for s in signals:
                if s.kind == "usage" and s.usage is not None:
                    ledger.apply(s.model, s.usage, total=s.total)
            return ledger.usage.as_dict() == {**api.totals(), "total": sum(api.totals().values())}

        for e in events:
            apply(a.interpret_event(e))
        # Stop can fire just before the last message reaches the transcript: polling catches up
        wait_for(lambda: apply(a.poll_usage()), 5, "transcript usage to match what the API sent")
        expected_cost = (2950 + 120) * 3 + (74 + 12) * 15 + 11500 * 0.30 + (11500 + 80) * 3.75
        assert ledger.cost() == pytest.approx(expected_cost / 1e6)


@pytest.mark.claude
@needs_claude
def test_real_cli_dialog_deny(tmp_path: Path) -> None:
    wt, home, a, session = _setup(tmp_path, prompt="make a file")
    ctx = make_ctx(tmp_path, wt)
    a.prepare(session, ctx)
    script = [Reply.tool("Write", {"file_path": str(wt / "denied.txt"), "content": "no\n"}),
              Reply.text("Understood.")]
    tmux = Tmux()
    with FakeAnthropic(script) as api:
        try:
            tmux.start(a.command(session, ctx), wt, claude_env(home, api.url))
            wait_for(lambda: a.find_approval(tmux.screen()) is not None, 25, "permission dialog")
            prompt = a.find_approval(tmux.screen())
            assert prompt is not None and "Do you want to create denied.txt?" in prompt.text.splitlines()
            tmux.send(a.deny_keys(prompt))
            wait_for(lambda: a.find_approval(tmux.screen()) is None, 10, "dialog to close")
            # "No" ends the turn at once: back at the input box, no Stop hook, no further request
            wait_for(lambda: "Rejected write to denied.txt" in "\n".join(tmux.screen()), 10, "rejection shown")
            wait_for(lambda: "? for shortcuts" in "\n".join(tmux.screen()), 10, "idle prompt")
            time.sleep(0.5)
        finally:
            tmux.kill()
        assert not (wt / "denied.txt").exists()
        names = [e["event"] for e in read_events(ctx.events_file)]
        assert names[-1] == "PermissionRequest" and "PostToolUse" not in names and "Stop" not in names
        assert len(api.message_requests()) == 1


@pytest.mark.claude
@needs_claude
def test_real_cli_enforce_blocks_out_of_scope_write(tmp_path: Path) -> None:
    wt, home, a, session = _setup(tmp_path, prompt="write files", permission_mode="acceptEdits",
                                     scope=["src/**"], scope_mode="enforce")
    ctx = make_ctx(tmp_path, wt, headless=True)
    a.prepare(session, ctx)
    script = [Reply.tool("Write", {"file_path": str(wt / "README-out.md"), "content": "x\n"},
                         input_tokens=2900, cache_write=11000, output_tokens=60),
              Reply.tool("Write", {"file_path": str(wt / "src" / "ok.py"), "content": "print(1)\n"},
                         input_tokens=180, cache_read=11000, output_tokens=55),
              Reply.text("Done.", input_tokens=150, cache_read=11200, output_tokens=9)]
    with FakeAnthropic(script) as api:
        r = subprocess.run(a.command(session, ctx), cwd=wt, env=claude_env(home, api.url),
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (wt / "README-out.md").exists()
    assert (wt / "src" / "ok.py").read_text() == "print(1)\n"
    events = read_events(ctx.events_file)
    blocked = [e for e in events if e["event"] == "blocked"]
    assert len(blocked) == 1 and "README-out.md" in str(blocked[0]["payload"])
    # the model was told why (the tool_result of the refused write carries the hook's reason)
    second = json.dumps(api.message_requests()[1]["messages"])
    assert "outside this session's scope" in second
    # stream-json result: tokens and cost match what the server sent
    result = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{") and '"type":"result"' in ln][-1]
    got = usage_from_stream_result(result)
    assert got is not None
    usage, cost = got
    assert {k: v for k, v in usage.as_dict().items() if k != "total"} == api.totals()
    assert cost == pytest.approx(cost_usd(usage, MODEL))
    sigs = a.interpret_event(result)
    assert sigs[0].usage == TokenUsage(**api.totals())


def test_poll_usage_catches_the_message_written_after_stop(tmp_path: Path) -> None:
    src = (FIX / "transcript-interactive.jsonl").read_bytes()
    path = tmp_path / "t.jsonl"
    last = src.rindex(b'"type":"assistant"')
    cut = src.rindex(b"\n", 0, last) + 1  # everything before the last assistant line
    path.write_bytes(src[:cut])
    a = adapter()
    stop = {"source": "claude-code", "event": "Stop", "payload": {"transcript_path": str(path)}}
    early = [s for s in a.interpret_event(stop) if s.kind == "usage"]
    assert early and early[0].usage is not None
    with open(path, "ab") as f:
        f.write(src[cut:])
    late = a.poll_usage()
    assert len(late) == 1 and late[0].usage is not None and not late[0].total
    both = UsageLedger()
    for sig in (*early, *late):
        assert sig.usage is not None
        both.apply(sig.model, sig.usage)
    assert both.usage == usage_from_transcript(FIX / "transcript-interactive.jsonl")
    assert late[0].usage.output == 21  # the last message alone (see transcript-interactive.expected.json)
    assert a.poll_usage() == []


def test_usage_checkpoint_survives_a_supervisor_restart(tmp_path: Path) -> None:
    """A re-attached supervisor must not count the transcript again (it gets a fresh adapter)."""
    src = (FIX / "transcript-interactive.jsonl").read_bytes()
    path = tmp_path / "t.jsonl"
    half = src.rindex(b'"type":"assistant"')
    half = src.rindex(b"\n", 0, half) + 1  # up to the last assistant line
    path.write_bytes(src[:half])
    first = adapter()
    before = [s for s in first._usage_signals(str(path)) if s.kind == "usage"]
    counted = sum((s.usage.total for s in before if s.usage), 0)
    assert counted > 0
    second = adapter()  # what a new supervisor process creates
    second.restore_usage_checkpoint(json.loads(json.dumps(first.usage_checkpoint())))
    assert [s for s in second.poll_usage() if s.kind == "usage"] == []  # nothing counted twice
    with open(path, "ab") as f:
        f.write(src[half:])
    after = [s for s in second.poll_usage() if s.kind == "usage"]
    total = usage_from_transcript(FIX / "transcript-interactive.jsonl")
    assert total is not None
    assert counted + sum((s.usage.total for s in after if s.usage), 0) == total.total


def test_workspace_trust_menu_is_waiting_and_approve_moves_to_yes() -> None:
    """2.1.331 in a folder it does not know: an unnumbered menu (recorded from the real CLI) — shown as waiting,
    approve moves the cursor to "Yes, I trust this folder" and confirms; deny is Esc (Claude exits)."""
    lines = (REPO / "tests" / "fixtures" / "agents" / "claude-code" / "2.1.331" / "trust-dialog.txt").read_text(
        encoding="utf-8").splitlines()
    a = adapter()
    prompt = a.find_approval(lines)
    assert prompt is not None and "Is this a project you created or one you trust?" in prompt.text
    assert a.approve_keys(prompt) == [("key", "Down"), ("key", "Enter")]
    assert a.deny_keys(prompt) == [("key", "Escape")]
    assert a.find_approval(lines[:-1]) is None  # without its footer it is not a live menu
