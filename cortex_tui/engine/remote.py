"""Sessions on remote nodes: spawn over ssh, mirror their output/events/exit into the local run dir.

The node keeps the agent alive in its own tmux (a dropped link or a supervisor crash does not kill it).
One poll per node and second fetches, in a single ssh round trip, every session's new log bytes, new
agent events, exit code and changed files; they are appended to the *local* mirror files, so the
engine's ordinary file watcher, rules and re-attach logic apply unchanged. Offsets live in the
session record, so after an outage (or a supervisor restart) the poll catches up exactly.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cortex_tui.agents.base import SpawnContext
from cortex_tui.backends.git import parse_name_status
from cortex_tui.backends.remote import RemoteNode
from cortex_tui.backends.ssh import SshTransport
from cortex_tui.backends.tmux import Tmux
from cortex_tui.engine.clock import wait_real
from cortex_tui.errors import CortexError, SshError
from cortex_tui.model.layout import NodeSpec
from cortex_tui.model.state import SessionRecord, SessionState
from cortex_tui.private import open_private, private_dir
from cortex_tui.resources import DISK_S, TreeSample, tree_totals

if TYPE_CHECKING:
    from cortex_tui.engine.session import SessionRuntime as Runtime
    from cortex_tui.engine.supervisor import Supervisor
    from cortex_tui.review.models import QueueEntry

log = logging.getLogger("cortex_tui.engine")

# args: LIMIT, then per session 7 values: log log_off events events_off exitfile worktree base
_POLL = r'''
limit=$1; shift
while [ $# -ge 7 ] && [ "$1" != "--" ]; do
  log=$1; lo=$2; ev=$3; eo=$4; ex=$5; wt=$6; base=$7; shift 7
  if [ -f "$log" ]; then tail -c +$((lo+1)) "$log" | head -c "$limit" | base64 | tr -d '\n'; fi; echo
  if [ -f "$ev" ]; then tail -c +$((eo+1)) "$ev" | head -c "$limit" | base64 | tr -d '\n'; fi; echo
  if [ -f "$ex" ]; then tr -d '\n' < "$ex"; fi; echo
  if [ -d "$wt" ]; then
    { git -C "$wt" diff --no-renames --name-status -z "$base" 2>/dev/null; printf '\001';
      git -C "$wt" ls-files --others --exclude-standard -z 2>/dev/null; } | base64 | tr -d '\n'
  fi; echo
done
ps -eo pid=,ppid=,rss=,times= 2>/dev/null | base64 | tr -d '\n'; echo
[ "$1" = "--" ] && shift
while [ $# -ge 2 ]; do
  f=$1; o=$2; shift 2
  if [ -f "$f" ]; then tail -c +$((o+1)) "$f" | head -c "$limit" | base64 | tr -d '\n'; fi; echo
done
'''
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


@dataclass
class PollResult:
    log: bytes
    events: bytes
    exit_code: int | None
    changed: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)
    """New bytes of mirrored files (remote path -> bytes), e.g. Claude Code transcripts."""


def mirror_path(session_dir: Path, remote_path: str) -> Path:
    """Where a node file (an agent transcript) is mirrored for the adapter to read locally."""
    import hashlib

    name = Path(remote_path).name or "file"
    return session_dir / "mirror" / f"{hashlib.sha1(remote_path.encode()).hexdigest()[:12]}-{name}"


@dataclass
class NodeLink:
    node: RemoteNode
    up: bool = True
    failures: int = 0
    next_try: float = 0.0
    latency_ms: float | None = None
    error: str | None = None
    held_states: dict[str, SessionState] = field(default_factory=dict)
    cpu_prev: dict[int, tuple[float, float]] = field(default_factory=dict)
    """Remote pid -> (monotonic time, cpu seconds) of the previous poll, for CPU %."""
    disk_at: float = float("-inf")
    """Monotonic time of the last ``du`` of the node's worktrees."""
    spawn_lock: threading.Lock = field(default_factory=threading.Lock)
    """Spawns on one node are serialised (the first one may start the node's tmux server)."""


def make_remote_node(spec: NodeSpec, run: str, socket: str) -> RemoteNode:
    return RemoteNode(SshTransport(spec), run, socket=socket)


def parse_changed(blob: bytes) -> dict[str, str]:
    diff, _, untracked = blob.partition(b"\x01")
    out = parse_name_status(diff.decode(errors="replace"))
    for path in untracked.decode(errors="replace").split("\0"):
        if path:
            out[path] = "added"
    return out


def parse_ps(text: str) -> tuple[dict[int, list[int]], dict[int, tuple[float, int]]]:
    """``ps -eo pid=,ppid=,rss=,times=`` → (children by parent, pid -> (cpu seconds, rss bytes))."""
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[float, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            continue
        pid, ppid, rss_kb, cpu_s = (int(p) for p in parts)
        children.setdefault(ppid, []).append(pid)
        info[pid] = (float(cpu_s), rss_kb * 1024)
    return children, info


def poll_node(rn: RemoteNode, recs: list[SessionRecord], base: str,
              limit: int = 4 << 20) -> tuple[dict[str, PollResult], str]:
    """One ssh round trip for every given session of ``rn`` (plus the node's process table)."""
    args: list[str] = [str(limit)]
    for r in recs:
        args += [str(rn.log_path(r.slug)), str(r.remote_log_offset), str(rn.session_dir(r.slug) / "events.jsonl"),
                 str(r.remote_events_offset), str(rn.exit_file(r.slug)), r.worktree, r.base_commit or base]
    args.append("--")  # then (file, offset) pairs of mirrored files, in the order of recs
    for r in recs:
        for path, off in r.remote_files.items():
            args += [path, str(off)]
    res = rn.transport.run_bytes(["/bin/sh", "-c", _POLL, "cortex", *args], timeout=60)
    lines = res.stdout.split(b"\n")
    if res.returncode != 0 or len(lines) < 4 * len(recs) + 1:
        raise SshError(f"node {rn.node.name}: poll failed: {res.stderr.decode(errors='replace').strip()}")
    out: dict[str, PollResult] = {}
    for i, r in enumerate(recs):
        log_b, ev_b, code_b, ch_b = lines[4 * i: 4 * i + 4]
        code_s = code_b.decode(errors="replace").strip()
        out[r.name] = PollResult(
            log=base64.b64decode(log_b) if log_b else b"",
            events=base64.b64decode(ev_b) if ev_b else b"",
            exit_code=int(code_s) if code_s.lstrip("-").isdigit() else None,
            changed=parse_changed(base64.b64decode(ch_b)) if ch_b else {},
        )
    ps_b = lines[4 * len(recs)]
    k = 4 * len(recs) + 1
    for r in recs:
        for path in r.remote_files:
            blob = lines[k] if k < len(lines) else b""
            k += 1
            if blob:
                out[r.name].files[path] = base64.b64decode(blob)
    return out, base64.b64decode(ps_b).decode(errors="replace") if ps_b else ""


class RemoteSessions:
    """Everything the Supervisor does differently for sessions whose ``node`` is not ``local``."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.clock = sup.clock
        self.links: dict[str, NodeLink] = {}
        self._lock = threading.Lock()

    def link(self, name: str) -> NodeLink:
        """The node's connection (made on first use; blocking)."""
        with self._lock:  # spawn threads race here on the first use of a node
            lk = self.links.get(name)
            if lk is None:
                spec = self.sup.layout.node_by_name(name)
                if spec is None:
                    raise CortexError(f"unknown node {name!r}")
                lk = NodeLink(make_remote_node(spec, self.sup.run_id, self.sup.tmux.socket))
                lk.node.setup()
                self.links[name] = lk
            return lk

    def tmux_for(self, rec: SessionRecord) -> Tmux:
        return self.link(rec.node).node.tmux

    # spawn ---------------------------------------------------------------------------------
    def spawn_sync(self, rt: Runtime, header: str) -> tuple[str, str, int | None]:
        """Create the node's worktree and window; returns (window id, pane id, pane pid)."""
        with self.link(rt.spec.node).spawn_lock:
            return self._spawn_locked(rt, header)

    def _spawn_locked(self, rt: Runtime, header: str) -> tuple[str, str, int | None]:
        rec, spec, sup = rt.rec, rt.spec, self.sup
        rn = self.link(spec.node).node
        rec.base_commit = rec.base_commit or sup.state.base_commit
        wt = rn.prepare_worktree(sup.repo, rec.branch, rec.base_commit, rec.slug)
        rec.worktree = str(wt)
        local = sup._ctx(rec)
        private_dir(local.session_dir)
        rt.adapter.prepare(spec, local)  # files are written locally, then uploaded
        remote_dir = rn.session_dir(rec.slug)
        for f in sorted(local.session_dir.iterdir()):
            if f.is_file() and f.name != "events.jsonl":
                rn.put_file(remote_dir / f.name, f.read_bytes())
        ctx = SpawnContext(run=sup.run_id, repo=sup.repo, worktree=Path(str(wt)), session_dir=Path(str(remote_dir)),
                           events_file=Path(str(remote_dir / "events.jsonl")), headless=sup.headless)
        argv = rt.adapter.command(spec, ctx)
        if argv and argv[0] == sys.executable:
            argv = [rn.node.python, *argv[1:]]
        env = {**spec.env, **rt.adapter.env(spec, ctx), "CORTEX_RUN": sup.run_id, "CORTEX_SESSION": spec.name,
               "CORTEX_EVENTS_FILE": str(ctx.events_file), "CORTEX_WORKTREE": str(wt), "LANG": "C.UTF-8"}
        spawned = rn.spawn(name=spec.name, slug=rec.slug, argv=argv, env=env, cwd=wt, tag=spec.name, header=header)
        rec.remote_log_offset = spawned.log_offset
        rec.remote_events_offset = 0
        w = spawned.window
        return w.window_id, w.pane_id, w.pane_pid

    # observe --------------------------------------------------------------------------------
    async def poll(self) -> None:
        import asyncio

        sup = self.sup
        by_node: dict[str, list[Runtime]] = {}
        for rt in sup.rt.values():
            if rt.spec.node != "local" and rt.rec.state.live and rt.rec.name not in sup._spawning:
                by_node.setdefault(rt.spec.node, []).append(rt)
        now = self.clock.monotonic()
        for name, rts in by_node.items():
            lk = self.links.get(name)
            if lk is not None and not lk.up and now < lk.next_try:
                continue
            try:
                results, ps = await asyncio.to_thread(self._poll_sync, name, [rt.rec for rt in rts])
            except (SshError, OSError) as e:
                self._down(name, rts, str(e))
                continue
            self._up(name, rts)
            for rt in rts:
                self._apply(rt, results[rt.rec.name])
            self._sample(self.links[name], rts, ps)
            lk = self.links[name]
            if now - lk.disk_at >= DISK_S:
                lk.disk_at = now
                try:
                    sizes = await asyncio.to_thread(lk.node.disk_usage, [rt.rec.slug for rt in rts])
                except (SshError, OSError) as e:
                    log.info("disk use on node %s: %s", name, e)
                    continue  # the next poll notices a dead link; disk use waits for the next round
                for rt in rts:
                    if rt.rec.slug in sizes:
                        rt.rec.disk_bytes = sizes[rt.rec.slug]

    def _sample(self, lk: NodeLink, rts: list[Runtime], ps: str) -> None:
        if not ps:
            return
        children, info = parse_ps(ps)
        mono, now = self.clock.monotonic(), self.clock.time()
        for rt in rts:
            pid = rt.rec.remote_pid
            if not pid or pid not in info:
                continue
            cpu, rss, n = tree_totals(pid, children, info)
            prev = lk.cpu_prev.get(pid)
            lk.cpu_prev[pid] = (mono, cpu)
            pct = max(0.0, (cpu - prev[1]) / (mono - prev[0]) * 100.0) if prev and mono > prev[0] else None
            self.sup.apply_sample(rt, TreeSample(cpu_percent=pct, rss_bytes=rss, processes=n), now)

    def _poll_sync(self, name: str, recs: list[SessionRecord]) -> tuple[dict[str, PollResult], str]:
        lk = self.link(name)
        if not lk.up:
            lk.node.transport.connect()
        t0 = time.perf_counter()
        res = poll_node(lk.node, recs, self.sup.state.base_commit)
        lk.latency_ms = round((time.perf_counter() - t0) * 1000, 1)
        return res

    def _apply(self, rt: Runtime, res: PollResult) -> None:
        sup, rec = self.sup, rt.rec
        if res.log:
            with open_private(sup.store.logs_dir / f"{rec.slug}.log") as f:
                f.write(res.log)
            rec.remote_log_offset += len(res.log)
        session_dir = sup._ctx(rec).session_dir
        for path, data in res.files.items():
            local = mirror_path(session_dir, path)
            local.parent.mkdir(parents=True, exist_ok=True)
            with open_private(local) as f:
                f.write(data)
            rec.remote_files[path] = rec.remote_files.get(path, 0) + len(data)
        if res.events:
            end = res.events.rfind(b"\n") + 1  # only whole lines; the rest comes with the next poll
            if end:
                events_file = sup._ctx(rec).events_file
                events_file.parent.mkdir(parents=True, exist_ok=True)
                with open_private(events_file) as f:
                    f.write(self._localize(rec, session_dir, res.events[:end]))
                rec.remote_events_offset += end
        if res.changed:
            new = {p: k for p, k in res.changed.items() if p not in rec.changed_files}
            if new:
                sup.ingest.apply_changed(rt, new)
        if res.exit_code is not None:
            from cortex_tui.store.files import atomic_write

            atomic_write(sup._exit_file(rec), f"{res.exit_code}\n")
        sup._dirty = True

    @staticmethod
    def _localize(rec: SessionRecord, session_dir: Path, data: bytes) -> bytes:
        """Event lines naming a file on the node (Claude Code's ``transcript_path``) get the local mirror's
        path instead, and the file is mirrored from then on, so usage is read as for a local session."""
        if b"transcript_path" not in data:
            return data
        out: list[bytes] = []
        for line in data.splitlines(keepends=True):
            try:
                ev = json.loads(line)
            except ValueError:
                out.append(line)
                continue
            payload = ev.get("payload") if isinstance(ev, dict) else None
            if not isinstance(payload, dict):
                out.append(line)
                continue
            path = payload.get("transcript_path")
            if isinstance(path, str) and path:
                rec.remote_files.setdefault(path, 0)
                payload["transcript_path"] = str(mirror_path(session_dir, path))
                line = (json.dumps(ev) + "\n").encode()
            out.append(line)
        return b"".join(out)

    def _down(self, name: str, rts: list[Runtime], error: str) -> None:
        sup = self.sup
        lk = self.links.get(name)
        if lk is None:
            for rt in rts:
                sup.book.set_state(rt, SessionState.UNKNOWN, f"node {name} unreachable: {error}")
            return
        first = lk.up
        lk.up = False
        lk.error = error
        lk.next_try = self.clock.monotonic() + BACKOFF_S[min(lk.failures, len(BACKOFF_S) - 1)]
        lk.failures += 1
        if first:
            sup._emit("node_down", None, node=name, error=error)
        for rt in rts:
            if rt.rec.state is not SessionState.UNKNOWN:
                lk.held_states[rt.rec.name] = rt.rec.state
                sup.book.set_state(rt, SessionState.UNKNOWN, f"link down to node {name}")
        self.record_health()

    def _up(self, name: str, rts: list[Runtime]) -> None:
        sup = self.sup
        lk = self.links[name]
        if not lk.up:
            lk.up = True
            lk.failures = 0
            lk.error = None
            sup._emit("node_up", None, node=name, latency_ms=lk.latency_ms)
            for rt in rts:
                if rt.rec.state is SessionState.UNKNOWN:
                    sup.book.set_state(rt, lk.held_states.pop(rt.rec.name, SessionState.RUNNING), None)
        self.record_health()

    def record_health(self) -> None:
        self.sup.state.nodes = {
            n: {"name": n, "reachable": lk.up, "latency_ms": lk.latency_ms, "error": lk.error,
                "checked_at": self.clock.time()}
            for n, lk in self.links.items()
        }

    async def fetch_back(self, rt: Runtime) -> None:
        """Bring a finished remote branch home (for review) before anything reads it."""
        import asyncio

        rec = rt.rec
        try:
            head = await asyncio.to_thread(self.link(rec.node).node.fetch_branch, self.sup.repo, rec.branch)
        except CortexError as e:
            self.sup._emit("fetch_error", rec.name, error=e.message)
            return
        rec.head_commit = head
        self.sup._emit("fetched", rec.name, node=rec.node, head=head)

    def verify(self, rt: Runtime, command: str, head: str | None) -> QueueEntry:
        """Run the session's verify command on its node (blocking) and record it in the review queue."""
        from cortex_tui.review.models import VerifyResult
        from cortex_tui.review.queue import ReviewQueue

        rec = rt.rec
        q = ReviewQueue.open(self.sup.repo, self.sup.state_dir, self.sup.run_id)
        start = time.perf_counter()  # a real duration
        code, timed_out, tail, output = self.link(rec.node).node.run_verify(rec.slug, command)
        log = q.verify_log_path(rec.slug)
        private_dir(log.parent)
        with open_private(log, "wb") as f:
            f.write(output)
        if code == 127 and not output:
            tail = f"worktree {rec.worktree} is missing on node {rec.node}"
        return q.set_verify(rec.name, VerifyResult(
            exit_code=code, duration_s=round(time.perf_counter() - start, 3), tail=tail, command=command,
            timed_out=timed_out, head=head, log_path=str(log)))

    def stop_sync(self, rt: Runtime) -> None:
        rec = rt.rec
        lk = self.link(rec.node)
        if rec.pane_id:
            lk.node.send_keys(rec.pane_id, rt.adapter.interrupt_keys())
        if wait_real(lambda: lk.node.exit_code(rec.slug) is not None, timeout=1.5, step=0.1):
            return
        if rec.window_id:
            lk.node.kill_window(rec.window_id)

    def close(self) -> None:
        for lk in self.links.values():
            try:
                lk.node.transport.close()
            except (SshError, OSError) as e:  # closing a dead link: nothing is lost, the agent runs on the node
                log.info("closing the link to node %s: %s", lk.node.node.name, e)

