"""The real Codex CLI stops at "Hooks need review" when it starts with a hook it has not been told to trust (here
the user's own ``[[hooks.Stop]]`` in their config.toml; a project's ``.codex/config.toml`` hook never trusted
does the same, tests/conformance/test_codex_hook_trust_carry.py): the session is ``waiting`` with the dialog's
text, ``approve`` trusts them (Codex records it in its config.toml) and ``deny`` goes on without them — either
way the prompt's turn then runs to ``idle``. Before, the dialog went unnoticed: ``running`` and no trigger."""

from __future__ import annotations

from pathlib import Path

import pytest
from drivers import CodexDriver, driver
from engine_helpers import triggers
from test_conformance import NAME, answer, expect, finish, state, supervise

from cortex_tui.engine.supervisor import Supervisor

pytestmark = pytest.mark.conformance

USER_HOOK = '[[hooks.Stop]]\n[[hooks.Stop.hooks]]\ntype = "command"\ncommand = "true"\n'


@pytest.mark.parametrize("yes", [True, False], ids=["approve", "deny"])
def test_codex_hooks_need_review_is_waiting_and_answered(yes: bool, git_repo: Path, tmp_path: Path) -> None:
    d = driver("codex", CodexDriver, user_config=USER_HOOK)

    async def during(sup: Supervisor, api: object) -> None:
        await expect(sup, lambda: state(sup) == "waiting", 90, "codex: waiting at 'Hooks need review'")
        await answer(sup, yes)
        await expect(sup, lambda: state(sup) == "idle", 60, "codex: idle after the prompt's turn")
        await finish(sup)

    events, _, api = supervise(d, git_repo, tmp_path, [d.say("Hello.")], during=during)
    ap = triggers(events, "approval_waiting", NAME)
    assert len(ap) == 1, [e.data for e in ap]
    prompt = ap[0].data["evidence"]["prompt"]
    assert prompt.startswith("Hooks need review\n1 hook is new or changed.") and "Trust all and continue" in prompt
    assert api.used == 1, "the prompt's turn never reached the model"
    config = (tmp_path / "agent-home" / ".codex" / "config.toml").read_text()
    assert ("[hooks.state" in config) is yes, config  # Codex itself recorded the trust only when approved
