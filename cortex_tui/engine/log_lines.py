"""From raw log bytes to what the rules need: output lines, error lines, the tail — skimmed when a chunk is big.

A flood (or a re-attach catch-up over hundreds of MB) used to be decoded line by line into Python strings:
~50 ms of CPU per MB. The rules only need the error lines (in order), the last lines (the tail, the progress
line) and whether anything came at all. :func:`split_chunk` gives exactly those:

* chunks with control bytes (escape sequences, carriage returns — a TUI agent) are cleaned whole first, at C
  speed (:func:`clean_chunk`): the cleaned bytes are every line as a terminal shows it
  (:func:`cortex_tui.watch.text.clean_line`), so they are taken as a plain-text chunk below — stripping an
  escape can join two fragments into an error word, so the raw bytes are never skimmed;
* small plain-text chunks (the common batch of a flood): decoded once, every line kept; with the default error
  rule a chunk holding none of the error words is not tested line by line (:func:`plain_lines`);
* big plain-text chunks of an adapter with the default error rule: only lines holding one of the literal
  words every default error match contains are decoded and tested, plus the last :data:`TAIL_LINES` lines.
  A line without control bytes is shown as its own text, so no error line can be missed (tests/unit prove
  it against the line-by-line path, real agents' pane logs and hostile chunks too).
"""

from __future__ import annotations

import re
from collections import Counter
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


_ESCAPE = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)|[@-Z\\-_])?")
"""The escape sequences ``strip_ansi`` removes (:data:`cortex_tui.watch.text._ANSI`, its ESC alternatives in its
order, a lone ESC the last, empty, choice) as a bytes pattern over a whole chunk: an OSC string stops at a
newline (a line is cleaned on its own). ESC first: sre's fast scan for a literal first byte. Every sequence
``_ANSI`` matches starts at an ESC no earlier match covers (only an OSC's closing ``ESC \\`` is inside one), so
matching the ESC alternatives alone finds the same sequences; the stray controls ``_ANSI`` removes one by one
are what is left of :data:`_CONTROLS` after them."""
_CONTROLS = bytes([*range(0x09), *range(0x0B, 0x20), 0x7F])
"""Every C0 control but tab and newline, and DEL (``_ANSI``'s last alternative)."""
_INNER_CR = re.compile(rb"\r[^\r\n]")
"""A carriage return something is drawn after (a trailing one, ``\\r\\n``, hides nothing: it is a stray control)."""
_CR_BACKWARDS = re.compile(rb"\r(?<=[^\r\n]\r)[^\n]*")
"""On the reversed chunk: a line's last non-empty ``\\r``-part comes first, and from the carriage return after it
to the line's end is what that part overwrote."""


_SEQUENCE = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n\r]*(?:\x07|\x1b\\)|[@-Z^_])")
"""A complete escape sequence that is the same wherever it stands: a CSI sequence, an OSC string with its end,
a two-byte escape but ``ESC \\`` (an OSC's end) and ``ESC ]`` (an OSC's start). :data:`_ESCAPE` matches every
occurrence of one as it is (an ESC is covered by no earlier match unless it ends an OSC)."""
_MARKS = bytes([*range(0x1C, 0x20), *range(0x0E, 0x1B)])
"""Controls a chunk is searched for in turn: the first it does not hold stands for its common sequences."""
_ESCAPE_MARKED = {z: re.compile(_ESCAPE.pattern.replace(rb"[^\x07\x1b\n]", rb"[^\x07\x1b\n" + bytes([z]) + rb"]"))
                  for z in _MARKS}
""":data:`_ESCAPE` with an OSC string stopping at the mark too: a mark stands where an escape sequence stood,
and is to every match before it what the sequence's ESC was — it ends a CSI and an OSC string (and is no
``ESC \\``), and makes an ESC before it a lone one; the stray-control pass then drops it."""
COMMON_SAMPLE = 8192
COMMON_MIN = 64
"""A sequence seen this often in the first COMMON_SAMPLE bytes of a chunk is replaced by one ``bytes.replace``
(~40 ns an occurrence) instead of one sre match each (~120 ns)."""


def _common_sequences(chunk: bytes) -> list[bytes]:
    """The sequences of :data:`_SEQUENCE` a big chunk repeats (its colours, its cursor moves): a guess from
    its first bytes, which only decides what is cheaper — any such sequence may be replaced by a mark."""
    if len(chunk) < 4 * COMMON_SAMPLE:
        return []
    counts = Counter(_SEQUENCE.findall(chunk, 0, COMMON_SAMPLE))
    return [seq for seq, n in counts.items() if n >= COMMON_MIN]


def clean_chunk(chunk: bytes) -> bytes:
    """Every line of ``chunk`` as :func:`clean_line` shows it (the rstrip aside), joined by ``\\n`` — at C speed
    (compiled passes over the whole chunk, not two Python calls per line): a line's text after its last
    carriage return that something follows, then :data:`_ESCAPE` removed, then the stray controls. Nothing a
    terminal acts on is left: no C0 control but tab and newline, no DEL. Invalid UTF-8 is replaced first, as
    the line path's decode does (removing an escape between two stray bytes could otherwise join them into
    a character); all the passes remove ASCII bytes, so a character is never cut."""
    if not chunk.isascii():
        try:
            chunk.decode()
        except UnicodeDecodeError:
            chunk = chunk.decode("utf-8", errors="replace").encode()
    if b"\r" in chunk and _INNER_CR.search(chunk):
        chunk = _CR_BACKWARDS.sub(b"", chunk[::-1])[::-1]
    escape = _ESCAPE
    common = _common_sequences(chunk)
    mark = next((z for z in _MARKS if z not in chunk), None) if common else None
    if mark is not None:  # the chunk's common sequences: one C-speed replace each, then the rest matched
        for seq in common:
            chunk = chunk.replace(seq, bytes([mark]))
        escape = _ESCAPE_MARKED[mark]
    return escape.sub(b"", chunk).translate(None, _CONTROLS)


def _default_errors(adapter: AgentAdapter) -> bool:
    return adapter.error_pattern is DEFAULT_ERROR_RE and type(adapter).is_error is AgentAdapter.is_error


def _clean(raw: bytes) -> str:
    return clean_line(raw.decode("utf-8", errors="replace"))


def split_chunk(adapter: AgentAdapter, chunk: bytes) -> Lines:
    """``chunk``: complete lines joined by ``\\n`` (no trailing newline)."""
    if chunk.translate(None, _NOT_CONTROL):  # escapes, carriage returns: each line as a terminal shows it
        chunk = clean_chunk(chunk)
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
    for start in sorted(spans):  # no control bytes (left): a line shows as its own text, clean_line is rstrip
        line = chunk[start:spans[start]].decode("utf-8", errors="replace").rstrip()
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
