"""Idle cost (#18): an idle fleet's process samples do not rewrite state.json (real engine, not started)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine_helpers import make_sup

from cortex_tui.resources import TreeSample


def test_a_sample_that_changes_nothing_shown_does_not_make_the_state_dirty(git_repo: Path, tmp_path: Path) -> None:
    sup = make_sup(git_repo, '[run]\nname = "idle"\n[[session]]\nname = "a"\nagent = "sim"\nscript = ["listen 60"]\n',
                   tmp_path)
    asyncio.run(sup.start())  # the run's state and runtimes; nothing is spawned before supervise()
    rt = sup.rt["a"]
    now = sup.clock.time()
    sup.apply_sample(rt, TreeSample(cpu_percent=0.0, rss_bytes=40 << 20, processes=2), now)
    assert sup.journal.stats_dirty and rt.rec.cpu_percent == 0.0  # the first sample is news
    sup.journal.stats_dirty = False
    for i in range(5):  # quiet: the same figures again (RSS jitter of a page)
        sup.apply_sample(rt, TreeSample(cpu_percent=0.1, rss_bytes=(40 << 20) + 4096 * i, processes=2), now + i)
    assert not sup.journal.stats_dirty
    assert rt.rec.rss_bytes == (40 << 20) + 4096 * 4  # kept in memory all the same (the API, the TUI)
    sup.apply_sample(rt, TreeSample(cpu_percent=35.0, rss_bytes=40 << 20, processes=3), now + 6)
    assert sup.journal.stats_dirty and rt.rec.cpu_percent == 35.0
    asyncio.run(sup.shutdown())
