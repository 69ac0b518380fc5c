"""The one sanitizer for text an agent controls: file names, branch-derived names, trigger evidence,
last output lines, verify output, reasons.

Such text is hostile: an OSC 52 sequence in a file name writes the user's clipboard when shown in a
terminal, ``\\e[2J`` blanks it, and a newline followed by ``::error::`` becomes a GitHub Actions workflow
command. :func:`visible` makes every character that is not plain printable text *visible* as an
escape (``\\x1b``, ``\\n``, ``\\u202e``) — never passed through, never silently dropped, so a reviewer
still sees that the name is odd. Every surface that shows such text uses it: the TUI, ``status.md``,
the CLI (``status``, ``events``, ``review``, ``clean``) and CI output (annotations, step summary,
JUnit). Cheap to import, no dependencies.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# fast path: plain printable ASCII needs nothing
_PLAIN = re.compile(r"[ -~]*\Z")


def _unsafe(ch: str) -> bool:
    """Control (C0, DEL, C1), format (bidi overrides, zero-width), line/paragraph separators, lone
    surrogates (undecodable bytes of a file name) and noncharacters such as U+FFFE."""
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cf", "Cs", "Zl", "Zp"):
        return True
    if cat == "Cn":  # unassigned: noncharacters are never valid (XML rejects U+FFFE/U+FFFF)
        o = ord(ch)
        return (o & 0xFFFE) == 0xFFFE or 0xFDD0 <= o <= 0xFDEF
    return False


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    o = ord(ch)
    if 0xDC80 <= o <= 0xDCFF:  # os.fsdecode's surrogateescape: the original byte
        return f"\\x{o - 0xDC00:02x}"
    if o < 0x100:
        return f"\\x{o:02x}"
    if o < 0x10000:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def visible(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with every unsafe character written as an escape (``ESC`` -> ``\\x1b``, newline -> ``\\n``).

    ``keep_newlines``: real line breaks stay (for a multi-line block such as a verify tail shown as
    lines); every other control character is still escaped, ``\\r`` included.
    """
    s = text if isinstance(text, str) else str(text)
    if _PLAIN.match(s):
        return s
    out = []
    for ch in s:
        if keep_newlines and ch == "\n":
            out.append(ch)
        elif _unsafe(ch):
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)


def visible_data(obj: Any) -> Any:
    """:func:`visible` applied to every string in a JSON-like value (dict keys too); others unchanged."""
    if isinstance(obj, str):
        return visible(obj)
    if isinstance(obj, dict):
        return {visible(k) if isinstance(k, str) else k: visible_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [visible_data(v) for v in obj]
    return obj


def md_cell(text: object) -> str:
    """One cell of a Markdown table: :func:`visible`, and ``|`` escaped so it cannot split the row."""
    return visible(text).replace("|", "\\|")
