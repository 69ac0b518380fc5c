"""How often each session's process tree is sampled: busy or nearly-silent sessions every tick of the
sampler (``SAMPLE_S`` in :mod:`cortex_tui.engine.periodic`), quiet ones every :data:`QUIET_SAMPLE_S`, long
quiet ones every :data:`LONG_QUIET_SAMPLE_S`.

A quiet session (no output for :data:`QUIET_AFTER_S`, its last sample below its silence CPU threshold) is
what most of an idle fleet is; sampling it every 2 s measured nothing new. The silence rule still gets a fresh
sample before it can fire: a session whose silence deadline falls within the next quiet interval is sampled at
the normal pace (a build that started since the last sample is never taken for silence).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cortex_tui.engine.session import SessionRuntime

QUIET_AFTER_S = 10.0
"""No output for this long (and idle CPU): the session is quiet."""
QUIET_SAMPLE_S = 10.0
"""A quiet session's tree is sampled this often."""
LONG_QUIET_AFTER_S = 60.0
"""No output for this long (and idle CPU): the session is long quiet..."""
LONG_QUIET_SAMPLE_S = 30.0
"""... and its tree is sampled this often (its output, or a silence deadline near, brings the pace back)."""
CPU_STEP = 1.0
"""A sample whose CPU % moved less than this (and whose RSS moved less than :data:`RSS_STEP`) is not saved."""
RSS_STEP = 0.02
"""... a relative RSS change, and at least :data:`RSS_MIN_STEP` bytes."""
RSS_MIN_STEP = 1 << 20

Shown = tuple[float | None, int | None, Sequence[int]]
"""What a sample sets on a record: CPU %, RSS bytes, ports served."""


def worth_saving(before: Shown, after: Shown) -> bool:
    """Whether a sample changed the record enough to rewrite state.json for it: CPU by a point, RSS by 2 %
    (1 MiB at least), a port opened or closed, a value appearing or going. An idle fleet's samples are
    0.0 % again and the same RSS — saving them rewrote (and fsynced) state.json and status.md every
    ``STATS_SAVE_S`` for nothing; the values are kept in memory (status over the API, the TUI) and go to disk
    with the next save."""
    (c0, r0, p0), (c1, r1, p1) = before, after
    if list(p0) != list(p1) or (c0 is None) != (c1 is None) or (r0 is None) != (r1 is None):
        return True
    if c0 is not None and c1 is not None and abs(c1 - c0) >= CPU_STEP:
        return True
    return r0 is not None and r1 is not None and abs(r1 - r0) >= max(RSS_MIN_STEP, RSS_STEP * r0)


class SamplePacer:
    """Picks the sessions due for a process sample (wall-clock times, as the rules use)."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def interval(self, rt: SessionRuntime, now: float) -> float | None:
        """How often the session's tree is sampled while it stays as it is: :data:`QUIET_SAMPLE_S` when
        quiet, :data:`LONG_QUIET_SAMPLE_S` when quiet for :data:`LONG_QUIET_AFTER_S`; None: every pass."""
        sil = rt.silence
        if sil.last_cpu is None or sil.last_cpu >= sil.cpu_threshold:
            return None
        last_output = rt.rec.last_output_at or rt.rec.started_at or now
        if now - last_output < QUIET_AFTER_S:
            return None
        every = LONG_QUIET_SAMPLE_S if now - last_output >= LONG_QUIET_AFTER_S else QUIET_SAMPLE_S
        deadline = max(sil.last_progress, sil.last_busy) + sil.after
        return every if sil.active or now + every < deadline else None

    def due(self, rts: Iterable[SessionRuntime], now: float) -> list[SessionRuntime]:
        out = []
        for rt in rts:
            last = self._last.get(rt.rec.name)
            every = None if last is None else self.interval(rt, now)
            if last is None or every is None or now - last >= every:
                out.append(rt)
        return out

    def sampled(self, rts: Iterable[SessionRuntime], now: float) -> None:
        for rt in rts:
            self._last[rt.rec.name] = now
