"""Skimming big log chunks (engine/log_lines.py) finds exactly the error lines and the tail that reading
every line finds — the fast path must never lose a trigger the rules would have raised."""

from __future__ import annotations

import random

from cortex_tui.agents import get_adapter
from cortex_tui.engine.log_lines import SKIM_MIN, TAIL_LINES, every_line, split_chunk

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


def test_control_bytes_take_the_line_by_line_path() -> None:
    """An escape inside a word: only the terminal's view of the line shows 'Error' — never skimmed."""
    adapter = get_adapter("shell")
    chunk = corpus(9, 20000) + b"\nErr\x1b[0mor: split by an escape"
    got = split_chunk(adapter, chunk)
    assert not got.skimmed
    assert got.errors[-1] == "Error: split by an escape"


def test_small_chunks_are_read_line_by_line() -> None:
    got = split_chunk(get_adapter("shell"), b"one\nError: two\n\nthree")
    assert not got.skimmed and got.lines == ["one", "Error: two", "three"] and got.errors == ["Error: two"]


def test_the_one_pass_scan_and_the_per_word_scan_find_the_same_lines() -> None:
    """ahocorasick-rs when installed, bytes.find per word where its wheel is missing: the same result."""
    import pytest

    from cortex_tui.engine import log_lines

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
