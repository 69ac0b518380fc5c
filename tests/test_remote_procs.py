"""A node's process table (#18): /proc/<pid>/stat CPU ticks (sub-second) instead of ``ps times=`` whole
seconds, parsed safely when a process names itself hostilely. Runs the real script on this (Linux) machine."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

from cortex_tui.backends.remote_poll import PROCS_SCRIPT, parse_ps

CHILD = r'''
import sys, time
open("/proc/self/comm", "w").write(sys.argv[1])
print("ready", flush=True)
for line in sys.stdin:
    t = time.process_time()
    while time.process_time() - t < 0.3:
        pass
    print("burnt", flush=True)
'''


def _table() -> tuple[dict[int, list[int]], dict[int, tuple[float, int]]]:
    r = subprocess.run(["/bin/sh", "-c", PROCS_SCRIPT], capture_output=True, check=True, timeout=60)
    text = base64.b64decode(r.stdout.strip()).decode(errors="replace")
    assert text.startswith("proc "), text[:80]
    return parse_ps(text)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="Linux /proc")
def test_proc_ticks_resolve_a_fraction_of_a_second_and_hostile_names_parse() -> None:
    names = ["x) S 1 (y z", "nl\n9 (q) R 1"]
    kids = [subprocess.Popen([sys.executable, "-c", CHILD, n], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True) for n in names]
    try:
        for k in kids:
            assert k.stdout is not None and k.stdout.readline() == "ready\n"
        children, before = _table()
        odd, cut = kids
        assert odd.pid in before and odd.pid in children[os.getpid()]  # parenthesised name: split at the last ')'
        assert cut.pid not in before  # a name holding a newline: its halves are skipped, not guessed at
        assert 9 not in before or all(9 not in v or p != os.getpid() for p, v in children.items())
        assert odd.stdin is not None and odd.stdout is not None
        odd.stdin.write("go\n")
        odd.stdin.flush()
        assert odd.stdout.readline() == "burnt\n"
        _, after = _table()
        used = after[odd.pid][0] - before[odd.pid][0]
        assert 0.2 <= used <= 0.6, used  # 0.3 s of CPU seen as such (ps times= says 0 or 1)
        assert after[odd.pid][1] > 1 << 20  # RSS in bytes (pages times the page size)
    finally:
        for k in kids:
            k.kill()
            k.wait()


def test_ps_fallback_still_parses() -> None:
    children, info = parse_ps(" 10     1  2048 00:00:03\n 11 10 100 5\nbad line\n")
    assert info[11] == (5.0, 100 * 1024) and children == {10: [11]}  # "00:00:03" is no ps times= value
