"""Warm slots (``[pool] warm = N``): worktrees checked out ahead of time, so a task starts without the cost
of ``git worktree add`` (0.6–5 s in a 5,000-file repository on slow disks).

A slot is ``.cortex/warm/<run>/w-<id>`` on branch ``cortex-warm/<run>/w-<id>`` at the run's base. A task
that starts fresh on this machine (no worktree or branch of its own yet, no dependencies to merge) takes
one: the slot is reset to the commit the task starts from (``checkout -f -B <task branch> <base>``, then
``clean``: a slot is never handed out stale) and moved to the task's worktree path; its warm branch is
deleted by the refill. The pool refills in the background. Slots outlive the supervisor (the next one re-uses
them); no agent ever works in a slot (it is moved out first), so dropping one loses nobody's work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from cortex_tui.backends import git as gitb
from cortex_tui.backends.steps import describe_failure, run_steps
from cortex_tui.engine.events import Emit
from cortex_tui.errors import GitError
from cortex_tui.model.state import SessionRecord

log = logging.getLogger("cortex_tui.engine")

REFILL_S = 2.0
"""How often the refill looks again when nothing woke it (the base may have moved)."""


class WarmSlots:
    """The run's warm worktrees; :meth:`claim` runs in a spawn thread, :meth:`keep_filled` in the loop."""

    def __init__(self, *, repo: Path, run: str, count: int, base_commit: Callable[[], str], emit: Emit,
                 root: Path | None = None, setup: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.repo = repo
        self.setup = list(setup or [])
        """``[defaults] setup``, run in each slot ahead of time: a task with the same setup skips it."""
        self.env = dict(env or {})
        self.broken: str | None = None
        """Why no more slots are made (the setup failed in a fresh slot): the pool runs cold meanwhile."""
        self.run = run
        self.count = count
        self.base_commit = base_commit
        self.emit = emit
        self.root = root or repo / ".cortex" / "warm" / run
        self.ready: list[Path] = []
        """Slots at :attr:`at_base`, oldest first."""
        self.at_base: str | None = None
        self._lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.claimed = 0
        self._scanned = False
        self._stale: list[str] = []
        """Warm branches of claimed slots, deleted by the next :meth:`fill`."""

    def _post(self, session: str | None, **data: object) -> None:
        """An event, made in the engine's loop (this runs in threads)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self.emit("warm_slot", session, **data)
        else:
            loop.call_soon_threadsafe(lambda: self.emit("warm_slot", session, **data))

    def _marker(self, slot: Path) -> Path:
        return slot.parent / f"{slot.name}.setup.json"

    def _setup_ok(self, slot: Path) -> bool:
        if not self.setup:
            return True
        try:
            return bool(json.loads(self._marker(slot).read_text()) == self.setup)
        except (OSError, ValueError):
            return False

    def _run_setup(self, slot: Path) -> None:
        """``setup`` in ``slot``; a failure drops the slot and stops making more (raised as GitError-free state)."""
        if not self.setup:
            return
        self._marker(slot).unlink(missing_ok=True)
        env = {**self.env, "CORTEX_RUN": self.run, "CORTEX_WORKTREE": str(slot)}
        results = run_steps("setup", self.setup, cwd=slot, env=env, log=slot.parent / f"{slot.name}.setup.log")
        if results and results[-1].exit_code != 0:
            self.broken = f"{describe_failure(results[-1])} (in warm slot {slot.name}; see {slot.parent / (slot.name + '.setup.log')})"
            raise _SetupFailed(self.broken)
        self._marker(slot).write_text(json.dumps(self.setup))

    def branch(self, slot: Path) -> str:
        return f"cortex-warm/{self.run}/{slot.name}"

    # ------------------------------------------------------------------ blocking work (threads)
    def scan(self) -> None:
        """Take up the slots an earlier supervisor left (clean, on their warm branch); drop broken ones. Once:
        after that :attr:`ready` is the truth (a slot being claimed is on disk but no longer ready)."""
        if self._scanned:
            return
        self._scanned = True
        if not self.root.is_dir():
            return
        found = []
        for d in sorted(self.root.iterdir()):
            if not d.name.startswith("w-"):
                continue
            head = gitb.git(d, "symbolic-ref", "-q", "HEAD", check=False).strip() if (d / ".git").exists() else ""
            tracked_clean = not gitb.git(d, "status", "--porcelain", "--untracked-files=no", check=False).strip() \
                if head else False
            if head == f"refs/heads/{self.branch(d)}" and tracked_clean and self._setup_ok(d):
                found.append(d)
            else:
                self._drop(d)
        with self._lock:
            self.ready = [*self.ready, *(d for d in found if d not in self.ready)]

    def fill(self) -> None:
        """Refresh slots to the current base, then make new ones up to :attr:`count`."""
        base = self.base_commit()
        with self._lock:
            stale, self._stale = self._stale, []
        for branch in stale:
            gitb.git(self.repo, "branch", "-q", "-D", branch, check=False)
        if base != self.at_base:
            with self._lock:  # out of reach of claims while they are reset
                slots, self.ready = self.ready, []
            for slot in slots:
                t0 = time.perf_counter()
                try:
                    if gitb.rev_parse(slot, "HEAD") != base:
                        gitb.git(slot, "reset", "-q", "--hard", base)
                        self._run_setup(slot)  # the new base may need it again (dependencies changed)
                        self._post(None, action="refreshed", slot=slot.name, ms=_ms(t0))
                except (GitError, _SetupFailed) as e:
                    log.warning("warm slot %s: %s", slot, getattr(e, "message", str(e)))
                    self._drop(slot)
                    continue
                with self._lock:
                    self.ready.append(slot)
            self.at_base = base
        while self.broken is None:
            with self._lock:
                if len(self.ready) >= self.count:
                    return
            slot = self.root / f"w-{uuid.uuid4().hex[:10]}"
            t0 = time.perf_counter()
            gitb.add_worktree(self.repo, slot, self.branch(slot), base)
            try:
                self._run_setup(slot)
            except _SetupFailed as e:
                log.warning("warm slots: %s", e)
                self._drop(slot)
                return
            with self._lock:
                self.ready.append(slot)
            self._post(None, action="ready", slot=slot.name, ms=_ms(t0))

    def claim(self, rec: SessionRecord, base: str, setup: list[str] | None = None) -> bool:
        """Give ``rec`` a warm slot reset to ``base`` as its worktree; False: none ready (or it has a worktree
        or branch of its own already), the spawn makes one the cold way. A session whose ``setup`` is the
        slot's has it done already."""
        wt = Path(rec.worktree)
        if wt.exists() or gitb.branch_exists(self.repo, rec.branch):
            return False
        with self._lock:
            if not self.ready:
                return False
            slot = self.ready.pop(0)
        t0 = time.perf_counter()
        moved_base = base != self.at_base
        try:
            gitb.git(slot, "checkout", "-q", "-f", "-B", rec.branch, base)  # reset to the current base
            gitb.git(slot, "clean", "-q", "-f", "-d")  # (ignored files stay: what a setup step built)
            gitb.move_worktree(self.repo, slot, wt)
        except GitError as e:
            log.warning("warm slot %s for %s: %s (starting it cold)", slot, rec.name, e.message)
            self._drop(slot)
            if gitb.branch_exists(self.repo, rec.branch) and not wt.exists():
                gitb.git(self.repo, "branch", "-q", "-D", rec.branch, check=False)  # made here, at the base
            self.kick()
            return False
        with self._lock:
            self._stale.append(self.branch(slot))  # deleted by the refill, off the task's path
        rec.base_commit = base
        if self.setup and list(setup or []) == self.setup and not moved_base:
            rec.setup_done = True
        self._marker(slot).unlink(missing_ok=True)
        self.claimed += 1
        self._post(rec.name, action="claimed", slot=slot.name, ms=_ms(t0))
        self.kick()
        return True

    def _drop(self, slot: Path) -> None:
        """Remove a slot that cannot be used. No agent ever worked in one (a task's slot is moved out of
        :attr:`root` before its agent starts), so what is in it is the pool's own: a checkout and setup output."""
        gitb.git(self.repo, "worktree", "remove", "--force", str(slot), check=False)
        gitb.git(self.repo, "branch", "-q", "-D", self.branch(slot), check=False)
        self._marker(slot).unlink(missing_ok=True)
        self._post(None, action="dropped", slot=slot.name, ms=0.0)

    # ------------------------------------------------------------------ the loop
    def kick(self) -> None:
        """Wake the refill (from any thread)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def keep_filled(self, stop: asyncio.Event) -> None:
        """Keep :attr:`count` slots ready at the base until ``stop``."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await asyncio.to_thread(self.scan)
        while not stop.is_set():
            await asyncio.to_thread(self.fill)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=REFILL_S)
            except TimeoutError:
                pass

    def status(self) -> dict[str, object]:
        with self._lock:
            return {"ready": len(self.ready), "wanted": self.count, "claimed": self.claimed, "base": self.at_base,
                    "broken": self.broken}


class _SetupFailed(Exception):
    pass


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
