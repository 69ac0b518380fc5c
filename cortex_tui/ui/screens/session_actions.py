"""Session actions from a screen: destructive ones are confirmed, naming the session, then posted up."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import App
from textual.message import Message

from cortex_tui.ui.messages import SessionAction
from cortex_tui.ui.screens.confirm import ConfirmScreen

CONFIRMED: dict[str, tuple[str, str]] = {
    "stop": ("Stop", "The agent is stopped; its worktree and branch stay. R restarts it."),
    "restart": ("Restart", "The running agent is stopped and started again from its prompt."),
}
"""Actions that end an agent's work: (verb, what happens). They need a ``y``."""


def request_action(app: App[object], post: Callable[[Message], object], action: str, session: str,
                   text: str | None = None) -> None:
    """``post`` a :class:`SessionAction` for ``session`` — after a ``y`` when the action is destructive.

    The session is fixed when the key is pressed: a row that moves under the cursor meanwhile is not the
    one acted on, and the question names the session it will act on.
    """
    if action not in CONFIRMED:
        post(SessionAction(action, session, text))
        return
    verb, what = CONFIRMED[action]

    def answered(yes: bool | None) -> None:
        if yes:
            post(SessionAction(action, session, text))

    body = Text()
    body.append(f"{verb} session ")
    body.append(session, style="bold")
    body.append(f"?\n{what}")
    app.push_screen(ConfirmScreen(f"{verb} {session}?", body, confirm_label=verb), answered)
