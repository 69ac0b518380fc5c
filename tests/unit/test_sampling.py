"""Idle cost (#18): process trees sampled by their own pids (not a scan of the machine), quiet sessions
sampled less often — never so rarely that silence could fire on a stale idle sample."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from unit_helpers import runtimes

from cortex_tui import resources
from cortex_tui.engine.clock import FakeClock
from cortex_tui.engine.sampling import QUIET_SAMPLE_S, SamplePacer
from cortex_tui.resources import ProcessSampler, tree_totals

TREE = r'''
import subprocess, sys, threading, time
# a child of the main thread and one of another thread (listed in that thread's children file)
a = subprocess.Popen(["sleep", "60"])
t = threading.Thread(target=lambda: subprocess.Popen(["sleep", "61"]).wait())
t.start()
print("ready", flush=True)
time.sleep(60)
'''


def test_tree_walk_sees_what_the_full_scan_sees() -> None:
    p = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == b"ready"
        time.sleep(0.2)
        trees = resources._scan_trees([p.pid])
        assert trees is not None, "this kernel lists children (/proc/<pid>/task/<tid>/children)"
        full = resources._scan()
        walked = tree_totals(p.pid, trees[0], trees[1])
        scanned = tree_totals(p.pid, full[0], full[1])
        assert walked[2] == scanned[2] == 3  # python + both sleeps, the other thread's child included
        assert walked[1] == scanned[1]
        assert abs(walked[0] - scanned[0]) < 0.05
        assert len(trees[1]) == 3 < len(full[1])  # only the tree's own processes were read
        s = ProcessSampler().sample([p.pid])
        assert s[p.pid].processes == 3
    finally:
        p.kill()
        p.wait()
    assert ProcessSampler().sample([p.pid]) == {}
    assert os.getpid() in (resources._scan_trees([os.getpid()]) or ({}, {}, {}))[1]


def test_quiet_sessions_are_sampled_less_often_but_fresh_before_silence() -> None:
    clock = FakeClock()
    rts = runtimes('[[session]]\nname = "q"\nsilence_after = "60s"\nscript = ["sleep 1"]\n[[session]]\nname = "busy"\nscript = ["sleep 1"]\n'
                   'silence_after = "60s"\n', clock)
    q, busy = rts["q"], rts["busy"]
    pacer = SamplePacer()
    now = clock.time()
    for rt in rts.values():
        rt.rec.last_output_at = now - 30
        rt.silence.last_progress = now - 30
    q.silence.cpu(now, 0.0)
    busy.silence.cpu(now, 50.0)
    assert pacer.due(rts.values(), now) == [q, busy]  # never sampled: both
    pacer.sampled(rts.values(), now)
    # 2 s later: the busy one again, the quiet one not
    assert pacer.due(rts.values(), now + 2) == [busy]
    assert pacer.due(rts.values(), now + QUIET_SAMPLE_S) == [q, busy]
    # close to its silence deadline (60 s after its last progress) the quiet one is sampled at every pass
    pacer.sampled(rts.values(), now + 22)
    assert q in pacer.due(rts.values(), now + 24)
    # output makes it not quiet
    pacer.sampled(rts.values(), now)
    q.rec.last_output_at = now + 1
    assert q in pacer.due(rts.values(), now + 2)


def test_only_a_sample_that_changes_what_is_shown_is_worth_a_save() -> None:
    from cortex_tui.engine.sampling import Shown, worth_saving

    idle: Shown = (0.0, 50 << 20, [])
    assert not worth_saving(idle, (0.0, 50 << 20, []))  # an idle fleet's next sample: nothing to write
    assert not worth_saving(idle, (0.4, (50 << 20) + 4096, []))  # noise
    assert worth_saving(idle, (12.5, 50 << 20, []))  # it started working
    assert worth_saving((12.5, 50 << 20, []), idle)  # it stopped
    assert worth_saving(idle, (0.0, 80 << 20, []))  # it grew
    assert worth_saving(idle, (0.0, 50 << 20, [8080]))  # it serves a port now
    assert worth_saving((None, None, []), idle)  # its first sample


def test_long_quiet_sessions_are_sampled_less_often_still_until_output_or_a_near_deadline() -> None:
    from cortex_tui.engine.sampling import LONG_QUIET_AFTER_S, LONG_QUIET_SAMPLE_S

    clock = FakeClock()
    rts = runtimes('[[session]]\nname = "q"\nsilence_after = "10m"\nscript = ["sleep 1"]\n', clock)
    q = rts["q"]
    pacer = SamplePacer()
    now = clock.time()
    q.rec.last_output_at = q.silence.last_progress = now - LONG_QUIET_AFTER_S - 1
    q.silence.cpu(now, 0.0)
    pacer.sampled([q], now)
    assert pacer.due([q], now + QUIET_SAMPLE_S) == []  # long quiet: not at the quiet pace...
    assert pacer.due([q], now + LONG_QUIET_SAMPLE_S) == [q]  # ...at the long-quiet one
    q.rec.last_output_at = now + 1  # output: every pass again
    assert pacer.due([q], now + 2) == [q]
    q.rec.last_output_at = now - LONG_QUIET_AFTER_S - 1
    deadline = q.silence.last_progress + 600
    pacer.sampled([q], deadline - LONG_QUIET_SAMPLE_S)
    assert pacer.due([q], deadline - LONG_QUIET_SAMPLE_S + 2) == [q]  # its silence deadline is near
