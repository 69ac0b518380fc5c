"""Terminal text helpers: strip escape sequences, normalise error lines into fingerprints."""

from __future__ import annotations

import re

# CSI, OSC (BEL or ST terminated), other two-byte escapes, and stray control characters.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def clean_line(raw: str) -> str:
    """What a terminal shows for one raw output line: the text after the last carriage return."""
    if "\r" in raw:
        parts = [p for p in raw.split("\r") if p]
        raw = parts[-1] if parts else ""
    return strip_ansi(raw).rstrip()


_NORMALIZERS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<ts>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<addr>"),
    (re.compile(r"(?:/tmp|/var/tmp|/var/folders|/private/var)/[^\s:'\"]*"), "<tmp>"),
    (re.compile(r"\bline \d+\b"), "line <n>"),
    (re.compile(r":\d+(?::\d+)?\b"), ":<n>"),
    (re.compile(r"\bpid[ =:]?\d+\b", re.I), "pid <n>"),
    (re.compile(r"\b\d{4,}\b"), "<n>"),
    (re.compile(r"\s+"), " "),
]


def normalize_error(line: str) -> str:
    """Fingerprint of an error line: timestamps, addresses, line numbers, temp paths, ANSI removed."""
    s = strip_ansi(line).strip()
    for rx, repl in _NORMALIZERS:
        s = rx.sub(repl, s)
    return s.strip()
