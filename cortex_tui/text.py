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
from typing import Any

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# fast path: plain printable ASCII needs nothing
_PLAIN = re.compile(r"[ -~]*\Z")


# Control (C0, DEL, C1), format (bidi overrides, zero-width, BOM), line/paragraph separators, lone
# surrogates (undecodable bytes of a file name) and noncharacters such as U+FFFE (XML rejects them):
# categories Cc, Cf, Cs, Zl, Zp and the noncharacters, as ranges (tests/test_security_text.py checks
# them against unicodedata over all of Unicode).
_UNSAFE = re.compile(
    "["
    "\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufdd0-\ufdef"
    "\ufeff\ufff9-\ufffb\ufffe-\uffff\U000110bd\U000110cd\U00013430-\U00013438"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U0001fffe-\U0001ffff"
    "\U0002fffe-\U0002ffff\U0003fffe-\U0003ffff\U0004fffe-\U0004ffff"
    "\U0005fffe-\U0005ffff\U0006fffe-\U0006ffff\U0007fffe-\U0007ffff"
    "\U0008fffe-\U0008ffff\U0009fffe-\U0009ffff\U000afffe-\U000affff"
    "\U000bfffe-\U000bffff\U000cfffe-\U000cffff\U000dfffe-\U000dffff\U000e0001"
    "\U000e0020-\U000e007f\U000efffe-\U000effff\U000ffffe-\U000fffff\U0010fffe-\U0010ffff"
    "]"
)


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
    if keep_newlines:
        return _UNSAFE.sub(lambda m: m.group() if m.group() == "\n" else _escape(m.group()), s)
    return _UNSAFE.sub(lambda m: _escape(m.group()), s)


def visible_block(text: str) -> str:
    """:func:`visible` for a block of lines shown as lines (file contents, a diff): newlines and tabs
    stay, every other control character (``\r`` and ``ESC`` included) is escaped."""
    return "\t".join(visible(part, keep_newlines=True) for part in text.split("\t"))


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
