"""The API's own thread for the file reads its handlers do (``GET /v1/status`` reads ``review.json``).

Not the loop's default pool: git work holds that for seconds in a large repo (ten checkouts, the worktree
watches' walks, whole-worktree looks), and ``status --json`` asking the API gave up after its 1 s behind them
(1.15–1.43 s a call during benchmarks/large_repo.py's spawns). One thread, made on first use, shared by every
API of the process; it ends with the interpreter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_READS = ThreadPoolExecutor(1, thread_name_prefix="cortex-api-read")


async def off_loop(fn: Callable[[], T]) -> T:
    """``fn()`` in the API's read thread."""
    return await asyncio.get_running_loop().run_in_executor(_READS, fn)
