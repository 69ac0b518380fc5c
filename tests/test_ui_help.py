"""``?`` lists every key the TUI binds: a binding missing from the help is a key nobody finds (``I`` on the
review queue was hidden from the key bar and missing from ``?``)."""

from __future__ import annotations

from textual.binding import Binding

from cortex_tui.ui.app import CortexApp
from cortex_tui.ui.screens.compare import CompareScreen
from cortex_tui.ui.screens.dashboard import DashboardScreen
from cortex_tui.ui.screens.diff_browser import DiffBrowserScreen
from cortex_tui.ui.screens.help import KEYS
from cortex_tui.ui.screens.integration import IntegrationScreen
from cortex_tui.ui.screens.review import ReviewScreen
from cortex_tui.ui.screens.session import SessionScreen

NAMES = {"question_mark": "?", "slash": "/", "exclamation_mark": "!", "escape": "esc",
         "left_square_bracket": "[", "right_square_bracket": "]"}


def _help_keys() -> set[str]:
    keys: set[str] = set()
    for _, rows in KEYS:
        for key, _what in rows:
            keys.update(key.split())
    return keys


def test_every_bound_key_is_in_the_help() -> None:
    listed = _help_keys()
    missing = []
    for owner in (CortexApp, DashboardScreen, SessionScreen, ReviewScreen, CompareScreen, IntegrationScreen,
                  DiffBrowserScreen):
        for b in owner.BINDINGS:
            assert isinstance(b, Binding)
            for key in b.key.split(","):
                if NAMES.get(key, key) not in listed:
                    missing.append(f"{owner.__name__}: {key} ({b.description})")
    assert missing == []
