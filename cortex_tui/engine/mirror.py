"""Mirroring a polled session into its local files (log, events, transcripts, exit code).

What a node poll brought is appended to the *local* files of the session, so the engine's ordinary
watcher, rules and re-attach logic apply unchanged. Offsets live in the session record, so after an
outage (or a supervisor restart) the poll catches up exactly.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cortex_tui.backends.node import SessionPaths
from cortex_tui.backends.remote_poll import PollResult
from cortex_tui.model.state import SessionRecord
from cortex_tui.private import open_private
from cortex_tui.store.files import atomic_write


def mirror_path(session_dir: Path, remote_path: str) -> Path:
    """Where a node file (an agent transcript) is mirrored for the adapter to read locally."""
    name = Path(remote_path).name or "file"
    return session_dir / "mirror" / f"{hashlib.sha1(remote_path.encode()).hexdigest()[:12]}-{name}"


def mirror(rec: SessionRecord, paths: SessionPaths, res: PollResult) -> int:
    """Append what ``res`` brought to the session's local files and advance the record's offsets; the log
    bytes written (what the node's stream already brought meanwhile is skipped, by offset)."""
    n = append_log(rec, paths, rec.remote_log_offset if res.log_at < 0 else res.log_at, res.log)
    for path, data in res.files.items():
        local = mirror_path(paths.session_dir, path)
        local.parent.mkdir(parents=True, exist_ok=True)
        with open_private(local) as f:
            f.write(data)
        rec.remote_files[path] = rec.remote_files.get(path, 0) + len(data)
    append_events(rec, paths, rec.remote_events_offset if res.events_at < 0 else res.events_at, res.events)
    if res.exit_code is not None:
        atomic_write(paths.exit, f"{res.exit_code}\n")
    return n


def _fresh(have: int, at: int, data: bytes) -> bytes | None:
    """The part of ``data`` (bytes ``[at, at+len)`` of a node file) past ``have`` bytes already mirrored;
    None when it starts beyond them (a gap: nothing is applied, the poll reads from ``have``)."""
    if at > have:
        return None
    return data[have - at:]


def append_log(rec: SessionRecord, paths: SessionPaths, at: int, data: bytes) -> int:
    """Mirror bytes ``[at, at+len)`` of the node's log; only what continues the record's offset is written
    (exactly once, whoever brought it: the poll or the stream). Returns the bytes written."""
    new = _fresh(rec.remote_log_offset, at, data)
    if not new:
        return 0
    with open_private(paths.log) as f:
        f.write(new)
    rec.remote_log_offset += len(new)
    return len(new)


def append_events(rec: SessionRecord, paths: SessionPaths, at: int, data: bytes) -> int:
    """Like :func:`append_log` for the agent's events file: whole lines only (the rest comes later)."""
    new = _fresh(rec.remote_events_offset, at, data)
    if not new:
        return 0
    end = new.rfind(b"\n") + 1
    if not end:
        return 0
    paths.events.parent.mkdir(parents=True, exist_ok=True)
    with open_private(paths.events) as f:
        f.write(localize(rec, paths.session_dir, new[:end]))
    rec.remote_events_offset += end
    return end


def localize(rec: SessionRecord, session_dir: Path, data: bytes) -> bytes:
    """Event lines naming a file on the node (Claude Code's ``transcript_path``) get the local mirror's
    path instead, and the file is mirrored from then on, so usage is read as for a local session."""
    if b"transcript_path" not in data:
        return data
    out: list[bytes] = []
    for line in data.splitlines(keepends=True):
        try:
            ev = json.loads(line)
        except ValueError:  # not an event: passed on as it is (the reader skips it and says so)
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
