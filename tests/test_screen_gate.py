"""Screen captures per output batch (#18): a flood costs a few captures, and a prompt after it is still seen.

Real tmux, real git, a sim-adapter session running a real flooding process.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine_helpers import make_sup, run_to_end, triggers, wait_for

FLOOD = r'''
import sys, time
for i in range(300):
    print(f"line {i} of a flood that scrolls", flush=True)
    time.sleep(0.01)
sys.stdout.write("? Deploy to production? [y/n] ")
sys.stdout.flush()
answer = sys.stdin.readline().strip()
print("answered", answer, flush=True)
'''


def layout(script: Path) -> str:
    return f"""
[run]
name = "flood"
[[session]]
name = "flooder"
agent = "sim"
silence_after = "1h"
command = "{sys.executable} {script}"
"""


def test_prompt_after_a_flood_is_detected_with_few_captures(git_repo: Path, tmp_path: Path) -> None:
    script = tmp_path / "flood.py"
    script.write_text(FLOOD)
    sup = make_sup(git_repo, layout(script), tmp_path)
    batches = 0
    real = sup.ingest.read_log

    def counting(rt: object) -> None:  # how many output batches the engine read
        nonlocal batches
        before = sup.state.sessions["flooder"].log_offset
        real(rt)  # type: ignore[arg-type]
        batches += sup.state.sessions["flooder"].log_offset != before

    sup.ingest.read_log = counting  # type: ignore[method-assign]

    async def during(s: object) -> None:
        await wait_for(lambda: sup.state.sessions["flooder"].state.value == "waiting", 30, "waiting state")
        await sup.approve("flooder")

    events = run_to_end(sup, during=during, timeout=60)
    ap = triggers(events, "approval_waiting", "flooder")
    assert len(ap) == 1 and ap[0].data["evidence"]["prompt"] == "? Deploy to production? [y/n]"
    assert sup.state.sessions["flooder"].state.value == "finished"
    # one capture per batch was the old cost; the flood must have come in many batches to mean anything
    assert batches >= 20, batches
    assert sup.screens.captures * 4 <= batches, (sup.screens.captures, batches)


def test_quiet_output_is_looked_at_without_a_hint(git_repo: Path, tmp_path: Path) -> None:
    """A prompt the log's tail does not show as one (written with cursor moves) is found once output stops."""
    script = tmp_path / "moves.py"
    # the question, a dozen lines, then the cursor goes back up and clears them: the screen ends in the
    # question, the log's tail (a dozen dots and escapes) does not look like one
    script.write_text('import sys\nsys.stdout.write("? Keep going? [y/n]\\n" + ".\\n" * 12 + "\\x1b[12A\\x1b[J")\n'
                      'sys.stdout.flush()\nsys.stdin.readline()\n')
    sup = make_sup(git_repo, layout(script), tmp_path)

    async def during(s: object) -> None:
        await wait_for(lambda: sup.state.sessions["flooder"].state.value == "waiting", 30, "waiting state")
        await sup.approve("flooder")

    events = run_to_end(sup, during=during, timeout=60)
    assert len(triggers(events, "approval_waiting", "flooder")) == 1
