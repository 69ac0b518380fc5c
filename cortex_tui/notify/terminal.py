"""Desktop notifications through the terminal the TUI runs in: OSC 9 (iTerm2, WezTerm, Windows Terminal,
ghostty, kitty, ConEmu) or OSC 777 (VTE terminals such as GNOME Terminal, foot, urxvt, WezTerm), plus the
bell. Off unless ``terminal_notify`` is set in the user config (``docs/notify.md``).

The text comes from agents (session names, trigger evidence), so it is hostile: every control character
(ESC, BEL, C1 ``ST``…) is made visible by :func:`cortex_tui.text.visible` before it is placed between the
sequence's delimiters, ``;`` cannot start a new OSC 777 field in the title, and the length is capped. Inside
tmux the sequence is wrapped in tmux's DCS passthrough (it reaches the outer terminal when the user's tmux
has ``allow-passthrough on``; the bell reaches tmux either way). Pure functions: no Textual, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from cortex_tui.text import visible

TerminalNotify = Literal["osc9", "osc777", "bell"]
MAX_CHARS = 200
"""Title and body are cut to this many characters each (a desktop notification is one glance)."""
BEL = "\x07"
ESC = "\x1b"


def kind_for(setting: bool | TerminalNotify, env: Mapping[str, str]) -> TerminalNotify | None:
    """What ``terminal_notify = setting`` sends in the terminal described by ``env``; None: nothing.
    ``true`` picks OSC 777 for VTE terminals, foot and urxvt (which do not speak OSC 9), else OSC 9."""
    if setting is False:
        return None
    if setting is not True:
        return setting
    term = env.get("TERM", "")
    if env.get("VTE_VERSION") or term.startswith(("foot", "rxvt")):
        return "osc777"
    return "osc9"


def clean(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` as plain printable characters (escapes shown, never passed), at most ``limit`` of them."""
    s = visible(" ".join(text.split()))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def sequence(kind: TerminalNotify, title: str, body: str, *, in_tmux: bool = False) -> str:
    """The bytes (as text) to write to the terminal: the bell, then the desktop notification."""
    if kind == "bell":
        return BEL
    t, b = clean(title), clean(body)
    if kind == "osc777":
        osc = f"{ESC}]777;notify;{t.replace(';', ',')};{b}{BEL}"
    else:  # OSC 9; a text starting "<digit>;" would be a ConEmu sub-command (progress, sleep): it never does
        text = f"{t}: {b}"
        osc = f"{ESC}]9;{'cortex-tui ' + text if text[:1].isdigit() else text}{BEL}"
    if in_tmux:  # tmux's passthrough: ESC P tmux; <the sequence, each ESC doubled> ESC \
        osc = f"{ESC}Ptmux;{osc.replace(ESC, ESC + ESC)}{ESC}\\"
    return BEL + osc
