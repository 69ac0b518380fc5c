"""codex adapter: command lines, approval dialogs (screens as the Codex TUI draws them), exec --json usage,
its PermissionRequest hook (trust hash and payload as recorded from the real CLI 0.171.0)."""

from __future__ import annotations

import json
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest
from claude_harness import make_ctx, make_session

from cortex_tui.agents import get_adapter
from cortex_tui.agents.base import ApprovalPrompt, SpawnContext
from cortex_tui.agents.codex import CodexAdapter
from cortex_tui.agents.codex_hooks import COMMAND, carried_trust, hook_args, trusted_hash
from cortex_tui.agents.codex_rollout import RolloutTail
from cortex_tui.errors import CortexError
from cortex_tui.model.state import TokenUsage

FIXTURES = Path(__file__).parent / "fixtures" / "agents" / "codex" / "0.171.0"

EXEC_DIALOG = """
• Running pnpm test

  Would you like to run the following command?

  Reason: run the test suite outside the sandbox

  $ pnpm test

› 1. Yes, proceed (y)
  2. Yes, and don't ask again for commands that start with `pnpm test` (p)
  3. No, and tell Codex what to do differently (esc)

  Press enter to confirm or esc to cancel
""".splitlines()

PATCH_DIALOG = """
  Would you like to make the following edits?

  src/app.py (+1 -1)

› 1. Yes, proceed (y)
  2. No, continue without making these changes (n)

  Press enter to confirm or esc to cancel
""".splitlines()


def test_command_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORTEX_CODEX_BIN", raising=False)
    a = get_adapter("codex")
    s = make_session(agent="codex", prompt="fix it", model="gpt-5-codex", permission_mode="on-request")
    monkeypatch.delenv("CORTEX_CODEX_HOOKS", raising=False)
    assert a.command(s, make_ctx(tmp_path, tmp_path)) == [
        "codex", "--ask-for-approval", "on-request", *hook_args(), "--model=gpt-5-codex", "--", "fix it"]
    assert a.command(s, make_ctx(tmp_path, tmp_path, headless=True)) == [
        "codex", "exec", "--json", "--sandbox", "workspace-write", "--model=gpt-5-codex", "--", "fix it"]
    off = make_session(agent="codex", prompt="fix it", permission_mode="on-request", env={"CORTEX_CODEX_HOOKS": "0"})
    assert a.command(off, make_ctx(tmp_path, tmp_path)) == ["codex", "--ask-for-approval", "on-request", "--", "fix it"]


def test_hook_trust_hash_is_the_one_codex_itself_wrote() -> None:
    """Codex 0.171.0 wrote these hashes into config.toml when a human trusted the hooks: ours must agree, or
    Codex would start at its "Hooks need review" dialog."""
    rec = json.loads((FIXTURES / "hook-trust.json").read_text())
    assert len(rec["hooks"]) == 3
    for h in rec["hooks"]:
        assert trusted_hash(h["event_key"], h["command"]) == h["trusted_hash"], h["event_key"]
    assert trusted_hash("permission_request", COMMAND) != rec["hooks"][0]["trusted_hash"]  # the command is hashed


def test_hook_args_trust_only_our_own_hook_and_name_the_hash_of_its_command() -> None:
    args = hook_args()
    assert args[0::2] == ["-c", "-c"]
    assert args[1].startswith("hooks.PermissionRequest=") and json.dumps(COMMAND) in args[1]
    key = '"/<session-flags>/config.toml:permission_request:0:0"'
    assert args[3] == f'hooks.state={{{key}={{trusted_hash="{trusted_hash("permission_request", COMMAND)}"}}}}'


def test_hook_command_appends_the_payload_as_one_events_line(tmp_path: Path) -> None:
    """The hook's own shell command, run as Codex runs it (payload on stdin, the session's events file in
    its environment): one line the adapter reads as waiting, the command as evidence."""
    events = tmp_path / "events.jsonl"
    payload = (FIXTURES / "hook-permission-request.jsonl").read_text().splitlines()[0]
    stdin = json.dumps(json.loads(payload)["payload"])
    subprocess.run(["/bin/sh", "-c", COMMAND], input=stdin, text=True, check=True,
                   env={"CORTEX_EVENTS_FILE": str(events), "PATH": "/usr/bin:/bin"})
    line = json.loads(events.read_text())
    assert line == json.loads(payload)
    sigs = get_adapter("codex").interpret_event(line)
    assert [s.kind for s in sigs] == ["waiting"]
    assert sigs[0].text == "Codex asks to run: $ echo hi > made.txt — Run echo hi > made.txt?"


def test_hook_command_keeps_hostile_payload_text_data(tmp_path: Path) -> None:
    """A command the model chose (quotes, $(…), a newline) is data in the line, never run by the hook."""
    events = tmp_path / "events.jsonl"
    evil = {"tool_name": "Bash", "tool_input": {"command": "x'; touch pwned; echo \"$(touch pwned2)\"\nls"}}
    subprocess.run(["/bin/sh", "-c", COMMAND], input=json.dumps(evil), text=True, check=True, cwd=tmp_path,
                   env={"CORTEX_EVENTS_FILE": str(events), "PATH": "/usr/bin:/bin"})
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    assert json.loads(events.read_text())["payload"] == evil
    assert shlex.split(COMMAND)[0] == "printf"


def test_rollout_busy_recorded_before_the_hook_does_not_end_its_waiting(tmp_path: Path) -> None:
    """The turn's task_started, read after the PermissionRequest line (the rollout is found late on the
    first turn), is progress only; a command that ran after it is busy again."""
    a = get_adapter("codex")
    assert isinstance(a, CodexAdapter)
    roll = tmp_path / "rollout.jsonl"
    early = {"timestamp": "2026-12-02T13:15:49.100Z", "type": "event_msg", "payload": {"type": "task_started"}}
    late = {"timestamp": "2099-01-01T00:00:00.000Z", "type": "event_msg",
            "payload": {"type": "item_completed", "item": {"type": "CommandExecution", "status": "completed",
                                                           "exit_code": 0}}}
    roll.write_text(json.dumps(early) + "\n")
    a._rollout = RolloutTail(tmp_path, str(tmp_path), 0.0, path=roll)
    line = json.loads((FIXTURES / "hook-permission-request.jsonl").read_text())
    assert [s.kind for s in a.interpret_event(line)] == ["waiting"]
    assert [s.kind for s in a.poll_usage()] == ["progress"]
    with roll.open("a") as fh:
        fh.write(json.dumps(late) + "\n")
    assert [s.kind for s in a.poll_usage()] == ["busy"]


def test_exec_dialog_found_and_answered_by_shortcut() -> None:
    a = get_adapter("codex")
    p = a.find_approval(EXEC_DIALOG)
    assert p is not None and p.text.startswith("Would you like to run the following command?")
    assert a.approve_keys(p) == [("literal", "y")]
    assert a.deny_keys(p) == [("key", "Escape")]  # "No … (esc)"


def test_patch_dialog_deny_uses_n() -> None:
    a = get_adapter("codex")
    p = a.find_approval(PATCH_DIALOG)
    assert p is not None
    assert a.deny_keys(p) == [("literal", "n")]


def test_hooks_need_review_is_waiting_and_answered_by_number_then_enter() -> None:
    """Codex 0.171.0 as it starts with a hook it has not been told to trust (the screen recorded from the real
    CLI, a user ``[[hooks.Stop]]`` in its config.toml): waiting with the dialog's text; approve trusts (2),
    deny continues without (3) — a digit only moves its cursor, Enter confirms."""
    a = get_adapter("codex")
    p = a.find_approval((FIXTURES / "screen-hooks-need-review.txt").read_text().splitlines())
    assert p is not None
    assert p.text.splitlines()[:3] == ["Hooks need review", "1 hook is new or changed.",
                                       "Hooks can run outside the sandbox after you trust them."]
    assert "2. Trust all and continue" in p.text
    assert a.approve_keys(p) == [("literal", "2"), ("key", "Enter")]
    assert a.deny_keys(p) == [("literal", "3"), ("key", "Enter")]
    moved = ApprovalPrompt(text=p.text.replace("2. Trust all and continue", "2. Trust nothing"))
    with pytest.raises(CortexError):  # an untested layout: no key rather than a wrong one
        a.approve_keys(moved)


def test_no_dialog_in_plain_output() -> None:
    a = get_adapter("codex")
    assert a.find_approval(["• Would you like to run the following command? I decided not to.", "› "]) is None
    assert a.find_approval(["› Ask Codex to do anything", "  gpt-5 medium · ~/repo"]) is None
    assert a.exposes_usage is True  # from its session file (tests/test_agents_codex_rollout.py)


def test_exec_json_usage_is_an_increment_with_cached_split_out() -> None:
    a = get_adapter("codex")
    sig = a.interpret_event({"type": "turn.completed",
                             "usage": {"input_tokens": 26549, "cached_input_tokens": 22272, "output_tokens": 1590}})
    assert [s.kind for s in sig] == ["usage", "idle"]
    assert sig[0].usage == TokenUsage(input=4277, cache_read=22272, output=1590)
    assert sig[0].total is False
    assert [s.kind for s in a.interpret_event({"type": "item.started", "item": {}})] == ["busy"]
    assert [s.kind for s in a.interpret_event({"type": "turn.completed", "usage": "garbage"})] == ["idle"]


def _user_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)
    return home


H1, H2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_carried_trust_copies_the_main_checkouts_entries_to_the_worktree_only(tmp_path: Path) -> None:
    """Entries of the repo's own .codex/config.toml hooks the user trusted (with their enabled) are keyed for
    the worktree; another repo's, the user's own, an odd hash or key tail, and untrusted entries are not."""
    repo, wt = tmp_path / "repo", tmp_path / "wt"
    repo.mkdir()
    wt.mkdir()
    home = _user_config(tmp_path / "codex", f'''
[hooks.state."{repo}/.codex/config.toml:stop:0:0"]
trusted_hash = "{H1}"
[hooks.state."{repo}/.codex/config.toml:pre_tool_use:1:0"]
trusted_hash = "{H2}"
enabled = false
[hooks.state."{repo}/.codex/config.toml:stop:1:0"]
enabled = false
[hooks.state."{repo}/.codex/config.toml:stop:2:0"]
trusted_hash = "md5:abc"
[hooks.state."{repo}/.codex/config.toml:x\\"=1:0:0"]
trusted_hash = "{H1}"
[hooks.state."{repo}/sub/.codex/config.toml:stop:0:0"]
trusted_hash = "{H1}"
[hooks.state."{tmp_path}/other/.codex/config.toml:stop:0:0"]
trusted_hash = "{H1}"
[hooks.state."{tmp_path}/codex/config.toml:stop:0:0"]
trusted_hash = "{H1}"
''')
    got = carried_trust(home, repo, wt)
    assert {k: (v.trusted_hash, v.enabled) for k, v in got.items()} == {
        f"{wt}/.codex/config.toml:stop:0:0": (H1, None), f"{wt}/.codex/config.toml:pre_tool_use:1:0": (H2, False)}
    assert carried_trust(home, repo, repo) == {}  # the checkout itself: its own entries apply
    assert carried_trust(tmp_path / "nowhere", repo, wt) == {}


@pytest.mark.parametrize("text", ["hooks = [", "[hooks]\nstate = 3\n", "\xff"], ids=["toml", "shape", "bytes"])
def test_carried_trust_of_a_malformed_user_config_is_nothing_and_says_why(
        text: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    home = tmp_path / "codex"
    home.mkdir()
    (home / "config.toml").write_bytes(text.encode("latin-1"))
    with caplog.at_level("WARNING", logger="cortex_tui.agents"):
        assert carried_trust(home, tmp_path / "repo", tmp_path / "wt") == {}
    assert any("could not be read" in r.getMessage() and "not carried" in r.getMessage() for r in caplog.records)


def test_command_line_carries_the_trust_in_the_one_hooks_state_override(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Codex 0.171.0: a second ``-c hooks.state=…`` replaces the first, so ours and the carried entries are one."""
    monkeypatch.delenv("CORTEX_CODEX_BIN", raising=False)
    monkeypatch.delenv("CORTEX_CODEX_HOOKS", raising=False)
    repo, wt = tmp_path / "repo", tmp_path / "wt"
    repo.mkdir()
    wt.mkdir()
    home = _user_config(tmp_path / "codex", f'[hooks.state."{repo}/.codex/config.toml:stop:0:0"]\ntrusted_hash = "{H1}"\n')
    ctx = SpawnContext(run="t", repo=repo, worktree=wt, session_dir=tmp_path, events_file=tmp_path / "e.jsonl")
    argv = get_adapter("codex").command(make_session(agent="codex", env={"CODEX_HOME": str(home)}), ctx)
    states = [a for a in argv if a.startswith("hooks.state=")]
    assert len(states) == 1 and argv.count("-c") == 2, argv
    entry = f'"{wt}/.codex/config.toml:stop:0:0"={{trusted_hash="{H1}"}}'
    assert tomllib.loads(states[0])["hooks"]["state"] == {
        f"{wt}/.codex/config.toml:stop:0:0": {"trusted_hash": H1},
        "/<session-flags>/config.toml:permission_request:0:0": {"trusted_hash": trusted_hash("permission_request", COMMAND)}}
    assert entry in states[0]
    off = get_adapter("codex").command(
        make_session(agent="codex", env={"CODEX_HOME": str(home), "CORTEX_CODEX_HOOKS": "0"}), ctx)
    assert off == ["codex", "-c", f"hooks.state={{{entry}}}"]
