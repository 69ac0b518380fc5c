"""Agent-chosen names never reach a terminal or a CI log raw (#12 item 2, and the JUnit / step-summary
items): a real headless run (real tmux, git, sim agent) whose agent creates files named with an OSC 52
clipboard write, ``\\e[2J`` and ``x\\n::error::y``, in a session named with ``|`` and U+FFFE; then every
surface — CI annotations, step summary, JUnit, headless progress, status.md, ``status``, ``events``,
``review show``, ``review list``, ``clean`` — is checked for raw control bytes and injected lines."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from engine_helpers import cli

from cortex_tui.text import md_cell, visible, visible_data

OSC52 = "osc\x1b]52;c;cHduZWQ=\x07-\x1b[2J.txt"
NEWLINE = "x\n::error::y"
LEFT = "left\x1b[2Jover\n::warning::z"
PIPE_NAME = "pipe|name\ufffe"

LAYOUT = r"""
[run]
name = "names"
[defaults]
agent = "sim"
[[session]]
name = "plain"
scope = ["src/**"]
script = ["write 'osc\u001b]52;c;cHduZWQ=\u0007-\u001b[2J.txt' a", "write 'x\n::error::y' b",
          "commit add: \u001b]52;c;cHduZWQ=\u0007 files", "write 'left\u001b[2Jover\n::warning::z' c"]
[[session]]
name = "pipe|name\uFFFE"
script = ["write src/ok.txt fine", "commit ok", "error boom \u001b[31m red", "exit 3"]
"""

RAW = ("\x1b", "\x07", "\ufffe", "\x9b")


PROBLEMS: list[str] = []


def _expect(ok: object, what: str) -> None:
    if not ok:
        PROBLEMS.append(f"expected: {what}")


def _no_raw(what: str, text: str) -> None:
    """Collects (does not stop at) a surface showing raw bytes or injected lines: all are reported."""
    bad = [ch for ch in RAW if ch in text]
    if bad:
        PROBLEMS.append(f"{what}: raw {bad!r} in: {text[:300]!r}")
    injected = [ln for ln in text.splitlines() if ln.lstrip().startswith(("::error::", "::warning::", "::y", "::z"))]
    if injected:
        PROBLEMS.append(f"{what}: injected workflow command line(s) {injected!r}")


def test_visible_escapes_everything_unsafe() -> None:
    assert visible(OSC52) == "osc\\x1b]52;c;cHduZWQ=\\x07-\\x1b[2J.txt"
    assert visible(NEWLINE) == "x\\n::error::y"
    assert visible("a\u202eb\u200bc\u2028d\ufffe\U0010fffe") == "a\\u202eb\\u200bc\\u2028d\\ufffe\\U0010fffe"
    assert visible("bad-\udcff-byte") == "bad-\\xff-byte"  # os.fsdecode of an undecodable file name
    assert visible("\x9b2J c1") == "\\x9b2J c1"
    assert visible("tab\there\r") == "tab\\there\\r"
    assert visible("ünïcødé ✓ 漢字 | plain") == "ünïcødé ✓ 漢字 | plain"
    assert visible("l1\nl2\x1b", keep_newlines=True) == "l1\nl2\\x1b"
    assert visible_data({"p\x1b": ["a\n", 3, None]}) == {"p\\x1b": ["a\\n", 3, None]}
    assert md_cell("a|b\n") == "a\\|b\\n"


def test_unsafe_ranges_match_unicodedata() -> None:
    """The sanitizer's character ranges are exactly Cc, Cf, Cs, Zl, Zp and the noncharacters."""
    import unicodedata

    from cortex_tui.text import _UNSAFE

    for o in range(0x110000):
        ch = chr(o)
        cat = unicodedata.category(ch)
        want = cat in ("Cc", "Cf", "Cs", "Zl", "Zp") or (cat == "Cn" and ((o & 0xFFFE) == 0xFFFE
                                                                          or 0xFDD0 <= o <= 0xFDEF))
        assert bool(_UNSAFE.match(ch)) == want, (hex(o), cat)


def _row_cells(row: str) -> list[str]:
    cells, cur, i = [], "", 0
    while i < len(row):
        if row[i] == "\\" and i + 1 < len(row):
            cur += row[i:i + 2]
            i += 2
            continue
        if row[i] == "|":
            cells.append(cur)
            cur = ""
        else:
            cur += row[i]
        i += 1
    cells.append(cur)
    return cells[1:-1]


def test_hostile_names_through_every_surface(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = tmp_path / "names.toml"
    layout.write_text(LAYOUT)
    summary, junit = tmp_path / "summary.md", tmp_path / "junit.xml"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    PROBLEMS.clear()
    r = cli("run", str(layout), "--repo", str(git_repo), "--headless", "--junit", str(junit), check=False, timeout=120)
    assert r.returncode == 1, r.stderr  # "pipe|name" exits 3
    repo = ["--repo", str(git_repo)]

    # CI: annotations (stdout), progress (stderr), step summary, JUnit
    _no_raw("annotations", r.stdout)
    _no_raw("headless progress", r.stderr)
    _expect(any(ln.startswith(("::warning ", "::error ")) and "out_of_scope" in ln and "x\\n::error::y" in ln
               for ln in r.stdout.splitlines()), "an out_of_scope annotation with the newline name escaped")
    _expect("\\x1b]52" in r.stdout, "annotations show the OSC 52 name escaped")
    md = summary.read_text()
    _no_raw("step summary", md)
    rows = [ln for ln in md.splitlines() if ln.startswith("| pipe")]
    _expect(len(rows) == 1 and len(_row_cells(rows[0])) == 8 and _row_cells(rows[0])[0].strip() == "pipe\\|name\\ufffe",
            f"step summary row {rows!r}")
    raw_xml = junit.read_text()
    _no_raw("junit", raw_xml)
    try:
        suite = ET.parse(junit).getroot()  # well-formed
        names = sorted(c.get("name") or "" for c in suite.iter("testcase"))
        _expect(names == ["pipe|name\\ufffe", "plain"], f"junit names {names!r}")
    except ET.ParseError as e:
        PROBLEMS.append(f"junit: not well-formed: {e}")

    # status.md and the CLI
    status_md = (git_repo / "coordination/status.md").read_text()
    _no_raw("status.md", status_md)
    _expect("pipe\\|name\\ufffe" in status_md, "status.md names the pipe session escaped")
    out = cli("status", *repo).stdout
    _no_raw("status", out)
    _expect("pipe|name\\ufffe" in out, "status names the pipe session")
    out = cli("events", *repo).stdout
    _no_raw("events", out)
    _expect("x\\n::error::y" in out or "x\\\\n::error::y" in out, "events show the newline name escaped")
    out = cli("review", "show", "plain", *repo).stdout
    _no_raw("review show", out)
    _expect("osc\\x1b]52;c;cHduZWQ=\\x07-\\x1b[2J.txt" in out and "x\\n::error::y" in out, "review show lists both names escaped")
    _expect("add: \\x1b]52" in out, "review show: the commit subject escaped too")
    _no_raw("review list", cli("review", "list", *repo).stdout)
    out = cli("clean", "--older-than", "0s", *repo, check=False).stdout
    _no_raw("clean", out)
    _expect("pipe|name\\ufffe" in out, "clean names the pipe session")
    assert not PROBLEMS, "\n".join(p[:140] for p in PROBLEMS)
