"""Warm slots (``[pool] warm = N``): worktrees checked out ahead of time, each with an idle tmux window, so a
task starts without the cost of ``git worktree add`` (0.6–5 s in a 5,000-file repository on slow disks) or
of a new window.

A slot is ``.cortex/warm/<run>/w-<id>`` on branch ``cortex-warm/<run>/w-<id>`` at the run's base, made
clean in the background (checked out, ``setup`` run, ``git clean``) with a window whose pane idles there
(``@cortex_warm`` names the slot). A task that starts fresh on this machine (no worktree of its own yet, no
dependencies to merge) takes one: when the slot is at the commit the task starts from, the pick-up is the
branch rename (``git branch -m``) and the move to the task's worktree path (a rename; git's link to it rewritten), then one
tmux command that starts the agent in the slot's window (``Tmux.respawn_window``). A slot at another commit
(the base moved since the refill looked) is reset first (``checkout -f -B``, ``clean``): a slot is never
handed out stale. The pool refills in the background. Slots outlive the supervisor (the next one re-uses
them and their windows); no agent ever works in a slot (it is moved out first), so dropping one loses
nobody's work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cortex_tui.backends import git as gitb
from cortex_tui.backends.steps import describe_failure, run_steps
from cortex_tui.backends.tmux import Tmux, WindowInfo
from cortex_tui.engine.events import Emit
from cortex_tui.errors import GitError, TmuxError
from cortex_tui.model.state import SessionRecord

log = logging.getLogger("cortex_tui.engine")

KEPT_DIRTY = "tracked files changed in it: left as it is (not handed out, not removed); `cortex-tui clean` lists it"
"""Why a warm slot found at start-up is neither taken up nor dropped (this machine's and the nodes')."""
REFILL_S = 2.0
"""How often the refill looks again when nothing woke it (the base may have moved)."""


@dataclass(frozen=True)
class Claimed:
    """A warm slot a task took: its worktree is the task's now; ``window`` (when the slot had one) is the idle
    window its agent starts in."""

    slot: str
    window: WindowInfo | None


class WarmSlots:
    """The run's warm worktrees; :meth:`claim` runs in a spawn thread, :meth:`keep_filled` in the loop."""

    def __init__(self, *, repo: Path, run: str, count: int, base_commit: Callable[[], str], emit: Emit,
                 root: Path | None = None, setup: list[str] | None = None, env: dict[str, str] | None = None,
                 tmux: Tmux | None = None, busy: Callable[[], bool] = lambda: False) -> None:
        self.repo = repo
        self.busy = busy
        """Whether spawns are under way: the refill (a checkout per slot) waits for them, up to REFILL_S."""
        self.tmux = tmux
        """The run's tmux server: each ready slot gets an idle window there (None: worktrees only)."""
        self.windows: dict[str, WindowInfo] = {}
        """Slot name -> its idle window."""
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
        """Take up the slots an earlier supervisor left (clean, on their warm branch) and their idle windows; drop
        broken ones. Once: after that :attr:`ready` is the truth (a slot being claimed is on disk but no longer
        ready)."""
        if self._scanned:
            return
        self._scanned = True
        if not self.root.is_dir():
            self._adopt_windows([])
            return
        found = []
        for d in sorted(self.root.iterdir()):
            if not d.name.startswith("w-"):
                continue
            head = gitb.git(d, "symbolic-ref", "-q", "HEAD", check=False).strip() if (d / ".git").exists() else ""
            tracked_clean = not gitb.git(d, "status", "--porcelain", "--untracked-files=no", check=False).strip() \
                if head else False
            if head and not tracked_clean:  # someone changed tracked files in it: never deleted, never handed out
                self._post(None, action="kept", slot=d.name, ms=0.0, why=KEPT_DIRTY)
            elif head == f"refs/heads/{self.branch(d)}" and tracked_clean and self._setup_ok(d):
                found.append(d)
            else:
                self._drop(d)
        self._adopt_windows(found)
        with self._lock:
            self.ready = [*self.ready, *(d for d in found if d not in self.ready)]

    def _adopt_windows(self, slots: list[Path]) -> None:
        """The idle windows of ``slots`` found again (this run's, still idle); other warm windows are closed."""
        if self.tmux is None:
            return
        names = {d.name for d in slots}
        for w in self.tmux.list_windows():
            if not w.warm or "/" in w.warm:  # (``<node>/<slot>``: an ssh node's on a shared server, not ours)
                continue
            if w.warm in names and not w.dead and w.instance == (self.tmux.instance or "") \
                    and w.warm not in self.windows:
                self.windows[w.warm] = w
            else:
                self.tmux.kill_window(w.window_id)

    def _clean(self, slot: Path) -> None:
        """What the checkout or setup left that is not ignored goes (ignored files stay: what a setup built)."""
        gitb.git(slot, "clean", "-q", "-f", "-d")

    def _window(self, slot: Path, *, listed: bool = False) -> None:
        """Give ``slot`` its idle window (when it has none and there is a tmux server to make it in). ``listed``:
        the slot is in :attr:`ready` already, so a claim may take it meanwhile (then the new window goes)."""
        if self.tmux is None:
            return
        with self._lock:
            if slot.name in self.windows:
                return
        try:
            win = self.tmux.warm_window(slot=slot.name, cwd=slot, run=self.run)
        except TmuxError as e:  # no server (yet) or it refused: the slot is still a warm worktree
            log.info("warm slot %s: no idle window: %s", slot.name, e.message)
            return
        with self._lock:
            keep = not listed or slot in self.ready
            if keep:
                self.windows[slot.name] = win
        if not keep:
            self.tmux.kill_window(win.window_id)

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
                        self._clean(slot)
                        self._post(None, action="refreshed", slot=slot.name, ms=_ms(t0))
                except (GitError, _SetupFailed) as e:
                    log.warning("warm slot %s: %s", slot, getattr(e, "message", str(e)))
                    self._drop(slot)
                    continue
                self._window(slot)
                with self._lock:
                    self.ready.append(slot)
            self.at_base = base
        else:
            with self._lock:
                slots = list(self.ready)
            for slot in slots:  # a server not up when the slot was made: its window is made now
                self._window(slot, listed=True)
        while self.broken is None:
            with self._lock:
                if len(self.ready) >= self.count:
                    return
            slot = self.root / f"w-{uuid.uuid4().hex[:10]}"
            t0 = time.perf_counter()
            gitb.add_worktree(self.repo, slot, self.branch(slot), base)
            try:
                self._run_setup(slot)
                self._clean(slot)
            except _SetupFailed as e:
                log.warning("warm slots: %s", e)
                self._drop(slot)
                return
            except GitError as e:
                log.warning("warm slot %s: %s", slot, e.message)
                self._drop(slot)
                return
            self._window(slot)
            with self._lock:
                self.ready.append(slot)
            self._post(None, action="ready", slot=slot.name, ms=_ms(t0))

    def claim(self, rec: SessionRecord, base: str, setup: list[str] | None = None) -> Claimed | None:
        """Give ``rec`` a warm slot at ``base`` as its worktree (and the slot's idle window); None: none ready
        (or it has a worktree or branch of its own already), the spawn makes one the cold way. A session whose
        ``setup`` is the slot's has it done already.

        A slot at ``base`` (what the refill last made it) is taken with a branch rename and a move: the refill
        made it clean and nothing works in a slot. One at another commit is reset to ``base`` first."""
        wt = Path(rec.worktree)
        if wt.exists():
            return None
        with self._lock:
            if not self.ready:
                return None
            slot = self.ready.pop(0)
            window = self.windows.pop(slot.name, None)
        t0 = time.perf_counter()
        moved_base = base != self.at_base
        try:
            if moved_base:
                if gitb.branch_exists(self.repo, rec.branch):
                    self._give_back(slot, window)
                    return None
                gitb.git(slot, "checkout", "-q", "-f", "-B", rec.branch, base)  # reset to the commit it starts at
                self._clean(slot)
                with self._lock:
                    self._stale.append(self.branch(slot))  # deleted by the refill, off the task's path
                gitb.move_worktree(self.repo, slot, wt)
            else:
                try:  # the rename refuses a branch that exists: then the slot stays as it was
                    gitb.take_worktree(self.repo, slot, wt, self.branch(slot), rec.branch)
                except GitError:
                    if not wt.exists() and gitb.branch_exists(self.repo, rec.branch) \
                            and gitb.branch_exists(self.repo, self.branch(slot)):  # not renamed: as it was
                        self._give_back(slot, window)
                        return None
                    raise
        except GitError as e:
            log.warning("warm slot %s for %s: %s (starting it cold)", slot, rec.name, e.message)
            self._drop(slot, window)
            if gitb.branch_exists(self.repo, rec.branch) and not wt.exists():
                gitb.git(self.repo, "branch", "-q", "-D", rec.branch, check=False)  # made here, at the base
            self.kick()
            return None
        rec.base_commit = base
        if self.setup and list(setup or []) == self.setup and not moved_base:
            rec.setup_done = True
        self._marker(slot).unlink(missing_ok=True)
        self.claimed += 1
        self._post(rec.name, action="claimed", slot=slot.name, ms=_ms(t0), window=window is not None)
        self.kick()
        return Claimed(slot.name, window)

    def _give_back(self, slot: Path, window: WindowInfo | None) -> None:
        with self._lock:
            self.ready.insert(0, slot)
            if window is not None:
                self.windows[slot.name] = window

    def _drop(self, slot: Path, window: WindowInfo | None = None) -> None:
        """Remove a slot that cannot be used. No agent ever worked in one (a task's slot is moved out of
        :attr:`root` before its agent starts), so what is in it is the pool's own: a checkout and setup output."""
        with self._lock:
            window = window or self.windows.pop(slot.name, None)
        if window is not None and self.tmux is not None:
            self.tmux.kill_window(window.window_id)
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
            held = time.monotonic() + REFILL_S
            while self.busy() and time.monotonic() < held and not stop.is_set():  # a burst of pick-ups first
                await asyncio.sleep(0.05)
            await asyncio.to_thread(self.fill)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=REFILL_S)
            except TimeoutError:
                pass

    def status(self) -> dict[str, object]:
        with self._lock:
            return {"ready": len(self.ready), "wanted": self.count, "claimed": self.claimed, "base": self.at_base,
                    "broken": self.broken, "windows": len(self.windows)}


class _SetupFailed(Exception):
    pass


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
