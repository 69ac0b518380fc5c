"""#21: the TUI's desktop notification through its terminal (OSC 9 / OSC 777 / bell) when ``terminal_notify``
is set. A real Textual app under Pilot; what it writes to the terminal is read from Textual's driver (the
one writer of the terminal). Agent-controlled text (session names, trigger evidence) never gets a control
character through."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from synthetic_engine import SyntheticEngine
from textual.pilot import Pilot

from cortex_tui.errors import CortexError
from cortex_tui.notify.terminal import kind_for, sequence
from cortex_tui.settings import load_user_config
from cortex_tui.ui.app import CortexApp

HOSTILE = "\x1b]52;c;aGVsbG8=\x07 rm -rf /\x9c\x1b[2J;x\r\nnext"
OSC9 = re.compile("\x1b\\]9;(.*?)\x07", re.S)
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def captured_writes(app: CortexApp) -> list[str]:
    """Everything the app writes to its terminal from now on (the headless driver writes nowhere)."""
    driver = app._driver
    assert driver is not None
    out: list[str] = []
    write = driver.write

    def tee(data: str) -> None:
        out.append(data)
        write(data)

    driver.write = tee  # type: ignore[method-assign]
    return out


async def settle(pilot: Pilot[None], pred: Any, what: str) -> None:
    for _ in range(400):
        if pred():
            return
        await pilot.pause(0.025)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("setting", [True, "osc9"])
async def test_a_trigger_notifies_through_the_terminal_sanitised(setting: Any) -> None:
    eng = SyntheticEngine(3)
    name = next(iter(eng.state.sessions))
    app = CortexApp(eng, ticking=False, terminal_notify=setting)
    app.terminal_notifier.env = {"TERM": "xterm-256color"}  # not VTE, not inside tmux: OSC 9
    async with app.run_test(size=(120, 32)) as pilot:
        writes = captured_writes(app)
        eng.raise_trigger(name, "approval_waiting", "warning", prompt=f"? {HOSTILE} [y/n]")
        await settle(pilot, lambda: app.terminal_notifier.sent == 1, "the notification")
        await pilot.pause(0.1)
    sent = "".join(writes)
    notes = OSC9.findall(sent)
    assert len(notes) == 1, repr(sent[:400])
    assert notes[0].startswith(f"cortex-tui trigger: {name}: ") and "waiting for approval: ? " in notes[0]
    assert not CONTROL.search(notes[0]), repr(notes[0])  # no ESC, BEL, CR/LF or C1 inside the sequence
    assert "\\x1b]52;c;aGVsbG8=\\x07 rm -rf /\\x9c\\x1b[2J;x" in notes[0]  # shown as escapes, not dropped
    assert "\x1b]52" not in sent  # the agent's OSC 52 (clipboard write) never reached the terminal


async def test_off_by_default_nothing_is_written() -> None:
    eng = SyntheticEngine(2)
    name = next(iter(eng.state.sessions))
    app = CortexApp(eng, ticking=False)
    async with app.run_test(size=(120, 32)) as pilot:
        writes = captured_writes(app)
        eng.raise_trigger(name, "silence", "warning", silent_for_s=20.0, threshold_s=15.0)
        await settle(pilot, lambda: app.trigger_toasts.toasts == 1, "the toast")
        await pilot.pause(0.1)
    assert app.terminal_notifier.sent == 0 and "\x1b]9;" not in "".join(writes) and "\x07" not in "".join(writes)


def test_sequences_for_each_terminal_kind() -> None:
    assert kind_for(False, {"TERM": "xterm"}) is None
    assert kind_for(True, {"TERM": "xterm-256color"}) == "osc9"
    assert kind_for(True, {"TERM": "xterm-256color", "VTE_VERSION": "7600"}) == "osc777"
    assert kind_for(True, {"TERM": "foot"}) == "osc777"
    assert kind_for("bell", {}) == "bell"
    s777 = sequence("osc777", "cortex-tui; x", f"api: {HOSTILE}")
    assert s777.startswith("\x07\x1b]777;notify;cortex-tui, x;api: ") and s777.endswith("\x07")
    assert not CONTROL.search(s777[len("\x07\x1b]777;"):-1])
    assert sequence("bell", "t", HOSTILE) == "\x07"
    assert sequence("osc9", "4", "progress?").startswith("\x07\x1b]9;cortex-tui 4: ")  # never a ConEmu 9;4
    long = sequence("osc9", "t", "y" * 5000)
    assert len(long) < 500 and long.endswith("…\x07")
    wrapped = sequence("osc9", "t", "b", in_tmux=True)
    assert wrapped == "\x07\x1bPtmux;\x1b\x1b]9;t: b\x07\x1b\\"


def test_user_config_setting_is_validated(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text('terminal_notify = "osc777"\n')
    assert load_user_config(p).terminal_notify == "osc777"
    p.write_text('\nterminal_notify = "loud"\n')
    with pytest.raises(CortexError, match=r"config.toml:2: field 'terminal_notify"):
        load_user_config(p)
