"""Numbered-choice approval dialogs as drawn by TUI agents (Claude Code, Codex, Gemini CLI).

They all look alike: a question line, then numbered choices (the selected one marked ``❯``/``›``/``●``)::

     Do you want to proceed?
     ❯ 1. Yes
       2. Yes, and always allow access to … from this project
       3. No

An approval is answered by typing the choice's number (or its letter shortcut) — never a blind Enter,
whose meaning depends on where the cursor happens to be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cortex_tui.agents.base import AgentAdapter, ApprovalPrompt, KeyInput

_BOX = re.compile(r"^[\s│┃|]+|[\s│┃|]+$")
CHOICE_RE = re.compile(r"^(?:[❯›»>●○◉◯*]\s*)?(\d{1,2})\.\s+(\S.*)$")


def clean(line: str) -> str:
    """A screen line without box-drawing borders and surrounding blanks."""
    return _BOX.sub("", line)


_RULE = re.compile(r"^[─━═\-–—]{3,}")


def find_numbered_dialog(screen_lines: list[str], questions: list[re.Pattern[str]], *,
                         tail: int = 30, before: int = 0) -> ApprovalPrompt | None:
    """The last question (matching one of ``questions``) that is followed by numbered choices 1, 2, ….

    Only the last ``tail`` non-empty lines are looked at, so a dialog long gone from the bottom of the
    screen (answered, scrolled away) does not count. ``before``: up to that many lines above the question
    (back to a horizontal rule) are prepended — where a dialog shows what it asks about (the command).
    """
    lines = [clean(ln) for ln in screen_lines if ln.strip()][-tail:]
    for i in range(len(lines) - 1, -1, -1):
        if not any(q.search(lines[i]) for q in questions):
            continue
        choices = [m for m in (CHOICE_RE.match(ln) for ln in lines[i + 1:]) if m]
        if choices and choices[0].group(1) == "1":
            ctx: list[str] = []
            for ln in reversed(lines[max(0, i - before):i]):
                if _RULE.match(ln.strip()):
                    break
                ctx.insert(0, ln)
            return ApprovalPrompt(text="\n".join([*ctx, *lines[i:]]).strip())
        return None  # the latest question has no choices under it: not a live dialog
    return None


def choices(prompt: ApprovalPrompt | None) -> list[tuple[str, str]]:
    """The (number, label) pairs of a dialog's choices."""
    if prompt is None:
        return []
    out = []
    for ln in prompt.text.splitlines():
        m = CHOICE_RE.match(clean(ln))
        if m:
            out.append((m.group(1), m.group(2).strip()))
    return out


def choice_number(prompt: ApprovalPrompt | None, label: re.Pattern[str]) -> str | None:
    """Number of the first choice whose label matches ``label`` (e.g. ``^No\\b``)."""
    for num, text in choices(prompt):
        if label.search(text):
            return num
    return None


NO_CHOICE = re.compile(r"^No\b")


@dataclass
class NumberedDialogAdapter(AgentAdapter):
    """A TUI agent whose approvals are numbered-choice dialogs (``approval_patterns`` = the question lines):
    answered by typing the choice's number, never Enter; interrupted with Escape."""

    def find_approval(self, screen_lines: list[str]) -> ApprovalPrompt | None:
        return find_numbered_dialog(screen_lines, self.approval_patterns)

    def approve_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        return [("literal", "1")]

    def deny_keys(self, prompt: ApprovalPrompt | None) -> list[KeyInput]:
        num = choice_number(prompt, NO_CHOICE)
        return [("literal", num)] if num else [("key", "Escape")]

    def interrupt_keys(self) -> list[KeyInput]:
        return [("key", "Escape")]
