"""approve/deny make sure the agent took the answer: a dialog that drops the keys of its first moments
(Codex 0.171.0 drops a key sent within ~20 ms of its approval dialog's first frame) gets them once more, a
dialog that never takes them is reported, and an answer taken late is never sent twice. Real tmux, a real pane
program that draws Codex's dialog and records every byte it reads."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from cortex_tui.agents.codex import make
from cortex_tui.backends.tmux import Tmux
from cortex_tui.engine import actions
from cortex_tui.model.state import SessionRecord, SessionState

DIALOG = """  Would you like to run the following command?

  Reason: Run echo no > denied.txt?

  $ echo no > denied.txt

› 1. Yes, proceed (y)
  2. Yes, and don't ask again for commands that start with `echo no > denied.txt` (p)
  3. No, and tell Codex what to do differently (esc)

  Press enter to confirm or esc to cancel"""

# argv: mode ms bytes-file. deaf: input read within ms of the dialog's drawing is dropped; late: a key is read
# at once but the dialog goes only ms later; never: the dialog never goes. Every byte read is appended to the
# file (the dropped ones too: what was sent, not what was taken).
PANE = r"""
import os, select, sys, termios, time, tty
mode, ms, out = sys.argv[1], int(sys.argv[2]) / 1000, sys.argv[3]
tty.setraw(0)
time.sleep(0.3)
sys.stdout.write("\x1b[2J\x1b[H" + DIALOG.replace("\n", "\r\n"))
sys.stdout.flush()
drawn = time.monotonic()
while True:
    select.select([0], [], [])
    data = os.read(0, 100)
    with open(out, "ab") as f:
        f.write(data)
    if mode == "never" or (mode == "deaf" and time.monotonic() - drawn < ms) or b"\x1b" not in data:
        continue
    if mode == "late":
        time.sleep(ms)
    sys.stdout.write("\x1b[2J\x1b[H  denied\r\n")
    sys.stdout.flush()
"""


def _pane(tmp_path: Path, mode: str, ms: int) -> tuple[Tmux, SessionRecord, Path]:
    script = tmp_path / "pane.py"
    script.write_text(f"DIALOG = {DIALOG!r}\n{PANE}")
    got = tmp_path / "bytes"
    got.write_bytes(b"")
    tmux = Tmux(f"answer-{mode}")
    tmux.ensure_server(tmp_path, "answer test")
    win = tmux.new_window(name="agent", cwd=tmp_path, argv=[sys.executable, str(script), mode, str(ms), str(got)],
                          env={}, log_path=tmp_path / "pane.log", tag="agent", run="answer")
    rec = SessionRecord(name="agent", slug="agent", agent="codex", branch="b", worktree=str(tmp_path),
                        state=SessionState.WAITING, pane_id=win.pane_id)
    return tmux, rec, got


def _screen(tmux: Tmux, rec: SessionRecord) -> str:
    return tmux.capture(rec.pane_id or "", lines=60)


def test_keys_dropped_by_a_new_dialog_are_sent_once_more(tmp_path: Path) -> None:
    tmux, rec, got = _pane(tmp_path, "deaf", 300)
    # called before the dialog is drawn: the answer's first sight of it is its first frame (a fresh waiting)
    prompt = actions.answer(tmux, rec, False, make())
    assert prompt.text.startswith("Would you like to run the following command?")
    assert "denied" in _screen(tmux, rec)
    assert got.read_bytes() == b"\x1b\x1b"  # dropped once, taken the second time


def test_an_answer_taken_late_is_not_sent_twice(tmp_path: Path) -> None:
    tmux, rec, got = _pane(tmp_path, "late", 500)
    actions.answer(tmux, rec, False, make())
    assert "denied" in _screen(tmux, rec)  # answer() returned: the dialog went
    time.sleep(1.5)  # past a second ANSWER_TAKE_S
    assert got.read_bytes() == b"\x1b"


def test_an_answer_never_taken_is_reported_after_one_resend(tmp_path: Path) -> None:
    tmux, rec, got = _pane(tmp_path, "never", 0)
    with pytest.raises(actions.AnswerNotTaken, match="did not take the deny"):
        actions.answer(tmux, rec, False, make())
    assert got.read_bytes() == b"\x1b\x1b"
    assert "Would you like to run" in _screen(tmux, rec)


def test_an_agent_without_answer_retry_gets_its_keys_once(tmp_path: Path) -> None:
    tmux, rec, got = _pane(tmp_path, "never", 0)
    adapter = make()
    adapter.answer_retry = False
    actions.answer(tmux, rec, False, adapter)
    time.sleep(0.5)
    assert got.read_bytes() == b"\x1b"
