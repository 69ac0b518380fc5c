"""The node poll's wire protocol: one ssh round trip brings every session's new log bytes, new agent
events, exit code and changed files, plus the node's process table (pure parsing, testable without ssh)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cortex_tui.backends.git import parse_name_status
from cortex_tui.errors import SshError
from cortex_tui.model.state import SessionRecord

if TYPE_CHECKING:
    from cortex_tui.backends.remote import RemoteNode

PROCS_SCRIPT = r'''
if [ -r /proc/self/stat ]; then
  { echo "proc $(getconf CLK_TCK 2>/dev/null || echo 100) $(getconf PAGESIZE 2>/dev/null || echo 4096)"
    grep -asH '' /proc/[0-9]*/stat; } | base64 | tr -d '\n'
else
  ps -eo pid=,ppid=,rss=,times= 2>/dev/null | base64 | tr -d '\n'
fi; echo
'''
"""The node's process table, base64: Linux ``/proc/<pid>/stat`` (CPU in clock ticks, sub-second), else
``ps times=`` (whole seconds). One ``grep -H`` reads every stat file, each line prefixed by its path."""

# args: LIMIT, then per session 7 values: log log_off events events_off exitfile worktree base
POLL_SCRIPT = r'''
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
__PROCS__
[ "$1" = "--" ] && shift
while [ $# -ge 2 ]; do
  f=$1; o=$2; shift 2
  if [ -f "$f" ]; then tail -c +$((o+1)) "$f" | head -c "$limit" | base64 | tr -d '\n'; fi; echo
done
'''.replace("__PROCS__", PROCS_SCRIPT)

@dataclass
class PollResult:
    log: bytes
    events: bytes
    exit_code: int | None
    changed: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)
    """New bytes of mirrored files (remote path -> bytes), e.g. Claude Code transcripts."""
    log_at: int = -1
    """The log offset ``log`` starts at (-1: the record's offset when applied)."""
    events_at: int = -1
    """Likewise for ``events``."""



def parse_changed(blob: bytes) -> dict[str, str]:
    diff, _, untracked = blob.partition(b"\x01")
    out = parse_name_status(diff.decode(errors="replace"))
    for path in untracked.decode(errors="replace").split("\0"):
        if path:
            out[path] = "added"
    return out


def parse_ps(text: str) -> tuple[dict[int, list[int]], dict[int, tuple[float, int]]]:
    """The node's process table (:data:`PROCS_SCRIPT`) → (children by parent, pid -> (cpu seconds, rss bytes))."""
    if text.startswith("proc "):
        return parse_proc(text)
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
    at = [(r.remote_log_offset, r.remote_events_offset) for r in recs]  # the node's stream may move them meanwhile
    for r, (lo, eo) in zip(recs, at, strict=True):
        args += [str(rn.log_path(r.slug)), str(lo), str(rn.session_dir(r.slug) / "events.jsonl"),
                 str(eo), str(rn.exit_file(r.slug)), r.worktree, r.base_commit or base]
    args.append("--")  # then (file, offset) pairs of mirrored files, in the order of recs
    for r in recs:
        for path, off in r.remote_files.items():
            args += [path, str(off)]
    res = rn.transport.run_bytes(["/bin/sh", "-c", POLL_SCRIPT, "cortex", *args], timeout=60)
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
            log_at=at[i][0], events_at=at[i][1],
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


def parse_proc(text: str) -> tuple[dict[int, list[int]], dict[int, tuple[float, int]]]:
    """``proc <CLK_TCK> <PAGESIZE>`` then ``/proc/<pid>/stat:<its line>`` lines.

    The command name is agent-controlled (it may hold spaces, parentheses, even a newline): the fields are
    split after the LAST ``)``, the pid must match its directory, and the pieces of a line cut by a newline
    in the name are skipped rather than guessed at.
    """
    head, _, body = text.partition("\n")
    parts = head.split()
    tick = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) > 0 else 100
    page = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else 4096
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[float, int]] = {}
    for line in body.split("\n"):
        path, _, stat = line.partition(":")
        d = path.removeprefix("/proc/").removesuffix("/stat")
        close = stat.rfind(")")
        if not d.isdigit() or close < 0 or not stat.startswith(f"{d} ("):
            continue
        f = stat[close + 2:].split()
        if len(f) < 22 or not all(f[k].isdigit() for k in (1, 11, 12, 21)):
            continue
        pid, ppid = int(d), int(f[1])
        children.setdefault(ppid, []).append(pid)
        info[pid] = ((int(f[11]) + int(f[12])) / tick, int(f[21]) * page)
    return children, info


_FINAL = r'''
wt=$1; base=$2
[ -d "$wt" ] || exit 3
git -C "$wt" rev-parse HEAD 2>/dev/null || echo
{ git -C "$wt" diff --no-renames --name-status -z "$base" 2>/dev/null; printf '\001';
  git -C "$wt" ls-files --others --exclude-standard -z 2>/dev/null; } | base64 | tr -d '\n'; echo
kb=$(du -sk "$wt" 2>/dev/null); echo "${kb%%[!0-9]*}"
'''
"""An ended session's head, changed files (base64) and its worktree's size in KiB (``du -sk``, as the periodic
measure: a session shorter than ``DISK_S`` was never measured), one line each."""


def final_changes(rn: RemoteNode, rec: SessionRecord,
                  base: str) -> tuple[str | None, dict[str, str], int | None] | None:
    """An ended session's head, changed files and disk use (bytes; None: ``du`` said nothing) on its node, in one
    round trip (the stream may bring its exit before a poll saw its last writes). None when its worktree is gone."""
    res = rn.transport.run_bytes(["/bin/sh", "-c", _FINAL, "cortex", rec.worktree, rec.base_commit or base],
                                 timeout=60)
    if res.returncode == 3:
        return None
    lines = res.stdout.split(b"\n")
    if res.returncode != 0 or len(lines) < 2:
        raise SshError(f"node {rn.node.name}: final look at {rec.slug} failed: "
                       f"{res.stderr.decode(errors='replace').strip()}")
    head = lines[0].decode(errors="replace").strip()
    kb = lines[2].strip() if len(lines) > 2 else b""
    return (head if len(head) >= 40 and all(c in "0123456789abcdef" for c in head) else None,
            parse_changed(base64.b64decode(lines[1])) if lines[1] else {},
            int(kb) * 1024 if kb.isdigit() else None)
