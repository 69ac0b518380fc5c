"""Sessions whose agent takes its task typed into its own input (``AgentAdapter.typed_prompt``).

Some CLIs cannot start an interactive session on a prompt from their command line (aider 0.86.2: ``--message``
does the one task and exits, ``--load`` refuses ``/code``). For those the engine starts the agent bare, and once a
screen check shows its input prompt ready (:meth:`AgentAdapter.input_ready`) it types the session's prompt through
the ordinary send path (the adapter's ``message_keys``: tmux ``send-keys -l``, never a shell) — exactly once per
attempt: the record's ``prompt_typed_at`` is saved before the first key is sent and survives a supervisor restart;
a new attempt clears it.

Right after typing, the screen may still show the bare input prompt for a moment (the keys are on their way):
for :data:`GRACE_S` that is not read as "idle", and the screen is looked at again afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from cortex_tui.engine.clock import Clock
from cortex_tui.engine.session import SessionRuntime
from cortex_tui.engine.tasks import TaskSet

GRACE_S = 1.5
"""After typing the prompt, a bare input prompt on the screen is not the turn's end for this long."""


class TypedPrompts:
    def __init__(self, *, tasks: TaskSet, clock: Clock, headless: Callable[[], bool],
                 send: Callable[[str, str], Awaitable[None]], look_again: Callable[[SessionRuntime], None],
                 save: Callable[[], None]) -> None:
        self.tasks = tasks
        self.save = save
        """Writes the run's state: ``prompt_typed_at`` is on disk before a key is sent (a supervisor that crashes
        right after typing never types it again when it re-attaches)."""
        self.clock = clock
        self.headless = headless
        self.send = send
        self.look_again = look_again

    def on_screen(self, rt: SessionRuntime, lines: list[str]) -> bool:
        """A screen check of ``rt`` saw ``lines``. True when the screen must not be read as idle now (its
        prompt is being typed, or was a moment ago)."""
        rec = rt.rec
        now = self.clock.time()
        if rec.prompt_typed_at is not None:
            return now - rec.prompt_typed_at < GRACE_S
        text = rt.adapter.typed_prompt(rt.spec, self.headless())
        if text is None:
            return False
        if not rt.adapter.input_ready(lines):
            return False
        rec.prompt_typed_at = now
        self.save()
        name = rec.name

        async def deliver() -> None:
            await self.send(name, text)
            await asyncio.sleep(GRACE_S)
            if rt.rec.state.live:
                self.look_again(rt)

        self.tasks.spawn(deliver, f"prompt:{name}")
        return True
