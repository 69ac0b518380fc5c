"""Typed events (model/events.py) against the untyped dicts they replaced, measured in the same run.

    python benchmarks/events.py [--n 20000]

* make: ``EventBus.make("output", ...)`` (a validated pydantic ``Event``) vs building the same dict (the floor).
* encode: what ``RunStore.append_event`` does before its write + fsync (which dominate and are the same
  either way): ``json.dumps(ev.model_dump(), ...)`` vs ``json.dumps(dict, ...)``.
* read: ``parse_event`` of an events.jsonl line vs ``json.loads`` of it.

Prints microseconds per event and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from cortex_tui.engine.events import EventBus
from cortex_tui.model.events import parse_event


def per_op_us(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t)
    return best / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    n = ap.parse_args().n
    bus = EventBus("bench")
    lines = ["● working on src/api.py " + "x" * 60] * 4
    data = {"state": "running", "prev": "starting", "reason": None}
    ev = bus.make("state", "s1", **data)
    raw = {"ts": ev.ts, "run": "bench", "kind": "state", "session": "s1", "data": data}
    line = json.dumps(raw, separators=(",", ":")).encode()
    rows = [
        ("make", per_op_us(lambda: bus.make("output", "s1", lines=lines), n),
         per_op_us(lambda: {"ts": time.time(), "run": "bench", "kind": "output", "session": "s1",
                            "data": {"lines": lines}}, n)),
        ("encode", per_op_us(lambda: json.dumps(ev.model_dump(), separators=(",", ":"), default=str), n),
         per_op_us(lambda: json.dumps(raw, separators=(",", ":"), default=str), n)),
        ("read", per_op_us(lambda: parse_event(line), n), per_op_us(lambda: json.loads(line), n)),
    ]
    print(f"{'step':<8} {'typed µs':>9} {'dict µs':>9} {'ratio':>6}")
    for name, typed, floor in rows:
        print(f"{name:<8} {typed:>9.2f} {floor:>9.2f} {typed / floor:>6.1f}x")


if __name__ == "__main__":
    main()
