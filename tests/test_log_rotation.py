"""Long runs (#18): session logs rotate at ``log_max`` (head dropped in place, offsets kept) and re-attach
catch-up works across the rotation point; a re-attach over a large unread log is read in turns and still
raises every trigger the rules would have raised.

Real tmux, real git, real agents (sim adapter running small Python scripts); supervisors stopped and started
again as a crash or a quit would leave them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from engine_helpers import cli, make_sup, triggers, wait_for

from cortex_tui.engine import logrotate
from cortex_tui.engine.events import Event
from cortex_tui.engine.supervisor import Supervisor
from cortex_tui.store.logs import log_start, read_index

CHATTY = r'''
import os, sys, time
gate = sys.argv[1]
for i in range(24000):  # ~1.4 MB of plain lines, quickly
    print(f"build step {i:05d}: compiling a module of the project ... ok", flush=(i % 200 == 0))
sys.stdout.flush()
while not os.path.exists(gate):
    time.sleep(0.05)
for w in ("alpha", "beta"):
    print(f"Error: {w} broke after the rotation", flush=True)
    print(f"Error: {w} broke after the rotation", flush=True)
print("last line after the gate", flush=True)
time.sleep(600)
'''


def layout(script: Path, gate: Path, log_max: str = "256KB") -> str:
    return f"""
[run]
name = "rot"
log_max = "{log_max}"
[[session]]
name = "chatty"
agent = "sim"
silence_after = "1h"
error_repeats = 2
error_window = "1h"
command = "{sys.executable} {script} {gate}"
"""


async def supervise_until(sup: Supervisor, pred: object, what: str, timeout: float = 60) -> None:
    await sup.start()
    task = asyncio.create_task(sup.supervise(until_done=False))
    try:
        await wait_for(pred, timeout, what)  # type: ignore[arg-type]
    finally:
        sup.request_stop()
        await task
        await sup.shutdown()


def test_rotation_then_reattach_across_the_rotation_point(git_repo: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logrotate, "CHECK_S", 0.0)
    script, gate = tmp_path / "chatty.py", tmp_path / "gate"
    script.write_text(CHATTY)
    text = layout(script, gate)
    sup1 = make_sup(git_repo, text, tmp_path)
    log = sup1.store.log_path("chatty")
    # first supervisor: reads the flood, saves its offset, drops the head of the log
    asyncio.run(supervise_until(sup1, lambda: log_start(log) > 0 and sup1.state.sessions["chatty"].log_offset
                                > 1_000_000 and os.stat(log).st_blocks * 512 < 400 * 1024, "the log rotated"))
    idx = read_index(log)
    st = os.stat(log)
    assert idx.rotations >= 1 and idx.start > 0
    assert st.st_size > 1_000_000  # every offset is kept…
    assert st.st_blocks * 512 < 400 * 1024  # …but at most log_max (256 KB, plus a block or so) is on disk
    with open(log, "rb") as f:
        assert f.read(4096) == b"\0" * 4096  # the head is a hole now
    saved = sup1.state.sessions["chatty"].log_offset
    assert saved >= idx.start  # only what the saved state had consumed was dropped
    # while no supervisor watches, the agent goes on (errors after the rotation point)
    gate.write_text("go")
    asyncio.run(asyncio.wait_for(wait_for(lambda: b"last line after the gate" in log.read_bytes()[-4096:], 30,
                                          "the agent's late output"), 40))
    # a second supervisor re-attaches from the saved offset, across the rotation point
    sup2 = make_sup(git_repo, text, tmp_path)
    seen: list[Event] = []
    sup2.subscribe(seen.append)
    asyncio.run(supervise_until(sup2, lambda: len(triggers(seen, "repeated_error", "chatty")) >= 2, "both triggers"))
    fps = sorted(str(e.data["evidence"].get("normalized")) for e in triggers(seen, "repeated_error", "chatty"))
    assert fps == ["Error: alpha broke after the rotation", "Error: beta broke after the rotation"], fps
    out = [ln for e in seen if e.kind == "output" for ln in e.data["lines"]]
    assert out and not any("\0" in ln for ln in out)  # nothing from the hole was read
    assert "build step" not in " ".join(out)  # nothing was read twice
    # `cortex-tui logs` prints the tail (never the hole)
    r = cli("logs", "chatty", "--repo", str(git_repo), "-n", "3")
    assert r.stdout.splitlines()[-1] == "last line after the gate" and "\0" not in r.stdout
    sup2.tmux.kill_server()


ASKER = r'''
import os, sys, time
gate = sys.argv[1]
print("ready", flush=True)
while not os.path.exists(gate):
    time.sleep(0.05)
sys.stdout.write("? Ship it? [y/n] ")
sys.stdout.flush()
sys.stdin.readline()
time.sleep(600)
'''

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


def test_streamed_reattach_over_a_large_unread_log_keeps_every_trigger(git_repo: Path, tmp_path: Path) -> None:
    script, gate = tmp_path / "asker.py", tmp_path / "gate"
    script.write_text(ASKER)
    text = layout(script, gate, log_max="0").replace('name = "chatty"', 'name = "big"')
    sup1 = make_sup(git_repo, text, tmp_path)
    log = sup1.store.log_path("big")
    asyncio.run(supervise_until(sup1, lambda: log.exists() and b"ready" in log.read_bytes(), "the agent started"))
    # while no supervisor runs, 24 MB arrive (what pipe-pane would have written): noise, and each error
    # twice, far apart — then the agent asks and waits
    noise = b"".join(b"downloading chunk %07d of the artifact ... 100%%\n" % i for i in range(20000))  # ~1 MB
    with open(log, "ab") as f:
        for i in range(24):
            f.write(noise)
            f.write(f"Error: {WORDS[i % len(WORDS)]} is broken\n".encode())
    gate.write_text("go")
    asyncio.run(asyncio.wait_for(wait_for(lambda: b"Ship it?" in log.read_bytes()[-200:], 30, "the prompt"), 40))
    sup2 = make_sup(git_repo, text, tmp_path)
    seen: list[Event] = []
    sup2.subscribe(seen.append)
    asyncio.run(supervise_until(sup2, lambda: len(triggers(seen, "repeated_error", "big")) >= len(WORDS)
                                and triggers(seen, "approval_waiting", "big")
                                and sup2.state.sessions["big"].log_offset >= 24 * len(noise),
                                "every trigger, the catch-up read to its end", timeout=120))
    fps = sorted(str(e.data["evidence"].get("normalized")) for e in triggers(seen, "repeated_error", "big"))
    assert fps == sorted(f"Error: {w} is broken" for w in WORDS)
    assert triggers(seen, "approval_waiting", "big")[0].data["evidence"]["prompt"] == "? Ship it? [y/n]"
    assert sup2.state.sessions["big"].log_offset >= 24 * len(noise)  # all of the catch-up was read
    # read in turns: many output events, none of them holding the whole catch-up
    outs = [e for e in seen if e.kind == "output"]
    assert len(outs) >= 20 and max(len(e.data["lines"]) for e in outs) <= 20000
    sup2.tmux.kill_server()
