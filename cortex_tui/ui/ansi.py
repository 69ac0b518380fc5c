"""Neutralise a captured pane before showing it: keep SGR colours, drop every other control sequence.

An agent's output is untrusted. Cursor movement, screen clears, OSC (title, clipboard, hyperlinks),
DCS/APC payloads, 8-bit C1 controls and stray C0 controls are removed; only ``ESC [ ... m`` survives
and is turned into styles by Rich.
"""

from __future__ import annotations

import re

from rich.text import Text

# String-type sequences: OSC, DCS, SOS, PM, APC — terminated by BEL or ST (ESC \), or unterminated to the end.
_STRING_SEQ = re.compile(r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[\s\S]*?(?:\x07|\x1b\\|\x9c|$)")
# 8-bit CSI (U+009B): dropped whole, never interpreted.
_CSI8 = re.compile(r"\x9b[0-?]*[ -/]*[@-~]?")
# CSI: ESC [ params intermediates final. SGR (final 'm' with only digits/;/:) is kept.
_CSI = re.compile(r"\x1b\[([0-?]*)([ -/]*)([@-~]|$)")
# Any other escape: ESC + intermediates + final (charset selection, keypad modes, RIS, ...).
_OTHER_ESC = re.compile(r"\x1b[ -/]*[0-~]?")
# C0 controls except TAB/LF (ESC handled above); DEL; C1 controls (8-bit CSI/OSC etc.).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f\x80-\x9f]")
_SGR_PARAMS = re.compile(r"^[0-9;:]*$")


def _keep_sgr(m: re.Match[str]) -> str:
    params, inter, final = m.group(1), m.group(2), m.group(3)
    if final == "m" and not inter and _SGR_PARAMS.match(params):
        return m.group(0)
    return ""


def strip_unsafe(raw: str) -> str:
    """Return ``raw`` with only SGR escape sequences left (plus text, tabs and newlines)."""
    s = raw.replace("\r\n", "\n")
    s = _STRING_SEQ.sub("", s)
    s = _CSI8.sub("", s)
    s = _CSI.sub(_keep_sgr, s)
    # protect kept SGR sequences while removing other escapes
    parts = re.split(r"(\x1b\[[0-9;:]*m)", s)
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part)
        else:
            part = _OTHER_ESC.sub("", part)
            out.append(_CONTROL.sub("", part.replace("\r", "")))
    return "".join(out)


_VISIBLE = re.compile(r"\x1b\[[0-9;]*m")


def pane_text(raw: str, *, max_lines: int | None = None) -> Text:
    """A safe, coloured :class:`rich.text.Text` of a pane capture (trailing blank lines dropped)."""
    lines: list[str] = []
    blank = 0
    for line in strip_unsafe(raw).split("\n"):
        # an idle screen (or a dead pane under a short output) is mostly empty rows: keep one
        blank = blank + 1 if not _VISIBLE.sub("", line).strip() else 0
        if blank <= 1:
            lines.append(line)
    while lines and not _VISIBLE.sub("", lines[-1]).strip():
        lines.pop()
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[-max_lines:]
    text = Text.from_ansi("\n".join(lines))
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text
