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
ps -eo pid=,ppid=,rss=,times= 2>/dev/null | base64 | tr -d '\n'; echo
[ "$1" = "--" ] && shift
while [ $# -ge 2 ]; do
  f=$1; o=$2; shift 2
  if [ -f "$f" ]; then tail -c +$((o+1)) "$f" | head -c "$limit" | base64 | tr -d '\n'; fi; echo
done
'''

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
