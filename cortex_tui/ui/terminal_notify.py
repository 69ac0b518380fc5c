"""The TUI's desktop notification through its own terminal (OSC 9 / OSC 777 / the bell, ``terminal_notify``
in the user config): the sequence is built by :mod:`cortex_tui.notify.terminal` from sanitised text and
written through Textual's driver — the one writer of the terminal, on the app's loop, between frames."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from textual.app import App

from cortex_tui.notify.terminal import TerminalNotify, kind_for, sequence


class TerminalNotifier:
    """``notifier(title, body)`` notifies through ``app``'s terminal; a no-op when ``kind`` is None."""

    def __init__(self, app: App[Any], setting: bool | TerminalNotify, *, bell: bool = False,
                 env: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.env = dict(os.environ if env is None else env)
        self.kind: TerminalNotify | None = kind_for(setting, self.env) or ("bell" if bell else None)
        self.sent = 0
        """Notifications written so far (tests read this)."""

    def __bool__(self) -> bool:
        return self.kind is not None

    def __call__(self, title: str, body: str) -> None:
        driver = self.app._driver  # Textual's own App.bell() writes here the same way
        if self.kind is None or driver is None or self.app.is_web:  # a browser has no desktop to notify
            return
        driver.write(sequence(self.kind, title, body, in_tmux=bool(self.env.get("TMUX"))))
        self.sent += 1
