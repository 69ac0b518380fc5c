"""Claude Code's screen: the permission dialog's questions (answered by number) and the start-up menus
(workspace trust, bypass-permissions warning; answered by arrow keys and Enter).

Part of ``agent = "claude-code"`` (:mod:`cortex_tui.agents.claude_code`, which re-exports these names).
"""

from __future__ import annotations

import re

from cortex_tui.agents.base import ApprovalPrompt, KeyInput

QUESTIONS = [
    re.compile(r"^Do you want to (?:proceed|make this edit|create|allow|run|overwrite|delete|fetch|use)\b.*\?\s*$"),
    re.compile(r"^Do you want to .+\?\s*$"),
]


MENU_TAG = "[start-up] "
_MENU_QUESTIONS = [re.compile(r"Is this a project you created or one you trust\?"),
                   re.compile(r"Bypass Permissions mode")]
_SELECTED = re.compile(r"^\s*❯\s+(\S.*)$")
YES_ITEM = re.compile(r"^Yes\b")


def find_startup_menu(screen_lines: list[str]) -> ApprovalPrompt | None:
    """Claude's start-up menus (2.1.331): the workspace-trust question ("Is this a project you created or one
    you trust?") and the bypass-permissions warning — unnumbered items (``❯ No, exit`` / ``Yes, I trust
    this folder``) over ``Enter to confirm · Esc to cancel``. Shown as waiting; approve moves to "Yes"."""
    lines = [ln.rstrip() for ln in screen_lines if ln.strip()][-20:]
    if not lines or "Enter to confirm" not in lines[-1]:
        return None
    start = next((i for i, ln in enumerate(lines) if any(q.search(ln) for q in _MENU_QUESTIONS)), None)
    if start is None or not any(_SELECTED.match(ln) for ln in lines[start:]):
        return None
    return ApprovalPrompt(text=MENU_TAG + "\n".join(ln.strip() for ln in lines[start:]))


def menu_moves(prompt: ApprovalPrompt | None, want: re.Pattern[str]) -> list[KeyInput] | None:
    """Arrow keys from the selected item to the one matching ``want``, then Enter (None: not a menu)."""
    if prompt is None or not prompt.text.startswith(MENU_TAG):
        return None
    items: list[tuple[bool, str]] = []
    for ln in prompt.text[len(MENU_TAG):].splitlines():
        m = _SELECTED.match(ln)
        if m:
            items.append((True, m.group(1).strip()))
        elif items and not ln.startswith(("Enter to confirm", "Esc")):
            items.append((False, ln.strip()))
    cur = next((i for i, (sel, _) in enumerate(items) if sel), None)
    target = next((i for i, (_, label) in enumerate(items) if want.search(label)), None)
    if cur is None or target is None:
        return None
    step: KeyInput = ("key", "Down") if target > cur else ("key", "Up")
    return [step] * abs(target - cur) + [("key", "Enter")]
