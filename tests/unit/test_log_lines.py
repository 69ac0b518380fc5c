"""Skimming big log chunks (engine/log_lines.py) finds exactly the error lines and the tail that reading
every line finds — the fast path must never lose a trigger the rules would have raised."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cortex_tui.agents import get_adapter
from cortex_tui.agents.base import DEFAULT_ERROR_RE, AgentAdapter
from cortex_tui.engine import log_lines
from cortex_tui.engine.log_lines import SKIM_MIN, TAIL_LINES, Lines, clean_chunk, every_line, split_chunk
from cortex_tui.watch.text import clean_line

PIECES = [
    "compiling module_{i}.py ... ok", "Error: disk quota {i}", "ValueError: bad value {i}", "error[E0308]: mismatch",
    "fatal: not a git repository", "FAILED tests/test_x.py::t{i}", "panic: runtime error", "ERROR something {i}",
    "  Traceback (most recent call last):", "all errors are fine here {i}", "errors: none", "terror {i}",
    "MyError", "xError", "résumé Error {i} ü", "\tError: with a tab", "", "   ", "Exception", "no problem {i}",
    "a\u00a0Error", "FAILEDX", "error:", "notanerror:x",
]


def corpus(seed: int, n: int) -> bytes:
    rnd = random.Random(seed)
    lines = [rnd.choice(PIECES).format(i=i) for i in range(n)]
    raw = "\n".join(lines).encode()
    raw += b"\n\xff\xfe invalid utf-8 Error: after bytes"
    return raw


def test_skim_finds_every_error_line_and_the_same_tail() -> None:
    adapter = get_adapter("shell")
    for seed in range(5):
        chunk = corpus(seed, 20000)
        assert len(chunk) >= SKIM_MIN
        fast = split_chunk(adapter, chunk)
        slow = every_line(adapter, chunk.split(b"\n"))
        assert fast.skimmed and not slow.skimmed
        assert fast.errors == slow.errors and len(slow.errors) > 1000
        assert fast.lines == slow.lines[-TAIL_LINES:]


def test_control_bytes_are_cleaned_before_the_skim() -> None:
    """An escape inside a word: only the terminal's view of the line shows 'Error' — the raw bytes are never
    skimmed, the cleaned ones are."""
    adapter = get_adapter("shell")
    chunk = corpus(9, 20000) + b"\nErr\x1b[0mor: split by an escape"
    got = split_chunk(adapter, chunk)
    assert got.skimmed
    assert got.errors[-1] == "Error: split by an escape"
    assert got.errors == every_line(adapter, chunk.split(b"\n")).errors


def test_small_chunks_are_read_line_by_line() -> None:
    got = split_chunk(get_adapter("shell"), b"one\nError: two\n\nthree")
    assert not got.skimmed and got.lines == ["one", "Error: two", "three"] and got.errors == ["Error: two"]


def test_the_one_pass_scan_and_the_per_word_scan_find_the_same_lines() -> None:
    """ahocorasick-rs when installed, bytes.find per word where its wheel is missing: the same result."""
    import pytest

    assert log_lines._SCAN is not None  # the dependency is installed here: the fast scan is the one measured
    adapter = get_adapter("shell")
    chunk = corpus(3, 20000) + "\nrésumé ÉError: é\n".encode() + b"ErrorError: twice\nFAILEDFAILED"
    fast = split_chunk(adapter, chunk)
    mp = pytest.MonkeyPatch()
    mp.setattr(log_lines, "_SCAN", None)
    try:
        by_find = split_chunk(adapter, chunk)
    finally:
        mp.undo()
    slow = every_line(adapter, chunk.split(b"\n"))
    assert fast.skimmed and by_find.skimmed
    assert fast.errors == by_find.errors == slow.errors
    assert fast.lines == by_find.lines == slow.lines[-TAIL_LINES:]


def test_small_plain_chunks_give_what_reading_every_line_gives() -> None:
    """The small-chunk fast path (decoded once; no line tested when no error word is in the chunk) keeps every
    line and every error line, for the default rule and for an adapter with its own (aider)."""
    for name in ("shell", "aider"):
        adapter = get_adapter(name)
        for seed in range(40):
            chunk = corpus(seed, 30)
            quiet = b"\n".join(ln for ln in chunk.split(b"\n") if not any(w in ln.lower() for w in (
                b"error", b"exception", b"traceback", b"fatal", b"failed", b"panic")))
            for c in (chunk, quiet, b"  \n\t\n" + quiet):
                assert len(c) < SKIM_MIN
                fast = split_chunk(adapter, c)
                slow = every_line(adapter, c.split(b"\n"))
                assert (fast.lines, fast.errors, fast.skimmed) == (slow.lines, slow.errors, False)
        assert split_chunk(adapter, corpus(1, 30)).errors  # the corpus has error lines: the check can fail


# ---------------------------------------------------------------------------------------------------------
# a TUI agent's chunks (escapes, carriage returns): cleaned whole (clean_chunk), then skimmed as plain text

AGENT_LOGS = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "agents").glob("*/*/pane-*.log"))
"""Raw pane logs (pipe-pane, escapes and all) of the real CLIs — Claude Code, Codex, Gemini, OpenCode, Aider —
supervised by the engine: `pane-repeated-error.log` recorded by tests/conformance test_repeated_error (the
same failing shell command three times), Aider's `pane-turn.log` by hand."""

HOSTILE = [
    "Err", "or", "Error: boom", "Error", "\x1b[0m", "\x1b[31m", "\x1b[", "\x1b[1C", "\x1b[?25l", "\x1b[2K", "\x1b[ q",
    "\x1b[12;40H", "\x1b]0;title", "\x07", "\x1c", "\x1f", "\x1b\\", "\x1b]8;;https://x.invalid\x1b\\", "\x1bP1$r", "\x1b7", "\x1b8",
    "\x1b=", "\x1b", "\x1b\x1b", "\x1b]", "\x1bE", "\r", "\r\n", "\n", "\n", "\x9b31m", "\x9d0;t\x9c", "\xc2\x9b",
    "\xff", "\xc3", "\xa9", "\xe2\x82", "é", "✓", "  ", "\t", "\x00", "\x08", "\x7f", "\x0c", "fatal:", "FAILED",
    "Traceback", "panic:", "ERROR", "Exception", "[31m", "31m", "1C", "e", "r", "ValueError: conformance boom",
    " x ", "error[E0308]:", "error:",
]
"""Pieces of hostile output: an escape splitting "Err" + "or", carriage-return overwrites, partial escapes,
OSC/DCS strings (BEL- and ST-terminated, unterminated), 8-bit C1 controls, invalid UTF-8, stray controls."""


def _piece(rnd: random.Random) -> bytes:
    """A piece as raw 8-bit bytes (``\x9b`` a C1 byte, ``\xc3`` a stray one) or as UTF-8 (``\u009b``)."""
    p = rnd.choice(HOSTILE)
    return p.encode("latin-1") if rnd.random() < 0.5 and max(p) < "\u0100" else p.encode()


def _hostile(rnd: random.Random, n: int) -> bytes:
    return b"".join(_piece(rnd) for _ in range(n))


def _same(adapter: AgentAdapter, chunk: bytes) -> Lines:
    """The fast path's lines, errors (and so progress, the last line) are the line-by-line path's."""
    fast = split_chunk(adapter, chunk)
    slow = every_line(adapter, chunk.split(b"\n"))
    assert fast.errors == slow.errors
    assert fast.lines == (slow.lines[-TAIL_LINES:] if fast.skimmed else slow.lines)
    for line in [*fast.lines, *fast.errors]:  # nothing a terminal would act on is published
        assert not any((c < " " and c != "\t") or c == "\x7f" for c in line), line
    return fast


def test_clean_chunk_is_clean_line_of_every_line() -> None:
    """The core equivalence, line by line, on the real agents' logs and on hostile pieces."""
    chunks = [p.read_bytes() for p in AGENT_LOGS]
    rnd = random.Random(7)
    chunks += [_hostile(rnd, rnd.randrange(1, 400)) for _ in range(3000)]
    for chunk in chunks:
        clean = clean_chunk(chunk).decode().split("\n")
        assert [ln.rstrip() for ln in clean] == [clean_line(raw.decode("utf-8", "replace")) for raw in chunk.split(b"\n")]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_clean_chunk_of_any_bytes(chunk: bytes) -> None:
    clean = clean_chunk(chunk).decode().split("\n")
    assert [ln.rstrip() for ln in clean] == [clean_line(raw.decode("utf-8", "replace")) for raw in chunk.split(b"\n")]
    assert not clean_chunk(chunk).translate(None, log_lines._NOT_CONTROL)  # no control byte but tab and newline


def test_real_agents_screens_skimmed_as_read_line_by_line() -> None:
    """Each recorded agent's pane log, whole and cut anywhere (a chunk may start or end inside an escape: a
    line longer than MAX_PARTIAL is cut where it is), repeated past SKIM_MIN: the same error lines, tail and
    progress as the line-by-line path — the ValueError Aider and Gemini printed among them (Claude Code moves
    down with ``CSI B``, not a newline, and Codex and OpenCode redraw in place: the line cleaner keeps the text
    after a line's last carriage return, so neither path sees theirs — the same on both paths)."""
    assert {p.parts[-3] for p in AGENT_LOGS} >= {"claude-code", "codex", "gemini", "opencode", "aider"}
    rnd = random.Random(3)
    for name in ("shell", "aider"):  # the default error rule (every other adapter's) and Aider's own
        adapter = get_adapter(name)
        for path in AGENT_LOGS:
            raw = path.read_bytes().rstrip(b"\n")
            big = b"\n".join([raw] * (SKIM_MIN // len(clean_chunk(raw)) + 2))  # past SKIM_MIN cleaned
            got = _same(adapter, big)
            assert got.skimmed == (adapter.error_pattern is DEFAULT_ERROR_RE and type(adapter).is_error is
                                   AgentAdapter.is_error)
            if path.name == "pane-repeated-error.log" and name == "shell" and path.parts[-3] in ("aider", "gemini"):
                assert any("ValueError" in e for e in got.errors), path
            for _ in range(12):
                a = rnd.randrange(len(raw))
                _same(adapter, raw[a:rnd.randrange(a, len(raw) + 1)])
                _same(adapter, big[a:a + SKIM_MIN + rnd.randrange(len(raw))])


def test_hostile_chunks_skimmed_as_read_line_by_line() -> None:
    """An escape splitting "Err" + "or", CR overwrites, partial escapes at both ends, OSC/DCS strings, C1
    controls, invalid UTF-8 — small chunks and skimmed ones give what reading every line gives."""
    rnd = random.Random(11)
    skimmed = 0
    for name in ("shell", "aider"):
        adapter = get_adapter(name)
        for i in range(600):
            skimmed += _same(adapter, _hostile(rnd, rnd.randrange(1, 200) if i % 20 else 30000)).skimmed
    assert skimmed >= 20  # the big ones went the skimmed way
    shell = get_adapter("shell")
    for chunk, error in [
        (b"Err\x1b[0mor: split by an escape", "Error: split by an escape"),
        (b"progress 10%\rprogress 99%\rError: after the bar", "Error: after the bar"),
        (b"\x1b]0;Err\x07Err\x1b[31m\x1b[1mor\x1b[0m: in red\r\r", "Error: in red"),
        (b"Err\x9bor: a C1 byte is no escape here", None),
        (b"\xc3\x1b[0m\xa9 Error: stray bytes stay two", "\ufffd\ufffd Error: stray bytes stay two"),
    ]:
        for c in (chunk, b"\n".join([b"x" * 100] * (SKIM_MIN // 100) + [chunk])):
            got = _same(shell, c)
            assert got.errors == ([error] if error else [])


def test_common_sequences_replaced_by_a_mark_give_the_same_lines() -> None:
    """A chunk repeating a few sequences (a TUI's colours, cursor moves, its title) has them replaced by one
    ``bytes.replace`` each, by a control byte the chunk does not hold: still clean_line of every line, among
    hostile pieces; with every mark byte in the chunk, none is used, and the lines are the same."""
    assert all(p.pattern != log_lines._ESCAPE.pattern for p in log_lines._ESCAPE_MARKED.values())
    rnd = random.Random(5)
    common = [b"\x1b[0m", b"\x1b[38;5;246m", b"\x1b]0;Err\x07", b"\x1b]8;;x\x1b\\", b"\x1bM", b"\x1b[1C", b"\r\n"]
    shell = get_adapter("shell")
    for i in range(40):
        chunk = b"".join(rnd.choice(common) if rnd.random() < 0.6 else _piece(rnd) for _ in range(20000))
        if i % 4 == 0:
            chunk += bytes(log_lines._MARKS)
        used = log_lines._common_sequences(chunk)
        assert len(used) >= 3, used
        clean = clean_chunk(chunk).decode().split("\n")
        assert [ln.rstrip() for ln in clean] == [clean_line(raw.decode("utf-8", "replace"))
                                                 for raw in chunk.split(b"\n")]
        _same(shell, chunk)
