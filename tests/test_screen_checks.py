"""Screen checks at fleet scale (#18): an agent whose prompts the log itself shows (the base rules: a prompt is
the last line) is not captured each time its output pauses — when the new output looks like a prompt, and as a safety
net backing off from once per 5 s — and its prompt is still found. Real tmux, real sim agent, the engine's own capture counter."""

from __future__ import annotations

from pathlib import Path

from engine_helpers import make_sup, run_to_end, triggers, wait_for

from cortex_tui.agents import get_adapter
from cortex_tui.engine.session import prompts_in_log
from cortex_tui.engine.supervisor import Supervisor


def test_pauses_in_plain_output_take_no_capture_and_the_prompt_is_still_found(git_repo: Path,
                                                                               tmp_path: Path) -> None:
    lines = ", ".join(f'"say step {i}", "sleep 0.3"' for i in range(10))  # ten pauses of 0.3 s (> QUIET_S)
    text = f"""
[run]
name = "scr"
[[session]]
name = "talker"
agent = "sim"
script = [{lines}, "ask Deploy now?", "say after", "commit done"]
"""
    sup = make_sup(git_repo, text, tmp_path)
    seen: dict[str, int] = {}

    async def during(s: Supervisor) -> None:
        await wait_for(lambda: s.state.sessions["talker"].state.value == "waiting", 60, "the prompt found")
        seen["captures_at_prompt"] = s.screens.captures
        await s.approve("talker")

    events = run_to_end(sup, timeout=90, during=during)
    rec = sup.state.sessions["talker"]
    assert rec.state.value == "finished", rec.reason
    assert triggers(events, "approval_waiting", "talker"), [e.data for e in events if e.kind == "trigger"]
    # a look per pause was ≥ 10 by the prompt; now the prompt's own look(s) and the backed-off safety net's
    assert seen["captures_at_prompt"] <= 4, seen


def test_adapters_with_screen_rules_of_their_own_still_look_when_output_pauses() -> None:
    assert prompts_in_log(get_adapter("sim")) and prompts_in_log(get_adapter("shell"))
    for kind in ("claude-code", "codex", "gemini", "aider", "opencode"):  # dialogs, idle or input screens
        assert not prompts_in_log(get_adapter(kind)), kind
