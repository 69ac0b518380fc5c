"""From raw log bytes to what the rules need: output lines, error lines, the tail — skimmed when a chunk is big.

A flood (or a re-attach catch-up over hundreds of MB) used to be decoded line by line into Python strings:
~50 ms of CPU per MB. The rules only need the error lines (in order), the last lines (the tail, the progress
line) and whether anything came at all. :func:`split_chunk` gives exactly those:

* chunks with control bytes (escape sequences, carriage returns — a TUI agent): every line is cleaned and
  tested, as a terminal shows it (:func:`cortex_tui.watch.text.clean_line`);
* small plain-text chunks (the common batch of a flood): decoded once, every line kept; with the default error
  rule a chunk holding none of the error words is not tested line by line (:func:`plain_lines`);
* big plain-text chunks of an adapter with the default error rule: only lines holding one of the literal
  words every default error match contains are decoded and tested, plus the last :data:`TAIL_LINES` lines.
  A line without control bytes is shown as its own text, so no error line can be missed (tests/unit prove
  it against the line-by-line path).
"""

from __future__ import annotations

from dataclasses import dataclass

from cortex_tui.agents.base import DEFAULT_ERROR_RE, AgentAdapter
from cortex_tui.watch.text import clean_line

SKIM_MIN = 64 << 10
"""Chunks at least this big (bytes) are skimmed when they can be."""
TAIL_LINES = 200
"""Lines kept as the session's tail (and published as output) from a skimmed chunk."""
_TAIL_BYTES = 12 << 10

_NOT_CONTROL = bytes(b for b in range(256) if not (b < 0x20 and b not in (0x09, 0x0A)) and b != 0x7F)
"""Deleting these leaves the bytes that make a terminal show a line differently from its text (clean_line
strips or acts on them: escapes, carriage returns, other controls)."""
_WORDS = (b"Error", b"Exception", b"Traceback", b"error", b"fatal:", b"FAILED", b"panic:", b"ERROR")
"""Every match of DEFAULT_ERROR_RE contains one of these (``Error\\b``, ``…Error``, ``error:``, ``error[E1]:``…)."""


try:
    import ahocorasick_rs

    _SCAN: ahocorasick_rs.BytesAhoCorasick | None = ahocorasick_rs.BytesAhoCorasick(
        list(_WORDS), matchkind=ahocorasick_rs.MatchKind.LeftmostFirst)
    """Leftmost-first, non-overlapping: a word's occurrence is either reported or inside a reported one —
    on the same line (no word holds a newline), so every line holding a word is found."""
except ImportError:  # a platform without its wheel: one bytes.find pass per word
    _SCAN = None


@dataclass
class Lines:
    lines: list[str]
    """Non-empty cleaned lines to show (all of them, or the last TAIL_LINES of a skimmed chunk)."""
    errors: list[str]
    """Cleaned lines the adapter calls errors, in order (all of them, skimmed or not)."""
    skimmed: bool = False


def _default_errors(adapter: AgentAdapter) -> bool:
    return adapter.error_pattern is DEFAULT_ERROR_RE and type(adapter).is_error is AgentAdapter.is_error


def _clean(raw: bytes) -> str:
    return clean_line(raw.decode("utf-8", errors="replace"))


def split_chunk(adapter: AgentAdapter, chunk: bytes) -> Lines:
    """``chunk``: complete lines joined by ``\\n`` (no trailing newline)."""
    if chunk.translate(None, _NOT_CONTROL):  # escapes, carriage returns: as a terminal shows each line
        return every_line(adapter, chunk.split(b"\n"))
    if len(chunk) < SKIM_MIN or not _default_errors(adapter):
        return plain_lines(adapter, chunk)
    spans: dict[int, int] = {}  # line start -> end, for lines holding one of the words
    for i in _word_starts(chunk):
        start = chunk.rfind(b"\n", 0, i) + 1
        if start in spans:
            continue
        end = chunk.find(b"\n", i)
        spans[start] = len(chunk) if end < 0 else end
    errors: list[str] = []
    for start in sorted(spans):
        line = _clean(chunk[start:spans[start]])
        if adapter.is_error(line):
            errors.append(line)
    span = _TAIL_BYTES
    while True:  # the last TAIL_LINES non-empty lines: a few KB usually, more when lines are blank
        cut = max(0, len(chunk) - span)
        if cut:
            cut = chunk.find(b"\n", cut) + 1 or len(chunk)
        # no control bytes in this chunk: a line shows as its own text (clean_line is rstrip here), and a
        # UTF-8 sequence never holds a newline byte, so the tail is decoded once, not line by line
        lines = [ln for ln in (raw.rstrip() for raw in chunk[cut:].decode("utf-8", errors="replace").split("\n"))
                 if ln]
        if len(lines) >= TAIL_LINES or cut == 0:
            return Lines(lines[-TAIL_LINES:], errors, skimmed=True)
        span *= 4


def _word_starts(chunk: bytes) -> list[int]:
    """Where one of :data:`_WORDS` starts in ``chunk`` (at least one per line holding any): one pass of an
    Aho-Corasick automaton (ahocorasick-rs, SIMD-prefiltered: ~0.2 ms/MB), else one ``bytes.find`` pass per
    word (~0.5 ms/MB each)."""
    if _SCAN is not None:
        return [start for _, start, _ in _SCAN.find_matches_as_indexes(chunk)]
    out: list[int] = []
    for word in _WORDS:
        i = chunk.find(word)
        while i >= 0:
            out.append(i)
            i = chunk.find(word, i + len(word))
    return out


def plain_lines(adapter: AgentAdapter, chunk: bytes) -> Lines:
    """Every line of a chunk without control bytes, as :func:`every_line` gives them, at a fraction of its cost:
    a line shows as its own text (``clean_line`` is ``rstrip`` there) and a UTF-8 sequence never holds a newline
    byte, so the chunk is decoded once; with the default error rule a chunk holding none of :data:`_WORDS` (one
    C-speed scan) has no error line, so no line is tested."""
    lines = [ln for ln in (raw.rstrip() for raw in chunk.decode("utf-8", errors="replace").split("\n")) if ln]
    if _default_errors(adapter) and not _word_starts(chunk):
        return Lines(lines, [])
    return Lines(lines, [ln for ln in lines if adapter.is_error(ln)])


def every_line(adapter: AgentAdapter, raws: list[bytes]) -> Lines:
    lines: list[str] = []
    errors: list[str] = []
    for raw in raws:
        line = _clean(raw)
        if not line.strip():
            continue
        lines.append(line)
        if adapter.is_error(line):
            errors.append(line)
    return Lines(lines, errors)
