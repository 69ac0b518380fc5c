"""A node over ssh as a :class:`~cortex_tui.backends.node.Node`: the agent runs in the node's tmux, its
files are polled back (:mod:`cortex_tui.backends.remote_poll`)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path, PurePosixPath

from cortex_tui.agents.base import AgentAdapter, KeyInput, SpawnContext
from cortex_tui.backends.node import STOP_GRACE_S, FinalLook, NodeContext, SessionPaths, SpawnRequest, register
from cortex_tui.backends.procs import wait_real
from cortex_tui.backends.remote import RemoteNode
from cortex_tui.backends.remote_poll import PollResult, final_changes, poll_node
from cortex_tui.backends.remote_steps import NodeWorkspace
from cortex_tui.backends.remote_stream import watcher_argv
from cortex_tui.backends.session_env import fill_worktree
from cortex_tui.backends.ssh import SshTransport
from cortex_tui.backends.tmux import Tmux, WindowInfo
from cortex_tui.errors import CortexError, GitError, SshError, disk_error
from cortex_tui.model.layout import NodeSpec
from cortex_tui.model.state import SessionRecord
from cortex_tui.private import open_private, private_dir, tighten_files

log = logging.getLogger("cortex_tui.backends")


def make_remote_node(spec: NodeSpec, run: str, socket: str) -> RemoteNode:
    return RemoteNode(SshTransport(spec), run, socket=socket)


class SshNode:
    """Sessions on a machine reached over ssh (polled)."""

    polled = True

    def __init__(self, ctx: NodeContext) -> None:
        if ctx.spec is None:
            raise CortexError("an ssh node needs its [[node]] entry")
        self.name = ctx.spec.name
        self.ctx = ctx
        self.remote = make_remote_node(ctx.spec, ctx.run, ctx.socket)
        self._ready = False
        self._lock = threading.Lock()
        self.spawn_lock = threading.Lock()
        """Spawns on one node are serialised (the first one may start the node's tmux server)."""

    def ready(self) -> RemoteNode:
        """The node, set up on first use (blocking: one ssh round trip)."""
        with self._lock:  # spawn threads race here on the first use of a node
            if not self._ready:
                self.remote.setup()
                self._ready = True
        return self.remote

    @property
    def reached(self) -> bool:
        return self._ready

    @property
    def tmux(self) -> Tmux:
        return self.ready().tmux

    def spawn(self, req: SpawnRequest) -> None:
        rec = req.rec
        rn = self.ready()
        if req.window is not None and rec.worktree == str(rn.worktree_path(rec.slug)):
            wt = PurePosixPath(rec.worktree)  # a warm slot's, moved there by its claim just now (no round trip)
            rec.base_commit = rec.base_commit or req.base_commit
        else:
            with self.spawn_lock:
                rec.base_commit = rec.base_commit or req.base_commit
                wt = rn.prepare_worktree(req.repo, rec.branch, rec.base_commit, rec.slug)
                rec.worktree = str(wt)
        if req.prepare is not None:  # include, setup: in the node's worktree, before the attempt's header (as on
            # this machine) and outside the lock: a long setup does not hold the node's other spawns
            req.prepare(NodeWorkspace(rn, wt, self.ctx.spec.checkout if self.ctx.spec else None))
        try:  # before the attempt is counted: a full disk is no attempt of the session
            req.paths.exit.unlink(missing_ok=True)
            with open_private(req.paths.log) as f:
                f.write(f"\n── cortex-tui: attempt {rec.attempt + 1} on node {self.name} · {req.stamp}\n".encode())
        except OSError as e:
            raise disk_error(req.paths.log, e, "writing the session log") from e
        if req.restart:
            rec.restarts += 1 if rec.attempt > 0 else 0
        rec.attempt += 1
        rec.log_offset = req.paths.log.stat().st_size
        with self.spawn_lock:
            rec.window_id, rec.pane_id, rec.remote_pid = self._spawn_locked(req, rn, wt)
        rec.pane_pid = None  # never a local pid: nothing local may be signalled or sampled by it

    def _spawn_locked(self, req: SpawnRequest, rn: RemoteNode, wt: PurePosixPath) -> tuple[str, str, int | None]:
        rec, spec, adapter = req.rec, req.spec, req.adapter
        local = SpawnContext(run=req.run, repo=req.repo, worktree=Path(rec.worktree),
                             session_dir=req.paths.session_dir, events_file=req.paths.events, headless=req.headless)
        private_dir(local.session_dir)
        adapter.prepare(spec, local)  # files are written locally, then uploaded
        tighten_files(local.session_dir)
        remote_dir = rn.session_dir(rec.slug)
        files = {f.name: f.read_bytes() for f in sorted(local.session_dir.iterdir())
                 if f.is_file() and f.name != "events.jsonl"}
        if req.window is None:  # (a warm window's start brings them in its one round trip)
            for fname, data in files.items():
                rn.put_file(remote_dir / fname, data)
        ctx = SpawnContext(run=req.run, repo=req.repo, worktree=Path(str(wt)), session_dir=Path(str(remote_dir)),
                           events_file=Path(str(remote_dir / "events.jsonl")), headless=req.headless)
        argv = adapter.command(spec, ctx)
        if argv and argv[0] == sys.executable:
            argv = [rn.node.python, *argv[1:]]
        env = {**fill_worktree(spec.env, str(wt)), **adapter.env(spec, ctx), "CORTEX_RUN": req.run, "CORTEX_SESSION": spec.name,
               "CORTEX_EVENTS_FILE": str(ctx.events_file), "CORTEX_WORKTREE": str(wt), "LANG": "C.UTF-8"}
        if req.wrap is not None:  # a node wrapping this one (the sandbox): its command line, made for the node
            argv = req.wrap(argv, ctx, env)
        spawned = None
        if req.window is not None:  # a warm slot's idle window on the node: the agent starts in it
            spawned = rn.respawn(req.window, name=spec.name, slug=rec.slug, argv=argv, env=env, cwd=wt, tag=spec.name,
                                 files=files)
            if spawned is None:  # (its files came with that round trip all the same)
                log.info("%s: the warm window %s on %s is gone; making a new one", rec.name, req.window.window_id,
                         self.name)
        if spawned is None:
            spawned = rn.spawn(name=spec.name, slug=rec.slug, argv=argv, env=env, cwd=wt, tag=spec.name, header="")
        rec.remote_log_offset = spawned.log_offset
        rec.remote_events_offset = 0
        w = spawned.window
        return w.window_id, w.pane_id, w.pane_pid

    def stop(self, rec: SessionRecord, adapter: AgentAdapter, paths: SessionPaths) -> None:
        rn = self.ready()
        pane, window = rec.pane_id, rec.window_id  # this attempt's: a restart during the grace makes new ones
        if pane:
            rn.send_keys(pane, adapter.interrupt_keys())
        if wait_real(lambda: rn.exit_code(rec.slug) is not None, timeout=STOP_GRACE_S, step=0.1):
            return
        if window:
            rn.kill_window(window)

    def send_keys(self, pane_id: str, keys: list[KeyInput]) -> None:
        self.ready().send_keys(pane_id, keys)

    def capture(self, pane_id: str, lines: int = 200, escapes: bool = False) -> str:
        return self.ready().capture(pane_id, lines, escapes)

    def list_windows(self) -> list[WindowInfo]:
        return self.ready().list_windows()

    def attach_argv(self, window_id: str) -> list[str]:
        return self.ready().attach_argv(window_id)

    def final_look(self, rec: SessionRecord, base: str) -> FinalLook | None:
        """Head, changed files and disk use on the node (one round trip; the diff size comes with the branch,
        later): the node's stream may bring the exit before a poll saw the session's last writes, and a session
        shorter than the periodic disk measure (``DISK_S``) was never measured."""
        try:
            got = final_changes(self.ready(), rec, base)
        except SshError as e:  # link down at the exit: the poll's view is all there is
            raise GitError(e.message) from e
        if got is None:
            return None
        head, changed, disk = got
        return FinalLook(head=head or rec.head_commit, diff=None, changed=changed, disk=disk)

    def fetch_back(self, repo: Path, rec: SessionRecord) -> str | None:
        return self.ready().fetch_branch(repo, rec.branch)

    def disk_usage(self, recs: list[SessionRecord]) -> dict[str, int | None]:
        return dict(self.ready().disk_usage([r.slug for r in recs]))

    # polled-node extras ---------------------------------------------------------------------
    def poll(self, recs: list[SessionRecord], base: str, *, reconnect: bool) -> tuple[dict[str, PollResult], str]:
        """One round trip for ``recs`` (``reconnect``: the link was down, make a fresh connection first)."""
        rn = self.ready()
        if reconnect:
            rn.transport.connect()
        return poll_node(rn, recs, base)

    def run_verify(self, slug: str, command: str) -> tuple[int, bool, str, bytes]:
        return self.ready().run_verify(slug, command)

    def open_stream(self) -> subprocess.Popen[bytes]:
        """The node's watcher (:mod:`cortex_tui.backends.remote_stream`) over the master: records on its
        stdout, the watch set on its stdin; it exits when its stdin closes (here, or the link drops)."""
        rn = self.ready()
        rn.transport.connect()
        return subprocess.Popen(rn.transport.remote_argv(watcher_argv(rn.node.python)), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def stream_paths(self, rec: SessionRecord) -> tuple[str, str, str]:
        rn = self.ready()
        return (str(rn.log_path(rec.slug)), str(rn.session_dir(rec.slug) / "events.jsonl"),
                str(rn.exit_file(rec.slug)))

    def close(self) -> None:
        self.remote.transport.close()


register("ssh", SshNode)
