"""aider adapter: command lines, the typed prompt, (Y)es/(N)o prompts, recorded screens, the cost report line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claude_harness import make_ctx, make_session

from cortex_tui.agents import get_adapter
from cortex_tui.agents.aider import parse_cost_line


def test_command_lines_and_start_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORTEX_AIDER_BIN", raising=False)
    a = get_adapter("aider")
    s = make_session(agent="aider", prompt="add tests\nfor the parser", model="anthropic/claude-sonnet-4-5")
    ctx = make_ctx(tmp_path, tmp_path)
    a.prepare(s, ctx)
    argv = a.command(s, ctx)
    assert argv == ["aider", "--no-check-update", "--no-gitignore", "--no-show-release-notes", "--no-analytics",
                    "--analytics-log", str(ctx.events_file),
                    "--chat-history-file", str(ctx.session_dir / "aider.chat.history.md"),
                    "--input-history-file", str(ctx.session_dir / "aider.input.history"),
                    "--model=anthropic/claude-sonnet-4-5"]  # the prompt is typed (test_prompt_is_typed_…)
    yes = a.command(make_session(agent="aider", prompt="x", permission_mode="yes-always"), ctx)
    assert "--yes-always" in yes
    with pytest.raises(ValueError, match="permission_mode 'auto' for aider"):
        a.command(make_session(agent="aider", prompt="x", permission_mode="auto"), ctx)
    head = a.command(s, make_ctx(tmp_path, tmp_path, headless=True))
    assert head[-5:] == ["--yes-always", "--no-pretty", "--no-stream", "--message-file",
                         str(ctx.session_dir / "prompt.txt")]
    assert (ctx.session_dir / "prompt.txt").read_text() == "add tests\nfor the parser"


@pytest.mark.parametrize("line", [
    "Create new file? (Y)es/(N)o [Yes]: ",
    "Run shell command? (Y)es/(N)o/(D)on't ask again [Yes]: ",
    "Add file to the chat? (Y)es/(N)o/(A)ll/(S)kip all/(D)on't ask again [Yes]: ",
    "Attempt to fix lint errors? (Y)es/(N)o [Yes]:",
])
def test_confirm_prompts_found_and_answered_explicitly(line: str) -> None:
    a = get_adapter("aider")
    p = a.find_approval(["> Applied edit to src/app.py", line])
    assert p is not None and "(Y)es/(N)o" in p.text
    assert a.approve_keys(p) == [("literal", "y"), ("key", "Enter")]
    assert a.deny_keys(p) == [("literal", "n"), ("key", "Enter")]


def test_answered_prompt_and_chat_text_are_not_prompts() -> None:
    a = get_adapter("aider")
    assert a.find_approval(["Create new file? (Y)es/(N)o [Yes]: y", "> Applied edit to x.py", "> "]) is None
    assert a.find_approval(["I will ask (Y)es/(N)o questions later."]) is None


def test_cost_line() -> None:
    got = parse_cost_line("> Tokens: 13k sent, 830 received. Cost: $0.04 message, $0.04 session.")
    assert got == {"sent": 13000, "cache_write": 0, "cache_hit": 0, "received": 830,
                   "message_usd": 0.04, "session_usd": 0.04}
    cached = parse_cost_line("Tokens: 2.5k sent, 1.2k cache write, 10k cache hit, 120 received. "
                             "Cost: $0.01 message, $0.20 session.")
    assert cached is not None and cached["cache_hit"] == 10000 and cached["session_usd"] == 0.20
    assert parse_cost_line("nothing to see") is None
    assert get_adapter("aider").exposes_usage is True  # from its analytics log (test_aider_analytics_log_usage)


def test_aider_analytics_log_usage() -> None:
    """aider 0.86.2's own analytics-log lines (tests/fixtures/agents/aider/0.86.2/) carry each reply's usage."""
    from cortex_tui.budgets import UsageLedger

    fix = Path(__file__).parent / "fixtures" / "agents" / "aider" / "0.86.2" / "analytics.jsonl"
    a = get_adapter("aider")
    sigs = [s for ln in fix.read_text().splitlines() if ln.strip() for s in a.interpret_event(json.loads(ln))]
    assert [s.kind for s in sigs] == ["busy", "usage"]
    ledger = UsageLedger()
    for s in sigs:
        if s.usage is not None:
            ledger.apply(s.model, s.usage, total=s.total)
    assert (ledger.usage.input, ledger.usage.output) == (1234, 56)  # what the fake API billed (--no-stream)
    assert a.interpret_event({"event": "launched", "properties": {}}) == []


FIX = Path(__file__).parent / "fixtures" / "agents" / "aider" / "0.86.2"


def _screen(name: str) -> list[str]:
    return (FIX / name).read_text().splitlines()


def test_recorded_screens_ready_waiting_idle() -> None:
    """aider 0.86.2's own screens: its input prompt (ready / idle), its questions with their subjects."""
    a = get_adapter("aider")
    assert a.input_ready(_screen("screen-ready.txt")) and a.screen_idle(_screen("screen-denied.txt"))
    for busy in ("screen-run-shell.txt", "screen-create-file.txt", "screen-hang-1.txt", "screen-hang-2.txt"):
        assert not a.input_ready(_screen(busy)) and not a.screen_idle(_screen(busy)), busy
    shell = a.find_approval(_screen("screen-run-shell.txt"))
    assert shell is not None
    assert shell.text == "echo hi > made.txt\nRun shell command? (Y)es/(N)o/(D)on't ask again [Yes]:"
    new = a.find_approval(_screen("screen-create-file.txt"))
    assert new is not None and new.text == "src/new.txt\nCreate new file? (Y)es/(N)o [Yes]:"
    for none in ("screen-ready.txt", "screen-denied.txt", "screen-hang-1.txt", "screen-outside.txt"):
        assert a.find_approval(_screen(none)) is None, none
    assert _screen("screen-hang-1.txt") != _screen("screen-hang-2.txt")  # the spinner moved


def test_prompt_is_typed_literally_as_one_paste(tmp_path: Path) -> None:
    """Interactive: no prompt on the command line; the engine types it (one bracketed paste, then Enter).
    Hostile text cannot end the paste early, run an aider command or reach a shell."""
    a = get_adapter("aider")
    s = make_session(agent="aider", prompt="fix it\n\tthen test")
    assert a.typed_prompt(s, headless=False) == "fix it\n\tthen test"
    assert a.typed_prompt(s, headless=True) is None  # headless: --message-file
    assert a.typed_prompt(make_session(agent="aider", prompt=""), headless=False) is None
    for cmd in ("/run rm -rf ~", "!rm -rf ~", "{"):
        assert a.typed_prompt(make_session(agent="aider", prompt=cmd), headless=False) == " " + cmd
    keys = a.message_keys("a\r\nb\x1b[201~\r/run touch pwned\x07 $(id)")
    assert keys == [("literal", "\x1b[200~a\nb[201~\n/run touch pwned $(id)\x1b[201~"), ("key", "Enter")]
    big = "é" * 9000  # 18 KB of UTF-8: one tmux command would be refused ("command too long")
    parts = a.message_keys(big)
    assert parts[-1] == ("key", "Enter") and all(k == "literal" and len(v.encode()) <= 8000 for k, v in parts[:-1])
    assert "".join(v for _, v in parts[:-1]) == "\x1b[200~" + big + "\x1b[201~"


def test_chat_history_refusal_outside_worktree(tmp_path: Path) -> None:
    """aider refuses an edit outside its git root and records it in its chat history: that attempt is an
    ``outside`` signal with the resolved path (once; an edit inside the worktree is none)."""
    from cortex_tui.agents.aider_history import HistoryTail, refused_path

    hist = tmp_path / "h.md"
    text = (FIX / "chat-history-outside.md").read_text()
    hist.write_text(text[: len(text) // 3])
    tail = HistoryTail(hist, "/tmp/aexp/repo")
    first = tail.read()
    hist.write_text(text)
    rest = tail.read()
    outside = [s for s in first + rest if s.kind == "outside"]
    assert [s.text for s in outside] == ["/tmp/aexp/elsewhere.txt"]
    assert tail.read() == []
    again = HistoryTail.restore(tail.checkpoint())
    assert again is not None and again.read() == []
    assert refused_path("> '/tmp/x/it''s' is not in the subpath of '/r'") is None
    assert refused_path("> \"/tmp/it's\" is not in the subpath of '/r' OR one path is relative") == "/tmp/it's"
    assert HistoryTail(hist, "/tmp/aexp").read() == []  # inside that root: not outside


def test_offline_downloads_and_traceback_headers_are_not_task_errors() -> None:
    a = get_adapter("aider")
    line = next(ln for ln in _screen("screen-run-shell.txt") if ln.startswith("HTTPSConnectionPool"))
    assert not a.is_error(line)
    assert not a.is_error("Traceback (most recent call last):")
    assert a.is_error('ValueError: conformance boom')


def test_repo_map_cache_is_not_the_sessions_work() -> None:
    """aider writes its repo-map cache into the worktree: not a change of the session (no out_of_scope)."""
    from cortex_tui.scope import in_scope

    own = list(get_adapter("aider").own_files)
    for p in (".aider.tags.cache.v4/cache.db", ".aider.tags.cache.v4/cache.db-wal"):
        assert in_scope(p, own)
    for p in ("notes.txt", "src/.aider.tags.cache.v4/cache.db", ".aider.conf.yml"):
        assert not in_scope(p, own)


def test_turn_end_from_its_own_output_the_prompt_after_the_cost_line() -> None:
    """The recorded pane log of a turn, cut into lines as the engine does: idle once, at the input prompt drawn
    after the reply's cost line — not at the prompt it showed at start (before the prompt was typed)."""
    from cortex_tui.engine.log_lines import split_chunk

    a = get_adapter("aider")
    raw = (FIX / "pane-turn.log").read_bytes()
    lines = split_chunk(a, raw[:raw.rfind(b"\n")]).lines
    first_prompt = next(i for i, ln in enumerate(lines) if ln.strip() == "diff>")
    assert a.output_signals(lines[:first_prompt + 1]) == []
    sigs = a.output_signals(lines[first_prompt + 1:])
    assert [s.kind for s in sigs] == ["idle"]
    assert a.output_signals(["diff>"]) == []  # a redraw of the prompt is no second turn end


def test_turn_end_after_its_questions_and_none_while_a_new_request_runs() -> None:
    a = get_adapter("aider")
    asked = ["Tokens: 100 sent, 20 received.", "echo hi > made.txt",
             "Run shell command? (Y)es/(N)o/(D)on't ask again [Yes]: y", "Running echo hi > made.txt"]
    assert a.output_signals(asked) == []
    assert [s.kind for s in a.output_signals(["Added 2 lines of output to the chat.", "diff>"])] == ["idle"]
    assert a.output_signals(["Tokens: 1.2k sent, 56 received. Cost: $0.01 message, $0.02 session."]) == []
    a.interpret_event({"event": "message_send_starting", "properties": {}})  # it asks the model again
    assert a.output_signals(["diff>"]) == []
    # a bare ">" is its prompt only under its rule (a command's output may print one)
    assert a.output_signals(["Tokens: 100 sent, 20 received.", "Running echo '>'", ">"]) == []
    assert [s.kind for s in a.output_signals(["─" * 40, "> "])] == ["idle"]
